"""``supervised``: cross-entropy on the video labels of the pretraining split (the upper-bound baseline)."""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from methods.backbones import Backbone
from methods.base import Augmentation, MethodOutput, PretextMethod
from methods.losses import classification_loss, top1_accuracy
from methods.registry import register


@register("supervised")
class Supervised(PretextMethod):
    """Encoder -> global average pool -> Dropout -> Linear(D, num_classes); accuracy = top-1 on the batch.

    Every clip of a sample (K >= 1) is a training example with the video's label. ``num_clips`` > 1 draws K clips
    per video per step, spaced as a VCOP/TCGL tuple (``gap`` frames apart, in order), so that the supervised row sees
    the frames per sample that the clip-tuple methods see (3 x 16 with the config's values). ``colour_jitter``
    (default on) applies ``input.jitter`` to its clips, each clip its own draw.
    """

    def __init__(
        self,
        backbone: Backbone,
        num_classes: int | None = None,
        *,
        clip_len: int = 16,
        dropout: float = 0.0,
        num_clips: int = 3,
        gap: int = 8,
        colour_jitter: bool = True,
    ):
        super().__init__(backbone)
        if not num_classes or num_classes < 2:
            raise ValueError(f"supervised needs num_classes >= 2, got {num_classes!r}")
        if int(num_clips) < 1 or int(gap) < 0:
            raise ValueError(f"supervised needs num_clips >= 1 and gap >= 0, got {num_clips} and {gap}")
        self.clip_len, self.num_classes = int(clip_len), int(num_classes)
        self.num_clips, self.gap, self.colour_jitter = int(num_clips), int(gap), bool(colour_jitter)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(backbone.feat_dim, self.num_classes))

    def sampler(self):
        from datasets.samplers import ClipTuple, SingleClip

        if self.num_clips == 1:
            return SingleClip(clip_len=self.clip_len)
        return ClipTuple(num_clips=self.num_clips, clip_len=self.clip_len, gap=self.gap)

    def augmentation(self) -> Augmentation:
        return Augmentation(colour=self.colour_jitter)

    def pretext_chance(self) -> float:
        return 1.0 / self.num_classes

    def logits(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """Class scores [B*K, num_classes] of every clip of the batch, sample by sample."""
        return self.head(self.encode_items(self.preprocess(self._clips(batch))).flatten(0, 1))

    def forward(self, batch: Mapping[str, Any]) -> MethodOutput:
        k = self._clips(batch).shape[1]
        logits = self.logits(batch)
        labels = batch["label"].to(logits.device).repeat_interleave(k)
        loss = classification_loss(logits, labels)
        acc = top1_accuracy(logits, labels)
        return MethodOutput(loss=loss, accuracy=acc, logs={"loss_cls": loss.detach(), "acc_top1": acc})
