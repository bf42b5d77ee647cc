"""The DVC stages' commands (dvc.yaml), run from the repository root:

    python -m pipeline data      # generate the embedded sets that are missing; data/manifest.json
    python -m pipeline sweep     # every cell whose records are missing or stale, all at once; then waits
    python -m pipeline sweep --dry-run   # the cells a `dvc repro` would run now
    python -m pipeline status    # one line per cell of the running (or last) sweep
    python -m pipeline cell --method tcgl --backbone tiny --seed 0 [--control untrained]   # one cell, here

Every command takes ``--params`` (default: params.yaml)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from results.identity import Cell


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m pipeline", description="The DVC pipeline's stages (see dvc.yaml).")
    ap.add_argument("stage", choices=["data", "sweep", "status", "cell"])
    ap.add_argument("--method")
    ap.add_argument("--backbone")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--control", default="none")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--dry-run", action="store_true", help="sweep: list the cells that would run, run nothing")
    a = ap.parse_args(argv)
    if a.stage == "status":
        from pipeline.progress import show_status

        try:
            print(show_status())
        except FileNotFoundError as e:
            sys.exit(str(e))
        return
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    if a.stage == "sweep":
        from pipeline.sweep import sweep

        sys.exit(sweep(a.params, a.dry_run))
    from pipeline.params import load_params, overrides

    params = load_params(a.params)
    if a.stage == "data":
        from pipeline.data_stage import data_stage

        print(json.dumps(data_stage(params), indent=2))
    else:
        missing = [f"--{k}" for k in ("method", "backbone", "seed") if getattr(a, k) is None]
        if missing:
            ap.error(f"cell needs {' '.join(missing)}")
        from slurm.launch import CellJob  # the cell as a SLURM task runs it, here

        ovr = overrides(params, Cell(a.method, a.backbone, a.seed, a.control))
        print(f"pipeline cell: {' '.join(ovr)}", flush=True)
        CellJob(ovr, os.getcwd())()


if __name__ == "__main__":
    main()
