"""Several processes (runtime/distributed.py): sharding, gathering, and a 2-process gloo run started with torchrun
that trains like one process with the same global batch and evaluates every video exactly once.
The same job as 2 SLURM tasks through submitit: tests/slurm/test_ddp.py."""

import subprocess
import sys
import time

import pytest
import torch
from omegaconf import open_dict

from experiment.app import eval_config_hash, pretrain_identity, run
from runtime import distributed, engine

from ddp_helpers import DDP_ARGS, SPLIT, assert_records_count_every_video_once, assert_same_curve, read_log
from helpers import REPO, compose_cfg, smoke_overrides


class Numbered:
    """A stand-in for ClipDataset: item i is its own index."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def set_epoch(self, epoch):
        pass

    def __getitem__(self, key):
        i = key[1] if isinstance(key, tuple) else key  # (epoch, index) from engine.EpochLoader
        return {"clips": torch.zeros(1, 1), "index": torch.tensor(i), "short": torch.tensor(False)}


def _as_rank(monkeypatch, rank, world):
    monkeypatch.setattr(distributed, "rank", lambda: rank)
    monkeypatch.setattr(distributed, "world_size", lambda: world)


def _indices(loader):
    return [[] if b["clips"] is None else b["index"].tolist() for b in loader]


@pytest.mark.parametrize("n,batch,world", [(22, 7, 2), (25, 8, 2), (10, 4, 3), (2, 4, 3)])
def test_each_global_batch_is_split_across_ranks_and_evaluation_shares_cover_every_video_once(
    monkeypatch, n, batch, world
):
    cpu = torch.device("cpu")
    single = _indices(engine.make_loader(Numbered(n), batch, True, 0, 3, 0, cpu))
    shares, evals = [], []
    for r in range(world):
        _as_rank(monkeypatch, r, world)
        loader = engine.make_loader(Numbered(n), batch, True, 0, 3, 0, cpu)
        shares.append(_indices(loader))
        assert loader.global_batches == single  # what stand-ins are drawn from
        assert len(loader) == len(shares[-1])  # pretraining's step count
        ev = _indices(engine.make_eval_loader(Numbered(n), 3, 0, cpu))
        assert len(engine.make_eval_loader(Numbered(n), 3, 0, cpu)) == len(ev)
        evals += sum(ev, [])
    assert all(len(s) == len(single) for s in shares)  # every rank takes part in every step
    for step, want in enumerate(single):
        got = [s[step] for s in shares]
        assert sum(got, []) == want  # the step's samples, in order, nothing padded or dropped
        sizes = [len(g) for g in got]
        assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)
    assert evals == list(range(n))  # contiguous shares in rank order: every video once


def test_gathered_evaluation_refuses_missing_or_repeated_videos():
    ok = distributed.gather_videos({"x": torch.arange(3.0), "index": torch.arange(3)}, 3)
    assert ok["x"].tolist() == [0.0, 1.0, 2.0] and set(ok) == {"x"}
    with pytest.raises(RuntimeError, match="3 rows for 3 videos .* 1 missing, 1 repeated"):
        distributed.gather_videos({"x": torch.zeros(3), "index": torch.tensor([0, 2, 2])}, 3)
    with pytest.raises(RuntimeError, match="2 rows for 3 videos"):
        distributed.gather_videos({"x": torch.zeros(2), "index": torch.tensor([0, 1])}, 3)


def test_single_process_helpers_are_identities_and_sync_bn_off_keeps_every_hash(tiny_data):
    assert not distributed.is_distributed() and distributed.world_size() == 1 and distributed.is_main()
    assert distributed.broadcast({"a": 1}) == {"a": 1} and distributed.all_reduce_sum([1.5, 2]) == [1.5, 2]
    assert distributed.step_weight(5) == (5, 1.0) and distributed.seed_parts(0, 3) == (0, 3)
    model = torch.nn.Linear(2, 2)
    assert distributed.wrap(model, torch.device("cpu")) is model
    cfg = compose_cfg(*smoke_overrides(tiny_data, tiny_data))
    before = (eval_config_hash(cfg), pretrain_identity(cfg, "fp"))
    with open_dict(cfg.pretrain):
        del cfg.pretrain["sync_bn"]  # as before the key existed: run folders and record hashes stay valid
    assert (eval_config_hash(cfg), pretrain_identity(cfg, "fp")) == before
    with open_dict(cfg.pretrain):
        cfg.pretrain.sync_bn = True
    assert eval_config_hash(cfg) != before[0] and pretrain_identity(cfg, "fp")["pretrain"]["sync_bn"] is True


def _torchrun(*args, timeout=240):
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(REPO / "protocols" / "run.py"),
        *args,
    ]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_two_gloo_processes_train_like_one_and_evaluate_every_video_exactly_once(tiny_data, tmp_path):
    from experiment import data
    from experiment.app import frozen_features, load_pretrained
    from methods.registry import build_method
    from runtime.checkpoint import load_checkpoint

    t0 = time.time()
    one, two = tmp_path / "one", tmp_path / "two"
    run(compose_cfg(*smoke_overrides(tiny_data, one, *DDP_ARGS, "stage=pretrain")))
    assert not torch.distributed.is_initialized()  # one process: no process group at all
    t1 = time.time()
    r = _torchrun(*smoke_overrides(tiny_data, two, *DDP_ARGS), f"hydra.run.dir={two}/hydra")
    t2 = time.time()
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    print(
        f"1 process pretraining {t1 - t0:.1f}s; 2 processes pretraining + evaluation {t2 - t1:.1f}s; "
        f"largest relative difference {assert_same_curve(read_log(one), read_log(two)):.1e}"
    )

    recs = assert_records_count_every_video_once(two / "records", {"linear", "finetune", "retrieval"})
    assert r.stdout.count(" -> ") == 3 and r.stdout.count("vssl-bench git ") == 1  # rank 0 alone writes, prints
    (work,) = (two / "runs").glob("*")
    assert sorted(p.name for p in (work / "checkpoints").iterdir()) == [
        "epoch_0002.pt",
        "epoch_0002.pt.sha256",
        "epoch_0003.pt",
        "epoch_0003.pt.sha256",
    ]

    # the gathered features are one process's features of the same checkpoint, video for video, in order
    cfg = compose_cfg(*smoke_overrides(tiny_data, tmp_path / "check", *DDP_ARGS))
    es = data.eval_set(cfg, "ucf101", 0)
    method = build_method("supervised", {"name": "tiny"}, num_classes=es.index.num_classes, clip_len=16, dropout=0.0)
    sha, _ = load_pretrained(method, work / "final.pt", cfg)
    assert sha == recs["linear"]["checkpoint_sha256"]
    mine = frozen_features(method, cfg, es, sha, torch.device("cpu"))
    for part, n in (("train", SPLIT["train"]), ("val", SPLIT["val"]), ("test", SPLIT["test"])):
        assert len(mine[part]["labels"]) == n
    gathered = {p.name: load_checkpoint(p) for p in (two / "cache").glob("features-*.pt")}
    assert len(gathered) == 3 and {p.name for p in (tmp_path / "check" / "cache").glob("*.pt")} == set(gathered)
    for p in (tmp_path / "check" / "cache").glob("*.pt"):
        single = load_checkpoint(p)
        assert torch.equal(gathered[p.name]["labels"], single["labels"])
        for k in ("pooled", "retrieval"):
            torch.testing.assert_close(gathered[p.name][k], single[k], rtol=1e-5, atol=1e-6)

    # killed after epoch 3's checkpoint: both ranks resume from rank 0's checkpoint and end where they did
    final = load_checkpoint(work / "final.pt")["state_dict"]
    log = read_log(two)
    for name in ("final.pt", "checkpoints/epoch_0003.pt"):
        (work / name).unlink()
        (work / f"{name}.sha256").unlink()
    r = _torchrun(*smoke_overrides(tiny_data, two, *DDP_ARGS, "stage=pretrain"), f"hydra.run.dir={two}/hydra")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    out = r.stdout + r.stderr
    assert out.count("resuming from") == 2 and out.count("epoch 4/4") == 2 and "epoch 3/4" not in out
    resumed = load_checkpoint(work / "final.pt")["state_dict"]
    assert all(torch.equal(resumed[k], final[k]) for k in final)
    assert [{k: v for k, v in row.items() if k != "clips_per_s"} for row in read_log(two)] == [
        {k: v for k, v in row.items() if k != "clips_per_s"} for row in log
    ]
