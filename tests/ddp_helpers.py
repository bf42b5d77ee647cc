"""What the two-process tests share (tests/protocols/test_distributed.py with torchrun, tests/slurm/test_ddp.py with
two SLURM tasks): the run's settings, and the comparison of its pretraining log and records with a one-process run.

Settings: ``supervised`` has no randomness in its forward pass, so the two runs differ only in the order of float32
sums. ``val_fraction=0.4`` leaves 22 training videos of the tiny embedded UCF101: global batches of 7 are split 4/3
between the two ranks (unequal shares, so the loss weights matter) and the last batch of 1 leaves rank 1 with nothing
(it stands in with weight 0). ``sync_bn=true`` gives both runs the BatchNorm statistics of the global batch; without
it each rank normalises its own 3 or 4 clips and here the training loss drifts 17% apart by epoch 4 (measured),
more than the errors the test is there to catch.

Tolerance: measured, the two curves agree to 4e-8 (relative) over the 4 epochs. Deliberately broken variants were
off by (largest relative difference over the curve): 1e-2 when unequal shares are not weighted, 1e-1 when
gradients are summed instead of averaged, 1e-1 without gradient synchronisation. ``RTOL = 1e-3`` sits between.
The agreement is not that close in every setting: with global batches of 3, at one step the float32 gradient of the
first convolution is 0.6% off its float64 value in one process alone, and training amplifies that to 1% in 4 epochs.
"""

import csv
import json
from pathlib import Path

DDP_ARGS = [
    "method=supervised",
    "pretrain.epochs=4",
    "method.optim.lr=0.01",
    "pretrain.batch_size=7",
    "pretrain.val_fraction=0.4",
    "pretrain.sync_bn=true",
    "dataset.eval_on=[ucf101]",
    "method.params.num_clips=1",
]  # one clip per video, as when the tolerance below was measured
SPLIT = {"train": 22, "val": 15, "test": 13, "gallery": 37}  # embedded-ucf101 tiny, split 1, val_fraction 0.4
RTOL = 1e-3
CURVE = ("lr", "train_loss", "train_acc", "val_loss", "val_acc")


def read_log(work: Path) -> list[dict]:
    (path,) = work.glob("runs/*/pretrain_log.csv")
    with path.open() as f:
        return list(csv.DictReader(f))


def assert_same_curve(ref: list[dict], got: list[dict]) -> float:
    """Every epoch's learning rate, losses and accuracies within ``RTOL``; the skip counts equal. Returns the
    largest relative difference."""
    assert [r["epoch"] for r in got] == [r["epoch"] for r in ref] and len(ref) == 4
    worst = 0.0
    for a, b in zip(ref, got):
        for k in CURVE:
            x, y = float(a[k]), float(b[k])
            diff = abs(x - y) / max(abs(x), 1e-12)
            assert diff <= RTOL, f"epoch {a['epoch']} {k}: 1 process {x}, 2 processes {y}"
            worst = max(worst, diff)
        assert (a["n_skipped"], a["n_short"]) == (b["n_skipped"], b["n_short"])
    return worst


def assert_records_count_every_video_once(records: Path, protocols: set[str]) -> dict[str, dict]:
    """One record per protocol, each scoring every test video of the split once, with ``extra.world_size`` 2."""
    recs = {r["protocol"]: r for r in map(lambda p: json.loads(p.read_text()), sorted(records.glob("*.json")))}
    assert set(recs) == protocols
    for r in recs.values():
        assert r["n_videos"] == SPLIT["test"] and r["n_skipped"] == 0
        assert r["extra"]["world_size"] == 2
        assert (r["extra"]["n_train"], r["extra"]["n_val"], r["extra"]["n_test"]) == (
            SPLIT["train"],
            SPLIT["val"],
            SPLIT["test"],
        )
    if "retrieval" in recs:
        assert recs["retrieval"]["extra"]["n_gallery"] == SPLIT["gallery"]
    return recs


# -- gloo process groups inside a test (tests/protocols/test_ddp_negatives.py): no torchrun, no Hydra app, no videos --


def run_gloo(fn, world: int, tmp: Path, *args, timeout: float = 120.0) -> list:
    """``fn(*args)`` in ``world`` fresh (spawned) processes that form a gloo process group; returns what each rank's
    call returned, in rank order. ``fn`` must be importable (a module-level function) and its result picklable.
    A rank that raises fails the caller with its traceback; no rank waits for a dead one longer than ``timeout``."""
    import multiprocessing as mp
    import time

    tmp = Path(tmp)
    tmp.mkdir(parents=True, exist_ok=True)
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(target=_gloo_worker, args=(fn, r, world, str(tmp), timeout, args), daemon=True)
        for r in range(world)
    ]
    for p in procs:
        p.start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(p.is_alive() for p in procs):
        if any(p.exitcode not in (None, 0) for p in procs):
            break  # a rank failed: the others may wait for it in a collective
        time.sleep(0.05)
    for p in procs:
        if p.is_alive():
            p.kill()
        p.join()
    results, errors = [], []
    for r, p in enumerate(procs):
        err = tmp / f"rank{r}.err"
        if err.exists():
            errors.append(f"rank {r}:\n{err.read_text()}")
        elif p.exitcode != 0:
            errors.append(f"rank {r}: exit code {p.exitcode} (killed: another rank failed, or past {timeout}s)")
        else:
            import torch

            results.append(torch.load(tmp / f"rank{r}.pt", weights_only=False))
    assert not errors, "\n".join(errors)
    return results


def _gloo_worker(fn, rank: int, world: int, tmp: str, timeout: float, args: tuple) -> None:
    import datetime
    import os
    import traceback

    os.environ["OMP_NUM_THREADS"] = "1"
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    try:
        dist.init_process_group(
            "gloo",
            init_method=f"file://{tmp}/store",
            rank=rank,
            world_size=world,
            timeout=datetime.timedelta(seconds=timeout),
        )
        out = fn(*args)
        torch.save(out, f"{tmp}/rank{rank}.pt")
    except BaseException:
        Path(f"{tmp}/rank{rank}.err").write_text(traceback.format_exc())
        raise
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


class SeededClips:
    """A stand-in for ``datasets.clips.ClipDataset`` without video files: item ``(epoch, index)`` holds ``[K, 3, T,
    S, S]`` clips drawn from (seed, epoch, index) and the keys a real item has, ``sample_seed`` derived as the real
    dataset derives it (``datasets.clips.sample_seed``)."""

    def __init__(self, n: int, num_clips: int, clip_len: int, size: int = 16, seed: int = 0):
        self.n, self.k, self.t, self.size, self.seed, self.epoch = n, num_clips, clip_len, size, seed, 0

    def __len__(self) -> int:
        return self.n

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def finish(self, clips, colour):  # items are finished floats: never called
        raise AssertionError("SeededClips has no deferred colour stage")

    def __getitem__(self, key):
        import numpy as np
        import torch

        from datasets.clips import sample_seed

        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        g = torch.Generator().manual_seed(int(np.random.SeedSequence([self.seed, epoch, index]).generate_state(1)[0]))
        clips = torch.randn(self.k, 3, self.t, self.size, self.size, generator=g)
        return {
            "clips": clips,
            "meta": torch.zeros(self.k),
            "label": torch.tensor(index % 3),
            "index": torch.tensor(index),
            "short": torch.tensor(False),
            "sample_seed": torch.tensor(sample_seed(self.seed, epoch, index)),
        }


def pretrain_seeded(cfg, work: str, n_train: int, n_val: int, width: int = 4, size: int = 16):
    """Pretrain ``cfg``'s method on the tiny backbone (``width``) with the real loop (``protocols.pretrain.pretrain``)
    on :class:`SeededClips` data; the method is initialised from ``cfg.seed``. In one process or in each rank of a
    gloo group. Returns ``(pretraining curve rows, final state_dict)``."""
    import torch
    from omegaconf import OmegaConf

    from methods.registry import build_method
    from protocols.pretrain import pretrain, pretraining_curve
    from runtime import engine
    from runtime.checkpoint import load_checkpoint

    device = torch.device("cpu")
    engine.setup_determinism(device)
    engine.seed_everything(int(cfg.seed))
    params = OmegaConf.to_container(cfg.method.params, resolve=True)
    method = build_method(cfg.method.name, {"name": "tiny", "width": width}, **params)
    sampler = method.sampler()  # ClipTuple: k clips of clip_len frames, as the method's real items
    k, t = sampler.k, sampler.clip_len
    train = SeededClips(n_train, k, t, size, seed=int(cfg.seed))
    val = SeededClips(n_val, k, t, size, seed=int(cfg.seed) + 1)
    Path(work).mkdir(parents=True, exist_ok=True)
    final = pretrain(method, train, val, cfg, {"method": cfg.method.name}, Path(work), device)
    return pretraining_curve(Path(work)), load_checkpoint(final)["state_dict"]
