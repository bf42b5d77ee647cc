"""Status of a Hydra sweep launched with submitit (``hydra/launcher=slurm`` or ``=local``).

    python -m slurm.status                      # the newest sweep under multirun/
    python -m slurm.status multirun/2026-11-26/17-00-45
    python -m slurm.status SWEEP_DIR --json     # one JSON object per job

One line per job: job id, its sweep number and overrides, its state, elapsed time, and either the result records it
is responsible for or the last line of its error. Read from the sweep folder (``multirun.yaml`` and the
``.submitit/<job id>/`` folders) and, where SLURM accounting answers, from ``sacct``.

States: the job's result file decides between COMPLETED and FAILED. Hydra catches the exception of a run, so SLURM
reports COMPLETED for a run that raised; this table says FAILED. Without a result the state is sacct's (PENDING,
RUNNING, REQUEUED, CANCELLED, TIMEOUT, OUT_OF_MEMORY, ...), or RUNNING/UNKNOWN without sacct. Requeues (after a
preemption or a time-out) are counted from sacct's history.

Exit status: 1 if a job failed or ended without a result, else 0 (also while jobs are still pending or running).
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ACTIVE = {"PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SUSPENDED", "COMPLETING",
          "CONFIGURING", "STAGE_OUT", "SIGNALING", "PREEMPTED"}


@dataclass
class Job:
    job_id: str
    num: int | None = None
    overrides: list[str] = field(default_factory=list)
    state: str = "UNKNOWN"
    elapsed: str = "-"
    requeues: int = 0
    records: list[str] = field(default_factory=list)
    records_note: str = ""
    error: str = ""
    folder: str = ""


# ------------------------------------------------------------------------------------------------ finding a sweep
def newest_sweep(root: Path = Path("multirun")) -> Path:
    found = [p.parent for p in root.glob("**/multirun.yaml")]
    if not found:
        raise SystemExit(f"no sweep under {root}/ (no multirun.yaml); pass the sweep folder")
    return max(found, key=lambda p: (p / "multirun.yaml").stat().st_mtime)


def job_folders(sweep: Path) -> list[Path]:
    """The ``.submitit/<job id>/`` folders of the sweep's jobs (those holding a submitted pickle)."""
    base = sweep / ".submitit"
    if not base.is_dir():
        return []
    return sorted(p.parent for p in base.glob("*/*_submitted.pkl"))


# ------------------------------------------------------------------------------------------------ submitit files
def _load_pickle(path: Path):
    with path.open("rb") as f:
        return pickle.load(f)


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def _tail_line(path: Path, skip=("submitit ", "srun: ")) -> str:
    """The last meaningful line of a log (submitit's own bookkeeping lines are skipped)."""
    if not path.exists():
        return ""
    with path.open("rb") as f:
        f.seek(max(0, path.stat().st_size - 20000))
        lines = f.read().decode(errors="replace").splitlines()
    for ln in reversed(lines):
        ln = ln.strip()
        if ln and not ln.startswith(skip) and "[submitit]" not in ln and "Bypassing signal" not in ln:
            return ln
    return ""


def _exception_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {_last_line(str(exc))}"


def _expected_records(cfg, working_dir: str | None) -> list[Path]:
    """The record files a run of ``cfg`` is responsible for (one per eval dataset x protocol): experiment.app's names."""
    from experiment.app import record_names
    from runtime.checkpoint import file_sha256

    try:
        if cfg.stage not in ("all", "eval"):
            return []
        out = Path(str(cfg.paths.records))
        if not out.is_absolute() and working_dir:
            out = Path(working_dir) / out
        sha = file_sha256(cfg.pretrained) if cfg.pretrained and Path(cfg.pretrained).is_file() else None
        return [out / name for name in record_names(cfg, sha)]
    except Exception:  # a config this tool does not understand: show no records rather than fail
        return []


def read_job(folder: Path) -> Job:
    job_id = folder.name
    job = Job(job_id=job_id, folder=str(folder))
    try:
        delayed = _load_pickle(folder / f"{job_id}_submitted.pkl")
        args = delayed.args
        job.overrides, job.num = list(args[0]), int(args[2])  # the Hydra launcher's (overrides, key, num, ...)
    except Exception as e:  # not a Hydra sweep job, or unreadable
        job.error = f"submitted pickle unreadable: {type(e).__name__}: {e}"
    result = folder / f"{job_id}_0_result.pkl"
    if result.exists():
        try:
            kind, payload = _load_pickle(result)
        except Exception as e:
            job.state, job.error = "FAILED", f"result unreadable: {type(e).__name__}: {e}"
            return job
        if kind != "success":  # submitit caught an exception outside Hydra (or the job was not requeued)
            job.state, job.error = "FAILED", _last_line(str(payload))
            return job
        status = getattr(getattr(payload, "status", None), "name", "COMPLETED")
        value = getattr(payload, "_return_value", None)
        if status == "FAILED":
            job.state = "FAILED"
            job.error = _exception_line(value) if isinstance(value, BaseException) else _last_line(str(value))
            return job
        job.state = "COMPLETED"
        expected = _expected_records(payload.cfg, getattr(payload, "working_dir", None)) if payload.cfg else []
        # protocols/run.py returns the records it wrote; the others of its cells were there already
        written = [str(p) for p in value] if isinstance(value, (list, tuple)) else None
        kept = [str(p) for p in expected if p.exists() and str(p) not in (written or [])]
        job.records = (written or []) + kept
        if written is not None and kept:
            job.records_note = f"{len(written)} written, {len(kept)} already done"
    return job


# ------------------------------------------------------------------------------------------------ sacct
def _expand(job_id: str) -> list[str]:
    """``12_[0-2,5%2]`` (pending array tasks) -> 12_0, 12_1, 12_2, 12_5; other ids unchanged."""
    m = re.fullmatch(r"(\d+)_\[([^\]]+)\]", job_id)
    if not m:
        return [job_id]
    out = []
    for part in m.group(2).split("%")[0].split(","):
        a, _, b = part.partition("-")
        out += [f"{m.group(1)}_{i}" for i in range(int(a), int(b or a) + 1)]
    return out


def sacct_states(job_ids: list[str]) -> dict[str, dict] | None:
    """Latest state, elapsed time and requeue count per job id from ``sacct``; None if sacct is not usable."""
    arrays = sorted({j.split("_")[0] for j in job_ids if j.split("_")[0].isdigit()})
    if not arrays:
        return None
    cmd = ["sacct", "-X", "-D", "-n", "-P", "-o", "JobID,State,Elapsed", "-j", ",".join(arrays)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    states: dict[str, dict] = {}
    for line in out.stdout.splitlines():
        parts = line.split("|")
        if len(parts) < 3:
            continue
        jid, state, elapsed = parts[0], parts[1].split()[0], parts[2]
        for j in _expand(jid):
            prev = states.get(j, {"requeues": 0})
            requeues = prev["requeues"] + (state in ("REQUEUED", "PREEMPTED"))
            states[j] = {"state": state, "elapsed": elapsed, "requeues": requeues}
    return states


def _fmt_elapsed(seconds: float) -> str:
    s = int(max(seconds, 0))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _pid_alive(job_id: str) -> bool:
    pid = job_id.split("_")[0]
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
        return True
    except OSError:
        return False


def sweep_status(sweep: Path) -> list[Job]:
    jobs = [read_job(f) for f in job_folders(sweep)]
    slurm = _is_slurm_sweep(sweep)
    acct = sacct_states([j.job_id for j in jobs]) if slurm else None
    for job in jobs:
        folder = Path(job.folder)
        err_log, out_log = folder / f"{job.job_id}_0_log.err", folder / f"{job.job_id}_0_log.out"
        info = (acct or {}).get(job.job_id)
        if info:
            job.elapsed, job.requeues = info["elapsed"], info["requeues"]
        if job.state in ("COMPLETED", "FAILED"):  # decided by the result file
            if info is None:
                job.elapsed = _fmt_elapsed(_mtime(folder / f"{job.job_id}_0_result.pkl")
                                           - _mtime(folder / f"{job.job_id}_submitted.pkl"))
            continue
        if info:
            job.state = info["state"]
            if job.state == "COMPLETED":  # SLURM says it ended well, yet there is no result file
                job.state = "COMPLETED?"
                job.error = "no result file; " + (_tail_line(err_log) or "see " + str(err_log))
            elif job.state not in ACTIVE:  # CANCELLED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, FAILED ...
                job.error = _tail_line(err_log) or ("ended without a result" if out_log.exists() else
                                                    "ended before it started")
        elif (slurm and acct is None) or (not slurm and _pid_alive(job.job_id)):
            # no accounting to ask (or a local job whose process is alive): judge from the files
            job.state = "RUNNING" if out_log.exists() else "PENDING"
            job.elapsed = _fmt_elapsed(time.time() - _mtime(folder / f"{job.job_id}_submitted.pkl"))
        else:
            job.state = "UNKNOWN"
            job.error = _tail_line(err_log) or "no result file and no scheduler record"
        if job.state in ACTIVE and not job.error:  # progress: the job's last log line, without Hydra's prefix
            job.records_note = re.sub(r"^(\[[^\]]*\]){3} - ", "", _tail_line(out_log))
    jobs.sort(key=lambda j: (j.num if j.num is not None else 1 << 30, j.job_id))
    return jobs


def _mtime(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except OSError:
        return time.time()


def _is_slurm_sweep(sweep: Path) -> bool:
    cfg = sweep / "multirun.yaml"
    try:
        return "SlurmLauncher" in cfg.read_text()
    except OSError:
        return any(sweep.glob(".submitit/*/*_submission.sh"))


# ------------------------------------------------------------------------------------------------ output
def varying_overrides(jobs: list[Job]) -> set[str]:
    """Override keys whose value differs between the jobs (the swept ones), plus method and seed."""
    parsed = [dict(o.partition("=")[::2] for o in j.overrides) for j in jobs]
    keys = {k for d in parsed for k in d}
    varying = {k for k in keys if len({d.get(k) for d in parsed}) > 1}
    return varying | ({"method", "seed"} & keys)


def format_table(sweep: Path, jobs: list[Job]) -> str:
    keys = varying_overrides(jobs)
    rows = [("JOB", "#", "OVERRIDES", "STATE", "ELAPSED", "RECORDS / ERROR")]
    for j in jobs:
        shown = " ".join(o for o in j.overrides if o.partition("=")[0] in keys) or " ".join(j.overrides) or "-"
        state = j.state + (f" (requeued {j.requeues}x)" if j.requeues else "")
        if j.error:
            detail = "error: " + j.error
        elif j.records:
            names = ", ".join(Path(r).name for r in j.records)
            detail = f"{len(j.records)} record(s) in {Path(j.records[0]).parent}: {names}"
            if j.records_note:
                detail += f" ({j.records_note})"
        else:
            detail = j.records_note or "-"
        rows.append((j.job_id, "-" if j.num is None else str(j.num), shown, state, j.elapsed, detail))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [f"sweep {sweep}"]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r[:5], widths)) + "  " + r[5] for r in rows]
    counts: dict[str, int] = {}
    for j in jobs:
        counts[j.state] = counts.get(j.state, 0) + 1
    lines.append(f"{len(jobs)} job(s): " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m slurm.status", description=__doc__.split("\n\n")[0])
    ap.add_argument("sweep", nargs="?", type=Path, help="sweep folder (default: the newest under multirun/)")
    ap.add_argument("--json", action="store_true", help="one JSON object per job instead of the table")
    args = ap.parse_args(argv)
    sweep = args.sweep or newest_sweep()
    if not sweep.is_dir():
        print(f"no such sweep folder: {sweep}", file=sys.stderr)
        return 2
    repo = Path(__file__).resolve().parents[1]
    if str(repo) not in sys.path:  # results.records (and the classes in the pickles) come from this checkout
        sys.path.insert(0, str(repo))
    jobs = sweep_status(sweep)
    if not jobs:
        print(f"sweep {sweep}: no submitit jobs under {sweep / '.submitit'}")
        return 0
    if args.json:
        for j in jobs:
            print(json.dumps(asdict(j)))
    else:
        print(format_table(sweep, jobs))
    bad = [j for j in jobs if j.state not in ACTIVE and j.state != "COMPLETED"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
