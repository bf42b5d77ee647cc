"""End-to-end behaviour of protocols/run.py on tiny embedded data (preset=smoke)."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from helpers import REPO, compose_cfg, smoke_overrides
from protocols.app import run
from protocols.checkpoint import CheckpointError
from results.records import load_records

RUN = [sys.executable, str(REPO / "protocols" / "run.py")]


def cli(*args, timeout=300):
    return subprocess.run([*RUN, *args], capture_output=True, text=True, timeout=timeout, cwd=REPO)


def test_smoke_chain_writes_one_valid_record_per_protocol_and_dataset(tiny_data, tmp_path, capsys):
    cfg = compose_cfg(*smoke_overrides(tiny_data, tmp_path, "method=tcgl"))
    written = run(cfg)
    assert len(written) == 6
    df = load_records(tmp_path / "records")
    assert set(df["protocol"]) == {"linear", "finetune", "retrieval"}
    assert set(df["dataset"]) == {"embedded-ucf101", "embedded-hmdb51"}  # never labelled as real UCF101/HMDB51
    rec = json.loads(written[0].read_text())
    for field in ("git_sha", "git_dirty", "config_hash", "dataset_fingerprint", "checkpoint_sha256", "packages",
                  "device", "timestamp", "n_videos", "n_skipped"):
        assert field in rec
    retr = df[(df.protocol == "retrieval") & (df.metric == "top1")]
    assert len(retr) == 2 and retr["value"].between(0, 1).all()
    out = capsys.readouterr().out
    assert out.startswith("vssl-bench git ")  # git sha and config printed first
    # the same command again redoes nothing and keeps every record as it was
    before = {p: p.read_bytes() for p in written}
    assert run(cfg) == []
    assert all(p.read_bytes() == b for p, b in before.items())
    assert "already done" in capsys.readouterr().out


def test_typos_in_overrides_are_errors_listing_choices(tmp_path):
    r = cli("pretrain.epocs=3", f"hydra.run.dir={tmp_path}")
    assert r.returncode != 0 and "epocs" in r.stderr
    r = cli("method=tcgll", f"hydra.run.dir={tmp_path}")
    assert r.returncode != 0 and "tcgll" in r.stderr and "vcop" in r.stderr


def test_missing_pretrained_and_mismatched_checkpoint(tiny_data, tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        run(compose_cfg(*smoke_overrides(tiny_data, tmp_path, "stage=eval", f"pretrained={tmp_path}/nope.pt")))
    run(compose_cfg(*smoke_overrides(tiny_data, tmp_path, "method=vcop", "stage=pretrain")))
    ckpt = next((tmp_path / "runs").glob("vcop__*/final.pt"))
    with pytest.raises(CheckpointError, match=r"(?s)trained as method=vcop.*(missing|unexpected)"):
        run(compose_cfg(*smoke_overrides(tiny_data, tmp_path, "method=tcgl", "stage=eval", f"pretrained={ckpt}")))


def _final_state(work):
    return {p.name: p.read_bytes() for p in (work / "runs").glob("*/final.pt")}


def _metrics(work):
    return {p.name: json.loads(p.read_text())["metrics"] for p in (work / "records").glob("*.json")}


def _kill_when(cmd, ready, timeout=240):
    """Start ``cmd``, SIGKILL it as soon as ``ready()`` is true; fails if the run ends first."""
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while time.time() < deadline and not ready() and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.mark.slow
def test_sigkill_in_pretraining_and_in_evaluation_then_rerun_is_bit_identical(tiny_data, tmp_path):
    args = ["method=vcop", "pretrain.epochs=4", "protocols=[linear,retrieval]"]
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    r = cli(*smoke_overrides(tiny_data, ref, *args), f"hydra.run.dir={ref}/h")
    assert r.returncode == 0, r.stderr[-2000:]
    cmd = [*RUN, *smoke_overrides(tiny_data, killed, *args), f"hydra.run.dir={killed}/h"]
    # 1. killed in the middle of pretraining, after the second epoch's checkpoint
    _kill_when(cmd, lambda: bool(list(killed.glob("runs/*/checkpoints/epoch_0001.pt.sha256"))))
    assert not list(killed.glob("runs/*/final.pt"))
    # 2. the rerun resumes, and is killed again during evaluation, once the first record is written
    _kill_when(cmd, lambda: bool(list(killed.glob("records/*.json"))))
    assert 1 <= len(list(killed.glob("records/*.json"))) < 4
    # 3. the last rerun completes what is missing
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "already done" in r.stdout
    assert _final_state(ref) == _final_state(killed)
    assert _metrics(ref) == _metrics(killed) and len(_metrics(ref)) == 4


def test_linear_probe_features_leave_batchnorm_statistics_unchanged(tiny_data):
    from datasets.splits import load_split
    from methods.registry import build_method
    from protocols.data import clip_dataset
    from protocols.features import extract, uniform_sampler

    cfg = compose_cfg(*smoke_overrides(tiny_data, tiny_data))
    method = build_method("vcop", "tiny", num_classes=4)
    method.train()  # as if it came straight out of pretraining
    for m in method.modules():  # make the running stats non-trivial
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.uniform_(-1, 1)
    before = {k: v.clone() for k, v in method.state_dict().items()}
    idx = load_split("ucf101", tiny_data / "embedded" / "ucf101-tiny-seed0")
    ds = clip_dataset(cfg, idx.test, uniform_sampler(cfg, 16), False, 0)
    feats = extract(method, ds, 4, 0, torch.device("cpu"))
    assert feats["pooled"].shape[:2] == (len(idx.test), cfg.eval.clips_per_video)
    after = method.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert method.training  # the caller's mode is restored


def test_cpu_determinism_is_on_without_importing_inductor():
    """Each pipeline stage is a process: the determinism switch must not pull in torch._inductor (~2.5 s)."""
    code = ("import sys, torch; from protocols.engine import setup_determinism; "
            "setup_determinism(torch.device('cpu')); "
            "assert torch.are_deterministic_algorithms_enabled(); "
            "assert torch.is_deterministic_algorithms_warn_only_enabled(); "
            "sys.exit(1 if 'torch._inductor.config' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0


def test_features_stage_caches_what_cache_only_evaluation_reads(tiny_data, tmp_path):
    from protocols.features import FeatureCacheMiss

    base = smoke_overrides(tiny_data, tmp_path, "method=random", "dataset.eval_on=[hmdb51]", "protocols=[linear]")
    run(compose_cfg(*base, "stage=pretrain"))
    with pytest.raises(FeatureCacheMiss, match="run the features stage first"):
        run(compose_cfg(*base, "stage=eval", "eval.features_from_cache_only=true"))
    assert not (tmp_path / "records").exists()
    assert run(compose_cfg(*base, "stage=features")) == []
    cached = sorted((tmp_path / "cache").glob("features-*.pt"))
    assert len(cached) == 3  # train, val and test of the one evaluation set
    stamps = {p: p.stat().st_mtime_ns for p in cached}
    written = run(compose_cfg(*base, "stage=eval", "eval.features_from_cache_only=true"))
    assert len(written) == 1 and json.loads(written[0].read_text())["extra"]["pretrain_data"] == "none"
    assert {p: p.stat().st_mtime_ns for p in cached} == stamps  # read, not rewritten
