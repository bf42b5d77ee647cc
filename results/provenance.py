"""Provenance of a result: code version, config hash, package versions, device and time."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

# distributions reported by package_versions (besides python)
_PACKAGES = ("torch", "torchvision", "timm", "av", "numpy", "hydra-core", "submitit")
_REPO_DEFAULT = Path(__file__).resolve().parent.parent  # the vssl-bench checkout this code runs from
# The Python code whose content decides a result record: what a pretrained checkpoint depends on, and what an
# evaluation depends on besides. A record's git sha and dirty flag, its code hash, and the DVC sweep stage's
# dependencies (dvc.yaml; a test checks) are all about these paths. Orchestration (protocols/run.py, pipeline/,
# slurm/, experiment/checks.py, experiment/console.py), the config files (a record holds its resolved config and its
# hash), the tables and plots are not.
PRETRAIN_CODE = ("methods", "datasets", "runtime", "experiment/data.py", "protocols/pretrain.py", "results/atomic.py")
EVAL_CODE = PRETRAIN_CODE + (
    "experiment/app.py",
    "protocols/registry.py",
    "protocols/features.py",
    "protocols/linear.py",
    "protocols/finetune.py",
    "protocols/retrieval.py",
    "protocols/svm.py",
    "results/identity.py",
    "results/records.py",
    "results/provenance.py",
)


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
        )
    except (OSError, subprocess.SubprocessError):  # git not installed, cwd missing, hung
        return None
    return done.stdout if done.returncode == 0 else None


def git_info(repo_dir: str | os.PathLike | None = None, paths: tuple[str, ...] = EVAL_CODE) -> dict:
    """``{'sha', 'dirty', 'time'}`` of the code under ``paths`` (default: the code a record depends on) in the
    repository holding ``repo_dir``.

    ``sha`` is the newest commit that changed a file under ``paths``: checking it out gives exactly that code, and it
    stays the same across commits that add results, edit documentation, configs or orchestration, so that committed
    results reproduce byte for byte. ``time`` is that commit's time (ISO 8601, UTC). ``dirty`` means a tracked file
    under ``paths`` differs from HEAD (staged or not); untracked files are ignored. Documentation (``*.md``) inside a
    folder of ``paths`` does not count, as in :func:`code_hash`. ``repo_dir`` defaults to the
    checkout this package was imported from (not the working directory, which Hydra may change). Outside a git
    repository, without git, before the first commit or before the first commit of that code the sha is
    ``'unknown'`` and ``dirty`` is True: such code cannot be traced to a commit, so results from it must not pass as
    clean.
    """
    cwd = Path(repo_dir) if repo_dir is not None else _REPO_DEFAULT
    unknown = {"sha": "unknown", "dirty": True, "time": "unknown"}
    # documentation inside the code folders (methods/RECIPES.md, ...) is not code: a doc edit keeps the sha
    spec = ["--", *(f":(top){p}" for p in paths), *(f":(top,exclude,glob){p}/**/*.md" for p in paths)]
    if _git(["rev-parse", "--verify", "HEAD"], cwd) is None:
        return unknown
    last = _git(["log", "-1", "--format=%H %ct", "HEAD", *spec], cwd)
    status = _git(["status", "--porcelain", "--untracked-files=no", *spec], cwd)
    if last is None or status is None or not last.strip():
        return unknown
    sha, stamp = last.split()
    when = datetime.fromtimestamp(int(stamp), timezone.utc).isoformat(timespec="seconds")
    return {"sha": sha, "dirty": bool(status.strip()), "time": when}


def code_hash(paths: tuple[str, ...] = EVAL_CODE, root: str | os.PathLike | None = None) -> str:
    """First 16 hex digits of the sha256 over the files under ``paths`` (relative to the checkout), each with its
    relative path: the code a result depends on, committed or not, with the data files it reads (the official
    checkpoints' name lists in methods/official_names). Comments count: any edit is a change. Documentation
    (``*.md``) inside a folder of ``paths`` and ``__pycache__`` are left out."""
    base = Path(root) if root is not None else _REPO_DEFAULT
    h = hashlib.sha256()
    for rel in paths:
        p = base / rel
        files = [f for f in sorted(p.rglob("*")) if f.suffix != ".md"] if p.is_dir() else [p]
        for f in files:
            if "__pycache__" in f.parts or not f.is_file():
                continue
            h.update(f.relative_to(base).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _plain(obj: Any, where: str) -> Any:
    if isinstance(obj, (DictConfig, ListConfig)):
        return _plain(OmegaConf.to_container(obj, resolve=True), where)
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise TypeError(f"config key {where}.{key!r} has type {type(key).__name__}")
            if str(key) in out:
                raise TypeError(f"config keys {where}.{key!r} collide once written as JSON strings")
            out[str(key)] = _plain(value, f"{where}.{key}")
        return out
    if isinstance(obj, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"config value {where} has type {type(obj).__name__}; only plain JSON-like values can be hashed")


def canonical_json(cfg: Any) -> str:
    """Canonical JSON (sorted keys, no spaces, interpolations resolved) of a plain dict or an OmegaConf config."""
    return json.dumps(_plain(cfg, "cfg"), sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def config_hash(cfg: Any) -> str:
    """First 16 hex digits of the sha256 of :func:`canonical_json` ``(cfg)``; independent of key order."""
    return hashlib.sha256(canonical_json(cfg).encode("utf-8")).hexdigest()[:16]


def package_versions() -> dict[str, str]:
    """Versions of python and the key packages; a package that is not installed is left out."""
    versions = {"python": platform.python_version()}
    for dist in _PACKAGES:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return versions


def device_info(device: Any) -> str:
    """Human-readable device: ``'cpu (2 threads)'``, ``'NVIDIA H100 80GB HBM3 (cuda:0)'``, ..."""
    import torch

    dev = torch.device(device)
    if dev.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    if dev.type == "cuda":
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        return f"{torch.cuda.get_device_name(index)} (cuda:{index})"
    return str(dev)


def utc_now() -> str:
    """Current time, ISO 8601 in UTC with seconds, e.g. ``'2025-11-26T14:13:05+00:00'``."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


__all__ = [
    "EVAL_CODE",
    "PRETRAIN_CODE",
    "canonical_json",
    "code_hash",
    "config_hash",
    "device_info",
    "git_info",
    "package_versions",
    "utc_now",
]
