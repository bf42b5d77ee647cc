"""Mean and 95% confidence interval over seeds of every (method, dataset, protocol, metric) cell of the records.

    python -m results.summary [--records results/runs] [--metric top1]

Prints a Markdown table (one row per method, one column per dataset x protocol): mean ± half-width of the 95%
t-interval over seeds, and the number of seeds. The paper-style tables of the DVC pipeline build on the same frame.
"""
from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from results.records import DEFAULT_DIR, load_records
from results.stats import mean_ci


def summarise(df: pd.DataFrame, metric: str = "top1") -> pd.DataFrame:
    d = df[df.metric == metric]
    rows = []
    for (method, dataset, protocol), g in d.groupby(["method", "dataset", "protocol"]):
        m, h, n = mean_ci(g.sort_values("seed")["value"])
        rows.append({"method": method, "dataset": dataset, "protocol": protocol, "mean": m, "ci95": h, "seeds": n})
    return pd.DataFrame(rows)


def markdown(summary: pd.DataFrame) -> str:
    cols = sorted({(r.dataset, r.protocol) for r in summary.itertuples()})
    head = "| method | " + " | ".join(f"{p} {d}" for d, p in cols) + " | seeds |"
    lines = [head, "|" + "---|" * (len(cols) + 2)]
    for method, g in summary.groupby("method"):
        cell = {(r.dataset, r.protocol): r for r in g.itertuples()}
        vals = []
        for c in cols:
            r = cell.get(c)
            vals.append("" if r is None else (f"{r.mean:.3f}" if np.isnan(r.ci95) else f"{r.mean:.3f} ± {r.ci95:.3f}"))
        lines.append(f"| {method} | " + " | ".join(vals) + f" | {int(g.seeds.max())} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", default=str(DEFAULT_DIR))
    p.add_argument("--metric", default="top1")
    a = p.parse_args(argv)
    print(markdown(summarise(load_records(a.records), a.metric)))


if __name__ == "__main__":
    main()
