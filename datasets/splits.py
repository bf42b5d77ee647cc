"""Readers for the official UCF101 and HMDB51 split files, the one entry point for every layout (:func:`load_split`:
also Kinetics-400, datasets/kinetics.py, and Something-Something V2, datasets/ssv2.py), and the group-aware
validation split.

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

import re
from pathlib import Path, PurePosixPath

import numpy as np

from datasets import kinetics, ssv2
from datasets.entries import (
    SplitIndex,
    VideoEntry,
    check_missing,
    number,
    read_lines,
    require,
    safe_video_path,
)
from datasets.errors import LayoutError, SplitFileError

# the official layouts; kinetics400 and ssv2 have one official split (train / validation), read by their modules
LAYOUTS = ("ucf101", "hmdb51", kinetics.LAYOUT, ssv2.LAYOUT)
SINGLE_SPLIT = (kinetics.LAYOUT, ssv2.LAYOUT)
# layouts whose classes a horizontal mirror swaps ("from left to right"): never mirrored, whatever a config says
NEVER_MIRROR = (ssv2.LAYOUT,)
UCF_VIDEO_DIR, UCF_SPLIT_DIR = "UCF-101", "ucfTrainTestlist"
HMDB_SPLIT_DIR = "testTrainMulti_7030_splits"
_UCF_GROUP = re.compile(r"_g(\d+)_c(\d+)", re.IGNORECASE)
_HMDB_SPLIT_FILE = re.compile(r"^(?P<cls>.+)_test_split(?P<split>[1-3])\.txt$")
_HMDB_CLIP_INDEX = re.compile(r"(?<=.)_[0-9]+$")  # "..._goo_2" -> "..._goo"; never the whole stem ("_0" stays)


def _load_ucf101(video_dir: Path, split_dir: Path, split: int):
    fix = (
        f"A UCF101 root holds {UCF_VIDEO_DIR}/<Class>/*.avi and {UCF_SPLIT_DIR}/ with classInd.txt, "
        "trainlist0{1,2,3}.txt and testlist0{1,2,3}.txt; or pass video_dir= and split_dir= separately."
    )
    require(video_dir, "UCF101 video folder", fix)
    class_file = split_dir / "classInd.txt"
    train_file, test_file = split_dir / f"trainlist0{split}.txt", split_dir / f"testlist0{split}.txt"
    for f in (class_file, train_file, test_file):
        require(f, "UCF101 split file", fix)

    classes: list[str] = []
    for lineno, line in read_lines(class_file):
        parts = line.split()
        if len(parts) != 2 or number(parts[0]) is None:
            raise SplitFileError(class_file, lineno, f"expected '<index> <ClassName>', got {line!r}")
        if number(parts[0]) != len(classes) + 1:
            raise SplitFileError(class_file, lineno, f"class indices must be 1, 2, 3, ... in order; got {parts[0]}")
        classes.append(parts[1])
    if not classes:
        raise SplitFileError(class_file, None, "no classes listed")
    lookup = {c.lower(): i for i, c in enumerate(classes)}

    def parse(path: Path, with_label: bool) -> list[VideoEntry]:
        entries = []
        for lineno, line in read_lines(path):
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
                if number(parts[1]) != label + 1:
                    raise SplitFileError(
                        path, lineno, f"label {parts[1]!r} disagrees with classInd ({label + 1} for {folder})"
                    )
            m = _UCF_GROUP.search(relpath)
            group = f"{classes[label]}/g{int(m.group(1)):02d}" if m else None
            entries.append(
                VideoEntry(safe_video_path(video_dir, relpath, path, lineno), relpath, label, group, f"{path}:{lineno}")
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
    require(video_dir, "HMDB51 video folder", fix)
    require(split_dir, "HMDB51 split folder", fix)
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
        for lineno, line in read_lines(path):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise SplitFileError(path, lineno, f"expected '<name>.avi <0|1|2>', got {line!r}")
            n += 1
            if parts[1] == "0":
                continue
            relpath = f"{cls}/{parts[0]}"
            entry = VideoEntry(
                safe_video_path(video_dir, relpath, path, lineno),
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
    max_skipped: float = kinetics.MAX_SKIPPED,
    probe_cache: str | Path | None = None,
) -> SplitIndex:
    """Read one official split of ``layout`` (:data:`LAYOUTS`).

    UCF101, HMDB51 and SSv2: ``on_missing`` is ``error`` (default) or ``skip`` (counted in ``.missing``).
    Kinetics-400 is always incomplete: missing and undecodable videos are skipped and counted, up to ``max_skipped``
    (a fraction of the listed videos; more is an error), and ``probe_cache`` keeps the probe of its videos
    (datasets/kinetics.py). Kinetics-400 and SSv2 have one official split: ``split`` must be 1."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {LAYOUTS}")
    if split not in (1, 2, 3):
        raise ValueError(f"split must be 1, 2 or 3, got {split!r}")
    if layout in SINGLE_SPLIT and split != 1:
        raise ValueError(f"{layout} has one official split (train / validation); use split=1, got {split}")
    if on_missing not in ("error", "skip"):
        raise ValueError(f"on_missing must be 'error' or 'skip', got {on_missing!r}")
    if not 0.0 <= max_skipped <= 1.0:
        raise ValueError(f"max_skipped must be a fraction in [0, 1], got {max_skipped!r}")
    if root is None and (video_dir is None or split_dir is None):
        raise ValueError("give root=, or both video_dir= and split_dir=")
    root = Path(root) if root is not None else None
    if layout == kinetics.LAYOUT:
        return kinetics.load(video_dir, split_dir, root, max_skipped, probe_cache)
    if layout == ssv2.LAYOUT:
        return ssv2.load(video_dir, split_dir, root, on_missing)
    if layout == "ucf101":
        vdir = Path(video_dir) if video_dir else root / UCF_VIDEO_DIR
        sdir = Path(split_dir) if split_dir else root / UCF_SPLIT_DIR
        classes, train, test, files = _load_ucf101(vdir, sdir, split)
    else:
        vdir = Path(video_dir) if video_dir else root
        sdir = Path(split_dir) if split_dir else root / HMDB_SPLIT_DIR
        classes, train, test, files = _load_hmdb51(vdir, sdir, split)
    train, miss_train = check_missing(train, on_missing)
    test, miss_test = check_missing(test, on_missing)
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
