"""Reader for Kinetics-400: the official annotation CSVs and the two common on-disk layouts.

Annotations (``kinetics400.tar.gz`` of the official release, or the CVDF mirror's ``annotations/``)::

    SPLIT_DIR/train.csv       label,youtube_id,time_start,time_end,split[,is_cc]
    SPLIT_DIR/validate.csv    (or val.csv) same columns; the "test" split of this suite (papers report on it)

``SPLIT_DIR`` defaults to ``ROOT/annotations`` when it exists, else ``ROOT``. The 2020 release adds an ``is_cc``
column; both headers are read. Labels may be quoted (``"passing American football (in game)"``).

Videos are named ``<youtube_id>_<time_start:06d>_<time_end:06d>.<ext>`` (``.mp4``, also ``.mkv``/``.webm``/``.avi``),
anywhere under ``VIDEO_DIR`` (default ``ROOT``), in either common layout:

- class folders per split: ``train/<label>/<name>.mp4``, ``val/<label>/<name>.mp4`` (the label as in the CSV, or
  with spaces replaced by underscores);
- one flat folder (``<name>.mp4`` side by side), or one flat folder per split (``train/<name>.mp4``).

The folder is walked once and each CSV row is matched by its file name, so either layout (and a mix) works. Labels
are 0-based indices into the sorted class names of train.csv. Groups (kept together by the validation carve-out):
the YouTube id.

Kinetics is always incomplete: videos vanish from YouTube and downloads break. A listed video that is absent, or
present but undecodable (a probe opens every present video: :mod:`datasets.probe`), is skipped and counted
(``SplitIndex.missing`` / ``.undecodable``; every record carries the count, and the dataset fingerprint covers what
was present). Above ``max_skipped`` (a fraction of the listed videos) the reader stops with
:class:`~datasets.errors.IncompleteDatasetError`: that many gone means a wrong root or a broken copy, not YouTube.
A malformed CSV line is a :class:`~datasets.errors.SplitFileError` naming the file and the line.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
from pathlib import Path

from datasets.entries import SplitIndex, VideoEntry, number, require
from datasets.errors import IncompleteDatasetError, LayoutError, SplitFileError, UnsafePathError
from datasets.probe import probe_videos

log = logging.getLogger(__name__)

LAYOUT = "kinetics400"
ANNOTATION_DIR = "annotations"
TRAIN_CSV = "train.csv"
VAL_CSVS = ("validate.csv", "val.csv")
COLUMNS = ("label", "youtube_id", "time_start", "time_end", "split")
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v")
MAX_SKIPPED = 0.1  # the default threshold: more than this fraction missing or undecodable is an error
_YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SPLIT_WORDS = {"train": ("train",), "test": ("validate", "val", "validation")}
FIX = (
    "A Kinetics-400 root holds annotations/{train,validate}.csv (label,youtube_id,time_start,time_end,split[,is_cc]) "
    "and the videos as <split>/<label>/<youtube_id>_<start:06d>_<end:06d>.mp4 or in one flat folder; or pass "
    "video_dir= and split_dir= separately."
)


def video_name(youtube_id: str, start: int, end: int) -> str:
    """The file name (without extension) of a Kinetics clip: ``<youtube_id>_<start:06d>_<end:06d>``."""
    return f"{youtube_id}_{start:06d}_{end:06d}"


def _read_csv(path: Path, part: str) -> list[tuple[int, str, str, int, int]]:
    """Rows ``(line, label, youtube_id, start, end)`` of one annotation CSV; ``part`` is train or test."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise SplitFileError(path, None, f"not UTF-8 text ({e}); is this really a Kinetics annotation CSV?") from e
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows, header = [], None
    try:
        for fields in reader:
            line = reader.line_num
            if not fields or all(not f.strip() for f in fields):
                continue
            fields = [f.strip() for f in fields]
            if header is None:
                header = fields
                extra = [c for c in header if c not in COLUMNS + ("is_cc",)]
                if [c for c in header if c in COLUMNS] != list(COLUMNS) or extra or len(set(header)) != len(header):
                    raise SplitFileError(
                        path, line, f"expected the header {','.join(COLUMNS)}[,is_cc], got {','.join(header)!r}"
                    )
                continue
            if len(fields) != len(header):
                raise SplitFileError(path, line, f"expected {len(header)} fields ({','.join(header)}), got {fields}")
            row = dict(zip(header, fields))
            start, end = number(row["time_start"]), number(row["time_end"])
            if start is None or end is None or end <= start:
                got = f"{row['time_start']!r}, {row['time_end']!r}"
                raise SplitFileError(path, line, f"time_start < time_end must be whole seconds; got {got}")
            if not _YOUTUBE_ID.fullmatch(row["youtube_id"]):
                raise SplitFileError(path, line, f"{row['youtube_id']!r} is not a YouTube id ([A-Za-z0-9_-]+)")
            if not row["label"] or "/" in row["label"] or "\0" in row["label"]:
                raise SplitFileError(path, line, f"{row['label']!r} is not a class name")
            if row["split"] not in _SPLIT_WORDS[part]:
                raise SplitFileError(
                    path, line, f"the split column says {row['split']!r} but {path.name} lists the {part} videos"
                )
            rows.append((line, row["label"], row["youtube_id"], start, end))
    except csv.Error as e:
        raise SplitFileError(path, reader.line_num, f"not valid CSV ({e})") from e
    if header is None or not rows:
        raise SplitFileError(path, None, "no videos listed")
    return rows


def _walk_videos(video_dir: Path) -> dict[str, Path]:
    """Every video file under ``video_dir`` by its name without extension (the folder is walked once)."""
    found: dict[str, Path] = {}
    root = video_dir.resolve()
    for folder, dirs, files in os.walk(video_dir, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # skip hidden folders (resize's temp files)
        here = Path(folder)
        if not here.resolve().is_relative_to(root):
            raise UnsafePathError(f"{here} is a symlink that leaves the Kinetics video folder {video_dir}")
        for name in sorted(files):
            stem, ext = os.path.splitext(name)
            if name.startswith(".") or ext.lower() not in VIDEO_EXTENSIONS:
                continue
            path = here / name
            if stem in found:
                raise LayoutError(
                    f"{found[stem]} and {path} are the same Kinetics clip; keep one of them (one file per clip)"
                )
            found[stem] = path
    return found


def load(video_dir: Path | None, split_dir: Path | None, root: Path | None, max_skipped: float, probe_cache=None):
    """Read Kinetics-400 (train.csv → train, validate.csv → test) into a :class:`SplitIndex`."""
    vdir = Path(video_dir) if video_dir else root
    if split_dir:
        sdir = Path(split_dir)
    else:
        sdir = root / ANNOTATION_DIR if (root / ANNOTATION_DIR).is_dir() else root
    require(vdir, "Kinetics-400 video folder", FIX)
    train_csv = sdir / TRAIN_CSV
    require(train_csv, "Kinetics-400 annotation file", FIX)
    val_csv = next((sdir / n for n in VAL_CSVS if (sdir / n).is_file()), sdir / VAL_CSVS[0])
    require(val_csv, "Kinetics-400 annotation file", FIX)

    rows = {"train": _read_csv(train_csv, "train"), "test": _read_csv(val_csv, "test")}
    classes = sorted({r[1] for r in rows["train"]})
    lookup = {c: i for i, c in enumerate(classes)}
    videos = _walk_videos(vdir)
    seen: dict[str, str] = {}
    parts: dict[str, list[VideoEntry]] = {"train": [], "test": []}
    missing: list[VideoEntry] = []
    for part, csv_file in (("train", train_csv), ("test", val_csv)):
        for line, label, yid, start, end in rows[part]:
            where = f"{csv_file}:{line}"
            if label not in lookup:
                raise SplitFileError(csv_file, line, f"class {label!r} does not occur in {train_csv.name}")
            name = video_name(yid, start, end)
            if name in seen:
                raise SplitFileError(csv_file, line, f"{name} is listed twice (also at {seen[name]})")
            seen[name] = where
            path = videos.get(name)
            if path is None:
                missing.append(VideoEntry(vdir / f"{name}.mp4", f"{name}.mp4", lookup[label], yid, where))
                continue
            rel = path.relative_to(vdir).as_posix()
            parts[part].append(VideoEntry(path, rel, lookup[label], yid, where))
    listed = len(seen)
    if not parts["train"] and not parts["test"]:
        raise LayoutError(
            f"none of the {listed} videos listed in {train_csv.name} and {val_csv.name} is under {vdir}: expected "
            f"files like {vdir}/train/<label>/{missing[0].relpath} or {vdir}/{missing[0].relpath}. {FIX}"
        )
    _, broken = probe_videos(parts["train"] + parts["test"], probe_cache)
    undecodable = [e for e in parts["train"] + parts["test"] if e.relpath in broken]
    for e in undecodable:
        log.warning("skipping undecodable Kinetics video (listed at %s): %s", e.source, broken[e.relpath])
    if missing:
        log.warning("skipping %d of %d listed Kinetics videos that are not on disk", len(missing), listed)
    skipped = len(missing) + len(undecodable)
    if skipped > max_skipped * listed:
        example = missing[0] if missing else undecodable[0]
        raise IncompleteDatasetError(
            f"{skipped} of the {listed} videos listed in {train_csv} and {val_csv.name} are missing "
            f"({len(missing)}) or undecodable ({len(undecodable)}) under {vdir}: {100 * skipped / listed:.1f}% is "
            f"more than the {100 * max_skipped:.1f}% this run accepts, e.g. {example.relpath} (listed at "
            f"{example.source}). Check the root (python -m datasets.check --layout kinetics400 --root ... lists "
            "them), or raise the set's max_skipped (dataset.sets.<key>.max_skipped) to accept them."
        )
    bad = {e.relpath for e in undecodable}
    train = [e for e in parts["train"] if e.relpath not in bad]
    test = [e for e in parts["test"] if e.relpath not in bad]
    return SplitIndex(LAYOUT, 1, vdir, sdir, classes, train, test, [train_csv, val_csv], missing, undecodable)
