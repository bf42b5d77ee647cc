"""``launcher: local``: the cells as processes on this machine, ``local.jobs`` at a time, each with
``local.threads_per_job`` torch threads (jobs x threads never exceeds the CPUs this process may use) and its output in
``runs/pipeline/logs/<cell>.log``. A cell that fails does not stop the others."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from pipeline.paths import LOGS_DIR, REPO
from pipeline.progress import Progress
from results.identity import Cell

POLL_S = 1.0


def cell_args(cell: Cell) -> list[str]:
    """The command-line arguments of ``python -m pipeline cell`` for ``cell``."""
    return ["--method", cell.method, "--backbone", cell.backbone, "--seed", str(cell.seed), "--control", cell.control]


def local_slots(params: dict) -> tuple[int, int]:
    """(cells at a time, torch threads per cell) for ``launcher: local``: ``local.jobs`` and
    ``local.threads_per_job``, fewer jobs where jobs x threads would exceed the CPUs this process may use."""
    local = params.get("local") or {}
    jobs, threads = int(local.get("jobs", 1)), int(local.get("threads_per_job", 1))
    if jobs < 1 or threads < 1:
        raise ValueError(f"params.yaml: local.jobs={jobs} and local.threads_per_job={threads} must be >= 1")
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(jobs, cpus // threads)), threads


def run_local(cells: list[Cell], params_path: str, params: dict, progress: Progress) -> None:
    """Run ``cells`` here, each as ``python -m pipeline cell``; returns when every one has ended. Interrupted
    (Ctrl-C, DVC stopped), it terminates the cells still running."""
    jobs, threads = local_slots(params)
    print(
        f"sweep: {len(cells)} cell(s) here, {jobs} at a time with {threads} thread(s) each; logs in {LOGS_DIR}/",
        flush=True,
    )
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    LOGS_DIR.mkdir(parents=True, exist_ok=True)
    queue, running = list(cells), {}
    try:
        while queue or running:
            while queue and len(running) < jobs:
                cell = queue.pop(0)
                log_path = LOGS_DIR / f"{cell.name}.log"
                with log_path.open("wb") as out:
                    proc = subprocess.Popen(
                        [sys.executable, "-m", "pipeline", "cell", *cell_args(cell), "--params", params_path],
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        env=env,
                        stdin=subprocess.DEVNULL,
                    )
                running[cell.name] = (proc, log_path)
                progress.set(cell.name, "running", job=f"pid {proc.pid}", log=str(log_path))
            time.sleep(POLL_S)
            for name, (proc, log_path) in list(running.items()):
                if proc.poll() is None:
                    continue
                del running[name]
                if proc.returncode == 0:
                    progress.set(name, "done")
                else:
                    progress.set(name, "failed", error=f"exit {proc.returncode}: {last_error(log_path)}")
    finally:
        for proc, _ in running.values():  # interrupted (Ctrl-C, DVC stopped): stop the cells still running
            proc.terminate()
        for proc, _ in running.values():
            proc.wait()


def last_error(log_path: Path) -> str:
    """The last line of a failed cell's log that is not a traceback frame (its exception, as a rule)."""
    try:
        lines = [ln.strip() for ln in log_path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return f"see {log_path}"
    frames = ("File ", "Traceback", "^", "~", "raise ", "return ")
    for ln in reversed(lines):
        if not ln.startswith(frames):
            return f"{ln[:300]} (log: {log_path})"
    return f"see {log_path}"
