"""results.plots on a small synthetic results frame: clipped intervals, one colour per method, chance lines, seed
counts, rank intervals from a seed bootstrap, deterministic bytes (no training)."""

from __future__ import annotations

import hashlib

import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.patches import Patch

from results import plots
from results.stats import mean_ci

SEEDS = (0, 1, 2)
DATASETS = ("embedded-ucf101", "embedded-hmdb51")
# top-1 per seed of each row. tcgl's and random's 95% t-intervals leave [0, 1]; supervised and vcop are constant and
# keep their ranks in every resample (supervised above everything, vcop between tcgl and the two noisy bottom rows);
# random and tcgl (untrained) swap order between seeds 0 and 1, so their ranks vary under the bootstrap.
TOP1 = {
    ("random", "untrained"): [0.02, 0.30, 0.20],
    ("tcgl", "pretrained"): [0.97, 0.60, 0.99],
    ("tcgl", "untrained"): [0.25, 0.05, 0.12],
    ("vcop", "pretrained"): [0.50, 0.50, 0.50],
    ("supervised", "pretrained"): [0.995, 0.995, 0.995],
}
CHANCE = {"tcgl": 1 / 6, "vcop": 1 / 6, "supervised": 1 / 12}
METRICS = {
    "linear": ("top1", "top5"),
    "finetune": ("top1", "top5"),
    "retrieval": ("top1", "top5", "top10", "top20", "top50"),
}


def _record(method, weights, dataset, protocol, seed, metric, value):
    return {
        "method": method,
        "weights": weights,
        "variant": "",
        "variant_hash": f"h-{method}",
        "backbone": "tiny",
        "pretrain_data": "" if weights == "untrained" else "embedded-ucf101",
        "eval_transform": "{}",
        "dataset": dataset,
        "split": 1,
        "protocol": protocol,
        "seed": seed,
        "metric": metric,
        "value": value,
    }


def results_frame(drop=()) -> pd.DataFrame:
    """Every row x dataset x protocol x seed x metric; top-k = top-1 + 0.01 k (capped at 1). ``drop`` lists
    (method, weights, seed) left out."""
    recs = []
    for (method, weights), top1 in TOP1.items():
        for ds in DATASETS:
            for protocol, metrics in METRICS.items():
                for seed, v in zip(SEEDS, top1):
                    if (method, weights, seed) in drop:
                        continue
                    for metric in metrics:
                        k = int(metric[3:])
                        recs.append(_record(method, weights, ds, protocol, seed, metric, min(1.0, v + 0.01 * (k - 1))))
    return pd.DataFrame(recs)


def curves_frame() -> pd.DataFrame:
    """4 epochs of 3 seeds of tcgl, vcop and supervised; the last epoch's validation accuracy (0.99, 0.5, 0.98) has a
    t-interval above 1."""
    last = (0.99, 0.5, 0.98)
    return pd.DataFrame(
        [
            {
                "method": m,
                "backbone": "tiny",
                "seed": s,
                "variant_hash": f"h-{m}",
                "chance": c,
                "epoch": e,
                "train_loss": 2.0 / (e + 1) * (1 + 0.1 * s),
                "train_acc": 0.5,
                "val_loss": 1.0,
                "val_acc": last[s] if e == 3 else 0.2 + 0.1 * e,
            }
            for m, c in CHANCE.items()
            for s in SEEDS
            for e in range(4)
        ]
    )


@pytest.fixture(scope="module")
def figs():
    out = plots.render_all(results_frame(), curves_frame())
    yield out
    for f in out.values():
        plots.plt.close(f)


def _rgb(c):
    return tuple(round(x, 6) for x in mcolors.to_rgb(c))


def _errorbar_ys(ax) -> list[float]:
    ys = []
    for c in ax.containers:
        if isinstance(c, ErrorbarContainer):
            _, caps, cols = c.lines
            ys += [y for line in caps for y in line.get_ydata()]
            ys += [p[1] for col in cols for seg in col.get_segments() for p in seg]
    return ys


def _band_ys(ax) -> list[float]:
    return [
        y
        for coll in ax.collections
        if isinstance(coll, PolyCollection)
        for path in coll.get_paths()
        for y in path.vertices[:, 1]
    ]


def _texts(fig) -> str:
    parts = [fig.get_suptitle()] + [t.get_text() for t in fig.texts] + [ax.get_title() for ax in fig.axes]
    return "\n".join(parts)


def _legend_entries(ax) -> dict:
    """Label -> handle of each entry of the axes' legend (what a reader matches colours with)."""
    leg = ax.get_legend()
    return {} if leg is None else {t.get_text(): h for h, t in zip(leg.legend_handles, leg.texts)}


def _handle_colour(h):
    return _rgb(h.get_facecolor() if isinstance(h, Patch) else h.get_color())


def _data_lines(ax) -> list:
    """The lines that draw data, error-bar caps (marker-only lines) included; the legend's proxy lines that seaborn
    adds to the axes are empty."""
    return [line for line in ax.get_lines() if len(line.get_xdata())]


def _colour_by_label(fig, label: str) -> set:
    """The colours of every artist labelled ``label``: bars, lines, error-bar lines and legend entries."""
    found = set()
    for ax in fig.axes:
        for c in ax.containers:
            if c.get_label() != label:
                continue
            if isinstance(c, BarContainer):
                found |= {_rgb(p.get_facecolor()) for p in c.patches}
            elif isinstance(c, ErrorbarContainer):
                found |= {_rgb(col) for bars in c.lines[2] for col in bars.get_colors()}
                found |= {_rgb(line.get_color()) for line in c.lines[:1] if line is not None}
        found |= {_rgb(line.get_color()) for line in ax.get_lines() if line.get_label() == label}
        found |= {_handle_colour(h) for text, h in _legend_entries(ax).items() if text == label}
    return found


def test_the_planted_t_intervals_leave_the_unit_interval():
    m, h, _ = mean_ci(TOP1[("tcgl", "pretrained")])
    assert m + h > 1
    m, h, _ = mean_ci(TOP1[("random", "untrained")])
    assert m - h < 0
    m, h, _ = mean_ci(np.array([0.99, 0.5, 0.98]))
    assert m + h > 1


def test_every_plot_renders_and_every_file_is_byte_identical_twice(tmp_path):
    """Every file is written, and a second rendering of the same data gives the same bytes for every PNG and SVG
    (the rank-flip figure resamples seeds; seaborn draws without its own bootstrap).
    (tests/test_pipeline.py compares every figure byte for byte between a run and a fresh clone's.)"""
    first = plots.save_all(plots.render_all(results_frame(), curves_frame()), tmp_path / "a")
    assert sorted(p.name for p in first) == sorted(f"{n}.{e}" for n in plots.PLOTS for e in ("png", "svg"))
    assert all(len(p.read_bytes()) > 5000 for p in first)
    second = plots.save_all(plots.render_all(results_frame(), curves_frame()), tmp_path / "b")
    assert [p.name for p in second] == [p.name for p in first]
    for b in second:
        assert b.read_bytes() == (tmp_path / "a" / b.name).read_bytes(), b.name
    alone = plots.save_all({"rank_flip": plots.rank_flip(results_frame())}, tmp_path / "c")
    for c in alone:
        assert c.read_bytes() == (tmp_path / "a" / c.name).read_bytes(), c.name


def test_bars_show_the_mean_and_the_tables_t_interval_not_a_seaborn_bootstrap(figs):
    """Each bar's height is the mean over seeds and its error bar the clipped 95% t-interval of results.stats."""
    ax = figs["top1_linear"].axes[0]
    order = [t.get_text() for t in ax.get_xticklabels()]
    bars = {c.get_label(): c.patches[0] for c in ax.containers if isinstance(c, BarContainer)}
    segments = {
        round(seg[0][0]): sorted((seg[0][1], seg[1][1]))
        for c in ax.containers
        if isinstance(c, ErrorbarContainer)
        for col in c.lines[2]
        for seg in col.get_segments()
    }
    label_of = {
        "random": ("random", "untrained"),
        "tcgl": ("tcgl", "pretrained"),
        "tcgl (untrained)": ("tcgl", "untrained"),
        "vcop": ("vcop", "pretrained"),
        "supervised": ("supervised", "pretrained"),
    }
    for label, key in label_of.items():
        values = np.array(TOP1[key])
        m, h, _ = mean_ci(values)
        assert bars[label].get_height() == pytest.approx(100 * m), label
        lo, hi = segments[order.index(label)]
        want = (100 * max(0.0, m - h), 100 * min(1.0, m + h))  # 3 seeds: the interval exists
        assert (lo, hi) == pytest.approx(want), label


@pytest.mark.parametrize("name", ["top1_linear", "top1_finetune", "top1_retrieval"])
def test_bar_error_bars_are_clipped_to_percent_bounds(figs, name):
    fig = figs[name]
    ys = [y for ax in fig.axes for y in _errorbar_ys(ax)]
    assert ys and min(ys) >= 0.0 and max(ys) <= 100.0
    assert min(ys) == pytest.approx(0.0) and max(ys) == pytest.approx(100.0)  # the clip was applied, not avoided
    assert "clipped to [0, 100] %" in _texts(fig)


def test_bands_are_clipped_to_percent_bounds(figs):
    ys = [y for ax in figs["retrieval_topk"].axes for y in _band_ys(ax)]
    assert ys and min(ys) >= 0.0 and max(ys) <= 100.0 and max(ys) == pytest.approx(100.0)
    assert "clipped to [0, 100] %" in _texts(figs["retrieval_topk"])
    acc = figs["pretraining"].axes[1]
    ys = _band_ys(acc)
    assert ys and min(ys) >= 0.0 and max(ys) == pytest.approx(100.0)
    assert "clipped to [0, 100] %" in _texts(figs["pretraining"])


def test_bars_are_one_panel_per_dataset_coloured_by_method(figs):
    fig = figs["top1_linear"]
    assert [ax.get_title() for ax in fig.axes] == ["embedded-ucf101", "embedded-hmdb51"]
    ax = fig.axes[0]
    assert ax.get_ylabel() == "top-1 accuracy (%)" and ax.get_legend() is not None
    bars = {c.get_label(): c.patches[0] for c in ax.containers if isinstance(c, BarContainer)}
    assert set(bars) == {"random", "tcgl", "tcgl (untrained)", "vcop", "supervised"}
    assert _rgb(bars["tcgl"].get_facecolor()) == _rgb(bars["tcgl (untrained)"].get_facecolor())
    assert bars["tcgl"].get_hatch() in (None, "") and "//" in bars["tcgl (untrained)"].get_hatch()
    assert _rgb(bars["tcgl"].get_facecolor()) != _rgb(bars["vcop"].get_facecolor())


@pytest.mark.parametrize("method", ["tcgl", "vcop", "supervised"])
def test_a_method_keeps_its_colour_in_every_figure(figs, method):
    want = _rgb(plots.method_colour(method))
    for name in ("top1_linear", "top1_finetune", "retrieval_topk", "pretraining", "rank_flip"):
        assert _colour_by_label(figs[name], method) == {want}, name
    assert _colour_by_label(figs["retrieval_topk"], "random") == {_rgb(plots.METHOD_COLOURS["random"])}


def test_an_untrained_control_is_dashed_in_the_method_colour(figs):
    tcgl = _rgb(plots.method_colour("tcgl"))
    for name in ("retrieval_topk", "rank_flip"):
        ax = figs[name].axes[0]
        legend = _legend_entries(ax)
        assert legend["tcgl (untrained)"].get_linestyle() == "--" and legend["tcgl"].get_linestyle() == "-", name
        styles = {line.get_linestyle() for line in _data_lines(ax) if _rgb(line.get_color()) == tcgl} - {"None"}
        assert styles == {"-", "--"}, name  # the method solid, its control dashed, both drawn in its colour
    assert _colour_by_label(figs["rank_flip"], "tcgl (untrained)") == {tcgl}


@pytest.mark.parametrize(
    "name, axis", [("retrieval_topk", 0), ("retrieval_topk", 1), ("pretraining", 1), ("rank_flip", 0)]
)
def test_every_drawn_line_is_in_its_legend_with_its_colour(figs, name, axis):
    ax = figs[name].axes[axis]
    legend = {_handle_colour(h) for h in _legend_entries(ax).values()}
    drawn = {_rgb(line.get_color()) for line in _data_lines(ax)}
    assert drawn and drawn <= legend


def test_colours_are_fixed_for_known_methods_and_stable_for_others():
    known = [plots.method_colour(m) for m in ("tcgl", "vcop", "sorder", "opn", "speednet", "random", "supervised")]
    assert len(set(known)) == 7
    assert plots.method_colour("mynewmethod") == plots.method_colour("mynewmethod")
    assert plots.method_colour("mynewmethod") in [tuple(c) for c in plots.OTHER_COLOURS]
    # sha256 of the name, not Python's salted hash: a fixed index for a fixed name
    assert plots.method_colour("mynewmethod") == tuple(
        plots.OTHER_COLOURS[int(hashlib.sha256(b"mynewmethod").hexdigest(), 16) % len(plots.OTHER_COLOURS)]
    )


def test_variants_share_the_method_colour_and_differ_in_hatch_and_marker():
    df = results_frame()
    extra = df[(df.method == "tcgl") & (df.weights == "pretrained")].assign(variant="long")
    idx = plots.variant_indices(pd.concat([df, extra]))
    plain = plots.row_style("tcgl", "pretrained", 0)
    variant = plots.row_style("tcgl", "pretrained", idx[("tcgl", "long")])
    assert plain.colour == variant.colour and plain.hatch != variant.hatch and plain.marker != variant.marker
    control = plots.row_style("tcgl", "untrained")
    assert control.colour == plain.colour and control.linestyle == "--" and "//" in control.hatch
    rnd = plots.row_style("random", "untrained")  # random is its own method, drawn plain
    assert rnd.hatch == "" and rnd.linestyle == "-"
    fig = plots.bar_top1(pd.concat([df, extra]), "linear", idx)
    bars = {c.get_label(): c.patches[0] for c in fig.axes[0].containers if isinstance(c, BarContainer)}
    assert _rgb(bars["tcgl [long]"].get_facecolor()) == _rgb(bars["tcgl"].get_facecolor())
    assert bars["tcgl [long]"].get_hatch() != bars["tcgl"].get_hatch()
    plots.plt.close(fig)


def test_pretraining_draws_each_methods_chance_line(figs):
    ax = figs["pretraining"].axes[1]
    for method, chance in CHANCE.items():
        lines = [
            line
            for line in ax.get_lines()
            if line.get_linestyle() == ":" and _rgb(line.get_color()) == _rgb(plots.method_colour(method))
        ]
        assert len(lines) == 1, method
        assert np.allclose(lines[0].get_ydata(), 100 * chance)
        assert "chance" in lines[0].get_label()
    assert "chance" in ax.get_title()


def test_every_figure_states_the_number_of_seeds(figs):
    for name, fig in figs.items():
        assert "3 seeds" in _texts(fig), name
    uneven = plots.render_all(results_frame(drop={("vcop", "pretrained", 2)}), curves_frame())
    for name in ("top1_linear", "top1_finetune", "top1_retrieval", "retrieval_topk", "rank_flip"):
        assert "2-3 seeds" in _texts(uneven[name]), name
    for f in uneven.values():
        plots.plt.close(f)


def _rank_bars(fig) -> dict[str, list[float]]:
    """Label -> the height of each rank error bar (hi - lo) of the first panel."""
    out = {}
    for c in fig.axes[0].containers:
        if isinstance(c, ErrorbarContainer):
            out[c.get_label()] = [abs(seg[1][1] - seg[0][1]) for col in c.lines[2] for seg in col.get_segments()]
    return out


def test_rank_flip_shows_a_seed_bootstrap_interval_of_the_rank(figs):
    fig = figs["rank_flip"]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["linear probe", "fine-tune", "retrieval"]
    assert "bootstrap" in _texts(fig)
    bars = _rank_bars(fig)
    assert set(bars) == {"random", "tcgl", "tcgl (untrained)", "vcop", "supervised"}
    for stable in ("supervised", "vcop", "tcgl"):  # constant or never crossed: the same rank in every resample
        assert bars[stable] == [0.0] * 3, stable
    for noisy in ("random", "tcgl (untrained)"):  # they swap between seeds 0 and 1
        assert all(h > 0 for h in bars[noisy]), noisy


def test_rank_bootstrap_is_deterministic_and_ranks_the_means():
    per_seed = pd.DataFrame(
        [
            {"row": f"{m} {w}", "protocol": "linear", "seed": s, "value": v}
            for (m, w), vals in TOP1.items()
            for s, v in zip(SEEDS, vals)
        ]
    )
    a, b = plots.rank_bootstrap(per_seed), plots.rank_bootstrap(per_seed)
    pd.testing.assert_frame_equal(a, b)
    means = per_seed.groupby("row").value.mean().rank(ascending=False)
    assert a.xs("linear", level="protocol")["rank"].to_dict() == means.to_dict()
    r = a.xs("linear", level="protocol")
    assert (r.lo <= r["rank"]).all() and (r["rank"] <= r.hi).all()
    assert tuple(r.loc["random untrained", ["lo", "hi"]]) == (4.0, 5.0)
    assert tuple(r.loc["supervised pretrained", ["lo", "hi"]]) == (1.0, 1.0)


def test_average_ranks_match_pandas_with_ties_and_missing():
    x = np.array([0.3, 0.5, 0.5, np.nan, 0.1])
    want = pd.Series(x).rank(ascending=False, method="average").to_numpy()
    np.testing.assert_array_equal(plots.average_ranks(x), want)


def test_plots_without_data_still_write_every_file(tmp_path):
    empty = results_frame().iloc[:0]
    curves = pd.DataFrame(columns=["method", "backbone", "seed", "epoch", "train_loss", "val_acc"])
    figs = plots.render_all(empty, curves)
    for name, fig in figs.items():
        assert "no results yet" in _texts(fig), name
    paths = plots.save_all(figs, tmp_path)
    assert sorted(p.name for p in paths) == sorted(f"{n}.{e}" for n in plots.PLOTS for e in ("png", "svg"))
    assert all(p.stat().st_size > 0 for p in paths)
    assert not list(tmp_path.glob(".*"))
