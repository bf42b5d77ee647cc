"""The interface every pretext method implements (see the contract in the project docs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

import torch
from torch import nn

from methods.backbones import Backbone


@dataclass(frozen=True)
class Augmentation:
    """The pretraining augmentation a method asks for (the fine-tune protocol augments every method alike).

    ``colour``: colour jitter (``input.jitter`` with probability ``input.jitter_p``) on the method's pretraining clips.
    ``mirror``: horizontal flips where ``input.flip`` allows them (``auto``: only datasets a mirror keeps labelled).
    ``shared``: one draw of the random parameters (crop box, flip, colour factors) for all K clips of a sample, so that
    the clips differ only in what the pretext task asks about (SpeedNet's normal and sped-up versions of one clip);
    otherwise every clip draws its own, as VCOP/TCGL's released datasets crop every clip of a tuple independently.
    """

    colour: bool = True
    mirror: bool = True
    shared: bool = False


@dataclass
class MethodOutput:
    """What ``PretextMethod.forward`` returns.

    ``loss``: scalar to back-propagate. ``accuracy``: scalar float tensor, the pretext accuracy (order, speed, ...)
    in [0, 1], detached. ``logs``: extra detached scalars (loss components, ...), keyed by name.
    """

    loss: torch.Tensor
    accuracy: torch.Tensor
    logs: dict[str, torch.Tensor] = field(default_factory=dict)


class PretextMethod(nn.Module):
    """A method owns an encoder (``self.encoder``, the backbone every protocol evaluates) and its pretext heads.

    Subclasses set ``pretrains`` (False when there is nothing to train, e.g. ``random``), implement
    :meth:`sampler` (the clip sampler their batches come from), override :meth:`augmentation` where they need other
    than per-clip colour jitter and mirroring, and implement :meth:`forward` (loss from a collated batch
    ``{'clips': [B, K, C, T, H, W], 'meta': [B, K], 'label': [B], 'index': [B], 'sample_seed': [B]}``; draw per-sample
    randomness from ``sample_seed`` (``methods.ordering.sample_uniform``) so that it does not depend on how a batch is
    split across processes). ``forward`` applies the method's
    own input transform itself; protocols apply :meth:`preprocess` before the encoder at evaluation time
    (:meth:`encode` does both).
    """

    #: Registry name, set by ``methods.registry.register``.
    name: ClassVar[str] = ""
    #: False for methods with nothing to pretrain (the training loop skips them).
    pretrains: ClassVar[bool] = True
    #: ``batched``: :meth:`encode_items` encodes all B*K clips in one backbone call; ``per_position``: one call of B
    #: clips per tuple position, as the released VCOP / TCGL code does (``recipe.backbone_calls``): BatchNorm then
    #: normalises each position's clips with their own batch statistics and updates its running statistics once per
    #: position. Set by experiment/app.py from the recipe.
    backbone_calls: str = "batched"

    def __init__(self, backbone: Backbone):
        super().__init__()
        if not isinstance(backbone, Backbone):
            raise TypeError(f"backbone must be a methods.backbones.Backbone, got {type(backbone).__name__}")
        self.encoder = backbone

    def sampler(self) -> Any:
        """A ``datasets.samplers`` instance giving the clips this method needs."""
        raise NotImplementedError

    def augmentation(self) -> Augmentation:
        """The pretraining augmentation this method needs: by default colour jitter and mirroring, drawn per clip."""
        return Augmentation()

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """Input transform also applied at evaluation; ``x`` is ``[..., C, T, H, W]``. Identity by default."""
        return x

    def eval_transform(self) -> dict:
        """What :meth:`preprocess` does at evaluation, as plain values (``{}``: nothing, the identity). Two methods
        with the same description evaluate an encoder identically; a method whose description is not empty has its
        own untrained control (``control=untrained``), the others share ``random``'s."""
        return {}

    def pretext_chance(self) -> float | None:
        """Pretext accuracy of a guess that ignores the input (1 / the number of balanced classes); None when the
        method has no pretext task."""
        return None

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Evaluation-time features of clips ``[B, C, T, H, W]``: ``encoder(preprocess(x))``."""
        return self.encoder(self.encoder.fit_time(self.preprocess(x)))

    def encode_items(self, x: torch.Tensor) -> torch.Tensor:
        """Encode ``[B, K, C, T, H, W]``: one backbone call of ``B*K`` clips, or K calls of B clips in position order
        (``backbone_calls='per_position'``); returns ``[B, K, feat_dim]``.

        Clips shorter than the backbone's ``min_frames`` are tiled along time first.
        """
        b, k = x.shape[:2]
        if self.backbone_calls == "per_position":
            return torch.stack([self.encoder(self.encoder.fit_time(x[:, i])) for i in range(k)], 1)
        flat = self.encoder.fit_time(x.flatten(0, 1))
        return self.encoder(flat).view(b, k, -1)

    def forward(self, batch: Mapping[str, torch.Tensor]) -> MethodOutput:  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def _clips(batch: Mapping[str, torch.Tensor], num_items: int | None = None) -> torch.Tensor:
        clips = batch["clips"]
        if clips.dim() != 6:
            raise ValueError(f"batch['clips'] must be [B, K, C, T, H, W], got shape {tuple(clips.shape)}")
        if num_items is not None and clips.shape[1] != num_items:
            raise ValueError(f"expected K={num_items} clips per sample, got K={clips.shape[1]}")
        return clips
