"""Data-parallel runs: one process per GPU (or per CPU task), on one or several nodes, with DistributedDataParallel.

Where the processes come from (the app itself has nothing to configure):
- submitit tasks: ``hydra/launcher=slurm`` (or ``local``) with ``hydra.launcher.tasks_per_node=N`` (one task per
  GPU, with ``gpus_per_node=N``) and ``hydra.launcher.nodes=M``; submitit's ``TorchDistributedEnvironment`` exports
  the variables below from the SLURM task ids;
- torchrun, or any launcher that sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``.
Backend: NCCL on CUDA (each process on ``cuda:LOCAL_RANK``), gloo on CPU.

With one process nothing here does anything: no process group is created, every helper is the identity (gathers
return their input, reductions return their arguments), so a single-process run is exactly what it was.

What the rest of the code relies on:
- data are sharded by :class:`runtime.engine.EpochLoader`: in training every global batch is split across the
  ranks, so the global batch and the samples of every step are those of the single-process run; in evaluation
  every rank takes a contiguous share of the videos, nothing padded or dropped;
- :func:`step_weight` rescales each rank's mean loss so that DDP's average of gradients is the gradient of the mean
  loss over the global batch, whatever the split (last partial batch, skipped videos);
- only rank 0 writes checkpoints, logs, feature caches and records; the others take rank 0's decisions
  (:func:`broadcast`) and its checkpoints.
"""

from __future__ import annotations

import contextlib
import logging
import os

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)
_RANK_STREAM = 104_729  # salt of the per-rank random streams (see seed_parts)
_owned = False  # whether init() created the process group (then shutdown() destroys it)
_standing_in = False  # inside stand_in_step(): this rank's batch only stands in (see engine.stand_in)


def _from_submitit() -> bool:
    """In a submitit task of a job with several tasks: export the torch.distributed variables from SLURM's ids."""
    if not os.environ.get("SUBMITIT_EXECUTOR") or "RANK" in os.environ:
        return False
    import submitit

    if submitit.JobEnvironment().num_tasks <= 1:
        return False
    # CUDA_VISIBLE_DEVICES stays as SLURM set it: the process picks its GPU by LOCAL_RANK (see init)
    submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
    return True


def init(device: torch.device) -> torch.device:
    """Join the job's process group when there is one, and return this process's device (``device`` unchanged for
    a single process)."""
    if is_distributed():
        return device
    _from_submitit()
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return device
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        count = torch.cuda.device_count()
        index = local_rank if count > 1 else 0  # one visible GPU per task where SLURM binds them
        if index >= count:
            raise RuntimeError(
                f"LOCAL_RANK={local_rank} but only {count} GPU(s) are visible; ask for one GPU per "
                "task (hydra.launcher.gpus_per_node = hydra.launcher.tasks_per_node)"
            )
        device = torch.device("cuda", index)
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", device_id=device)
    elif device.type == "cpu":
        dist.init_process_group("gloo")
    else:
        raise RuntimeError(f"distributed runs support cuda (NCCL) and cpu (gloo), not device={device}")
    global _owned
    _owned = True
    log.info("rank %d of %d on %s (%s)", rank(), world_size(), device, dist.get_backend())
    return device


def shutdown(wait: bool = True) -> None:
    """Leave the process group; with ``wait`` only once every rank has got here (rank 0 writes the records last).
    After an error ``wait=False``: the other ranks may be in another collective, which then fails or times out."""
    global _owned
    if _owned and is_distributed():
        if wait:
            dist.barrier()
        dist.destroy_process_group()
        _owned = False


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


def _comm_device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def all_reduce_sum(values: list[float]) -> list[float]:
    """Element-wise sums over the ranks (float64); the values themselves for a single process."""
    if world_size() == 1:
        return list(values)
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=_comm_device())
    dist.all_reduce(t)
    return t.tolist()


def broadcast(obj):
    """Rank 0's ``obj`` on every rank (a decision that must be the same everywhere: resume from which checkpoint,
    which records are still to do, whether a cache file was good)."""
    if world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0, device=_comm_device())
    return box[0]


def all_gather(obj) -> list:
    """Every rank's ``obj`` (any picklable object, e.g. a dict of CPU tensors of any length), in rank order."""
    if world_size() == 1:
        return [obj]
    out = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def gather_videos(parts: dict[str, torch.Tensor] | None, n_videos: int) -> dict[str, torch.Tensor]:
    """Concatenate per-video tensors from every rank (``parts['index']`` holds the dataset index of each row; None
    from a rank that had no video) and put the rows in dataset order. Every video must be there exactly once: a
    missing or repeated one is an error, so an evaluation never silently pads, drops or double-counts."""
    shards = [s for s in (all_gather(parts) if world_size() > 1 else [parts]) if s is not None]
    if not shards:
        raise RuntimeError(f"evaluation gathered no video; the split has {n_videos}")
    out = {k: torch.cat([s[k] for s in shards]) for k in parts}
    index = out.pop("index")
    if len(index) != n_videos or not torch.equal(torch.sort(index).values, torch.arange(n_videos)):
        counts = torch.bincount(index, minlength=n_videos)
        raise RuntimeError(
            f"evaluation gathered {len(index)} rows for {n_videos} videos over {world_size()} "
            f"rank(s): {int((counts == 0).sum())} missing, {int((counts > 1).sum())} repeated"
        )
    if world_size() == 1:
        return out  # already in order
    order = torch.argsort(index)
    return {k: v[order] for k, v in out.items()}


def step_weight(n_local: int) -> tuple[int, float]:
    """(samples in this step over all ranks, factor for this rank's mean loss).

    DDP averages the ranks' gradients; scaling rank r's mean loss by ``n_r * world / n`` makes that average the
    gradient of the mean loss over the whole global batch, also when the ranks hold different numbers of samples
    (the last partial batch, skipped videos). A rank with no sample has factor 0 (see ``engine.stand_in``)."""
    if world_size() == 1:
        return n_local, 1.0
    (n,) = all_reduce_sum([n_local])
    return int(n), (n_local * world_size() / n) if n else 0.0


@contextlib.contextmanager
def stand_in_step(active: bool):
    """Around the forward pass of a rank whose batch only stands in: it then adds nothing to the global BatchNorm
    statistics of :class:`AllReduceBatchNorm` (torch's SyncBatchNorm on CUDA counts it in)."""
    global _standing_in
    _standing_in = bool(active)
    try:
        yield
    finally:
        _standing_in = False


def standing_in() -> bool:
    """Whether this rank's current forward pass only stands in (inside ``stand_in_step(True)``): its samples must not
    count in anything shared with the other ranks (BatchNorm statistics, a gathered negatives pool)."""
    return _standing_in


def all_finite(loss: torch.Tensor) -> bool:
    """Whether the loss is finite on every rank: all ranks stop together on a NaN instead of waiting for each
    other in the next collective."""
    finite = bool(torch.isfinite(loss.detach()))
    if world_size() == 1:
        return finite
    return all_reduce_sum([0.0 if finite else 1.0])[0] == 0


def seed_parts(*parts: int) -> tuple[int, ...]:
    """Seed parts for ``engine.seed_everything``: rank 0 keeps the single-process stream, every other rank gets its
    own (dropout masks and pretext permutations are then not copies of rank 0's)."""
    r = rank()
    return tuple(parts) if r == 0 else (*parts, _RANK_STREAM, r)


def sync_buffers(module: torch.nn.Module) -> None:
    """Give every rank rank 0's buffers (BatchNorm running statistics: without SyncBatchNorm each rank's last
    training step updated its own) before the ranks evaluate their shares, so that all use one model."""
    if world_size() == 1:
        return
    for buf in module.buffers():
        dist.broadcast(buf, src=0)


class _SumOverRanks(torch.autograd.Function):
    """Sum over the ranks whose backward sums the gradients over the ranks too (every rank's loss depends on every
    rank's input through the sum)."""

    @staticmethod
    def forward(ctx, t: torch.Tensor) -> torch.Tensor:
        t = t.clone()
        dist.all_reduce(t)
        return t

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class AllReduceBatchNorm(torch.nn.modules.batchnorm._BatchNorm):
    """SyncBatchNorm for CPU processes (gloo), where torch's SyncBatchNorm does not run: in training, the mean and
    variance of the global batch from per-channel sums all-reduced over the ranks (float64), differentiably (the
    backward sums every rank's gradient of the statistics, as torch's SyncBatchNorm does). Same parameters and
    buffers as the BatchNorm it replaces; evaluation and single processes use plain BatchNorm."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input, got {x.dim()}D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or world_size() == 1:
            return super().forward(x)
        c, dims = x.shape[1], [0, *range(2, x.dim())]
        xd = x.double()
        local = torch.cat([xd.sum(dims), (xd * xd).sum(dims), xd.new_full((1,), x.numel() / c)])
        stats = _SumOverRanks.apply(local * 0 if _standing_in else local)
        count = stats[-1]
        mean = stats[:c] / count
        var = (stats[c : 2 * c] / count - mean * mean).clamp_min(0)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                f = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - f).add_(mean.to(x.dtype), alpha=f)
                self.running_var.mul_(1 - f).add_((var * count / (count - 1)).to(x.dtype), alpha=f)
        shape = (1, c) + (1,) * (x.dim() - 2)
        y = ((xd - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)).to(x.dtype)
        return y * self.weight.view(shape) + self.bias.view(shape) if self.affine else y


def convert_sync_batchnorm(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``module`` with every BatchNorm layer computing its training statistics over the global batch: torch's
    SyncBatchNorm on CUDA, :class:`AllReduceBatchNorm` on CPU. State-dict keys do not change."""
    if device.type == "cuda":
        return torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for name, child in module.named_children():
        if isinstance(child, torch.nn.modules.batchnorm._BatchNorm):
            new = AllReduceBatchNorm(
                child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats
            )
            new.load_state_dict(child.state_dict())
            module._modules[name] = new.to(device).train(child.training)
        else:
            convert_sync_batchnorm(child, device)
    return module


def wrap(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``model`` in DistributedDataParallel for a multi-process run, ``model`` itself otherwise. Every method uses
    all of its parameters in every step, so unused-parameter detection stays off."""
    if world_size() == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=False
    )
