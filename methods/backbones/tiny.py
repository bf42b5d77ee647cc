"""A 4-layer 3D CNN for CPU smoke runs and tests (128-d with the default width)."""

from __future__ import annotations

import torch
from torch import nn

from methods.backbones.base import BACKBONES, Backbone, init_conv_bn


@BACKBONES.register("tiny")
class Tiny3D(Backbone):
    """Conv3d 3x3x3 + BN + ReLU, four times; channels w, 2w, 4w, 8w (feat_dim = 8w).

    Layers 1-2 halve H and W, layers 3-4 halve T, H and W (padding 1, so any T >= 1 works, also T = 1).
    An [8, 3, 16, 56, 56] batch takes about 0.1 s forward on one CPU core at width 16.
    """

    def __init__(self, width: int = 16, in_channels: int = 3):
        super().__init__()
        w = int(width)
        chans = [in_channels, w, 2 * w, 4 * w, 8 * w]
        strides = [(1, 2, 2), (1, 2, 2), (2, 2, 2), (2, 2, 2)]
        layers: list[nn.Module] = []
        for cin, cout, s in zip(chans[:-1], chans[1:], strides):
            conv = nn.Conv3d(cin, cout, 3, stride=s, padding=1, bias=False)
            layers += [conv, nn.BatchNorm3d(cout), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.feat_dim = 8 * w
        init_conv_bn(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        return self.features(x)
