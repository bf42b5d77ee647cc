"""A committed copy of this checkout with a small DVC matrix, and the commands the pipeline tests run in it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import yaml

from helpers import REPO


def sh(cmd, cwd, env, check=True, timeout=600):
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def dvc(*args, cwd, env, check=True):
    return sh([sys.executable, "-m", "dvc", *args], cwd, env, check)


def changed_stages(repo, env) -> set[str]:
    return set(json.loads(dvc("status", "--json", cwd=repo, env=env).stdout or "{}"))


def copy_repo(dest, matrix: dict, **params_update) -> tuple:
    """A committed copy of this checkout (tracked and new files) with ``matrix`` at preset=smoke."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split("\n")
    for rel in filter(None, files):
        src = REPO / rel
        if src.is_file() and not rel.startswith(("results/tables/", "results/plots/")):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    for stale in (
        "dvc.lock",
        "results/results.csv",
        "results/metrics.json",
        "results/pretrain_curves.csv",
        "results/missing_cells.txt",
    ):
        (dest / stale).unlink(missing_ok=True)
    params = yaml.safe_load((dest / "params.yaml").read_text())
    params["matrix"].update(matrix)
    params["run"].update(preset="smoke", overrides=[])
    params["local"] = {"jobs": 2, "threads_per_job": 1}
    params.update(params_update)
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {
        **os.environ,
        "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "copy"]):
        sh(["git", *cmd], dest, env)
    return dest, env
