"""Frame / short-clip order methods on 3D backbones: Shuffle&Learn-style verification and OPN-style sorting.

Both take ordered tuples from ``FrameTuple`` (``clip_len=1``: single frames, tiled along time to the backbone's
``min_frames``; ``clip_len>1``: short clips) and encode every item with the shared encoder in one call.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch

from methods.backbones import Backbone
from methods.base import MethodOutput, PretextMethod
from methods.heads import ConcatMLPHead, PairwiseOrderHead
from methods.losses import classification_loss, top1_accuracy
from methods.ordering import gather_items, reversal_class_table
from methods.registry import register

SORDER_NEGATIVES = ("outside", "shuffle")


@register("sorder")
class ShuffleVerification(PretextMethod):
    """Shuffle&Learn-style binary verification: "are these 3 frames (or short clips) in temporal order?".

    Sampling (documented choice): the sampler gives 5 ordered items (a, b, c, d, e), equally spaced. With
    probability ``pos_fraction`` the tuple is the positive (b, c, d); otherwise a negative:
    - ``negatives='outside'`` (Shuffle&Learn): the middle item is replaced by a or e -> (b, a, d) or (b, e, d);
    - ``negatives='shuffle'``: a random order of (b, c, d) that is neither forward nor backward.
    With ``reverse=True`` every tuple is reversed with probability 1/2, so positives include (d, c, b) and the
    direction of time carries no label information (as in Shuffle&Learn).
    Head: concat of the 3 features -> MLP (``hidden=0`` gives Shuffle&Learn's single linear layer) -> 2 classes.
    """

    def __init__(
        self,
        backbone: Backbone,
        num_classes: int | None = None,
        *,
        clip_len: int = 1,
        spacing: int = 8,
        pos_fraction: float = 0.5,
        negatives: str = "outside",
        reverse: bool = True,
        hidden: int = 512,
        dropout: float = 0.5,
    ):
        super().__init__(backbone)
        if negatives not in SORDER_NEGATIVES:
            raise ValueError(f"negatives must be one of {SORDER_NEGATIVES}, got {negatives!r}")
        if not 0.0 < pos_fraction < 1.0:
            raise ValueError(f"pos_fraction must be in (0, 1), got {pos_fraction}")
        self.clip_len, self.spacing = int(clip_len), int(spacing)
        self.pos_fraction, self.negatives, self.reverse = float(pos_fraction), negatives, bool(reverse)
        self.head = ConcatMLPHead(3, backbone.feat_dim, 2, hidden, dropout)
        # non-monotonic orders of the items (1, 2, 3) for negatives='shuffle'
        self.register_buffer(
            "shuffled_orders", torch.tensor([[1, 3, 2], [2, 1, 3], [2, 3, 1], [3, 1, 2]]), persistent=False
        )

    def sampler(self):
        from datasets.samplers import FrameTuple

        return FrameTuple(num=5, clip_len=self.clip_len, spacing=self.spacing)

    def pretext_chance(self) -> float:
        return max(self.pos_fraction, 1.0 - self.pos_fraction)  # always answering the more frequent class

    def make_tuples(self, batch_size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Indices into the 5 sampled items ``[B, 3]`` and binary labels ``[B]`` (1 = in order)."""
        positive = torch.rand(batch_size, device=device) < self.pos_fraction
        pos_idx = torch.tensor([1, 2, 3], device=device).expand(batch_size, 3)
        if self.negatives == "outside":
            middle = torch.where(torch.rand(batch_size, device=device) < 0.5, 0, 4)
            neg_idx = torch.stack([torch.full_like(middle, 1), middle, torch.full_like(middle, 3)], dim=1)
        else:
            neg_idx = self.shuffled_orders[torch.randint(4, (batch_size,), device=device)]
        idx = torch.where(positive.unsqueeze(1), pos_idx, neg_idx)
        if self.reverse:
            idx = torch.where((torch.rand(batch_size, device=device) < 0.5).unsqueeze(1), idx.flip(1), idx)
        return idx, positive.long()

    def forward(self, batch: Mapping[str, Any]) -> MethodOutput:
        clips = self._clips(batch, 5)
        idx, labels = self.make_tuples(clips.shape[0], clips.device)
        feats = self.encode_items(self.preprocess(gather_items(clips, idx)))
        logits = self.head(feats)
        loss = classification_loss(logits, labels)
        acc = top1_accuracy(logits, labels)
        return MethodOutput(loss=loss, accuracy=acc, logs={"loss_verify": loss.detach(), "acc_verify": acc})


@register("opn")
class OrderPrediction(PretextMethod):
    """OPN-style sorting: K=4 frames (or short clips), one of K!/2 = 12 classes, a permutation and its reverse
    sharing a class. Per sample a class and a direction are drawn; the head is :class:`PairwiseOrderHead`
    (shared fc over the 6 pairs, concat, Dropout, Linear -> 12).
    """

    def __init__(
        self,
        backbone: Backbone,
        num_classes: int | None = None,
        *,
        num_frames: int = 4,
        clip_len: int = 1,
        spacing: int = 8,
        hidden: int = 512,
        dropout: float = 0.5,
    ):
        super().__init__(backbone)
        self.num_frames, self.clip_len, self.spacing = int(num_frames), int(clip_len), int(spacing)
        self.register_buffer("class_table", reversal_class_table(self.num_frames), persistent=False)
        n_cls = self.class_table.shape[0]
        self.head = PairwiseOrderHead(self.num_frames, backbone.feat_dim, n_cls, hidden, dropout)

    def sampler(self):
        from datasets.samplers import FrameTuple

        return FrameTuple(num=self.num_frames, clip_len=self.clip_len, spacing=self.spacing)

    def pretext_chance(self) -> float:
        return 1.0 / self.class_table.shape[0]

    def forward(self, batch: Mapping[str, Any]) -> MethodOutput:
        clips = self._clips(batch, self.num_frames)
        b, device = clips.shape[0], clips.device
        labels = torch.randint(self.class_table.shape[0], (b,), device=device)
        perms = self.class_table[labels]
        backward = (torch.rand(b, device=device) < 0.5).unsqueeze(1)
        perms = torch.where(backward, perms.flip(1), perms)
        feats = self.encode_items(self.preprocess(gather_items(clips, perms)))
        logits = self.head(feats)
        loss = classification_loss(logits, labels)
        acc = top1_accuracy(logits, labels)
        return MethodOutput(loss=loss, accuracy=acc, logs={"loss_order": loss.detach(), "acc_order": acc})
