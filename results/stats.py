"""Statistics shared by the summary, the tables and the plots.

- ``mean_ci``: mean with a 95% t-interval over seeds.
- ``paired_diff``: ``a - b`` paired by seed, as (mean, 95% t half-width, number of pairs).
- ``paired_test``: the same paired difference plus the two-sided paired t-test p-value (a ``Paired``).
- ``holm``: Holm–Bonferroni step-down adjusted p-values for a family of tests.
- ``spearman``: Spearman's rank correlation between two rankings.
- ``spearman_bootstrap``: Spearman's rho between per-method means of two protocols, with a percentile interval from
  resampling seeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["Paired", "holm", "mean_ci", "paired_diff", "paired_test", "spearman", "spearman_bootstrap"]


def mean_ci(values) -> tuple[float, float, int]:
    """Mean, half-width of the 95% t-interval and count. With one value the half-width is NaN (unknown).

    How: sample standard deviation (ddof=1) times the 0.975 quantile of Student's t with n-1 degrees of freedom,
    divided by sqrt(n)."""
    v = np.asarray(values, dtype=float)
    if len(v) == 0:
        return float("nan"), float("nan"), 0
    if len(v) < 2:
        return float(v.mean()), float("nan"), 1
    return float(v.mean()), float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))), len(v)


@dataclass(frozen=True)
class Paired:
    """Result of ``paired_test``: mean difference, its 95% t half-width, the number of pairs and the p-value."""

    diff: float
    half_width: float
    n: int
    p: float


def _paired_differences(a: pd.Series, b: pd.Series) -> np.ndarray:
    """``a - b`` over the seeds (index labels) present in both series, in ``a``'s order."""
    common = a.index.intersection(b.index)
    return (a.loc[common] - b.loc[common]).to_numpy(dtype=float)


def paired_test(a: pd.Series, b: pd.Series) -> Paired:
    """Paired t-test of ``a - b`` over the seeds (index) both series have: mean, 95% half-width, n and two-sided p.

    How: the differences' mean and half-width come from ``mean_ci`` (ddof=1, t quantile with n-1 df); the p-value is
    ``2 * P(T_{n-1} > |t|)`` with ``t = mean / (sd / sqrt(n))``. With n < 2 the half-width and p are NaN. When all
    differences are identical the standard deviation is 0 and t is 0/0 (no difference: p = 1.0) or ±infinity
    (a constant non-zero difference: the limit of the p-value is 0, so p = 0.0)."""
    d = _paired_differences(a, b)
    mean, half, n = mean_ci(d)
    if n < 2:
        return Paired(mean, float("nan"), n, float("nan"))
    sd = float(d.std(ddof=1))
    if sd == 0.0:  # every difference equals the mean exactly
        return Paired(mean, half, n, 1.0 if mean == 0.0 else 0.0)
    t = mean / (sd / math.sqrt(n))
    p = float(min(1.0, 2.0 * stats.t.sf(abs(t), n - 1)))
    return Paired(mean, half, n, p)


def paired_diff(a: pd.Series, b: pd.Series) -> tuple[float, float, int]:
    """``a - b`` paired by index (the seed): mean, 95% t half-width and the number of pairs.

    How: ``paired_test`` without the p-value."""
    r = paired_test(a, b)
    return r.diff, r.half_width, r.n


def holm(pvalues) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the input's order; NaN entries stay NaN and do not count in m.

    How: sort the m valid p-values ascending, multiply the k-th smallest (k = 0, 1, ...) by m - k, take the running
    maximum (step-down monotonicity) and cap at 1."""
    p = np.asarray(list(pvalues), dtype=float).reshape(-1)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    m = len(valid)
    if m == 0:
        return out.tolist()
    order = valid[np.argsort(p[valid], kind="stable")]
    scaled = (m - np.arange(m)) * p[order]
    out[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return out.tolist()


def spearman(x, y) -> float:
    """Spearman's rho between two rankings (NaN with fewer than 3 items or a constant ranking).

    How: ``scipy.stats.spearmanr`` (Pearson correlation of the average ranks, so ties share a rank)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 3 or np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    return float(stats.spearmanr(x, y).statistic)


def _spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row of ``x`` with the same row of ``y`` (NaN for a constant row), as ``spearman``.

    How: Pearson correlation of the average ranks (``scipy.stats.rankdata``), row by row, vectorised."""
    if x.shape[0] == 0:
        return np.empty(0)
    if x.shape[1] < 3:
        return np.full(x.shape[0], np.nan)
    rx, ry = stats.rankdata(x, axis=1), stats.rankdata(y, axis=1)
    rx, ry = rx - rx.mean(axis=1, keepdims=True), ry - ry.mean(axis=1, keepdims=True)
    sxx, syy = (rx * rx).sum(axis=1), (ry * ry).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (rx * ry).sum(axis=1) / np.sqrt(sxx * syy)
    return np.where((sxx > 0) & (syy > 0), np.clip(rho, -1.0, 1.0), np.nan)


def spearman_bootstrap(
    per_seed: pd.DataFrame, x: str, y: str, n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float, int]:
    """Spearman's rho between per-method mean ``x`` and mean ``y`` with a seed-bootstrap percentile interval.

    How: ``per_seed`` has columns ``method``, ``seed``, ``x`` and ``y``; rho is ``spearman`` of the per-method means
    (methods that have both). Each of ``n_boot`` resamples draws the seeds with replacement (one list shared by all
    methods, since a seed is shared by all methods), recomputes the means and rho; NaN resamples are dropped and the
    interval is their ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles (NaN bounds when fewer than half are
    valid). Deterministic for a given ``seed`` (``numpy.random.default_rng``). Returns (rho, lo, hi, n_methods);
    with fewer than 3 methods rho, lo and hi are NaN."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    nan = float("nan")
    cells = per_seed.groupby(["method", "seed"])[[x, y]].mean()  # one value per (method, seed) and protocol
    means = cells.groupby(level="method").mean().dropna()  # methods that have both protocols
    n_methods = len(means)
    if n_methods < 3:
        return nan, nan, nan, n_methods
    rho = spearman(means[x], means[y])

    cells = cells[cells.index.get_level_values("method").isin(means.index)]
    seeds = np.sort(cells.index.get_level_values("seed").unique().to_numpy())
    # (methods x seeds) tables of values; NaN where a method has no value on a seed
    vx = cells[x].unstack("seed").reindex(index=means.index, columns=seeds).to_numpy(dtype=float)
    vy = cells[y].unstack("seed").reindex(index=means.index, columns=seeds).to_numpy(dtype=float)

    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(seeds), size=(n_boot, len(seeds)))
    counts = np.zeros((n_boot, len(seeds)))  # how often each seed was drawn in each resample
    np.add.at(counts, (np.arange(n_boot)[:, None], draws), 1.0)

    def resampled_means(v: np.ndarray) -> np.ndarray:
        have = ~np.isnan(v)
        total = counts @ np.where(have, v, 0.0).T
        weight = counts @ have.T.astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(weight > 0, total / weight, np.nan)  # (n_boot x methods)

    bx, by = resampled_means(vx), resampled_means(vy)
    complete = ~(np.isnan(bx) | np.isnan(by)).any(axis=1)
    rhos = np.full(n_boot, np.nan)
    rhos[complete] = _spearman_rows(bx[complete], by[complete])
    for i in np.flatnonzero(~complete):  # a method lost every seed it has values on: rho over the others
        ok = ~(np.isnan(bx[i]) | np.isnan(by[i]))
        rhos[i] = spearman(bx[i][ok], by[i][ok])
    valid = rhos[~np.isnan(rhos)]
    if len(valid) < n_boot / 2:
        return rho, nan, nan, n_methods
    lo, hi = np.quantile(valid, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return rho, float(lo), float(hi), n_methods
