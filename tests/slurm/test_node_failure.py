"""A node that fails under a running job (``scontrol update nodename=... state=down``) on the real local cluster.

The submitting side must not hang: a job that may not be requeued ends NODE_FAIL and submitit raises (naming that
state, or the failure of the job's command killed by it); a job submitted with the SLURM launcher's settings
(``requeue: true``, protocols/conf/hydra/launcher/slurm.yaml) is requeued by SLURM and completes once the node is
back. Either way the wait is bounded. The node is always resumed afterwards, so later tests find it idle.
"""

from __future__ import annotations

import subprocess
import time

import pytest
import submitit
import yaml
from submitit.core.utils import FailedJobError, UncompletedJobError
from submitit.helpers import CommandFunction

from helpers import REPO

pytestmark = pytest.mark.slow
BOUND_S = 150  # longest acceptable wait for the outcome after the node goes down


def _sh(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=30)


def _node_state(node: str) -> str:
    return _sh("sinfo", "-h", "-N", "-n", node, "-o", "%T").stdout.strip()


def _wait_for_empty_queue(timeout: float = 90) -> None:
    """Downing the only node kills every job on it: wait for other tests' jobs to end, else skip (visibly)."""
    deadline = time.time() + timeout
    while (jobs := _sh("squeue", "-h", "-o", "%i %T").stdout.split("\n")) != [""]:
        if time.time() > deadline:
            pytest.skip(f"other jobs are queued or running ({', '.join(jobs)}): downing the node would kill them")
        time.sleep(2)


def _resume(node: str) -> None:
    """Bring ``node`` back (ReturnToService=2 usually has: then scontrol says the state is invalid) and wait."""
    deadline = time.time() + 60
    while True:
        state = _node_state(node)
        if any(s in state for s in ("down", "drain", "fail")):
            _sh("scontrol", "update", f"nodename={node}", "state=resume")
        elif state:
            return
        assert time.time() < deadline, f"node {node} is still {state!r} one minute after state=resume"
        time.sleep(1)


def _run_and_fail_the_node(tmp_path, seconds: int, requeue: bool):
    """Submit ``sleep seconds``, set its node down once it runs, and wait (bounded) for submitit's outcome."""
    ex = submitit.AutoExecutor(folder=str(tmp_path / "%j"), cluster="slurm")
    if requeue:  # what hydra/launcher=slurm submits with
        launcher = yaml.safe_load((REPO / "protocols" / "conf" / "hydra" / "launcher" / "slurm.yaml").read_text())
        extra = dict(launcher["additional_parameters"])
        assert extra.get("requeue") is True
    else:
        extra = {"no-requeue": True}
    ex.update_parameters(timeout_min=5, slurm_cpus_per_task=1, slurm_mem="500M", slurm_additional_parameters=extra)
    job = ex.submit(CommandFunction(["bash", "-c", f"sleep {seconds}; echo finished"]))
    node = None
    try:
        deadline = time.time() + 60
        while not (node := _sh("squeue", "-h", "-j", job.job_id, "-t", "RUNNING", "-o", "%N").stdout.strip()):
            assert time.time() < deadline, f"job {job.job_id} never started: {job.state}"
            time.sleep(0.5)
        r = _sh("scontrol", "update", f"nodename={node}", "state=down", "reason=vssl-bench node failure test")
        assert r.returncode == 0, r.stderr
        t0 = time.time()
        while not job.done(force_check=True):
            assert time.time() - t0 < BOUND_S, f"job {job.job_id} still {job.state} {BOUND_S}s after the failure: hung"
            time.sleep(2)
        try:
            outcome = job.result()
        except UncompletedJobError as e:  # FailedJobError included
            outcome = e
        waited = time.time() - t0
        if requeue:  # SLURM requeued it: let the requeued run finish (bounded) before the node is checked
            while _states(job.job_id)[-1:] != ["COMPLETED"]:
                assert time.time() - t0 < BOUND_S, (
                    f"the requeued job {job.job_id} did not complete: {_states(job.job_id)}"
                )
                time.sleep(2)
    finally:
        if node is not None:
            _resume(node)
        _sh("scancel", job.job_id)  # nothing of this test stays in the queue
    return outcome, _states(job.job_id), waited


def _states(job_id: str) -> list[str]:
    """The state of every run of the job, requeued ones included, oldest first."""
    out = _sh("sacct", "-X", "-D", "-n", "-P", "-o", "JobID,State", "-j", job_id).stdout
    return [line.split("|")[1] for line in out.splitlines() if line.strip()]


def test_node_failure_is_reported_as_failed_not_hung(slurm_cluster, tmp_path):
    _wait_for_empty_queue()
    outcome, states, waited = _run_and_fail_the_node(tmp_path, seconds=120, requeue=False)
    print(f"no-requeue job: {type(outcome).__name__} after {waited:.1f}s, sacct {states}")
    # SLURM's SIGTERM kills the job's command first; submitit's job process ignores SIGTERM and, if it is quick
    # enough, records that failure (FailedJobError); otherwise the SIGKILL leaves no result (UncompletedJobError)
    if isinstance(outcome, FailedJobError):  # (a subclass of UncompletedJobError)
        assert "CalledProcessError" in str(outcome)  # its command, killed under it
    else:
        assert isinstance(outcome, UncompletedJobError), outcome
        assert "state: NODE_FAIL" in str(outcome) and "NODE FAILURE" in str(outcome)  # the job's own log says so
    assert states == ["NODE_FAIL"]
    assert waited < 120  # well before the job would have ended by itself


def test_node_failure_under_the_launchers_requeue_setting_requeues_and_completes(slurm_cluster, tmp_path):
    """With requeue the job's first run ends NODE_FAIL and SLURM runs it again. submitit may look at the job in the
    moment its state is NODE_FAIL (then it raises, naming it) or after (then it returns the requeued run's result):
    either way it answers within the bound, and the requeued run completes."""
    _wait_for_empty_queue()
    outcome, states, waited = _run_and_fail_the_node(tmp_path, seconds=15, requeue=True)
    print(f"requeue job: {type(outcome).__name__} {str(outcome).strip()[:60]!r} after {waited:.1f}s, sacct {states}")
    if isinstance(outcome, FailedJobError):  # the first run's own failure record, as above
        assert "CalledProcessError" in str(outcome)
    elif isinstance(outcome, UncompletedJobError):
        assert "state: NODE_FAIL" in str(outcome)
    else:
        assert outcome.strip() == "finished"
    assert states == ["NODE_FAIL", "COMPLETED"]  # the first run failed with the node, the requeued one finished
