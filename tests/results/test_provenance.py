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
from results.provenance import code_hash, config_hash, device_info, git_info, package_versions, utc_now
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
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def _sha_dirty(info: dict) -> dict:
    return {k: info[k] for k in ("sha", "dirty")}


def _head(repo) -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()


def test_git_info_detects_dirty_tracked_changes(tmp_path):
    repo = tmp_path / "repo"
    (repo / "methods").mkdir(parents=True)
    _git(repo, "init", "-q")
    assert git_info(repo) == {"sha": "unknown", "dirty": True, "time": "unknown"}  # no commit yet
    (repo / "methods" / "train.py").write_text("lr = 0.01\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "init")
    head = _head(repo)
    info = git_info(repo)
    assert _sha_dirty(info) == {"sha": head, "dirty": False}
    assert datetime.fromisoformat(info["time"]).utcoffset() == timedelta(0)

    (repo / "methods" / "notes.py").write_text("untracked\n")  # untracked files do not count
    assert _sha_dirty(git_info(repo)) == {"sha": head, "dirty": False}
    (repo / "methods" / "train.py").write_text("lr = 0.1\n")
    assert _sha_dirty(git_info(repo)) == {"sha": head, "dirty": True}
    _git(repo, "add", "methods/train.py")  # staged but not committed is still dirty
    assert git_info(repo)["dirty"] is True
    _git(repo, "commit", "-q", "-m", "lr")
    info = git_info(str(repo / "methods"))  # seen from a subfolder too
    assert info["dirty"] is False and info["sha"] != head and len(info["sha"]) == 40


def test_git_sha_is_the_newest_commit_that_changed_the_code_records_depend_on(tmp_path):
    """Committing results, docs, configs, DVC's files or orchestration after a run does not change the sha its
    records carry, nor make them dirty: a fresh clone of the results commit computes the same records (byte for
    byte). A config's effect is in the record itself (its resolved config and hash)."""
    repo = tmp_path / "repo"
    (repo / "methods").mkdir(parents=True)
    _git(repo, "init", "-q")
    (repo / "methods" / "m.py").write_text("x = 1\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "code")
    code = _head(repo)
    others = (
        "README.md",
        "results/results.csv",
        "results/.gitignore",
        "data/.gitignore",
        "dvc.lock",
        "params.yaml",
        "tests/test_m.py",
        "results/reference/reported.csv",
        "results/tables.py",
        "pipeline/stages.py",
        "protocols/conf/method/m.yaml",
        "methods/RECIPES.md",
        "methods/m/README.md",
    )
    for name in others:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text("after the run\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "results, docs, configs")
    assert _head(repo) != code and _sha_dirty(git_info(repo)) == {"sha": code, "dirty": False}
    for name in others:
        (repo / name).write_text("edited, not committed\n")
    assert git_info(repo)["dirty"] is False
    (repo / "methods" / "m.py").write_text("x = 2\n")
    _git(repo, "commit", "-qam", "code again")
    assert git_info(repo)["sha"] == _head(repo)
    assert git_info(repo, paths=("README.md",))["sha"] == _head(repo)  # other paths, on request


def test_code_hash_follows_content_not_commits(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    (tmp_path / "pkg" / "NOTES.md").write_text("documentation\n")
    (tmp_path / "pkg" / "names.txt").write_text("a data file the code reads\n")
    h = code_hash(("pkg",), tmp_path)
    (tmp_path / "pkg" / "NOTES.md").write_text("edited\n")
    (tmp_path / "pkg" / "__pycache__").mkdir()
    (tmp_path / "pkg" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    assert code_hash(("pkg",), tmp_path) == h
    (tmp_path / "pkg" / "names.txt").write_text("edited\n")
    assert code_hash(("pkg",), tmp_path) != h
    h = code_hash(("pkg",), tmp_path)
    (tmp_path / "pkg" / "a.py").write_text("x = 1  # a comment is an edit too\n")
    assert code_hash(("pkg",), tmp_path) != h


def test_git_info_before_the_code_has_a_commit(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "README.md").write_text("docs first\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "docs")
    assert git_info(repo) == {"sha": "unknown", "dirty": True, "time": "unknown"}


def test_git_info_outside_a_repo_and_without_git(tmp_path, monkeypatch):
    unknown = {"sha": "unknown", "dirty": True, "time": "unknown"}
    assert git_info(tmp_path) == unknown
    assert git_info(tmp_path / "does-not-exist") == unknown
    monkeypatch.setenv("PATH", str(tmp_path))  # no git executable
    assert git_info() == unknown


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
    from helpers import make_record

    git = git_info()
    record = make_record(
        git_sha=git["sha"],
        git_dirty=git["dirty"],
        git_time=git["time"],
        code_hash=code_hash(),
        config_hash=config_hash({"a": 1}),
        packages=package_versions(),
        device=device_info("cpu"),
    )
    assert validate_record(record) is record
