"""STKD: orthonormal DCT-II along time, DC removal == temporal mean subtraction, the paper-style variant."""

from __future__ import annotations

import math

import pytest
import torch

from methods.tcgl.stkd import STKD, dct_matrix, filter_matrix, temporal_dct, temporal_idct


@pytest.mark.parametrize("t", [1, 2, 4, 8, 16])
def test_dct_matrix_is_orthonormal_dct2(t):
    d = dct_matrix(t)
    assert torch.allclose(d @ d.T, torch.eye(t, dtype=torch.float64), atol=1e-12)
    for k in range(t):  # the DCT-II definition, entry by entry
        scale = math.sqrt(1.0 / t) if k == 0 else math.sqrt(2.0 / t)
        for n in range(t):
            assert abs(float(d[k, n]) - scale * math.cos(math.pi * (2 * n + 1) * k / (2 * t))) < 1e-12


def test_dct_roundtrip_and_dc_coefficient():
    x = torch.randn(2, 3, 3, 16, 5, 5, dtype=torch.float64)  # [B, K, C, T, H, W]
    coeffs = temporal_dct(x)
    assert torch.allclose(temporal_idct(coeffs), x, atol=1e-12)
    assert torch.allclose(coeffs[..., 0, :, :], math.sqrt(16) * x.mean(dim=-3), atol=1e-12)
    assert torch.allclose((coeffs**2).sum(-3), (x**2).sum(-3), atol=1e-10)  # Parseval


@pytest.mark.parametrize("t", [4, 16])
def test_dc_removal_equals_mean_subtraction(t):
    stkd = STKD("dc")
    x64 = torch.randn(2, 3, 3, t, 6, 6, dtype=torch.float64)
    assert torch.allclose(stkd(x64), x64 - x64.mean(dim=-3, keepdim=True), atol=1e-12, rtol=0)
    x32 = x64.float() * 10 + 3
    assert torch.allclose(stkd(x32), x32 - x32.mean(dim=-3, keepdim=True), atol=1e-4, rtol=0)
    assert stkd.gains(t) == (0.0,) + (1.0,) * (t - 1)


def test_paper_variant():
    x = torch.randn(2, 3, 16, 4, 4, dtype=torch.float64)
    coeffs = temporal_dct(x)
    half = STKD("paper", low_fraction=0.25, low_gain=0.5)
    assert half.gains(16) == (0.5,) * 4 + (1.0,) * 12
    out = temporal_dct(half(x))
    assert torch.allclose(out[:, :, :4], 0.5 * coeffs[:, :, :4], atol=1e-12)
    assert torch.allclose(out[:, :, 4:], coeffs[:, :, 4:], atol=1e-12)
    # low_gain 0 on a single low frequency is the faithful DC removal
    short = x[:, :, :4]
    assert torch.allclose(STKD("paper", low_fraction=0.25, low_gain=0.0)(short), STKD("dc")(short), atol=1e-12)
    # re-adding RGB: filtered + w * x
    readd = STKD("paper", low_fraction=0.25, low_gain=0.0, rgb_weight=0.3)
    expected = STKD("paper", low_fraction=0.25, low_gain=0.0)(x) + 0.3 * x
    assert torch.allclose(readd(x), expected, atol=1e-12)


def test_none_and_validation():
    x = torch.randn(1, 3, 8, 4, 4)
    assert STKD("none")(x) is x
    with pytest.raises(ValueError):
        STKD("band")
    with pytest.raises(ValueError):
        filter_matrix(4, (1.0, 1.0))


def test_filter_matrix_is_cached():
    a = filter_matrix(16, STKD("dc").gains(16))
    b = filter_matrix(16, STKD("dc").gains(16))
    assert a is b and a.dtype == torch.float32
