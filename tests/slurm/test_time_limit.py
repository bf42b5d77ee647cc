"""A job that runs into its SLURM time limit is requeued and completes: SLURM itself signals it (no scancel).

How SLURM signals a job at its time limit (slurmctld 22.05, job_time_limit and send_job_warn_signal): it looks at
running jobs every 30 s (PERIODIC_TIMEOUT) and sends the ``--signal`` (submitit: ``USR2@signal_delay_s``) at the
first look where ``now + signal_delay_s + 30 >= end``, so 0-30 s earlier than asked, never later; it kills the job
at the first look at or after its end, at least 30 s after the signal. With ``--time=1`` and ``signal_delay_s=1`` an
allocation is signalled between 29 and 59 s after it starts; a requeued job starts again 11-16 s after the requeue
(its begin time is pushed past the credential lifetime, ``cred_expire=10`` in slurm/local-cluster.sh).

Why such a job used to end FAILED after its work was done, and the fix (runtime/preemption.py): submitit's
SIGUSR2 handler stays installed after the job's function returned. A first version of this test (``--time=1``,
``signal_delay_s=40``: signalled at the first 30 s look, 0-30 s into every allocation) was signalled 6 times,
checkpointed, requeued and resumed each time, but the last allocation was signalled just after it had written its
record: slurmctld logged ``WEXITSTATUS 140`` = 128 + SIGUSR2, i.e. the process was killed by the signal's default
action. Python puts back SIG_DFL for every signal it handles when the interpreter finalizes (after the atexit
callbacks, before the modules and torch are torn down: ~0.5-1.5 s with torch loaded), so a USR2 then terminates
the job: FAILED, although its work was done. Slightly earlier (while submitit pickles the result, or in atexit) the
handler instead requeues the finished job, and where it interrupted the result's pickling the ``.save_tmp`` file left
behind makes the next allocation fail ("A temporary saved file already exists"). ``experiment.app.run`` now ignores
the signal once a run has ended (SIG_IGN survives finalization); test_a_signal_after_the_work_is_done_... below puts
the signal into each of the three windows, with and without that call.
"""

from __future__ import annotations

import math
import os
import pickle
import re
import signal
import subprocess
import sys
import time
from datetime import datetime

import pytest

from helpers import REPO
from sacct_rows import settled

TIME_LIMIT_MIN = 1  # SLURM's smallest time limit
SIGNAL_DELAY_S = 1  # the signal comes 1-31 s before the limit, i.e. 29-59 s into each allocation
# The pretraining must outlast one allocation's latest signal (59 s, ~7-13 s of it start-up) on any machine, yet not
# need more allocations than MAX_TIMEOUTS allows. A fixed epoch count does neither: a tiny-data VCOP epoch took
# ~1-1.5 s when this test was written and ~0.45 s after the per-sample draws (one 70-epoch job then completed in a
# single 47 s allocation). So the test first times a few epochs the way the job runs them (same command line, same
# CPUs: the local cluster does not confine jobs) and asks for PRETRAIN_WORK_S of epochs: at most 59 - 7 = 52 s of it
# fit into one allocation, and each allocation does >= ~16 s, so 2-8 allocations (typically 3). The margin is for
# the calibration's overestimate: its 5 timed epochs ran ~1.5x slower than the job's later ones (0.71 s against
# ~0.46 s, 2026-12-03).
PRETRAIN_WORK_S = 120
CALIBRATION_EPOCHS = 6
MAX_TIMEOUTS = 10  # submitit's max_num_timeout: requeues after a time-out
_EPOCH_LINE = re.compile(r"^\[([\d-]+ [\d:]+,\d+)\]\[protocols\.pretrain\]\[INFO\] - epoch \d+/", re.MULTILINE)


def _seconds_per_epoch(tiny_data, work) -> float:
    """Seconds per smoke-preset VCOP epoch run as the job runs it, from the pretraining log's timestamps."""
    cmd = [
        sys.executable,
        str(REPO / "protocols" / "run.py"),
        "method=vcop",
        "seed=0",
        "preset=smoke",
        "stage=pretrain",
        f"pretrain.epochs={CALIBRATION_EPOCHS}",
        f"paths.data={tiny_data}",
        f"paths.runs={work}",
        f"paths.cache={work}/cache",
        f"paths.records={work}/records",
    ]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    stamps = [
        datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S,%f").timestamp() for m in _EPOCH_LINE.finditer(r.stdout + r.stderr)
    ]
    assert len(stamps) == CALIBRATION_EPOCHS, (r.stdout + r.stderr)[-3000:]
    return (stamps[-1] - stamps[0]) / (CALIBRATION_EPOCHS - 1)  # the first epoch also pays for start-up


def _settled(job: str) -> list[tuple[str, int]]:
    """(state, elapsed seconds) of every allocation of ``job`` once the last one has ended, oldest first."""
    rows = []
    for state, elapsed in settled(job, "State,Elapsed"):
        h, m, s = (int(x) for x in elapsed.split("-")[-1].split(":"))
        rows.append((state, 3600 * h + 60 * m + s))
    return rows


@pytest.mark.slow
def test_a_job_reaching_its_time_limit_checkpoints_is_requeued_resumes_and_completes(
    slurm_cluster, tiny_data, tmp_path
):
    sweep_dir, work = tmp_path / "sweep", tmp_path / "work"
    per_epoch = _seconds_per_epoch(tiny_data, tmp_path / "calibration")
    epochs = max(40, math.ceil(PRETRAIN_WORK_S / per_epoch))
    cmd = [
        sys.executable,
        str(REPO / "protocols" / "run.py"),
        "-m",
        "hydra/launcher=slurm",
        "hydra.launcher.cpus_per_task=1",
        "hydra.launcher.mem_gb=2",
        f"hydra.launcher.timeout_min={TIME_LIMIT_MIN}",
        f"hydra.launcher.signal_delay_s={SIGNAL_DELAY_S}",
        f"hydra.launcher.max_num_timeout={MAX_TIMEOUTS}",
        f"hydra.sweep.dir={sweep_dir}",
        "method=vcop",
        "seed=0",
        "preset=smoke",
        "protocols=[linear]",
        "dataset.eval_on=[ucf101]",
        f"pretrain.epochs={epochs}",
        f"paths.data={tiny_data}",
        f"paths.runs={work}",
        f"paths.cache={work}/cache",
        f"paths.records={work}/records",
    ]
    t0 = time.time()
    try:
        r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:  # clean-up only: a job left behind would hold the node
        subprocess.run(
            ["scancel", *(p.parent.name for p in sweep_dir.glob(".submitit/*/*_submitted.pkl"))],
            capture_output=True,
            timeout=30,
        )
        raise
    wall = time.time() - t0
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]

    (folder,) = {p.parent for p in sweep_dir.glob(".submitit/*/*_submitted.pkl")}  # one job
    job = folder.name
    script = (folder / f"{job}_submission.sh").read_text()
    assert f"#SBATCH --time={TIME_LIMIT_MIN}\n" in script and f"#SBATCH --signal=USR2@{SIGNAL_DELAY_S}\n" in script
    runs = _settled(job)
    states = [state for state, _ in runs]
    assert len(runs) >= 2 and set(states[:-1]) == {"REQUEUED"} and states[-1] == "COMPLETED", (
        f"{runs}: expected REQUEUED ... COMPLETED (a single COMPLETED means the run ended before its time limit)"
    )
    # every requeued allocation ended in SLURM's warning window: signalled by the cluster for its time limit (not
    # before now + delay + 30 s >= end), checkpointed and requeued before it reached the limit itself
    for state, elapsed in runs[:-1]:
        assert TIME_LIMIT_MIN * 60 - SIGNAL_DELAY_S - 30 <= elapsed < TIME_LIMIT_MIN * 60, runs

    log = (folder / f"{job}_0_log.out").read_text(errors="replace")  # every allocation appends to it
    n_requeued = len(runs) - 1
    assert log.count("Starting with JobEnvironment") == len(runs)  # submitit, once per allocation
    # submitit's own lines ("submitit LEVEL (time) - ..."), once per signal: a time-out, each requeued
    assert (
        len(re.findall(r"submitit WARNING \(.*\) - Caught signal SIGUSR2 on \S+: this job is timed-out", log))
        == n_requeued
    )
    assert len(re.findall(rf"submitit INFO \(.*\) - Requeued job {job} \(\d+ remaining timeouts\)", log)) == n_requeued
    # each requeued allocation picks up where the last one stopped: inside pretraining it resumes from the newest
    # epoch checkpoint (the epochs done only grow); a time-out after pretraining had finished (e.g. in the linear
    # probe) leaves final.pt, which the next allocation reuses. The first time-out always falls in pretraining (see
    # PRETRAIN_WORK_S), so at least one allocation resumes.
    later = log.split("Starting with JobEnvironment")[2:]
    done, finished = [], False
    for alloc in later:
        resumed = [int(n) for n in re.findall(r"resuming from \S+epoch_\d+\.pt \(epoch (\d+) done\)", alloc)]
        reused = alloc.count("pretraining already finished")
        assert len(resumed) + reused == 1 and not (finished and resumed), alloc[-3000:]
        finished = finished or bool(reused)
        done += resumed
    assert done and done == sorted(set(done)) and len(later) == n_requeued, (done, len(later))
    done_epochs = [int(row.split(",")[0]) for row in next(work.glob("*/pretrain_log.csv")).read_text().splitlines()[1:]]
    assert done_epochs == list(range(epochs))  # every epoch exactly once: resumed, never restarted
    assert len(list((work / "records").glob("*.json"))) == 1
    last = log.split("Starting with JobEnvironment")[-1]  # the allocation that completed
    assert "Caught signal" not in last and "Job completed successfully" in last
    assert "SIGUSR2 (submitit's requeue signal) is ignored from now on" in last
    with (folder / f"{job}_0_result.pkl").open("rb") as f:
        assert pickle.load(f)[0] == "success"
    print(f"time-limited job {job}: {epochs} epochs of {per_epoch:.2f} s, {runs}, {wall:.0f} s")


# --------------------------------------------------------------------------------------------------------------------
# The windows after a job's work is done, without the cluster: submitit's own process_job runs a job the way SLURM
# runs it (SUBMITIT_EXECUTOR=slurm), with a stand-in scontrol, and the job sends itself SIGUSR2 in each window.

JOB = r"""
import atexit, logging, os, signal, subprocess, sys, time
from pathlib import Path

from submitit.core import submission, utils

logging.basicConfig(level=logging.INFO)

folder, when, ours = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "1"


def usr2_now():
    os.kill(os.getpid(), signal.SIGUSR2)
    time.sleep(0.2)  # a Python-level handler runs at the next bytecode boundary


class Result:
    def __reduce__(self):  # called while submitit pickles the job's result
        if when == "pickling":
            usr2_now()
        return (str, ("done",))


class Job:
    def __call__(self):
        (folder / "work_done").touch()
        if ours:  # what experiment.app.run does when a run ends
            from runtime.preemption import ignore_requeue_signal
            assert ignore_requeue_signal()
        return Result()

    def checkpoint(self):
        (folder / "checkpoint_called").touch()
        return utils.DelayedSubmission(Job())


class SlowTeardown:
    def __del__(self):  # runs while the interpreter finalizes, after Python put back SIG_DFL
        deadline = time.time() + 20
        while not (folder / "usr2_sent").exists() and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(0.5)


if when == "finalization":
    teardown = SlowTeardown()
    atexit.register(lambda: subprocess.Popen(
        ["sh", "-c", f"sleep 0.2; kill -USR2 {os.getpid()}; touch {folder}/usr2_sent"]))
elif when == "atexit":
    atexit.register(usr2_now)

delayed = utils.DelayedSubmission(Job())
delayed.set_timeout(1, 3)  # a 1-minute limit: every signal is a time-out for submitit
delayed.dump(folder / "4242_submitted.pkl")
submission.process_job(folder)
"""


@pytest.mark.parametrize("ours", [False, True], ids=["submitit-alone", "with-ignore_requeue_signal"])
@pytest.mark.parametrize("when", ["pickling", "atexit", "finalization"])
def test_a_signal_after_the_work_is_done_neither_requeues_nor_kills_the_job(tmp_path, when, ours):
    """Without our call (the control): a signal while submitit pickles the result requeues the finished job and
    leaves ``<job>_result.pkl.save_tmp`` (the requeued run then fails on it); one in atexit requeues it; one while
    the interpreter finalizes kills it (exit 128 + 12, what SLURM recorded as FAILED). With it: exit 0, the result
    written, no checkpoint, no requeue."""
    folder, bin_dir = tmp_path / "job", tmp_path / "bin"
    folder.mkdir()
    bin_dir.mkdir()
    (tmp_path / "job.py").write_text(JOB)
    scontrol = bin_dir / "scontrol"  # the real one must never requeue anything from here
    scontrol.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/scontrol_calls\n')
    scontrol.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SUBMITIT_"))}
    env |= {
        "PATH": f"{bin_dir}:{env['PATH']}",
        "PYTHONPATH": str(REPO),
        "SUBMITIT_EXECUTOR": "slurm",
        "SLURM_JOB_ID": "4242",
        "SLURM_PROCID": "0",
        "SLURM_NTASKS": "1",
    }
    r = subprocess.run(
        [sys.executable, str(tmp_path / "job.py"), str(folder), when, str(int(ours))],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    out = r.stdout + r.stderr
    calls = tmp_path / "scontrol_calls"
    result, tmp = folder / "4242_0_result.pkl", folder / "4242_0_result.pkl.save_tmp"
    assert (folder / "work_done").exists(), out
    if ours:
        assert r.returncode == 0, out
        assert not calls.exists() and not (folder / "checkpoint_called").exists() and not tmp.exists(), out
        with result.open("rb") as f:
            assert pickle.load(f) == ("success", "done")
        assert "ignored from now on" in out
    elif when == "finalization":
        assert r.returncode == -signal.SIGUSR2, out
        assert not calls.exists()
    else:
        assert calls.read_text() == "requeue 4242\n" and (folder / "checkpoint_called").exists(), out
        if when == "pickling":
            assert r.returncode != 0 and tmp.exists() and not result.exists(), out
