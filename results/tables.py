"""Paper-style tables from the tidy results alone (no training): Markdown and LaTeX (booktabs).

    python -m results.tables [--results results/results.csv] [--reference results/reference/reported.csv]
                             [--out results/tables]

- action_recognition / linear_probe / retrieval_top1: top-1 of every row (methods, their untrained controls,
  ``random``, ``supervised``) per dataset, with each method's gain over its own untrained control and over ``random``
- retrieval: top-1/5/10/20/50 per dataset
- reported_vs_reproduced: published numbers (results/reference/) beside ours on the same dataset and split convention
- protocol_sensitivity: each row's rank under every protocol, and Spearman's rho between protocols with a bootstrap
  interval, over the pretext methods alone and over every row

A row averages the seeds of one (method, weights, variant, backbone, pretraining data): a variant (another config of
the same method) is its own row, labelled with what differs. Cells are the mean over seeds ± the half-width of the
95% t-interval, with the number of seeds in brackets, in percent. A gain is the difference paired by seed, tested with
a paired t-test; the p-values of one table are Holm-corrected together and a gain marked ``*`` has a corrected p below
0.05; an unmarked gain is not distinguishable from zero with that many seeds. A method's control is its own untrained
encoder through its own evaluation pipeline where that pipeline is not ``random``'s (``eval_transform``), and
``random`` otherwise. Datasets keep their record labels (embedded-ucf101 is never shown as UCF101). All tables are
computed before any file is written, and each file is replaced atomically.
"""

from __future__ import annotations

import argparse
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from results.atomic import atomic_write
from results.markdown import markdown_table
from results.stats import holm, mean_ci, paired_test, spearman_bootstrap

PROTOCOL_NAMES = {"finetune": "fine-tune", "linear": "linear probe", "retrieval": "retrieval", "svm": "linear SVM"}
PROTOCOLS = ("linear", "finetune", "retrieval")  # the tables and plots of the matrix; svm (opt-in) has none yet
KS = (1, 5, 10, 20, 50)
ROW = ["method", "weights", "variant", "backbone", "pretrain_data"]
ALPHA = 0.05
REFERENCE_METHODS = ("random", "supervised")  # bounds, not pretext methods


@dataclass
class Table:
    name: str
    title: str
    columns: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        return (
            markdown_table(
                self.columns, self.rows, self.notes, title=self.title, empty="(no results)", hard_breaks=True
            )
            + "\n"
        )

    def latex(self) -> str:
        spec = "l" * 3 + "r" * (len(self.columns) - 3) if len(self.columns) > 3 else "l" * len(self.columns)
        out = [
            f"% {self.title}",
            f"\\begin{{tabular}}{{{spec}}}",
            "\\toprule",
            " & ".join(_tex(c) for c in self.columns) + r" \\",
            "\\midrule",
        ]
        out += [" & ".join(_tex(c) for c in r) + r" \\" for r in self.rows]
        out += ["\\bottomrule", "\\end{tabular}"]
        out += [f"% {n}" for n in self.notes]
        return "\n".join(out) + "\n"


def _tex(text: str) -> str:
    for a, b in (
        ("\\", r"\textbackslash{}"),
        ("_", r"\_"),
        ("%", r"\%"),
        ("&", r"\&"),
        ("#", r"\#"),
        ("±", r"$\pm$"),
        ("Δ", r"$\Delta$"),
        ("ρ", r"$\rho$"),
        ("—", "--"),
        ("*", r"$^{*}$"),
        ("[", "{[}"),
        ("]", "{]}"),
    ):
        text = text.replace(a, b)
    return text


def fmt(values) -> str:
    m, h, n = mean_ci(values)
    if n == 0:
        return "—"
    return f"{100 * m:.1f} ({n})" if math.isnan(h) else f"{100 * m:.1f} ± {100 * h:.1f} ({n})"


def fmt_gain(diff: float, half: float, n: int, p_adj: float) -> str:
    if n == 0:
        return "—"
    mark = "*" if p_adj < ALPHA else ""
    return f"{100 * diff:+.1f} ({n})" if math.isnan(half) else f"{100 * diff:+.1f} ± {100 * half:.1f} ({n}){mark}"


def method_order(methods) -> list[str]:
    """random first (the floor), supervised last (the ceiling), the rest alphabetically."""
    rank = {"random": 0, "supervised": 2}
    return sorted(set(methods), key=lambda m: (rank.get(m, 1), m))


def dataset_key(dataset: str) -> tuple:
    return (0 if "ucf" in dataset else 1, dataset)


def dataset_order(datasets) -> list[str]:
    return sorted(set(datasets), key=dataset_key)


def row_label(method: str, weights: str, variant: str = "") -> str:
    """``tcgl``, ``tcgl (untrained)``, ``tcgl (checkpoint)``, with ``[variant]`` where there is one."""
    label = method
    if weights == "untrained" and method != "random":
        label += " (untrained)"
    elif weights == "checkpoint":
        label += " (checkpoint)"
    return label + (f" [{variant}]" if variant else "")


def is_control(weights: str, method: str) -> bool:
    return weights == "untrained" and method != "random"


def table_rows(d: pd.DataFrame) -> list[tuple]:
    """The distinct rows of ``d`` (tuples of ``ROW``): random, then each method followed by its untrained control,
    supervised last."""
    rows = d[ROW].drop_duplicates().itertuples(index=False, name=None)
    return sorted(
        rows,
        key=lambda r: (
            method_order(d.method).index(r[0]),
            r[1] != "pretrained",
            r[1] == "checkpoint",
            r[3],
            r[4],
            r[2],
        ),
    )


def seeds_of(d: pd.DataFrame, row: tuple, **where) -> pd.Series:
    """Values per seed of one row (``ROW`` values) where the other columns equal ``where``."""
    m = pd.Series(True, index=d.index)
    for k, v in zip(ROW, row):
        m &= d[k] == v
    for k, v in where.items():
        m &= d[k] == v
    return d[m].groupby("seed")["value"].mean()


def control_of(d: pd.DataFrame, row: tuple) -> tuple | None:
    """The row a method row is compared with as its control: its own untrained encoder (same method, backbone and
    evaluation transform) where its evaluation pipeline is not random's, random's otherwise. None if absent."""
    method, weights, _, backbone, _ = row
    if method in REFERENCE_METHODS or weights == "untrained":
        return None
    own = d[(d.method == method) & (d.backbone == backbone)]
    transform = own[(own.weights == weights)].eval_transform.iloc[0] if len(own) else "{}"
    if transform not in ("{}", ""):
        cands = own[(own.weights == "untrained") & (own.eval_transform == transform)]
    else:
        cands = d[(d.method == "random") & (d.backbone == backbone) & (d.weights == "untrained")]
    rows = cands[ROW].drop_duplicates()
    return tuple(rows.iloc[0]) if len(rows) == 1 else None


def random_of(d: pd.DataFrame, row: tuple) -> tuple | None:
    if row[0] == "random":
        return None
    cands = d[(d.method == "random") & (d.backbone == row[3]) & (d.weights == "untrained")][ROW].drop_duplicates()
    return tuple(cands.iloc[0]) if len(cands) == 1 else None


def gains(d: pd.DataFrame, rows: list[tuple], datasets: list[str]) -> tuple[dict, int]:
    """Paired gains of every row over its control and over random, per dataset, Holm-corrected together:
    ``{(row, dataset, 'control'|'random'): (diff, half, n, p_adjusted)}`` and the number of tests. A method whose
    control is random has one comparison (counted once in the correction)."""
    tests = {}
    for row in rows:
        ctrl, rnd = control_of(d, row), random_of(d, row)
        for ds in datasets:
            ours = seeds_of(d, row, dataset=ds)
            for kind, base in (("control", ctrl), ("random", rnd)):
                if base is None or ours.empty:
                    continue
                if kind == "random" and base == ctrl:
                    continue  # the same comparison as the control's
                tests[(row, ds, kind)] = paired_test(ours, seeds_of(d, base, dataset=ds))
    keys = list(tests)
    adjusted = holm([tests[k].p for k in keys])
    out = {k: (tests[k].diff, tests[k].half_width, tests[k].n, p) for k, p in zip(keys, adjusted)}
    for (row, ds, kind), v in list(out.items()):
        if kind == "control" and control_of(d, row) == random_of(d, row):
            out[(row, ds, "random")] = v  # the same comparison (the same object), shown in both columns
    return out, len(keys)


def n_marked(g: dict) -> int:
    """How many distinct comparisons of :func:`gains` have a corrected p below ``ALPHA``."""
    return len({id(v) for v in g.values() if v[3] < ALPHA})


def _gain_notes(n_tests: int, marked: int, what: str) -> list[str]:
    return [
        f"{what} Mean ± 95% t-interval half-width over seeds (number of seeds), in %.",
        "Δ control: gain over the method's own untrained encoder through the same evaluation pipeline (its control is "
        "random where that pipeline is random's); Δ random: gain over random init. Both paired by seed.",
        f"* paired t-test, Holm-corrected over the {n_tests} comparisons of this table, p < {ALPHA}: {marked} marked. "
        "An unmarked gain is not distinguishable from zero with that many seeds.",
        "Embedded-* datasets are the synthetic stand-ins, not UCF101/HMDB51; their classes favour temporal-order "
        "pretext tasks and temporal filtering by construction (README.md).",
    ]


def top1_table(df: pd.DataFrame, protocol: str, name: str) -> Table:
    d = df[(df.protocol == protocol) & (df.metric == "top1")]
    datasets = dataset_order(d.dataset)
    cols = ["method", "backbone", "pretrained on"]
    for ds in datasets:
        cols += [f"{ds} top-1 (%)", f"{ds} Δ control", f"{ds} Δ random"]
    rows = table_rows(d)
    g, n_tests = gains(d, rows, datasets)
    out = []
    for row in rows:
        method, weights, variant, backbone, pre = row
        line = [row_label(method, weights, variant), backbone, pre or "—"]
        for ds in datasets:
            line.append(fmt(seeds_of(d, row, dataset=ds).to_numpy()))
            for kind in ("control", "random"):
                v = g.get((row, ds, kind))
                line.append("—" if v is None else fmt_gain(*v))
        out.append(line)
    title = f"{PROTOCOL_NAMES[protocol].capitalize()} top-1 (%)"
    return Table(name, title, cols, out, _gain_notes(n_tests, n_marked(g), title + "."))


def retrieval_table(df: pd.DataFrame) -> Table:
    d = df[df.protocol == "retrieval"]
    cols = ["dataset", "method", "backbone", "pretrained on"] + [f"top-{k} (%)" for k in KS]
    rows = []
    for ds in dataset_order(d.dataset):
        dd = d[d.dataset == ds]
        for row in table_rows(dd):
            rows.append(
                [ds, row_label(row[0], row[1], row[2]), row[3], row[4] or "—"]
                + [fmt(seeds_of(dd, row, metric=f"top{k}").to_numpy()) for k in KS]
            )
    return Table(
        "retrieval",
        "Video retrieval top-k (%), test videos as queries, train as gallery",
        cols,
        rows,
        [
            "Mean ± 95% t-interval half-width over seeds (number of seeds). Gains of top-1 with their tests: "
            "retrieval_top1."
        ],
    )


def _split_convention(r) -> str:
    return str(getattr(r, "split", "1")).strip() or "unstated"


def reported_table(df: pd.DataFrame, reference: pd.DataFrame) -> Table:
    """Published numbers beside ours: split-1 rows (and ``val`` rows, the validation set of Kinetics-400 or SSv2,
    which our records call split 1) beside our split-1 records, mean-of-3-splits rows beside the mean over our splits
    1-3 (only when all three were run), rows of an unstated convention without a difference."""
    cols = [
        "method",
        "backbone",
        "pretrained on",
        "dataset",
        "protocol",
        "metric",
        "split",
        "reported (%)",
        "source",
        "reproduced (%)",
        "difference",
    ]
    rows = []
    for r in reference.itertuples():
        ours = df[
            (df.method == r.method)
            & (df.backbone == r.backbone)
            & (df.dataset == r.dataset)
            & (df.protocol == r.protocol)
            & (df.metric == r.metric)
            & (df.pretrain_data == r.pretrain_data)
            & (df.weights == "pretrained")
            & (df.variant == "")
        ]
        convention = _split_convention(r)
        reported = "" if pd.isna(r.value) else f"{float(r.value):.1f}"
        if convention == "mean3":
            per_split = ours.groupby("split").value.mean()
            if set(per_split.index) >= {1, 2, 3}:
                m = float(per_split.loc[[1, 2, 3]].mean())
                mine = f"{100 * m:.1f} (splits 1-3)"
            else:
                m, mine = None, "needs splits 1-3"
        else:
            seeds = ours[ours.split == 1].groupby("seed").value.mean()
            m = mean_ci(seeds.to_numpy())[0] if len(seeds) else None
            mine = fmt(seeds.to_numpy()) if len(seeds) else "not run"
        diff = "" if (m is None or not reported or convention == "unstated") else f"{100 * m - float(r.value):+.1f}"
        rows.append(
            [
                r.method,
                r.backbone,
                r.pretrain_data,
                r.dataset,
                r.protocol,
                r.metric,
                convention,
                reported or "(empty)",
                r.source,
                mine,
                diff,
            ]
        )
    ran_on = ", ".join(dataset_order(df.dataset)) or "nothing yet"
    return Table(
        "reported_vs_reproduced",
        "Reported vs reproduced",
        cols,
        rows,
        [
            "A reproduced cell comes only from records on the dataset named in its row, under the row's split "
            "convention: split 1 (our split-1 records, mean ± 95% t-interval over seeds), mean3 (the mean over our "
            "splits 1-3), val (a one-split dataset's validation set, Kinetics-400 or SSv2: our split-1 records), "
            "unstated (ours on split 1, shown without a difference). Rows named 'SEVERE protocol' were measured under "
            "that protocol, not the papers'.",
            f"These results hold records on: {ran_on}. Synthetic embedded-* runs are never matched to "
            "UCF101/HMDB51/Kinetics-400/SSv2.",
            "An empty reported cell is a number not confirmed from its source (see results/reference/README.md).",
            "Counts differ from the released retrieval scripts by design: they drop the last incomplete batch of "
            "features (drop_last; at batch 8, UCF101 split 1 loses 1 gallery video and 7 queries), ours counts every "
            "video (protocols/EVALUATION.md).",
        ],
    )


def sensitivity_table(df: pd.DataFrame) -> Table:
    d = df[df.metric == "top1"]
    protocols = [p for p in PROTOCOLS if p in set(d.protocol)]
    cols = ["dataset", "backbone", "row"] + [f"rank {PROTOCOL_NAMES[p]}" for p in protocols]
    rows = []
    notes = [
        "Rank 1 = best mean top-1 over seeds (mean in brackets, %); ties share the average rank. Ranks are of "
        "point estimates: whether two rows differ is in the top-1 tables' paired tests.",
        "Spearman ρ between the protocols' rankings, with a 95% bootstrap interval (seeds resampled, the same "
        "seeds for every row): over the pretext methods alone (no random, supervised or untrained control), "
        "and over every row.",
    ]
    for ds, backbone in sorted(
        set(zip(d.dataset, d.backbone)), key=lambda x: (dataset_order(d.dataset).index(x[0]), x[1])
    ):
        dd = d[(d.dataset == ds) & (d.backbone == backbone) & (d.weights != "checkpoint")].copy()
        dd["row"] = [row_label(m, w, v) for m, w, v in zip(dd.method, dd.weights, dd.variant)]
        means = dd.groupby(["protocol", "row"]).value.mean().unstack("protocol")
        ranks = means.rank(ascending=False, method="average")
        order = [row_label(*r[:3]) for r in table_rows(dd)]
        for label in order:
            rows.append(
                [ds, backbone, label]
                + [
                    "—"
                    if p not in ranks or pd.isna(ranks.at[label, p])
                    else f"{ranks.at[label, p]:g} ({100 * means.at[label, p]:.1f})"
                    for p in protocols
                ]
            )
        per_seed = dd.groupby(["row", "seed", "protocol"]).value.mean().unstack("protocol").reset_index()
        per_seed = per_seed.rename(columns={"row": "method"})
        pretext = dd[~dd.method.isin(REFERENCE_METHODS) & (dd.weights == "pretrained")].row.unique()
        for p, q in itertools.combinations(protocols, 2):
            parts = []
            for which, subset in (("pretext methods", per_seed[per_seed.method.isin(pretext)]), ("all rows", per_seed)):
                rho, lo, hi, n = spearman_bootstrap(subset, p, q)
                parts.append(
                    f"{which} "
                    + ("n/a (fewer than 3)" if math.isnan(rho) else f"{rho:+.2f} [{lo:+.2f}, {hi:+.2f}]")
                    + f" over {n}"
                )
            notes.append(f"{ds} / {backbone}: ρ({PROTOCOL_NAMES[p]}, {PROTOCOL_NAMES[q]}): " + "; ".join(parts))
    return Table(
        "protocol_sensitivity", "Protocol sensitivity: rank of each row under each protocol", cols, rows, notes
    )


def build_tables(df: pd.DataFrame, reference: pd.DataFrame) -> list[Table]:
    return [
        top1_table(df, "finetune", "action_recognition"),
        top1_table(df, "linear", "linear_probe"),
        top1_table(df, "retrieval", "retrieval_top1"),
        retrieval_table(df),
        reported_table(df, reference),
        sensitivity_table(df),
    ]


def write_tables(tables: list[Table], out: Path) -> list[Path]:
    texts = {}
    for t in tables:
        texts[out / f"{t.name}.md"] = t.markdown()
        texts[out / f"{t.name}.tex"] = t.latex()
    out.mkdir(parents=True, exist_ok=True)
    for path, text in texts.items():
        atomic_write(path, lambda f, text=text: f.write(text.encode("utf-8")))
    return list(texts)


def load_reference(path: Path) -> pd.DataFrame:
    ref = pd.read_csv(path, comment="#", dtype={"value": float, "split": str})
    need = {"method", "backbone", "pretrain_data", "dataset", "protocol", "metric", "split", "value", "source"}
    if not need <= set(ref.columns):
        raise ValueError(f"{path}: columns {sorted(need - set(ref.columns))} are missing; expected {sorted(need)}")
    empty_source = ref[ref.source.isna() | (ref.source.astype(str).str.strip() == "")]
    if len(empty_source):
        raise ValueError(f"{path}: rows {list(empty_source.index + 2)} have no source; every reported number cites one")
    bad = ref[~ref.split.isin(["1", "mean3", "val", "unstated"])]
    if len(bad):
        raise ValueError(
            f"{path}: rows {list(bad.index + 2)} have split {sorted(set(bad.split.astype(str)))}; "
            "valid: 1, mean3, val (a one-split dataset's validation set), unstated"
        )
    return ref


def read_results(path) -> pd.DataFrame:
    """results/results.csv as written by results.aggregate (empty labels stay empty strings)."""
    text_cols = ["pretrain_data", "variant", "eval_transform", "weights"]
    return pd.read_csv(path, dtype={c: str for c in text_cols}, keep_default_na=False, na_values={"value": [""]})


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default="results/results.csv")
    ap.add_argument("--reference", default="results/reference/reported.csv")
    ap.add_argument("--out", default="results/tables")
    a = ap.parse_args(argv)
    df = read_results(a.results)
    paths = write_tables(build_tables(df, load_reference(Path(a.reference))), Path(a.out))
    print(f"wrote {len(paths)} table files to {a.out}")


if __name__ == "__main__":
    main()
