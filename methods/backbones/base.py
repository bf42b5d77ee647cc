"""Common interface of every video backbone (the encoder that protocols evaluate)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from runtime.registry import Registry


def tile_time(x: torch.Tensor, min_frames: int) -> torch.Tensor:
    """Repeat a clip ``[..., C, T, H, W]`` along time until it has at least ``min_frames`` frames.

    The clip is concatenated with itself (frames 0..T-1, 0..T-1, ...), which is what the released TCGL code does to
    feed 4-frame frame-sets to C3D (4 -> 8 frames). A clip that is long enough is returned unchanged.
    """
    t = x.shape[-3]
    if t >= min_frames:
        return x
    reps = math.ceil(min_frames / t)
    sizes = [1] * x.dim()
    sizes[-3] = reps
    return x.repeat(*sizes)


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """A CUDA clip batch ``[N, C, T, H, W]`` in channels_last_3d memory (cuDNN's fast layout for bf16 3D
    convolutions); a no-op when it already is and on CPU. Callers of ``forward_features`` apply it themselves."""
    if x.is_cuda and x.ndim == 5:
        return x.contiguous(memory_format=torch.channels_last_3d)
    return x


# ``backbone=<name>``: each backbone module registers its builders (``@BACKBONES.register("c3d")``)
BACKBONES = Registry("backbone", "methods.backbones")


class Backbone(nn.Module):
    """A 3D CNN mapping a clip ``[B, C, T, H, W]`` to a vector of ``feat_dim`` features.

    Subclasses implement :meth:`forward_features` (the conv5 map) and set ``feat_dim`` (its channel count) and,
    when the temporal down-sampling needs it, ``min_frames``.
    """

    feat_dim: int
    #: Shortest clip the network accepts; shorter clips are tiled along time by :meth:`fit_time`.
    min_frames: int = 1

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """conv5 feature map ``[B, C5, t, h, w]`` with ``C5 == feat_dim``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Globally average-pooled conv5 features ``[B, feat_dim]``. On CUDA the input is made channels_last_3d
        first (cuDNN's fast layout for 3D convolutions; a no-op when it already is): clips flattened from a
        ``[B, K, C, T, H, W]`` batch or coming out of STKD are plain contiguous."""
        return self.forward_features(channels_last(x)).mean(dim=(2, 3, 4))

    def fit_time(self, x: torch.Tensor) -> torch.Tensor:
        """Tile ``x`` along time to ``min_frames`` frames when it is shorter (see :func:`tile_time`)."""
        return tile_time(x, self.min_frames)

    def retrieval_features(
        self, x: torch.Tensor, pool: str = "max", kernel: tuple[int, int, int] = (1, 2, 2)
    ) -> torch.Tensor:
        """Flattened, locally pooled conv5 map ``[B, D]`` used for clip retrieval.

        ``pool='max'`` is VCOP's ``MaxPool3d((1, 2, 2))`` (e.g. C3D at 16x112x112: 512x2x7x7 -> 512x2x3x3 = 9,216-d);
        ``pool='avg'`` uses ``AvgPool3d`` with the same kernel (same dimension). When the map is smaller than the
        kernel (tiny test inputs) the kernel is clipped to the map size.
        """
        return self.retrieval_pool(self.forward_features(channels_last(x)), pool, kernel)

    @staticmethod
    def retrieval_pool(fmap: torch.Tensor, pool: str = "max", kernel: tuple[int, int, int] = (1, 2, 2)) -> torch.Tensor:
        """The pooling of :meth:`retrieval_features`, applied to a conv5 map computed elsewhere (one backbone pass
        then serves both the linear probe and retrieval)."""
        k = tuple(min(ki, si) for ki, si in zip(kernel, fmap.shape[2:]))
        if pool == "max":
            out = F.max_pool3d(fmap, kernel_size=k, stride=k)
        elif pool == "avg":
            out = F.avg_pool3d(fmap, kernel_size=k, stride=k)
        else:
            raise ValueError(f"pool must be 'max' or 'avg', got {pool!r}")
        return out.flatten(1)

    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 5:
            raise ValueError(f"{type(self).__name__} expects [B, C, T, H, W], got shape {tuple(x.shape)}")
        if x.shape[2] < self.min_frames:
            raise ValueError(
                f"{type(self).__name__} needs at least {self.min_frames} frames, got T={x.shape[2]}; "
                "tile the clip with fit_time()"
            )


def init_conv_bn(module: nn.Module) -> None:
    """The suite's initialisation (``recipe.init=kaiming``): Kaiming-normal (fan_out, ReLU) conv weights, zero conv
    biases, BN weight 1 / bias 0, as torchvision's video ResNets do. The released VCOP / TCGL backbones have no init
    code: they keep PyTorch's default initialisation (:func:`init_pytorch_default`, ``recipe.init=pytorch``)."""
    for m in module.modules():
        if isinstance(m, nn.Conv3d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm3d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def init_pytorch_default(module: nn.Module) -> None:
    """PyTorch's default initialisation of every built-in layer of ``module`` (convolutions, BatchNorm, linear
    layers: their own ``reset_parameters``), as the released VCOP / TCGL code leaves them (``recipe.init=pytorch``).
    Layers of ours that define their own initialisation (TCGL's GCN layers, glorot as PyTorch Geometric) keep it."""
    builtin = (nn.modules.conv._ConvNd, nn.modules.batchnorm._NormBase, nn.Linear)
    for m in module.modules():
        if isinstance(m, builtin):
            m.reset_parameters()
