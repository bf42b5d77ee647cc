"""The benchmark matrix of ``params.yaml`` as cells, and the records folder that holds exactly the matrix's records.

A cell is one (method, backbone, seed), plus the untrained control of every method whose evaluation pipeline differs
from ``random``'s (TCGL's STKD): it pretrains once and evaluates every protocol on every dataset of the matrix. What
a cell writes (its records' names, its pretraining curve's) comes from experiment.app and results.identity, the one
place where these names are made."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.params import overrides
from pipeline.paths import MATRIX_FILE
from results.identity import Cell, curve_filename


@dataclass
class Planned:
    """A cell, the records it writes (name -> what makes them current) and its pretraining curve's file name."""

    cell: Cell
    records: dict[str, dict]
    curve: str | None


def plan(params: dict, manifest: dict) -> list[Planned]:
    """Every cell of the matrix with what it writes. A method gets an untrained-control cell when its evaluation
    pipeline (``method.eval_transform()``) is not the identity; otherwise ``random`` is its control. Every cell's
    config is composed and checked here (struct mode: a typo in ``run.overrides`` fails before anything runs)."""
    from experiment import app
    from results.provenance import code_hash, git_info
    from runtime.engine import seed_everything

    m = params["matrix"]
    git, code = git_info(), code_hash()
    out = []
    for method in m["methods"]:
        for backbone in m["backbones"]:
            needs_control = None
            for seed in m["seeds"]:
                planned, cfg = _plan_cell(params, manifest, Cell(method, backbone, int(seed)), git, code)
                out.append(planned)
                if needs_control is None:  # decided once per method and backbone, from a cell without the control
                    seed_everything(0)
                    built = app.method_from_config(cfg, manifest[cfg.dataset.pretrain_on]["classes"])
                    needs_control = built.pretrains and bool(built.eval_transform())
                if needs_control:
                    control = Cell(method, backbone, int(seed), "untrained")
                    out.append(_plan_cell(params, manifest, control, git, code)[0])
    return out


def _plan_cell(params: dict, manifest: dict, cell: Cell, git: dict, code: str):
    """(what ``cell`` writes, its config): the config composed and checked, its records' names with what makes each
    current, and its pretraining curve's name (a cell that pretrains)."""
    from experiment import app
    from experiment.compose import compose
    from results.provenance import config_hash

    cfg = compose(overrides(params, cell))
    app.check_config(cfg)
    chash, weights = app.eval_config_hash(cfg), app.weights_of(cfg)
    records = {
        name: {
            "config_hash": chash,
            "code_hash": code,
            "git_sha": git["sha"],
            "git_dirty": git["dirty"],
            "dataset_fingerprint": manifest[key]["fingerprint"],
        }
        for name, key in app.record_names(cfg).items()
    }
    curve = None
    if weights == "pretrained":
        pre = manifest[cfg.dataset.pretrain_on]
        identity = config_hash(app.pretrain_identity(cfg, pre["fingerprint"]))
        curve = curve_filename(app.run_folder(cfg, pre["label"], identity, weights, True))
    return Planned(cell, records, curve), cfg


def is_done(p: Planned, records_dir: Path) -> bool:
    """Every record of the cell is current (same config, code, commit and data) and its curve is there."""
    from experiment.app import record_is_current

    return all(record_is_current(records_dir / name, expect) for name, expect in p.records.items()) and (
        p.curve is None or (records_dir / "pretraining" / p.curve).exists()
    )


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
    """Move a pretraining curve that the matrix no longer expects to ``.superseded/pretraining/`` (never over
    another); returns where it went."""
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
