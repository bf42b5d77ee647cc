"""The kinetics400 layout of the synthetic datasets: which rows the annotation CSVs list (``kinetics_rows``,
:class:`KineticsRow`), their exact bytes (``kinetics_files``), the defects (``kinetics_defects``) and the bytes of the
undecodable video (``broken_video_bytes``).

Layout (as the Kinetics-400 annotations and a per-split, per-class download extract)::

    ROOT/annotations/train.csv     label,youtube_id,time_start,time_end,split,is_cc   (the 2020 release)
    ROOT/annotations/validate.csv  label,youtube_id,time_start,time_end,split         (the older release)
    ROOT/annotations/test.csv      youtube_id,time_start,time_end,split                (unlabelled; no videos)
    ROOT/train/<label>/<youtube_id>_<time_start:06d>_<time_end:06d>.mp4
    ROOT/val/<label>/<youtube_id>_<time_start:06d>_<time_end:06d>.mp4                  (validate.csv's rows)
    ROOT/SYNTHETIC.json

CSV: written by the csv module, LF line endings, rows sorted by (label, youtube_id); ``split`` is train / validate /
test; ``time_end = time_start + 10``; labels are lower-case words with spaces (``datasets.synthetic.names``), and a
label with parentheses is quoted, as the official files quote such labels ("shrink (moving down)"); the class folder
is the label exactly. youtube ids are 11 characters of [A-Za-z0-9_-], unique over all three files (every id is one
video), at least one starting with '-'.

Per class, 80% of the videos train and the rest (>= 2) validate. Videos are H.264 in mp4, each with its own fps
(``kinetics_fps``), (width, height) (``kinetics_sizes``, one portrait) and length (``kinetics_frames``; about 7%,
at least one train video, ``kinetics_short_frames``, shorter than a 64-frame tuple). Kinetics is never complete:
about 5% of the CSV rows (at least one train and one validate row) have no video file, and exactly one train video
is an undecodable truncated download; ``SYNTHETIC.json`` names them (``missing``, ``broken``, ``short``: paths
relative to the root).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import string
from dataclasses import dataclass

from datasets.synthetic.item import VideoItem
from datasets.synthetic.spec import _COUNT, _DEFECT, _GEOMETRY, _ID, _LAYOUT_KEY, _SPLIT, SizeSpec, _rng, classes

ANNOTATION_DIR = "annotations"
SPLIT_DIR = {"train": "train", "validate": "val"}  # CSV split -> video folder
TRAIN_HEADER = ("label", "youtube_id", "time_start", "time_end", "split", "is_cc")
VALIDATE_HEADER = ("label", "youtube_id", "time_start", "time_end", "split")
TEST_HEADER = ("youtube_id", "time_start", "time_end", "split")
_ID_CHARS = string.ascii_letters + string.digits + "_-"
_LK = _LAYOUT_KEY["kinetics400"]


@dataclass(frozen=True)
class KineticsRow:
    label: str  # "" for test rows
    youtube_id: str
    time_start: int
    split: str  # train / validate / test
    is_cc: int = 0
    item: VideoItem | None = None  # the video file; None for test rows and listed-but-missing rows
    missing: bool = False  # listed, no video file
    short: bool = False  # its video has kinetics_short_frames frames

    @property
    def time_end(self) -> int:
        return self.time_start + 10

    @property
    def relpath(self) -> str:
        """Where the video of a train / validate row is (or would be), relative to the root."""
        name = f"{self.youtube_id}_{self.time_start:06d}_{self.time_end:06d}.mp4"
        return f"{SPLIT_DIR[self.split]}/{self.label}/{name}"


def _draw_id(rng, taken: set[str], first: str = "") -> str:
    while True:
        yid = first + "".join(_ID_CHARS[i] for i in rng.integers(len(_ID_CHARS), size=11 - len(first)))
        if yid not in taken:
            taken.add(yid)
            return yid


def kinetics_rows(spec: SizeSpec, seed: int) -> list[KineticsRow]:
    """Every row of the three CSVs (train and validate rows in class order, then test rows), with its video."""
    motions = classes("kinetics400", spec)
    slots = []  # (class_index, group, split, missing)
    for ci in range(len(motions)):
        n = int(
            _rng(seed, _LK, _COUNT, ci).integers(
                spec.kinetics_videos_per_class[0], spec.kinetics_videos_per_class[1] + 1
            )
        )
        val = set(_rng(seed, _LK, _SPLIT, ci).permutation(n)[: max(2, round(0.2 * n))].tolist())
        slots += [(ci, g, "validate" if g - 1 in val else "train", False) for g in range(1, n + 1)]
    # listed but missing: ~5% of all rows, extra rows (so every class keeps its >= 2 validate videos), >= 1 per split
    n_missing = max(2, round(len(slots) / 19))
    n_missing_val = max(1, round(0.2 * n_missing))
    r = _rng(seed, _LK, _DEFECT, 0)
    per_class = [sum(s[0] == ci for s in slots) for ci in range(len(motions))]
    for j in range(n_missing):
        ci = int(r.integers(len(motions)))
        per_class[ci] += 1
        slots.append((ci, per_class[ci], "validate" if j < n_missing_val else "train", True))
    slots.sort()

    defects = _defects(spec, seed, [s for s in slots if not s[3]])
    taken: set[str] = set()
    ids = _rng(seed, _LK, _ID, 0)
    rows = []
    for ci, g, split, missing in slots:
        geo = _rng(seed, _LK, _GEOMETRY, ci, g)
        fps = int(spec.kinetics_fps[int(geo.integers(len(spec.kinetics_fps)))])
        width, height = spec.kinetics_sizes[int(geo.integers(len(spec.kinetics_sizes)))]
        frames = int(geo.integers(spec.kinetics_frames[0], spec.kinetics_frames[1] + 1))
        start = int(geo.integers(0, 291))
        is_cc = int(geo.random() < 0.25)
        kind = defects.get((ci, g), "")
        if kind == "short":
            frames = int(geo.integers(spec.kinetics_short_frames[0], spec.kinetics_short_frames[1] + 1))
        row = KineticsRow(motions[ci].name, _draw_id(ids, taken, "-" if kind == "dash" else ""), start, split, is_cc)
        if missing:
            rows.append(dataclasses.replace(row, missing=True))
            continue
        item = VideoItem(row.relpath, ci, g, 1, width, height, frames, fps, split, broken=kind == "broken")
        rows.append(dataclasses.replace(row, item=item, short=kind == "short"))
    times = _rng(seed, _LK, _GEOMETRY, len(motions), 0)
    for _ in range(spec.kinetics_test_rows):
        rows.append(KineticsRow("", _draw_id(ids, taken), int(times.integers(0, 291)), "test"))
    return rows


def _defects(spec: SizeSpec, seed: int, present: list[tuple]) -> dict[tuple[int, int], str]:
    """(class_index, group) -> "broken" (exactly one train video), "dash" (a train video whose youtube id starts with
    '-'), "short" (~7% of the videos, the first a train video) for the videos that have files."""
    order = [present[i] for i in _rng(seed, _LK, _DEFECT, 1).permutation(len(present))]
    train = [s for s in order if s[2] == "train"]
    out = {train[0][:2]: "broken", train[1][:2]: "dash"}
    rest = [s for s in order if s[:2] not in out]
    first_train = next(s for s in rest if s[2] == "train")
    short = [first_train] + [s for s in rest if s != first_train][: max(1, round(0.07 * len(present))) - 1]
    out |= {s[:2]: "short" for s in short}
    return out


def _csv(header: tuple[str, ...], rows: list[tuple]) -> bytes:
    """CSV bytes, LF line endings; a label with parentheses is written quoted (the official files quote such
    labels although the csv module would not need to), so the writer quotes nothing itself."""
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=csv.QUOTE_NONE, quotechar=None, escapechar=None, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def _label_field(label: str) -> str:
    if any(c in label for c in ',"\n'):
        raise ValueError(f"label {label!r} must not hold a comma, quote or newline")
    return f'"{label}"' if "(" in label else label


def kinetics_files(spec: SizeSpec, seed: int) -> dict[str, bytes]:
    """Relative path (from the root) -> exact bytes of the three annotation CSVs."""
    rows = kinetics_rows(spec, seed)
    key = lambda r: (r.label, r.youtube_id)  # noqa: E731
    train = sorted((r for r in rows if r.split == "train"), key=key)
    val = sorted((r for r in rows if r.split == "validate"), key=key)
    test = sorted((r for r in rows if r.split == "test"), key=key)
    return {
        f"{ANNOTATION_DIR}/train.csv": _csv(
            TRAIN_HEADER,
            [(_label_field(r.label), r.youtube_id, r.time_start, r.time_end, r.split, r.is_cc) for r in train],
        ),
        f"{ANNOTATION_DIR}/validate.csv": _csv(
            VALIDATE_HEADER, [(_label_field(r.label), r.youtube_id, r.time_start, r.time_end, r.split) for r in val]
        ),
        f"{ANNOTATION_DIR}/test.csv": _csv(
            TEST_HEADER, [(r.youtube_id, r.time_start, r.time_end, r.split) for r in test]
        ),
    }


def kinetics_defects(spec: SizeSpec, seed: int) -> dict[str, list[str]]:
    """{"missing": [...], "broken": [...], "short": [...]}: root-relative video paths, sorted (SYNTHETIC.json)."""
    rows = [r for r in kinetics_rows(spec, seed) if r.split != "test"]
    return {
        "missing": sorted(r.relpath for r in rows if r.missing),
        "broken": sorted(r.relpath for r in rows if r.item and r.item.broken),
        "short": sorted(r.relpath for r in rows if r.short),
    }


def broken_video_bytes(seed: int) -> bytes:
    """A truncated download: an mp4 ``ftyp`` box, then an ``mdat`` box header claiming more bytes than follow and a
    few random ones (no ``moov``), which no demuxer opens."""
    ftyp = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41"
    payload = _rng(seed, _LK, _DEFECT, 2).integers(0, 256, 200, dtype="uint8").tobytes()
    return ftyp + (1 << 20).to_bytes(4, "big") + b"mdat" + payload
