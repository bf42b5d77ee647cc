"""VCOP (Xu et al., CVPR 2019): predict the order of K shuffled clips among the K! permutations."""

from __future__ import annotations

import math
from typing import Any, Mapping

from methods.backbones import Backbone
from methods.base import Augmentation, MethodOutput, PretextMethod
from methods.heads import PairwiseOrderHead
from methods.losses import classification_loss, top1_accuracy
from methods.ordering import gather_items, random_permutations
from methods.registry import register


@register("vcop")
class VCOP(PretextMethod):
    """Clips come in temporal order (``ClipTuple``); each sample gets a random permutation drawn on the batch's
    device, whose lexicographic rank is the label. Head: :class:`PairwiseOrderHead` (fc 2D->512 per pair, ReLU,
    concat, Dropout 0.5, Linear -> K!).

    Pretraining augmentation as released (``train_vcop.py``): each clip of a tuple gets its own random crop, with no
    colour jitter (a ColorJitter is built but never handed to the dataset) and no mirroring; ``colour_jitter=True``
    and ``mirror=True`` switch on ``input.jitter`` and ``input.flip``.
    """

    def __init__(
        self,
        backbone: Backbone,
        num_classes: int | None = None,
        *,
        num_clips: int = 3,
        clip_len: int = 16,
        gap: int = 8,
        hidden: int = 512,
        dropout: float = 0.5,
        colour_jitter: bool = False,
        mirror: bool = False,
    ):
        super().__init__(backbone)
        if not 2 <= num_clips <= 4:
            raise ValueError(f"VCOP uses 2-4 clips, got {num_clips}")
        self.num_clips, self.clip_len, self.gap = int(num_clips), int(clip_len), int(gap)
        self.colour_jitter, self.mirror = bool(colour_jitter), bool(mirror)
        num_orders = math.factorial(self.num_clips)
        self.head = PairwiseOrderHead(self.num_clips, backbone.feat_dim, num_orders, hidden, dropout)

    def sampler(self):
        from datasets.samplers import ClipTuple

        return ClipTuple(num_clips=self.num_clips, clip_len=self.clip_len, gap=self.gap)

    def augmentation(self) -> Augmentation:
        return Augmentation(colour=self.colour_jitter, mirror=self.mirror)

    def pretext_chance(self) -> float:
        return 1.0 / math.factorial(self.num_clips)

    def forward(self, batch: Mapping[str, Any]) -> MethodOutput:
        clips = self._clips(batch, self.num_clips)
        perms, labels = random_permutations(clips.shape[0], self.num_clips, clips.device, batch.get("sample_seed"))
        feats = self.encode_items(self.preprocess(gather_items(clips, perms)))
        logits = self.head(feats)
        loss = classification_loss(logits, labels)
        acc = top1_accuracy(logits, labels)
        return MethodOutput(loss=loss, accuracy=acc, logs={"loss_order": loss.detach(), "acc_order": acc})
