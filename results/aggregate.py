"""Collect the pipeline's result records into one long table, listing the cells that are missing.

    python -m results.aggregate [--params params.yaml] [--records results/records] [--pretrain runs/pipeline/pretrain]
    python -m results.aggregate --flat --records results/runs     # every record of a folder, e.g. a Hydra sweep's

Writes (each atomically) ``results/results.csv`` (one row per cell x metric, with the provenance of its record),
``results/metrics.json`` (mean top-1 per method, protocol and dataset, for ``dvc metrics show``),
``results/pretrain_curves.csv`` (every pretraining run's per-epoch log) and ``results/missing_cells.txt``.

A partial sweep is aggregated as it is: its missing cells are listed, never silently dropped (with ``--flat`` there
is no matrix, so nothing can be missing: every valid record of the folder is taken). Records whose provenance
contradicts each other (two records of one cell, a record in another cell's folder, or one dataset with two
fingerprints) are refused with a message naming the files.
"""
from __future__ import annotations

import argparse
import io
import itertools
import json
import logging
from pathlib import Path

import pandas as pd

from protocols.pipeline import PRETRAIN_DIR, RECORDS_DIR, cell_name, load_params
from results.atomic import atomic_write
from results.records import RecordError, read_record

log = logging.getLogger(__name__)
OUT = Path("results")
COLUMNS = ["method", "backbone", "pretrain_data", "dataset", "dataset_key", "split", "protocol", "seed", "metric",
           "value", "n_videos", "n_skipped", "git_sha", "git_dirty", "config_hash", "dataset_fingerprint",
           "checkpoint_sha256", "timestamp", "record_file"]


def expected_cells(matrix: dict) -> list[dict]:
    keys = ("method", "backbone", "seed", "dataset", "protocol")
    lists = [matrix["methods"], matrix["backbones"], matrix["seeds"], matrix["datasets"], matrix["protocols"]]
    return [dict(zip(keys, combo)) for combo in itertools.product(*lists)]


def collect(cells: list[dict], records_dir: Path) -> tuple[pd.DataFrame, list[dict]]:
    rows, missing = [], []
    for cell in cells:
        folder = records_dir / cell_name(**cell)
        files = sorted(folder.glob("*.json")) if folder.is_dir() else []
        if not files:
            missing.append(cell)
            continue
        if len(files) > 1:
            raise RecordError(f"{folder}: {len(files)} records for one cell ({', '.join(f.name for f in files)}); "
                              "delete the stale ones and rerun the cell (dvc repro -f evaluate@...)")
        r = read_record(files[0])
        for key in ("method", "backbone", "seed", "protocol"):
            if r[key] != cell[key]:
                raise RecordError(f"{files[0]}: {key}={r[key]!r} but the record sits in the folder of {key}="
                                  f"{cell[key]!r}; it was moved or written by another cell; rerun the cell")
        extra = r.get("extra") or {}
        for metric, value in sorted(r["metrics"].items()):
            rows.append({**{k: r.get(k) for k in COLUMNS if k in r}, "dataset_key": cell["dataset"],
                         "pretrain_data": extra.get("pretrain_data", ""), "metric": metric, "value": float(value),
                         "record_file": str(files[0])})
    df = pd.DataFrame(rows, columns=COLUMNS)
    check_consistency(df)
    return df, missing


def collect_flat(records_dir: Path) -> pd.DataFrame:
    """Every record of one folder (the layout of protocols/run.py and its sweeps), in the same long format."""
    from results.records import load_records

    d = load_records(records_dir)
    d["pretrain_data"] = [(e or {}).get("pretrain_data", "") for e in d["extra"]]
    d["dataset_key"] = d["dataset"]
    d["record_file"] = [str(records_dir / f) for f in d["record_file"]]
    df = d[COLUMNS].reset_index(drop=True)
    check_consistency(df)
    return df


def check_consistency(df: pd.DataFrame) -> None:
    """One fingerprint per (dataset, split): otherwise the cells were computed on different data."""
    for (dataset, split), g in df.groupby(["dataset", "split"]):
        prints = g.groupby("dataset_fingerprint")["record_file"].unique()
        if len(prints) > 1:
            detail = "; ".join(f"{fp}: {', '.join(sorted(files)[:3])}" for fp, files in prints.items())
            raise RecordError(f"dataset {dataset} split {split} has {len(prints)} different fingerprints across "
                              f"records ({detail}); the data changed between runs: rerun the stale cells "
                              "(dvc repro) so that every record describes the same data")


def pretrain_curves(matrix: dict, pretrain_dir: Path) -> pd.DataFrame:
    frames = []
    for method, backbone, seed in itertools.product(matrix["methods"], matrix["backbones"], matrix["seeds"]):
        for log_file in sorted((pretrain_dir / cell_name(method, backbone, seed)).glob("*/pretrain_log.csv")):
            f = pd.read_csv(log_file)
            f.insert(0, "seed", seed)
            f.insert(0, "backbone", backbone)
            f.insert(0, "method", method)
            frames.append(f)
    cols = ["method", "backbone", "seed", "epoch", "train_loss", "train_acc", "val_loss", "val_acc"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def metrics_summary(df: pd.DataFrame) -> dict:
    out: dict = {}
    top1 = df[df.metric == "top1"]
    for (protocol, dataset, method, backbone), g in top1.groupby(["protocol", "dataset", "method", "backbone"]):
        out.setdefault(protocol, {}).setdefault(dataset, {})[f"{method}-{backbone}"] = {
            "top1": round(float(g.value.mean()), 4), "seeds": int(g.seed.nunique())}
    return out


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def _csv(df: pd.DataFrame) -> str:
    buf = io.StringIO()
    df.to_csv(buf, index=False)
    return buf.getvalue()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--records", default=str(RECORDS_DIR))
    ap.add_argument("--pretrain", default=str(PRETRAIN_DIR))
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--flat", action="store_true", help="take every record of --records (no matrix, no folders)")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    if a.flat:
        df, cells, missing = collect_flat(Path(a.records)), [], []
        curves = pd.DataFrame(columns=["method", "backbone", "seed", "epoch", "train_loss", "train_acc", "val_loss",
                                       "val_acc"])
    else:
        matrix = load_params(a.params)["matrix"]
        cells = expected_cells(matrix)
        df, missing = collect(cells, Path(a.records))
        curves = pretrain_curves(matrix, Path(a.pretrain))
    out = Path(a.out)
    # everything is computed before anything is written; each file is replaced atomically
    texts = {
        out / "results.csv": _csv(df),
        out / "pretrain_curves.csv": _csv(curves),
        out / "metrics.json": json.dumps(metrics_summary(df) | {"cells": {"expected": len(cells),
                                                                          "missing": len(missing)}},
                                         indent=2, sort_keys=True) + "\n",
        out / "missing_cells.txt": "".join(f"{cell_name(**c)}\n" for c in missing),
    }
    for path, text in texts.items():
        _write_text(path, text)
    n = len(df.groupby(["method", "backbone", "dataset", "split", "protocol", "seed"]))
    print(f"{n} cells aggregated into {out / 'results.csv'} ({len(df)} rows)"
          + ("" if a.flat else f", {len(missing)} of the {len(cells)} expected missing")
          + f"; {len(curves)} pretraining log rows")
    if missing:
        print(f"MISSING {len(missing)} cell(s), listed in {out / 'missing_cells.txt'}:")
        for c in missing[:20]:
            print("  " + cell_name(**c))


if __name__ == "__main__":
    main()
