"""Backbones: shapes, feature dimensions, min_frames / tiling, VCOP architecture details, no downloads."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from methods.backbones import C3D, Backbone, available_backbones, build_backbone, tile_time
from methods.backbones.resnet3d import Conv2Plus1D, ResBlock, r21d_mid_channels

REAL = ["c3d", "r3d", "r21d", "r3d_18", "r2plus1d_18"]


def test_available_backbones():
    assert available_backbones() == sorted(REAL + ["r3d_3463", "tiny"])  # r3d_3463: released TCGL's UCF101 R3D
    with pytest.raises(ValueError, match="valid names: c3d"):
        build_backbone("resnet50")


@pytest.mark.parametrize("name", REAL)
def test_vcop_resolution_shapes(name):
    """At 16x112x112 every real backbone gives a 512x2x7x7 conv5 map, 512-d pooled and 9,216-d retrieval features."""
    net = build_backbone(name).to("meta")
    x = torch.empty(2, 3, 16, 112, 112, device="meta")
    assert net.feat_dim == 512
    assert tuple(net.forward_features(x).shape) == (2, 512, 2, 7, 7)
    assert tuple(net(x).shape) == (2, 512)
    assert tuple(net.retrieval_features(x).shape) == (2, 9216)
    assert tuple(net.retrieval_features(x, pool="avg").shape) == (2, 9216)


@pytest.mark.parametrize("name", available_backbones())
def test_small_forward_and_retrieval(name):
    net = build_backbone(name).eval()
    x = torch.randn(2, 3, max(8, net.min_frames), 32, 32)
    with torch.no_grad():
        fmap = net.forward_features(x)
        pooled = net(x)
        rmax, ravg = net.retrieval_features(x, "max"), net.retrieval_features(x, "avg")
    assert fmap.shape[:2] == (2, net.feat_dim)
    assert torch.allclose(pooled, fmap.mean(dim=(2, 3, 4)), atol=1e-6)
    assert rmax.shape == ravg.shape and rmax.shape[0] == 2
    assert (rmax >= ravg - 1e-6).all()
    with pytest.raises(ValueError):
        net.retrieval_features(x, "median")


def test_retrieval_is_vcop_maxpool():
    net = build_backbone("tiny").eval()
    x = torch.randn(1, 3, 8, 64, 64)
    with torch.no_grad():
        expected = nn.MaxPool3d((1, 2, 2))(net.forward_features(x)).flatten(1)
        assert torch.equal(net.retrieval_features(x), expected)


def test_c3d_needs_eight_frames_and_tiling():
    net = build_backbone("c3d").eval()
    assert net.min_frames == 8
    with pytest.raises(ValueError, match="at least 8 frames"):
        net(torch.randn(1, 3, 4, 16, 16))
    x = torch.randn(2, 3, 4, 16, 16)
    tiled = net.fit_time(x)
    assert tiled.shape[2] == 8
    assert torch.equal(tiled[:, :, :4], x) and torch.equal(tiled[:, :, 4:], x)
    with torch.no_grad():
        assert net(tiled).shape == (2, 512)
    assert tile_time(torch.randn(1, 3, 12, 4, 4), 8).shape[2] == 12  # long enough: unchanged
    assert tile_time(torch.randn(5, 1, 3, 3, 4, 4), 8).shape == (5, 1, 3, 9, 4, 4)  # extra leading dims, ceil


def test_c3d_architecture():
    net = C3D()
    convs = [m for m in net.modules() if isinstance(m, nn.Conv3d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 256, 512, 512, 512, 512]
    assert sum(isinstance(m, nn.BatchNorm3d) for m in net.modules()) == 8
    assert not any(isinstance(m, nn.Linear) for m in net.modules())
    pools = [m for m in net.modules() if isinstance(m, nn.MaxPool3d)]
    assert [p.kernel_size for p in pools] == [(1, 2, 2), 2, 2, 2]


@pytest.mark.parametrize("name", ["r3d", "r21d"])
def test_vcop_resnets(name):
    net = build_backbone(name)
    assert net.layer_sizes == (1, 1, 1, 1)
    assert sum(isinstance(m, ResBlock) for m in net.modules()) == 4
    assert not any(isinstance(m, (nn.MaxPool3d, nn.Linear)) for m in net.modules())
    first = next(m for m in net.modules() if isinstance(m, nn.Conv3d))
    assert first.stride == (1, 2, 2)
    deeper = build_backbone(name, layer_sizes=(2, 2, 2, 2))
    assert sum(isinstance(m, ResBlock) for m in deeper.modules()) == 8


def test_r21d_mid_channels_follow_tran_formula():
    assert r21d_mid_channels((3, 7, 7), 3, 64) == 83  # floor(3*49*3*64 / (49*3 + 3*64))
    assert r21d_mid_channels((3, 3, 3), 64, 64) == 144
    net = build_backbone("r21d")
    blocks = [m for m in net.modules() if isinstance(m, Conv2Plus1D)]
    assert blocks
    for b in blocks:
        kt = b.temporal.kernel_size[0]
        kh, kw = b.spatial.kernel_size[1:]
        assert b.spatial.kernel_size[0] == 1 and b.temporal.kernel_size[1:] == (1, 1)
        formula = r21d_mid_channels((kt, kh, kw), b.spatial.in_channels, b.temporal.out_channels)
        assert b.mid_channels == b.spatial.out_channels == formula
        assert isinstance(b.bn, nn.BatchNorm3d) and isinstance(b.relu, nn.ReLU)


@pytest.mark.parametrize("name", ["r3d_18", "r2plus1d_18"])
def test_torchvision_builders_never_download(name, monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("a backbone tried to download weights")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    net = build_backbone(name)
    assert isinstance(net, Backbone) and net.feat_dim == 512
    assert sum(len(layer) for layer in (net.layer1, net.layer2, net.layer3, net.layer4)) == 8  # (2, 2, 2, 2)


@pytest.mark.parametrize("t", [1, 4, 16])
def test_tiny_accepts_short_clips(t):
    net = build_backbone("tiny")
    out = net(torch.randn(2, 3, t, 56, 56))
    assert out.shape == (2, 128) and torch.isfinite(out).all()
    assert build_backbone("tiny", width=8).feat_dim == 64


def test_tiny_is_cheap():
    """The CPU default must stay small: well under 1 GFLOP (multiply-adds) for an [8, 3, 16, 56, 56] batch."""
    net = build_backbone("tiny")
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        net(torch.randn(8, 3, 16, 56, 56))
    assert counter.get_total_flops() / 2 < 1.0e9
    assert sum(p.numel() for p in net.parameters()) < 1_000_000
