"""Collect result records into one long table, listing the cells that are missing.

    python -m results.aggregate [--records results/records]      # the DVC pipeline's: the cells of its matrix.json
    python -m results.aggregate --flat --records results/runs     # every record of a folder (protocols/run.py, sweeps)

Writes (each atomically, and only the bytes of the results: no path of this machine, no wall-clock figure)
``results.csv`` (one row per record x metric, with its provenance and its variant label), ``metrics.json`` (mean top-1
per row, protocol and dataset, for ``dvc metrics show``), ``pretrain_curves.csv`` (every pretraining run's per-epoch
log with its pretext task's chance level) and ``missing_cells.txt`` under ``--out`` (default ``results/``).

A partial sweep is aggregated as it is: its missing records are listed, never silently dropped (with ``--flat`` there
is no matrix, so nothing can be missing). Records that contradict each other (one dataset with two fingerprints, or
two records of one cell and variant) are refused with a message naming the files.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
from pathlib import Path

import pandas as pd

from results.atomic import atomic_write
from results.records import IDENTITY, RecordError, read_record
from results.variants import variant_labels

log = logging.getLogger(__name__)
OUT = Path("results")
RECORDS = Path("results/records")
MATRIX_FILE = "matrix.json"
COLUMNS = [
    "method",
    "weights",
    "variant",
    "variant_hash",
    "backbone",
    "pretrain_data",
    "eval_transform",
    "dataset",
    "split",
    "protocol",
    "seed",
    "metric",
    "value",
    "n_videos",
    "n_skipped",
    "git_sha",
    "git_dirty",
    "git_time",
    "code_hash",
    "config_hash",
    "dataset_fingerprint",
    "checkpoint_sha256",
    "record_file",
]
CURVE_COLUMNS = [
    "method",
    "backbone",
    "seed",
    "variant_hash",
    "chance",
    "epoch",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
]


def frame(records: list[tuple[Path, dict]]) -> pd.DataFrame:
    """Records (path, content) as the long table of ``results.csv``, with each variant's label."""
    labels = variant_labels([r for _, r in records])
    rows = []
    for path, r in records:
        extra = r.get("extra") or {}
        base = {k: r[k] for k in COLUMNS if k in r}
        base |= {
            "variant": labels[r["variant_hash"]],
            "pretrain_data": extra.get("pretrain_data", ""),
            "eval_transform": json.dumps(extra.get("eval_transform") or {}, sort_keys=True),
            "record_file": path.name,
        }
        for metric, value in sorted(r["metrics"].items()):
            rows.append(base | {"metric": metric, "value": float(value)})
    df = pd.DataFrame(rows, columns=COLUMNS)
    df = df.sort_values(
        ["method", "weights", "variant", "backbone", "dataset", "protocol", "seed", "metric"], kind="stable"
    ).reset_index(drop=True)
    check_consistency(df)
    return df


def collect(records_dir: Path) -> tuple[pd.DataFrame, list[str]]:
    """The records that ``matrix.json`` (written by the pipeline's sweep) lists, and the names of those missing."""
    matrix_file = records_dir / MATRIX_FILE
    if not matrix_file.exists():
        raise FileNotFoundError(
            f"{matrix_file} not found: it is written by `python -m pipeline sweep` "
            "(dvc repro); for a folder of protocols/run.py records use --flat"
        )
    matrix = json.loads(matrix_file.read_text())
    records, missing = [], []
    for cell in matrix["cells"]:
        for name in cell["records"]:
            path = records_dir / name
            if path.exists():
                records.append((path, read_record(path)))
            else:
                missing.append(name)
    return frame(records), missing


def collect_flat(records_dir: Path) -> pd.DataFrame:
    """Every record of one folder (the layout of protocols/run.py and its sweeps), in the same long format."""
    if not records_dir.is_dir():
        raise FileNotFoundError(f"result folder not found: {records_dir}")
    paths = sorted(p for p in records_dir.glob("*.json") if p.name != MATRIX_FILE and not p.name.startswith("."))
    return frame([(p, read_record(p)) for p in paths])


def check_consistency(df: pd.DataFrame) -> None:
    """One fingerprint per (dataset, split), and one record per cell and variant."""
    for (dataset, split), g in df.groupby(["dataset", "split"]):
        prints = g.groupby("dataset_fingerprint")["record_file"].unique()
        if len(prints) > 1:
            detail = "; ".join(f"{fp}: {', '.join(sorted(files)[:3])}" for fp, files in prints.items())
            raise RecordError(
                f"dataset {dataset} split {split} has {len(prints)} different fingerprints across "
                f"records ({detail}); the data changed between runs: rerun the stale cells "
                "so that every record describes the same data"
            )
    keys = [k for k in IDENTITY if k != "pretrain_data"] + ["seed", "metric"]
    dup = df[df.duplicated(keys, keep=False)]
    if len(dup):
        files = sorted(dup.record_file.unique())
        raise RecordError(
            f"{len(files)} records describe the same cell and variant ({', '.join(files[:4])}); keep "
            "one of them (move the others away) and aggregate again"
        )


def pretrain_curves(records_dir: Path, wanted: set[str] | None) -> pd.DataFrame:
    """The pretraining curves under ``records_dir/pretraining`` (only the files named in ``wanted``, if given)."""
    frames = [
        pd.read_csv(f)
        for f in sorted((records_dir / "pretraining").glob("*.csv"))
        if wanted is None or f.name in wanted
    ]
    if not frames:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    df = pd.concat(frames, ignore_index=True)
    return (
        df[CURVE_COLUMNS]
        .sort_values(["method", "backbone", "seed", "variant_hash", "epoch"], kind="stable")
        .reset_index(drop=True)
    )


def metrics_summary(df: pd.DataFrame) -> dict:
    """Mean top-1 and the number of seeds per (protocol, dataset, row), the row named ``method[-untrained]-backbone``
    with its variant label."""
    out: dict = {}
    top1 = df[df.metric == "top1"]
    for (protocol, dataset, method, weights, variant, backbone), g in top1.groupby(
        ["protocol", "dataset", "method", "weights", "variant", "backbone"]
    ):
        name = "-".join(
            [
                method,
                *(["untrained"] if weights == "untrained" and method != "random" else []),
                *(["checkpoint"] if weights == "checkpoint" else []),
                backbone,
            ]
        )
        name += f" [{variant}]" if variant else ""
        out.setdefault(protocol, {}).setdefault(dataset, {})[name] = {
            "top1": round(float(g.groupby("seed").value.mean().mean()), 4),
            "seeds": int(g.seed.nunique()),
        }
    return out


def _csv(df: pd.DataFrame) -> str:
    buf = io.StringIO()
    df.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue()


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", default=str(RECORDS))
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--flat", action="store_true", help="take every record of --records (no matrix)")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    records = Path(a.records)
    if a.flat:
        df, missing, curves = collect_flat(records), [], pretrain_curves(records, None)
        expected = len(df.record_file.unique())
    else:
        df, missing = collect(records)
        cells = json.loads((records / MATRIX_FILE).read_text())["cells"]
        curves = pretrain_curves(records, {c["curve"] for c in cells if c["curve"]})
        expected = sum(len(c["records"]) for c in cells)
    out = Path(a.out)
    # everything is computed before anything is written; each file is replaced atomically
    texts = {
        out / "results.csv": _csv(df),
        out / "pretrain_curves.csv": _csv(curves),
        out / "metrics.json": json.dumps(
            metrics_summary(df) | {"records": {"expected": expected, "missing": len(missing)}}, indent=2, sort_keys=True
        )
        + "\n",
        out / "missing_cells.txt": "".join(f"{name}\n" for name in missing),
    }
    for path, text in texts.items():
        _write_text(path, text)
    print(
        f"{len(df.record_file.unique())} records aggregated into {out / 'results.csv'} ({len(df)} rows)"
        + ("" if a.flat else f", {len(missing)} of the {expected} expected missing")
        + f"; {len(curves)} pretraining log rows"
    )
    if missing:
        print(f"MISSING {len(missing)} record(s), listed in {out / 'missing_cells.txt'}:")
        for name in missing[:20]:
            print("  " + name)


if __name__ == "__main__":
    main()
