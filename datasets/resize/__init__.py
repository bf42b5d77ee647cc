"""Resize a video dataset once, before training on it: every video's shorter side becomes ``--short-side``.

    python -m datasets.resize --layout {ucf101,hmdb51,kinetics400,ssv2} --root ROOT --out OUT --short-side 128
        [--workers N] [--crf 23] [--preset veryfast] [--qscale 3] [--vp9-crf 32] [--fail-on-broken]

OUT becomes a drop-in dataset root: every video file under ROOT (``.mp4 .avi .mkv .webm .mov .m4v``, any case) is
written to the same relative path, name and extension under OUT, and every other file (split lists, annotation
CSV / JSON, SYNTHETIC.json, ...) is copied verbatim; every folder is created, also those left empty. ``--layout``
names the dataset (it is recorded); any folder tree works. Folder symlinks are followed only inside ROOT.

What is kept: every frame, in order (the output has as many frames as the source decodes to: checked by decoding
the output before it is renamed onto its final name), and the frame rate (the source's average rate; timestamps are
rewritten at that constant rate, so a variable-rate source becomes constant-rate). What changes: the size (shorter
side = ``--short-side``, aspect ratio kept, both sides even, area scaling; the stored pixels are scaled, a rotation
tag or non-square pixel aspect is not applied), the pixel format (yuv420p), and the audio is dropped. A video whose
shorter side is already ``--short-side`` or less is never upscaled: it is copied byte for byte (status ``copied``).

Codecs by container: ``.mp4 .mkv .mov .m4v`` -> H.264 (libx264, CRF ``--crf``, preset ``--preset``: the usual
choice, decoded fast everywhere); ``.avi`` -> MPEG-4 Part 2 (``mpeg4``, fixed quantiser ``--qscale``: the codec of
UCF101's / HMDB51's Xvid files, so ``.avi`` keeps what AVI readers expect); ``.webm`` -> VP9 (libvpx-vp9, constant
quality ``--vp9-crf``, deadline realtime, cpu-used 8: the fastest libvpx settings; WebM allows only VP8/VP9/AV1).
Each encoder and decoder runs on one thread; the parallelism is across videos: ``--workers`` processes (default: the
CPUs this process may use).

Resuming: each output is written under a temporary name beside it (``.<stem>.partial-<pid><ext>``) and renamed onto
its final name when complete, so a kill never leaves a partial file under a final name. After each video one line is
appended to ``OUT/.resize-journal.jsonl`` (flushed and fsynced; see ``datasets.resize.journal``). Running the same
command again (after a kill, a crash, or to pick up new videos) removes the temporary files left in OUT, skips every
video whose journal line holds (source unchanged: same size and mtime; output present with the journaled size), and
processes the rest; an output that exists without a journal line (killed between the rename and the journal line) is
probed, kept if it decodes to the source's frame count at the target size (or, for a copy, has the source's bytes),
else redone. The journal's first line holds the settings; a run into an OUT made with other settings (short side,
crf, preset, qscale, vp9 crf, layout, root, codecs, version) is refused naming the setting. Two runs into one OUT at
once are refused (the journal is locked).

Broken sources (PyAV cannot open, decode or re-encode them; a worker process that dies on one twice) are not fatal:
status ``broken``, the error in the journal and the manifest, no output, counted in the summary. A failure to write
(disk full, permissions) stops the run; run the same command again once it is fixed.

Manifest ``OUT/resize-manifest.json``, written atomically at the end of a run (and removed at the start of the
next, so its presence means the last run finished). Deterministic: keys and entries sorted, no timestamps but
``finished``; a run on a finished OUT does nothing and writes the same manifest but for ``finished``. Fields:
``settings`` (as above, ``root``: the source root), ``counts`` (``videos``, ``transcoded``, ``copied``, ``broken``,
``other_files``), ``videos``: one entry per video ``{path, status: transcoded|copied|broken, source: {bytes, width,
height, frames, fps}, output: {bytes, width, height} | null, error (broken only)}`` (a broken video's source holds
only ``bytes``), ``files``: ``{path, bytes}`` per other file, and ``finished`` (UTC, ISO 8601).

Output: a progress bar on stderr (done / total, videos/s), then a summary line on stdout (transcoded, copied,
broken, already done, seconds, videos/s, videos/s per worker) and the broken videos (first 20) on stderr. Exit
status: 0 when every video was processed (broken ones included), 1 with ``--fail-on-broken`` and a broken video, or
on an output error, 2 on wrong arguments (root missing or without videos, OUT inside ROOT or ROOT inside OUT, OUT
== ROOT, settings differing from OUT's journal, another run writing into OUT), with one line naming the fix.

Modules: ``cli`` (arguments, the run), ``tree`` (walking, copying other files, stale temporary files), ``pool``
(worker processes), ``transcode`` (one video), ``journal`` (journal and manifest).
"""

from datasets.resize.cli import main

__all__ = ["main"]
