"""Embedded synthetic video datasets in the official UCF101 / HMDB51 layouts (real .avi files, deterministic).

    python -m datasets.synthetic --layout {ucf101,hmdb51} --size {tiny,small,bench} --seed S --out DIR
        [--workers N] [--overwrite] [--set KNOB=VALUE ...]

Python: ``generate(out, layout, size="small", seed=0) -> Path`` (the dataset root; ``size`` may be a
:class:`SizeSpec`). ``render_video`` returns the frames of one video without encoding them.

Layouts (as the official archives extract; read by ``datasets.splits.load_split``)::

    ucf101: ROOT/UCF-101/<Class>/v_<Class>_gNN_cNN.avi
            ROOT/ucfTrainTestlist/classInd.txt "1 Grow", trainlist0{1,2,3}.txt "<Class>/<file>.avi <label1>",
            testlist0{1,2,3}.txt "<Class>/<file>.avi"; CRLF line endings. Split k tests a block of groups
            (official 25 groups: 1-7, 8-14, 15-21; here ``ucf_test_groups``), the other groups train.
    hmdb51: ROOT/<class>/Synth<SS>_<class>_f_nm_np1_<view>_<quality>_<n>.avi
            ROOT/testTrainMulti_7030_splits/<class>_test_split{1,2,3}.txt "<name>.avi <flag> " (1 train, 2 test,
            0 unused; LF). Per class and split, whole sources (``SynthSS``) are drawn: ~70% train, ~30% test, a few 0.
    Both: ROOT/SYNTHETIC.json records the generator version, seed, size spec and class list.

Sizes (``SIZES``; every video of a size has the same geometry; mpeg4 in AVI, yuv420p, quantiser 2 (bench: 3))::

    size   px       frames fps  ucf101 classes x groups x clips/group     hmdb51 classes x sources x clips
    tiny   32x32    64     25   8 x 4 x 1-2  (~48 videos)                6 x (2 train+1 test+1 unused) x 2 (48)
    small  64x64    72     25   12 x 10 x 2-4 (~360 videos)              10 x (7+3+1) x 3 (330)
    bench  320x240  120    25   101 x 3 x 1  (303 videos)                51 x (2+1+1) x 1 (204)

64+ frames everywhere, so a VCOP/TCGL tuple (3 clips x 16 frames + 2 gaps x 8 = 64) always fits.

Classes are MOTIONS (``datasets.motions``): ucf101 uses the first N of the CamelCase catalogue (bench: the first 101,
built combinatorially from primitive x direction/sense) unless the size names its classes (``SizeSpec.ucf_names``):
tiny names 8 size-changing classes, Grow, Shrink, GrowMovingUp, ShrinkMovingDown, GrowMovingLeft, ShrinkMovingRight,
GrowMovingUpLeft, ShrinkMovingDownRight; small the same 8 plus AccelerateRight, DecelerateLeft, AccelerateUp,
DecelerateDown, so that every class changes monotonically over the video and clip order is learnable. hmdb51 uses
the first N of a disjoint snake_case catalogue (tiny: orbit_cw, orbit_ccw, zigzag_right, zigzag_left, hop_right,
hop_left; small adds stop_go_up, stop_go_down, spin_speedup_cw, spin_slowdown_ccw; bench: all 51). Most classes
come in time-reversal pairs, so temporal order matters.
The full catalogues with descriptions are listed in ``SYNTHETIC.json`` of every dataset and in ``datasets.motions``.

What a single frame does NOT reveal: the scene is a torus (objects leaving an edge re-enter at the opposite one), so
the target's position is uniform in every frame whatever the class; its start angle is uniform; Grow and Shrink are
exact time reversals of each other around a random object size, so the sizes over a video are identically distributed
for the two (but a frame's size does depend on its time: that is the order cue); shape (7 kinds),
colour, texture (none/stripes/checker), size, background (colour + gradient + static clutter blobs) and distractors
are random (background base colour per channel uniform in ``bg_range``; tiny's dark range makes every object
brighter than its background). With ``group_look=True`` (tiny, bench) a group (UCF) / source (HMDB) shares
background and target appearance ("same actor, same scene"), so splitting by group matters; clips differ in start
pose, speed and distractors. ``small`` (the embedded default) draws every video's look on its own
(``group_look=False``): a look shared by a group let a supervised encoder memorise looks instead of motion.
Every object carries an off-centre marker dot, so rotations are visible even for symmetric shapes.

Order cues are salient by design: the target moves ``travel`` = 45-70% of the frame over the video (a 24-frame step
between VCOP clips moves it >= 9 px at 64x64, vs noise std 3 grey levels); distractors are static or jitter i.i.d.
around a fixed point (never move like the target). Difficulty knobs are the ``SizeSpec`` fields below
(``noise_std``, ``distractors``, ``distractor_jitter``, ``clutter``, ``clutter_contrast``, ``min_contrast``, ...);
tune with ``dataclasses.replace(SIZES["small"], noise_std=6)`` or ``--set noise_std=6``.

Determinism: every video is a pure function of (seed, layout, class, group, clip) through its own
``numpy.random.SeedSequence``; encoding is single-threaded with bitexact flags, so the same seed gives byte-identical
split files and videos (with the same PyAV/FFmpeg build) and identical decoded frames.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datasets.motions import HMDB_MOTIONS, UCF_MOTIONS, Amplitudes, Motion

# bump whenever the same spec renders other videos. 2: monotone Grow/Shrink, SizeSpec.group_look;
# 3: small's ucf101 classes all change monotonically (size or speed)
VERSION = 3
LAYOUTS = ("ucf101", "hmdb51")
MANIFEST = "SYNTHETIC.json"
UCF_VIDEO_DIR, UCF_SPLIT_DIR, HMDB_SPLIT_DIR = "UCF-101", "ucfTrainTestlist", "testTrainMulti_7030_splits"
_LAYOUT_KEY = {"ucf101": 0, "hmdb51": 1}
_SCENE, _CLIP, _COUNT, _SPLIT, _NAME = 1, 2, 3, 4, 5  # SeedSequence purpose keys


def ucf_test_groups(num_groups: int, split: int) -> range:
    """Groups tested by UCF split ``split`` (1-based group numbers): consecutive blocks of round(7/25 * groups)
    groups, as the official 25 groups give 1-7, 8-14, 15-21; the remaining groups are always train."""
    block = max(1, round(num_groups * 7 / 25))
    if num_groups < 3 or 3 * block > num_groups:
        raise ValueError(f"need >= 3 UCF groups for three group-disjoint splits, got {num_groups}")
    if split not in (1, 2, 3):
        raise ValueError(f"split must be 1, 2 or 3, got {split}")
    return range((split - 1) * block + 1, split * block + 1)


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
        for names, count, catalogue in ((self.ucf_names, self.ucf_classes, UCF_MOTIONS),
                                        (self.hmdb_names, self.hmdb_classes, HMDB_MOTIONS)):
            known = {m.name for m in catalogue}
            if names and (len(names) != count or not set(names) <= known or len(set(names)) != len(names)):
                raise ValueError(f"class names {names} must be {count} distinct names of the catalogue")
        ucf_test_groups(self.ucf_groups, 1)  # validates the group count
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
    "tiny": SizeSpec("tiny", 32, 32, 64, 25, ucf_classes=8, ucf_groups=4, ucf_clips_per_group=(1, 2),
                     hmdb_classes=6, hmdb_sources=(2, 1, 1), hmdb_clips_per_source=2,
                     noise_std=0.0, distractors=(0, 0), clutter=0, object_size=(0.15, 0.2), min_contrast=100.0,
                     bg_range=(50.0, 95.0), travel=(2.0, 3.0), turns=(1.5, 2.5), scale_change=(4.0, 6.0),
                     ucf_names=("Grow", "Shrink", "GrowMovingUp", "ShrinkMovingDown", "GrowMovingLeft",
                                "ShrinkMovingRight", "GrowMovingUpLeft", "ShrinkMovingDownRight")),
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
    "small": SizeSpec("small", 64, 64, 72, 25, ucf_classes=12, ucf_groups=10, ucf_clips_per_group=(2, 4),
                      hmdb_classes=10, hmdb_sources=(7, 3, 1), hmdb_clips_per_source=3,
                      noise_std=1.5, distractors=(0, 1), clutter=4, travel=(1.5, 2.5), turns=(1.0, 2.0),
                      scale_change=(4.0, 6.0), group_look=False, bg_range=(50.0, 95.0), min_contrast=100.0,
                      ucf_names=("Grow", "Shrink", "GrowMovingUp", "ShrinkMovingDown", "GrowMovingLeft",
                                 "ShrinkMovingRight", "GrowMovingUpLeft", "ShrinkMovingDownRight",
                                 "AccelerateRight", "DecelerateLeft", "AccelerateUp", "DecelerateDown")),
    "bench": SizeSpec("bench", 320, 240, 120, 25, ucf_classes=101, ucf_groups=3, ucf_clips_per_group=(1, 1),
                      hmdb_classes=51, hmdb_sources=(2, 1, 1), hmdb_clips_per_source=1,
                      distractors=(1, 3), clutter=12, object_size=(0.1, 0.16), distractor_jitter=2.0,
                      quality=3),  # ~700 kbit/s, near UCF101's ~540
}


def classes(layout: str, spec: SizeSpec) -> list[Motion]:
    _check_layout(layout)
    catalogue, count, names = ((UCF_MOTIONS, spec.ucf_classes, spec.ucf_names) if layout == "ucf101"
                               else (HMDB_MOTIONS, spec.hmdb_classes, spec.hmdb_names))
    if names:
        by_name = {m.name: m for m in catalogue}
        return [by_name[n] for n in names]
    return catalogue[:count]


def _check_layout(layout: str) -> None:
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {LAYOUTS}")


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), *keys]))


# ---------------------------------------------------------------------------------------------- video plan
@dataclass(frozen=True)
class VideoItem:
    relpath: str  # relative to the video folder (UCF-101/ or the hmdb root), '/'-separated
    class_index: int
    group: int  # UCF group / HMDB source, 1-based
    clip: int  # 1-based


def plan_videos(layout: str, spec: SizeSpec, seed: int) -> list[VideoItem]:
    items = []
    lk = _LAYOUT_KEY[layout]
    for ci, m in enumerate(classes(layout, spec)):
        if layout == "ucf101":
            for g in range(1, spec.ucf_groups + 1):
                n = int(_rng(seed, lk, _COUNT, ci, g).integers(spec.ucf_clips_per_group[0],
                                                                spec.ucf_clips_per_group[1] + 1))
                items += [VideoItem(f"{m.name}/v_{m.name}_g{g:02d}_c{c:02d}.avi", ci, g, c) for c in range(1, n + 1)]
        else:
            for s in range(1, sum(spec.hmdb_sources) + 1):
                r = _rng(seed, lk, _NAME, ci, s)
                view, quality = ("fr", "ba", "le", "ri")[r.integers(4)], ("goo", "med", "bad")[r.integers(3)]
                items += [VideoItem(f"{m.name}/Synth{s:02d}_{m.name}_f_nm_np1_{view}_{quality}_{c - 1}.avi", ci, s, c)
                          for c in range(1, spec.hmdb_clips_per_source + 1)]
    return items


def hmdb_flags(spec: SizeSpec, seed: int, class_index: int, split: int) -> dict[int, int]:
    """source -> flag (1 train, 2 test, 0 unused) for one class and split; whole sources, never straddling."""
    n_train, n_test, n_unused = spec.hmdb_sources
    order = _rng(seed, _LAYOUT_KEY["hmdb51"], _SPLIT, class_index, split).permutation(n_train + n_test + n_unused)
    flags = {}
    for rank, src in enumerate(order):
        flags[int(src) + 1] = 0 if rank < n_unused else 2 if rank < n_unused + n_test else 1
    return flags


def split_files(layout: str, spec: SizeSpec, seed: int, items: list[VideoItem]) -> dict[str, bytes]:
    """Relative path (from the root) -> exact bytes of every split file."""
    motions = classes(layout, spec)
    files = {}
    if layout == "ucf101":
        crlf = lambda lines: "".join(f"{line}\r\n" for line in lines).encode("ascii")  # noqa: E731
        files[f"{UCF_SPLIT_DIR}/classInd.txt"] = crlf(f"{i + 1} {m.name}" for i, m in enumerate(motions))
        for k in (1, 2, 3):
            test = set(ucf_test_groups(spec.ucf_groups, k))
            files[f"{UCF_SPLIT_DIR}/trainlist0{k}.txt"] = crlf(
                f"{v.relpath} {v.class_index + 1}" for v in items if v.group not in test)
            files[f"{UCF_SPLIT_DIR}/testlist0{k}.txt"] = crlf(v.relpath for v in items if v.group in test)
    else:
        for ci, m in enumerate(motions):
            mine = sorted((v for v in items if v.class_index == ci), key=lambda v: v.relpath)
            for k in (1, 2, 3):
                flags = hmdb_flags(spec, seed, ci, k)
                files[f"{HMDB_SPLIT_DIR}/{m.name}_test_split{k}.txt"] = "".join(
                    f"{v.relpath.split('/', 1)[1]} {flags[v.group]} \n" for v in mine).encode("ascii")
    return files


# ---------------------------------------------------------------------------------------------- rendering
def _luma(c) -> float:
    return float(0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2])


def _sdf(shape: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Approximate signed distance (object radius units, < 0 inside) of the 7 shapes, object-local coordinates."""
    au, av_ = np.abs(u), np.abs(v)
    if shape == 0:  # disk
        return np.sqrt(u * u + v * v) - 1.0
    if shape == 1:  # square
        return np.maximum(au, av_) - 0.85
    if shape == 2:  # ellipse
        return (np.sqrt(u * u + (v / 0.55) ** 2) - 1.0) * 0.55
    if shape == 3:  # triangle (circumradius 1)
        return np.maximum(np.maximum(v, -0.866 * u - 0.5 * v), 0.866 * u - 0.5 * v) - 0.5
    if shape == 4:  # cross
        return np.minimum(np.maximum(au - 1.0, av_ - 0.32), np.maximum(au - 0.32, av_ - 1.0))
    if shape == 5:  # diamond
        return (au + av_ - 1.0) * 0.7071
    return np.maximum(np.sqrt(u * u + v * v) - 1.0, -v - 0.1)  # half-disk


@dataclass(frozen=True)
class _Look:
    shape: int
    colour: tuple[float, float, float]
    radius: float  # px
    texture: int = 0  # 0 none, 1 stripes, 2 checker
    tex_freq: float = 0.0
    tex_phase: float = 0.0
    tex_amp: float = 0.0
    marker: tuple[float, float, float] | None = None


def _object_look(rng: np.random.Generator, spec: SizeSpec, bg_luma: float) -> _Look:
    for _ in range(200):
        colour = rng.uniform(0.0, 255.0, 3)
        if abs(_luma(colour) - bg_luma) >= spec.min_contrast:
            break
    marker = colour * 0.2 if _luma(colour) > 110 else 255.0 - (255.0 - colour) * 0.2
    return _Look(
        shape=int(rng.integers(7)), colour=tuple(colour), marker=tuple(marker),
        radius=float(rng.uniform(*spec.object_size) * min(spec.height, spec.width)),
        texture=int(rng.integers(3)), tex_freq=float(rng.uniform(2.5, 4.5)),
        tex_phase=float(rng.uniform(0, 2 * math.pi)), tex_amp=spec.texture_contrast * 80.0,
    )


def _draw(frames: np.ndarray, look: _Look, cx, cy, ang, scale) -> None:
    """Alpha-blend one object into ``frames`` [T, H, W, 3] (float32, in place) on the torus.

    ``cx, cy, ang, scale`` are per-frame arrays [T]. Only a window around the object is computed (gathered with
    wrapped indices, unique within a frame because the window is smaller than the frame).
    """
    t_len, h, w = frames.shape[:3]
    cx, cy = np.asarray(cx, np.float64), np.asarray(cy, np.float64)
    ang, scale = np.asarray(ang, np.float64), np.asarray(scale, np.float64)
    half = min(int(math.ceil(look.radius * scale.max() * 1.25 + 2)), (min(h, w) - 1) // 2)
    off = np.arange(-half, half + 1)
    ix = (np.floor(cx)[:, None].astype(np.int64) + off) % w  # [T, n]
    iy = (np.floor(cy)[:, None].astype(np.int64) + off) % h
    dx = ((ix - cx[:, None] + w / 2) % w - w / 2).astype(np.float32)[:, None, :]  # [T, 1, n]
    dy = ((iy - cy[:, None] + h / 2) % h - h / 2).astype(np.float32)[:, :, None]  # [T, n, 1]
    s = (look.radius * scale).astype(np.float32)[:, None, None]
    c, sn = np.cos(ang).astype(np.float32)[:, None, None], np.sin(ang).astype(np.float32)[:, None, None]
    u, v = (dx * c + dy * sn) / s, (dy * c - dx * sn) / s  # object-local coordinates [T, n, n]
    alpha = np.clip(0.5 - _sdf(look.shape, u, v) * s, 0.0, 1.0)
    colour = np.broadcast_to(np.asarray(look.colour, np.float32), alpha.shape + (3,))
    if look.texture and look.tex_amp:
        f = look.tex_freq * 2.0
        tex = np.sin(f * u + look.tex_phase) if look.texture == 1 else np.sin(f * u) * np.sin(f * v + look.tex_phase)
        colour = colour + (look.tex_amp * tex)[..., None]
    if look.marker is not None:
        m = np.clip(0.5 - (np.sqrt((u - 0.5) ** 2 + v * v) - 0.28) * s, 0.0, 1.0)[..., None]
        colour = colour * (1.0 - m) + np.asarray(look.marker, np.float32) * m
    ti = np.arange(t_len)[:, None, None]
    yy, xx = iy[:, :, None], ix[:, None, :]
    region = frames[ti, yy, xx]
    region += alpha[..., None] * (colour - region)
    frames[ti, yy, xx] = region


def _background(rng: np.random.Generator, spec: SizeSpec) -> tuple[np.ndarray, float]:
    h, w = spec.height, spec.width
    base = rng.uniform(*spec.bg_range, 3)
    psi = rng.uniform(0, 2 * math.pi)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = ((x - w / 2) * math.cos(psi) + (y - h / 2) * math.sin(psi)) / max(h, w)
    bg = (base + ramp[..., None] * rng.uniform(-1.0, 1.0, 3) * spec.bg_gradient).astype(np.float32)[None]
    m = min(h, w)
    for _ in range(spec.clutter):
        colour = base + spec.clutter_contrast * (rng.uniform(0, 255, 3) - base)
        radius = float(rng.uniform(*spec.clutter_size) * m)
        look = _Look(shape=int(rng.integers(7)), colour=tuple(colour), radius=radius)
        _draw(bg, look, [rng.uniform(0, w)], [rng.uniform(0, h)], [rng.uniform(0, 2 * math.pi)], [1.0])
    return bg[0], _luma(base)


def render_video(spec: SizeSpec, seed: int, layout: str, class_index: int, group: int, clip: int) -> np.ndarray:
    """The frames [T, H, W, 3] uint8 (RGB) of one video, as encoded by ``generate`` (before compression)."""
    motion = classes(layout, spec)[class_index]
    lk = _LAYOUT_KEY[layout]
    scene_keys = (class_index, group) if spec.group_look else (class_index, group, clip)
    scene = _rng(seed, lk, _SCENE, *scene_keys)  # background + target look, per group or per video
    bg, bg_luma = _background(scene, spec)
    target = _object_look(scene, spec, bg_luma)
    rng = _rng(seed, lk, _CLIP, class_index, group, clip)
    t_len, h, w, m = spec.frames, spec.height, spec.width, min(spec.height, spec.width)
    frames = np.repeat(bg[None], t_len, axis=0)

    for _ in range(int(rng.integers(spec.distractors[0], spec.distractors[1] + 1))):
        look = _object_look(rng, spec, bg_luma)
        x0, y0, a0 = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0, 2 * math.pi)
        jitter = spec.distractor_jitter if rng.random() < 0.5 else 0.0
        jx, jy = rng.normal(0.0, 1.0, (2, t_len)) * jitter
        _draw(frames, look, x0 + jx, y0 + jy, np.full(t_len, a0), np.ones(t_len))

    amp = Amplitudes(
        travel=rng.uniform(*spec.travel) * m, turns=rng.uniform(*spec.turns),
        log_scale=math.log(rng.uniform(*spec.scale_change)), radius=rng.uniform(*spec.orbit_radius) * m,
        wiggle=rng.uniform(*spec.wiggle) * m, phase=rng.uniform(0.0, 1.0),
    )
    dx, dy, dang, dlog = motion.pose(np.linspace(0.0, 1.0, t_len), amp)
    phi = math.radians(rng.uniform(-spec.direction_jitter, spec.direction_jitter))
    dx, dy = dx * math.cos(phi) - dy * math.sin(phi), dx * math.sin(phi) + dy * math.cos(phi)
    x0, y0, a0 = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0, 2 * math.pi)
    _draw(frames, target, x0 + dx, y0 + dy, a0 + dang, np.exp(dlog))

    out = np.empty(frames.shape, np.uint8)
    for t0 in range(0, t_len, 16):  # grey (luma) noise, shared by the three channels; round half up
        chunk = frames[t0:t0 + 16]
        noise = rng.standard_normal(chunk.shape[:3] + (1,), dtype=np.float32)
        chunk += noise * np.float32(spec.noise_std) + np.float32(0.5)
        np.clip(chunk, 0, 255, out=chunk)
        out[t0:t0 + 16] = chunk
    return out


# ---------------------------------------------------------------------------------------------- encoding
def write_video(path: Path, frames: np.ndarray, fps: int, quality: int = 2) -> None:
    """Deterministic mpeg4 (Xvid-like, as UCF101) in AVI: single thread, fixed quantiser ``quality``, bitexact."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="avi", options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.codec_context.thread_count = 1
        # fixed quantiser: with +qscale and no per-frame quality, mpeg4 uses qmin, so qmin = qmax = quality
        stream.options = {"flags": "+qscale+bitexact", "qmin": str(quality), "qmax": str(quality)}
        for i, f in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _write_item(args) -> None:
    spec, seed, layout, video_dir, item = args
    frames = render_video(spec, seed, layout, item.class_index, item.group, item.clip)
    write_video(Path(video_dir) / item.relpath, frames, spec.fps, spec.quality)


# ---------------------------------------------------------------------------------------------- generate
def generate(out, layout: str, size: str | SizeSpec = "small", seed: int = 0, *, overwrite: bool = False,
             workers: int = 1) -> Path:
    """Write a synthetic dataset to ``out`` (the dataset root, returned). ``out`` must be absent or empty, or a
    previous synthetic dataset with ``overwrite=True``. Written to a sibling temp folder, then renamed."""
    _check_layout(layout)
    spec = size if isinstance(size, SizeSpec) else SIZES.get(size)
    if spec is None:
        raise ValueError(f"unknown size {size!r}; choose one of {sorted(SIZES)} or pass a SizeSpec")
    if int(seed) < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not overwrite:
            raise FileExistsError(f"{out} exists and is not empty; pass overwrite=True (--overwrite) to replace a "
                                  "synthetic dataset, or choose another folder")
        if not (out / MANIFEST).is_file():
            raise FileExistsError(f"{out} is not a synthetic dataset (no {MANIFEST}); refusing to overwrite it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        items = plan_videos(layout, spec, seed)
        for rel, data in split_files(layout, spec, seed, items).items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_bytes(data)
        video_dir = tmp / UCF_VIDEO_DIR if layout == "ucf101" else tmp
        jobs = [(spec, int(seed), layout, str(video_dir), item) for item in items]
        if workers > 1:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                list(pool.map(_write_item, jobs, chunksize=4))
        else:
            for job in jobs:
                _write_item(job)
        (tmp / MANIFEST).write_text(json.dumps(_manifest(layout, spec, seed, items), indent=1, sort_keys=True) + "\n")
        if out.exists():
            shutil.rmtree(out) if any(out.iterdir()) else out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def stale_reason(root, layout: str, size: str | SizeSpec, seed: int) -> str | None:
    """Why the synthetic dataset at ``root`` is not what this code generates for (layout, size, seed), or None.

    Compares its manifest's generator version, spec and classes with the current ones, so that data written by an
    older generator is never reused as if it were current."""
    spec = size if isinstance(size, SizeSpec) else SIZES[size]
    path = Path(root) / MANIFEST
    try:
        have = json.loads(path.read_text())
    except FileNotFoundError:
        return f"it has no {MANIFEST}, so it is not a dataset this generator wrote"
    except (OSError, ValueError) as e:
        return f"its {MANIFEST} is unreadable ({e})"
    want = json.loads(json.dumps(_manifest(layout, spec, seed, plan_videos(layout, spec, seed))))
    if have.get("version") != want["version"]:
        return f"it was written by generator version {have.get('version')}, this code writes version {VERSION}"
    diff = sorted(k for k in set(want["spec"]) | set(have.get("spec", {}))
                  if want["spec"].get(k) != have.get("spec", {}).get(k))
    if diff:
        return f"its size spec differs in {', '.join(diff)}"
    for key in ("layout", "seed", "num_videos", "classes"):
        if have.get(key) != want[key]:
            return f"its {key} differs"
    return None


def _manifest(layout: str, spec: SizeSpec, seed: int, items: list[VideoItem]) -> dict:
    return {
        "generator": "datasets.synthetic", "version": VERSION, "layout": layout, "size": spec.name, "seed": int(seed),
        "spec": dataclasses.asdict(spec), "num_videos": len(items),
        "video": {"width": spec.width, "height": spec.height, "frames": spec.frames, "fps": spec.fps,
                  "codec": "mpeg4", "container": "avi", "pix_fmt": "yuv420p"},
        "classes": [{"name": m.name, "description": m.description, "reverse_of": m.reverse_of}
                    for m in classes(layout, spec)],
    }


# ---------------------------------------------------------------------------------------------- CLI
def _apply_overrides(spec: SizeSpec, pairs: list[str]) -> SizeSpec:
    changes = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in {f.name for f in dataclasses.fields(SizeSpec)} or key == "name":
            raise ValueError(f"--set wants KNOB=VALUE with a SizeSpec field, got {pair!r}")
        current = getattr(spec, key)
        if isinstance(current, tuple):
            changes[key] = tuple(type(c)(x) for c, x in zip(current, value.split(","), strict=True))
        else:
            changes[key] = type(current)(value)
    return dataclasses.replace(spec, **changes)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m datasets.synthetic",
                                description="Write a synthetic motion-class video dataset in an official layout.")
    p.add_argument("--layout", choices=LAYOUTS, required=True)
    p.add_argument("--size", choices=sorted(SIZES), default="small")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="dataset root to create (absent or empty)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing synthetic dataset at --out")
    p.add_argument("--workers", type=int, default=1, help="processes for rendering + encoding (default 1)")
    p.add_argument("--set", action="append", default=[], metavar="KNOB=VALUE",
                   help="override a SizeSpec field, e.g. --set noise_std=6 --set distractors=0,3")
    args = p.parse_args(argv)
    try:
        spec = _apply_overrides(SIZES[args.size], args.set)
        start = time.perf_counter()
        root = generate(args.out, args.layout, spec, args.seed, overwrite=args.overwrite, workers=args.workers)
    except (ValueError, FileExistsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - start
    items = plan_videos(args.layout, spec, args.seed)
    names = [m.name for m in classes(args.layout, spec)]
    print(f"wrote {args.layout} size={spec.name} seed={args.seed} to {root.resolve()} in {elapsed:.1f}s")
    print(f"  {len(names)} classes, {len(items)} videos: {spec.width}x{spec.height} px, {spec.frames} frames "
          f"@ {spec.fps} fps, mpeg4 .avi")
    print(f"  classes: {' '.join(names)}")
    splits = sorted(split_files(args.layout, spec, args.seed, items))
    video_glob = f"{UCF_VIDEO_DIR}/<Class>/*.avi" if args.layout == "ucf101" else "<class>/*.avi"
    print(f"  videos: {root / video_glob}")
    print(f"  split files ({len(splits)}): {root / Path(splits[0]).parent}/")
    for k in (1, 2, 3):
        train, test = _split_counts(args.layout, spec, args.seed, items, k)
        print(f"  split {k}: {train} train, {test} test")
    print(f"  manifest: {root / MANIFEST}")
    return 0


def _split_counts(layout, spec, seed, items, k) -> tuple[int, int]:
    if layout == "ucf101":
        test = set(ucf_test_groups(spec.ucf_groups, k))
        n_test = sum(v.group in test for v in items)
        return len(items) - n_test, n_test
    flags = [hmdb_flags(spec, seed, v.class_index, k)[v.group] for v in items]
    return flags.count(1), flags.count(2)


if __name__ == "__main__":
    sys.exit(main())
