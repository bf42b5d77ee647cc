"""results.stats checked against numbers computed independently here (plain Python, hard-coded t-table values, closed
forms of Student's t for small df), never against results.stats itself."""

import math

import numpy as np
import pandas as pd
import pytest

from results.stats import Paired, holm, mean_ci, paired_diff, paired_test, spearman, spearman_bootstrap

T975_DF2 = 4.302652729911275  # t table: 0.975 quantile, 2 degrees of freedom
T975_DF4 = 2.7764451051977987  # t table: 0.975 quantile, 4 degrees of freedom
NAN = float("nan")


def sd_ddof1(xs):
    """Sample standard deviation (divisor n - 1), by hand."""
    m = sum(xs) / len(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def p_two_sided_df2(t):
    """Closed form of Student's t with 2 df: P(|T| > |t|) = 1 - |t| / sqrt(2 + t^2)."""
    return 1 - abs(t) / math.sqrt(2 + t * t)


def p_two_sided_df4(t):
    """Closed form of Student's t with 4 df: P(|T| > |t|) = 1 - |t| (t^2 + 6) / (t^2 + 4)^(3/2)."""
    return 1 - abs(t) * (t * t + 6) / (t * t + 4) ** 1.5


# ---------------------------------------------------------------- mean_ci


def test_mean_ci_textbook_three_values():
    values = [0.2, 0.4, 0.9]
    sd = sd_ddof1(values)  # deviations -0.3, -0.1, 0.4: sum of squares 0.26, variance 0.13
    assert sd == pytest.approx(math.sqrt(0.13), rel=1e-12)
    m, h, n = mean_ci(values)
    assert n == 3 and m == pytest.approx(0.5, rel=1e-12)
    assert h == pytest.approx(T975_DF2 * sd / math.sqrt(3), rel=1e-9)
    assert h == pytest.approx(0.8956686, rel=1e-6)


def test_mean_ci_textbook_five_values():
    values = [0.61, 0.58, 0.66, 0.63, 0.57]
    m, h, n = mean_ci(values)
    assert n == 5 and m == pytest.approx(0.61, rel=1e-12)
    assert h == pytest.approx(T975_DF4 * sd_ddof1(values) / math.sqrt(5), rel=1e-9)


def test_mean_ci_small_samples():
    m, h, n = mean_ci([])
    assert math.isnan(m) and math.isnan(h) and n == 0
    m, h, n = mean_ci([0.7])
    assert m == 0.7 and math.isnan(h) and n == 1
    assert mean_ci([0.3, 0.3, 0.3]) == (pytest.approx(0.3), 0.0, 3)


# ---------------------------------------------------------------- spearman


def test_spearman_monotone_nonlinear_is_one_where_pearson_is_not():
    x, y = [1, 2, 3, 4, 5], [1, 2, 3, 4, 100]
    mx, my = sum(x) / 5, sum(y) / 5
    pearson = sum((a - mx) * (b - my) for a, b in zip(x, y)) / math.sqrt(
        sum((a - mx) ** 2 for a in x) * sum((b - my) ** 2 for b in y)
    )
    assert pearson < 0.99  # ≈ 0.725: the relation is monotone but far from linear
    assert spearman(x, y) == pytest.approx(1.0, abs=1e-12)
    assert spearman(x, [v**5 for v in x]) == pytest.approx(1.0, abs=1e-12)
    assert spearman(x, [-(v**3) for v in x]) == pytest.approx(-1.0, abs=1e-12)


def test_spearman_hand_ranked_with_ties():
    x, y = [1, 10, 10, 100], [2, 9, 3, 50]
    # average ranks: x -> 1, 2.5, 2.5, 4; y -> 1, 3, 2, 4; both have mean 2.5
    # deviations: x -1.5, 0, 0, 1.5; y -1.5, 0.5, -0.5, 1.5 -> sum of products 4.5, sums of squares 4.5 and 5
    expected = 4.5 / math.sqrt(4.5 * 5)  # = 3 / sqrt(10) ≈ 0.9487 (Pearson on the raw values: ≈ 0.994)
    assert spearman(x, y) == pytest.approx(expected, rel=1e-12)


def test_spearman_undefined_cases():
    assert math.isnan(spearman([1, 2], [2, 1]))
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))
    assert math.isnan(spearman([1, 2, 3], [5, 5, 5]))


# ---------------------------------------------------------------- paired_test / paired_diff


def test_paired_test_hand_computed_df2_pairs_by_seed():
    a = pd.Series({0: 0.70, 1: 0.65, 2: 0.72, 3: 0.90})  # seed 3 only in a: ignored
    b = pd.Series({2: 0.60, 0: 0.62, 5: 0.10, 1: 0.61})  # other order; seed 5 only in b: ignored
    d = [0.70 - 0.62, 0.65 - 0.61, 0.72 - 0.60]  # 0.08, 0.04, 0.12
    mean, sd = sum(d) / 3, sd_ddof1(d)  # 0.08 and 0.04
    t = mean / (sd / math.sqrt(3))  # 2 sqrt(3) ≈ 3.464
    assert t == pytest.approx(2 * math.sqrt(3), rel=1e-9)
    r = paired_test(a, b)
    assert isinstance(r, Paired) and r.n == 3
    assert r.diff == pytest.approx(0.08, rel=1e-12)
    assert r.half_width == pytest.approx(T975_DF2 * sd / math.sqrt(3), rel=1e-9)
    assert r.p == pytest.approx(p_two_sided_df2(t), rel=1e-9)
    assert r.p == pytest.approx(0.0741799, rel=1e-5)
    assert paired_diff(a, b) == (r.diff, r.half_width, r.n)
    flipped = paired_test(b, a)  # the sign flips, the p-value is two-sided
    assert flipped.diff == pytest.approx(-0.08, rel=1e-12) and flipped.p == pytest.approx(r.p, rel=1e-12)


def test_paired_test_hand_computed_df4():
    seeds = [4, 2, 0, 3, 1]
    d = [0.03, -0.01, 0.05, 0.02, 0.01]  # mean 0.02, sd sqrt(0.0005), standard error 0.01, t = 2
    b = pd.Series([0.5, 0.4, 0.3, 0.2, 0.1], index=seeds)
    a = pd.Series([bi + di for bi, di in zip(b, d)], index=seeds).iloc[::-1]
    mean, sd = sum(d) / 5, sd_ddof1(d)
    t = mean / (sd / math.sqrt(5))
    r = paired_test(a, b)
    assert r.n == 5 and r.diff == pytest.approx(0.02, rel=1e-9)
    assert r.half_width == pytest.approx(T975_DF4 * sd / math.sqrt(5), rel=1e-9)
    assert t == pytest.approx(2.0, rel=1e-9)
    assert r.p == pytest.approx(p_two_sided_df4(t), rel=1e-9)
    assert r.p == pytest.approx(1 - 20 / 8**1.5, rel=1e-6)  # ≈ 0.1161


def test_paired_test_degenerate_cases():
    none = paired_test(pd.Series({0: 0.5}), pd.Series({1: 0.4}))
    assert none.n == 0 and math.isnan(none.diff) and math.isnan(none.half_width) and math.isnan(none.p)
    one = paired_test(pd.Series({0: 0.5, 1: 0.9}), pd.Series({0: 0.4}))
    assert one.n == 1 and one.diff == pytest.approx(0.1) and math.isnan(one.half_width) and math.isnan(one.p)
    # the same difference on every seed: sd = 0, t = ±inf, p = 0
    same = paired_test(pd.Series({0: 0.75, 1: 0.5, 2: 0.25}), pd.Series({0: 0.5, 1: 0.25, 2: 0.0}))
    assert same == Paired(0.25, 0.0, 3, 0.0)
    # no difference on any seed: t = 0/0, p = 1
    zero = paired_test(pd.Series({0: 0.3, 1: 0.6}), pd.Series({1: 0.6, 0: 0.3}))
    assert zero == Paired(0.0, 0.0, 2, 1.0)


def test_paired_is_frozen():
    r = Paired(0.1, 0.2, 3, 0.5)
    with pytest.raises(AttributeError):
        r.p = 0.01


# ---------------------------------------------------------------- holm


def holm_reference(ps):
    """Textbook Holm: adj_(i) = min(1, max_{j <= i} (m - j + 1) p_(j)), 1-based, NaN excluded from m."""
    idx = [i for i, p in enumerate(ps) if not math.isnan(p)]
    idx.sort(key=lambda i: ps[i])
    m, out, running = len(idx), [NAN] * len(ps), 0.0
    for j, i in enumerate(idx, start=1):
        running = max(running, (m - j + 1) * ps[i])
        out[i] = min(1.0, running)
    return out


def test_holm_hand_examples():
    # sorted 0.01 x3 = 0.03, 0.03 x2 = 0.06, 0.04 x1 = 0.04 -> raised to 0.06 (step-down monotonicity)
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06], rel=1e-12)
    # NaN stays NaN and does not count: m = 3; 0.001 x3, 0.04 x2, 0.5 x1
    out = holm([0.04, 0.001, NAN, 0.5])
    assert out[0] == pytest.approx(0.08) and out[1] == pytest.approx(0.003) and math.isnan(out[2])
    assert out[3] == pytest.approx(0.5)
    assert holm([0.5, 0.6]) == [1.0, 1.0]  # 0.5 x2 = 1.0 caps, then 0.6 is raised to 1.0
    assert holm([0.3, 0.6]) == pytest.approx([0.6, 0.6])
    assert holm([0.02]) == [0.02]
    assert holm([]) == []
    assert all(math.isnan(p) for p in holm([NAN, NAN]))
    assert isinstance(holm(np.array([0.01, 0.2])), list)


def test_holm_ties_get_the_same_adjusted_value():
    assert holm([0.02, 0.02, 0.02]) == pytest.approx([0.06, 0.06, 0.06])


def test_holm_matches_the_textbook_definition_is_monotone_and_keeps_order():
    rng = np.random.default_rng(3)
    for _ in range(50):
        ps = rng.uniform(0, 0.3, size=int(rng.integers(1, 12))).tolist()
        ps[int(rng.integers(len(ps)))] = NAN if rng.random() < 0.5 else ps[0]
        out = holm(ps)
        ref = holm_reference(ps)
        assert len(out) == len(ps)
        for o, r, p in zip(out, ref, ps):
            assert (math.isnan(o) and math.isnan(r) and math.isnan(p)) or (
                o == pytest.approx(r, rel=1e-12) and p <= o <= 1.0
            )
        valid = sorted((p, o) for p, o in zip(ps, out) if not math.isnan(p))
        adjusted = [o for _, o in valid]
        assert adjusted == sorted(adjusted)  # non-decreasing in the order of the raw p-values


# ---------------------------------------------------------------- spearman_bootstrap


def long_frame(linear, finetune):
    """{method: [value per seed]} for two protocols -> rows (method, seed, linear, finetune), shuffled."""
    rows = []
    for method in sorted(set(linear) | set(finetune)):
        lin, fin = linear.get(method, []), finetune.get(method, [])
        for s in range(max(len(lin), len(fin))):
            rows.append(
                {
                    "method": method,
                    "seed": s,
                    "linear": lin[s] if s < len(lin) else NAN,
                    "finetune": fin[s] if s < len(fin) else NAN,
                }
            )
    return pd.DataFrame(rows).sample(frac=1.0, random_state=0).reset_index(drop=True)


def test_spearman_bootstrap_point_estimate_is_rho_of_the_hand_computed_means():
    linear = {"A": [0.50, 0.60], "B": [0.40, 0.44], "C": [0.70, 0.62], "D": [0.30, 0.36], "E": [0.9, 0.9]}
    finetune = {"A": [0.80, 0.70], "B": [0.85, 0.83], "C": [0.60, 0.66], "D": [0.50, 0.40]}  # E: linear only
    # means: linear A .55 B .42 C .66 D .33 -> ranks A3 B2 C4 D1; finetune A .75 B .84 C .63 D .45 -> A3 B4 C2 D1
    # rank differences 0, -2, 2, 0: rho = 1 - 6 * 8 / (4 * (16 - 1)) = 0.2
    rho, lo, hi, n = spearman_bootstrap(long_frame(linear, finetune), "linear", "finetune", n_boot=500)
    assert n == 4 and rho == pytest.approx(0.2, rel=1e-12)
    assert -1.0 <= lo <= hi <= 1.0


def test_spearman_bootstrap_is_deterministic_for_a_seed():
    rng = np.random.default_rng(7)
    df = long_frame(
        {m: rng.uniform(0.3, 0.7, 5).tolist() for m in "ABCDEF"},
        {m: rng.uniform(0.3, 0.7, 5).tolist() for m in "ABCDEF"},
    )
    first = spearman_bootstrap(df, "linear", "finetune", n_boot=400, seed=11)
    assert spearman_bootstrap(df, "linear", "finetune", n_boot=400, seed=11) == first
    other = spearman_bootstrap(df, "linear", "finetune", n_boot=400, seed=12)
    assert other[0] == first[0] and other[3] == first[3] == 6  # the point estimate does not depend on the seed


def test_spearman_bootstrap_rank_consistent_methods_give_a_point_interval():
    # every seed ranks the methods A < B < C < D on both protocols: every resample has rho = 1 (or -1 reversed)
    linear = {"A": [0.10, 0.12, 0.11], "B": [0.20, 0.23, 0.21], "C": [0.30, 0.29, 0.33], "D": [0.40, 0.41, 0.44]}
    finetune = {"A": [0.50, 0.52, 0.51], "B": [0.60, 0.61, 0.63], "C": [0.70, 0.72, 0.69], "D": [0.80, 0.85, 0.81]}
    rho, lo, hi, n = spearman_bootstrap(long_frame(linear, finetune), "linear", "finetune", n_boot=300)
    assert n == 4
    assert (rho, lo, hi) == pytest.approx((1.0, 1.0, 1.0), abs=1e-12)
    reversed_ = {m: [1 - v for v in vs] for m, vs in finetune.items()}
    rho, lo, hi, _ = spearman_bootstrap(long_frame(linear, reversed_), "linear", "finetune", n_boot=300)
    assert (rho, lo, hi) == pytest.approx((-1.0, -1.0, -1.0), abs=1e-12)


def test_spearman_bootstrap_resamples_the_same_seeds_for_every_method():
    # a large seed effect shared by all methods (a hard split, say) on top of method effects 0.01 apart: resampling
    # one seed list for all methods shifts every mean alike and keeps the ranking; resampling per method would not
    seed_effect = [0.0, 0.3, -0.2, 0.25, -0.1]
    linear = {m: [0.5 + 0.01 * k + e for e in seed_effect] for k, m in enumerate("ABCDE")}
    finetune = {m: [0.4 + 0.01 * k - e for e in seed_effect] for k, m in enumerate("ABCDE")}
    rho, lo, hi, n = spearman_bootstrap(long_frame(linear, finetune), "linear", "finetune", n_boot=500)
    assert n == 5 and (rho, lo, hi) == pytest.approx((1.0, 1.0, 1.0), abs=1e-12)


def test_spearman_bootstrap_noisy_data_gives_a_wide_interval_around_zero():
    # method effects 0.01 apart, ranks x 1..5 and y (1, 5, 4, 3, 2): sum of squared rank differences 0+9+1+1+9 = 20,
    # rho = 1 - 6 * 20 / (5 * (25 - 1)) = 0; per-seed noise (sd 0.1, centred per method so the means stay the
    # effects) dwarfs the effects, so resampling 4 seeds reshuffles the ranking
    rng = np.random.default_rng(2024)

    def noisy(ranks):
        out = {}
        for method, r in zip("ABCDE", ranks):
            noise = rng.normal(0.0, 0.1, 4)
            out[method] = (0.5 + 0.01 * r + noise - noise.mean()).tolist()
        return out

    df = long_frame(noisy([1, 2, 3, 4, 5]), noisy([1, 5, 4, 3, 2]))
    rho, lo, hi, n = spearman_bootstrap(df, "linear", "finetune")
    assert n == 5 and rho == pytest.approx(0.0, abs=1e-12)
    assert lo < 0.0 < hi and hi - lo > 1.0


def test_spearman_bootstrap_level_narrows_the_interval():
    rng = np.random.default_rng(5)
    df = long_frame(
        {m: rng.normal(0.5, 0.1, 6).tolist() for m in "ABCDEF"}, {m: rng.normal(0.5, 0.1, 6).tolist() for m in "ABCDEF"}
    )
    _, lo95, hi95, _ = spearman_bootstrap(df, "linear", "finetune", n_boot=500, level=0.95)
    _, lo50, hi50, _ = spearman_bootstrap(df, "linear", "finetune", n_boot=500, level=0.5)
    assert lo95 <= lo50 <= hi50 <= hi95


def test_spearman_bootstrap_fewer_than_three_methods_is_nan():
    df = long_frame({"A": [0.1, 0.2], "B": [0.3, 0.4], "C": [0.5, 0.6]}, {"A": [0.2, 0.1], "B": [0.4, 0.3]})
    rho, lo, hi, n = spearman_bootstrap(df, "linear", "finetune")  # C has no fine-tune values: 2 methods
    assert n == 2 and math.isnan(rho) and math.isnan(lo) and math.isnan(hi)


def test_spearman_bootstrap_mostly_invalid_resamples_give_nan_bounds():
    # C has its linear value only on seed 0 and its fine-tune value only on seed 1: a resample of 3 seeds keeps C
    # (and so 3 methods) only when it draws both seeds 0 and 1, with probability 1 - 2 (2/3)^3 + (1/3)^3 = 12/27 < 1/2
    linear = {"A": [0.1, 0.2, 0.3], "B": [0.5, 0.6, 0.7], "C": [0.9]}
    finetune = {"A": [0.3, 0.2, 0.1], "B": [0.6, 0.6, 0.6], "C": [NAN, 0.8]}
    rho, lo, hi, n = spearman_bootstrap(long_frame(linear, finetune), "linear", "finetune", n_boot=2000)
    assert n == 3 and rho == pytest.approx(1.0, abs=1e-12)  # means: linear .2 .6 .9, fine-tune .2 .6 .8
    assert math.isnan(lo) and math.isnan(hi)
