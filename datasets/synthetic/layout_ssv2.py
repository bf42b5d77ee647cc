"""The ssv2 (Something-Something V2) layout of the synthetic datasets: its entries (``ssv2_rows``, :class:`Ssv2Row`),
the exact bytes of its label files (``ssv2_files``) and its mirror pairs (``mirror_pairs``).

Layout (as the official archives extract)::

    ROOT/labels/labels.json        {"Moving something away from the camera": "0", ...}   class -> index, as a STRING
    ROOT/labels/train.json         [{"id": "78687", "label": "pushing pen from left to right",
                                     "template": "Pushing [something] from left to right",
                                     "placeholders": ["pen"]}, ...]
    ROOT/labels/validation.json    the same shape
    ROOT/labels/test.json          [{"id": "1420"}, ...]   (ids only; their videos are there, unlabelled)
    ROOT/20bn-something-something-v2/<id>.webm
    ROOT/SYNTHETIC.json

The class of an entry is its ``template`` without the square brackets, never its ``label`` (the template filled in
with the placeholder objects, lower case); a template can have two placeholders. labels.json lists the classes in
alphabetical order, indices 0, 1, ... as strings. ids are unique decimal strings; the entries of a file are in id
order. Per class, ~70% of the videos train and ~30% are validation. Videos are VP9 in WebM at 12 fps, all
``ssv2_height`` high, each with its own even width (``ssv2_widths``) and length (``ssv2_frames``); none is missing
or broken.

Classes are direction-dependent (``datasets.synthetic.names``): mirroring a left/right class's video gives the other
class of its pair; ``SYNTHETIC.json`` lists these pairs (``mirror_pairs``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from datasets.synthetic.item import VideoItem
from datasets.synthetic.names import SSV2_OBJECTS, SSV2_TEMPLATES, mirror_name, ssv2_class
from datasets.synthetic.spec import _COUNT, _GEOMETRY, _ID, _LAYOUT_KEY, _NAME, _SPLIT, SizeSpec, _rng, classes

LABEL_DIR, VIDEO_DIR = "labels", "20bn-something-something-v2"
FPS = 12
SPLIT_FILES = {"train": "train.json", "validation": "validation.json", "test": "test.json"}
_LK = _LAYOUT_KEY["ssv2"]
_MAX_ID = 220847  # the official ids are 1..220847


@dataclass(frozen=True)
class Ssv2Row:
    id: str
    split: str  # train / validation / test
    template: str
    placeholders: tuple[str, ...]
    item: VideoItem

    @property
    def label(self) -> str:
        """The template filled in with the placeholders, lower case (the official ``label`` field)."""
        text = self.template
        for obj in self.placeholders:
            text = text.replace("[something]", obj, 1)
        return text.lower()


def _template_of(spec: SizeSpec) -> dict[str, str]:
    return {ssv2_class(t): t for t, _ in SSV2_TEMPLATES[: spec.ssv2_classes]}


def ssv2_rows(spec: SizeSpec, seed: int) -> list[Ssv2Row]:
    """Every entry of train.json, validation.json and test.json (in class order, test last), with its video."""
    motions = classes("ssv2", spec)
    template = _template_of(spec)
    slots = []  # (class_index, group, clip, split)
    n = spec.ssv2_videos_per_class
    for ci in range(len(motions)):
        val = set(_rng(seed, _LK, _SPLIT, ci).permutation(n)[: max(1, round(0.3 * n))].tolist())
        slots += [(ci, g, 1, "validation" if g - 1 in val else "train") for g in range(1, n + 1)]
    for j in range(1, spec.ssv2_test_videos + 1):  # unlabelled: a random class each (clip 2 keeps their keys apart)
        slots.append((int(_rng(seed, _LK, _COUNT, j).integers(len(motions))), j, 2, "test"))
    ids = _rng(seed, _LK, _ID, 0).choice(_MAX_ID, size=len(slots), replace=False) + 1
    rows = []
    for (ci, g, clip, split), vid in zip(slots, ids.tolist(), strict=True):
        geo = _rng(seed, _LK, _GEOMETRY, ci, g, clip)
        width = 2 * int(geo.integers(spec.ssv2_widths[0] // 2, spec.ssv2_widths[1] // 2 + 1))
        frames = int(geo.integers(spec.ssv2_frames[0], spec.ssv2_frames[1] + 1))
        t = template[motions[ci].name]
        objects = _rng(seed, _LK, _NAME, ci, g, clip).permutation(len(SSV2_OBJECTS))[: t.count("[something]")]
        item = VideoItem(f"{VIDEO_DIR}/{vid}.webm", ci, g, clip, width, spec.ssv2_height, frames, FPS, split)
        rows.append(Ssv2Row(str(vid), split, t, tuple(SSV2_OBJECTS[i] for i in objects), item))
    return rows


def _json(obj) -> bytes:
    return (json.dumps(obj, indent=1, ensure_ascii=True) + "\n").encode("ascii")


def ssv2_files(spec: SizeSpec, seed: int) -> dict[str, bytes]:
    """Relative path (from the root) -> exact bytes of labels.json, train.json, validation.json and test.json."""
    rows = sorted(ssv2_rows(spec, seed), key=lambda r: int(r.id))
    files = {f"{LABEL_DIR}/labels.json": _json({m.name: str(i) for i, m in enumerate(classes("ssv2", spec))})}
    for split, name in SPLIT_FILES.items():
        mine = [r for r in rows if r.split == split]
        if split == "test":
            files[f"{LABEL_DIR}/{name}"] = _json([{"id": r.id} for r in mine])
        else:
            entries = [
                {"id": r.id, "label": r.label, "template": r.template, "placeholders": list(r.placeholders)}
                for r in mine
            ]
            files[f"{LABEL_DIR}/{name}"] = _json(entries)
    return files


def mirror_pairs(spec: SizeSpec) -> list[list[str]]:
    """[[class, its horizontal mirror image's class], ...] for the left/right classes of ``spec`` (each pair once)."""
    motions = classes("ssv2", spec)
    by_motion = {m.catalogue: m.name for m in motions}
    pairs = []
    for m in motions:
        other = by_motion.get(mirror_name(m.catalogue))
        if other and other != m.name and [other, m.name] not in pairs:
            pairs.append([m.name, other])
    return pairs
