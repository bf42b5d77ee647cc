"""STKD: a temporal filter in the orthonormal DCT-II domain, applied as one matmul along T.

For a clip ``x [..., C, T, H, W]``: ``X = D x`` (DCT over T), ``X_k <- g_k X_k``, ``y = D^T X``. The T x T filter
``D^T diag(g) D`` is built once per (T, gains, device, dtype) and cached.

Modes:
- ``dc`` (faithful default): g_0 = 0, g_k = 1 otherwise. Identical to ``x - mean_T(x)``, which is what the released
  TCGL code computes (its ``frequency()`` step).
- ``paper``: the low temporal frequencies k < max(1, round(low_fraction * T)) are attenuated by ``low_gain``
  (0 removes them; 0 < gain < 1 keeps part of the static RGB content), and ``rgb_weight * x`` is added back
  (0 = do not re-add RGB).
- ``none``: identity (ablation).
"""

from __future__ import annotations

import contextlib
import functools
import math

import torch
from torch import nn

MODES = ("dc", "paper", "none")


@functools.lru_cache(maxsize=None)
def _dct_matrix_f64(t: int) -> torch.Tensor:
    n = torch.arange(t, dtype=torch.float64)
    k = n.unsqueeze(1)
    mat = torch.cos(math.pi * (n + 0.5) * k / t) * math.sqrt(2.0 / t)
    mat[0] /= math.sqrt(2.0)
    return mat


def dct_matrix(t: int, device: torch.device | str | None = None, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Orthonormal DCT-II matrix ``[T, T]`` (row k = frequency k): ``D @ D.T == I``."""
    if t < 1:
        raise ValueError(f"need T >= 1, got {t}")
    return _dct_matrix_f64(t).to(device=device, dtype=dtype)


@functools.lru_cache(maxsize=256)
def _filter_matrix(t: int, gains: tuple[float, ...], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    d = _dct_matrix_f64(t)
    g = torch.tensor(gains, dtype=torch.float64)
    return (d.T @ (g.unsqueeze(1) * d)).to(device=device, dtype=dtype)


def filter_matrix(
    t: int, gains: tuple[float, ...], device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Cached ``D^T diag(gains) D`` ``[T, T]`` for ``len(gains) == T``."""
    if len(gains) != t:
        raise ValueError(f"need {t} gains, got {len(gains)}")
    return _filter_matrix(t, tuple(float(v) for v in gains), torch.device(device or "cpu"), dtype)


def apply_temporal(mat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``y[..., c, s, h, w] = sum_t mat[s, t] x[..., c, t, h, w]`` (time is dim -3)."""
    return torch.matmul(x.movedim(-3, -1), mat.T).movedim(-1, -3)


def temporal_dct(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal DCT-II along T of ``[..., C, T, H, W]``."""
    return apply_temporal(dct_matrix(x.shape[-3], x.device, x.dtype), x)


def temporal_idct(coeffs: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`temporal_dct`."""
    return apply_temporal(dct_matrix(coeffs.shape[-3], coeffs.device, coeffs.dtype).T, coeffs)


class STKD(nn.Module):
    """Temporal-frequency filter over ``[..., C, T, H, W]`` clips; no parameters (see the module doc)."""

    def __init__(self, mode: str = "dc", low_fraction: float = 0.25, low_gain: float = 0.5, rgb_weight: float = 0.0):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"stkd mode must be one of {MODES}, got {mode!r}")
        if not 0.0 < low_fraction <= 1.0:
            raise ValueError(f"low_fraction must be in (0, 1], got {low_fraction}")
        self.mode = mode
        self.low_fraction = float(low_fraction)
        self.low_gain = float(low_gain)
        self.rgb_weight = float(rgb_weight)

    def gains(self, t: int) -> tuple[float, ...]:
        """Per-frequency gains for a clip of ``t`` frames."""
        if self.mode == "none":
            return (1.0,) * t
        if self.mode == "dc":
            return (0.0,) + (1.0,) * (t - 1)
        n_low = min(t, max(1, round(self.low_fraction * t)))
        return (self.low_gain,) * n_low + (1.0,) * (t - n_low)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "none":
            return x
        # at least fp32, even under autocast: in bf16 the matmul's relative error is ~0.6 % (the release subtracts
        # in fp32); fp64 input stays fp64
        dtype = x.dtype
        # (no autocast to leave on the meta device, where FLOPs are counted: torch.autocast("meta") raises)
        off = contextlib.nullcontext() if x.device.type == "meta" else torch.autocast(x.device.type, enabled=False)
        with off:
            if dtype != torch.float64:
                x = x.float()
            y = apply_temporal(filter_matrix(x.shape[-3], self.gains(x.shape[-3]), x.device, x.dtype), x)
            if self.mode == "paper" and self.rgb_weight != 0.0:
                y = y + self.rgb_weight * x
        return y if dtype in (torch.float32, torch.float64) else y.to(dtype)

    def describe(self) -> dict:
        """The filter as plain values; ``{}`` for ``mode='none'`` (the identity)."""
        if self.mode == "none":
            return {}
        if self.mode == "dc":
            return {"stkd": "dc"}
        return {
            "stkd": "paper",
            "low_fraction": self.low_fraction,
            "low_gain": self.low_gain,
            "rgb_weight": self.rgb_weight,
        }

    def extra_repr(self) -> str:
        if self.mode == "paper":
            return (
                f"mode=paper, low_fraction={self.low_fraction}, low_gain={self.low_gain}, rgb_weight={self.rgb_weight}"
            )
        return f"mode={self.mode}"
