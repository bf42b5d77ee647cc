"""Mean and 95% confidence interval over seeds of every row, dataset and protocol, and the paired gains.

    python -m results.summary [--records results/runs]           # a folder of records (protocols/run.py, sweeps)
    python -m results.summary --results results/results.csv       # the DVC pipeline's committed results
    python -m results.summary --results results/results.csv --readme README.md [--check]

Prints Markdown: one line per row (method, its weights, its variant, backbone, pretraining data, split), one column
per protocol x dataset, each cell the mean ± half-width of the 95% t-interval over seeds and the number of distinct
seeds; then each method's gain over its untrained control and over random, paired by seed, with the table's
Holm-corrected paired t-tests (results.tables). ``--readme`` writes both between the README's
``<!-- results:embedded -->`` markers; ``--check`` only compares, and exits 1 when the README differs.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import pandas as pd

from results import tables
from results.markdown import markdown_table
from results.records import DEFAULT_DIR
from results.stats import mean_ci

GROUP = ["method", "weights", "variant", "backbone", "pretrain_data", "split", "dataset", "protocol"]
BEGIN, END = "<!-- results:embedded -->", "<!-- /results:embedded -->"


def summarise(df: pd.DataFrame, metric: str = "top1") -> pd.DataFrame:
    """One line per identity (``GROUP``): mean, 95% t half-width and the number of distinct seeds."""
    rows = []
    for key, g in df[df.metric == metric].groupby(GROUP):
        m, h, _ = mean_ci(g.groupby("seed")["value"].mean())
        rows.append(dict(zip(GROUP, key)) | {"mean": m, "ci95": h, "seeds": int(g.seed.nunique())})
    return pd.DataFrame(rows, columns=GROUP + ["mean", "ci95", "seeds"])


def _cell(r) -> str:
    return (
        f"{100 * r.mean:.1f} ({r.seeds})"
        if math.isnan(r.ci95)
        else f"{100 * r.mean:.1f} ± {100 * r.ci95:.1f} ({r.seeds})"
    )


def markdown(summary: pd.DataFrame) -> str:
    cols = sorted(
        {(r.protocol, r.dataset) for r in summary.itertuples()},
        key=lambda c: (tables.PROTOCOLS.index(c[0]) if c[0] in tables.PROTOCOLS else 9, tables.dataset_key(c[1])),
    )
    header = ["row", "backbone", "pretrained on", "split"] + [f"{p} {d}" for p, d in cols]
    rows = []
    for row in tables.table_rows(summary):
        for split, g in summary[(summary[tables.ROW] == pd.Series(row, index=tables.ROW)).all(axis=1)].groupby("split"):
            cell = {(r.protocol, r.dataset): r for r in g.itertuples()}
            rows.append(
                [tables.row_label(*row[:3]), row[3], row[4] or "—", str(split)]
                + [_cell(cell[c]) if c in cell else "" for c in cols]
            )
    return markdown_table(header, rows)


def gains_markdown(df: pd.DataFrame, metric: str = "top1") -> str:
    """Each row's gain over its untrained control and over random per protocol x dataset, Holm-corrected over all
    the comparisons of this table."""
    d = df[df.metric == metric].copy()
    d["dataset"] = d.protocol + " " + d.dataset  # one column per protocol x dataset, tested as one family
    cells = sorted(
        set(d.dataset),
        key=lambda c: (
            tables.PROTOCOLS.index(c.split()[0]) if c.split()[0] in tables.PROTOCOLS else 9,
            tables.dataset_key(c.split()[1]),
        ),
    )
    g, n_tests = tables.gains(d, tables.table_rows(d), cells)
    rows = []
    for row in (r for r in tables.table_rows(d) if r[0] != "random"):
        own = tables.control_of(d, row) not in (None, tables.random_of(d, row))
        for kind, base in ((("control", "its untrained control"),) if own else ()) + (("random", "random"),):
            vals = [g.get((row, c, kind)) for c in cells]
            rows.append([tables.row_label(*row[:3]), base] + ["—" if v is None else tables.fmt_gain(*v) for v in vals])
    note = (
        f"Gains in top-1 points, paired by seed (mean ± 95% t half-width, seeds). * : paired t-test, "
        f"Holm-corrected over the {n_tests} comparisons of this table, p < {tables.ALPHA} "
        f"({tables.n_marked(g)} marked); an unmarked gain is not distinguishable from zero with these seeds."
    )
    return markdown_table(["row", "gain over"] + cells, rows, [note])


def readme_block(df: pd.DataFrame) -> str:
    return "\n".join([BEGIN, "", markdown(summarise(df)), "", gains_markdown(df), "", END])


def replace_block(text: str, block: str, where: str) -> str:
    if text.count(BEGIN) != 1 or text.count(END) != 1:
        raise ValueError(f"{where} must hold one {BEGIN} ... {END} block (the place of the generated results)")
    head, rest = text.split(BEGIN)
    return head + block + rest.split(END, 1)[1]


def load(records: str | None, results: str | None) -> pd.DataFrame:
    if results:
        return tables.read_results(results)
    from results.aggregate import collect_flat

    return collect_flat(Path(records or DEFAULT_DIR))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", help=f"a folder of result records (default {DEFAULT_DIR})")
    p.add_argument("--results", help="a results.csv written by results.aggregate")
    p.add_argument("--metric", default="top1")
    p.add_argument("--readme", help="write the tables into this README's results block")
    p.add_argument("--check", action="store_true", help="with --readme: compare only; exit 1 if it differs")
    a = p.parse_args(argv)
    df = load(a.records, a.results)
    if not a.readme:
        print(markdown(summarise(df, a.metric)))
        print()
        print(gains_markdown(df, a.metric))
        return
    readme = Path(a.readme)
    text = readme.read_text(encoding="utf-8")
    new = replace_block(text, readme_block(df), str(readme))
    if a.check:
        if new != text:
            sys.exit(
                f"{readme}: its results block differs from {a.results or a.records}; regenerate it with "
                f"python -m results.summary --results {a.results or 'results/results.csv'} --readme {readme}"
            )
        print(f"{readme}: results block matches")
    elif new != text:
        readme.write_text(new, encoding="utf-8")
        print(f"{readme}: results block written")


if __name__ == "__main__":
    main()
