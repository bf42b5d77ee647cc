"""Seaborn figures from the tidy results and the pretraining logs, as PNG and SVG under results/plots/.

    python -m results.plots [--results results/results.csv] [--curves results/pretrain_curves.csv] [--out results/plots]

- top1_<protocol>: top-1 per method, one bar per dataset, with 95% t-interval error bars over seeds
- retrieval_topk: top-k accuracy against k per method, one panel per dataset, with 95% bands
- pretraining: training loss and validation pretext accuracy against epoch per method (mean over seeds, 95% band)
- rank_flip: each method's rank under each protocol, one panel per dataset

Intervals are the same t-intervals as the tables. Every file is always written (a figure without data says so), each
atomically, so `dvc plots show` and readers never see a half-written image.
"""
from __future__ import annotations

import argparse
import io
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.ticker  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from results.atomic import atomic_write  # noqa: E402
from results.stats import mean_ci  # noqa: E402
from results.tables import KS, PROTOCOL_NAMES, dataset_order, method_order, read_results  # noqa: E402

PROTOCOLS = ("linear", "finetune", "retrieval")
PLOTS = tuple(f"top1_{p}" for p in PROTOCOLS) + ("retrieval_topk", "pretraining", "rank_flip")


def _summary(values: pd.Series, scale: float = 100.0) -> tuple[float, float]:
    """Mean and 95% t half-width (0 for a single seed), times ``scale`` (percent by default)."""
    m, h, _ = mean_ci(values.to_numpy())
    return scale * m, (0.0 if math.isnan(h) else scale * h)


def _no_data(ax, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} results yet", ha="center", va="center", transform=ax.transAxes, fontsize=12)
    ax.set_xticks([])
    ax.set_yticks([])


def _palette(methods) -> dict:
    return dict(zip(methods, sns.color_palette("colorblind", max(len(methods), 1))))


def bar_top1(df: pd.DataFrame, protocol: str):
    d = df[(df.protocol == protocol) & (df.metric == "top1")]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    if d.empty:
        _no_data(ax, PROTOCOL_NAMES[protocol])
        return fig
    methods, datasets = method_order(d.method), dataset_order(d.dataset)
    width = 0.8 / len(datasets)
    colours = sns.color_palette("deep", len(datasets))
    for j, ds in enumerate(datasets):
        stats = [(_summary(d[(d.method == m) & (d.dataset == ds)].groupby("seed").value.mean())
                  if ((d.method == m) & (d.dataset == ds)).any() else (np.nan, 0.0)) for m in methods]
        x = np.arange(len(methods)) + (j - (len(datasets) - 1) / 2) * width
        ax.bar(x, [s[0] for s in stats], width, yerr=[s[1] for s in stats], capsize=3, label=ds, color=colours[j])
    n_seeds = d.groupby(["method", "dataset"]).seed.nunique()
    ax.set_xticks(np.arange(len(methods)), methods)
    ax.set_xlabel("method")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title(f"{PROTOCOL_NAMES[protocol].capitalize()}: top-1, mean ± 95% CI over "
                 f"{n_seeds.min()}–{n_seeds.max()} seeds" if n_seeds.min() != n_seeds.max()
                 else f"{PROTOCOL_NAMES[protocol].capitalize()}: top-1, mean ± 95% CI over {n_seeds.min()} seeds")
    ax.legend(title="dataset")
    return fig


def _dataset_panels(d: pd.DataFrame, what: str):
    """One panel per dataset of ``d``; (figure, [(axis, dataset)], method colours), or no panels without data."""
    datasets = dataset_order(d.dataset) or ["(none)"]
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 4.5), squeeze=False)
    if d.empty:
        _no_data(axes[0, 0], what)
        return fig, [], {}
    return fig, list(zip(axes[0], datasets)), _palette(method_order(d.method))


def retrieval_topk(df: pd.DataFrame):
    d = df[df.protocol == "retrieval"]
    fig, panels, colours = _dataset_panels(d, "retrieval")
    for ax, ds in panels:
        dd = d[d.dataset == ds]
        for m in method_order(dd.method):
            pts = [(k, *_summary(dd[(dd.method == m) & (dd.metric == f"top{k}")].groupby("seed").value.mean()))
                   for k in KS if ((dd.method == m) & (dd.metric == f"top{k}")).any()]
            if not pts:
                continue
            k, mean, half = map(np.array, zip(*pts))
            ax.plot(k, mean, marker="o", label=m, color=colours[m])
            ax.fill_between(k, mean - half, mean + half, alpha=0.15, color=colours[m])
        ax.set_xscale("log")
        ax.set_xticks(list(KS), [str(k) for k in KS])
        ax.set_xlabel("k (nearest training videos)")
        ax.set_ylabel("top-k accuracy (%)")
        ax.set_title(f"Retrieval on {ds}")
        ax.legend(title="method", fontsize=9)
    return fig


def pretraining(curves: pd.DataFrame):
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    if curves.empty:
        for ax in axes:
            _no_data(ax, "pretraining")
        return fig
    colours = _palette(method_order(curves.method))
    panels = ((axes[0], "train_loss", "training loss", 1.0), (axes[1], "val_acc", "validation pretext acc. (%)", 100.0))
    for ax, col, label, scale in panels:
        for m in method_order(curves.method):
            g = curves[curves.method == m].groupby("epoch")[col]
            stats = g.apply(lambda s: pd.Series(_summary(s, scale), index=["mean", "half"])).unstack()
            epochs = stats.index.to_numpy() + 1
            ax.plot(epochs, stats["mean"], marker=".", label=m, color=colours[m])
            ax.fill_between(epochs, stats["mean"] - stats["half"], stats["mean"] + stats["half"], alpha=0.15,
                            color=colours[m])
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_ylabel(label)
    axes[0].set_yscale("log")
    axes[0].set_title("Pretraining loss (each method's own loss)")
    axes[1].set_title("Pretext accuracy on held-out training videos")
    axes[1].legend(title="method", fontsize=9)
    return fig


def rank_flip(df: pd.DataFrame):
    d = df[df.metric == "top1"]
    fig, panels, colours = _dataset_panels(d, "top-1")
    for ax, ds in panels:
        means = d[d.dataset == ds].groupby(["protocol", "method"]).value.mean().unstack("protocol")
        protocols = [p for p in PROTOCOLS if p in means.columns]
        ranks = means[protocols].rank(ascending=False, method="average")
        for m in method_order(ranks.index):
            ax.plot(range(len(protocols)), ranks.loc[m], marker="o", label=m, color=colours[m], lw=2)
        ax.set_xticks(range(len(protocols)), [PROTOCOL_NAMES[p] for p in protocols])
        ax.set_yticks(range(1, len(ranks) + 1))
        ax.invert_yaxis()
        ax.set_xlabel("protocol")
        ax.set_ylabel("rank by mean top-1 (1 = best)")
        ax.set_title(f"Rank flips across protocols, {ds}")
        ax.legend(title="method", fontsize=9, loc="center left", bbox_to_anchor=(1, 0.5))
    return fig


def render_all(df: pd.DataFrame, curves: pd.DataFrame) -> dict[str, "plt.Figure"]:
    sns.set_theme(context="notebook", style="whitegrid", font_scale=1.05)
    figs = {f"top1_{p}": bar_top1(df, p) for p in PROTOCOLS}
    figs["retrieval_topk"] = retrieval_topk(df)
    figs["pretraining"] = pretraining(curves)
    figs["rank_flip"] = rank_flip(df)
    return figs


def save_all(figs: dict, out: Path) -> list[Path]:
    plt.rcParams["svg.hashsalt"] = "vssl-bench"  # stable SVG ids: a rerun on the same data gives the same file
    blobs = {}
    for name, fig in figs.items():
        fig.tight_layout()
        for ext, meta in (("png", {"Software": None}), ("svg", {"Date": None, "Creator": None})):
            buf = io.BytesIO()
            fig.savefig(buf, format=ext, dpi=150, metadata=meta)
            blobs[out / f"{name}.{ext}"] = buf.getvalue()
        plt.close(fig)
    out.mkdir(parents=True, exist_ok=True)
    for path, blob in blobs.items():
        atomic_write(path, lambda f, blob=blob: f.write(blob))
    return list(blobs)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default="results/results.csv")
    ap.add_argument("--curves", default="results/pretrain_curves.csv")
    ap.add_argument("--out", default="results/plots")
    a = ap.parse_args(argv)
    df = read_results(a.results)
    curves = pd.read_csv(a.curves)
    paths = save_all(render_all(df, curves), Path(a.out))
    print(f"wrote {len(paths)} plot files to {a.out}")


if __name__ == "__main__":
    main()
