"""Paper-style tables from the tidy results alone (no training): Markdown and LaTeX (booktabs).

    python -m results.tables [--results results/results.csv] [--reference results/reference/reported.csv]
                             [--out results/tables]

- action_recognition: fine-tune top-1 per method x backbone x pretraining data, one column per dataset (TCGL format)
- linear_probe: the same with the linear probe
- retrieval: top-1/5/10/20/50 per dataset
- reported_vs_reproduced: published numbers (results/reference/) beside ours on the same dataset, and the difference
- protocol_sensitivity: each method's rank under every protocol, and Spearman's rho between protocols

Every cell is the mean over seeds ± the half-width of the 95% t-interval, with the number of seeds in brackets,
in percent. "Δ random" is the difference to method=random paired by seed (same backbone, dataset and protocol).
Datasets keep their record labels (embedded-ucf101 is never shown as UCF101). All tables are computed before any
file is written, and each file is replaced atomically: a crash never leaves a half-written table.
"""
from __future__ import annotations

import argparse
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from results.atomic import atomic_write
from results.stats import mean_ci, paired_diff, spearman

PROTOCOL_NAMES = {"finetune": "fine-tune", "linear": "linear probe", "retrieval": "retrieval"}
KS = (1, 5, 10, 20, 50)


@dataclass
class Table:
    name: str
    title: str
    columns: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| " + " | ".join(self.columns) + " |",
                 "|" + "|".join("---" for _ in self.columns) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in self.rows]
        if not self.rows:
            lines.append("| " + " | ".join(["(no results)"] + [""] * (len(self.columns) - 1)) + " |")
        return "\n".join(lines + [""] + [f"{n}  " for n in self.notes]) + "\n"

    def latex(self) -> str:
        spec = "l" * 3 + "r" * (len(self.columns) - 3) if len(self.columns) > 3 else "l" * len(self.columns)
        out = [f"% {self.title}", f"\\begin{{tabular}}{{{spec}}}", "\\toprule",
               " & ".join(_tex(c) for c in self.columns) + r" \\", "\\midrule"]
        out += [" & ".join(_tex(c) for c in r) + r" \\" for r in self.rows]
        out += ["\\bottomrule", "\\end{tabular}"]
        out += [f"% {n}" for n in self.notes]
        return "\n".join(out) + "\n"


def _tex(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&"), ("#", r"\#"),
                 ("±", r"$\pm$"), ("Δ", r"$\Delta$"), ("ρ", r"$\rho$"), ("—", "--")):
        text = text.replace(a, b)
    return text


def fmt(values) -> str:
    m, h, n = mean_ci(values)
    if n == 0:
        return "—"
    return f"{100 * m:.1f} ({n})" if math.isnan(h) else f"{100 * m:.1f} ± {100 * h:.1f} ({n})"


def fmt_diff(m: float, h: float, n: int) -> str:
    if n == 0:
        return "—"
    return f"{100 * m:+.1f} ({n})" if math.isnan(h) else f"{100 * m:+.1f} ± {100 * h:.1f} ({n})"


def method_order(methods) -> list[str]:
    """random first (the floor), supervised last (the ceiling), the rest alphabetically."""
    rank = {"random": 0, "supervised": 2}
    return sorted(set(methods), key=lambda m: (rank.get(m, 1), m))


def dataset_order(datasets) -> list[str]:
    return sorted(set(datasets), key=lambda d: (0 if "ucf" in d else 1, d))


def _seeds(df: pd.DataFrame, **where) -> pd.Series:
    m = pd.Series(True, index=df.index)
    for k, v in where.items():
        m &= df[k] == v
    return df[m].groupby("seed")["value"].mean()


def top1_table(df: pd.DataFrame, protocol: str, name: str) -> Table:
    d = df[(df.protocol == protocol) & (df.metric == "top1")]
    datasets = dataset_order(d.dataset)
    cols = ["method", "backbone", "pretrained on"]
    for ds in datasets:
        cols += [f"{ds} top-1 (%)", f"{ds} Δ random"]
    rows = []
    groups = d.groupby(["method", "backbone", "pretrain_data"])
    for method in method_order(d.method):
        for (m, backbone, pre), _ in groups:
            if m != method:
                continue
            row = [method, backbone, pre or "—"]
            for ds in datasets:
                ours = _seeds(d, method=method, backbone=backbone, pretrain_data=pre, dataset=ds)
                base = _seeds(d, method="random", backbone=backbone, dataset=ds)
                row.append(fmt(ours.to_numpy()))
                row.append("—" if method == "random" or base.empty else fmt_diff(*paired_diff(ours, base)))
            rows.append(row)
    return Table(name, f"{PROTOCOL_NAMES[protocol].capitalize()} top-1 (%)", cols, rows, [
        "Mean ± 95% t-interval half-width over seeds (number of seeds); Δ random: paired by seed.",
        "Embedded-* datasets are the synthetic stand-ins, not UCF101/HMDB51."])


def retrieval_table(df: pd.DataFrame) -> Table:
    d = df[df.protocol == "retrieval"]
    cols = ["dataset", "method", "backbone", "pretrained on"] + [f"top-{k} (%)" for k in KS]
    rows = []
    for ds in dataset_order(d.dataset):
        dd = d[d.dataset == ds]
        for method in method_order(dd.method):
            for (backbone, pre), g in dd[dd.method == method].groupby(["backbone", "pretrain_data"]):
                rows.append([ds, method, backbone, pre or "—"]
                            + [fmt(g[g.metric == f"top{k}"].groupby("seed").value.mean().to_numpy()) for k in KS])
    return Table("retrieval", "Video retrieval top-k (%), test videos as queries, train as gallery", cols, rows,
                 ["Mean ± 95% t-interval half-width over seeds (number of seeds)."])


def reported_table(df: pd.DataFrame, reference: pd.DataFrame) -> Table:
    cols = ["method", "backbone", "pretrained on", "dataset", "protocol", "metric", "reported (%)", "source",
            "reproduced (%)", "difference"]
    rows = []
    for r in reference.itertuples():
        ours = df[(df.method == r.method) & (df.backbone == r.backbone) & (df.dataset == r.dataset)
                  & (df.protocol == r.protocol) & (df.metric == r.metric) & (df.pretrain_data == r.pretrain_data)]
        seeds = ours.groupby("seed").value.mean()
        reported = "" if pd.isna(r.value) else f"{float(r.value):.1f}"
        if seeds.empty:
            mine, diff = "not run", ""
        else:
            m, _, _ = mean_ci(seeds.to_numpy())
            mine = fmt(seeds.to_numpy())
            diff = "" if not reported else f"{100 * m - float(r.value):+.1f}"
        rows.append([r.method, r.backbone, r.pretrain_data, r.dataset, r.protocol, r.metric, reported or "(empty)",
                     r.source, mine, diff])
    ran_on = ", ".join(dataset_order(df.dataset)) or "nothing yet"
    return Table("reported_vs_reproduced", "Reported vs reproduced", cols, rows, [
        "A reproduced cell comes only from records on the dataset named in its row.",
        f"These results hold records on: {ran_on}. Synthetic embedded-* runs are never matched to UCF101/HMDB51.",
        "An empty reported cell is a number not confirmed from its source (see results/reference/README.md)."])


def sensitivity_table(df: pd.DataFrame) -> Table:
    d = df[df.metric == "top1"]
    protocols = [p for p in ("linear", "finetune", "retrieval") if p in set(d.protocol)]
    cols = ["dataset", "backbone", "method"] + [f"rank {PROTOCOL_NAMES[p]}" for p in protocols]
    rows, notes = [], ["Rank 1 = best mean top-1 over seeds (mean in brackets, %); ties share the average rank."]
    for ds, backbone in sorted(set(zip(d.dataset, d.backbone)), key=lambda x: (dataset_order(d.dataset).index(x[0]),
                                                                                x[1])):
        dd = d[(d.dataset == ds) & (d.backbone == backbone)]
        means = dd.groupby(["protocol", "method"]).value.mean().unstack("protocol")
        ranks = means.rank(ascending=False, method="average")
        for method in method_order(means.index):
            rows.append([ds, backbone, method] + [
                "—" if pd.isna(ranks.at[method, p]) else f"{ranks.at[method, p]:g} ({100 * means.at[method, p]:.1f})"
                for p in protocols])
        for p, q in itertools.combinations(protocols, 2):
            both = means[[p, q]].dropna()
            rho = spearman(both[p], both[q])
            notes.append(f"{ds} / {backbone}: Spearman ρ({PROTOCOL_NAMES[p]}, {PROTOCOL_NAMES[q]}) = "
                         + ("n/a (fewer than 3 methods)" if math.isnan(rho) else f"{rho:+.2f}")
                         + f" over {len(both)} methods")
    return Table("protocol_sensitivity", "Protocol sensitivity: rank of each method under each protocol", cols, rows,
                 notes)


def build_tables(df: pd.DataFrame, reference: pd.DataFrame) -> list[Table]:
    return [top1_table(df, "finetune", "action_recognition"), top1_table(df, "linear", "linear_probe"),
            retrieval_table(df), reported_table(df, reference), sensitivity_table(df)]


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
    ref = pd.read_csv(path, comment="#", dtype={"value": float})
    need = {"method", "backbone", "pretrain_data", "dataset", "protocol", "metric", "value", "source"}
    if not need <= set(ref.columns):
        raise ValueError(f"{path}: columns {sorted(need - set(ref.columns))} are missing; expected {sorted(need)}")
    empty_source = ref[ref.source.isna() | (ref.source.astype(str).str.strip() == "")]
    if len(empty_source):
        raise ValueError(f"{path}: rows {list(empty_source.index + 2)} have no source; every reported number cites one")
    return ref


def read_results(path) -> pd.DataFrame:
    """results/results.csv as written by results.aggregate (an empty pretrain_data stays an empty string)."""
    return pd.read_csv(path, dtype={"pretrain_data": str}, keep_default_na=False, na_values={"value": [""]})


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
