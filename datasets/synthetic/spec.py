"""What a synthetic dataset is made of: generator ``VERSION``, ``LAYOUTS``, the size specs (:class:`SizeSpec`,
``SIZES``), the class list of a layout and size (``classes``) and the per-purpose random generators (``_rng``).

Sizes (``SIZES``; ucf101 / hmdb51: every video of a size has the same geometry; mpeg4 in AVI, yuv420p, quantiser 2
(bench: 3))::

    size   px       frames fps  ucf101 classes x groups x clips/group     hmdb51 classes x sources x clips
    tiny   32x32    64     25   8 x 4 x 1-2  (~48 videos)                6 x (2 train+1 test+1 unused) x 2 (48)
    small  64x64    72     25   12 x 10 x 2-4 (~360 videos)              10 x (7+3+1) x 3 (330)
    bench  320x240  120    25   101 x 3 x 1  (303 videos)                51 x (2+1+1) x 1 (204)

64+ frames everywhere, so a VCOP/TCGL tuple (3 clips x 16 frames + 2 gaps x 8 = 64) always fits.

kinetics400 and ssv2 draw every video's geometry (fields ``kinetics_*``, ``ssv2_*``; H.264 in mp4, VP9 in WebM)::

    size   kinetics400 classes x videos (+ listed, missing)  (width, height) per video    frames (short)  fps
    tiny   6 x 9-11 (+3; ~63 rows, ~60 files)       48x32 40x32 32x32 32x48          64-96 (40-56)   24/25/30
    small  12 x 24-30 (+17; ~342 rows)              96x64 80x64 64x64 64x96          64-100 (40-56)  24/25/30
    bench  50 x 8-10 (+24; ~473 rows)               340x256 320x240 256x256 256x340  100-160 (40-56) 24/25/30
    (+ kinetics_test_rows unlabelled test.csv rows without videos: 5 / 20 / 50)

    size   ssv2 classes x videos (train + validation)  height  widths   frames at 12 fps  unlabelled test videos
    tiny   6 x 10 (7 + 3)                             32      40-56    32-72             4
    small  12 x 30 (21 + 9)                           64      80-112   32-72             12
    bench  24 x 20 (14 + 6)                           240     300-428  32-72             24

Not every kinetics400 video reaches 64 frames: about 7% are 40-56 frames long (a reader's short-video policy).

Classes are MOTIONS (``datasets.synthetic.motions``): ucf101 uses the first N of the CamelCase catalogue (bench: the
first 101, built combinatorially from primitive x direction/sense) unless the size names its classes
(``SizeSpec.ucf_names``): tiny names 8 size-changing classes, Grow, Shrink, GrowMovingUp, ShrinkMovingDown,
GrowMovingLeft, ShrinkMovingRight, GrowMovingUpLeft, ShrinkMovingDownRight; small the same 8 plus AccelerateRight,
DecelerateLeft, AccelerateUp, DecelerateDown, so that every class changes monotonically over the video and clip order
is learnable. hmdb51 uses the first N of a disjoint snake_case catalogue (tiny: orbit_cw, orbit_ccw, zigzag_right,
zigzag_left, hop_right, hop_left; small adds stop_go_up, stop_go_down, spin_speedup_cw, spin_slowdown_ccw; bench: all
51). Most classes come in time-reversal pairs, so temporal order matters.
The full catalogues with descriptions are listed in ``SYNTHETIC.json`` of every dataset and in
``datasets.synthetic.motions``. kinetics400 renders UCF catalogue motions too (tiny / small: the same monotone
Grow / Shrink (/ accelerate) classes as ucf101, bench the first 50), named as Kinetics labels; ssv2 renders
direction-dependent UCF motions named by SSv2 templates (``datasets.synthetic.names``).

Difficulty knobs are the ``SizeSpec`` fields (``noise_std``, ``distractors``, ``distractor_jitter``, ``clutter``,
``clutter_contrast``, ``min_contrast``, ...); tune with ``dataclasses.replace(SIZES["small"], noise_std=6)`` or
``--set noise_std=6`` (what they do to the frames: ``datasets.synthetic.render``).

Randomness: every draw comes from ``_rng(seed, layout key, purpose key, ...)``, a generator of its own
``numpy.random.SeedSequence``; the layout and purpose keys below are part of the output, never renumber them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from datasets.synthetic.motions import HMDB_MOTIONS, UCF_MOTIONS, Motion
from datasets.synthetic.names import SSV2_TEMPLATES, kinetics_label, ssv2_class

# bump whenever the same spec renders other videos. 2: monotone Grow/Shrink, SizeSpec.group_look;
# 3: small's ucf101 classes all change monotonically (size or speed)
VERSION = 3
LAYOUTS = ("ucf101", "hmdb51", "kinetics400", "ssv2")
_LAYOUT_KEY = {"ucf101": 0, "hmdb51": 1, "kinetics400": 2, "ssv2": 3}
_SCENE, _CLIP, _COUNT, _SPLIT, _NAME = 1, 2, 3, 4, 5  # SeedSequence purpose keys
_GEOMETRY, _ID, _DEFECT = 6, 7, 8  # kinetics400 / ssv2: per-video geometry and times, ids, missing/broken/short
# SizeSpec fields that only kinetics400 / ssv2 read; they stay out of the other layouts' manifests
KINETICS_FIELDS = (
    "kinetics_classes",
    "kinetics_names",
    "kinetics_videos_per_class",
    "kinetics_sizes",
    "kinetics_frames",
    "kinetics_short_frames",
    "kinetics_fps",
    "kinetics_test_rows",
)
SSV2_FIELDS = ("ssv2_classes", "ssv2_videos_per_class", "ssv2_height", "ssv2_widths", "ssv2_frames", "ssv2_test_videos")


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
    # --- kinetics400 layout (defaults: tiny's); every video draws fps, (width, height) and length
    kinetics_classes: int = 6
    kinetics_names: tuple[str, ...] = ()  # UCF catalogue names instead of its first kinetics_classes
    kinetics_videos_per_class: tuple[int, int] = (9, 11)  # inclusive range per class, ~80% train, >= 2 validate
    kinetics_sizes: tuple[tuple[int, int], ...] = ((48, 32), (40, 32), (32, 32), (32, 48))  # (width, height)
    kinetics_frames: tuple[int, int] = (64, 96)
    kinetics_short_frames: tuple[int, int] = (40, 56)  # the ~7% of videos shorter than a 64-frame tuple
    kinetics_fps: tuple[int, ...] = (24, 25, 30)
    kinetics_test_rows: int = 5  # unlabelled test.csv rows (no videos)
    # --- ssv2 layout (defaults: tiny's); 12 fps, fixed height, every video draws its width and length
    ssv2_classes: int = 6  # the first N of datasets.synthetic.names.SSV2_TEMPLATES
    ssv2_videos_per_class: int = 10  # ~70% train, ~30% validation
    ssv2_height: int = 32
    ssv2_widths: tuple[int, int] = (40, 56)  # inclusive range of even widths
    ssv2_frames: tuple[int, int] = (32, 72)
    ssv2_test_videos: int = 4  # unlabelled videos listed in test.json

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
        self._check_kinetics_ssv2()

    def _check_kinetics_ssv2(self) -> None:
        known = {m.name for m in UCF_MOTIONS}
        names = self.kinetics_names
        if not 1 <= self.kinetics_classes <= len(UCF_MOTIONS) or (
            names and (len(names) != self.kinetics_classes or not set(names) <= known or len(set(names)) != len(names))
        ):
            raise ValueError(f"kinetics400 needs 1-{len(UCF_MOTIONS)} classes, distinct UCF catalogue names if named")
        if not 4 <= self.kinetics_videos_per_class[0] <= self.kinetics_videos_per_class[1]:
            raise ValueError("kinetics_videos_per_class must be a range (lo, hi) with 4 <= lo <= hi")
        if not self.kinetics_sizes or any(w < 2 or h < 2 or w % 2 or h % 2 for w, h in self.kinetics_sizes):
            raise ValueError(f"kinetics_sizes must be even (width, height) pairs, got {self.kinetics_sizes}")
        for rng_name in ("kinetics_frames", "kinetics_short_frames", "ssv2_frames"):
            lo, hi = getattr(self, rng_name)
            if not 2 <= lo <= hi:
                raise ValueError(f"{rng_name} must be a range (lo, hi) with 2 <= lo <= hi")
        if not self.kinetics_fps or min(self.kinetics_fps) < 1 or self.kinetics_test_rows < 0:
            raise ValueError("kinetics_fps must be positive frame rates and kinetics_test_rows >= 0")
        if not 1 <= self.ssv2_classes <= len(SSV2_TEMPLATES) or self.ssv2_videos_per_class < 2:
            raise ValueError(f"ssv2 needs 1-{len(SSV2_TEMPLATES)} classes and >= 2 videos per class")
        lo, hi = self.ssv2_widths
        if self.ssv2_height < 2 or self.ssv2_height % 2 or lo % 2 or hi % 2 or not 2 <= lo <= hi:
            raise ValueError("ssv2_height and the ssv2_widths range must be even")
        if self.ssv2_test_videos < 0:
            raise ValueError("ssv2_test_videos must be >= 0")


# small's ucf101 classes, which its kinetics400 layout shares (every class changes monotonically: size or speed)
_SMALL_CLASSES = (
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
)

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
        kinetics_names=("Grow", "Shrink", "GrowMovingUp", "ShrinkMovingDown", "GrowMovingLeft", "ShrinkMovingRight"),
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
        ucf_names=_SMALL_CLASSES,
        kinetics_classes=12,
        kinetics_names=_SMALL_CLASSES,
        kinetics_videos_per_class=(24, 30),
        kinetics_sizes=((96, 64), (80, 64), (64, 64), (64, 96)),
        kinetics_frames=(64, 100),
        kinetics_test_rows=20,
        ssv2_classes=12,
        ssv2_videos_per_class=30,
        ssv2_height=64,
        ssv2_widths=(80, 112),
        ssv2_test_videos=12,
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
        kinetics_classes=50,
        kinetics_videos_per_class=(8, 10),
        kinetics_sizes=((340, 256), (320, 240), (256, 256), (256, 340)),
        kinetics_frames=(100, 160),
        kinetics_test_rows=50,
        ssv2_classes=24,
        ssv2_videos_per_class=20,
        ssv2_height=240,
        ssv2_widths=(300, 428),
        ssv2_test_videos=24,
    ),  # ~700 kbit/s, near UCF101's ~540
}


def classes(layout: str, spec: SizeSpec) -> list[Motion]:
    """The classes of ``layout`` at ``spec``, in label order. ucf101 / hmdb51: catalogue motions (the class is the
    motion's name); kinetics400 / ssv2: UCF catalogue motions renamed to the layout's class names (kinetics400 label,
    ssv2 template without brackets), sorted by that name, ``reverse_of`` naming the reversal's class in the same
    convention and ``catalogue`` the motion rendered."""
    _check_layout(layout)
    if layout in ("kinetics400", "ssv2"):
        return _named_classes(layout, spec)
    catalogue, count, names = (
        (UCF_MOTIONS, spec.ucf_classes, spec.ucf_names)
        if layout == "ucf101"
        else (HMDB_MOTIONS, spec.hmdb_classes, spec.hmdb_names)
    )
    if names:
        by_name = {m.name: m for m in catalogue}
        return [by_name[n] for n in names]
    return catalogue[:count]


def _named_classes(layout: str, spec: SizeSpec) -> list[Motion]:
    by_name = {m.name: m for m in UCF_MOTIONS}
    if layout == "kinetics400":
        picked = spec.kinetics_names or tuple(m.name for m in UCF_MOTIONS[: spec.kinetics_classes])
        class_of = {n: kinetics_label(n) for n in by_name}
    else:
        picked = tuple(motion for _, motion in SSV2_TEMPLATES[: spec.ssv2_classes])
        class_of = {motion: ssv2_class(template) for template, motion in SSV2_TEMPLATES}
    out = [
        dataclasses.replace(
            by_name[n], name=class_of[n], reverse_of=class_of.get(by_name[n].reverse_of or ""), catalogue=n
        )
        for n in picked
    ]
    return sorted(out, key=lambda m: m.name)


def _check_layout(layout: str) -> None:
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {LAYOUTS}")


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), *keys]))
