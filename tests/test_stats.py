"""hhh_eval.stats intervals: known values (tests/stats_cases.json), reference implementations (scipy,
statsmodels), exact coverage over a fine grid and coverage simulations. Run with -s to see the figures."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from hhh_eval import stats
from hhh_eval.errors import UserError
from hhh_eval.stats.intervals import clustered_rate_interval, design_effect

CASES = json.loads((Path(__file__).with_name("stats_cases.json")).read_text())
GRID_PS = np.unique(np.concatenate([np.round(np.linspace(0.01, 0.99, 197), 4), [0.015, 0.025, 0.975, 0.985]]))
GRID_NS = (50, 100, 200, 500, 1000, 2000)
WORST_RATE_COVERAGE = 0.925  # documented in hhh_eval/stats/intervals.py: 0.927 at p = 0.055, n = 100
BAND = (0.93, 0.97)


def _paired_from_table(both: int, a_only: int, b_only: int, neither: int) -> tuple[np.ndarray, np.ndarray]:
    a = np.array([1] * both + [1] * a_only + [0] * b_only + [0] * neither, dtype=float)
    b = np.array([1] * both + [0] * a_only + [1] * b_only + [0] * neither, dtype=float)
    return a, b


# ---------------------------------------------------------------- known values and references


@pytest.mark.parametrize("case", CASES["rate_literature"]["cases"], ids=lambda c: f"{c['successes']}/{c['n']}")
def test_rate_interval_matches_literature(case):
    x, n = case["successes"], case["n"]
    exact = stats.rate_interval(x, n, method="clopper-pearson")
    assert (exact.low, exact.high) == pytest.approx(case["exact"], abs=6e-5)
    card = stats.rate_interval(x, n)  # Wilson, with the exact bound on a side holding <= 3 outcomes
    low = case["exact"][0] if x <= stats.EXACT_EDGE_COUNT else case["wilson"][0]
    high = case["exact"][1] if n - x <= stats.EXACT_EDGE_COUNT else case["wilson"][1]
    assert (card.low, card.high) == pytest.approx([low, high], abs=6e-5)
    assert card.stderr == pytest.approx(math.sqrt(x / n * (1 - x / n) / n))


@pytest.mark.parametrize("case", CASES["rate_against_scipy"], ids=lambda c: f"{c['successes']}/{c['n']}@{c['level']}")
def test_rate_interval_matches_statsmodels(case):
    x, n, level = case["successes"], case["n"], case["level"]
    wilson = proportion_confint(x, n, alpha=1 - level, method="wilson")
    exact = proportion_confint(x, n, alpha=1 - level, method="beta")
    card = stats.rate_interval(x, n, level)
    assert card.low == pytest.approx(exact[0] if x <= stats.EXACT_EDGE_COUNT else wilson[0], abs=1e-10)
    assert card.high == pytest.approx(exact[1] if n - x <= stats.EXACT_EDGE_COUNT else wilson[1], abs=1e-10)
    cp = stats.rate_interval(x, n, level, method="clopper-pearson")
    assert (cp.low, cp.high) == pytest.approx(exact, abs=1e-10)


@pytest.mark.parametrize("case", CASES["mcnemar"], ids=lambda c: "-".join(str(v) for v in c.values()))
def test_mcnemar_matches_binomial_test_on_discordant_pairs(case):
    a, b = _paired_from_table(**case)
    expected = sps.binomtest(case["b_only"], case["a_only"] + case["b_only"], 0.5).pvalue
    result = stats.paired_binary(a, b)
    assert result.method == "mcnemar-newcombe"
    assert result.p_value == pytest.approx(expected, rel=1e-12)
    assert result.diff == pytest.approx((case["b_only"] - case["a_only"]) / len(a))
    assert result.low <= result.diff <= result.high


def test_newcombe_interval_on_paired_difference_matches_reference():
    case = CASES["newcombe_paired"]
    a, b = _paired_from_table(case["both"], case["a_only"], case["b_only"], case["neither"])
    result = stats.paired_binary(a, b)
    assert (result.diff, result.low, result.high) == pytest.approx((case["diff"], case["low"], case["high"]), abs=6e-5)
    flipped = stats.paired_binary(b, a)  # swapping the runs mirrors the interval
    assert (flipped.diff, flipped.low, flipped.high) == pytest.approx((-result.diff, -result.high, -result.low))


@pytest.mark.parametrize("case", CASES["holm"], ids=lambda c: str(c["p"]))
def test_holm_hand_examples(case):
    assert stats.holm(case["p"]) == pytest.approx(case["adjusted"], abs=1e-12)


def test_holm_matches_statsmodels():
    for seed in range(20):
        p = np.random.default_rng(seed).random(1 + seed) ** 3
        assert stats.holm(p) == pytest.approx(multipletests(p, method="holm")[1].tolist(), abs=1e-12)
    with pytest.raises(UserError):
        stats.holm([0.2, float("nan")])


# ---------------------------------------------------------------- rate coverage, exact


def test_rate_interval_coverage_exact_over_a_fine_grid():
    """Exact coverage (binomial probabilities over every outcome) of the card's 95% rate interval, for 201
    values of p in [0.01, 0.99] and n from 50 to 2000."""
    cells = []
    for n in GRID_NS:
        counts = np.arange(n + 1)
        low, high = stats.rate_bounds(counts, np.full(n + 1, n))
        assert np.all(np.diff(low) >= 0) and np.all(np.diff(high) >= 0)  # bounds rise with the count
        for p in GRID_PS:
            pmf = sps.binom.pmf(counts, n, p)
            cells.append((float(pmf[(low <= p) & (p <= high)].sum()), float(p), n))
    cells.sort()
    coverage = np.array([c[0] for c in cells])
    print(f"rate coverage over {len(cells)} cells: worst {cells[0][0]:.4f} at p={cells[0][1]} n={cells[0][2]}; "
          f"{(coverage < BAND[0]).sum()} below 0.93, {(coverage > BAND[1]).sum()} above 0.97, mean {coverage.mean():.4f}")
    assert cells[0][0] >= WORST_RATE_COVERAGE
    assert (coverage < BAND[0]).sum() <= 3 and abs(coverage.mean() - 0.95) < 0.005


def test_edge_rule_fixes_wilson_undercoverage_near_zero():
    """Plain Wilson misses p = 0.01 at n = 50 whenever 2 successes are seen (coverage 91%)."""
    counts = np.arange(51)
    pmf = sps.binom.pmf(counts, 50, 0.01)
    plain = pmf[proportion_confint(counts, 50, method="wilson")[0] <= 0.01].sum()
    card = pmf[stats.rate_bounds(counts, np.full(51, 50))[0] <= 0.01].sum()
    print(f"p=0.01 n=50: plain Wilson {plain:.4f}, card interval {card:.4f}")
    assert plain < 0.93 and card >= 0.95


# ---------------------------------------------------------------- clustered rates and means


def _clustered_rates(rng: np.random.Generator, clusters: int, size: int, p: float, rho: float) -> np.ndarray:
    """0/1 items in clusters with intra-cluster correlation about rho (a beta-binomial)."""
    a, b = p * (1 - rho) / rho, (1 - p) * (1 - rho) / rho
    return (rng.random((clusters, size)) < rng.beta(a, b, (clusters, 1))).astype(float).ravel()


def test_clustered_rate_interval_covers_where_plain_wilson_does_not():
    rng, reps, p = np.random.default_rng(21), 2000, 0.3
    clusters = stats.Clusters(np.repeat(np.arange(100), 4))
    plain = clustered = 0
    for _ in range(reps):
        x = _clustered_rates(rng, 100, 4, p, 0.3)
        iid = stats.rate_interval(int(x.sum()), x.size)
        plain += iid.low <= p <= iid.high
        iv = clustered_rate_interval(x, clusters)
        clustered += iv.low <= p <= iv.high
    print(f"clusters of 4, ICC 0.3: plain Wilson {plain / reps:.3f}, design-effect Wilson {clustered / reps:.3f}")
    assert plain / reps < 0.90 and BAND[0] <= clustered / reps <= BAND[1]


def test_weights_drawn_ahead_on_threads_are_those_drawn_one_by_one_and_are_cached():
    """compare draws the first pair's bootstrap weights on threads before using them: each matrix must be what its
    own seeded draw gives, and the later bootstrap_weights call must be a cache hit (the same object)."""
    from hhh_eval.stats.clusters import _weights, draw_counts, draw_weights_ahead

    grouped, other = stats.Clusters(np.repeat(np.arange(90), 3)), stats.Clusters(np.arange(200) % 70)
    draw_weights_ahead([grouped, other, grouped], seed=5, n_boot=300)
    hits = _weights.cache_info().hits
    for clusters in (grouped, other):
        w = clusters.bootstrap_weights(5, 300)
        alone = draw_counts(np.random.default_rng(5), clusters.n_clusters, 300, clusters.codes)
        assert w.dtype == np.float32 and np.array_equal(w, alone)
    assert _weights.cache_info().hits == hits + 2


def test_design_effect_is_one_for_singletons_and_grows_with_clustering():
    rng = np.random.default_rng(4)
    x = (rng.random(400) < 0.4).astype(float)
    assert design_effect(x, stats.Clusters.singletons(400)) == pytest.approx(1.0, abs=0.02)
    grouped = np.repeat((rng.random(100) < 0.4).astype(float), 4)  # clusters of 4 identical items
    assert design_effect(grouped, stats.Clusters(np.repeat(np.arange(100), 4))) == pytest.approx(4.0, rel=0.05)


@pytest.mark.parametrize(("n", "reps"), [(50, 1500), (200, 1500), (1000, 800)])
def test_mean_interval_coverage_on_beta_values(n, reps):
    a, b = 2.0, 5.0  # skewed per-item values in [0, 1], true mean 2/7
    rng = np.random.default_rng(1000 + n)
    hits = sum(_covers(stats.mean_interval(rng.beta(a, b, n), seed=rep, n_boot=1000), a / (a + b))
               for rep in range(reps))
    print(f"bootstrap mean coverage n={n}: {hits / reps:.3f} over {reps} seeded repetitions")
    assert BAND[0] <= hits / reps <= BAND[1]


def _covers(iv: stats.Interval, truth: float) -> bool:
    return iv.low <= truth <= iv.high


def test_cluster_bootstrap_mean_coverage():
    rng, reps, truth = np.random.default_rng(8), 800, 0.5
    clusters = stats.Clusters(np.repeat(np.arange(80), 5))
    hits = 0
    for rep in range(reps):
        centre = rng.beta(3, 3, 80)
        values = np.clip(np.repeat(centre, 5) + rng.normal(0, 0.05, 400), 0, 1)
        hits += _covers(stats.mean_interval(values, seed=rep, clusters=clusters, n_boot=1000), truth)
    print(f"cluster bootstrap mean coverage (80 clusters of 5): {hits / reps:.3f}")
    assert BAND[0] <= hits / reps <= BAND[1]


# ---------------------------------------------------------------- API edges


def test_rate_and_mean_interval_edge_cases():
    assert stats.rate_interval(0, 0) == stats.EMPTY
    assert stats.mean_interval([], seed=0) == stats.EMPTY
    one = stats.mean_interval([0.3], seed=0)
    assert (one.value, one.low, one.high, one.method) == (0.3, None, None, "none") and "no interval" in one.note
    for bad in [(5, 3), (-1, 3), (1.5, 3)]:
        with pytest.raises(UserError):
            stats.rate_interval(*bad)
    with pytest.raises(UserError, match="method"):
        stats.rate_interval(1, 3, method="wald")
    with pytest.raises(UserError, match="level"):
        stats.rate_interval(1, 3, level=95)
    with pytest.raises(UserError, match="NaN"):
        stats.mean_interval([0.1, float("nan")], seed=0)


def test_mean_interval_is_seeded_and_reports_stderr():
    values = np.random.default_rng(2).beta(2, 5, 300)
    first = stats.mean_interval(values, seed=1)
    assert first == stats.mean_interval(values, seed=1)
    assert first != stats.mean_interval(values, seed=2)
    assert first.value == pytest.approx(values.mean())
    assert first.stderr == pytest.approx(values.std(ddof=1) / math.sqrt(300), rel=0.1)
    assert first.low < first.value < first.high


def test_metric_interval_picks_rate_for_binary_and_bootstrap_otherwise():
    assert stats.metric_interval([1, 0, 1, 1, 0, 1, 1, 1], seed=0) == stats.rate_interval(6, 8)
    graded = stats.metric_interval([1, 0, 0.5, 1, 0.25], seed=0)
    assert graded.method == "bootstrap" and graded.value == pytest.approx(0.55)
    assert stats.metric_interval([], seed=0).method == "none"


def test_gate_rate_bounds_err_at_most_the_nominal_on_their_side():
    """The gate checks rates against the exact one-sided bound: over the grid its error stays <= 2.5%, where the
    card's Wilson bound (two-sided 95%) errs far more on one side at small counts."""
    from hhh_eval.stats.intervals import exact_one_sided

    worst_exact = worst_wilson = (0.0, None)
    for n in (20, 50, 100, 200):
        counts = np.arange(n + 1)
        wilson_low = stats.rate_bounds(counts, np.full(n + 1, n), method="wilson")[0]
        exact_low = np.array([exact_one_sided(x / n, n, upper=False) for x in counts])
        for p in np.linspace(0.005, 0.5, 200):
            pmf = sps.binom.pmf(counts, n, p)
            worst_exact = max(worst_exact, (float(pmf[exact_low > p].sum()), (p, n)))
            worst_wilson = max(worst_wilson, (float(pmf[wilson_low > p].sum()), (p, n)))
    print(f"one-sided error of the lower bound: exact {worst_exact}, card Wilson {worst_wilson}")
    assert worst_exact[0] <= 0.025 + 1e-12 and worst_wilson[0] > 0.06
