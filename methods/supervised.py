"""``supervised``: cross-entropy on the video labels of the pretraining split (the upper-bound baseline)."""
from __future__ import annotations

from typing import Any, Mapping

from torch import nn

from methods.backbones import Backbone
from methods.base import MethodOutput, PretextMethod
from methods.losses import classification_loss, top1_accuracy
from methods.registry import register


@register("supervised")
class Supervised(PretextMethod):
    """Encoder -> global average pool -> Dropout -> Linear(D, num_classes); accuracy = top-1 on the batch.

    Every clip of a sample (K >= 1) is a training example with the video's label.
    """

    def __init__(self, backbone: Backbone, num_classes: int | None = None, *, clip_len: int = 16, dropout: float = 0.0):
        super().__init__(backbone)
        if not num_classes or num_classes < 2:
            raise ValueError(f"supervised needs num_classes >= 2, got {num_classes!r}")
        self.clip_len, self.num_classes = int(clip_len), int(num_classes)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(backbone.feat_dim, self.num_classes))

    def sampler(self):
        from datasets.samplers import SingleClip

        return SingleClip(clip_len=self.clip_len)

    def forward(self, batch: Mapping[str, Any]) -> MethodOutput:
        clips = self._clips(batch)
        b, k = clips.shape[:2]
        labels = batch["label"].to(clips.device).repeat_interleave(k)
        logits = self.head(self.encode_items(self.preprocess(clips)).flatten(0, 1))
        loss = classification_loss(logits, labels)
        acc = top1_accuracy(logits, labels)
        return MethodOutput(loss=loss, accuracy=acc, logs={"loss_cls": loss.detach(), "acc_top1": acc})
