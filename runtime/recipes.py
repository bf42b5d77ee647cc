"""Training recipes: the suite's (``recipe=suite``) and the released code's (``recipe=released``, preset=paper).

``cfg.recipe`` holds one switch per difference from the released TCGL / VCOP code (protocols/conf/recipe/*.yaml;
methods/RECIPES.md lists them). What the release does per method (its lr schedule, fine-tuning recipe and
per-backbone settings) is the method config's ``released`` section. A method with no released code has none: under
``recipe=released`` it keeps the suite's optimiser, schedule and fine-tuning, and :func:`effective` says so.

Schedules share one interface: ``begin(epoch)`` before an epoch's training, ``end(epoch, metrics)`` after its
validation (``metrics``: the validation values by name), ``state_dict()`` / ``load_state_dict()`` for resuming.
"""

from __future__ import annotations

import logging

import torch
from omegaconf import DictConfig, OmegaConf

from runtime import engine

log = logging.getLogger(__name__)


def released_section(cfg: DictConfig) -> dict | None:
    """The method config's ``released`` section (plain), or None for a method without released code."""
    node = cfg.method.get("released")
    return OmegaConf.to_container(node, resolve=True) if node is not None else None


def effective(cfg: DictConfig) -> dict:
    """The recipe switches this run really uses: ``cfg.recipe``, with ``optimizer``, ``finetune`` and
    ``method_settings`` falling back to ``suite`` for a method that has no released code. Goes into every record."""
    r = OmegaConf.to_container(cfg.recipe, resolve=True)
    if released_section(cfg) is None:
        for key in ("optimizer", "finetune", "method_settings"):
            if r[key] == "released":
                r[key] = "suite"
                r.setdefault("fallback", []).append(key)
    return r


def describe_fallback(cfg: DictConfig) -> str | None:
    r = effective(cfg)
    if not r.get("fallback"):
        return None
    return (
        f"method={cfg.method.name} has no released code: recipe.{', recipe.'.join(r['fallback'])} use the "
        "suite's (methods/RECIPES.md)"
    )


def plain_sgd(
    model: torch.nn.Module,
    lr: float,
    momentum: float,
    weight_decay: float,
    groups: list[list[torch.nn.Parameter]] | None = None,
) -> torch.optim.SGD:
    """The released optimiser: ``torch.optim.SGD`` with plain (not Nesterov) momentum and weight decay on every
    parameter, biases and BatchNorm included; ``groups``: explicit parameter groups (each a list), lr set later."""
    params = [p for p in model.parameters() if p.requires_grad] if groups is None else [{"params": g} for g in groups]
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


class Schedule:
    """An lr schedule's hooks around each epoch, with its resumable state; the base does nothing."""

    def begin(self, epoch: int) -> None:
        pass

    def end(self, epoch: int, metrics: dict) -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class Constant(Schedule):
    """The lr the optimiser was built with, throughout (released VCOP: its scheduler is never stepped)."""


class Cosine(Schedule):
    """The suite's schedule (engine.CosineSchedule): set per epoch, before training."""

    def __init__(self, optimizer, epochs: int, warmup_epochs: int, lr: float):
        self.inner = engine.CosineSchedule(optimizer, epochs, warmup_epochs, lr)

    def begin(self, epoch: int) -> None:
        self.inner.step(epoch)


class Plateau(Schedule):
    """``torch.optim.lr_scheduler.ReduceLROnPlateau`` (mode min) stepped after every epoch's validation on
    ``metrics[metric]`` (released TCGL: the validation order cross-entropy in pretraining, the validation loss in
    fine-tuning). A non-finite metric (an empty validation split) is an error: the release always validates."""

    def __init__(self, optimizer, metric: str, factor: float, patience: int, min_lr: float):
        self.metric = metric
        self.inner = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=float(factor), patience=int(patience), min_lr=float(min_lr)
        )

    def end(self, epoch: int, metrics: dict) -> None:
        value = metrics.get(self.metric)
        if value is None or value != value:
            raise RuntimeError(
                f"the plateau schedule steps on the validation {self.metric!r}, which epoch "
                f"{epoch + 1} did not give (values: {metrics}); give the run a validation split "
                "(pretrain.val_fraction > 0) or use recipe.optimizer=suite"
            )
        self.inner.step(float(value))

    def state_dict(self) -> dict:
        return self.inner.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.inner.load_state_dict(state)


def _schedule(optimizer, spec: str, plateau: dict | None):
    if spec == "constant":
        return Constant()
    if spec == "plateau":
        return Plateau(optimizer, plateau["metric"], plateau["factor"], plateau["patience"], plateau["min_lr"])
    raise ValueError(f"unknown released schedule {spec!r}: valid are constant, plateau")


def pretrain_optimizer(model: torch.nn.Module, cfg: DictConfig):
    """``(optimizer, schedule)`` for pretraining ``model`` under the run's recipe."""
    opt = cfg.method.optim
    if effective(cfg)["optimizer"] == "released":
        if str(opt.get("name", "sgd")) != "sgd":
            log.warning("recipe.optimizer=released trains with plain SGD; method.optim.name=%s is not used", opt.name)
        rel = released_section(cfg)
        optimizer = plain_sgd(model, float(opt.lr), float(opt.momentum), float(opt.weight_decay))
        return optimizer, _schedule(optimizer, rel["schedule"], rel.get("plateau"))
    optimizer = engine.optimizer_from_config(model, opt)
    return optimizer, Cosine(optimizer, int(cfg.pretrain.epochs), int(cfg.pretrain.warmup_epochs), float(opt.lr))


def finetune_settings(cfg: DictConfig) -> dict:
    """The fine-tuning recipe: ``protocol.finetune`` (suite) or the method's released one, as plain values with the
    keys ``epochs batch_size lr ft_lr momentum weight_decay schedule plateau warmup_epochs select augment
    val_clips``. ``select``: ``val_top1`` (suite) or ``val_loss`` (released); ``augment``: ``suite`` (colour jitter,
    flips) or ``crop`` (released: random crop only)."""
    p = OmegaConf.to_container(cfg.protocol.finetune, resolve=True)
    if effective(cfg)["finetune"] == "released":
        rel = dict(released_section(cfg)["finetune"])
        return rel | {
            "warmup_epochs": 0,
            "select": "val_loss",
            "augment": "crop",
            "val_clips": 1,
            "clip_len": p["clip_len"],
        }
    return p | {"ft_lr": None, "schedule": "cosine", "plateau": None, "select": "val_top1", "augment": "suite"}


def finetune_optimizer(model: torch.nn.Module, s: dict):
    """``(optimizer, schedule)`` for fine-tuning ``model`` (a ``protocols.finetune.Classifier``) with
    :func:`finetune_settings` ``s``. Released VCOP: two groups, conv1-conv3 at ``lr`` and conv4, conv5 and the linear
    layer at ``ft_lr`` (by parameter name, as ft_classify.py)."""
    if s["schedule"] == "cosine":
        optimizer = engine.make_optimizer(model, float(s["lr"]), float(s["momentum"]), float(s["weight_decay"]))
        return optimizer, Cosine(optimizer, int(s["epochs"]), int(s["warmup_epochs"]), float(s["lr"]))
    groups = None
    if s.get("ft_lr") is not None:
        late = [p for n, p in model.named_parameters() if late_layer(n)]
        early = [p for n, p in model.named_parameters() if not late_layer(n)]
        groups = [early, late]
    optimizer = plain_sgd(model, float(s["lr"]), float(s["momentum"]), float(s["weight_decay"]), groups)
    if groups is not None:
        optimizer.param_groups[1]["lr"] = float(s["ft_lr"])
        optimizer.param_groups[1]["initial_lr"] = float(s["ft_lr"])
    return optimizer, _schedule(optimizer, s["schedule"], s.get("plateau"))


def late_layer(name: str) -> bool:
    """Released VCOP's second fine-tuning group: names holding ``conv4``, ``conv5`` (C3D: conv4a/b, conv5a/b) or
    the classifier (ours: ``head``; theirs: ``linear``)."""
    return "conv4" in name or "conv5" in name or name.startswith("head.") or "linear" in name


def retrieval_kernel(cfg: DictConfig) -> tuple[int, int, int]:
    """The retrieval pooling kernel: ``protocol.retrieval.kernel``, or the method's released per-backbone kernel
    under ``recipe.method_settings=released`` (TCGL's R(2+1)D: 2x5x5, 512-d)."""
    kernel = tuple(int(k) for k in cfg.protocol.retrieval.kernel)
    if effective(cfg)["method_settings"] == "released":
        kernel = tuple(released_section(cfg).get("retrieval_kernel", {}).get(cfg.backbone.name, kernel))
    return kernel


def method_params(cfg: DictConfig) -> dict:
    """``method.params`` with the release's per-backbone values under ``recipe.method_settings=released`` (TCGL's
    ASOP dropout)."""
    params = OmegaConf.to_container(cfg.method.params, resolve=True)
    if effective(cfg)["method_settings"] == "released":
        dropout = released_section(cfg).get("asop_dropout", {}).get(cfg.backbone.name)
        if dropout is not None:
            params["asop_dropout"] = float(dropout)
    return params
