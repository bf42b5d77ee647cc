"""Reader for Something-Something V2: the official label JSON files and ``.webm`` videos.

As the official archives extract::

    ROOT/20bn-something-something-v2/<id>.webm
    ROOT/labels/labels.json        {"Pushing something from left to right": "93", ...}   (indices as strings)
    ROOT/labels/train.json         [{"id": "78687", "label": "pushing pen from left to right",
                                    "template": "Pushing [something] from left to right", "placeholders": ["pen"]}]
    ROOT/labels/validation.json    same shape: the "test" split of this suite (test.json has no labels)

The class of a video is its ``template`` with the square brackets removed, looked up in labels.json; the ``label``
field is the filled-in sentence with the objects ("pushing pen from left to right") and is never the class. A
template that differs from its labels.json key only in letter case is matched case-insensitively. Labels are the
labels.json indices (0-based). Each video is its own group. Pass ``video_dir=`` / ``split_dir=`` for other folders;
a video may also be stored as ``<id>.mp4`` (after re-encoding).

SSv2's classes depend on left and right ("Pushing something from left to right" is a class, its mirror image
another), so nothing may mirror its clips: its dataset configs set ``mirror_safe: false`` and ``input.flip=true`` is
refused for it (experiment/checks.py).
"""

from __future__ import annotations

import json
from pathlib import Path

from datasets.entries import SplitIndex, VideoEntry, check_missing, require, safe_video_path
from datasets.errors import SplitFileError

LAYOUT = "ssv2"
VIDEO_DIR, LABEL_DIR = "20bn-something-something-v2", "labels"
LABELS, TRAIN, VALIDATION = "labels.json", "train.json", "validation.json"
EXTENSIONS = (".webm", ".mp4")
FIX = (
    f"A Something-Something V2 root holds {VIDEO_DIR}/<id>.webm and {LABEL_DIR}/ with {LABELS}, {TRAIN} and "
    f"{VALIDATION}; or pass video_dir= and split_dir= separately."
)


def class_name(template: str) -> str:
    """The class of an SSv2 video: its template without the placeholder brackets."""
    return template.replace("[", "").replace("]", "")


def _read_json(path: Path):
    try:
        return json.loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        raise SplitFileError(path, None, f"not UTF-8 text ({e})") from e
    except json.JSONDecodeError as e:
        raise SplitFileError(path, e.lineno, f"not valid JSON ({e.msg}, column {e.colno})") from e


def _read_labels(path: Path) -> list[str]:
    data = _read_json(path)
    if not isinstance(data, dict) or not data:
        raise SplitFileError(path, None, 'expected an object {"<class name>": "<index>", ...}')
    by_index: dict[int, str] = {}
    for name, value in data.items():
        text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
        if not text.isascii() or not text.isdigit():
            raise SplitFileError(path, None, f"class {name!r} has index {value!r}; indices are whole numbers")
        if int(text) in by_index:
            raise SplitFileError(path, None, f"index {text} is used by {by_index[int(text)]!r} and {name!r}")
        by_index[int(text)] = name
    if sorted(by_index) != list(range(len(by_index))):
        raise SplitFileError(path, None, f"class indices must be 0..{len(by_index) - 1} without gaps")
    return [by_index[i] for i in range(len(by_index))]


def _read_list(path: Path, video_dir: Path, lookup: dict[str, int], folded: dict[str, int], seen: dict) -> list:
    data = _read_json(path)
    if not isinstance(data, list) or not data:
        raise SplitFileError(path, None, 'expected a non-empty list [{"id": ..., "template": ...}, ...]')
    entries = []
    for i, item in enumerate(data):
        where = f"entry {i}"
        if not isinstance(item, dict) or not isinstance(item.get("id"), (str, int)) or "template" not in item:
            raise SplitFileError(path, None, f"{where}: expected an object with 'id' and 'template', got {item!r:.80}")
        vid = str(item["id"])
        if not vid.isascii() or not vid.isdigit():
            raise SplitFileError(path, None, f"{where}: id {vid!r} is not a number")
        if vid in seen:
            raise SplitFileError(path, None, f"{where}: video {vid} is listed twice (also {seen[vid]})")
        seen[vid] = f"{path.name} {where}"
        if not isinstance(item["template"], str):
            raise SplitFileError(path, None, f"{where} (id {vid}): template {item['template']!r} is not text")
        name = class_name(item["template"])
        label = lookup.get(name, folded.get(name.lower()))
        if label is None:
            raise SplitFileError(
                path, None, f"{where} (id {vid}): class {name!r} (template {item['template']!r}) is not in {LABELS}"
            )
        rel = next((vid + ext for ext in EXTENSIONS if (video_dir / (vid + ext)).is_file()), vid + EXTENSIONS[0])
        entries.append(VideoEntry(safe_video_path(video_dir, rel, path, i), rel, label, None, f"{path}:{where}"))
    return entries


def load(video_dir: Path | None, split_dir: Path | None, root: Path | None, on_missing: str) -> SplitIndex:
    """Read SSv2 (train.json → train, validation.json → test) into a :class:`SplitIndex`."""
    vdir = Path(video_dir) if video_dir else root / VIDEO_DIR
    sdir = Path(split_dir) if split_dir else root / LABEL_DIR
    require(vdir, "Something-Something V2 video folder", FIX)
    files = [sdir / LABELS, sdir / TRAIN, sdir / VALIDATION]
    for f in files:
        require(f, "Something-Something V2 label file", FIX)
    classes = _read_labels(files[0])
    lookup = {c: i for i, c in enumerate(classes)}
    folded = {c.lower(): i for i, c in enumerate(classes)}
    seen: dict[str, str] = {}
    train = _read_list(files[1], vdir, lookup, folded, seen)
    test = _read_list(files[2], vdir, lookup, folded, seen)
    train, miss_train = check_missing(train, on_missing)
    test, miss_test = check_missing(test, on_missing)
    return SplitIndex(LAYOUT, 1, vdir, sdir, classes, train, test, files, miss_train + miss_test)
