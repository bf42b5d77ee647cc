"""``params.yaml`` (the matrix, what every cell shares, where cells run) and the Hydra overrides it gives each cell."""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.paths import DATA_DIR, FEATURES_DIR, PRETRAIN_DIR, RECORDS_DIR
from results.identity import Cell

LAUNCHERS = ("local", "slurm")


def load_params(path: str | os.PathLike = "params.yaml") -> dict:
    """``params.yaml`` as a plain dict; an error names a missing section or an unknown launcher. (The ``slurm:``
    section is checked where it is used: slurm.launch.slurm_settings.)"""
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
        o += [
            f"method={cell.method}",
            f"backbone={cell.backbone}",
            f"seed={cell.seed}",
            f"control={cell.control}",
            f"paths.runs={PRETRAIN_DIR}",
            f"paths.cache={FEATURES_DIR}",
            f"paths.records={RECORDS_DIR}",
            "stage=all",
            f"protocols=[{','.join(matrix['protocols'])}]",
            f"dataset.eval_on=[{','.join(matrix['datasets'])}]",
        ]
    return o + [str(x) for x in run.get("overrides") or []]
