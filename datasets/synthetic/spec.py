"""What a synthetic dataset is made of: generator ``VERSION``, ``LAYOUTS``, the size specs (:class:`SizeSpec`,
``SIZES``), the class list of a layout and size (``classes``) and the per-purpose random generators (``_rng``).

Sizes (``SIZES``; every video of a size has the same geometry; mpeg4 in AVI, yuv420p, quantiser 2 (bench: 3))::

    size   px       frames fps  ucf101 classes x groups x clips/group     hmdb51 classes x sources x clips
    tiny   32x32    64     25   8 x 4 x 1-2  (~48 videos)                6 x (2 train+1 test+1 unused) x 2 (48)
    small  64x64    72     25   12 x 10 x 2-4 (~360 videos)              10 x (7+3+1) x 3 (330)
    bench  320x240  120    25   101 x 3 x 1  (303 videos)                51 x (2+1+1) x 1 (204)

64+ frames everywhere, so a VCOP/TCGL tuple (3 clips x 16 frames + 2 gaps x 8 = 64) always fits.

Classes are MOTIONS (``datasets.synthetic.motions``): ucf101 uses the first N of the CamelCase catalogue (bench: the
first 101, built combinatorially from primitive x direction/sense) unless the size names its classes
(``SizeSpec.ucf_names``): tiny names 8 size-changing classes, Grow, Shrink, GrowMovingUp, ShrinkMovingDown,
GrowMovingLeft, ShrinkMovingRight, GrowMovingUpLeft, ShrinkMovingDownRight; small the same 8 plus AccelerateRight,
DecelerateLeft, AccelerateUp, DecelerateDown, so that every class changes monotonically over the video and clip order
is learnable. hmdb51 uses the first N of a disjoint snake_case catalogue (tiny: orbit_cw, orbit_ccw, zigzag_right,
zigzag_left, hop_right, hop_left; small adds stop_go_up, stop_go_down, spin_speedup_cw, spin_slowdown_ccw; bench: all
51). Most classes come in time-reversal pairs, so temporal order matters.
The full catalogues with descriptions are listed in ``SYNTHETIC.json`` of every dataset and in
``datasets.synthetic.motions``.

Difficulty knobs are the ``SizeSpec`` fields (``noise_std``, ``distractors``, ``distractor_jitter``, ``clutter``,
``clutter_contrast``, ``min_contrast``, ...); tune with ``dataclasses.replace(SIZES["small"], noise_std=6)`` or
``--set noise_std=6`` (what they do to the frames: ``datasets.synthetic.render``).

Randomness: every draw comes from ``_rng(seed, layout key, purpose key, ...)``, a generator of its own
``numpy.random.SeedSequence``; the layout and purpose keys below are part of the output, never renumber them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from datasets.synthetic.motions import HMDB_MOTIONS, UCF_MOTIONS, Motion

# bump whenever the same spec renders other videos. 2: monotone Grow/Shrink, SizeSpec.group_look;
# 3: small's ucf101 classes all change monotonically (size or speed)
VERSION = 3
LAYOUTS = ("ucf101", "hmdb51")
_LAYOUT_KEY = {"ucf101": 0, "hmdb51": 1}
_SCENE, _CLIP, _COUNT, _SPLIT, _NAME = 1, 2, 3, 4, 5  # SeedSequence purpose keys


def ucf_test_block(num_groups: int) -> int:
    """Groups per UCF test split: round(7/25 * groups), as the official 25 groups test 7 (``ucf_test_groups`` of
    ``datasets.synthetic.layout``). Raises ValueError unless three such blocks fit, disjoint, in ``num_groups``."""
    block = max(1, round(num_groups * 7 / 25))
    if num_groups < 3 or 3 * block > num_groups:
        raise ValueError(f"need >= 3 UCF groups for three group-disjoint splits, got {num_groups}")
    return block


@dataclass(frozen=True)
class SizeSpec:
    """Geometry, counts and difficulty knobs of one dataset size. Fractions are of min(height, width)."""

    name: str
    width: int
    height: int
    frames: int
    fps: int
    ucf_classes: int
    ucf_groups: int
    ucf_clips_per_group: tuple[int, int]  # inclusive range, drawn per (class, group)
    hmdb_classes: int
    hmdb_sources: tuple[int, int, int]  # (train, test, unused) sources per class, re-drawn for each split
    hmdb_clips_per_source: int
    # --- difficulty knobs
    noise_std: float = 3.0  # i.i.d. Gaussian grey-level noise per pixel and frame (same in R, G, B)
    distractors: tuple[int, int] = (0, 2)  # distractor objects per video (inclusive range)
    distractor_jitter: float = 1.0  # px std of per-frame offsets of jittering distractors (half are static)
    clutter: int = 6  # static background blobs
    clutter_contrast: float = 0.3  # blob colour = background + contrast * (random colour - background)
    bg_gradient: float = 40.0  # max colour change across the background, grey levels
    bg_range: tuple[float, float] = (30.0, 225.0)  # background base colour, each channel uniform in this range
    min_contrast: float = 60.0  # min luma difference between an object and the background
    texture_contrast: float = 0.35  # object texture amplitude (x 80 grey levels)
    object_size: tuple[float, float] = (0.12, 0.18)  # object radius
    clutter_size: tuple[float, float] = (0.05, 0.14)
    travel: tuple[float, float] = (0.45, 0.7)  # translation path length over the video
    turns: tuple[float, float] = (0.5, 1.0)  # rotation over the video
    scale_change: tuple[float, float] = (2.0, 3.0)  # total grow/shrink factor
    orbit_radius: tuple[float, float] = (0.15, 0.25)
    wiggle: tuple[float, float] = (0.06, 0.1)  # zigzag / wave / hop / shake amplitude
    direction_jitter: float = 10.0  # degrees; random rotation of the whole path per video
    quality: int = 2  # mpeg4 quantiser, 2 (best, keeps the noise) to 31
    # True: the clips of a UCF group / HMDB source share background and target look ("same actor, same scene"),
    # so a class's look repeats within a group; False: every video draws its own (a frame never reveals the class)
    group_look: bool = True
    # --- class selection: names from the catalogue instead of its first N (the counts above must match)
    ucf_names: tuple[str, ...] = ()
    hmdb_names: tuple[str, ...] = ()

    def __post_init__(self):
        if self.width % 2 or self.height % 2:
            raise ValueError(f"width and height must be even for yuv420p, got {self.width}x{self.height}")
        if self.frames < 2 or self.fps < 1:
            raise ValueError("need frames >= 2 and fps >= 1")
        if not 1 <= self.ucf_classes <= len(UCF_MOTIONS) or not 1 <= self.hmdb_classes <= len(HMDB_MOTIONS):
            raise ValueError(f"at most {len(UCF_MOTIONS)} ucf101 and {len(HMDB_MOTIONS)} hmdb51 classes")
        for names, count, catalogue in (
            (self.ucf_names, self.ucf_classes, UCF_MOTIONS),
            (self.hmdb_names, self.hmdb_classes, HMDB_MOTIONS),
        ):
            known = {m.name for m in catalogue}
            if names and (len(names) != count or not set(names) <= known or len(set(names)) != len(names)):
                raise ValueError(f"class names {names} must be {count} distinct names of the catalogue")
        ucf_test_block(self.ucf_groups)  # validates the group count
        lo, hi = self.ucf_clips_per_group
        if not 1 <= lo <= hi or self.hmdb_clips_per_source < 1:
            raise ValueError("clip counts must be >= 1")
        if self.hmdb_sources[0] < 1 or self.hmdb_sources[1] < 1 or self.hmdb_sources[2] < 0:
            raise ValueError("hmdb_sources needs >= 1 train and >= 1 test source")
        if self.distractors[0] < 0 or self.distractors[0] > self.distractors[1]:
            raise ValueError("distractors must be a range (lo, hi) with 0 <= lo <= hi")


SIZES: dict[str, SizeSpec] = {
    # tiny is for tests: easy by measurement, so that a test-sized budget (~200 steps) shows learning for vcop,
    # sorder, opn, speednet, supervised and tcgl's ASOP (BENCHMARKS.md, "Pretext learnability"): clean (no
    # noise, distractors or clutter), fast motion;
    # its ucf101 classes all change size monotonically (Grow / Shrink, alone or while moving), a state that globally
    # pooled clip features see, so clip order is identifiable; the background is dark (bg_range) so every object is
    # brighter than it (min_contrast), which makes "more object" the same sign of pooled activation in every video.
    # With stationary classes or a random-luma background the order tasks stayed at chance. (A darker 20-80
    # background also worked but made the 1-vs-2-process DDP test drift beyond its tolerance.)
    "tiny": SizeSpec(
        "tiny",
        32,
        32,
        64,
        25,
        ucf_classes=8,
        ucf_groups=4,
        ucf_clips_per_group=(1, 2),
        hmdb_classes=6,
        hmdb_sources=(2, 1, 1),
        hmdb_clips_per_source=2,
        noise_std=0.0,
        distractors=(0, 0),
        clutter=0,
        object_size=(0.15, 0.2),
        min_contrast=100.0,
        bg_range=(50.0, 95.0),
        travel=(2.0, 3.0),
        turns=(1.5, 2.5),
        scale_change=(4.0, 6.0),
        ucf_names=(
            "Grow",
            "Shrink",
            "GrowMovingUp",
            "ShrinkMovingDown",
            "GrowMovingLeft",
            "ShrinkMovingRight",
            "GrowMovingUpLeft",
            "ShrinkMovingDownRight",
        ),
    ),
    # small is the embedded default: faster motion than the generator's defaults (1.5-2.5 frame widths per video on
    # the torus) and less noise, so that motion, not per-pixel noise, dominates the frame differences. Designed by
    # measurement (BENCHMARKS.md, "Designing small"): every video draws its own look (group_look=False: with a look
    # shared by a UCF group, a supervised encoder memorised the 84 train looks, 0.94 train / 0.06 test top-1), on a
    # dark background (objects always brighter: 0.12 -> 0.29 test top-1 at the same budget). tiny's larger size
    # change (4-6x) did not help there (0.24).
    # Version 3 (BENCHMARKS.md, "Designing small, third round"): every ucf101 class changes monotonically over the
    # whole video, in size (4-6x, alone or while moving) or in speed (accelerations), so that three clips' pooled
    # features say which came first; with half the classes stationary (translations on the torus, rotations) VCOP
    # and TCGL's ASOP stayed at chance. The same change also made the classes tell apart from one 16-frame clip.
    "small": SizeSpec(
        "small",
        64,
        64,
        72,
        25,
        ucf_classes=12,
        ucf_groups=10,
        ucf_clips_per_group=(2, 4),
        hmdb_classes=10,
        hmdb_sources=(7, 3, 1),
        hmdb_clips_per_source=3,
        noise_std=1.5,
        distractors=(0, 1),
        clutter=4,
        travel=(1.5, 2.5),
        turns=(1.0, 2.0),
        scale_change=(4.0, 6.0),
        group_look=False,
        bg_range=(50.0, 95.0),
        min_contrast=100.0,
        ucf_names=(
            "Grow",
            "Shrink",
            "GrowMovingUp",
            "ShrinkMovingDown",
            "GrowMovingLeft",
            "ShrinkMovingRight",
            "GrowMovingUpLeft",
            "ShrinkMovingDownRight",
            "AccelerateRight",
            "DecelerateLeft",
            "AccelerateUp",
            "DecelerateDown",
        ),
    ),
    "bench": SizeSpec(
        "bench",
        320,
        240,
        120,
        25,
        ucf_classes=101,
        ucf_groups=3,
        ucf_clips_per_group=(1, 1),
        hmdb_classes=51,
        hmdb_sources=(2, 1, 1),
        hmdb_clips_per_source=1,
        distractors=(1, 3),
        clutter=12,
        object_size=(0.1, 0.16),
        distractor_jitter=2.0,
        quality=3,
    ),  # ~700 kbit/s, near UCF101's ~540
}


def classes(layout: str, spec: SizeSpec) -> list[Motion]:
    _check_layout(layout)
    catalogue, count, names = (
        (UCF_MOTIONS, spec.ucf_classes, spec.ucf_names)
        if layout == "ucf101"
        else (HMDB_MOTIONS, spec.hmdb_classes, spec.hmdb_names)
    )
    if names:
        by_name = {m.name: m for m in catalogue}
        return [by_name[n] for n in names]
    return catalogue[:count]


def _check_layout(layout: str) -> None:
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {LAYOUTS}")


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), *keys]))
