"""Clip-consistent augmentation.

Every random parameter (crop box, flip, colour-jitter factors and their order) is drawn **once per clip** and applied
identically to all of its frames. The VCOP-derived pipelines re-seeded Python's ``random`` before each frame, which
stopped working with torchvision >= 0.8 and gives every frame its own crop; here consistency holds by construction
(and ``tests/datasets/test_transforms.py`` proves it).

Training: resize to ``resize`` (128x171 by default, aspect ratio not kept, as VCOP/TCGL) -> random ``crop`` -> flip
-> colour jitter -> [0, 1] floats -> normalise. Evaluation: resize -> centre crop -> normalise.
Input uint8 ``T x H x W x C``; output float32 ``C x T x crop x crop``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as nnf

KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)


def _grey(x: torch.Tensor) -> torch.Tensor:
    r, g, b = x.unbind(-3)
    return (0.2989 * r + 0.587 * g + 0.114 * b).unsqueeze(-3)


def _blend(a: torch.Tensor, b: torch.Tensor | float, factor: float) -> torch.Tensor:
    return (factor * a + (1.0 - factor) * b).clamp_(0.0, 1.0)


def adjust_colour(x: torch.Tensor, name: str, factor: float) -> torch.Tensor:
    """torchvision's ``adjust_{brightness,contrast,saturation,hue}`` on ``... x 3 x H x W`` floats in [0, 1], with
    the same formulas (tests compare them). Written with torch ops because importing torchvision costs about 2.4 s
    per process, and every DVC stage is a process; hue, rarely used and costly anyway, still calls torchvision."""
    if name == "brightness":
        return (x * factor).clamp_(0.0, 1.0)
    if name == "contrast":
        return _blend(x, _grey(x).mean(dim=(-3, -2, -1), keepdim=True), factor)
    if name == "saturation":
        return _blend(x, _grey(x), factor)
    if name == "hue":
        from torchvision.transforms.v2.functional import adjust_hue

        return adjust_hue(x, factor)
    raise ValueError(f"unknown colour adjustment {name!r}")


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
    ):
        self.train, self.resize, self.crop = bool(train), tuple(int(x) for x in resize), int(crop)
        if self.crop > min(self.resize):
            raise ValueError(f"crop {crop} is larger than the resized frame {resize}")
        self.flip, self.jitter, self.jitter_p = bool(flip), tuple(jitter or (0, 0, 0, 0)), float(jitter_p)
        self.mean = torch.tensor(mean).view(-1, 1, 1, 1) if mean is not None else None
        self.std = torch.tensor(std).view(-1, 1, 1, 1) if std is not None else None

    def draw(self, rng: np.random.Generator) -> ClipParams:
        """The random parameters of one clip. Evaluation draws nothing (centre crop)."""
        h, w = self.resize
        if not self.train:
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

    def __call__(self, frames: torch.Tensor, rng: np.random.Generator | None = None,
                 params: ClipParams | None = None) -> torch.Tensor:
        if frames.dtype != torch.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"expected uint8 T x H x W x 3 frames, got {tuple(frames.shape)} {frames.dtype}")
        if params is None:
            params = self.draw(rng if rng is not None else np.random.default_rng())
        x = frames.permute(0, 3, 1, 2)  # T C H W, uint8
        if tuple(x.shape[-2:]) != self.resize:
            x = nnf.interpolate(x, size=self.resize, mode="bilinear", align_corners=False, antialias=True)
        x = x[..., params.top:params.top + self.crop, params.left:params.left + self.crop]
        if params.flip:
            x = x.flip(-1)
        x = x.float().div_(255.0)  # after the crop: fewer pixels to convert
        for name, factor in params.jitter:  # on [0, 1] floats, clamped, as torchvision's ColorJitter
            x = adjust_colour(x, name, factor)
        x = x.permute(1, 0, 2, 3)  # C T H W
        if self.mean is not None:
            x = (x - self.mean) / self.std
        return x.contiguous()
