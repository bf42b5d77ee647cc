"""Statistics shared by the summary, the tables and the plots: mean with a 95% t-interval over seeds, differences
paired by seed, and ranks."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats


def mean_ci(values) -> tuple[float, float, int]:
    """Mean, half-width of the 95% t-interval and count. With one value the half-width is NaN (unknown)."""
    v = np.asarray(values, dtype=float)
    if len(v) == 0:
        return float("nan"), float("nan"), 0
    if len(v) < 2:
        return float(v.mean()), float("nan"), 1
    return float(v.mean()), float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))), len(v)


def paired_diff(a: pd.Series, b: pd.Series) -> tuple[float, float, int]:
    """``a - b`` paired by index (the seed): mean, 95% t half-width and the number of pairs."""
    common = a.index.intersection(b.index)
    return mean_ci((a.loc[common] - b.loc[common]).to_numpy())


def spearman(x, y) -> float:
    """Spearman's rho between two rankings (NaN with fewer than 3 items or a constant ranking)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 3 or np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    return float(stats.spearmanr(x, y).statistic)
