"""Rendering of one synthetic video: the frames of a video (``render_video``: background, target and distractor
objects drawn on a torus, noise; ``render_item`` for a planned video, with its own geometry in the kinetics400 / ssv2
layouts). Their deterministic encoding: ``datasets.synthetic.encode``.

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
around a fixed point (never move like the target). The difficulty knobs are the ``SizeSpec`` fields
(``datasets.synthetic.spec``).

Determinism: every video is a pure function of (seed, layout, class, group, clip) through its own
``numpy.random.SeedSequence``; encoding is single-threaded with bitexact flags, so the same seed gives byte-identical
split files and videos (with the same PyAV/FFmpeg build) and identical decoded frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from datasets.synthetic.item import VideoItem, item_spec
from datasets.synthetic.motions import Amplitudes
from datasets.synthetic.spec import _CLIP, _LAYOUT_KEY, _SCENE, SizeSpec, _rng, classes


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
        shape=int(rng.integers(7)),
        colour=tuple(colour),
        marker=tuple(marker),
        radius=float(rng.uniform(*spec.object_size) * min(spec.height, spec.width)),
        texture=int(rng.integers(3)),
        tex_freq=float(rng.uniform(2.5, 4.5)),
        tex_phase=float(rng.uniform(0, 2 * math.pi)),
        tex_amp=spec.texture_contrast * 80.0,
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
        travel=rng.uniform(*spec.travel) * m,
        turns=rng.uniform(*spec.turns),
        log_scale=math.log(rng.uniform(*spec.scale_change)),
        radius=rng.uniform(*spec.orbit_radius) * m,
        wiggle=rng.uniform(*spec.wiggle) * m,
        phase=rng.uniform(0.0, 1.0),
    )
    dx, dy, dang, dlog = motion.pose(np.linspace(0.0, 1.0, t_len), amp)
    phi = math.radians(rng.uniform(-spec.direction_jitter, spec.direction_jitter))
    dx, dy = dx * math.cos(phi) - dy * math.sin(phi), dx * math.sin(phi) + dy * math.cos(phi)
    x0, y0, a0 = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0, 2 * math.pi)
    _draw(frames, target, x0 + dx, y0 + dy, a0 + dang, np.exp(dlog))

    out = np.empty(frames.shape, np.uint8)
    for t0 in range(0, t_len, 16):  # grey (luma) noise, shared by the three channels; round half up
        chunk = frames[t0 : t0 + 16]
        noise = rng.standard_normal(chunk.shape[:3] + (1,), dtype=np.float32)
        chunk += noise * np.float32(spec.noise_std) + np.float32(0.5)
        np.clip(chunk, 0, 255, out=chunk)
        out[t0 : t0 + 16] = chunk
    return out


def render_item(spec: SizeSpec, seed: int, layout: str, item: VideoItem) -> np.ndarray:
    """The frames of a planned video (``plan_videos``), at its own geometry where it has one (kinetics400, ssv2);
    for ucf101 / hmdb51 the same as ``render_video``."""
    return render_video(item_spec(spec, item), seed, layout, item.class_index, item.group, item.clip)
