"""The commands behind the DVC pipeline's stages (dvc.yaml): one cell of the benchmark matrix per call.

    python -m protocols.pipeline data
    python -m protocols.pipeline pretrain --method tcgl --backbone tiny --seed 0
    python -m protocols.pipeline features --method tcgl --backbone tiny --seed 0 --dataset ucf101
    python -m protocols.pipeline evaluate --method tcgl --backbone tiny --seed 0 --dataset ucf101 --protocol linear

What every cell shares comes from ``params.yaml`` (``run:``), where it runs from ``launcher:`` (``local``: in this
process; ``slurm``: one submitit job per cell, waited for, requeued on preemption). The output paths are fixed here
and in dvc.yaml, so that DVC knows each stage's outputs. Each call composes the same Hydra config as
``protocols/run.py`` (struct mode: a typo in ``run.overrides`` is an error) and runs ``protocols.app.run``.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path("data")
PRETRAIN_DIR = Path("runs/pipeline/pretrain")
FEATURES_DIR = Path("runs/pipeline/features")
RECORDS_DIR = Path("results/records")
SUBMITIT_DIR = Path("runs/pipeline/submitit")
MANIFEST = DATA_DIR / "manifest.json"
LAUNCHERS = ("local", "slurm")

log = logging.getLogger("vssl.pipeline")


def cell_name(method: str, backbone: str, seed: int, dataset: str | None = None, protocol: str | None = None) -> str:
    """``tcgl__tiny__seed0[__ucf101[__linear]]``: the folder of one cell's outputs (same order as dvc.yaml)."""
    return "__".join([method, backbone, f"seed{seed}", *(p for p in (dataset, protocol) if p)])


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


def overrides(params: dict, stage: str, method: str | None = None, backbone: str | None = None,
              seed: int | None = None, dataset: str | None = None, protocol: str | None = None) -> list[str]:
    """The Hydra overrides of one stage's cell (what ``protocols/run.py`` would be given on the command line)."""
    run = params["run"]
    o = [f"preset={run['preset']}", f"dataset={run['dataset']}", f"split={run['split']}", f"paths.data={DATA_DIR}"]
    if stage != "data":
        o += [f"method={method}", f"backbone={backbone}", f"seed={seed}",
              f"paths.runs={PRETRAIN_DIR / cell_name(method, backbone, seed)}"]
    if stage == "pretrain":
        o += ["stage=pretrain"]
    elif stage == "features":
        o += ["stage=features", f"dataset.eval_on=[{dataset}]",
              f"paths.cache={FEATURES_DIR / cell_name(method, backbone, seed, dataset)}"]
    elif stage == "evaluate":
        o += ["stage=eval", f"protocols=[{protocol}]", f"dataset.eval_on=[{dataset}]",
              f"paths.cache={FEATURES_DIR / cell_name(method, backbone, seed, dataset)}",
              "eval.features_from_cache_only=true",
              f"paths.records={RECORDS_DIR / cell_name(method, backbone, seed, dataset, protocol)}"]
    return o + [str(x) for x in run.get("overrides") or []]


def compose(ovr: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(REPO / "protocols" / "conf"), version_base="1.3"):
        return hydra_compose("config", overrides=ovr)


def write_manifest(cfg, keys: list[str], out: Path = MANIFEST) -> dict:
    """Generate the embedded sets that are missing (real ones are only read), and record what each set is."""
    from protocols import data
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


class CellJob:
    """One cell, run here or as a submitit job. A preempted or timed-out SLURM job is requeued (submitit calls
    ``checkpoint``) and the rerun resumes from the last epoch checkpoint that pretraining wrote."""

    def __init__(self, ovr: list[str], cwd: str):
        self.ovr, self.cwd = list(ovr), cwd

    def __call__(self) -> None:
        from protocols.app import run

        os.chdir(self.cwd)
        logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
        run(compose(self.ovr))

    def checkpoint(self, *args, **kwargs):
        import submitit

        return submitit.helpers.DelayedSubmission(CellJob(self.ovr, self.cwd))


def submit_slurm(job: CellJob, name: str, slurm: dict) -> None:
    import submitit

    ex = submitit.AutoExecutor(folder=SUBMITIT_DIR / name, cluster="slurm",
                               slurm_max_num_timeout=int(slurm.get("max_requeues", 3)))
    extra = {f"slurm_{k}": slurm[k] for k in ("partition", "account", "qos", "constraint", "gres")
             if slurm.get(k) is not None}
    if slurm.get("mem_gb") is not None:
        extra["mem_gb"] = slurm["mem_gb"]
    ex.update_parameters(name=name, timeout_min=int(slurm.get("timeout_min", 120)),
                         cpus_per_task=int(slurm.get("cpus_per_task", 2)), gpus_per_node=int(slurm.get("gpus", 0)),
                         slurm_additional_parameters=dict(slurm.get("additional") or {}), **extra)
    j = ex.submit(job)
    print(f"submitted {name} as SLURM job {j.job_id}; logs in {SUBMITIT_DIR / name}", flush=True)
    j.result()  # raises submitit's FailedJobError (with the job's traceback) if the cell failed
    print(f"SLURM job {j.job_id} finished", flush=True)


def _warm_enabled(params: dict) -> bool:
    """Local cells run in a fork of a warm worker (protocols/warm.py) unless params.yaml's ``local.warm_worker`` is
    false or VSSL_WARM=0; never from inside a worker's child."""
    if os.environ.get("VSSL_WARM_CHILD") == "1":
        return False
    if os.environ.get("VSSL_WARM", "1").strip().lower() in ("0", "false", "no"):
        return False
    return bool((params.get("local") or {}).get("warm_worker", True))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Run one stage cell of the DVC pipeline (see dvc.yaml).")
    ap.add_argument("stage", choices=["data", "pretrain", "features", "evaluate"])
    ap.add_argument("--method")
    ap.add_argument("--backbone")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--dataset")
    ap.add_argument("--protocol")
    ap.add_argument("--params", default="params.yaml")
    a = ap.parse_args(argv)
    need = {"data": [], "pretrain": ["method", "backbone", "seed"], "features": ["method", "backbone", "seed", "dataset"],
            "evaluate": ["method", "backbone", "seed", "dataset", "protocol"]}[a.stage]
    missing = [f"--{k}" for k in need if getattr(a, k) is None]
    if missing:
        ap.error(f"stage {a.stage} needs {' '.join(missing)}")
    params = load_params(a.params)
    if params["launcher"] == "local" and _warm_enabled(params):
        from protocols import warm

        try:
            code = warm.run_in_worker("protocols.pipeline:main", list(sys.argv[1:] if argv is None else argv),
                                      float((params.get("local") or {}).get("idle_s", warm.DEFAULT_IDLE_S)))
        except warm.WarmUnavailable as e:
            print(f"pipeline: no warm worker ({e}); running this cell in this process", file=sys.stderr)
        else:
            sys.exit(code)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    ovr = overrides(params, a.stage, a.method, a.backbone, a.seed, a.dataset, a.protocol)
    print(f"pipeline {a.stage}: {' '.join(ovr)}", flush=True)
    if os.environ.get("VSSL_WARM_CHILD") == "1":
        print(f"pipeline: forked from warm worker {os.getppid()} (protocols/warm.py)", flush=True)
    if a.stage == "data":
        cfg = compose(ovr)
        keys = list(dict.fromkeys([cfg.dataset.pretrain_on, *params["matrix"]["datasets"]]))
        print(json.dumps(write_manifest(cfg, keys), indent=2))
        return
    job = CellJob(ovr, os.getcwd())
    if params["launcher"] == "slurm":
        compose(ovr)  # a bad override fails here, before a job is queued
        submit_slurm(job, f"{a.stage}-{cell_name(a.method, a.backbone, a.seed, a.dataset, a.protocol)}",
                     params.get("slurm") or {})
    else:
        job()


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
