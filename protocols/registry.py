"""The protocol interface and its registry: ``protocols=[linear,finetune,retrieval]`` selects registered protocols.

A protocol is one module of this package with a :class:`Protocol` subclass decorated ``@register("<name>")``, plus
its config ``protocols/conf/protocol/<name>.yaml`` (its section ``protocol.<name>``). The app (experiment/app.py)
gives each selected protocol an :class:`EvalInputs` per evaluation set and writes one record per :class:`Outcome`;
nothing else names a protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from runtime.registry import Registry


@dataclass
class EvalInputs:
    """What a protocol gets for one evaluation set."""

    method: Any  # the pretext method (methods.base.PretextMethod): its encoder and evaluation-time transform
    evalset: Any  # experiment.data.EvalSet: train / val / test / gallery entries, class count, label
    settings: Any  # Protocol.settings(cfg): this protocol's own section of the config
    device: torch.device
    seed: int
    features: dict | None  # frozen features by part (train, val, test) -> {pooled, retrieval, labels}; None unless
    # the protocol uses them (on ranks other than 0 the parts are None)
    make_dataset: Callable  # (entries, sampler, train, augment=None) -> a ClipDataset with the run's transforms


@dataclass
class Outcome:
    """A protocol's result on one evaluation set: its metrics, how many test videos they count, and the fields it
    adds to the record's ``extra``. ``metrics['train_skipped']`` (popped by the app) counts skipped training videos."""

    metrics: dict[str, float]
    n_videos: int
    extra: dict = field(default_factory=dict)


class Protocol:
    """One evaluation protocol. ``uses_features``: it reads the frozen features of the train, val and test parts
    (extracted once per set and cached); ``all_ranks``: in a multi-process job every rank runs it (fine-tuning),
    otherwise rank 0 alone does, on the features gathered from every rank."""

    name: ClassVar[str]
    uses_features: ClassVar[bool] = True
    all_ranks: ClassVar[bool] = False

    @classmethod
    def settings(cls, cfg) -> Any:
        """This protocol's settings from the run's config (by default its section ``protocol.<name>``)."""
        return cfg.protocol[cls.name]

    def run(self, inputs: EvalInputs) -> Outcome:
        raise NotImplementedError


def _check(name: str, cls) -> None:
    if not (isinstance(cls, type) and issubclass(cls, Protocol)):
        raise TypeError(f"@register({name!r}) needs a Protocol subclass, got {cls!r}")


# run.py is the entry point, pretrain.py and features.py serve the protocols without being one
PROTOCOLS: Registry[type[Protocol]] = Registry(
    "protocol", "protocols", check=_check, skip=("run", "registry"), set_name=True
)
register = PROTOCOLS.register


def available_protocols() -> list[str]:
    return PROTOCOLS.names()


def get_protocol(name: str) -> type[Protocol]:
    return PROTOCOLS.get(name)
