"""Tests for results.provenance."""
from __future__ import annotations

import re
import subprocess
from datetime import datetime, timedelta, timezone
from importlib import metadata

import pytest
import torch
from omegaconf import OmegaConf

from results import provenance
from results.provenance import config_hash, device_info, git_info, package_versions, utc_now
from results.records import validate_record


def test_config_hash_stable_under_key_order_and_changes_with_values():
    a = {"method": {"name": "vcop", "optim": {"lr": 0.01, "momentum": 0.9}}, "seed": 0, "clips": [1, 2, 3]}
    b = {"clips": [1, 2, 3], "seed": 0, "method": {"optim": {"momentum": 0.9, "lr": 0.01}, "name": "vcop"}}
    h = config_hash(a)
    assert re.fullmatch(r"[0-9a-f]{16}", h)
    assert config_hash(b) == h
    assert config_hash({**a, "seed": 1}) != h
    assert config_hash({**a, "clips": [1, 3, 2]}) != h  # list order is meaningful
    assert config_hash({**a, "method": {**a["method"], "name": "tcgl"}}) != h


def test_config_hash_accepts_omegaconf_and_resolves_interpolations():
    plain = {"lr": 0.01, "optim": {"lr": 0.01}, "name": "vcop"}
    cfg = OmegaConf.create({"name": "vcop", "lr": 0.01, "optim": {"lr": "${lr}"}})
    assert config_hash(cfg) == config_hash(plain)
    assert config_hash({"wrapped": cfg}) == config_hash({"wrapped": plain})
    cfg.lr = 0.02
    assert config_hash(cfg) != config_hash(plain)


def test_config_hash_refuses_unhashable_values():
    with pytest.raises(TypeError, match=r"cfg.model has type Linear"):
        config_hash({"model": torch.nn.Linear(1, 1)})
    with pytest.raises(TypeError, match="collide"):
        config_hash({1: "a", "1": "b"})


def _git(repo, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", *args],
                   cwd=repo, check=True, capture_output=True)


def test_git_info_detects_dirty_tracked_changes(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    assert git_info(repo) == {"sha": "unknown", "dirty": True}  # no commit yet
    (repo / "train.py").write_text("lr = 0.01\n")
    _git(repo, "add", "train.py")
    _git(repo, "commit", "-q", "-m", "init")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    assert git_info(repo) == {"sha": head, "dirty": False}

    (repo / "notes.txt").write_text("untracked\n")  # untracked files do not count
    assert git_info(repo) == {"sha": head, "dirty": False}
    (repo / "train.py").write_text("lr = 0.1\n")
    assert git_info(repo) == {"sha": head, "dirty": True}
    _git(repo, "add", "train.py")  # staged but not committed is still dirty
    assert git_info(repo)["dirty"] is True
    _git(repo, "commit", "-q", "-m", "lr")
    info = git_info(str(repo / "."))
    assert info["dirty"] is False and info["sha"] != head and len(info["sha"]) == 40

    # the pipeline's own outputs (dvc.lock after every stage, committed tables) do not make the code dirty ...
    (repo / "results" / "tables").mkdir(parents=True)
    for name in ("dvc.lock", "results/tables/linear_probe.md"):
        (repo / name).write_text("v1\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "outputs")
    for name in ("dvc.lock", "results/tables/linear_probe.md"):
        (repo / name).write_text("v2\n")
    sub = repo / "results"
    assert git_info(repo)["dirty"] is False and git_info(sub)["dirty"] is False
    (repo / "train.py").write_text("lr = 1.0\n")  # ... code does, seen from a subfolder too
    assert git_info(repo)["dirty"] is True and git_info(sub)["dirty"] is True


def test_git_info_outside_a_repo_and_without_git(tmp_path, monkeypatch):
    assert git_info(tmp_path) == {"sha": "unknown", "dirty": True}
    assert git_info(tmp_path / "does-not-exist") == {"sha": "unknown", "dirty": True}
    monkeypatch.setenv("PATH", str(tmp_path))  # no git executable
    assert git_info() == {"sha": "unknown", "dirty": True}


def test_package_versions(monkeypatch):
    versions = package_versions()
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", versions["python"])
    assert versions["torch"] == metadata.version("torch")
    assert set(versions) <= {"python", "torch", "torchvision", "timm", "av", "numpy", "hydra-core", "submitit"}
    monkeypatch.setattr(provenance, "_PACKAGES", ("numpy", "surely-not-an-installed-dist-xyz"))
    assert set(package_versions()) == {"python", "numpy"}


def test_device_info():
    assert re.fullmatch(r"cpu \(\d+ threads\)", device_info("cpu"))
    assert device_info(torch.device("cpu")) == device_info("cpu")
    if torch.cuda.is_available():
        assert device_info("cuda:0") == f"{torch.cuda.get_device_name(0)} (cuda:0)"


def test_utc_now_is_iso_utc():
    stamp = datetime.fromisoformat(utc_now())
    assert stamp.utcoffset() == timedelta(0)
    assert abs(datetime.now(timezone.utc) - stamp) < timedelta(minutes=1)


def test_provenance_fills_a_valid_record(tmp_path):
    git = git_info()
    record = {
        "method": "vcop", "backbone": "r3d", "dataset": "ucf101", "split": 1, "protocol": "retrieval",
        "seed": 0, "metrics": {"R@1": 0.14}, "n_videos": 10, "n_skipped": 0, "git_sha": git["sha"],
        "git_dirty": git["dirty"], "config_hash": config_hash({"a": 1}), "dataset_fingerprint": "x",
        "checkpoint_sha256": None, "packages": package_versions(), "device": device_info("cpu"),
        "wall_time_s": 0.5, "timestamp": utc_now(),
    }
    assert validate_record(record) is record
