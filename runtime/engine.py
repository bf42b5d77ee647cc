"""Shared training plumbing: device, seeding, deterministic loaders, optimiser and schedule, mixed precision."""

from __future__ import annotations

import contextlib
import math
import random

import numpy as np
import torch
from torch.utils.data import DataLoader

from datasets.clips import ClipDataset, collate_clips
from runtime import distributed

OPTIMIZERS = ("sgd", "adamw")  # method.optim.name: make_optimizer builds them


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device={name} was asked for but CUDA is not available; use device=cpu or device=auto")
    return dev


def seed_everything(*parts: int) -> None:
    """Seed python, numpy and torch from a tuple such as (seed, epoch): a resumed run replays the same randomness."""
    s = int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)


def setup_determinism(device: torch.device) -> None:
    if device.type == "cpu":
        # The eager flag only: torch.use_deterministic_algorithms also sets torch._inductor's flag, and importing
        # inductor costs ~2.5 s of every process (each DVC stage is one); nothing is compiled on CPU.
        setter = getattr(torch._C, "_set_deterministic_algorithms", None)
        if setter is not None:
            setter(True, warn_only=True)
        else:
            torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        torch.use_deterministic_algorithms(False)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def autocast(device: torch.device):
    """bf16 autocast on CUDA; plain fp32 on CPU."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def eval_autocast(device: torch.device, precision: str = "auto"):
    """Evaluation's autocast: :func:`autocast` (``auto``), or plain fp32 (``fp32``: ``recipe.eval_precision``, the
    released code's features and logits)."""
    return autocast(device) if precision == "auto" else contextlib.nullcontext()


def to_device(batch: dict, device: torch.device, finish=None) -> dict:
    """Copy a batch's tensors to ``device`` (non-blocking from pinned memory). A batch whose colour stage was
    deferred to the device (uint8 ``clips`` plus ``colour``, see datasets/transforms.py) is completed there by
    ``finish`` (the dataset's ``finish``): pass it, or this raises."""
    out = {}
    for k, v in batch.items():
        if torch.is_tensor(v):
            v = v.to(device, non_blocking=True)
        out[k] = v
    if "colour" in out:
        if finish is None:
            raise ValueError(
                "this batch holds uint8 clips whose colour stage is deferred to the device "
                "(input.colour_on); pass finish=<the dataset>.finish to engine.to_device"
            )
        out["clips"] = finish(out["clips"], out.pop("colour"))
    return out  # clips become channels_last_3d where they enter a backbone (methods.backbones.base.channels_last)


def place_model(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Move ``model`` to ``device`` for training; on CUDA its weights are also made channels_last_3d."""
    model.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last_3d)
    return model


def train_step(
    model,
    batch: dict,
    optimizer,
    device: torch.device,
    weight: float = 1.0,
    stand_in: bool = False,
    check_loss=None,
    finish=None,
    forward=None,
):
    """One training step, of pretraining (``protocols/pretrain.py``) and fine-tuning (``protocols/finetune.py``):
    the batch to the device (completed there by ``finish`` when its colour stage was deferred), forward under
    :func:`autocast`, ``check_loss(loss)`` (it may raise, before any gradient), zero_grad, backward of
    ``loss * weight``, optimiser step. ``forward(model, batch)`` gives the loss, or an output with a ``loss``
    (default: ``model(batch)``, a method's output). ``weight`` and ``stand_in`` are the multi-process step weight and
    stand-in flag (runtime/distributed.py). Returns the forward's output."""
    batch = to_device(batch, device, finish)
    with autocast(device), distributed.stand_in_step(stand_in):
        out = model(batch) if forward is None else forward(model, batch)
    loss = out if torch.is_tensor(out) else out.loss
    if check_loss is not None:
        check_loss(loss)
    optimizer.zero_grad(set_to_none=True)
    (loss if weight == 1.0 else loss * weight).backward()
    optimizer.step()
    return out


class _EpochBatches:
    """The batch sampler of an :class:`EpochLoader`: this rank's batches of epoch ``epoch``, each index paired with
    the epoch (``(epoch, index)``), so that worker processes that outlive an epoch draw that epoch's augmentation."""

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int, evaluation: bool):
        self.n, self.batch_size, self.shuffle, self.seed, self.evaluation = (
            n,
            int(batch_size),
            shuffle,
            seed,
            evaluation,
        )
        self.epoch = 0

    def global_batches(self) -> list[list[int]]:
        order = list(range(self.n))
        if self.shuffle:
            s = int(np.random.SeedSequence([self.seed, self.epoch, 7]).generate_state(1)[0])
            order = torch.randperm(self.n, generator=torch.Generator().manual_seed(s)).tolist()
        return [order[i : i + self.batch_size] for i in range(0, self.n, self.batch_size)]

    def batches(self) -> list[list[int]]:
        world = distributed.world_size()
        if world == 1:
            return self.global_batches()
        if self.evaluation:  # a contiguous share of the videos, in batches of batch_size per rank
            mine = _share(list(range(self.n)), distributed.rank(), world)
            return [mine[i : i + self.batch_size] for i in range(0, len(mine), self.batch_size)]
        return [_share(b, distributed.rank(), world) for b in self.global_batches()]

    def __iter__(self):
        for b in self.batches():
            yield [(self.epoch, i) for i in b]

    def __len__(self) -> int:  # without drawing the order
        world = distributed.world_size()
        n = len(_share(range(self.n), distributed.rank(), world)) if self.evaluation and world > 1 else self.n
        return math.ceil(n / self.batch_size)


class EpochLoader:
    """A dataset's loader for epoch after epoch. ``epoch(e)`` returns the DataLoader set to epoch ``e``: the order is
    a function of (seed, epoch), items of (seed, epoch, index), so batches are the same whatever the number of
    workers, and a run resumed at an epoch boundary replays exactly. Never drops the last partial batch.

    With ``persistent`` (and workers) the worker processes live across epochs instead of being forked and warmed up
    again at every epoch start (each index carries its epoch, see ``ClipDataset.__getitem__``); ``close()`` ends them.

    In a multi-process run (runtime/distributed.py) ``batch_size`` is the global batch in training: each of its
    batches is split across the ranks in contiguous shares (sizes differ by at most one, lower ranks first), so every
    step trains on the samples of the single-process run's step. A share can be empty (a last batch smaller than the
    number of ranks); ``loader.global_batches`` lists each step's indices for :func:`stand_in`. With
    ``evaluation`` the videos are taken in order, each rank a contiguous share in batches of ``batch_size`` per rank
    (nothing padded or dropped: the ranks together see every video once; gather with
    ``distributed.gather_videos``)."""

    def __init__(
        self,
        dataset: ClipDataset,
        batch_size: int,
        shuffle: bool,
        seed: int,
        workers: int,
        device: torch.device,
        evaluation: bool = False,
        persistent: bool = True,
    ):
        self.dataset = dataset
        self.sampler = _EpochBatches(len(dataset), batch_size, shuffle, seed, evaluation)
        self.loader = DataLoader(dataset, batch_sampler=self.sampler, **_loader_args(workers, device, persistent))

    def epoch(self, epoch: int) -> DataLoader:
        self.sampler.epoch = int(epoch)
        self.dataset.set_epoch(epoch)  # for direct indexing in the main process (stand_in)
        self.loader.global_batches = self.sampler.global_batches()
        return self.loader

    def close(self) -> None:
        it = getattr(self.loader, "_iterator", None)
        if it is not None and hasattr(it, "_shutdown_workers"):
            it._shutdown_workers()
        self.loader._iterator = None


def make_loader(
    dataset: ClipDataset, batch_size: int, shuffle: bool, seed: int, epoch: int, workers: int, device: torch.device
) -> DataLoader:
    """One epoch's training loader (an :class:`EpochLoader` whose workers end with the epoch)."""
    return EpochLoader(dataset, batch_size, shuffle, seed, workers, device, persistent=False).epoch(epoch)


def make_eval_loader(dataset: ClipDataset, batch_size: int, workers: int, device: torch.device) -> DataLoader:
    """One evaluation pass's loader: the videos in order, epoch 0 (see :class:`EpochLoader`, ``evaluation``)."""
    return EpochLoader(dataset, batch_size, False, 0, workers, device, evaluation=True, persistent=False).epoch(0)


def _share(items: list[int], rank: int, world: int) -> list[int]:
    """Rank ``rank``'s contiguous share of ``items``; shares differ in size by at most one, lower ranks first."""
    q, r = divmod(len(items), world)
    start = rank * q + min(rank, r)
    return items[start : start + q + (rank < r)]


def _loader_args(workers: int, device: torch.device, persistent: bool) -> dict:
    # generator: a DataLoader draws its workers' base seed from it whenever it starts an iterator (every epoch
    # without persistent workers, the first one only with them). From the global torch RNG, that would shift the
    # method's random draws (pretext permutations, graph views) by whether the workers were just started, so a run
    # resumed at epoch k would differ from an uninterrupted one. Items never use the worker seed (their randomness
    # is a function of (seed, epoch, index)).
    return dict(
        num_workers=workers,
        collate_fn=collate_clips,
        pin_memory=device.type == "cuda",
        persistent_workers=persistent and workers > 0,
        prefetch_factor=4 if workers > 0 else None,
        generator=torch.Generator().manual_seed(0),
    )


def stand_in(dataset: ClipDataset, indices: list[int]) -> dict:
    """A batch of one real sample of this step, for a rank whose share of it is empty (more ranks than samples
    left, or all of its videos skipped) while other ranks train: DDP needs every rank in the step's gradient
    all-reduce. Its loss is given weight 0 (``distributed.step_weight``), so it changes no gradient."""
    for i in indices:
        item = dataset[i]
        if item is not None:
            return collate_clips([item])
    raise RuntimeError(f"no usable sample among this step's videos {indices}, though another rank had one")


# The optimiser and schedule are timm's `create_optimizer_v2(opt="sgd")` and `CosineLRScheduler` (warm-up prefix,
# stepped per epoch), written out here because importing timm costs ~3 s of every training process (it imports
# torchvision and every model) and the DVC pipeline runs one process per cell; tests/protocols/test_engine.py checks
# both against timm, group by group and epoch by epoch.


def make_optimizer(
    model: torch.nn.Module, lr: float, momentum: float, weight_decay: float, name: str = "sgd"
) -> torch.optim.Optimizer:
    """``sgd``: SGD with Nesterov momentum (timm's ``sgd``); ``adamw``: AdamW with betas (0.9, 0.999), ``momentum``
    unused (timm's ``adamw``). Either way no weight decay on biases and other 1-d parameters (norm layers);
    foreach."""
    no_decay, decay = [], []
    for pname, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 or pname.endswith(".bias") else decay).append(p)
    groups = [{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": weight_decay}]
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=True, foreach=True)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, foreach=True)
    raise ValueError(f"unknown optimizer {name!r}: valid are {', '.join(OPTIMIZERS)}")


def optimizer_from_config(model: torch.nn.Module, optim) -> torch.optim.Optimizer:
    """:func:`make_optimizer` from a method config's ``optim`` node (``name`` may be absent: SGD)."""
    return make_optimizer(
        model, float(optim.lr), float(optim.momentum), float(optim.weight_decay), str(optim.get("name", "sgd"))
    )


class CosineSchedule:
    """Linear warm-up from lr/100 over ``warmup_epochs``, then cosine from lr to lr/100 over ``epochs`` epochs.
    ``step(epoch)`` sets the learning rate of every group for that epoch (0-based)."""

    def __init__(self, optimizer, epochs: int, warmup_epochs: int, lr: float):
        self.optimizer, self.epochs, self.warmup, self.lr = optimizer, max(1, int(epochs)), int(warmup_epochs), lr
        self.lr_min = lr * 1e-2
        self.step(0)

    def lr_at(self, epoch: int) -> float:
        if epoch < self.warmup:
            return self.lr_min + epoch * (self.lr - self.lr_min) / self.warmup
        t = epoch - self.warmup
        if t >= self.epochs:
            return self.lr_min
        return self.lr_min + 0.5 * (self.lr - self.lr_min) * (1 + math.cos(math.pi * t / self.epochs))

    def step(self, epoch: int) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr_at(epoch)


def make_scheduler(optimizer, epochs: int, warmup_epochs: int, lr: float) -> CosineSchedule:
    return CosineSchedule(optimizer, epochs, warmup_epochs, lr)
