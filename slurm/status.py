"""Status of a Hydra sweep launched with submitit (``hydra/launcher=slurm`` or ``=local``).

    python -m slurm.status                      # the newest sweep under multirun/
    python -m slurm.status multirun/2026-11-26/17-00-45
    python -m slurm.status SWEEP_DIR --json     # one JSON object per job

One line per job: job id, its sweep number and overrides, its state, elapsed time, and either the result records it
is responsible for or the last line of its error (a running job: its last log line).

Where it is read from. The jobs are the submitit folders ``<sweep>/.submitit/<job id>/`` (the launchers' folder,
``${hydra.sweep.dir}/.submitit/%j``), each read through submitit's public job API (``submitit.SlurmJob`` or
``submitit.LocalJob``: ``paths``, ``state``, ``result()``, ``exception()``); the submitted call itself (the
``_submitted.pkl``) is never read. A job's sweep number and overrides come from the files Hydra writes into the sweep
point's output folder when the point starts, matched by job id: ``<sweep>/<subdir>/.hydra/hydra.yaml`` holds
``hydra.job.id`` (the submitit job id, e.g. ``17_3`` for task 3 of array 17, or the process id under the local
launcher) and ``hydra.job.num`` (the sweep number), ``.hydra/overrides.yaml`` the point's overrides. A job that has
not started yet (PENDING, or cancelled before it started) has no output folder: its line shows its id and state,
``-`` for the number and the overrides (where the folder is gone but the job finished, Hydra's result holds both).
The records a finished job is responsible for are named by experiment.app.record_names from the job's config.

States: the job's result decides between COMPLETED and FAILED. Hydra catches the exception of a run, so SLURM
reports COMPLETED for a run that raised; this table says FAILED. Without a result the state is SLURM's as submitit
reads it (PENDING, RUNNING, REQUEUED, CANCELLED, TIMEOUT, OUT_OF_MEMORY, ...); where ``sacct`` does not answer, and
for the local launcher, RUNNING or PENDING while the job can be running (its log exists or not), else UNKNOWN.
Elapsed times and requeues (after a preemption or a time-out) come from sacct's history of the job.

Exit status: 1 if a job failed or ended without a result, else 0 (also while jobs are still pending or running);
2 if the sweep folder does not exist.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from slurm.processes import pid_alive

ACTIVE = {
    "PENDING",
    "RUNNING",
    "REQUEUED",
    "REQUEUE_HOLD",
    "REQUEUE_FED",
    "RESIZING",
    "SUSPENDED",
    "COMPLETING",
    "CONFIGURING",
    "STAGE_OUT",
    "SIGNALING",
    "PREEMPTED",
}


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
    folder: str = ""  # submitit's folder of the job
    output_dir: str = ""  # Hydra's output folder of its sweep point ("" before it started)


@dataclass
class Point:
    """A started sweep point, as Hydra wrote it down in its output folder."""

    num: int
    overrides: list[str]
    output_dir: Path
    started: float | None  # when Hydra wrote hydra.yaml: the point's start


# ------------------------------------------------------------------------------------------------ finding a sweep
def newest_sweep(root: Path = Path("multirun")) -> Path:
    found = [p.parent for p in root.glob("**/multirun.yaml")]
    if not found:
        raise SystemExit(f"no sweep under {root}/ (no multirun.yaml); pass the sweep folder")
    return max(found, key=lambda p: (p / "multirun.yaml").stat().st_mtime)


def _multirun_config(sweep: Path) -> dict:
    """The ``hydra`` node of the sweep's ``multirun.yaml`` (unresolved), {} if unreadable."""
    try:
        return (yaml.safe_load((sweep / "multirun.yaml").read_text()) or {}).get("hydra") or {}
    except (OSError, yaml.YAMLError, AttributeError):
        return {}


def _is_slurm_sweep(sweep: Path, hydra: dict) -> bool:
    target = str((hydra.get("launcher") or {}).get("_target_", ""))
    if target:
        return target.endswith("SlurmLauncher")
    return any(sweep.glob(".submitit/*/*_submission.sh"))  # only sbatch jobs have a submission script


def submitit_jobs(sweep: Path, slurm: bool) -> list:
    """submitit's job objects for the sweep: one per folder under ``.submitit/`` that holds a file of its job (its
    submitted pickle, result or log; an array's own folder holds only the sbatch script)."""
    import submitit

    pattern = sweep / ".submitit" / "%j"
    cls = submitit.SlurmJob if slurm else submitit.LocalJob
    ids = set()
    if pattern.parent.is_dir():
        for d in pattern.parent.iterdir():
            if d.is_dir() and d.name != "%j":
                paths = cls(folder=pattern, job_id=d.name).paths
                if any(p.exists() for p in (paths.submitted_pickle, paths.result_pickle, paths.stdout, paths.stderr)):
                    ids.add(d.name)
    return [cls(folder=pattern, job_id=jid) for jid in sorted(ids)]


def hydra_points(sweep: Path, output_subdir: str = ".hydra") -> dict[str, Point]:
    """The sweep's started points by submitit job id, from Hydra's ``hydra.yaml`` (``hydra.job.id``,
    ``hydra.job.num``) and ``overrides.yaml`` in each point's output folder."""
    points: dict[str, Point] = {}
    for hydra_yaml in sweep.glob(f"**/{output_subdir}/hydra.yaml"):
        try:
            job = yaml.safe_load(hydra_yaml.read_text())["hydra"]["job"]
            job_id, num = str(job.get("id") or ""), int(job["num"])
            overrides = yaml.safe_load((hydra_yaml.parent / "overrides.yaml").read_text()) or []
        except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError):
            continue  # not a point of a submitit sweep, or half written
        if job_id:
            points[job_id] = Point(num, [str(o) for o in overrides], hydra_yaml.parent.parent, _mtime(hydra_yaml))
    return points


# ------------------------------------------------------------------------------------------------ one job
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


def _submitit_error_line(exc: BaseException, stderr: Path) -> str:
    """The last line of the traceback in submitit's FailedJobError (between its two dashed lines), or of the log."""
    parts = re.split(r"^-{10,}$", str(exc), flags=re.MULTILINE)
    return _last_line(parts[1]) if len(parts) >= 3 else (_tail_line(stderr) or _last_line(str(exc)))


def _hydra_return(ret) -> tuple[object, Exception | None]:
    """(value, exception) of Hydra's JobReturn, through its public ``return_value`` (which re-raises a failed run's
    exception after writing a line to stderr: kept off this tool's output)."""
    with contextlib.redirect_stderr(io.StringIO()):
        try:
            return ret.return_value, None
        except Exception as e:
            return None, e


def _expected_records(cfg, working_dir: str | None) -> list[Path]:
    """The record files a run of ``cfg`` is responsible for (one per eval dataset x protocol): experiment.app's
    names."""
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


def read_job(job, point: Point | None) -> Job:
    """What the job's files say: its sweep point (Hydra's, ``point``), and its outcome where it has a result."""
    from hydra.core.utils import JobReturn

    row = Job(job_id=job.job_id, folder=str(job.paths.folder))
    if point is not None:
        row.num, row.overrides, row.output_dir = point.num, point.overrides, str(point.output_dir)
    if not job.paths.result_pickle.exists():
        return row  # no outcome yet: the scheduler decides (sweep_status)
    try:
        exc = job.exception()
        ret = job.result() if exc is None else None
    except Exception as e:
        row.state, row.error = "FAILED", f"result unreadable: {type(e).__name__}: {e}"
        return row
    if exc is not None:  # submitit caught an exception outside Hydra's run of the point
        row.state, row.error = "FAILED", _submitit_error_line(exc, job.paths.stderr)
        return row
    if point is None and getattr(ret, "hydra_cfg", None) is not None:  # output folder gone: Hydra's result has it
        with contextlib.suppress(Exception):
            row.num, row.overrides = int(ret.hydra_cfg.hydra.job.num), [str(o) for o in ret.overrides or []]
    value, error = _hydra_return(ret) if isinstance(ret, JobReturn) else (ret, None)
    if error is not None:
        row.state, row.error = "FAILED", _exception_line(error)
        return row
    row.state = "COMPLETED"
    cfg = getattr(ret, "cfg", None)
    expected = _expected_records(cfg, getattr(ret, "working_dir", None)) if cfg else []
    # protocols/run.py returns the records it wrote; the others of its cells were there already
    written = [str(p) for p in value] if isinstance(value, (list, tuple)) else None
    kept = [str(p) for p in expected if p.exists() and str(p) not in (written or [])]
    row.records = (written or []) + kept
    if written is not None and kept:
        row.records_note = f"{len(written)} written, {len(kept)} already done"
    return row


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


def sacct_history(job_ids: list[str]) -> dict[str, dict] | None:
    """Elapsed time of the latest run and requeue count per job id from ``sacct`` (every run, ``-D``); None if sacct
    is not usable."""
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
    history: dict[str, dict] = {}
    for line in out.stdout.splitlines():
        parts = line.split("|")
        if len(parts) < 3:
            continue
        jid, state, elapsed = parts[0], parts[1].split()[0], parts[2]
        for j in _expand(jid):
            prev = history.get(j, {"requeues": 0})
            requeues = prev["requeues"] + (state in ("REQUEUED", "PREEMPTED"))
            history[j] = {"elapsed": elapsed, "requeues": requeues}
    return history


def _fmt_elapsed(seconds: float) -> str:
    s = int(max(seconds, 0))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _mtime(p: Path) -> float | None:
    try:
        return p.stat().st_mtime
    except OSError:
        return None


def _started(job, point: Point | None) -> float | None:
    """When the job was submitted (its submitted pickle), or else when its point started (Hydra's hydra.yaml)."""
    start = _mtime(job.paths.submitted_pickle)
    return point.started if start is None and point is not None else start


# ------------------------------------------------------------------------------------------------ the sweep
def sweep_status(sweep: Path) -> list[Job]:
    hydra = _multirun_config(sweep)
    slurm = _is_slurm_sweep(sweep, hydra)
    points = hydra_points(sweep, str(hydra.get("output_subdir") or ".hydra"))
    jobs = submitit_jobs(sweep, slurm)
    rows = [read_job(job, points.get(job.job_id)) for job in jobs]
    acct = sacct_history([r.job_id for r in rows]) if slurm else None
    for job, row in zip(jobs, rows):
        err_log, out_log = job.paths.stderr, job.paths.stdout
        info = (acct or {}).get(row.job_id)
        if info:
            row.elapsed, row.requeues = info["elapsed"], info["requeues"]
        started = _started(job, points.get(row.job_id))
        if row.state in ("COMPLETED", "FAILED"):  # decided by the result file
            end = _mtime(job.paths.result_pickle)
            if info is None and started is not None and end is not None:
                row.elapsed = _fmt_elapsed(end - started)
            continue
        if slurm and acct is not None:
            row.state = job.state  # submitit's reading of sacct
            if row.state == "COMPLETED":  # SLURM says it ended well, yet there is no result file
                row.state = "COMPLETED?"
                row.error = "no result file; " + (_tail_line(err_log) or "see " + str(err_log))
            elif row.state == "UNKNOWN":
                row.error = _tail_line(err_log) or "no result file and no scheduler record"
            elif row.state not in ACTIVE:  # CANCELLED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, FAILED ...
                row.error = _tail_line(err_log) or (
                    "ended without a result" if out_log.exists() else "ended before it started"
                )
        elif slurm or pid_alive(row.job_id.split("_")[0]):
            # no accounting to ask (or a local job whose process is alive): judge from the files
            row.state = "RUNNING" if out_log.exists() else "PENDING"
            if started is not None:
                row.elapsed = _fmt_elapsed(time.time() - started)
        else:
            row.state = "UNKNOWN"
            row.error = _tail_line(err_log) or "no result file and no scheduler record"
        if row.state in ACTIVE and not row.error:  # progress: the job's last log line, without Hydra's prefix
            row.records_note = re.sub(r"^(\[[^\]]*\]){3} - ", "", _tail_line(out_log))
    rows.sort(key=lambda r: (r.num if r.num is not None else 1 << 30, r.job_id))
    return rows


# ------------------------------------------------------------------------------------------------ output
def varying_overrides(jobs: list[Job]) -> set[str]:
    """Override keys whose value differs between the jobs (the swept ones), plus method and seed."""
    parsed = [dict(o.partition("=")[::2] for o in j.overrides) for j in jobs if j.overrides]
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
