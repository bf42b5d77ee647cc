"""VCOP-style R3DNet and R2Plus1DNet (``layer_sizes=(1, 1, 1, 1)`` by default, 512-d).

conv1 is a 3x7x7 convolution with stride (1, 2, 2) and no max-pool; stages conv3-conv5 halve T, H and W.
In R(2+1)D every 3D convolution t x d x d is factorised into a spatial 1 x d x d convolution to M channels, BatchNorm,
ReLU and a temporal t x 1 x 1 convolution, with Tran et al.'s M = floor(t d^2 N_in N_out / (d^2 N_in + t N_out)).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from methods.backbones.base import BACKBONES, Backbone, init_conv_bn


def _triple(v: int | Sequence[int]) -> tuple[int, int, int]:
    if isinstance(v, int):
        return (v, v, v)
    t = tuple(int(i) for i in v)
    if len(t) != 3:
        raise ValueError(f"expected 3 values, got {v!r}")
    return t  # type: ignore[return-value]


def r21d_mid_channels(kernel: Sequence[int], cin: int, cout: int) -> int:
    """Tran et al.'s mid-channel count keeping the (2+1)D block's parameter count close to the 3D one."""
    t, h, w = _triple(kernel)
    return (t * h * w * cin * cout) // (h * w * cin + t * cout)


def conv3d(cin: int, cout: int, kernel, stride=1, padding=0) -> nn.Module:
    """Plain 3D convolution (R3D); no bias because a BatchNorm follows."""
    return nn.Conv3d(cin, cout, _triple(kernel), _triple(stride), _triple(padding), bias=False)


class Conv2Plus1D(nn.Module):
    """Spatial (1 x d x d) conv -> BN -> ReLU -> temporal (t x 1 x 1) conv."""

    def __init__(self, cin: int, cout: int, kernel, stride=1, padding=0):
        super().__init__()
        kt, kh, kw = _triple(kernel)
        st, sh, sw = _triple(stride)
        pt, ph, pw = _triple(padding)
        mid = r21d_mid_channels((kt, kh, kw), cin, cout)
        self.mid_channels = mid
        self.spatial = nn.Conv3d(cin, mid, (1, kh, kw), (1, sh, sw), (0, ph, pw), bias=False)
        self.bn = nn.BatchNorm3d(mid)
        self.relu = nn.ReLU(inplace=True)
        self.temporal = nn.Conv3d(mid, cout, (kt, 1, 1), (st, 1, 1), (pt, 0, 0), bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.temporal(self.relu(self.bn(self.spatial(x))))


ConvFactory = Callable[..., nn.Module]


class ResBlock(nn.Module):
    """Two 3x3x3 convolutions with BN; the first strides by 2 (and a 1x1x1 projection shortcut) when down-sampling."""

    def __init__(self, conv: ConvFactory, cin: int, cout: int, downsample: bool):
        super().__init__()
        stride = 2 if downsample else 1
        self.conv1 = conv(cin, cout, 3, stride=stride, padding=1)
        self.bn1 = nn.BatchNorm3d(cout)
        self.conv2 = conv(cout, cout, 3, stride=1, padding=1)
        self.bn2 = nn.BatchNorm3d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if downsample or cin != cout:
            self.shortcut = nn.Sequential(conv(cin, cout, 1, stride=stride, padding=0), nn.BatchNorm3d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


def _stage(conv: ConvFactory, cin: int, cout: int, blocks: int, downsample: bool) -> nn.Sequential:
    if blocks < 1:
        raise ValueError("every stage needs at least one block")
    layers = [ResBlock(conv, cin, cout, downsample)]
    layers += [ResBlock(conv, cout, cout, False) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class _VCOPResNet(Backbone):
    conv_factory: ConvFactory

    def __init__(self, layer_sizes: Sequence[int] = (1, 1, 1, 1), in_channels: int = 3):
        super().__init__()
        sizes = tuple(int(s) for s in layer_sizes)
        if len(sizes) != 4:
            raise ValueError(f"layer_sizes needs 4 entries, got {layer_sizes!r}")
        conv = type(self).conv_factory
        self.layer_sizes = sizes
        self.conv1 = nn.Sequential(
            conv(in_channels, 64, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3)),
            nn.BatchNorm3d(64),
            nn.ReLU(inplace=True),
        )
        self.conv2 = _stage(conv, 64, 64, sizes[0], downsample=False)
        self.conv3 = _stage(conv, 64, 128, sizes[1], downsample=True)
        self.conv4 = _stage(conv, 128, 256, sizes[2], downsample=True)
        self.conv5 = _stage(conv, 256, 512, sizes[3], downsample=True)
        self.feat_dim = 512
        init_conv_bn(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        return self.conv5(self.conv4(self.conv3(self.conv2(self.conv1(x)))))


@BACKBONES.register("r3d")
class R3DNet(_VCOPResNet):
    """VCOP's R3DNet: full 3x3x3 convolutions."""

    conv_factory = staticmethod(conv3d)


@BACKBONES.register("r21d")
class R2Plus1DNet(_VCOPResNet):
    """VCOP's R2Plus1DNet: every convolution (shortcuts included) factorised into (2+1)D."""

    conv_factory = staticmethod(Conv2Plus1D)


@BACKBONES.register("r3d_3463")
def r3d_3463(layer_sizes=(3, 4, 6, 3), **kw) -> R3DNet:
    """The released TCGL UCF101 R3D: R3DNet with (3, 4, 6, 3) blocks."""
    return R3DNet(layer_sizes, **kw)
