"""torchvision's ``r3d_18`` and ``r2plus1d_18`` (layers (2, 2, 2, 2)), built with ``weights=None`` (never downloads)."""

from __future__ import annotations

import torch

from methods.backbones.base import BACKBONES, Backbone


class TorchvisionResNet3D(Backbone):
    """Keeps torchvision's stem and layer1-layer4 unchanged; drops its avgpool and fc."""

    ARCHS = ("r3d_18", "r2plus1d_18")

    def __init__(self, arch: str = "r3d_18"):
        super().__init__()
        if arch not in self.ARCHS:
            raise ValueError(f"arch must be one of {self.ARCHS}, got {arch!r}")
        from torchvision.models import video as tv_video  # lazy: the import costs ~2.4 s per process

        net = getattr(tv_video, arch)(weights=None)
        self.arch = arch
        self.stem = net.stem
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        self.feat_dim = int(net.fc.in_features)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        return self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))


@BACKBONES.register("r3d_18")
def r3d_18(**kw) -> TorchvisionResNet3D:
    return TorchvisionResNet3D("r3d_18", **kw)


@BACKBONES.register("r2plus1d_18")
def r2plus1d_18(**kw) -> TorchvisionResNet3D:
    return TorchvisionResNet3D("r2plus1d_18", **kw)
