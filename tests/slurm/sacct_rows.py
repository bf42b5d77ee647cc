"""SLURM accounting rows of a job, for the tests in this folder (one place instead of a copy per test file)."""

import subprocess
import time

IN_PROGRESS = ("RUNNING", "COMPLETING", "PENDING", "REQUEUED")


def sacct(job: str, fields: str = "JobID,State") -> list[tuple[str, ...]]:
    """``fields`` of every run of ``job`` (requeued runs included), oldest first."""
    out = subprocess.run(
        ["sacct", "-X", "-D", "-n", "-P", "-o", fields, "-j", job], capture_output=True, text=True, timeout=30
    ).stdout
    n = len(fields.split(","))
    return [tuple(line.split("|")[:n]) for line in out.splitlines() if line.strip()]


def settled(job: str, fields: str = "State", timeout: float = 30) -> list[tuple[str, ...]]:
    """The runs of ``job`` once its last one has ended (a result file appears a moment before SLURM records the
    end); ``fields`` must include State."""
    at = fields.split(",").index("State")
    deadline = time.time() + timeout
    while True:
        rows = sacct(job, fields)
        if rows and rows[-1][at] not in IN_PROGRESS or time.time() > deadline:
            return rows
        time.sleep(0.5)


def settled_states(job: str, timeout: float = 30) -> list[str]:
    return [state for (state,) in settled(job, "State", timeout)]
