"""C3D as used by VCOP / TCGL: 8 convolutions with BatchNorm, 512-d, global average pool, no fc layers."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from methods.backbones.base import BACKBONES, Backbone, init_conv_bn


def _conv(name: str, cin: int, cout: int) -> list[tuple[str, nn.Module]]:
    return [
        (f"conv{name}", nn.Conv3d(cin, cout, kernel_size=3, padding=1)),
        (f"bn{name}", nn.BatchNorm3d(cout)),
        (f"relu{name}", nn.ReLU(inplace=True)),
    ]


@BACKBONES.register("c3d")
class C3D(Backbone):
    """Channels 64-128-256-256-512-512-512-512; pool1 is spatial only, pool2-pool4 halve T, H and W.

    The conv5 map of a 16x112x112 clip is 512x2x7x7. Three temporal poolings mean a clip needs 8 frames
    (``min_frames = 8``): TCGL tiles its 4-frame frame-sets to 8 frames.
    """

    min_frames = 8

    def __init__(self, in_channels: int = 3):
        super().__init__()
        layers: list[tuple[str, nn.Module]] = []
        layers += _conv("1", in_channels, 64) + [("pool1", nn.MaxPool3d((1, 2, 2), (1, 2, 2)))]
        layers += _conv("2", 64, 128) + [("pool2", nn.MaxPool3d(2, 2))]
        layers += _conv("3a", 128, 256) + _conv("3b", 256, 256) + [("pool3", nn.MaxPool3d(2, 2))]
        layers += _conv("4a", 256, 512) + _conv("4b", 512, 512) + [("pool4", nn.MaxPool3d(2, 2))]
        layers += _conv("5a", 512, 512) + _conv("5b", 512, 512)
        self.features = nn.Sequential(OrderedDict(layers))
        self.feat_dim = 512
        init_conv_bn(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        return self.features(x)
