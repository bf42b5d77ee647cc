"""Clip-consistent augmentation.

Every random parameter (crop box, flip, colour-jitter factors and their order) is drawn **once per clip** and applied
identically to all of its frames. The VCOP-derived pipelines re-seeded Python's ``random`` before each frame, which
stopped working with torchvision >= 0.8 and gives every frame its own crop; here consistency holds by construction
(and ``tests/datasets/test_transforms.py`` proves it).

Training: resize to ``resize`` (128x171 by default, aspect ratio not kept, as VCOP/TCGL) -> random ``crop`` -> flip
-> [0, 1] floats -> colour jitter -> normalise. Evaluation: resize -> centre crop -> normalise.
Input uint8 ``T x H x W x C``; output float32 ``C x T x crop x crop``.

Two stages. :meth:`ClipTransform.geometry` (resize, crop, flip) works on uint8 frames and always runs in the loader's
workers. :meth:`ClipTransform.finish` (floats, colour jitter, normalisation) is batched: it takes uint8 clips
``[..., C, T, H, W]`` and their colour parameters ``[..., SLOTS, 2]`` (:func:`encode_jitter`). With
``defer_colour=False`` (CPU runs) the worker calls it on each clip; with ``defer_colour=True`` (CUDA runs,
``input.colour_on``) the worker returns uint8 clips plus their colour parameters and the training loop calls it on
the whole batch on the GPU (``engine.to_device``): a quarter of the bytes through shared memory and PCIe, and the
per-pixel float work off the CPU. Either way ``finish`` runs with the same parameters (its colour ops clip by clip
on the CPU, in masked passes over the whole batch on CUDA: equal to float rounding, see :func:`apply_colour`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as nnf

KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)

OPS = ("brightness", "contrast", "saturation", "hue")  # op ids in the colour parameters
SLOTS = len(OPS)  # at most one of each op per clip, in a random order
NO_OP = -1.0


def encode_jitter(ops: list[tuple[str, float]]) -> torch.Tensor:
    """A clip's colour ops in order as a ``[SLOTS, 2]`` float32 tensor of (op id, factor), padded with
    (``NO_OP``, 0)."""
    out = torch.tensor([[NO_OP, 0.0]] * SLOTS, dtype=torch.float32)
    for j, (name, factor) in enumerate(ops):
        out[j, 0], out[j, 1] = float(OPS.index(name)), float(factor)
    return out


def _rgb_to_hsv(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Hue in [0, 1), saturation and value of ``[N, 3, ...]`` floats in [0, 1] (the usual hexcone model)."""
    r, g, b = x.unbind(1)
    maxc, minc = x.amax(1), x.amin(1)
    span = maxc - minc
    flat = span == 0
    s = span / torch.where(flat, torch.ones_like(maxc), maxc)
    d = torch.where(flat, torch.ones_like(span), span)
    rc, gc, bc = (maxc - r) / d, (maxc - g) / d, (maxc - b) / d
    is_r, is_g = maxc == r, (maxc == g) & (maxc != r)
    h = torch.where(is_r, bc - gc, torch.where(is_g, 2.0 + rc - bc, 4.0 + gc - rc))
    return torch.remainder(h / 6.0, 1.0), s, maxc


def _hsv_to_rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    h6 = h * 6.0
    sector = torch.floor(h6)
    f = h6 - sector
    sector = torch.remainder(sector, 6.0)
    p = (v * (1.0 - s)).clamp_(0.0, 1.0)
    q = (v * (1.0 - s * f)).clamp_(0.0, 1.0)
    t = (v * (1.0 - s * (1.0 - f))).clamp_(0.0, 1.0)
    table = ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))  # (r, g, b) per sector
    out = []
    for ch in range(3):
        c = table[5][ch]
        for k in range(4, -1, -1):
            c = torch.where(sector == k, table[k][ch], c)
        out.append(c)
    return torch.stack(out, 1)


def adjust_hue_batched(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate the hue of ``[N, 3, ...]`` floats in [0, 1] by ``shift[n]`` turns (torchvision's ``adjust_hue``,
    one factor per clip)."""
    h, s, v = _rgb_to_hsv(x)
    h = torch.remainder(h + shift.view(-1, *[1] * (h.ndim - 1)), 1.0)
    return _hsv_to_rgb(h, s, v)


def apply_colour(x: torch.Tensor, colour: torch.Tensor, hue: bool = True, per_clip: bool | None = None) -> torch.Tensor:
    """Each clip's colour ops, in its own order: ``x [N, 3, T, H, W]`` floats in [0, 1], ``colour [N, SLOTS, 2]``.

    Brightness, contrast and saturation are all ``clamp(f*x + (1-f)*m)`` with ``m`` = 0, the frame's mean grey level
    or the pixel's grey level (torchvision's formulas); hue rotates the hue (``adjust_hue_batched``). Two ways to
    run it, equal to float rounding (tested): ``per_clip`` (the default on CPU, where a worker finishes one small
    clip at a time) reads the ops to Python and applies each to its clip; otherwise (the default on CUDA) one pass
    per slot covers all clips at once, each clip's op chosen by masks (an empty slot, f = 1 and m = 0, leaves a clip
    exactly as it is) with no host synchronisation, so it stays inside the asynchronous training step. Hue, when
    ``hue`` (the transform may draw it), is then computed for every clip and kept where a slot asks for it.
    Written with torch ops, not torchvision's (tests compare the two): importing torchvision costs about 2.4 s per
    process, and every DVC stage is a process; and torchvision takes one factor per call."""
    if per_clip if per_clip is not None else not x.is_cuda:
        return torch.stack([_clip_colour(xi, ops) for xi, ops in zip(x, colour.tolist())]) if len(x) else x
    n = x.shape[0]
    shape = (n,) + (1,) * (x.ndim - 1)
    for j in range(colour.shape[1]):
        op, f = colour[:, j, 0], colour[:, j, 1]
        empty = op == NO_OP
        a = torch.where(empty | (op == OPS.index("hue")), torch.ones_like(f), f).view(shape)
        grey = _grey(x)  # [N, 1, T, H, W]
        w_mean = (op == OPS.index("contrast")).to(x.dtype).view(shape)
        w_grey = (op == OPS.index("saturation")).to(x.dtype).view(shape)
        m = w_mean * grey.mean(dim=(-2, -1), keepdim=True) + w_grey * grey
        y = torch.addcmul((1.0 - a) * m, a, x).clamp_(0.0, 1.0)
        if hue:
            is_hue = (op == OPS.index("hue")).view(shape)
            y = torch.where(is_hue, adjust_hue_batched(x, torch.where(is_hue.flatten(), f, torch.zeros_like(f))), y)
        x = y
    return x


def _clip_colour(x: torch.Tensor, ops: list[list[float]]) -> torch.Tensor:
    """One clip ``[3, T, H, W]``, its ops as Python ``[op id, factor]`` pairs (the per-clip way of apply_colour)."""
    for op, f in ops:
        if op == NO_OP:
            continue
        name = OPS[int(op)]
        if name == "hue":
            x = adjust_hue_batched(x[None], torch.tensor([f], dtype=x.dtype))[0]
        elif name == "brightness":
            x = (x * f).clamp_(0.0, 1.0)
        else:
            grey = _grey(x[None])[0]
            m = grey.mean(dim=(-2, -1), keepdim=True) if name == "contrast" else grey
            x = torch.addcmul(m * (1.0 - f), x, torch.tensor(f, dtype=x.dtype)).clamp_(0.0, 1.0)
    return x


def _grey(x: torch.Tensor) -> torch.Tensor:  # ``[N, 3, ...]`` -> ``[N, 1, ...]``
    r, g, b = x.unbind(1)
    return (0.2989 * r + 0.587 * g + 0.114 * b).unsqueeze(1)


def resize_frames(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """uint8 ``T x H x W x 3`` frames to ``T x size[0] x size[1] x 3``: bilinear with antialiasing, each frame on its
    own (so resizing a whole video, as the frame cache does, gives the frames a clip would get); frames already of
    that size are returned as they are."""
    if frames.dtype != torch.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected uint8 T x H x W x 3 frames, got {tuple(frames.shape)} {frames.dtype}")
    if tuple(frames.shape[1:3]) == tuple(size):
        return frames
    x = nnf.interpolate(
        frames.permute(0, 3, 1, 2), size=tuple(size), mode="bilinear", align_corners=False, antialias=True
    )
    return x.permute(0, 2, 3, 1)


@dataclass
class ClipParams:
    top: int
    left: int
    flip: bool
    jitter: list[tuple[str, float]]  # (operation, factor) in the order applied


class ClipTransform:
    def __init__(
        self,
        train: bool,
        resize: tuple[int, int] = (128, 171),
        crop: int = 112,
        flip: bool = True,
        jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.4, 0.1),
        jitter_p: float = 0.8,
        mean: tuple[float, ...] | None = KINETICS_MEAN,
        std: tuple[float, ...] | None = KINETICS_STD,
        defer_colour: bool = False,
        centre: str = "floor",
    ):
        self.train, self.resize, self.crop = bool(train), tuple(int(x) for x in resize), int(crop)
        if self.crop > min(self.resize):
            raise ValueError(f"crop {crop} is larger than the resized frame {resize}")
        self.flip, self.jitter, self.jitter_p = bool(flip), tuple(jitter or (0, 0, 0, 0)), float(jitter_p)
        self.mean = torch.tensor(mean).view(-1, 1, 1, 1) if mean is not None else None
        self.std = torch.tensor(std).view(-1, 1, 1, 1) if std is not None else None
        self.defer_colour = bool(defer_colour)  # the worker stops after geometry(); finish() runs on the batch
        if centre not in ("floor", "round"):
            raise ValueError(f"centre must be 'floor' or 'round', got {centre!r}")
        self.centre = centre  # evaluation crop: floor (29 of 171 for 112) or round as torchvision's CenterCrop (30)
        self.hue = self.train and len(self.jitter) > 3 and self.jitter[3] > 0
        self.slots = sum(a > 0 for a in self.jitter) if self.train else 0  # colour ops a clip can draw

    def draw(self, rng: np.random.Generator) -> ClipParams:
        """The random parameters of one clip. Evaluation draws nothing (centre crop)."""
        h, w = self.resize
        if not self.train:
            if self.centre == "round":  # torchvision's CenterCrop: int(round((size - crop) / 2))
                return ClipParams(int(round((h - self.crop) / 2.0)), int(round((w - self.crop) / 2.0)), False, [])
            return ClipParams((h - self.crop) // 2, (w - self.crop) // 2, False, [])
        top = int(rng.integers(0, h - self.crop + 1))
        left = int(rng.integers(0, w - self.crop + 1))
        flip = self.flip and bool(rng.random() < 0.5)
        ops: list[tuple[str, float]] = []
        if any(self.jitter) and rng.random() < self.jitter_p:
            b, c, s, hue = self.jitter
            for name in rng.permutation(["brightness", "contrast", "saturation", "hue"]):
                amount = {"brightness": b, "contrast": c, "saturation": s, "hue": hue}[name]
                if amount <= 0:
                    continue
                factor = rng.uniform(-amount, amount) if name == "hue" else rng.uniform(1 - amount, 1 + amount)
                ops.append((str(name), float(factor)))
        return ClipParams(top, left, flip, ops)

    def __call__(
        self, frames: torch.Tensor, rng: np.random.Generator | None = None, params: ClipParams | None = None
    ) -> torch.Tensor:
        """Both stages on one clip: uint8 ``T x H x W x 3`` -> float32 ``C x T x crop x crop``."""
        if params is None:
            params = self.draw(rng if rng is not None else np.random.default_rng())
        return self.finish(self.geometry(frames, params), self.colour_params(params))

    def geometry(self, frames: torch.Tensor, params: ClipParams) -> torch.Tensor:
        """Resize, crop and flip: uint8 ``T x H x W x 3`` -> uint8 ``C x T x crop x crop``."""
        x = resize_frames(frames, self.resize)  # T H W C
        x = x[:, params.top : params.top + self.crop, params.left : params.left + self.crop]
        if params.flip:
            x = x.flip(2)
        return x.permute(3, 0, 1, 2).contiguous()  # C T H W

    @staticmethod
    def colour_params(params: ClipParams) -> torch.Tensor:
        return encode_jitter(params.jitter)

    def finish(self, clips: torch.Tensor, colour: torch.Tensor) -> torch.Tensor:
        """uint8 clips ``[..., C, T, H, W]`` and their colour parameters ``[..., SLOTS, 2]`` -> normalised float32
        clips of the same shape, on the clips' device. Batched; no host synchronisation."""
        if clips.dtype != torch.uint8:
            raise ValueError(f"finish() takes the uint8 clips of geometry(), got {clips.dtype}")
        lead = clips.shape[:-4]
        x = clips.reshape(-1, *clips.shape[-4:]).float().div_(255.0)
        if self.slots:  # the slots after these are always empty (evaluation draws no colour ops at all)
            colour = colour.reshape(-1, *colour.shape[-2:])[:, : self.slots].to(x.device, non_blocking=True)
            x = apply_colour(x, colour, self.hue)
        if self.mean is not None:
            x = x.sub_(self.mean.to(x.device)).div_(self.std.to(x.device))
        return x.view(*lead, *x.shape[1:])
