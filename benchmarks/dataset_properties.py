"""Measure the three properties the embedded dataset is designed for, with the real pipeline (protocols/run.py):

1. a supervised encoder reaches a high linear-probe accuracy (upper bound) while a random-init encoder stays low;
2. the temporal pretext tasks are learnable: validation pretext accuracy well above chance;
3. pretrained features beat random init downstream (linear probe and retrieval).

    python -m benchmarks.dataset_properties [--methods supervised,random,speednet,tcgl] [--seeds 0,1,2]
        [--work DIR] [--smoke] [-- extra hydra overrides ...]

Prints one Markdown table (mean and 95% t-interval over seeds) for BENCHMARKS.md. Runs are resumable: rerunning
reuses finished pretraining and result records. ``--smoke`` runs each job at ``SMOKE`` (preset=smoke, one epoch,
ucf101 only): a check that the chain runs (tests/test_benchmarks_smoke.py), not a figure.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from results.records import load_records
from results.stats import mean_ci

REPO = Path(__file__).resolve().parents[1]
CHANCE = {"tcgl": 1 / 6, "vcop": 1 / 6, "opn": 1 / 12, "sorder": 1 / 2, "speednet": 1 / 2}
SMOKE = [
    "preset=smoke",
    "pretrain.epochs=1",
    "protocol.linear.epochs=1",
    "eval.clips_per_video=1",
    "dataset.eval_on=[ucf101]",
]
COLUMNS = (
    "method",
    "pretext val acc (chance)",
    "linear top-1 ucf",
    "linear top-1 hmdb",
    "retrieval top-1 ucf",
    "retrieval top-1 hmdb",
    "seeds",
)


def fmt(values):
    m, h, _ = mean_ci(values)
    return f"{m:.3f}" if np.isnan(h) else f"{m:.3f} ± {h:.3f}"


def pretrain_log(runs: Path, records) -> Path | None:
    """The pretraining log of the run whose final checkpoint the records evaluated (matched by its sha256, so an
    older run of the same method and seed with other settings in the same folder is never picked up)."""
    shas = set(records["checkpoint_sha256"])
    if len(shas) > 1:
        sys.exit(f"records of one method and seed evaluate {len(shas)} checkpoints: use a fresh --work")
    for sidecar in runs.glob("*/final.pt.sha256"):
        if sidecar.read_text().split()[0] in shas and (sidecar.parent / "pretrain_log.csv").exists():
            return sidecar.parent / "pretrain_log.csv"
    return None


def main(argv=None) -> list[str]:
    """Prints the Markdown table; returns its lines."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", default="supervised,random,speednet,tcgl")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--work", default="runs/properties")
    p.add_argument("--smoke", action="store_true", help="each job at preset=smoke, one epoch, ucf101 only")
    p.add_argument("overrides", nargs="*")
    a = p.parse_args(argv)
    overrides = (SMOKE if a.smoke else []) + a.overrides
    work = Path(a.work).resolve()
    methods, seeds = a.methods.split(","), [int(s) for s in a.seeds.split(",")]
    for m in methods:
        for s in seeds:
            t0 = time.time()
            cmd = [
                sys.executable,
                str(REPO / "protocols" / "run.py"),
                f"method={m}",
                f"seed={s}",
                "protocols=[linear,retrieval]",
                f"paths.runs={work}/runs",
                f"paths.cache={work}/cache",
                f"paths.records={work}/records",
                f"hydra.run.dir={work}/hydra/{m}-{s}",
                *overrides,
            ]
            r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
            if r.returncode:
                sys.exit(f"{' '.join(cmd)} failed:\n{r.stderr[-3000:]}")
            print(f"# {m} seed {s}: {time.time() - t0:.0f}s", file=sys.stderr)

    df = load_records(work / "records")
    rows = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for m in methods:
        d = df[df.method == m]
        accs = []
        for s in seeds:
            log = pretrain_log(work / "runs", d[d.seed == s])
            if log is not None:
                with log.open() as f:
                    accs.append(float(list(csv.DictReader(f))[-1]["val_acc"]))
        cells = []
        for proto in ("linear", "retrieval"):
            for ds in ("embedded-ucf101", "embedded-hmdb51"):
                v = d[(d.protocol == proto) & (d.dataset == ds) & (d.metric == "top1")].sort_values("seed")["value"]
                cells.append(fmt(v) if len(v) else "")
        pre = f"{fmt(accs)} ({CHANCE[m]:.3f})" if accs and m in CHANCE else ("—" if not accs else fmt(accs))
        rows.append(f"| {m} | {pre} | " + " | ".join(cells) + f" | {len(seeds)} |")
    print("\n".join(rows))
    return rows


if __name__ == "__main__":
    main()
