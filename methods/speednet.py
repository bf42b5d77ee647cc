"""SpeedNet-style playback-speed classification on 3D backbones (no official code exists; see the method doc)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import nn

from methods.backbones import Backbone
from methods.base import Augmentation, MethodOutput, PretextMethod
from methods.losses import classification_loss, top1_accuracy
from methods.registry import register

MULTI_RATES = (1, 2, 4, 8)


@register("speednet")
class SpeedNet(PretextMethod):
    """Normal speed vs 2x sped-up (``rates=(1, 2)``), both versions of the same clip in the same batch
    (``SpeedClips`` gives one clip per rate from a common start; ``meta`` holds the rates).

    Encoder -> global average pool -> Linear(D, R) -> cross-entropy over the R rates (for R=2 this is the binary
    logistic loss on the logit difference). ``multi_rate=True`` selects the PRP/Pace-style 4-way task over
    rates (1, 2, 4, 8). Label = index of the clip's rate in ``rates``.

    ``shared_augmentation=True`` (default, our choice: no official code) gives the versions of a clip one crop, flip
    and colour draw, so that within a sample they differ only in speed; ``False`` draws one per version.
    """

    def __init__(
        self,
        backbone: Backbone,
        num_classes: int | None = None,
        *,
        clip_len: int = 16,
        multi_rate: bool = False,
        rates: Sequence[int] | None = None,
        shared_augmentation: bool = True,
    ):
        super().__init__(backbone)
        if rates is None:
            rates = MULTI_RATES if multi_rate else (1, 2)
        rates = tuple(int(r) for r in rates)
        if len(rates) < 2 or len(set(rates)) != len(rates):
            raise ValueError(f"need at least 2 distinct rates, got {rates}")
        self.clip_len, self.rates = int(clip_len), rates
        self.shared_augmentation = bool(shared_augmentation)
        self.register_buffer("rate_values", torch.tensor(rates, dtype=torch.float32), persistent=False)
        self.head = nn.Linear(backbone.feat_dim, len(rates))

    def sampler(self):
        from datasets.samplers import SpeedClips

        return SpeedClips(clip_len=self.clip_len, rates=self.rates)

    def augmentation(self) -> Augmentation:
        return Augmentation(shared=self.shared_augmentation)

    def pretext_chance(self) -> float:
        return 1.0 / len(self.rates)  # every clip comes at every rate: the classes are balanced

    def rate_labels(self, meta: torch.Tensor) -> torch.Tensor:
        """``meta [B, K]`` (playback rate of every clip) -> label ``[B, K]`` (index into ``rates``)."""
        match = torch.isclose(meta.float().unsqueeze(-1), self.rate_values)  # [B, K, R]
        if not bool(match.any(-1).all()):
            raise ValueError(f"batch meta holds rates outside {self.rates}: {meta.unique().tolist()}")
        return match.float().argmax(-1)

    def forward(self, batch: Mapping[str, Any]) -> MethodOutput:
        clips = self._clips(batch)
        meta = batch.get("meta")
        if meta is None:  # sampler order: one clip per rate, in the order of ``rates``
            if clips.shape[1] != len(self.rates):
                raise ValueError("batch has no 'meta' and K differs from the number of rates")
            labels = torch.arange(len(self.rates), device=clips.device).expand(clips.shape[0], -1)
        else:
            labels = self.rate_labels(meta.to(clips.device))
        feats = self.encode_items(self.preprocess(clips))  # both speeds of every clip in one call
        logits = self.head(feats.flatten(0, 1))
        labels = labels.flatten()
        loss = classification_loss(logits, labels)
        acc = top1_accuracy(logits, labels)
        return MethodOutput(loss=loss, accuracy=acc, logs={"loss_speed": loss.detach(), "acc_speed": acc})
