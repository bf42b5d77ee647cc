"""Sweeps of protocols/run.py on the real local SLURM cluster through hydra/launcher=slurm.

Each sweep point is a preset=smoke run on the session's tiny data, evaluated with the linear probe on one dataset,
so it writes exactly one result record. Tasks get one CPU each (two run at once on the 2-core machine) and so one
torch thread (the launcher's setup exports OMP_NUM_THREADS from the CPUs granted).
"""

import json
import os
import pickle
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from results.records import load_records

from helpers import REPO
from sacct_rows import settled_states

RUN = [sys.executable, str(REPO / "protocols" / "run.py"), "-m"]
ONE_RECORD = ["preset=smoke", "protocols=[linear]", "dataset.eval_on=[ucf101]"]
# timeout_min above 10: submitit calls a USR2 within min(0.8 * limit, limit - 10 min) of the start a preemption
# (requeued without limit), later ones a time-out (requeued at most max_num_timeout times).
LAUNCHER = [
    "hydra/launcher=slurm",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=2",
    "hydra.launcher.timeout_min=15",
]


def paths(data: Path, work: Path) -> list[str]:
    return [
        f"paths.data={data}",
        f"paths.runs={work}/runs",
        f"paths.cache={work}/cache",
        f"paths.records={work}/records",
    ]


def sweep(sweep_dir: Path, *overrides: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run a sweep to its end; the result carries the wall time in ``.wall``."""
    t0 = time.time()
    r = subprocess.run(
        [*RUN, *LAUNCHER, f"hydra.sweep.dir={sweep_dir}", *overrides],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    r.wall = time.time() - t0
    return r


def job_dirs(sweep_dir: Path) -> dict[str, Path]:
    """submitit's per-task folders, by job id (``<array id>_<task>``)."""
    return {p.parent.name: p.parent for p in (sweep_dir / ".submitit").glob("*/*_submitted.pkl")}


def job_log(folder: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in sorted(folder.glob("*_log.*")))


def status(*args: str, cwd=REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "slurm.status", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | {"PYTHONPATH": str(REPO)},
    )


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.glob("*.json"))}


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """The module's folder; sweeps go under its multirun/ (where slurm.status looks by default). Any task still
    queued or running when the module ends is cancelled."""
    root = tmp_path_factory.mktemp("slurm-sweeps")
    yield root
    arrays = {name.split("_")[0] for d in root.glob("multirun/*") for name in job_dirs(d)}
    if arrays:
        subprocess.run(["scancel", *sorted(arrays)], capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def finished_sweep(slurm_cluster, tiny_data, work):
    """2 methods x 2 seeds, run to the end once for the module."""
    sweep_dir = work / "multirun" / "1-finished"
    r = sweep(sweep_dir, "method=tcgl,vcop", "seed=0,1", *ONE_RECORD, *paths(tiny_data, work))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    print(f"4-point sweep: {r.wall:.1f}s")
    return sweep_dir, r


@pytest.fixture(scope="module")
def failed_sweep(finished_sweep, tiny_data, work):
    """Two points on the finished sweep's folders: stage=all (already done) and stage=bogus (raises)."""
    sweep_dir = work / "multirun" / "2-failed"
    before = snapshot(work / "records")
    r = sweep(
        sweep_dir, "method=vcop", "seed=0", "stage=all,bogus", *ONE_RECORD, *paths(tiny_data, work), timeout=180
    )  # returns instead of hanging, or the test fails here
    return sweep_dir, r, before


@pytest.mark.slow
def test_sweep_is_one_job_array_and_every_record_lands(finished_sweep, work):
    sweep_dir, r = finished_sweep
    jobs = job_dirs(sweep_dir)
    (array,) = {j.split("_")[0] for j in jobs}  # one array id
    assert sorted(jobs) == [f"{array}_{i}" for i in range(4)]
    scripts = list((sweep_dir / ".submitit").glob("*/*_submission.sh"))
    assert len(scripts) == 1 and "#SBATCH --array=0-3" in scripts[0].read_text()  # one sbatch for the sweep
    assert "#SBATCH --requeue" in scripts[0].read_text()
    assert all(settled_states(job) == ["COMPLETED"] for job in jobs)
    df = load_records(work / "records")
    names = set(df["record_file"].map(lambda p: re.sub(r"__[0-9a-f]{8}\.json$", ".json", Path(p).name)))
    assert names == {
        f"{m}__tiny__embedded-ucf101__split1__linear__seed{s}.json" for m in ("tcgl", "vcop") for s in (0, 1)
    }  # and the variant's hash
    assert set(zip(df["method"], df["seed"])) == {("tcgl", 0), ("tcgl", 1), ("vcop", 0), ("vcop", 1)}
    assert df[df.metric == "top1"]["value"].between(0, 1).all()


@pytest.mark.slow
def test_a_failing_job_is_reported_and_the_others_records_are_kept(failed_sweep, work):
    sweep_dir, r, before = failed_sweep
    assert r.returncode != 0
    assert re.search(r"ValueError: .*bogus", r.stderr)  # the sweep command surfaces the job's error
    jobs = job_dirs(sweep_dir)
    assert len(jobs) == 2
    failed = next(d for name, d in jobs.items() if name.endswith("_1"))  # the sweep's second point
    err = (failed / f"{failed.name}_0_log.err").read_text()
    assert "Traceback" in err and re.search(r"ValueError: .*bogus", err)  # the traceback is in the job's own log
    assert snapshot(work / "records") == before  # nothing lost or rewritten
    assert len(before) == 4


@pytest.mark.slow
def test_resubmitting_a_finished_sweep_redoes_nothing(finished_sweep, tiny_data, work):
    before = snapshot(work / "records")
    finals = {p: p.stat().st_mtime_ns for p in (work / "runs").glob("*/final.pt")}
    assert len(before) == 4 and len(finals) == 4
    sweep_dir = work / "multirun" / "3-resubmitted"
    r = sweep(sweep_dir, "method=tcgl,vcop", "seed=0,1", *ONE_RECORD, *paths(tiny_data, work))
    assert r.returncode == 0, r.stderr[-4000:]
    print(f"resubmitted 4-point sweep: {r.wall:.1f}s")
    assert snapshot(work / "records") == before  # same files, same bytes, same mtimes
    assert {p: p.stat().st_mtime_ns for p in finals} == finals
    logs = [job_log(d) for d in job_dirs(sweep_dir).values()]
    assert len(logs) == 4
    assert all("pretraining already finished" in log and "already done" in log for log in logs)


@pytest.mark.slow
def test_status_shows_each_jobs_state_and_record_or_error(finished_sweep, failed_sweep, work):
    sweep_dir, _ = finished_sweep
    r = status(str(sweep_dir))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    for job in job_dirs(sweep_dir):
        row = next(line for line in lines if line.startswith(job + " "))
        assert " COMPLETED " in row
        m, s = re.search(r"method=(\w+) seed=(\d)", row).groups()
        assert re.search(rf"{m}__tiny__embedded-ucf101__split1__linear__seed{s}__[0-9a-f]{{8}}\.json", row)
    assert lines[-1] == "4 job(s): 4 COMPLETED"
    # with no argument: the newest sweep under ./multirun (by its multirun.yaml), made the failed one here
    failed_dir = failed_sweep[0]
    os.utime(failed_dir / "multirun.yaml")
    r = status(cwd=work)
    assert r.stdout.startswith("sweep multirun/2-failed\n")
    assert r.returncode == 1, r.stdout + r.stderr  # a job failed
    row = next(line for line in r.stdout.splitlines() if "stage=bogus" in line)
    assert " FAILED " in row and re.search(r"error: ValueError: .*bogus", row)
    row = next(line for line in r.stdout.splitlines() if "stage=all" in line)
    assert " COMPLETED " in row and re.search(r"vcop__tiny__embedded-ucf101__split1__linear__seed0__\w{8}\.json", row)
    assert "already done" in row
    rows = [json.loads(line) for line in status(str(failed_dir), "--json").stdout.splitlines()]
    assert sorted(j["state"] for j in rows) == ["COMPLETED", "FAILED"]


def test_the_launchers_checkpoint_hook_resubmits_itself_with_the_same_arguments():
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher
    from submitit.helpers import DelayedSubmission

    launcher = SlurmLauncher(submitit_folder="unused")
    args = (["method=vcop", "seed=0"], "hydra.sweep.dir", 1, "job_id_for_1", {})
    delayed = launcher.checkpoint(*args)
    assert isinstance(delayed, DelayedSubmission)
    assert delayed.function is launcher and delayed.args == args and delayed.kwargs == {}


@pytest.mark.slow
def test_preempted_pretraining_is_requeued_resumes_and_matches_an_uninterrupted_run(slurm_cluster, tiny_data, tmp_path):
    """Two identical runs in one array, each with its own folders: task 1 gets USR2 (what SLURM sends before
    preempting or timing out a job) after its first pretraining epoch, checkpoints through the launcher's hook,
    is requeued and resumes; task 0 runs uninterrupted. Their results must agree exactly."""
    sweep_dir, ref, pre = tmp_path / "sweep", tmp_path / "ref", tmp_path / "preempted"
    cmd = [
        *RUN,
        *LAUNCHER,
        f"hydra.sweep.dir={sweep_dir}",
        "method=vcop",
        "seed=0",
        *ONE_RECORD,
        "pretrain.epochs=12",
        f"paths.data={tiny_data}",
        f"paths.runs={ref},{pre}",
        "paths.cache=${paths.runs}/cache",
        "paths.records=${paths.runs}/records",
    ]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 180
        while not list(pre.glob("*/checkpoints/epoch_0000.pt.sha256")):
            assert proc.poll() is None and time.time() < deadline, "the job never wrote its first checkpoint"
            time.sleep(0.05)
        job = next(j for j in job_dirs(sweep_dir) if j.endswith("_1"))
        before_signal = list(pre.glob("*/final.pt"))
        subprocess.run(["scancel", "--signal=USR2", job], check=True, timeout=30)
        out, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out[-2000:] + err[-4000:]
    assert not before_signal, "pretraining ended before the signal: the test did not preempt anything"

    folder = job_dirs(sweep_dir)[job]
    log = job_log(folder)
    assert "this job is preempted" in log and f"Requeued job {job}" in log
    # the requeued task ran the launcher's checkpoint result: the same launcher call with the same overrides
    with (folder / f"{job}_submitted.pkl").open("rb") as f:
        delayed = pickle.load(f)
    assert type(delayed.function).__name__ == "SlurmLauncher" and f"paths.runs={pre}" in delayed.args[0]
    assert settled_states(job) == ["REQUEUED", "COMPLETED"]
    resumed = re.search(r"resuming from \S+epoch_(\d+)\.pt \(epoch (\d+) done\)", log)
    assert resumed and int(resumed.group(2)) < 11
    epochs = [int(row.split(",")[0]) for row in next(pre.glob("*/pretrain_log.csv")).read_text().splitlines()[1:]]
    assert epochs == list(range(12))  # each epoch logged once: resumed, not restarted

    # identical to the uninterrupted run: weights and every metric (CPU, one thread in both)
    a, b = (torch.load(next(d.glob("*/final.pt")), weights_only=True) for d in (ref, pre))
    assert a["state_dict"].keys() == b["state_dict"].keys()
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    ra, rb = (json.loads(next((d / "records").glob("*.json")).read_text()) for d in (ref, pre))
    assert ra["metrics"] == rb["metrics"]
    table = status(str(sweep_dir)).stdout
    assert f"paths.runs={pre}" in table and "COMPLETED (requeued 1x)" in table
