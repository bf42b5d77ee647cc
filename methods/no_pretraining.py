"""``random``: the randomly initialised encoder, no pretraining (the lower-bound baseline)."""

from __future__ import annotations

from typing import Any, Mapping

from methods.backbones import Backbone
from methods.base import MethodOutput, PretextMethod
from methods.registry import register


@register("random")
class RandomInit(PretextMethod):
    """Nothing to train: ``pretrains = False``; protocols evaluate ``encoder`` as initialised (seeded)."""

    pretrains = False

    def __init__(self, backbone: Backbone, num_classes: int | None = None, *, clip_len: int = 16):
        super().__init__(backbone)
        self.clip_len = int(clip_len)

    def sampler(self):
        from datasets.samplers import SingleClip

        return SingleClip(clip_len=self.clip_len)

    def forward(self, batch: Mapping[str, Any]) -> MethodOutput:
        raise RuntimeError("method 'random' does not pretrain (pretrains=False); evaluate its encoder directly")
