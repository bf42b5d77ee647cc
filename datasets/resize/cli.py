"""Command line of ``python -m datasets.resize`` (``main``); the behaviour is described in ``datasets/resize``'s
docstring. ``run`` does the work and returns a :class:`Summary` (the benchmark calls it directly)."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

from datasets.resize.journal import (
    JOURNAL,
    MANIFEST,
    Busy,
    Journal,
    NotAJournal,
    SettingsMismatch,
    build_manifest,
    now,
    write_manifest,
)
from datasets.resize.pool import run_pool
from datasets.resize.transcode import CODECS, VIDEO_EXTENSIONS, Encoding, OutputError, Task, source_stamp
from datasets.resize.tree import Tree, copy_file, make_dirs, remove_partials, walk

VERSION = 1  # of the outputs this command writes: bump when the encoding changes (a resume then refuses)
LAYOUTS = ("ucf101", "hmdb51", "kinetics400", "ssv2")
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
SHOWN_BROKEN = 20  # broken videos listed at the end (all of them are in the manifest)


class UsageError(Exception):
    """A wrong argument or path: one line naming it and the fix; exit status 2."""


@dataclasses.dataclass
class Summary:
    videos: int = 0
    transcoded: int = 0
    copied: int = 0
    broken: int = 0
    already_done: int = 0  # journaled by an earlier run, or found finished and valid (killed before its journal line)
    broken_total: int = 0  # in the manifest: this run's and earlier runs'
    files_copied: int = 0
    files_unchanged: int = 0
    seconds: float = 0.0
    workers: int = 1
    manifest: Path | None = None
    broken_list: list = dataclasses.field(default_factory=list)  # (path, error) of this run's broken videos

    @property
    def processed(self) -> int:
        return self.transcoded + self.copied + self.broken

    def line(self) -> str:
        rate = self.processed / self.seconds if self.seconds > 0 else 0.0
        return (
            f"resize: {self.transcoded} transcoded, {self.copied} copied, {self.broken} broken, "
            f"{self.already_done} already done (of {self.videos} videos; other files: {self.files_copied} copied, "
            f"{self.files_unchanged} unchanged) in {self.seconds:.1f} s: {rate:.2f} videos/s, "
            f"{rate / self.workers:.2f} videos/s per worker ({self.workers} worker{'s' * (self.workers != 1)}); "
            f"manifest {self.manifest}"
        )


def parse_args(argv=None) -> argparse.Namespace:
    from datasets.resize import __doc__ as doc

    p = argparse.ArgumentParser(
        prog="python -m datasets.resize",
        description=doc.split("\n\n")[0],
        epilog="Exit status: 0 done (broken videos counted), 1 --fail-on-broken with broken videos or an output "
        "error, 2 wrong arguments.",
    )
    p.add_argument("--layout", choices=LAYOUTS, required=True, help="the dataset (recorded; any folder tree works)")
    p.add_argument("--root", type=Path, required=True, help="the dataset's root folder (read only)")
    p.add_argument("--out", type=Path, required=True, help="the new dataset root (created; a run into it resumes)")
    p.add_argument("--short-side", type=int, required=True, help="shorter side of the outputs in pixels (even)")
    p.add_argument("--crf", type=int, default=23, help="libx264 constant rate factor (default 23)")
    p.add_argument("--preset", default="veryfast", choices=X264_PRESETS, help="libx264 preset (default veryfast)")
    p.add_argument("--qscale", type=int, default=3, help="mpeg4 (.avi) fixed quantiser, 2..31 (default 3)")
    p.add_argument("--vp9-crf", type=int, default=32, help="libvpx-vp9 (.webm) constant quality 0..63 (default 32)")
    p.add_argument("--workers", type=int, default=None, help="parallel videos (default: the CPUs this process may use)")
    p.add_argument("--fail-on-broken", action="store_true", help="exit 1 when any video is broken")
    args = p.parse_args(argv)
    if args.short_side < 2 or args.short_side % 2:
        p.error(f"--short-side {args.short_side}: give an even number of pixels, e.g. 128")
    if args.workers is not None and args.workers < 1:
        p.error(f"--workers {args.workers}: give 1 or more")
    if not 0 <= args.crf <= 51 or not 2 <= args.qscale <= 31 or not 0 <= args.vp9_crf <= 63:
        p.error("--crf must be in 0..51, --qscale in 2..31, --vp9-crf in 0..63")
    return args


def check_paths(root: Path, out: Path) -> tuple[Path, Path]:
    """The resolved root and out; UsageError when the root is missing or the two folders overlap."""
    if not root.is_dir():
        raise UsageError(f"--root {root}: no such folder; give the dataset's root folder")
    root, out = root.resolve(), out.resolve()
    if out == root:
        raise UsageError(f"--out {out} is the --root itself; resizing in place is not supported: give another --out")
    if out.is_relative_to(root):
        raise UsageError(f"--out {out} is inside --root {root} (it would be read as input): give an --out outside it")
    if root.is_relative_to(out):
        raise UsageError(f"--root {root} is inside --out {out}: give an --out that does not contain the root")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file: give a folder (new, or one this command wrote)")
    return root, out


def settings_of(args: argparse.Namespace, root: Path) -> dict:
    """What the outputs depend on: the journal's first line (a resume must match it) and the manifest's."""
    return {
        "tool": "datasets.resize",
        "version": VERSION,
        "layout": args.layout,
        "root": str(root),
        "short_side": args.short_side,
        "crf": args.crf,
        "preset": args.preset,
        "qscale": args.qscale,
        "vp9_crf": args.vp9_crf,
        "codecs": {ext: CODECS[ext] for ext in sorted(CODECS)},
        "pix_fmt": "yuv420p",
        "scaler": "area",
    }


def _info(workers: int) -> dict:
    import av

    return {"started": now(), "pyav": av.__version__, "ffmpeg": av.ffmpeg_version_info, "workers": workers}


def _still_done(entry: dict, src: Path, dst: Path) -> bool:
    """A journaled video is done while its source is unchanged and its output is the one journaled (or, broken,
    there is none)."""
    stamp = source_stamp(str(src))
    if not stamp or any(entry.get("source", {}).get(k) != v for k, v in stamp.items()):
        return False
    if entry.get("status") == "broken":
        return not dst.exists()
    try:
        return entry.get("status") in ("transcoded", "copied") and dst.stat().st_size == entry["output"]["bytes"]
    except (OSError, KeyError, TypeError):
        return False


def plan(tree: Tree, root: Path, out: Path, journal: Journal, enc: Encoding) -> tuple[list[str], list[Task]]:
    """(the videos already done, the tasks left). A video with no journal line whose output exists is given to a
    worker to probe (``reuse``); one whose journal line is stale (source or output changed) is redone."""
    done, todo = [], []
    for rel in tree.videos:
        entry = journal.entries.get(rel)
        if entry is not None and _still_done(entry, root / rel, out / rel):
            done.append(rel)
        else:
            todo.append(Task(rel, str(root / rel), str(out / rel), enc, reuse=entry is None))
    return done, todo


def copy_others(tree: Tree, root: Path, out: Path) -> tuple[list[dict], int]:
    """Every non-video file copied verbatim (unless already there): ([{path, bytes}], how many were copied)."""
    files, copied = [], 0
    for rel in tree.files:
        copied += copy_file(root / rel, out / rel)
        files.append({"path": rel, "bytes": (out / rel).stat().st_size})
    return files, copied


def _progress(total: int, initial: int):
    from tqdm import tqdm

    return tqdm(
        total=total, initial=initial, unit="video", desc="resize", file=sys.stderr, mininterval=1.0, smoothing=0.05
    )


def _warn(msg: str) -> None:
    print(f"resize: {msg}", file=sys.stderr)


def _process_all(todo: list[Task], workers: int, journal: Journal, summary: Summary, bar) -> None:
    """Run the tasks, journaling each result as it comes (the journal line is what makes a video done)."""
    for _, entry in run_pool(todo, workers):
        journal.append(entry)
        if entry.get("reused"):
            summary.already_done += 1
        else:
            setattr(summary, entry["status"], getattr(summary, entry["status"]) + 1)
        if entry["status"] == "broken":
            summary.broken_list.append((entry["path"], entry.get("error", "")))
        bar.update(1)


def run(args: argparse.Namespace) -> Summary:
    """The whole command after parsing: returns the summary (raises UsageError, OutputError, SettingsMismatch...)."""
    t0 = time.perf_counter()
    root, out = check_paths(args.root, args.out)
    tree = walk(root)
    if not tree.videos:
        raise UsageError(f"--root {root}: no video files ({' '.join(VIDEO_EXTENSIONS)}) under it; check the path")
    workers = args.workers or len(os.sched_getaffinity(0))
    settings = settings_of(args, root)
    out.mkdir(parents=True, exist_ok=True)
    journal = Journal(out, settings, _info(workers))  # locked from here on
    try:
        (out / MANIFEST).unlink(missing_ok=True)  # a manifest in OUT means: the last run finished
        left = remove_partials(out)
        if left:
            _warn(f"removed {len(left)} temporary file(s) of an interrupted run, e.g. {left[0]}")
        for rel in tree.skipped_links:
            _warn(f"skipped {rel}: a symlink to a folder outside the root (or a cycle)")
        make_dirs(out, tree)
        files, n_copied = copy_others(tree, root, out)
        enc = Encoding(args.short_side, args.crf, args.preset, args.qscale, args.vp9_crf)
        done, todo = plan(tree, root, out, journal, enc)
        summary = Summary(
            videos=len(tree.videos),
            already_done=len(done),
            files_copied=n_copied,
            files_unchanged=len(files) - n_copied,
            workers=max(1, min(workers, len(todo))),  # no more processes than videos left
        )
        with _progress(len(tree.videos), len(done)) as bar:
            _process_all(todo, summary.workers, journal, summary, bar)
        entries = [journal.entries[rel] for rel in tree.videos]
        manifest = build_manifest(settings, entries, files)
        summary.broken_total = manifest["counts"]["broken"]
        summary.manifest = write_manifest(out, manifest)
        summary.seconds = time.perf_counter() - t0
        return summary
    finally:
        journal.close()


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        summary = run(args)
    except (UsageError, SettingsMismatch, NotAJournal, Busy) as e:
        print(f"resize: error: {e}", file=sys.stderr)
        return 2
    except OutputError as e:
        print(f"resize: error writing {e}; fix it and run the same command again to resume", file=sys.stderr)
        return 1
    except OSError as e:  # the journal, a folder or another file of OUT could not be written, or a file read
        print(f"resize: error: {e}; fix it and run the same command again to resume", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            f"resize: interrupted; run the same command again to resume (journal: {args.out / JOURNAL})",
            file=sys.stderr,
        )
        return 130
    for path, error in summary.broken_list[:SHOWN_BROKEN]:
        print(f"  BROKEN {path}: {error}", file=sys.stderr)
    if len(summary.broken_list) > SHOWN_BROKEN:
        print(f"  ... and {len(summary.broken_list) - SHOWN_BROKEN} more (see the manifest)", file=sys.stderr)
    print(summary.line())
    return 1 if args.fail_on_broken and summary.broken_total else 0
