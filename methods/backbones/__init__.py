"""Video backbones: ``build_backbone(name, **kw)``; see :class:`Backbone` for the interface."""

from __future__ import annotations

from typing import Any

from methods.backbones.base import BACKBONES, Backbone, tile_time
from methods.backbones.c3d import C3D
from methods.backbones.resnet3d import R2Plus1DNet, R3DNet
from methods.backbones.tiny import Tiny3D
from methods.backbones.torchvision_nets import TorchvisionResNet3D


def available_backbones() -> list[str]:
    return BACKBONES.names()


def build_backbone(name: str, **kw: Any) -> Backbone:
    """Build a registered backbone by name (``available_backbones()``: c3d, r3d, r3d_3463, r21d, r3d_18,
    r2plus1d_18, tiny). Keyword arguments go to the class (``layer_sizes`` for ``r3d``/``r21d``, ``width`` for
    ``tiny``, ``in_channels`` for the VCOP-style nets and ``tiny``)."""
    return BACKBONES.get(name)(**kw)


__all__ = [
    "BACKBONES",
    "Backbone",
    "C3D",
    "R2Plus1DNet",
    "R3DNet",
    "Tiny3D",
    "TorchvisionResNet3D",
    "available_backbones",
    "build_backbone",
    "tile_time",
]
