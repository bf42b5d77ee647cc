"""The official folder and split-file layouts of the synthetic datasets: which videos a dataset holds
(``plan_videos``, :class:`VideoItem`), which of them each split trains and tests on (``ucf_test_groups``,
``hmdb_flags``, ``split_counts``) and the exact bytes of the split files (``split_files``).

Layouts (as the official archives extract; read by ``datasets.splits.load_split``)::

    ucf101: ROOT/UCF-101/<Class>/v_<Class>_gNN_cNN.avi
            ROOT/ucfTrainTestlist/classInd.txt "1 Grow", trainlist0{1,2,3}.txt "<Class>/<file>.avi <label1>",
            testlist0{1,2,3}.txt "<Class>/<file>.avi"; CRLF line endings. Split k tests a block of groups
            (official 25 groups: 1-7, 8-14, 15-21; here ``ucf_test_groups``), the other groups train.
    hmdb51: ROOT/<class>/Synth<SS>_<class>_f_nm_np1_<view>_<quality>_<n>.avi
            ROOT/testTrainMulti_7030_splits/<class>_test_split{1,2,3}.txt "<name>.avi <flag> " (1 train, 2 test,
            0 unused; LF). Per class and split, whole sources (``SynthSS``) are drawn: ~70% train, ~30% test, a few 0.
    kinetics400: ROOT/annotations/{train,validate,test}.csv, ROOT/{train,val}/<label>/<youtube_id>_<start>_<end>.mp4
            (``datasets.synthetic.layout_kinetics``).
    ssv2:   ROOT/labels/{labels,train,validation,test}.json, ROOT/20bn-something-something-v2/<id>.webm
            (``datasets.synthetic.layout_ssv2``).
    All: ROOT/SYNTHETIC.json records the generator version, seed, size spec and class list.
"""

from __future__ import annotations

from datasets.synthetic.item import VideoItem
from datasets.synthetic.layout_kinetics import kinetics_files, kinetics_rows
from datasets.synthetic.layout_ssv2 import ssv2_files, ssv2_rows
from datasets.synthetic.spec import _COUNT, _LAYOUT_KEY, _NAME, _SPLIT, SizeSpec, _rng, classes, ucf_test_block

UCF_VIDEO_DIR, UCF_SPLIT_DIR, HMDB_SPLIT_DIR = "UCF-101", "ucfTrainTestlist", "testTrainMulti_7030_splits"


def ucf_test_groups(num_groups: int, split: int) -> range:
    """Groups tested by UCF split ``split`` (1-based group numbers): consecutive blocks of round(7/25 * groups)
    groups, as the official 25 groups give 1-7, 8-14, 15-21; the remaining groups are always train."""
    block = ucf_test_block(num_groups)
    if split not in (1, 2, 3):
        raise ValueError(f"split must be 1, 2 or 3, got {split}")
    return range((split - 1) * block + 1, split * block + 1)


# ---------------------------------------------------------------------------------------------- video plan
def plan_videos(layout: str, spec: SizeSpec, seed: int) -> list[VideoItem]:
    """Every video file a dataset holds (kinetics400: the broken one included, the listed-but-missing ones not)."""
    if layout == "kinetics400":
        return [r.item for r in kinetics_rows(spec, seed) if r.item is not None]
    if layout == "ssv2":
        return [r.item for r in ssv2_rows(spec, seed)]
    items = []
    lk = _LAYOUT_KEY[layout]
    for ci, m in enumerate(classes(layout, spec)):
        if layout == "ucf101":
            for g in range(1, spec.ucf_groups + 1):
                n = int(
                    _rng(seed, lk, _COUNT, ci, g).integers(spec.ucf_clips_per_group[0], spec.ucf_clips_per_group[1] + 1)
                )
                items += [VideoItem(f"{m.name}/v_{m.name}_g{g:02d}_c{c:02d}.avi", ci, g, c) for c in range(1, n + 1)]
        else:
            for s in range(1, sum(spec.hmdb_sources) + 1):
                r = _rng(seed, lk, _NAME, ci, s)
                view, quality = ("fr", "ba", "le", "ri")[r.integers(4)], ("goo", "med", "bad")[r.integers(3)]
                items += [
                    VideoItem(f"{m.name}/Synth{s:02d}_{m.name}_f_nm_np1_{view}_{quality}_{c - 1}.avi", ci, s, c)
                    for c in range(1, spec.hmdb_clips_per_source + 1)
                ]
    return items


# ---------------------------------------------------------------------------------------------- splits
def hmdb_flags(spec: SizeSpec, seed: int, class_index: int, split: int) -> dict[int, int]:
    """source -> flag (1 train, 2 test, 0 unused) for one class and split; whole sources, never straddling."""
    n_train, n_test, n_unused = spec.hmdb_sources
    order = _rng(seed, _LAYOUT_KEY["hmdb51"], _SPLIT, class_index, split).permutation(n_train + n_test + n_unused)
    flags = {}
    for rank, src in enumerate(order):
        flags[int(src) + 1] = 0 if rank < n_unused else 2 if rank < n_unused + n_test else 1
    return flags


def split_files(layout: str, spec: SizeSpec, seed: int, items: list[VideoItem]) -> dict[str, bytes]:
    """Relative path (from the root) -> exact bytes of every split file (kinetics400: the annotation CSVs, ssv2: the
    label JSONs; both from the layout's own plan, ``items`` unused)."""
    if layout == "kinetics400":
        return kinetics_files(spec, seed)
    if layout == "ssv2":
        return ssv2_files(spec, seed)
    motions = classes(layout, spec)
    files = {}
    if layout == "ucf101":
        crlf = lambda lines: "".join(f"{line}\r\n" for line in lines).encode("ascii")  # noqa: E731
        files[f"{UCF_SPLIT_DIR}/classInd.txt"] = crlf(f"{i + 1} {m.name}" for i, m in enumerate(motions))
        for k in (1, 2, 3):
            test = set(ucf_test_groups(spec.ucf_groups, k))
            files[f"{UCF_SPLIT_DIR}/trainlist0{k}.txt"] = crlf(
                f"{v.relpath} {v.class_index + 1}" for v in items if v.group not in test
            )
            files[f"{UCF_SPLIT_DIR}/testlist0{k}.txt"] = crlf(v.relpath for v in items if v.group in test)
    else:
        for ci, m in enumerate(motions):
            mine = sorted((v for v in items if v.class_index == ci), key=lambda v: v.relpath)
            for k in (1, 2, 3):
                flags = hmdb_flags(spec, seed, ci, k)
                files[f"{HMDB_SPLIT_DIR}/{m.name}_test_split{k}.txt"] = "".join(
                    f"{v.relpath.split('/', 1)[1]} {flags[v.group]} \n" for v in mine
                ).encode("ascii")
    return files


def split_counts(layout, spec, seed, items, k) -> tuple[int, int]:
    """(train, test) numbers of videos of split ``k`` (1, 2 or 3) among ``items`` (ucf101, hmdb51; kinetics400 and ssv2
    have one split, the ``split`` of each item)."""
    if layout not in ("ucf101", "hmdb51"):
        return sum(v.split == "train" for v in items), sum(v.split in ("validate", "validation") for v in items)
    if layout == "ucf101":
        test = set(ucf_test_groups(spec.ucf_groups, k))
        n_test = sum(v.group in test for v in items)
        return len(items) - n_test, n_test
    flags = [hmdb_flags(spec, seed, v.class_index, k)[v.group] for v in items]
    return flags.count(1), flags.count(2)
