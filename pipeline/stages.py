"""The benchmark matrix of ``params.yaml`` as DVC stages (dvc.yaml): one command per stage.

    python -m pipeline data      # generate the embedded sets that are missing; data/manifest.json
    python -m pipeline sweep     # every cell whose records are missing or stale, all at once; then waits
    python -m pipeline status    # one line per cell of the running (or last) sweep
    python -m pipeline cell --method tcgl --backbone tiny --seed 0 [--control untrained]   # one cell, here

A cell is one (method, backbone, seed), plus the untrained control of every method whose evaluation pipeline differs
from ``random``'s (TCGL's STKD): it pretrains once and evaluates every protocol on every dataset of the matrix, each
set's features extracted once. The sweep composes every cell's Hydra config first (struct mode: a typo in
``run.overrides`` fails before anything runs), skips the cells whose records are current (same config, code, commit
and data), and runs the rest concurrently:

- ``launcher: local``: ``local.jobs`` cells at a time, each in its own process with ``local.threads_per_job`` torch
  threads (jobs x threads never exceeds the CPUs this process may use), its output in ``runs/pipeline/logs/``;
- ``launcher: slurm``: one SLURM job array through submitit (``slurm:`` settings), requeued on preemption or time-out
  and resumed from the last epoch checkpoint.

A failed cell does not stop the others. The sweep prints a line whenever a cell changes state (queued, running,
done, failed, with the log of a failure), keeps ``runs/pipeline/status.json`` up to date, and exits non-zero if a
cell failed: DVC then keeps its lock as it was, the finished cells' records stay (a persistent output), and the next
``dvc repro`` runs only the cells that failed or changed. Its output, ``results/records/``, holds exactly the
matrix's records (records of other cells or configs are moved to ``results/records/.superseded/``, never deleted),
the pretraining curves and ``matrix.json``, the list of what the matrix expects, which ``results.aggregate`` reads.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path("data")
MANIFEST = DATA_DIR / "manifest.json"
RUNS_DIR = Path("runs/pipeline")
PRETRAIN_DIR = RUNS_DIR / "pretrain"
FEATURES_DIR = RUNS_DIR / "features"
LOGS_DIR = RUNS_DIR / "logs"
SUBMITIT_DIR = RUNS_DIR / "submitit"
STATUS_FILE = RUNS_DIR / "status.json"
RECORDS_DIR = Path("results/records")
MATRIX_FILE = "matrix.json"
LAUNCHERS = ("local", "slurm")
POLL_S = 1.0

log = logging.getLogger("vssl.pipeline")


@dataclass(frozen=True)
class Cell:
    method: str
    backbone: str
    seed: int
    control: str = "none"

    @property
    def name(self) -> str:
        """``tcgl__tiny__seed0``, ``tcgl__untrained__tiny__seed0`` for the control."""
        parts = [self.method, *(["untrained"] if self.control != "none" else []), self.backbone, f"seed{self.seed}"]
        return "__".join(parts)

    def args(self) -> list[str]:
        return ["--method", self.method, "--backbone", self.backbone, "--seed", str(self.seed),
                "--control", self.control]


def load_params(path: str | os.PathLike = "params.yaml") -> dict:
    from omegaconf import OmegaConf

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p.absolute()} not found; run the pipeline from the repository root (dvc repro)")
    params = OmegaConf.to_container(OmegaConf.load(p), resolve=True)
    for key in ("matrix", "run", "launcher"):
        if key not in params:
            raise KeyError(f"{p}: missing '{key}' (see the committed params.yaml for the expected keys)")
    if params["launcher"] not in LAUNCHERS:
        raise ValueError(f"{p}: launcher={params['launcher']!r}; valid: {', '.join(LAUNCHERS)}")
    return params


def overrides(params: dict, cell: Cell | None = None) -> list[str]:
    """The Hydra overrides of a cell (what ``protocols/run.py`` would be given on the command line); without a cell,
    those of the data stage."""
    run, matrix = params["run"], params["matrix"]
    o = [f"preset={run['preset']}", f"dataset={run['dataset']}", f"split={run['split']}", f"paths.data={DATA_DIR}"]
    if cell is not None:
        o += [f"method={cell.method}", f"backbone={cell.backbone}", f"seed={cell.seed}", f"control={cell.control}",
              f"paths.runs={PRETRAIN_DIR}", f"paths.cache={FEATURES_DIR}", f"paths.records={RECORDS_DIR}",
              "stage=all", f"protocols=[{','.join(matrix['protocols'])}]",
              f"dataset.eval_on=[{','.join(matrix['datasets'])}]"]
    return o + [str(x) for x in run.get("overrides") or []]


def compose(ovr: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(REPO / "protocols" / "conf"), version_base="1.3"):
        return hydra_compose("config", overrides=ovr)


def write_manifest(cfg, keys: list[str], out: Path = MANIFEST) -> dict:
    """Generate the embedded sets that are missing (real ones are only read), and record what each set is."""
    from experiment import data
    from results.atomic import atomic_write

    (DATA_DIR / "embedded").mkdir(parents=True, exist_ok=True)  # the stage's output, also for real datasets
    manifest = {}
    for key in keys:
        es = data.eval_set(cfg, key, 0)
        manifest[key] = {"label": es.label, "root": str(cfg.dataset.sets[key].root), "fingerprint": es.fingerprint,
                         "classes": es.index.num_classes, "train": len(es.index.train), "test": len(es.test),
                         "synthetic": bool(cfg.dataset.sets[key].synthetic)}
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    atomic_write(out, lambda f: f.write(text.encode()))
    return manifest


# ------------------------------------------------------------------------------------------------ the matrix
@dataclass
class Planned:
    """A cell, the records it writes (name -> what makes them current) and its pretraining curve's file name."""
    cell: Cell
    records: dict[str, dict]
    curve: str | None


def plan(params: dict, manifest: dict) -> list[Planned]:
    """Every cell of the matrix with what it writes. A method gets an untrained-control cell when its evaluation
    pipeline (``method.eval_transform()``) is not the identity; otherwise ``random`` is its control."""
    from experiment import app
    from runtime.engine import seed_everything
    from results.provenance import code_hash, config_hash, git_info

    m = params["matrix"]
    git, code = git_info(), code_hash()
    out = []
    for method in m["methods"]:
        for backbone in m["backbones"]:
            needs_control = None
            for seed in m["seeds"]:
                for control in ("none", "untrained"):
                    cell = Cell(method, backbone, int(seed), control)
                    if control == "untrained":
                        if needs_control is None:  # built once per method and backbone, from the cell without it
                            seed_everything(0)
                            built = app.method_from_config(cfg, manifest[cfg.dataset.pretrain_on]["classes"])
                            needs_control = built.pretrains and bool(built.eval_transform())
                        if not needs_control:
                            continue
                    cfg = compose(overrides(params, cell))
                    app.check_config(cfg)
                    chash, weights = app.eval_config_hash(cfg), app.weights_of(cfg)
                    records = {name: {"config_hash": chash, "code_hash": code, "git_sha": git["sha"],
                                      "git_dirty": git["dirty"], "dataset_fingerprint": manifest[key]["fingerprint"]}
                               for name, key in app.record_names(cfg).items()}
                    curve = None
                    if weights == "pretrained":
                        pre = manifest[cfg.dataset.pretrain_on]
                        identity = config_hash(app.pretrain_identity(cfg, pre["fingerprint"]))
                        curve = f"{app.run_folder_name(cfg, pre['label'], identity, weights, True)}.csv"
                    out.append(Planned(cell, records, curve))
    return out


def tidy_records(records_dir: Path, planned: list[Planned]) -> None:
    """Leave in ``records_dir`` only current records of the matrix: a record or curve of another cell or config,
    or a stale record of a cell about to run again, is moved to ``<records_dir>/.superseded/`` (never deleted), so
    that the folder (the stage's output) never mixes results of several configs, and a failed cell is missing
    rather than stale."""
    from experiment.app import record_is_current
    from results.records import supersede

    expected = {name: expect for p in planned for name, expect in p.records.items()}
    curves = {p.curve for p in planned if p.curve}
    for path in sorted(records_dir.glob("*.json")) if records_dir.is_dir() else []:
        if path.name == MATRIX_FILE:
            continue
        if path.name not in expected:
            supersede(path, "not a record of the current matrix")
        elif not record_is_current(path, expected[path.name]):
            supersede(path, "stale: its cell runs again")
    for path in sorted((records_dir / "pretraining").glob("*.csv")):
        if path.name not in curves:
            supersede_curve(path)


def supersede_curve(path: Path) -> Path:
    from results.records import superseded_dir

    dest_dir = superseded_dir(path.parent.parent) / "pretraining"
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / path.name
    n = 1
    while dest.exists():
        dest, n = dest_dir / f"{path.stem}.{n}.csv", n + 1
    os.replace(path, dest)
    return dest


def write_matrix_file(records_dir: Path, planned: list[Planned]) -> None:
    """``matrix.json``: every cell of the matrix with the records and the curve it writes (results.aggregate lists
    what is missing from it)."""
    from results.atomic import atomic_write

    cells = [asdict(p.cell) | {"name": p.cell.name, "records": sorted(p.records), "curve": p.curve} for p in planned]
    text = json.dumps({"cells": cells}, indent=2, sort_keys=True) + "\n"
    records_dir.mkdir(parents=True, exist_ok=True)
    path = records_dir / MATRIX_FILE
    if not (path.exists() and path.read_text() == text):
        atomic_write(path, lambda f: f.write(text.encode()))


def is_done(p: Planned, records_dir: Path) -> bool:
    from experiment.app import record_is_current

    return all(record_is_current(records_dir / name, expect) for name, expect in p.records.items()) and (
        p.curve is None or (records_dir / "pretraining" / p.curve).exists())


# ------------------------------------------------------------------------------------------------ running cells
class CellJob:
    """One cell, run in this process (``python -m pipeline cell``) or as a submitit job. A preempted or
    timed-out SLURM job is requeued (submitit calls ``checkpoint``) and the rerun resumes from the last epoch
    checkpoint that pretraining wrote."""

    def __init__(self, ovr: list[str], cwd: str):
        self.ovr, self.cwd = list(ovr), cwd

    def __call__(self) -> None:
        from experiment.app import run

        os.chdir(self.cwd)
        threads = os.environ.get("SLURM_CPUS_PER_TASK")
        if threads:  # SLURM does not confine a job's threads on every cluster: use what was granted
            import torch

            torch.set_num_threads(int(threads))
        logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
        run(compose(self.ovr))

    def checkpoint(self, *args, **kwargs):
        import submitit

        return submitit.helpers.DelayedSubmission(CellJob(self.ovr, self.cwd))


class Progress:
    """Cell states (queued, running, done, failed), printed on every change and kept in ``status.json``."""

    def __init__(self, names: list[str], launcher: str, current: list[str] = (), status_file: Path = STATUS_FILE):
        """``names``: the cells to run; ``current``: the matrix's cells whose records are current (shown as done)."""
        self.launcher, self.file, self.t0 = launcher, status_file, time.time()
        self.cells = {n: {"state": "done", "start": None, "end": None, "job": "records current", "log": "",
                          "error": ""} for n in current}
        self.cells |= {n: {"state": "queued", "start": None, "end": None, "job": "", "log": "", "error": ""}
                       for n in names}
        self._save()

    def set(self, name: str, state: str, **info) -> None:
        c = self.cells[name]
        if c["state"] == state and not info:
            return
        now = time.time()
        if state == "running" and c["start"] is None:
            c["start"] = now
        if state in ("done", "failed"):
            c["end"] = now
            c["start"] = c["start"] or now
        c.update(state=state, **info)
        counts = {s: sum(x["state"] == s for x in self.cells.values()) for s in ("queued", "running", "done", "failed")}
        where = f" ({c['job']})" if c["job"] else ""
        print(f"[sweep {time.time() - self.t0:6.0f}s] {name}: {state}{where}"
              f"{' - ' + c['error'] if state == 'failed' else ''} | "
              + ", ".join(f"{n} {s}" for s, n in counts.items()), flush=True)
        self._save()

    def _save(self) -> None:
        from results.atomic import atomic_write

        self.file.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"launcher": self.launcher, "started": self.t0, "cells": self.cells}, indent=2) + "\n"
        atomic_write(self.file, lambda f: f.write(text.encode()))

    def failed(self) -> list[str]:
        return [n for n, c in self.cells.items() if c["state"] == "failed"]


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
    jobs, threads = local_slots(params)
    print(f"sweep: {len(cells)} cell(s) here, {jobs} at a time with {threads} thread(s) each; logs in {LOGS_DIR}/",
          flush=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    LOGS_DIR.mkdir(parents=True, exist_ok=True)
    queue, running = list(cells), {}
    try:
        while queue or running:
            while queue and len(running) < jobs:
                cell = queue.pop(0)
                log_path = LOGS_DIR / f"{cell.name}.log"
                with log_path.open("wb") as out:
                    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "cell", *cell.args(),
                                             "--params", params_path], stdout=out, stderr=subprocess.STDOUT, env=env,
                                            stdin=subprocess.DEVNULL)
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
                    progress.set(name, "failed", error=f"exit {proc.returncode}: {_last_error(log_path)}")
    finally:
        for proc, _ in running.values():  # interrupted (Ctrl-C, DVC stopped): stop the cells still running
            proc.terminate()
        for proc, _ in running.values():
            proc.wait()


def _last_error(log_path: Path) -> str:
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


def slurm_executor(slurm: dict, n: int):
    import submitit

    ex = submitit.AutoExecutor(folder=SUBMITIT_DIR / "%j", cluster="slurm",
                               slurm_max_num_timeout=int(slurm.get("max_requeues", 3)))
    extra = {f"slurm_{k}": slurm[k] for k in ("partition", "account", "qos", "constraint", "gres")
             if slurm.get(k) is not None}
    if slurm.get("mem_gb") is not None:
        extra["mem_gb"] = slurm["mem_gb"]
    ex.update_parameters(name="vssl-sweep", timeout_min=int(slurm.get("timeout_min", 120)),
                         cpus_per_task=int(slurm.get("cpus_per_task", 2)), gpus_per_node=int(slurm.get("gpus", 0)),
                         slurm_array_parallelism=int(slurm.get("array_parallelism") or n),
                         slurm_additional_parameters=dict(slurm.get("additional") or {}), **extra)
    return ex


def run_slurm(cells: list[Cell], params: dict, progress: Progress) -> None:
    """One job array for every cell; waits for all of them, a failure does not cancel the others."""
    from submitit.core.utils import UncompletedJobError

    slurm = params.get("slurm") or {}
    ex = slurm_executor(slurm, len(cells))
    lost_after = float(slurm.get("lost_after_s") or 30)
    cwd = os.getcwd()
    with ex.batch():
        jobs = {cell.name: ex.submit(CellJob(overrides(params, cell), cwd)) for cell in cells}
    print(f"sweep: {len(cells)} cell(s) submitted to SLURM as job {next(iter(jobs.values())).job_id.split('_')[0]}"
          f"{' (one job array)' if len(cells) > 1 else ''}; submitit folders in {SUBMITIT_DIR}/", flush=True)
    for name, job in jobs.items():
        progress.set(name, "queued", job=f"SLURM job {job.job_id}", log=str(job.paths.stdout))
    pending, unseen = dict(jobs), {}
    while pending:
        time.sleep(POLL_S)
        queued = None
        for name, job in list(pending.items()):
            if not job.done():
                state = job.state
                if state in ("RUNNING", "COMPLETING"):
                    progress.set(name, "running")
                if state != "UNKNOWN":
                    unseen.pop(name, None)
                    continue
                # neither sacct nor submitit knows it: SLURM 22.05 keeps no accounting row for an array task that
                # was cancelled before it started, and submitit would wait for it forever
                queued = slurm_queue() if queued is None else queued
                if job.job_id in queued:
                    unseen.pop(name, None)
                    continue
                unseen[name] = unseen.get(name, 0) + 1
                if unseen[name] * POLL_S < lost_after:
                    continue
                del pending[name]
                progress.set(name, "failed", error=f"job {job.job_id} left the queue without a result and without "
                                                   "an accounting record (cancelled before it started?)")
                continue
            del pending[name]
            try:
                exc = job.exception()
            except UncompletedJobError as e:  # killed without a result: cancelled, out of memory, node failure
                exc = e
            if exc is None:
                progress.set(name, "done")
            else:
                lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
                progress.set(name, "failed", error=f"{lines[-1][:300] if lines else type(exc).__name__} "
                                                   f"(log: {job.paths.stderr})")


def slurm_queue() -> set[str]:
    """Ids of the jobs and array tasks SLURM holds now (``123``, ``123_4``); empty if squeue does not answer."""
    try:
        out = subprocess.run(["squeue", "-h", "-r", "-o", "%i"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    return {ln.strip() for ln in out.splitlines() if ln.strip()}


def sweep(params_path: str = "params.yaml", dry_run: bool = False) -> int:
    params = load_params(params_path)
    if not MANIFEST.exists():
        raise FileNotFoundError(f"{MANIFEST} not found: run the data stage first (dvc repro data)")
    manifest = json.loads(MANIFEST.read_text())
    missing = [k for k in params["matrix"]["datasets"] if k not in manifest]
    if missing:
        raise KeyError(f"{MANIFEST} has no set {missing}; run the data stage again (dvc repro data)")
    planned = plan(params, manifest)  # every config composes and checks before anything runs
    todo = [p.cell for p in planned if not is_done(p, RECORDS_DIR)]
    print(f"sweep: {len(planned)} cell(s) in the matrix, {len(planned) - len(todo)} done already, {len(todo)} to run "
          f"({params['launcher']})", flush=True)
    if dry_run:
        print("".join(f"  would run {c.name}\n" for c in todo), end="", flush=True)
        return 0
    tidy_records(RECORDS_DIR, planned)
    write_matrix_file(RECORDS_DIR, planned)
    if not todo:
        Progress([], params["launcher"], [p.cell.name for p in planned])
        return 0
    progress = Progress([c.name for c in todo], params["launcher"],
                        [p.cell.name for p in planned if p.cell not in todo])
    if params["launcher"] == "slurm":
        run_slurm(todo, params, progress)
    else:
        run_local(todo, params_path, params, progress)
    print(format_status({n: c for n, c in progress.cells.items() if c["start"]}), flush=True)
    failed = progress.failed()
    if failed:
        print(f"sweep: {len(failed)} of {len(todo)} cell(s) failed; the others' records are kept. Fix the cause and "
              "run `dvc repro` again: it runs only the failed and changed cells.", file=sys.stderr, flush=True)
        return 1
    return 0


def format_status(cells: dict) -> str:
    now = time.time()
    lines = []
    for name, c in cells.items():
        took = ((c["end"] or now) - c["start"]) if c["start"] else None
        detail = c["error"] if c["state"] == "failed" else c["job"]
        lines.append(f"{name:40s} {c['state']:8s} {'-' if took is None else f'{took:7.1f}s':>9s}  {detail}")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="The DVC pipeline's stages (see dvc.yaml).")
    ap.add_argument("stage", choices=["data", "sweep", "status", "cell"])
    ap.add_argument("--method")
    ap.add_argument("--backbone")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--control", default="none")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--dry-run", action="store_true", help="sweep: list the cells that would run, run nothing")
    a = ap.parse_args(argv)
    if a.stage == "status":
        if not STATUS_FILE.exists():
            sys.exit(f"no sweep has run here ({STATUS_FILE} not found)")
        state = json.loads(STATUS_FILE.read_text())
        print(f"launcher {state['launcher']}, started {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(state['started']))}")
        print(format_status(state["cells"]))
        return
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    params = load_params(a.params)
    if a.stage == "data":
        ovr = overrides(params)
        print(f"pipeline data: {' '.join(ovr)}", flush=True)
        cfg = compose(ovr)
        keys = list(dict.fromkeys([cfg.dataset.pretrain_on, *params["matrix"]["datasets"]]))
        print(json.dumps(write_manifest(cfg, keys), indent=2))
    elif a.stage == "sweep":
        sys.exit(sweep(a.params, a.dry_run))
    else:
        missing = [f"--{k}" for k in ("method", "backbone", "seed") if getattr(a, k) is None]
        if missing:
            ap.error(f"cell needs {' '.join(missing)}")
        ovr = overrides(params, Cell(a.method, a.backbone, a.seed, a.control))
        print(f"pipeline cell: {' '.join(ovr)}", flush=True)
        CellJob(ovr, os.getcwd())()

