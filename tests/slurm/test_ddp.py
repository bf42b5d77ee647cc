"""One run spanning two SLURM tasks on the real local cluster: ``hydra/launcher=slurm`` with ``tasks_per_node=2``
(one CPU each), submitit starts one process per task, they form a gloo process group (runtime/distributed.py), and
the run trains like one process with the same global batch and evaluates every video exactly once, as
tests/protocols/test_distributed.py checks for the same run started with torchrun (settings: tests/ddp_helpers.py)."""

import re
import subprocess
import sys
import time

import pytest

from experiment.app import run

from ddp_helpers import DDP_ARGS, assert_records_count_every_video_once, assert_same_curve, read_log
from helpers import REPO, compose_cfg, smoke_overrides
from sacct_rows import settled_states

LAUNCHER = [
    "hydra/launcher=slurm",
    "hydra.launcher.tasks_per_node=2",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=2",
    "hydra.launcher.timeout_min=15",
]


@pytest.mark.slow
def test_a_two_task_job_trains_like_one_process_and_evaluates_every_video_once(slurm_cluster, tiny_data, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    t0 = time.time()
    run(compose_cfg(*smoke_overrides(tiny_data, one, *DDP_ARGS, "stage=pretrain")))
    t1 = time.time()
    sweep_dir = two / "multirun"
    r = subprocess.run(
        [
            sys.executable,
            str(REPO / "protocols" / "run.py"),
            "-m",
            *LAUNCHER,
            f"hydra.sweep.dir={sweep_dir}",
            *smoke_overrides(tiny_data, two, *DDP_ARGS),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    print(
        f"1 process pretraining {t1 - t0:.1f}s; 2-task SLURM job submitted to done {time.time() - t1:.1f}s; "
        f"largest relative difference {assert_same_curve(read_log(one), read_log(two)):.1e}"
    )
    assert_records_count_every_video_once(two / "records", {"linear", "finetune", "retrieval"})

    (script,) = (sweep_dir / ".submitit").glob("*/*_submission.sh")
    text = script.read_text()
    assert "#SBATCH --ntasks-per-node=2" in text and "#SBATCH --cpus-per-task=1" in text
    logs = {}
    for p in script.parent.glob("*_log.*"):
        task = int(re.search(r"_(\d+)_log\.(out|err)$", p.name).group(1))
        logs[task] = logs.get(task, "") + p.read_text(errors="replace")
    assert sorted(logs) == [0, 1]  # one job, two tasks
    for task in (0, 1):
        assert f"rank {task} of 2 on cpu (gloo)" in logs[task]
    assert logs[0].count(" -> ") == 3 and " -> " not in logs[1]  # task 0 alone wrote (and printed) the records
    assert settled_states(script.parent.name) == ["COMPLETED"]
