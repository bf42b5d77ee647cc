"""`python -m slurm.status` on a sweep of the local launcher (hydra/launcher=local: submitit on this machine, no
cluster): each job's sweep number and overrides come from Hydra's own files in the point's output folder, matched by
the submitit job id, and its outcome from submitit's public job API; the submitted call (`_submitted.pkl`) is never
read, so the table is the same with every submitted pickle made unreadable."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import yaml

from helpers import REPO

pytestmark = pytest.mark.slow


def status(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "slurm.status", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def local_sweep(tiny_data, tmp_path_factory):
    """Two points through the local launcher: one that writes its record (stage=all) and one that raises."""
    work = tmp_path_factory.mktemp("local-sweep")
    sweep_dir = work / "sweep"
    r = subprocess.run(
        [
            sys.executable,
            str(REPO / "protocols" / "run.py"),
            "-m",
            "hydra/launcher=local",
            f"hydra.sweep.dir={sweep_dir}",
            "preset=smoke",
            "method=random",
            "seed=0",
            "stage=all,bogus",
            "protocols=[retrieval]",
            "dataset.eval_on=[ucf101]",
            f"paths.data={tiny_data}",
            f"paths.runs={work}/runs",
            f"paths.cache={work}/cache",
            f"paths.records={work}/records",
        ],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode != 0 and "bogus" in r.stderr, r.stdout[-2000:] + r.stderr[-3000:]  # the second point failed
    return work, sweep_dir


def test_hydra_records_the_submitit_job_id_of_each_point(local_sweep):
    _, sweep_dir = local_sweep
    ids = {p.parent.name for p in (sweep_dir / ".submitit").glob("*/*_result.pkl")}
    recorded = {}
    for point in ("0", "1"):
        job = yaml.safe_load((sweep_dir / point / ".hydra" / "hydra.yaml").read_text())["hydra"]["job"]
        recorded[str(job["id"])] = job["num"]
    assert set(recorded) == ids and sorted(recorded.values()) == [0, 1]


def test_status_reads_the_sweep_without_the_submitted_call(local_sweep):
    work, sweep_dir = local_sweep
    before = status(str(sweep_dir), cwd=work)
    for pkl in (sweep_dir / ".submitit").glob("*/*_submitted.pkl"):
        pkl.write_bytes(b"not a pickle")  # what status reads does not include the submitted call
    r = status(str(sweep_dir), cwd=work)
    assert r.returncode == 1, r.stdout + r.stderr  # a job failed
    lines = r.stdout.splitlines()
    assert lines[0] == f"sweep {sweep_dir}" and lines[-1] == "2 job(s): 1 COMPLETED, 1 FAILED"
    done = next(ln for ln in lines if "stage=all" in ln)
    assert re.match(r"\d+\s+0\s+method=random seed=0 stage=all\s+COMPLETED\s", done)  # id, number, overrides
    assert re.search(r"random__untrained__tiny__embedded-ucf101__split1__retrieval__seed0__[0-9a-f]{8}\.json", done)
    failed = next(ln for ln in lines if "stage=bogus" in ln)
    assert re.match(r"\d+\s+1\s+method=random seed=0 stage=bogus\s+FAILED\s", failed)
    assert "error: ValueError: stage='bogus'" in failed
    assert [ln.split()[:4] for ln in r.stdout.splitlines()] == [ln.split()[:4] for ln in before.stdout.splitlines()]
    rows = {j["num"]: j for j in map(json.loads, status(str(sweep_dir), "--json", cwd=work).stdout.splitlines())}
    assert (
        rows[0]["overrides"][:3] == ["preset=smoke", "method=random", "seed=0"] and "stage=all" in rows[0]["overrides"]
    )
    assert rows[0]["output_dir"].endswith("sweep/0") and rows[1]["state"] == "FAILED"


def test_a_job_that_has_not_started_shows_its_id_and_no_overrides(local_sweep, tmp_path):
    """No Hydra output folder yet, no result, no process: listed with what is known."""
    _, sweep_dir = local_sweep
    subprocess.run(["cp", "-a", str(sweep_dir), str(tmp_path / "sweep")], check=True)
    sweep = tmp_path / "sweep"
    folder = sweep / ".submitit" / "999999999"
    folder.mkdir()
    (folder / "999999999_submitted.pkl").write_bytes(b"not a pickle")
    r = status(str(sweep), cwd=tmp_path)
    row = next(ln for ln in r.stdout.splitlines() if ln.startswith("999999999 "))
    assert row.split()[1:4] == ["-", "-", "UNKNOWN"] and "no result file and no scheduler record" in row
    assert r.stdout.splitlines()[-1] == "3 job(s): 1 COMPLETED, 1 FAILED, 1 UNKNOWN"
