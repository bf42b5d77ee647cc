"""The DVC pipeline's heavy stages dispatched to the real local SLURM cluster (params: launcher=slurm)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from helpers import REPO

pytestmark = pytest.mark.slow


def test_pipeline_stage_runs_as_a_slurm_job(slurm_cluster, tmp_path):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["matrix"].update(methods=["speednet"], seeds=[0], datasets=["ucf101"])
    params["run"].update(preset="smoke", overrides=[])
    params["launcher"] = "slurm"
    params["slurm"].update(cpus_per_task=1, timeout_min=10)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**os.environ, "PYTHONPATH": f"{REPO}:{os.environ.get('PYTHONPATH', '')}"}

    def stage(*args):
        return subprocess.run([sys.executable, "-m", "protocols.pipeline", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)

    assert stage("data").returncode == 0  # generated here, in the stage's own process
    r = stage("pretrain", "--method", "speednet", "--backbone", "tiny", "--seed", "0")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "as SLURM job" in r.stdout and "finished" in r.stdout
    job_dir = tmp_path / "runs" / "pipeline" / "submitit" / "pretrain-speednet__tiny__seed0"
    assert list(job_dir.glob("*_result.pkl")) and list(job_dir.glob("*_log.out"))
    assert list((tmp_path / "runs" / "pipeline" / "pretrain" / "speednet__tiny__seed0").glob("*/final.pt"))

    # a failing cell fails its stage with the job's error, instead of hanging
    bad = stage("pretrain", "--method", "nosuchmethod", "--backbone", "tiny", "--seed", "0")
    assert bad.returncode != 0 and "nosuchmethod" in bad.stderr
