"""Video backbones: ``build_backbone(name, **kw)``; see :class:`Backbone` for the interface."""
from __future__ import annotations

from typing import Any, Callable

from methods.backbones.base import Backbone, tile_time
from methods.backbones.c3d import C3D
from methods.backbones.resnet3d import R2Plus1DNet, R3DNet
from methods.backbones.tiny import Tiny3D
from methods.backbones.torchvision_nets import TorchvisionResNet3D

_BUILDERS: dict[str, Callable[..., Backbone]] = {
    "c3d": C3D,
    "r3d": R3DNet,  # VCOP R3DNet, layer_sizes (1, 1, 1, 1) unless given
    "r3d_3463": lambda layer_sizes=(3, 4, 6, 3), **kw: R3DNet(layer_sizes, **kw),  # released TCGL UCF101 R3D
    "r21d": R2Plus1DNet,  # VCOP R2Plus1DNet, layer_sizes (1, 1, 1, 1) unless given
    "r3d_18": lambda **kw: TorchvisionResNet3D("r3d_18", **kw),
    "r2plus1d_18": lambda **kw: TorchvisionResNet3D("r2plus1d_18", **kw),
    "tiny": Tiny3D,
}


def available_backbones() -> list[str]:
    return sorted(_BUILDERS)


def build_backbone(name: str, **kw: Any) -> Backbone:
    """Build a backbone by name: ``c3d``, ``r3d``, ``r3d_3463``, ``r21d``, ``r3d_18``, ``r2plus1d_18`` or ``tiny``.

    Keyword arguments go to the class (``layer_sizes`` for ``r3d``/``r21d``, ``width`` for ``tiny``,
    ``in_channels`` for the VCOP-style nets and ``tiny``).
    """
    try:
        builder = _BUILDERS[name]
    except KeyError:
        raise ValueError(f"unknown backbone {name!r}; valid names: {', '.join(available_backbones())}") from None
    return builder(**kw)


__all__ = [
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
