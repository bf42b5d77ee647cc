"""From the Hydra config to split indices, transforms and datasets; generates missing embedded datasets."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from datasets import kinetics
from datasets.clips import ClipDataset
from datasets.errors import LayoutError
from datasets.fingerprint import dataset_fingerprint
from datasets.frame_cache import FrameCache
from datasets.splits import NEVER_MIRROR, SINGLE_SPLIT, SplitIndex, VideoEntry, load_split, train_val_split
from datasets.transforms import ClipTransform
from datasets.video_io import get_decoder
from methods.base import Augmentation
from runtime.engine import pick_device

log = logging.getLogger(__name__)


@dataclass
class EvalSet:
    key: str  # the set's key in the config (ucf101 / hmdb51)
    label: str  # what records call it: "embedded-ucf101", "ucf101", ...
    index: SplitIndex
    train: list[VideoEntry]  # official train minus validation
    val: list[VideoEntry]
    fingerprint: str

    @property
    def test(self) -> list[VideoEntry]:
        return self.index.test

    @property
    def gallery(self) -> list[VideoEntry]:  # retrieval searches the whole official train list
        return self.index.train


def generation_workers() -> int:
    """Processes for rendering an embedded set: the CPUs this process may use, at most 8 (the files are identical
    for any count: tests/datasets/test_generation_workers.py)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(8, cpus))


def ensure_embedded(root: Path, layout: str, size: str, seed: int, workers: int | None = None) -> Path:
    """Generate an embedded dataset if it is not there yet. Written to a temporary sibling folder and renamed, so a
    killed generation or two concurrent jobs never leave a half-written dataset behind. An existing folder that an
    older generator wrote (another version, spec or class list) is an error: it is never reused as current data."""
    from datasets.synthetic import generate, stale_reason

    if root.exists():
        why = stale_reason(root, layout, size, seed)
        if why:
            raise LayoutError(
                f"{root} is not the embedded {layout} dataset this code generates (size {size}, seed "
                f"{seed}): {why}. Delete that folder to regenerate it, or set paths.data to another "
                "folder (records made on the old data keep its dataset fingerprint)."
            )
        return root

    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        log.info("generating embedded %s (%s, seed %d) into %s", layout, size, seed, root)
        generate(tmp, layout, size, seed, workers=workers or generation_workers())
        try:
            os.rename(tmp, root)
        except OSError:
            if not root.exists():
                raise  # another job won the race otherwise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return root


def split_of(cfg, key: str) -> int:
    """The official split a run reads of set ``key``: ``split``, except for the layouts with one official split
    (Kinetics-400, SSv2), always 1. Evaluating such a set with split 2 or 3 is refused (experiment/checks.py), so a
    record's split is the split it was evaluated on; pretraining on it reads its one split whatever ``split`` says."""
    return 1 if cfg.dataset.sets[key].layout in SINGLE_SPLIT else int(cfg.split)


def load_set(cfg, key: str) -> SplitIndex:
    s = cfg.dataset.sets[key]
    root = Path(s.root) if s.root else None
    if s.synthetic:
        ensure_embedded(root, s.layout, cfg.dataset.size, int(cfg.dataset.data_seed))
    max_skipped = kinetics.MAX_SKIPPED if s.get("max_skipped") is None else float(s.max_skipped)
    # Kinetics' probe of every video (which ones decode) is kept between runs, per set and location
    where = hashlib.sha256(f"{s.layout}|{root}|{s.video_dir}|{s.split_dir}".encode()).hexdigest()[:16]
    probe_cache = Path(cfg.paths.cache) / "probe" / f"{s.layout}-{where}.json"
    return load_split(
        s.layout,
        root,
        split_of(cfg, key),
        s.video_dir,
        s.split_dir,
        on_missing=cfg.pretrain.on_missing,
        max_skipped=max_skipped,
        probe_cache=probe_cache,
    )


def eval_set(cfg, key: str, seed: int) -> EvalSet:
    index = load_set(cfg, key)
    train, val = train_val_split(index.train, float(cfg.pretrain.val_fraction), seed)
    return EvalSet(key, cfg.dataset.sets[key].label, index, train, val, dataset_fingerprint(index))


def mirror_safe(cfg, key: str) -> bool:
    """Whether a horizontal flip keeps every class of set ``key``: the set's ``mirror_safe``, else the dataset's.
    Never for SSv2, whose classes name left and right ("Pushing something from left to right")."""
    s = cfg.dataset.sets[key]
    if s.layout in NEVER_MIRROR:
        return False
    own = s.get("mirror_safe")
    return bool(cfg.dataset.get("mirror_safe", False) if own is None else own)


def use_flip(cfg, key: str) -> bool:
    """``input.flip`` for the training clips of set ``key``: true/false, or ``auto`` = mirror only sets whose labels
    a mirror keeps (:func:`mirror_safe`). SSv2 is never mirrored (``input.flip=true`` is refused for it)."""
    flip = cfg.input.flip
    if cfg.dataset.sets[key].layout in NEVER_MIRROR:
        return False
    return mirror_safe(cfg, key) if flip == "auto" else bool(flip)


def colour_on_device(cfg) -> bool:
    """``input.colour_on``: whether loader workers return uint8 clips whose colour stage (floats, jitter,
    normalisation) runs on the batch on the device; ``auto`` = on CUDA runs."""
    where = cfg.input.colour_on
    if where == "auto":
        return pick_device(str(cfg.device)).type == "cuda"
    return where == "device"


def input_scale(cfg) -> str:
    """``normalised`` ((x - input.mean) / input.std) or ``unit`` ([0, 1], as the official code feeds its models):
    ``recipe.input_scale``, and always ``unit`` for a checkpoint of the official code (``pretrained_format``)."""
    if cfg.get("pretrained_format", "ours") != "ours":
        return "unit"
    return str(cfg.recipe.input_scale)


@dataclass(frozen=True)
class ClipSettings:
    """What the run's clip transform and frame source need from the config (``input``, the set's
    ``mirror_safe``, ``recipe``, ``pretrained_format``, ``device`` and ``paths.frame_cache``), resolved once."""

    resize: tuple[int, int]
    crop: int
    jitter: tuple | None  # colour jitter strengths, None: off
    jitter_p: float
    mean: tuple | None  # None: no normalisation (input_scale unit)
    std: tuple | None
    flip: bool  # whether training clips may be mirrored (use_flip)
    defer_colour: bool  # colour stage on the device (colour_on_device)
    centre: str  # recipe.centre_crop
    frame_cache: str | None  # paths.frame_cache

    @classmethod
    def from_config(cls, cfg, key: str) -> ClipSettings:
        """The settings for the clips of set ``key`` (mirroring depends on the set)."""
        i, unit = cfg.input, input_scale(cfg) == "unit"
        cache = cfg.paths.get("frame_cache")
        return cls(
            tuple(i.resize),
            int(i.crop),
            tuple(i.jitter) if i.jitter else None,
            float(i.jitter_p),
            tuple(i.mean) if i.mean and not unit else None,
            tuple(i.std) if i.std and not unit else None,
            use_flip(cfg, key),
            colour_on_device(cfg),
            str(cfg.recipe.centre_crop),
            str(cache) if cache else None,
        )


def transform(s: ClipSettings, train: bool, augment: Augmentation | None = None) -> ClipTransform:
    """The run's clip transform. ``augment``: what a pretraining method asks for (``method.augmentation()``);
    None = colour jitter and mirroring as ``input`` sets them (the protocols)."""
    augment = augment or Augmentation()
    return ClipTransform(
        train,
        resize=s.resize,
        crop=s.crop,
        flip=s.flip and augment.mirror,
        jitter=s.jitter if augment.colour else None,
        jitter_p=s.jitter_p,
        mean=s.mean,
        std=s.std,
        defer_colour=s.defer_colour,
        centre=s.centre,
    )


def exclude_short(cfg, lists: list[list[VideoEntry]], span: int) -> tuple[list[list[VideoEntry]], dict]:
    """The pretext lists without the videos shorter than ``span`` frames (``recipe.short_videos=exclude``: the
    released lists hold only videos long enough for a whole tuple), and what was left out: ``{"span", "excluded_train",
    "excluded_val", "examples"}`` (the counts go into the checkpoint and every record). Frame counts come from the
    decoder (or the frame cache): the same count the clip sampler sees."""
    cache = cfg.paths.get("frame_cache")
    decoder = FrameCache(cache, tuple(cfg.input.resize)) if cache else get_decoder(None)
    kept, excluded = [], []
    for entries in lists:
        short = [e for e in entries if decoder.num_frames(e.path) < span]
        names = {e.relpath for e in short}
        kept.append([e for e in entries if e.relpath not in names])
        excluded.append(short)
    for e in excluded[0] + excluded[1]:
        log.info("excluded from the pretext lists (shorter than %d frames): %s", span, e.relpath)
    info = {
        "span": int(span),
        "excluded_train": len(excluded[0]),
        "excluded_val": len(excluded[1]),
        "examples": sorted(e.relpath for e in excluded[0] + excluded[1])[:5],
    }
    return kept, info


def clip_dataset(
    s: ClipSettings,
    entries,
    sampler,
    train: bool,
    seed: int,
    on_corrupt: str = "error",
    augment: Augmentation | None = None,
) -> ClipDataset:
    """A ClipDataset with the run's transform (``s``: :meth:`ClipSettings.from_config`); its frames come from the
    decoded-frame cache when ``paths.frame_cache`` names one (same clips, see datasets/frame_cache.py). ``augment``:
    see :func:`transform`; ``augment.shared`` draws one set of random parameters for all clips of a sample."""
    augment = augment or Augmentation()
    decoder = FrameCache(s.frame_cache, s.resize) if s.frame_cache else None
    return ClipDataset(
        entries,
        sampler,
        transform(s, train, augment),
        seed=seed,
        on_corrupt=on_corrupt,
        shared_params=augment.shared,
        decoder=decoder,
    )
