"""The ``sweep`` stage: every cell of the matrix whose records are missing or stale, all at once, then waits.

It composes every cell's Hydra config first (struct mode: a typo in ``run.overrides`` fails before anything runs;
so does an unknown key in ``params.yaml``'s ``slurm:``), skips the cells whose records are current (same config,
code, commit and data), and runs the rest concurrently: ``launcher: local`` as processes here (pipeline.local),
``launcher: slurm`` as one SLURM job array (slurm.launch). A failed cell does not stop the others. The sweep prints
a line whenever a cell changes state, keeps ``runs/pipeline/status.json`` up to date (pipeline.progress), and exits
non-zero if a cell failed: DVC then keeps its lock as it was, the finished cells' records stay (a persistent
output), and the next ``dvc repro`` runs only the cells that failed or changed. Its output, ``results/records/``,
holds exactly the matrix's records (records of other cells or configs are moved to
``results/records/.superseded/``, never deleted), the pretraining curves and ``matrix.json``, the list of what the
matrix expects, which ``results.aggregate`` reads."""

from __future__ import annotations

import sys

from pipeline.data_stage import read_manifest
from pipeline.matrix import is_done, plan, tidy_records, write_matrix_file
from pipeline.params import load_params, overrides
from pipeline.paths import RECORDS_DIR, SUBMITIT_DIR
from pipeline.progress import Progress, format_status


def sweep(params_path: str = "params.yaml", dry_run: bool = False) -> int:
    """The stage's command; returns its exit status (1 if a cell failed). ``dry_run``: list the cells that would
    run, run nothing."""
    from slurm.launch import slurm_settings

    params = load_params(params_path)
    slurm = slurm_settings(params.get("slurm"), SUBMITIT_DIR / "%j", f"{params_path}: slurm")  # whichever launcher
    manifest = read_manifest(params)
    planned = plan(params, manifest)  # every config composes and checks before anything runs
    todo = [p.cell for p in planned if not is_done(p, RECORDS_DIR)]
    print(
        f"sweep: {len(planned)} cell(s) in the matrix, {len(planned) - len(todo)} done already, {len(todo)} to run "
        f"({params['launcher']})",
        flush=True,
    )
    if dry_run:
        print("".join(f"  would run {c.name}\n" for c in todo), end="", flush=True)
        return 0
    tidy_records(RECORDS_DIR, planned)
    write_matrix_file(RECORDS_DIR, planned)
    if not todo:
        Progress([], params["launcher"], [p.cell.name for p in planned])
        return 0
    progress = Progress(
        [c.name for c in todo], params["launcher"], [p.cell.name for p in planned if p.cell not in todo]
    )
    if params["launcher"] == "slurm":
        from slurm.launch import run_slurm

        run_slurm({c.name: overrides(params, c) for c in todo}, slurm, progress)
    else:
        from pipeline.local import run_local

        run_local(todo, params_path, params, progress)
    print(format_status({n: c for n, c in progress.cells.items() if c["start"]}), flush=True)
    failed = progress.failed()
    if failed:
        print(
            f"sweep: {len(failed)} of {len(todo)} cell(s) failed; the others' records are kept. Fix the cause and "
            "run `dvc repro` again: it runs only the failed and changed cells.",
            file=sys.stderr,
            flush=True,
        )
        return 1
    return 0
