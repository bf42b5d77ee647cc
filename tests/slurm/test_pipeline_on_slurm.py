"""`dvc repro` with launcher: slurm on the real local cluster: the matrix as one job array, run concurrently; a
cancelled cell fails alone, and the next `dvc repro` submits that cell and nothing else."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import datetime

import pytest

from dvc_repo import changed_stages, copy_repo, dvc
from sacct_rows import sacct, settled

pytestmark = pytest.mark.slow
CELLS = ["random__tiny__seed0", "speednet__tiny__seed0", "vcop__tiny__seed0", "sorder__tiny__seed0"]


def _array_jobs(out: str) -> list[str]:
    return re.findall(r"submitted to SLURM as job (\d+)", out)


def _intervals(array: str) -> dict[str, tuple[datetime, datetime]]:
    rows = settled(array, "JobID,State,Start,End", timeout=60)
    return {
        job: (datetime.fromisoformat(start), datetime.fromisoformat(end))
        for job, _, start, end in rows
        if start not in ("Unknown", "None") and end not in ("Unknown", "None")
    }


def test_the_matrix_runs_as_one_concurrent_job_array_and_only_a_failed_cell_is_rerun(slurm_cluster, tmp_path):
    slurm = {"cpus_per_task": 1, "mem_gb": 2, "timeout_min": 15, "max_num_timeout": 1, "lost_after_s": 8}
    repo, env = copy_repo(
        tmp_path / "repo",
        {
            "methods": ["random", "speednet", "vcop", "sorder"],
            "seeds": [0],
            "protocols": ["linear"],
            "datasets": ["ucf101"],
        },
        launcher="slurm",
        slurm=slurm,
    )
    dvc("repro", "data", cwd=repo, env=env)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dvc", "repro"],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    status, victim, deadline = repo / "runs" / "pipeline" / "status.json", None, time.time() + 240
    while victim is None and time.time() < deadline:  # cancel vcop's task as soon as it is submitted
        time.sleep(0.2)
        try:
            cell = json.loads(status.read_text())["cells"]["vcop__tiny__seed0"]
        except (OSError, ValueError, KeyError):
            continue
        if cell["job"].startswith("SLURM job"):
            victim = cell["job"].split()[-1]
    assert victim, "vcop's task was never submitted"
    subprocess.run(["scancel", victim], check=True, timeout=30)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode != 0, out[-3000:]
    (array,) = _array_jobs(out)
    assert "4 cell(s) submitted to SLURM as job" in out and "(one job array)" in out
    assert "vcop__tiny__seed0: failed" in out and "cancelled before it started" in out, out[-3000:]
    cells = json.loads(status.read_text())["cells"]
    assert {n: c["state"] for n, c in cells.items()} == {c: "failed" if c.startswith("vcop") else "done" for c in CELLS}
    names = {p.name.split("__")[0] for p in (repo / "results" / "records").glob("*.json") if p.name != "matrix.json"}
    assert names == {"random", "speednet", "sorder"}  # the other three are recorded

    # the tasks of the array ran side by side: at least two at once on the 2-CPU node, in less time than their sum
    spans = _intervals(array)
    assert len(spans) >= 3, spans
    overlapping = max(sum(s <= t < e for s, e in spans.values()) for t, _ in spans.values())
    summed = sum((e - s).total_seconds() for s, e in spans.values())
    done = [c for c in cells.values() if c["state"] == "done"]
    wall = max(c["end"] for c in done) - min(c["start"] for c in done)
    print(
        f"array {array}: the 3 completed cells took {wall:.0f} s from the first start to the last end; their "
        f"tasks' summed elapsed {summed:.0f} s; at most {overlapping} at once"
    )
    assert overlapping >= 2 and wall < summed

    again = dvc("repro", cwd=repo, env=env).stdout
    assert "4 cell(s) in the matrix, 3 done already, 1 to run" in again and "vcop__tiny__seed0: done" in again
    (array2,) = _array_jobs(again)
    assert len(sacct(array2, "JobID,State")) == 1  # one job: the failed cell only
    assert changed_stages(repo, env) == set()
    assert "Running stage" not in dvc("repro", cwd=repo, env=env).stdout  # and then nothing at all
