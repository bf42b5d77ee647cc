"""The DVC pipeline's cells on SLURM: one job array through submitit, described in the same vocabulary as
``hydra/launcher=slurm``.

The settings are those of the Hydra launcher, ``protocols/conf/hydra/launcher/slurm.yaml`` (every key a field of
hydra-submitit-launcher's ``SlurmQueueConf``: partition, account, qos, timeout_min, cpus_per_task, gpus_per_node,
gres, mem_gb, constraint, nodes, tasks_per_node, array_parallelism, signal_delay_s, max_num_timeout,
additional_parameters, setup, ...), composed by Hydra as ``protocols/run.py -m ... hydra/launcher=slurm`` would, with
the pipeline's own submitit folder (``runs/pipeline/submitit/%j``) and job name (``vssl-sweep``). ``params.yaml``'s
``slurm:`` overrides them under the same names (types checked; ``additional_parameters`` is merged into the YAML's,
as a Hydra config that extends ``slurm`` would). One key is the pipeline's own: ``lost_after_s``. Any other key is
an error that lists the valid ones.

The executor is built from those fields the way hydra-submitit-launcher builds its own: ``submitit_folder`` is the
folder, ``max_num_timeout`` an argument of the SLURM executor, the fields every submitit executor knows
(hydra-submitit-launcher's ``BaseQueueConf``: timeout_min, cpus_per_task, gpus_per_node, tasks_per_node, mem_gb,
nodes, name, stderr_to_stdout) keep their names and every other field becomes ``slurm_<key>``.

Each cell is one array task (:class:`CellJob`); a preempted or timed-out task is requeued by submitit and resumes
from its last epoch checkpoint.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import time

LOST_AFTER_S = 30.0  # default of lost_after_s
JOB_NAME = "vssl-sweep"
POLL_S = 1.0
# names params.yaml's `slurm:` used before it spoke the launcher's vocabulary: named in the error, not accepted
_RENAMED = {"gpus": "gpus_per_node", "max_requeues": "max_num_timeout", "additional": "additional_parameters"}


@dataclasses.dataclass
class SlurmSettings:
    """Where and how the cells run: ``launcher``, the fields of ``hydra/launcher=slurm`` (resolved, params.yaml's
    overrides applied); ``lost_after_s``, the pipeline's own: a task that is neither in the queue nor known to
    ``sacct`` for this long is failed (SLURM 22.05 keeps no accounting row for an array task cancelled before it
    started, and submitit would wait for it forever)."""

    launcher: dict
    lost_after_s: float = LOST_AFTER_S


def launcher_config():
    """``hydra/launcher=slurm`` as Hydra composes it for ``protocols/run.py`` (a typed ``SlurmQueueConf`` node)."""
    from experiment.compose import compose

    return compose(["hydra/launcher=slurm"], return_hydra_config=True).hydra.launcher


def slurm_settings(
    overrides: dict | None, folder: str | os.PathLike, source: str = "params.yaml: slurm"
) -> SlurmSettings:
    """The launcher's settings with ``overrides`` (params.yaml's ``slurm:``) applied; ``folder``: submitit's folder
    (``%j``: the job id; the pipeline's is ``runs/pipeline/submitit/%j``). An unknown key or a value of the wrong
    type is a ValueError naming ``source``."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    overrides = dict(overrides or {})
    lost_after_s = overrides.pop("lost_after_s", LOST_AFTER_S)
    launcher = launcher_config()
    valid = sorted(k for k in launcher if k != "_target_")
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        renamed = [f"{k} is now {_RENAMED[k]}" for k in unknown if k in _RENAMED]
        hints = f" ({'; '.join(renamed)})" if renamed else ""
        raise ValueError(
            f"{source}: unknown key(s) {', '.join(unknown)}{hints}. Valid: the fields of "
            f"hydra/launcher=slurm (protocols/conf/hydra/launcher/slurm.yaml): {', '.join(valid)}; "
            "and the pipeline's own lost_after_s"
        )
    try:
        lost_after_s = float(lost_after_s)
    except (TypeError, ValueError):
        raise ValueError(f"{source}: lost_after_s={lost_after_s!r} is not a number of seconds") from None
    if lost_after_s <= 0:
        raise ValueError(f"{source}: lost_after_s={lost_after_s} must be > 0")
    OmegaConf.set_struct(launcher.additional_parameters, False)  # any sbatch option; the other keys stay strict
    launcher.submitit_folder, launcher.name = str(folder), JOB_NAME
    try:
        merged = OmegaConf.merge(launcher, overrides)  # typed: timeout_min=abc is an error
        fields = OmegaConf.to_container(merged, resolve=True)
    except OmegaConfBaseException as e:
        key = str(getattr(e, "full_key", "") or "").removeprefix("hydra.launcher").lstrip(".")
        raise ValueError(f"{source}{'.' + key if key else ''}: {str(e).splitlines()[0]}") from None
    fields.pop("_target_", None)
    return SlurmSettings(fields, lost_after_s)


def executor(settings: SlurmSettings):
    """submitit's SLURM executor with the launcher's fields, mapped as hydra-submitit-launcher maps them (module
    docstring)."""
    import submitit
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

    fields = dict(settings.launcher)
    folder, max_num_timeout = fields.pop("submitit_folder"), fields.pop("max_num_timeout")
    ex = submitit.AutoExecutor(folder=folder, cluster="slurm", slurm_max_num_timeout=max_num_timeout)
    common = {f.name for f in dataclasses.fields(BaseQueueConf)}
    ex.update_parameters(**{k if k in common else f"slurm_{k}": v for k, v in fields.items()})
    return ex


class CellJob:
    """One cell: the Hydra app on the cell's overrides, run from ``cwd`` (the repository root: the cell's paths are
    relative to it). Called in this process by ``python -m pipeline cell`` (what the local launcher starts for each
    cell), or submitted as a submitit job: a preempted or timed-out SLURM job is requeued (submitit calls
    ``checkpoint``) and the rerun resumes from the last epoch checkpoint that pretraining wrote."""

    def __init__(self, overrides: list[str], cwd: str):
        self.overrides, self.cwd = list(overrides), cwd

    def __call__(self) -> None:
        from experiment.app import run
        from experiment.compose import compose

        os.chdir(self.cwd)
        threads = os.environ.get("SLURM_CPUS_PER_TASK")
        if threads:  # SLURM does not confine a job's threads on every cluster: use what was granted
            import torch

            torch.set_num_threads(int(threads))
        logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
        run(compose(self.overrides))

    def checkpoint(self, *args, **kwargs):
        import submitit

        return submitit.helpers.DelayedSubmission(CellJob(self.overrides, self.cwd))


def run_slurm(cells: dict[str, list[str]], settings: SlurmSettings, progress) -> None:
    """One job array for ``cells`` (name -> its Hydra overrides); waits for all of them, a failure does not cancel
    the others. ``progress`` is told each cell's state (pipeline.progress.Progress)."""
    from submitit.core.utils import JobPaths, UncompletedJobError

    ex = executor(settings)
    cwd = os.getcwd()
    with ex.batch():
        jobs = {name: ex.submit(CellJob(ovr, cwd)) for name, ovr in cells.items()}
    folders = JobPaths.get_first_id_independent_folder(settings.launcher["submitit_folder"])
    print(
        f"sweep: {len(cells)} cell(s) submitted to SLURM as job {next(iter(jobs.values())).job_id.split('_')[0]}"
        f"{' (one job array)' if len(cells) > 1 else ''}; submitit folders in {folders}/",
        flush=True,
    )
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
                if unseen[name] * POLL_S < settings.lost_after_s:
                    continue
                del pending[name]
                progress.set(
                    name,
                    "failed",
                    error=f"job {job.job_id} left the queue without a result and without "
                    "an accounting record (cancelled before it started?)",
                )
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
                progress.set(
                    name,
                    "failed",
                    error=f"{lines[-1][:300] if lines else type(exc).__name__} (log: {job.paths.stderr})",
                )


def slurm_queue() -> set[str]:
    """Ids of the jobs and array tasks SLURM holds now (``123``, ``123_4``); empty if squeue does not answer."""
    try:
        out = subprocess.run(["squeue", "-h", "-r", "-o", "%i"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    return {ln.strip() for ln in out.splitlines() if ln.strip()}
