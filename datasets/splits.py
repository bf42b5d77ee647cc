"""Readers for the official UCF101 and HMDB51 split files, and the group-aware validation split.

UCF101 (as ``UCF101.rar`` + ``UCF101TrainTestSplits-RecognitionTask.zip`` extract)::

    ROOT/UCF-101/<Class>/v_<Class>_gNN_cNN.avi
    ROOT/ucfTrainTestlist/classInd.txt          "1 ApplyEyeMakeup"   (1-based)
    ROOT/ucfTrainTestlist/trainlist0{1,2,3}.txt "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1"
    ROOT/ucfTrainTestlist/testlist0{1,2,3}.txt  "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi"

HMDB51 (``hmdb51_org.rar`` + ``test_train_splits.rar``)::

    ROOT/<class>/<name>.avi
    ROOT/testTrainMulti_7030_splits/<class>_test_split{1,2,3}.txt   "<name>.avi 1 "  (1 train, 2 test, 0 unused)

Groups (what :func:`train_val_split` keeps together): UCF101 ``<Class>/gNN``; HMDB51 the source video a clip was
cut from, ``<class>/<name without its extension and the trailing _<digits> clip index>``
(``brush_hair/April_09_brush_hair_u_nm_np1_ba_goo`` for ``April_09_brush_hair_u_nm_np1_ba_goo_{0,1,2}.avi``).

Labels are 0-based everywhere in this suite (UCF101 classInd minus one; HMDB51 the sorted class names).
Windows line endings, a UTF-8 BOM, trailing blanks and empty lines are tolerated; anything else malformed is an
error naming the file and the line: :class:`~datasets.errors.SplitFileError` (bad syntax, a number that is not plain
ASCII digits, an unusable file name), :class:`~datasets.errors.UnsafePathError` (an entry leaving the video folder:
``..``, an absolute path, a symlink pointing outside), :class:`~datasets.errors.MissingVideoError` (a listed video
absent, with ``on_missing="error"``). No other exception comes out of a malformed split file (fuzzed in
tests/reliability/test_fuzz_split_files.py).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from datasets.errors import LayoutError, MissingVideoError, SplitFileError, UnsafePathError

log = logging.getLogger(__name__)

LAYOUTS = ("ucf101", "hmdb51")
UCF_VIDEO_DIR, UCF_SPLIT_DIR = "UCF-101", "ucfTrainTestlist"
HMDB_SPLIT_DIR = "testTrainMulti_7030_splits"
_UCF_GROUP = re.compile(r"_g(\d+)_c(\d+)", re.IGNORECASE)
_HMDB_SPLIT_FILE = re.compile(r"^(?P<cls>.+)_test_split(?P<split>[1-3])\.txt$")
_HMDB_CLIP_INDEX = re.compile(r"(?<=.)_[0-9]+$")  # "..._goo_2" -> "..._goo"; never the whole stem ("_0" stays)
_NUMBER = re.compile(r"[0-9]{1,9}")  # ASCII digits only: str.isdigit() also accepts '²', which int() refuses


@dataclass(frozen=True)
class VideoEntry:
    path: Path  # absolute path of the video file
    relpath: str  # path relative to the video folder, as written in the split file
    label: int  # 0-based class index
    # what must not straddle train and validation: UCF101 "<Class>/gNN"; HMDB51 "<class>/<source video>" (the name
    # without extension and trailing "_<digits>" clip index, see _hmdb_group); None: the video is its own group
    group: str | None
    source: str = ""  # "<split file>:<line>", for error messages


@dataclass
class SplitIndex:
    layout: str
    split: int
    video_dir: Path
    split_dir: Path
    classes: list[str]
    train: list[VideoEntry]
    test: list[VideoEntry]
    split_files: list[Path]
    missing: list[VideoEntry] = field(default_factory=list)  # listed but absent, skipped with on_missing="skip"

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def _read_lines(path: Path) -> list[tuple[int, str]]:
    """Non-empty lines with their 1-based numbers; CRLF, BOM and trailing blanks stripped."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise SplitFileError(path, None, f"not UTF-8 text ({e}); is this really a split file?") from e
    out = []
    for i, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if line:
            out.append((i, line))
    return out


def _number(text: str) -> int | None:
    """A plain decimal number (ASCII digits, at most 9), else None."""
    return int(text) if _NUMBER.fullmatch(text) else None


def _safe_video_path(video_dir: Path, relpath: str, split_file: Path, lineno: int) -> Path:
    """Refuse absolute paths, '..' components and symlinks that leave the video folder, and names no file can
    have (a NUL character, a name too long for the file system)."""
    rel = Path(relpath)
    if rel.is_absolute() or relpath.startswith(("/", "\\")) or ".." in rel.parts or "\\" in relpath:
        raise UnsafePathError(
            f"{split_file}:{lineno}: '{relpath}' points outside the dataset root; split entries must be relative "
            "paths like '<Class>/<file>.avi' without '..'"
        )
    if "\0" in relpath:
        raise SplitFileError(split_file, lineno, f"{relpath!r} contains a NUL character; not a file name")
    path = video_dir / rel
    try:
        present = path.is_symlink() or path.exists()
        real = path.resolve() if present else None
    except (OSError, RuntimeError) as e:  # ENAMETOOLONG, a symlink loop, ...
        raise SplitFileError(split_file, lineno, f"{relpath!r} is not a usable file name ({e})") from e
    if present:
        if not real.is_relative_to(video_dir.resolve()):
            raise UnsafePathError(
                f"{split_file}:{lineno}: '{relpath}' is a symlink that leaves the dataset root ({real}); "
                "copy the video into the dataset folder instead"
            )
    return path


def _check_missing(entries: list[VideoEntry], on_missing: str) -> tuple[list[VideoEntry], list[VideoEntry]]:
    missing = [e for e in entries if not e.path.is_file()]
    if missing and on_missing != "skip":
        first = missing[0]
        raise MissingVideoError(
            f"{len(missing)} listed video(s) are missing, first: {first.path} (listed at {first.source}). "
            "Fix the dataset path, or pass on_missing=skip to skip them (they are then counted in every record)."
        )
    if missing:
        log.warning("skipping %d missing videos (on_missing=skip), first: %s", len(missing), missing[0].path)
    gone = set(id(e) for e in missing)
    return [e for e in entries if id(e) not in gone], missing


def _require(path: Path, what: str, fix: str) -> None:
    if not path.exists():
        raise LayoutError(f"{what} not found: expected {path}. {fix}")


def _load_ucf101(video_dir: Path, split_dir: Path, split: int):
    fix = (
        f"A UCF101 root holds {UCF_VIDEO_DIR}/<Class>/*.avi and {UCF_SPLIT_DIR}/ with classInd.txt, "
        "trainlist0{1,2,3}.txt and testlist0{1,2,3}.txt; or pass video_dir= and split_dir= separately."
    )
    _require(video_dir, "UCF101 video folder", fix)
    class_file = split_dir / "classInd.txt"
    train_file, test_file = split_dir / f"trainlist0{split}.txt", split_dir / f"testlist0{split}.txt"
    for f in (class_file, train_file, test_file):
        _require(f, "UCF101 split file", fix)

    classes: list[str] = []
    for lineno, line in _read_lines(class_file):
        parts = line.split()
        if len(parts) != 2 or _number(parts[0]) is None:
            raise SplitFileError(class_file, lineno, f"expected '<index> <ClassName>', got {line!r}")
        if _number(parts[0]) != len(classes) + 1:
            raise SplitFileError(class_file, lineno, f"class indices must be 1, 2, 3, ... in order; got {parts[0]}")
        classes.append(parts[1])
    if not classes:
        raise SplitFileError(class_file, None, "no classes listed")
    lookup = {c.lower(): i for i, c in enumerate(classes)}

    def parse(path: Path, with_label: bool) -> list[VideoEntry]:
        entries = []
        for lineno, line in _read_lines(path):
            parts = line.split()
            if len(parts) not in (1, 2) or (with_label and len(parts) != 2):
                want = "'<Class>/<file>.avi <label>'" if with_label else "'<Class>/<file>.avi'"
                raise SplitFileError(path, lineno, f"expected {want}, got {line!r}")
            relpath = parts[0]
            folder = relpath.split("/")[0] if "/" in relpath else None
            if folder is None or folder.lower() not in lookup:
                raise SplitFileError(
                    path, lineno, f"unknown class {folder!r} in {relpath!r}; classes come from {class_file.name}"
                )
            label = lookup[folder.lower()]
            if len(parts) == 2:
                if _number(parts[1]) != label + 1:
                    raise SplitFileError(
                        path, lineno, f"label {parts[1]!r} disagrees with classInd ({label + 1} for {folder})"
                    )
            m = _UCF_GROUP.search(relpath)
            group = f"{classes[label]}/g{int(m.group(1)):02d}" if m else None
            entries.append(
                VideoEntry(
                    _safe_video_path(video_dir, relpath, path, lineno), relpath, label, group, f"{path}:{lineno}"
                )
            )
        if not entries:
            raise SplitFileError(path, None, "the split is empty")
        return entries

    return classes, parse(train_file, True), parse(test_file, False), [class_file, train_file, test_file]


def _hmdb_group(cls: str, name: str) -> str:
    """The source video an HMDB51 clip was cut from: ``"<class>/<name>"`` without the extension and the trailing
    ``_<digits>`` clip index. HMDB51 cuts several clips from one movie or web video and numbers them ``_0``, ``_1``,
    ...; ``April_09_brush_hair_u_nm_np1_ba_goo_12.avi`` -> ``brush_hair/April_09_brush_hair_u_nm_np1_ba_goo``.
    A name without a trailing index is its own group (its whole stem)."""
    suffix = PurePosixPath(name).suffix
    stem = name[: -len(suffix)] if suffix else name
    return f"{cls}/{_HMDB_CLIP_INDEX.sub('', stem)}"


def _load_hmdb51(video_dir: Path, split_dir: Path, split: int):
    fix = (
        f"An HMDB51 root holds <class>/<name>.avi and {HMDB_SPLIT_DIR}/<class>_test_split{{1,2,3}}.txt; "
        "or pass video_dir= and split_dir= separately."
    )
    _require(video_dir, "HMDB51 video folder", fix)
    _require(split_dir, "HMDB51 split folder", fix)
    files = {}
    for f in split_dir.iterdir():
        m = _HMDB_SPLIT_FILE.match(f.name)
        if m and int(m.group("split")) == split:
            files[m.group("cls")] = f
    if not files:
        raise LayoutError(f"no '<class>_test_split{split}.txt' files in {split_dir}. {fix}")
    classes = sorted(files)
    train, test = [], []
    for label, cls in enumerate(classes):
        path = files[cls]
        n = 0
        for lineno, line in _read_lines(path):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise SplitFileError(path, lineno, f"expected '<name>.avi <0|1|2>', got {line!r}")
            n += 1
            if parts[1] == "0":
                continue
            relpath = f"{cls}/{parts[0]}"
            entry = VideoEntry(
                _safe_video_path(video_dir, relpath, path, lineno),
                relpath,
                label,
                _hmdb_group(cls, parts[0]),
                f"{path}:{lineno}",
            )
            (train if parts[1] == "1" else test).append(entry)
        if n == 0:
            raise SplitFileError(path, None, "the split file is empty")
    for name, entries in (("train", train), ("test", test)):
        if not entries:
            raise SplitFileError(split_dir, None, f"split {split} has no {name} videos")
    return classes, train, test, [files[c] for c in classes]


def load_split(
    layout: str,
    root: str | Path | None = None,
    split: int = 1,
    video_dir: str | Path | None = None,
    split_dir: str | Path | None = None,
    on_missing: str = "error",
) -> SplitIndex:
    """Read one official split. ``on_missing`` is ``error`` (default) or ``skip`` (counted in ``.missing``)."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {LAYOUTS}")
    if split not in (1, 2, 3):
        raise ValueError(f"split must be 1, 2 or 3, got {split!r}")
    if on_missing not in ("error", "skip"):
        raise ValueError(f"on_missing must be 'error' or 'skip', got {on_missing!r}")
    if root is None and (video_dir is None or split_dir is None):
        raise ValueError("give root=, or both video_dir= and split_dir=")
    root = Path(root) if root is not None else None
    if layout == "ucf101":
        vdir = Path(video_dir) if video_dir else root / UCF_VIDEO_DIR
        sdir = Path(split_dir) if split_dir else root / UCF_SPLIT_DIR
        classes, train, test, files = _load_ucf101(vdir, sdir, split)
    else:
        vdir = Path(video_dir) if video_dir else root
        sdir = Path(split_dir) if split_dir else root / HMDB_SPLIT_DIR
        classes, train, test, files = _load_hmdb51(vdir, sdir, split)
    train, miss_train = _check_missing(train, on_missing)
    test, miss_test = _check_missing(test, on_missing)
    return SplitIndex(layout, split, vdir, sdir, classes, train, test, files, miss_train + miss_test)


def train_val_split(
    entries: list[VideoEntry], val_fraction: float, seed: int
) -> tuple[list[VideoEntry], list[VideoEntry]]:
    """Carve a validation split out of a train list, deterministically from ``seed``.

    Group-aware and stratified: within each class, whole groups (``VideoEntry.group``: UCF101 ``gNN``, HMDB51 the
    source video the clips were cut from; one video per group where ``group`` is None) go to validation until about
    ``val_fraction`` of the class is held out, so the clips of one group never straddle train and validation. A class
    with a single group stays in train. The test split is never touched: model selection uses this split only.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    by_class: dict[int, dict[str, list[VideoEntry]]] = {}
    for e in entries:
        by_class.setdefault(e.label, {}).setdefault(e.group or e.relpath, []).append(e)
    val_ids = set()
    for label, groups in sorted(by_class.items()):
        keys = sorted(groups)
        if len(keys) < 2 or val_fraction == 0:
            continue
        order = np.random.default_rng([seed, label]).permutation(len(keys))
        total = sum(len(g) for g in groups.values())
        taken = 0
        for k in order[:-1]:  # always leave at least one group in train
            if taken >= val_fraction * total:
                break
            if taken and taken + len(groups[keys[k]]) > val_fraction * total * 1.5:
                continue
            val_ids.update(e.relpath for e in groups[keys[k]])
            taken += len(groups[keys[k]])
    train = [e for e in entries if e.relpath not in val_ids]
    val = [e for e in entries if e.relpath in val_ids]
    return train, val
