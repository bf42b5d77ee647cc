"""Pretraining: one plain, auditable loop.

- The recipe's optimiser and schedule (runtime/recipes.py): the suite's (``method.optim``: SGD with Nesterov
  momentum or AdamW, cosine with warm-up: timm's factories, written out in runtime/engine.py) or the released
  code's (plain SGD; TCGL's ReduceLROnPlateau on the validation order loss, VCOP's constant lr).
- Deterministic: data order and augmentation are functions of (seed, epoch, index); the torch RNG is re-seeded from
  (seed, epoch) at the start of every epoch, so a run resumed from an epoch checkpoint is bit-identical on CPU.
- A checkpoint is written atomically after every epoch with a sha256 sidecar; a rerun of the same command resumes
  from the newest checkpoint whose hash verifies (a truncated one is ignored).
- The validation split's pretext loss and accuracy go to ``pretrain_log.csv`` every epoch.
- A NaN or inf loss stops the run with a clear error; the last good checkpoint stays.
- Several processes (runtime/distributed.py): DistributedDataParallel, each global batch split across the ranks,
  each rank's loss weighted so the gradient is that of the global batch's mean loss; ``pretrain.sync_bn`` makes
  BatchNorm use the statistics of the global batch. Losses and accuracies are logged over all ranks.
  Rank 0 alone writes the log and the checkpoints; a resume loads rank 0's choice of checkpoint on every rank.
"""

from __future__ import annotations

import copy
import csv
import io
import logging
import math
import time
from pathlib import Path

import torch
from tqdm import tqdm

from methods.base import PretextMethod
from results.atomic import atomic_write
from runtime import distributed as dist
from runtime import engine, recipes
from runtime.checkpoint import latest_good_checkpoint, load_checkpoint, load_state_strict, save_checkpoint

log = logging.getLogger(__name__)
FORMAT = "vssl-bench/1"
LOG_FIELDS = ["epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "n_skipped", "n_short", "clips_per_s"]


class NonFiniteLossError(RuntimeError):
    pass


def checkpoint_payload(method: PretextMethod, meta: dict, epoch: int, optimizer=None, schedule=None) -> dict:
    payload = dict(meta)
    payload.update(format=FORMAT, epoch=int(epoch), state_dict=method.state_dict())
    if optimizer is not None:
        payload["optimizer"] = optimizer.state_dict()
    if schedule is not None:
        payload["schedule"] = schedule.state_dict()
    return payload


def _write_log(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=LOG_FIELDS)
    w.writeheader()
    w.writerows(rows)
    blob = buf.getvalue().encode()
    atomic_write(path, lambda f: f.write(blob))


def _read_log(path: Path, upto_epoch: int) -> list[dict]:
    if not path.exists():
        return []
    with path.open() as f:
        return [r for r in csv.DictReader(f) if int(r["epoch"]) <= upto_epoch]


#: Steps between host reads of the loss on CUDA (finite check, progress bar). Each read waits for the GPU to finish
#: the step; one per step leaves the GPU idle while Python prepares the next. On CPU every step is read.
CUDA_READ_EVERY = 25


class LossWatch:
    """An epoch's loss and accuracy sums and its first non-finite loss, kept on the device and read every ``every``
    steps and at the end of the epoch (:meth:`check`). With ``every=1`` the check runs before the step's backward, so
    a non-finite loss never reaches the weights; otherwise the run stops at the next read, naming the first bad step.
    Either way no checkpoint is written after it, so the last good one stays."""

    def __init__(self, device: torch.device, every: int, epoch: int, meta: dict, ckpt_dir: Path):
        self.every, self.epoch, self.meta, self.ckpt_dir = int(every), epoch, meta, ckpt_dir
        self.sums = torch.zeros(2, dtype=torch.float64, device=device)  # sum of loss * b, sum of accuracy * b
        self.first_bad = torch.zeros((), dtype=torch.long, device=device)  # step + 1 of the first bad loss, or 0
        self.bad_value = torch.zeros((), device=device)

    def on_loss(self, loss: torch.Tensor, step: int) -> None:
        """``train_step``'s ``check_loss``: record the loss; check every ``every`` steps."""
        loss = loss.detach().float()
        new = ~torch.isfinite(loss) & (self.first_bad == 0)
        self.first_bad = torch.where(new, step + 1, self.first_bad)
        self.bad_value = torch.where(new, loss, self.bad_value)
        if (step + 1) % self.every == 0:
            self.check()

    def add(self, loss: torch.Tensor, accuracy, b: int) -> None:
        acc = accuracy.detach() if torch.is_tensor(accuracy) else torch.tensor(float(accuracy))
        self.sums += torch.stack([loss.detach().double() * b, acc.to(self.sums).double() * b])

    def check(self) -> None:
        first = int(self.first_bad)
        if dist.all_reduce_sum([1.0 if first else 0.0])[0] == 0:
            return
        where = (
            f"({float(self.bad_value)}) at epoch {self.epoch + 1}, step {first}"
            if first
            else f"on another rank at epoch {self.epoch + 1}"
        )
        raise NonFiniteLossError(
            f"non-finite pretraining loss {where} of {self.meta['method']}; the last good checkpoint in "
            f"{self.ckpt_dir} is kept. Lower method.optim.lr or check the input data."
        )


@torch.no_grad()
def evaluate_pretext(method: PretextMethod, loader, device) -> tuple[float, float, dict[str, float]]:
    """Mean pretext loss and accuracy on a loader, the method in eval mode (graph augmentation off), and the mean of
    each scalar the method logs (``loss_order``: the order cross-entropy TCGL's released schedule steps on)."""
    method.eval()
    n = 0
    sums, names = None, None  # on the device, read once at the end: no host sync per batch
    for batch in loader:  # this rank's share of the videos; the sums are then taken over all ranks
        if batch["clips"] is None:
            continue
        batch = engine.to_device(batch, device, loader.dataset.finish)
        with engine.autocast(device):
            out = method(batch)
        b = batch["clips"].shape[0]
        if names is None:
            names = sorted(out.logs)
            sums = torch.zeros(2 + len(names), dtype=torch.float64, device=device)
        values = [out.loss.detach(), out.accuracy.detach(), *(out.logs[k].detach() for k in names)]
        sums += torch.stack([v.double().reshape(()) for v in values]) * b
        n += b
    # a rank without videos has seen no logs: rank 0 has (evaluation shares are contiguous, lower ranks first)
    names = dist.broadcast(names) or []
    local = sums.tolist() if sums is not None else [0.0] * (2 + len(names))
    totals = dist.all_reduce_sum([*local, n])
    n = totals[-1]
    if not n:
        return float("nan"), float("nan"), {}
    return totals[0] / n, totals[1] / n, {k: v / n for k, v in zip(names, totals[2:-1])}


def pretraining_curve(work_dir: Path) -> list[dict]:
    """The rows of ``work_dir/pretrain_log.csv`` without its wall-clock column: the same bytes on every rerun."""
    return [{k: v for k, v in r.items() if k != "clips_per_s"} for r in _read_log(work_dir / "pretrain_log.csv", 2**31)]


def pretrain(
    method: PretextMethod, train_set, val_set, cfg, meta: dict, work_dir: Path, device, train: bool = True
) -> Path:
    """Train ``method`` and return the final checkpoint path (``work_dir/final.pt``). With ``pretrain.sync_bn`` in
    a multi-process run a copy with SyncBatchNorm layers is trained: load the returned checkpoint. ``train=False``
    (or a method with nothing to pretrain) saves the seeded initialisation as the checkpoint: the untrained
    control."""
    ckpt_dir = work_dir / "checkpoints"
    final = work_dir / "final.pt"
    if dist.broadcast(final.exists() and latest_good_checkpoint(work_dir, "final.pt") is not None):
        log.info("pretraining already finished: %s", final)
        return final
    engine.place_model(method, device)
    p = cfg.pretrain
    epochs, seed = int(p.epochs), int(cfg.seed)

    if not (method.pretrains and train):  # `random`, or the untrained control: the seeded initialisation
        if dist.is_main():
            save_checkpoint(final, checkpoint_payload(method, meta, 0))
        dist.barrier()
        return final
    if p.sync_bn and dist.world_size() > 1:  # a copy: the caller's method keeps plain BatchNorm layers
        method = dist.convert_sync_batchnorm(copy.deepcopy(method), device)

    optimizer, schedule = recipes.pretrain_optimizer(method, cfg)
    start = 0
    resume = dist.broadcast(latest_good_checkpoint(ckpt_dir) if dist.is_main() else None)
    if resume is not None:
        state = load_checkpoint(resume)
        load_state_strict(method, state["state_dict"], f"{resume} (resuming {meta['method']})")
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state.get("schedule") or {})
        start = int(state["epoch"]) + 1
        log.info("resuming from %s (epoch %d done)", resume, start - 1)
    log_path = work_dir / "pretrain_log.csv"
    rows = _read_log(log_path, start - 1)
    model = dist.wrap(method, device)  # DistributedDataParallel with several processes, ``method`` itself otherwise

    # loader workers live across epochs (no re-fork and warm-up at each epoch start)
    train_loader = engine.EpochLoader(train_set, int(p.batch_size), True, seed, int(p.num_workers), device)
    val_loader = engine.EpochLoader(val_set, int(p.batch_size), False, 0, int(p.num_workers), device, evaluation=True)
    for epoch in range(start, epochs):
        engine.seed_everything(*dist.seed_parts(seed, epoch))
        schedule.begin(epoch)
        lr = optimizer.param_groups[0]["lr"]  # this epoch's (a plateau schedule may lower it after validation)
        model.train()
        loader = train_loader.epoch(epoch)
        total = len(loader) if p.max_steps_per_epoch is None else min(len(loader), int(p.max_steps_per_epoch))
        bar = tqdm(
            total=total,
            desc=f"pretrain {meta['method']} epoch {epoch + 1}/{epochs}",
            leave=False,
            dynamic_ncols=True,
            disable=None if dist.is_main() else True,
        )
        sums = {"loss": 0.0, "acc": 0.0, "n": 0, "skipped": 0, "short": 0, "clips": 0}
        watch = LossWatch(device, 1 if device.type == "cpu" else CUDA_READ_EVERY, epoch, meta, ckpt_dir)
        t0 = time.perf_counter()
        for step, batch in enumerate(loader):
            if step >= total:
                break
            sums["skipped"] += batch["n_skipped"]
            b = 0 if batch["clips"] is None else batch["clips"].shape[0]
            n_step, weight = dist.step_weight(b)
            if n_step == 0:
                bar.update(1)
                continue
            if b == 0:  # other ranks have samples in this step: take part with weight 0
                batch = engine.stand_in(train_set, loader.global_batches[step])
            else:
                sums["short"] += batch["n_short"]
            out = engine.train_step(
                model,
                batch,
                optimizer,
                device,
                weight,
                b == 0,
                lambda loss: watch.on_loss(loss, step),
                train_set.finish,
            )
            watch.add(out.loss, out.accuracy, b)
            sums["n"] += b
            sums["clips"] += b * batch["clips"].shape[1]
            if (step + 1) % watch.every == 0:  # the loss was read at this step anyway
                rate = sums["clips"] / max(time.perf_counter() - t0, 1e-9)
                n_seen = max(sums["n"], 1)  # 0 on a rank whose first shares were stand-ins
                loss_sum, acc_sum = watch.sums.tolist()
                bar.set_postfix(loss=f"{loss_sum / n_seen:.3f}", acc=f"{acc_sum / n_seen:.3f}", clips_s=f"{rate:.1f}")
            bar.update(1)
        bar.close()
        watch.check()
        sums["loss"], sums["acc"] = watch.sums.tolist()
        elapsed = time.perf_counter() - t0
        sums = dict(zip(sums, dist.all_reduce_sum(list(sums.values()))))  # over all ranks
        if sums["n"] == 0:
            raise RuntimeError(f"epoch {epoch + 1}: every training video was skipped; see the warnings above")
        # the validation pass draws its own shuffles and graph views
        engine.seed_everything(*dist.seed_parts(seed, epoch, 1))
        dist.sync_buffers(method)  # the checkpoint below holds rank 0's; validate with those on every rank
        val_loss, val_acc, val_logs = (
            evaluate_pretext(method, val_loader.epoch(0), device) if len(val_set) else (math.nan, math.nan, {})
        )
        schedule.end(epoch, {"val_loss": val_loss, **val_logs})
        row = {
            "epoch": epoch,
            "lr": lr,
            "train_loss": sums["loss"] / sums["n"],
            "train_acc": sums["acc"] / sums["n"],
            "val_loss": val_loss,
            "val_acc": val_acc,
            "n_skipped": int(sums["skipped"]),
            "n_short": int(sums["short"]),
            "clips_per_s": sums["clips"] / max(elapsed, 1e-9),
        }
        rows.append(row)
        if dist.is_main():
            _write_log(log_path, rows)  # before the checkpoint: a resume re-reads only the rows up to its epoch
            save_checkpoint(
                ckpt_dir / f"epoch_{epoch:04d}.pt", checkpoint_payload(method, meta, epoch, optimizer, schedule)
            )
            for old in sorted(ckpt_dir.glob("epoch_*.pt"))[:-2]:  # keep the newest two
                old.unlink(missing_ok=True)
                Path(f"{old}.sha256").unlink(missing_ok=True)
        log.info(
            "epoch %d/%d: train loss %.4f acc %.3f | val loss %.4f acc %.3f | %.1f clips/s",
            epoch + 1,
            epochs,
            row["train_loss"],
            row["train_acc"],
            val_loss,
            val_acc,
            row["clips_per_s"],
        )
    train_loader.close()
    val_loader.close()
    if dist.is_main():
        save_checkpoint(final, checkpoint_payload(method, meta, epochs - 1))
    dist.barrier()  # the other ranks read final.pt next
    return final
