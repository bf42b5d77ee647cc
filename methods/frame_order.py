"""Clip / frame order methods on 3D backbones: Shuffle&Learn-style verification and OPN-style sorting.

One switch, ``level``, sets what an item of a tuple is (and so the sampler):

- ``level='clip'`` (default): every item is a clip of ``clip_len`` frames, consecutive clips ``gap`` frames apart
  (``ClipTuple``, VCOP's sampler). The encoder is trained on the kind of input it is judged on (multi-frame clips), and
  every temporal tap of its 3x3x3 kernels sees real frames and receives gradient.
- ``level='frame'``: every item is a single frame, consecutive frames ``spacing`` frames apart (``FrameTuple`` with
  ``clip_len=1``), tiled along time to the backbone's ``min_frames`` (Shuffle&Learn's and OPN's own setting, the
  suite's default until 2026-12-02; ``clip_len`` and ``gap`` are then unused). Not the default on 3D backbones: a
  1-frame input (``min_frames`` 1, e.g. ``tiny``, ``r3d``) leaves the outer temporal taps of every padded 3x3x3 kernel
  on zero padding, so they get no gradient at all; a frame tiled to ``min_frames`` (``c3d``: 8) is constant in time, so
  the taps of a kernel see the same input and get the same gradient up to the padded ends (they learn little more
  than their sum); yet the encoder is evaluated on 16-frame clips.

Clip length and gap (defaults): VCOP's 16-frame clips with gaps of 8 do not fit: 5 clips (sorder) span 112 frames,
4 clips (opn) 88, while the embedded sets guarantee 64 frames (``tiny`` 64, ``small`` 72; VCOP's 3 x 16 + 2 x 8 = 64
is what the generator sizes for). With 16-frame clips no gap fits sorder's 5 clips in 64 frames and opn's 4 only
with a gap of 0 (adjacent clips: order readable from frame continuity at the boundaries). So both use 8-frame clips
(the backbone still sees 8 real frames in time, every temporal tap gets gradient) with the widest gap that keeps the
tuple within VCOP's 64-frame span: sorder ``gap=6`` (5 x 8 + 4 x 6 = 64), opn VCOP's ``gap=8`` (4 x 8 + 3 x 8 = 56).
On longer videos (real UCF101/HMDB51) ``clip_len=16 gap=8`` is VCOP's geometry exactly.

Both encode every item of a tuple with the shared encoder in one call.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

from methods.backbones import Backbone
from methods.base import MethodOutput, PretextMethod
from methods.heads import ConcatMLPHead, PairwiseOrderHead
from methods.losses import classification_loss, top1_accuracy
from methods.ordering import gather_items, per_sample_uniform, reversal_class_table
from methods.registry import register

SORDER_NEGATIVES = ("outside", "shuffle")
LEVELS = ("clip", "frame")


def tuple_sampler(level: str, num: int, clip_len: int, gap: int, spacing: int):
    """The sampler of ``num`` ordered items at ``level``: ``ClipTuple(num, clip_len, gap)`` for clips,
    ``FrameTuple(num, clip_len=1, spacing)`` for single frames."""
    from datasets.samplers import ClipTuple, FrameTuple

    if level == "clip":
        return ClipTuple(num_clips=num, clip_len=clip_len, gap=gap)
    return FrameTuple(num=num, clip_len=1, spacing=spacing)


def _check_level(level: str, clip_len: int, gap: int, spacing: int) -> None:
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    if clip_len < 1 or gap < 0 or spacing < 1:
        raise ValueError(f"need clip_len >= 1, gap >= 0 and spacing >= 1, got {clip_len}, {gap}, {spacing}")


@register("sorder")
class ShuffleVerification(PretextMethod):
    """Shuffle&Learn-style binary verification: "are these 3 clips (or frames, ``level='frame'``) in temporal order?".

    Sampling (documented choice): the sampler gives 5 ordered items (a, b, c, d, e), equally spaced (see the module
    docstring for ``level``; 5 clips of ``clip_len`` frames with gaps of ``gap`` span ``5 * clip_len + 4 * gap``). With
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
        level: str = "clip",
        clip_len: int = 8,
        gap: int = 6,
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
        _check_level(level, int(clip_len), int(gap), int(spacing))
        self.level, self.clip_len, self.gap, self.spacing = level, int(clip_len), int(gap), int(spacing)
        self.pos_fraction, self.negatives, self.reverse = float(pos_fraction), negatives, bool(reverse)
        self.head = ConcatMLPHead(3, backbone.feat_dim, 2, hidden, dropout)
        # non-monotonic orders of the items (1, 2, 3) for negatives='shuffle'
        self.register_buffer(
            "shuffled_orders", torch.tensor([[1, 3, 2], [2, 1, 3], [2, 3, 1], [3, 1, 2]]), persistent=False
        )

    def sampler(self):
        return tuple_sampler(self.level, 5, self.clip_len, self.gap, self.spacing)

    def pretext_chance(self) -> float:
        return max(self.pos_fraction, 1.0 - self.pos_fraction)  # always answering the more frequent class

    def make_tuples(
        self, batch_size: int, device: torch.device, seeds: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Indices into the 5 sampled items ``[B, 3]`` and binary labels ``[B]`` (1 = in order). Sample b's draws
        (positive or not, which negative, reversed or not) come from ``seeds[b]`` (``batch["sample_seed"]``), or
        from torch's global RNG without seeds (:func:`methods.ordering.per_sample_uniform`)."""
        u = per_sample_uniform(batch_size, 3, device, seeds)
        positive = u[:, 0] < self.pos_fraction
        pos_idx = torch.tensor([1, 2, 3], device=device).expand(batch_size, 3)
        if self.negatives == "outside":
            middle = torch.where(u[:, 1] < 0.5, 0, 4)
            neg_idx = torch.stack([torch.full_like(middle, 1), middle, torch.full_like(middle, 3)], dim=1)
        else:
            neg_idx = self.shuffled_orders[(u[:, 1] * 4).long().clamp_max(3)]
        idx = torch.where(positive.unsqueeze(1), pos_idx, neg_idx)
        if self.reverse:
            idx = torch.where((u[:, 2] < 0.5).unsqueeze(1), idx.flip(1), idx)
        return idx, positive.long()

    def forward(self, batch: Mapping[str, Any]) -> MethodOutput:
        clips = self._clips(batch, 5)
        idx, labels = self.make_tuples(clips.shape[0], clips.device, batch.get("sample_seed"))
        feats = self.encode_items(self.preprocess(gather_items(clips, idx)))
        logits = self.head(feats)
        loss = classification_loss(logits, labels)
        acc = top1_accuracy(logits, labels)
        return MethodOutput(loss=loss, accuracy=acc, logs={"loss_verify": loss.detach(), "acc_verify": acc})


@register("opn")
class OrderPrediction(PretextMethod):
    """OPN-style sorting: K=4 clips (or frames, ``level='frame'``; see the module docstring), one of K!/2 = 12
    classes, a permutation and its reverse sharing a class. Per sample a class and a direction are drawn; the head
    is :class:`PairwiseOrderHead` (shared fc over the 6 pairs, concat, Dropout, Linear -> 12).
    """

    def __init__(
        self,
        backbone: Backbone,
        num_classes: int | None = None,
        *,
        num_frames: int = 4,
        level: str = "clip",
        clip_len: int = 8,
        gap: int = 8,
        spacing: int = 8,
        hidden: int = 512,
        dropout: float = 0.5,
    ):
        super().__init__(backbone)
        _check_level(level, int(clip_len), int(gap), int(spacing))
        self.num_frames, self.level = int(num_frames), level
        self.clip_len, self.gap, self.spacing = int(clip_len), int(gap), int(spacing)
        self.register_buffer("class_table", reversal_class_table(self.num_frames), persistent=False)
        n_cls = self.class_table.shape[0]
        self.head = PairwiseOrderHead(self.num_frames, backbone.feat_dim, n_cls, hidden, dropout)

    def sampler(self):
        return tuple_sampler(self.level, self.num_frames, self.clip_len, self.gap, self.spacing)

    def pretext_chance(self) -> float:
        return 1.0 / self.class_table.shape[0]

    def forward(self, batch: Mapping[str, Any]) -> MethodOutput:
        clips = self._clips(batch, self.num_frames)
        b, device = clips.shape[0], clips.device
        n_cls = self.class_table.shape[0]
        u = per_sample_uniform(b, 2, device, batch.get("sample_seed"))  # a class and a direction per sample
        labels = (u[:, 0] * n_cls).long().clamp_max(n_cls - 1)
        perms = self.class_table[labels]
        backward = (u[:, 1] < 0.5).unsqueeze(1)
        perms = torch.where(backward, perms.flip(1), perms)
        feats = self.encode_items(self.preprocess(gather_items(clips, perms)))
        logits = self.head(feats)
        loss = classification_loss(logits, labels)
        acc = top1_accuracy(logits, labels)
        return MethodOutput(loss=loss, accuracy=acc, logs={"loss_order": loss.detach(), "acc_order": acc})
