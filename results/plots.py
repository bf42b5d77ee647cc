"""Seaborn figures from the tidy results and the pretraining logs, as PNG and SVG under results/plots/.

    python -m results.plots [--results results/results.csv] [--curves results/pretrain_curves.csv] [--out results/plots]

- top1_<protocol>: top-1 of every row (a method, its untrained control, a variant, ``random``, ``supervised``), one
  panel per dataset, one bar per row (``sns.barplot``), with 95% t-interval error bars over seeds
- retrieval_topk: top-k accuracy against k per row (``sns.lineplot``), one panel per dataset, with 95% t-interval
  bands
- pretraining: training loss and validation pretext accuracy against epoch per method (``sns.lineplot``, mean over
  seeds, 95% band), with each method's chance accuracy as a dotted line in its colour
- rank_flip: each row's rank by mean top-1 under each protocol (``sns.pointplot``, rows dodged apart), one panel per
  dataset (and backbone), with a 95% bootstrap interval of the rank over seeds as error bars

Seaborn draws the bars, lines and points from long-format frames of statistics computed here (one line per drawn
point: ``top1_stats``, ``topk_stats``, ``curve_stats``, ``rank_bootstrap``), with its own estimation switched off
(``errorbar=None``); the error bars and bands are drawn from the same frames with matplotlib, so every interval shown
is the one described below, not seaborn's bootstrap. Hatches, reference (chance) lines and the rank intervals' error
bars are matplotlib, which seaborn has no parameter for.

Colours: a method has one colour in every figure: the fixed ``METHOD_COLOURS`` (seaborn "colorblind") for the known
methods, and for any other name a colour picked by a stable hash (sha256) of the name from a 24-colour "husl" palette.
A method's untrained control has the method's colour with a ``//`` hatch (bars) or a dashed line, a checkpoint row a
``..`` hatch or a dash-dot line; the variants of a method keep its colour and differ by an extra hatch (bars) and the
marker (lines). Row labels are ``results.tables.row_label`` (``tcgl (untrained)``, ``tcgl [variant]``).

Intervals: the mean over seeds ± the same 95% t-interval as the tables, clipped to [0, 100] % (an accuracy cannot
leave it; with 2-3 seeds the t-interval often does), and each such figure says so in its title, which also states the
number of seeds per row ("3 seeds", or "2-3 seeds" when rows differ). The rank interval is the 2.5-97.5 percentile of
the ranks over ``N_BOOT`` resamples of the seed list (with replacement, the same seeds for every row and protocol of a
panel, fixed RNG seed, so the figure is deterministic).

Every file is always written (a figure without data says so), each atomically, so `dvc plots show` and readers never
see a half-written image; the bytes are the same on a rerun with the same data.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import math
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd
import seaborn as sns

from results.atomic import atomic_write
from results.stats import mean_ci
from results.tables import (
    KS,
    PROTOCOL_NAMES,
    PROTOCOLS,
    ROW,
    dataset_order,
    method_order,
    read_results,
    row_label,
    seeds_of,
    table_rows,
)

PLOTS = tuple(f"top1_{p}" for p in PROTOCOLS) + ("retrieval_topk", "pretraining", "rank_flip")
CLIP_NOTE = "95% t-interval over seeds, clipped to [0, 100] %"
N_BOOT = 2000
BOOT_SEED = 0
_CB = sns.color_palette("colorblind", 10)
METHOD_COLOURS = {
    "tcgl": _CB[0],
    "vcop": _CB[1],
    "sorder": _CB[2],
    "opn": _CB[3],
    "speednet": _CB[4],
    "supervised": _CB[5],
    "random": _CB[7],
}
OTHER_COLOURS = sns.color_palette("husl", 24)
WEIGHT_HATCHES = {"pretrained": "", "untrained": "//", "checkpoint": ".."}
WEIGHT_LINESTYLES = {"pretrained": "-", "untrained": "--", "checkpoint": "-."}
VARIANT_HATCHES = ("", "\\\\", "xx", "++", "oo", "**", "--")
VARIANT_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


# ---- colours and styles --------------------------------------------------------------------------------------------


def method_colour(method: str) -> tuple:
    """The method's colour in every figure: fixed for the known methods, a stable hash of the name otherwise."""
    if method in METHOD_COLOURS:
        return tuple(METHOD_COLOURS[method])
    digest = int(hashlib.sha256(method.encode("utf-8")).hexdigest(), 16)
    return tuple(OTHER_COLOURS[digest % len(OTHER_COLOURS)])


@dataclass(frozen=True)
class Style:
    colour: tuple
    hatch: str
    linestyle: str
    marker: str


def row_style(method: str, weights: str, variant_index: int = 0) -> Style:
    """Colour of the method; hatch / line style of the weights (``random`` is its own method, drawn plain); hatch
    suffix and marker of the variant (0 = no variant)."""
    control = weights == "untrained" and method != "random"
    kind = weights if (control or weights == "checkpoint") else "pretrained"
    return Style(
        method_colour(method),
        WEIGHT_HATCHES[kind] + VARIANT_HATCHES[variant_index % len(VARIANT_HATCHES)],
        WEIGHT_LINESTYLES[kind],
        VARIANT_MARKERS[variant_index % len(VARIANT_MARKERS)],
    )


def variant_indices(df: pd.DataFrame) -> dict[tuple[str, str], int]:
    """``{(method, variant): index}``: 0 for no variant, 1, 2, ... for a method's variants in sorted order."""
    out = {}
    if df.empty or "variant" not in df:
        return out
    for method, g in df.groupby("method"):
        for i, v in enumerate(sorted(set(g.variant) - {""})):
            out[(method, v)] = i + 1
    return out


def _style_of(row: tuple, variants: dict) -> Style:
    return row_style(row[0], row[1], variants.get((row[0], row[2]), 0))


def _row_labels(rows: list[tuple]) -> dict[tuple, str]:
    """Display label of each ``ROW`` tuple; backbone and pretraining data added where a label would repeat."""
    base = {r: row_label(r[0], r[1], r[2]) for r in rows}
    counts = pd.Series(list(base.values())).value_counts()
    return {r: (b if counts[b] == 1 else f"{b} ({r[3]}{', ' + r[4] if r[4] else ''})") for r, b in base.items()}


# ---- numbers and text ----------------------------------------------------------------------------------------------


def clipped_interval(values, scale: float = 100.0) -> tuple[float, float, float]:
    """Mean and 95% t-interval of fractions, clipped to [0, 1], times ``scale`` (percent): (mean, lo, hi).
    A single seed has no interval (lo = hi = mean)."""
    m, h, _ = mean_ci(np.asarray(values, dtype=float))
    h = 0.0 if math.isnan(h) else h
    return scale * m, scale * max(0.0, m - h), scale * min(1.0, m + h)


def seeds_text(counts) -> str:
    """``3 seeds``, ``1 seed``, or ``2-3 seeds`` when the rows differ."""
    counts = sorted(set(int(c) for c in counts)) or [0]
    lo, hi = counts[0], counts[-1]
    return f"{lo} seed{'' if lo == 1 else 's'}" if lo == hi else f"{lo}-{hi} seeds"


def _title(fig, what: str, counts, note: str = CLIP_NOTE, per: str = "row") -> None:
    fig.suptitle(f"{what}\nmean over {seeds_text(counts)} per {per}\n{note}", fontsize=11)


def _no_data(fig, ax, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} results yet", ha="center", va="center", transform=ax.transAxes, fontsize=12)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.suptitle(f"{what}: no results yet (0 seeds)", fontsize=11)


def _percent_axis(ax) -> None:
    lo, hi = ax.get_ylim()
    ax.set_ylim(max(lo, -1.0), min(hi, 101.0))


def _panels(keys: list, width: float = 5.5, sharey: bool = False):
    fig, axes = plt.subplots(
        1, max(len(keys), 1), figsize=(width * max(len(keys), 1), 4.8), squeeze=False, sharey=sharey
    )
    return fig, list(axes[0])


def _legend(ax, handles: dict, title: str = "row", **kw) -> None:
    ax.legend(list(handles.values()), list(handles), title=title, fontsize=8, title_fontsize=9, **kw)


# ---- long-format statistics ---------------------------------------------------------------------------------------
# Every interval drawn comes from these frames: the mean over seeds and the clipped 95% t-interval of results.stats
# (the numbers of the tables), one line per drawn point. Seaborn draws the points, bars and lines from them with its
# own aggregation switched off (``errorbar=None``; one row per point, so its estimator sees a single value), because
# its intervals would be its own bootstrap or normal intervals, neither clipped to [0, 100] % nor the tables' t.
# The intervals are then added with matplotlib (``ax.errorbar`` / ``ax.fill_between``) from ``lo`` and ``hi``.

STAT_COLUMNS = ["mean", "lo", "hi", "seeds"]


def top1_stats(d: pd.DataFrame, rows: list, labels: dict) -> pd.DataFrame:
    """One line per (dataset, row) with seeds in ``d``: ``dataset``, ``row`` (its label), mean, lo, hi (percent,
    clipped) and seeds."""
    out = []
    for ds in dataset_order(d.dataset):
        dd = d[d.dataset == ds]
        for row in rows:
            s = seeds_of(dd, row)
            if not s.empty:
                out.append((ds, labels[row], *clipped_interval(s), len(s)))
    return pd.DataFrame(out, columns=["dataset", "row"] + STAT_COLUMNS)


def topk_stats(dd: pd.DataFrame, rows: list, labels: dict) -> pd.DataFrame:
    """One line per (row, k) of one dataset's retrieval results: ``row``, ``k``, mean, lo, hi, seeds."""
    out = [
        (labels[row], k, *clipped_interval(s), len(s))
        for row in rows
        for k in KS
        if not (s := seeds_of(dd, row, metric=f"top{k}")).empty
    ]
    return pd.DataFrame(out, columns=["row", "k"] + STAT_COLUMNS)


def curve_stats(g: pd.DataFrame, col: str, scale: float, clip: bool) -> pd.DataFrame:
    """Per epoch of one curve: ``epoch`` (1-based), mean, lo, hi (times ``scale``; the interval clipped to [0, 1]
    first when ``clip``) and seeds, of ``col`` over seeds."""
    out = []
    for epoch, s in g.groupby("epoch")[col]:
        s = s.dropna()
        if s.empty:
            continue
        m, h, _ = mean_ci(s.to_numpy(dtype=float))
        h = 0.0 if math.isnan(h) else h
        lo, hi = (max(0.0, m - h), min(1.0, m + h)) if clip else (m - h, m + h)
        out.append((epoch + 1, scale * m, scale * lo, scale * hi, len(s)))
    return pd.DataFrame(out, columns=["epoch"] + STAT_COLUMNS)


def _dashes(linestyle: str):
    """seaborn's ``dashes`` for a matplotlib line style: ``""`` (solid) or the rc pattern matplotlib uses for it,
    so a dashed line is drawn exactly as ``linestyle="--"``."""
    if linestyle == "-":
        return ""
    return tuple(
        plt.rcParams[
            {"--": "lines.dashed_pattern", "-.": "lines.dashdot_pattern", ":": "lines.dotted_pattern"}[linestyle]
        ]
    )


def _line_semantics(styles: dict[str, Style]) -> dict:
    """``hue``/``style`` keyword arguments of seaborn's line functions for rows labelled as ``styles``' keys."""
    order = list(styles)
    return {
        "hue": "row",
        "style": "row",
        "hue_order": order,
        "style_order": order,
        "palette": {k: st.colour for k, st in styles.items()},
        "dashes": {k: _dashes(st.linestyle) for k, st in styles.items()},
        "markers": {k: st.marker for k, st in styles.items()},
    }


def _bands(ax, stats: pd.DataFrame, x: str, styles: dict[str, Style]) -> None:
    """The precomputed interval of each row as a band in its colour (seaborn's own bands are its bootstrap)."""
    for label, st in styles.items():
        g = stats[stats.row == label]
        if len(g):
            ax.fill_between(g[x].to_numpy(), g.lo.to_numpy(), g.hi.to_numpy(), alpha=0.15, color=st.colour, linewidth=0)


# ---- top-1 bars ----------------------------------------------------------------------------------------------------


def _bar_panel(ax, stats: pd.DataFrame, order: list[str], styles: dict[str, Style], handles: dict) -> list[int]:
    """One bar per row (``order``, a slot left empty for a row without results here) of one dataset, drawn by
    ``sns.barplot`` from the precomputed means, with the precomputed intervals as error bars; returns the seed count
    of each drawn bar."""
    first = len(ax.containers)
    sns.barplot(
        data=stats,
        x="row",
        y="mean",
        hue="row",
        order=order,
        hue_order=order,
        palette={k: st.colour for k, st in styles.items()},
        saturation=1,
        errorbar=None,
        width=0.8,
        edgecolor="white",
        legend=False,
        ax=ax,
    )  # saturation=1: the method's colour, not a desaturated one
    # seaborn maps colours, not hatches: hatch each bar by its row, found from the bar's slot on the x axis
    for container in ax.containers[first:]:
        for patch in container.patches:
            label = order[round(patch.get_x() + patch.get_width() / 2)]
            patch.set_hatch(styles[label].hatch)
            container.set_label(label)
            handles.setdefault(label, container)
    x = [order.index(r) for r in stats.row]
    ax.errorbar(
        x,
        stats["mean"],
        yerr=[stats["mean"] - stats.lo, stats.hi - stats["mean"]],
        fmt="none",
        color="0.2",
        elinewidth=1.2,
        capsize=3,
        label="_nolegend_",
    )
    ax.set_xticks(range(len(order)), order, rotation=35, ha="right", fontsize=8)
    ax.set_xlabel("")
    ax.set_ylabel("top-1 accuracy (%)")
    return list(stats.seeds)


def bar_top1(df: pd.DataFrame, protocol: str, variants: dict | None = None):
    d = df[(df.protocol == protocol) & (df.metric == "top1")]
    datasets = dataset_order(d.dataset)
    fig, axes = _panels(datasets, width=max(5.0, 0.45 * len(table_rows(d)) + 2.0), sharey=True)
    what = f"{PROTOCOL_NAMES[protocol].capitalize()}: top-1"
    if d.empty:
        _no_data(fig, axes[0], what)
        return fig
    variants = variant_indices(df) if variants is None else variants
    rows = table_rows(d)
    labels = _row_labels(rows)
    styles = {labels[r]: _style_of(r, variants) for r in rows}
    stats = top1_stats(d, rows, labels)
    handles, counts = {}, []
    for ax, ds in zip(axes, datasets):
        counts += _bar_panel(ax, stats[stats.dataset == ds], list(styles), styles, handles)
        ax.set_title(ds)
        _percent_axis(ax)
    _legend(
        axes[0],
        {k: handles[k] for k in styles if k in handles},
        ncol=min(len(handles), 3),
        loc="lower left",
        bbox_to_anchor=(0.0, 1.08),
    )
    _title(fig, what, counts)
    return fig


# ---- retrieval top-k -----------------------------------------------------------------------------------------------


def retrieval_topk(df: pd.DataFrame, variants: dict | None = None):
    d = df[df.protocol == "retrieval"]
    datasets = dataset_order(d.dataset)
    fig, axes = _panels(datasets)
    if d.empty:
        _no_data(fig, axes[0], "Retrieval top-k")
        return fig
    variants = variant_indices(df) if variants is None else variants
    counts = []
    for ax, ds in zip(axes, datasets):
        dd = d[d.dataset == ds]
        rows = table_rows(dd)
        labels = _row_labels(rows)
        stats = topk_stats(dd, rows, labels)
        styles = {labels[r]: _style_of(r, variants) for r in rows if labels[r] in set(stats.row)}
        counts += list(stats.seeds)
        # one row per (row, k): estimator=None draws the precomputed means as they are
        sns.lineplot(data=stats, x="k", y="mean", estimator=None, errorbar=None, ax=ax, **_line_semantics(styles))
        _bands(ax, stats, "k", styles)
        ax.set_xscale("log")
        ax.set_xticks(list(KS), [str(k) for k in KS])
        ax.set_xlabel("k (nearest training videos)")
        ax.set_ylabel("top-k accuracy (%)")
        ax.set_title(f"Retrieval on {ds}")
        _percent_axis(ax)
        sns.move_legend(ax, "best", title="row", fontsize=8, title_fontsize=9)
    _title(fig, "Retrieval top-k accuracy", counts)
    return fig


# ---- pretraining curves --------------------------------------------------------------------------------------------


def _curve_groups(curves: pd.DataFrame, df: pd.DataFrame) -> list[tuple[str, str, str, str, int]]:
    """(method, backbone, variant_hash, label, variant index) per curve, in method order; labels are distinct."""
    named = {}
    if not df.empty and {"variant_hash", "variant"} <= set(df.columns):
        named = {(m, h): v for m, h, v in zip(df.method, df.variant_hash, df.variant)}
    variants = variant_indices(df)
    keys = curves[["method", "backbone", "variant_hash"]].drop_duplicates()
    out = []
    for m in method_order(keys.method):
        km = keys[keys.method == m].sort_values(["backbone", "variant_hash"])
        for i, (b, h) in enumerate(zip(km.backbone, km.variant_hash)):
            v = named.get((m, h), "" if len(km.variant_hash.unique()) == 1 else str(h)[:8])
            label = row_label(m, "pretrained", v) + (f" ({b})" if km.backbone.nunique() > 1 else "")
            out.append((m, b, h, label, variants.get((m, v), 0 if (m, h) in named else i)))
    # a label is a seaborn hue level: two curves under one label would be drawn as one line
    repeated = pd.Series([o[3] for o in out]).value_counts()
    return [(m, b, h, f"{label} #{str(h)[:8]}" if repeated[label] > 1 else label, vi) for m, b, h, label, vi in out]


def _chance_lines(ax, curves: pd.DataFrame) -> list:
    """A dotted line at each method's pretext chance accuracy, in the method's colour (a reference line, not a
    statistic: matplotlib's axhline, seaborn has no Axes-level equivalent)."""
    lines = []
    for m in method_order(curves.method):
        for c in sorted(set(curves[curves.method == m].chance.dropna())):
            lines.append(
                ax.axhline(100 * c, color=method_colour(m), linestyle=":", lw=1.5, label=f"{m} chance ({100 * c:.1f}%)")
            )
    return lines


def _normalise_curves(curves: pd.DataFrame) -> pd.DataFrame:
    c = curves.copy()
    for col, default in (
        ("variant_hash", ""),
        ("chance", np.nan),
        ("backbone", ""),
        ("train_loss", np.nan),
        ("val_acc", np.nan),
    ):
        if col not in c:
            c[col] = default
    c["variant_hash"] = c.variant_hash.fillna("").astype(str)
    return c


def pretraining(curves: pd.DataFrame, df: pd.DataFrame | None = None):
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    curves = _normalise_curves(curves)
    if curves.empty:
        for ax in axes:
            _no_data(fig, ax, "pretraining")
        return fig
    df = pd.DataFrame(columns=ROW) if df is None else df
    panels = (
        (axes[0], "train_loss", "training loss", 1.0, False),
        (axes[1], "val_acc", "validation pretext acc. (%)", 100.0, True),
    )
    groups = _curve_groups(curves, df)
    counts, styles, parts = [], {}, {col: [] for _, col, _, _, _ in panels}
    for m, b, h, label, vi in groups:
        g = curves[(curves.method == m) & (curves.backbone == b) & (curves.variant_hash == h)]
        styles[label] = row_style(m, "pretrained", vi)
        counts.append(g.seed.nunique())
        for _, col, _, scale, clip in panels:
            parts[col].append(curve_stats(g, col, scale, clip).assign(row=label))
    for ax, col, ylabel, _, _ in panels:
        stats = pd.concat(parts[col], ignore_index=True)
        drawn = {k: st for k, st in styles.items() if k in set(stats.row)}
        if drawn:
            # one row per (curve, epoch): estimator=None draws the precomputed means as they are
            sns.lineplot(
                data=stats,
                x="epoch",
                y="mean",
                estimator=None,
                errorbar=None,
                markersize=4,
                legend=ax is axes[1],
                ax=ax,
                **_line_semantics(drawn),
            )
            _bands(ax, stats, "epoch", drawn)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_ylabel(ylabel)
    chance = _chance_lines(axes[1], curves)
    if (curves.train_loss.dropna() > 0).all() and curves.train_loss.notna().any():
        axes[0].set_yscale("log")
    _percent_axis(axes[1])
    axes[0].set_title("Pretraining loss (each method's own loss)", fontsize=10)
    axes[1].set_title(
        "Pretext accuracy on held-out training videos\n(dotted: the method's chance accuracy)", fontsize=10
    )
    # seaborn's legend of the curves, with the chance lines added below them
    old = axes[1].get_legend()
    handles = list(old.legend_handles) if old else []
    names = [t.get_text() for t in old.texts] if old else []
    axes[1].legend(
        handles + chance,
        names + [c.get_label() for c in chance],
        title="method",
        fontsize=8,
        title_fontsize=9,
        loc="center left",
        bbox_to_anchor=(1, 0.5),
    )
    _title(fig, "Pretraining", counts, note=f"bands: {CLIP_NOTE} (accuracy), unclipped (loss)", per="curve")
    return fig


# ---- rank flips ----------------------------------------------------------------------------------------------------


def average_ranks(means: np.ndarray) -> np.ndarray:
    """Rank 1 = largest along the last axis, ties share the average rank (as ``pandas.rank(ascending=False)``);
    NaN entries get NaN and are not counted."""
    a, b = means[..., None, :], means[..., :, None]
    ranks = 1.0 + (a > b).sum(-1) + 0.5 * ((a == b).sum(-1) - 1)
    return np.where(np.isnan(means), np.nan, ranks)


def rank_bootstrap(
    per_seed: pd.DataFrame, n_boot: int = N_BOOT, seed: int = BOOT_SEED, level: float = 0.95
) -> pd.DataFrame:
    """Rank of each row's mean under each protocol, with a seed-bootstrap percentile interval.

    ``per_seed`` has columns ``row``, ``protocol``, ``seed`` and ``value`` (one value per row, protocol and seed).
    Each resample draws the seed list with replacement, once for all rows and protocols, recomputes each row's mean
    over the drawn seeds it has and the ranks; the interval is the ``(1 - level) / 2`` and ``(1 + level) / 2``
    quantiles, widened to include the point rank. Returns a frame indexed by (row, protocol) with ``rank``, ``lo``,
    ``hi`` and ``n`` (seeds). Deterministic for a given ``seed``."""
    cells = per_seed.groupby(["protocol", "row", "seed"]).value.mean()
    seeds = np.sort(per_seed.seed.unique())
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(seeds), size=(n_boot, len(seeds)))
    counts = np.zeros((n_boot, len(seeds)))
    np.add.at(counts, (np.arange(n_boot)[:, None], draws), 1.0)
    out = []
    for protocol in cells.index.unique("protocol"):
        v = cells.loc[protocol].unstack("seed").reindex(columns=seeds)
        x = v.to_numpy(dtype=float)
        have = ~np.isnan(x)
        with np.errstate(invalid="ignore", divide="ignore"):
            boot = (counts @ np.where(have, x, 0.0).T) / (counts @ have.T.astype(float))
        rank = average_ranks(np.nanmean(x, axis=1))
        with np.errstate(invalid="ignore"):
            lo, hi = np.nanquantile(average_ranks(boot), [(1 - level) / 2, (1 + level) / 2], axis=0)
        for i, row in enumerate(v.index):
            out.append((row, protocol, rank[i], min(lo[i], rank[i]), max(hi[i], rank[i]), int(have[i].sum())))
    return pd.DataFrame(out, columns=["row", "protocol", "rank", "lo", "hi", "n"]).set_index(["row", "protocol"])


def _rank_panel(ax, dd: pd.DataFrame, variants: dict) -> list[int]:
    """Each row's rank under each protocol, drawn by ``sns.pointplot`` (one point per row and protocol, joined
    across protocols, rows dodged apart), with the seed-bootstrap interval of the rank as error bars. The ranks and
    intervals come from :func:`rank_bootstrap`: pointplot's ``errorbar=None`` (one rank per point, nothing for it to
    aggregate), as its own interval would be a bootstrap of that single value, not of the ranking."""
    rows = table_rows(dd)
    labels = _row_labels(rows)
    dd = dd.assign(row=[labels[tuple(r)] for r in dd[ROW].itertuples(index=False, name=None)])
    per_seed = dd.groupby(["row", "protocol", "seed"], as_index=False).value.mean()
    ranks = rank_bootstrap(per_seed)
    protocols = [p for p in PROTOCOLS if p in set(dd.protocol)]
    order = [labels[r] for r in rows]
    styles = {labels[r]: _style_of(r, variants) for r in rows}
    points = ranks.reset_index().dropna(subset=["rank"])
    points = points.assign(protocol=points.protocol.map(PROTOCOL_NAMES))
    n = len(order)
    first = len(ax.lines)
    sns.pointplot(
        data=points,
        x="protocol",
        y="rank",
        hue="row",
        order=[PROTOCOL_NAMES[p] for p in protocols],
        hue_order=order,
        palette={k: st.colour for k, st in styles.items()},
        markers=[styles[k].marker for k in order],
        linestyles=[styles[k].linestyle for k in order],
        dodge=(n - 1) * min(0.06, 0.5 / n),
        errorbar=None,
        linewidth=2,
        ax=ax,
    )
    # pointplot draws one (unlabelled) line per hue level, in hue_order, an empty one for a level without points, then
    # adds a labelled, empty line per level for its legend
    lines = ax.lines[first : first + n]
    if len(lines) != n or any(not line.get_label().startswith("_") for line in lines):
        raise RuntimeError(f"seaborn drew {len(lines)} lines for {n} rows; expected one per row (its hue level)")
    for line, label in zip(lines, order):
        line.set_label(label)
        xs = np.asarray(line.get_xdata(), dtype=float)
        r = ranks.loc[label].reindex(protocols).dropna(subset=["rank"])
        if r.empty or not xs.size:
            continue
        offset = xs[0] - round(xs[0])  # this row's dodge, the same at every protocol
        x = np.array([protocols.index(p) for p in r.index]) + offset
        ax.errorbar(
            x,
            r["rank"],
            yerr=[r["rank"] - r.lo, r.hi - r["rank"]],
            fmt="none",
            color=styles[label].colour,
            elinewidth=2,
            capsize=3,
            label=label,
        )
    ax.set_yticks(range(1, len(rows) + 1))
    ax.invert_yaxis()
    ax.set_xlabel("protocol")
    ax.set_ylabel("rank by mean top-1 (1 = best)")
    sns.move_legend(ax, "center left", bbox_to_anchor=(1, 0.5), title="row", fontsize=8, title_fontsize=9)
    return list(ranks.n)


def rank_flip(df: pd.DataFrame, variants: dict | None = None):
    """Ranks within each (dataset, backbone), checkpoint rows left out, as the protocol_sensitivity table."""
    d = df[(df.metric == "top1") & (df.weights != "checkpoint")]
    keys = sorted(set(zip(d.dataset, d.backbone)), key=lambda k: (dataset_order(d.dataset).index(k[0]), k[1]))
    fig, axes = _panels(keys, width=7.5)
    if d.empty:
        _no_data(fig, axes[0], "Rank flips (top-1)")
        return fig
    variants = variant_indices(df) if variants is None else variants
    counts = []
    for ax, (ds, backbone) in zip(axes, keys):
        counts += _rank_panel(ax, d[(d.dataset == ds) & (d.backbone == backbone)], variants)
        ax.set_title(ds if d.backbone.nunique() == 1 else f"{ds}, {backbone}")
    _title(
        fig,
        "Rank flips across protocols",
        counts,
        note=f"error bars: 95% bootstrap interval of the rank ({N_BOOT} resamples of the seeds, shared by all rows)",
    )
    return fig


# ---- all figures ---------------------------------------------------------------------------------------------------


def render_all(df: pd.DataFrame, curves: pd.DataFrame) -> dict[str, "plt.Figure"]:
    sns.set_theme(context="notebook", style="whitegrid", font_scale=1.0)
    variants = variant_indices(df)
    figs = {f"top1_{p}": bar_top1(df, p, variants) for p in PROTOCOLS}
    figs["retrieval_topk"] = retrieval_topk(df, variants)
    figs["pretraining"] = pretraining(curves, df)
    figs["rank_flip"] = rank_flip(df, variants)
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
    curves = pd.read_csv(
        a.curves,
        dtype={"variant_hash": str},
        keep_default_na=False,
        na_values={c: [""] for c in ("chance", "train_loss", "train_acc", "val_loss", "val_acc")},
    )
    paths = save_all(render_all(df, curves), Path(a.out))
    print(f"wrote {len(paths)} plot files to {a.out}")


if __name__ == "__main__":
    main()
