"""Intervals for one run's task metrics: rates, means, clustered rates and means.

- Rates (0/1 items): Wilson score interval, except that a bound whose side of the table holds at most
  EXACT_EDGE_COUNT outcomes is the exact Clopper-Pearson bound (plain Wilson under-covers next to 0 and 1;
  Brown, Cai and DasGupta 2001). "wilson". Exact coverage over 201 values of p in [0.01, 0.99] and n from 50
  to 2000 (tests/test_stats.py): mean 0.951, worst 0.927 (p = 0.055, n = 100, Wilson's own oscillation),
  2 of 1182 cells below 0.93. Clustered items (a task's `cluster_field`): the same interval on
  the effective sample size n / deff, deff = cluster-robust variance / binomial variance, at least 1
  (Korn and Graubard 1998's modification). "wilson-deff".
- Means of other per-item values in [0, 1]: the expanded percentile bootstrap (Hesterberg 2015), widened by
  t(k-1)/z * sqrt(k/(k-1)) over k resampling units (items, or clusters); "bootstrap" / "cluster-bootstrap".
  Fewer than MIN_MEAN_UNITS units give no interval ("none", with a note): no spread can be estimated.
Every bootstrap is seeded; the same inputs give the same interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hhh_eval.errors import UserError
from hhh_eval.stats.clusters import Clusters

EXACT_EDGE_COUNT = 3
MIN_MEAN_UNITS = 2
N_BOOT = 2000
LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided interval; value None when nothing was scored, bounds None when no
    interval can be computed (see `note`)."""

    value: float | None
    low: float | None
    high: float | None
    stderr: float | None
    method: str
    n: int
    note: str | None = None
    effective_n: float | None = None  # rates: the (design-effect) sample size behind the interval


EMPTY = Interval(None, None, None, None, "none", 0, "no scored items")


def z_value(level: float = LEVEL) -> float:
    from scipy import special
    return float(special.ndtri(0.5 + level / 2))


def check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise UserError(f"confidence level {level} is outside (0, 1); pass e.g. 0.95")


def as_values(values: np.ndarray | list[float], what: str = "values") -> np.ndarray:
    x = np.asarray(values, dtype=float)
    if x.ndim != 1:
        raise UserError(f"{what} must be a flat list of per-item numbers, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise UserError(f"{what} contains NaN or infinite values; drop unscored items before computing intervals")
    return x


def is_binary(x: np.ndarray) -> bool:
    """Whether every value is 0 or 1 (per-item rates: correct/incorrect, safe/unsafe)."""
    return bool(np.all((x == 0.0) | (x == 1.0)))


# ---------------------------------------------------------------- rates


def _wilson(x: np.ndarray, n: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Plain Wilson score bounds (vectorised; n > 0; x and n may be fractional, as effective counts are)."""
    z2 = z_value(level) ** 2
    p = x / n
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = np.sqrt(z2 * p * (1 - p) / n + z2 * z2 / (4 * n * n)) / (1 + z2 / n)
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def _clopper_pearson(x: np.ndarray, n: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact bounds from beta quantiles (vectorised; n > 0)."""
    from scipy import special
    alpha = 1 - level
    with np.errstate(invalid="ignore"):
        low = np.where(x == 0, 0.0, special.betaincinv(np.maximum(x, 1e-300), n - x + 1, alpha / 2))
        high = np.where(x == n, 1.0, special.betaincinv(x + 1, np.maximum(n - x, 1e-300), 1 - alpha / 2))
    return low, high


def rate_bounds(x: np.ndarray, n: np.ndarray, level: float = LEVEL,
                method: str = "wilson") -> tuple[np.ndarray, np.ndarray]:
    """Bounds for success counts x out of n (vectorised, n > 0): "wilson" (exact at the edges) or
    "clopper-pearson"."""
    x, n = np.asarray(x, dtype=float), np.asarray(n, dtype=float)
    exact_low, exact_high = _clopper_pearson(x, n, level)
    if method == "clopper-pearson":
        return exact_low, exact_high
    low, high = _wilson(x, n, level)
    return (np.where(x <= EXACT_EDGE_COUNT, exact_low, low),
            np.where(n - x <= EXACT_EDGE_COUNT, exact_high, high))


def upper_share_bound(k: int | float, n: int | float, level: float = LEVEL) -> float:
    """Exact one-sided upper bound (at (1 + level) / 2) on a share observed as k of n: how large the share of
    differing items could be when k of n differ."""
    return float(_clopper_pearson(np.array(float(k)), np.array(float(n)), level)[1])


def rate_interval(successes: int, n: int, level: float = LEVEL, method: str = "wilson") -> Interval:
    """Interval for a proportion successes/n: "wilson" (exact at the edges, see module doc) or "clopper-pearson"."""
    check_level(level)
    if method not in ("wilson", "clopper-pearson"):
        raise UserError(f"unknown rate interval method {method!r}; use wilson or clopper-pearson")
    if int(n) != n or int(successes) != successes or not 0 <= successes <= n:
        raise UserError(f"rate needs whole counts with 0 <= successes <= n, got {successes}/{n}")
    if n == 0:
        return EMPTY
    low, high = rate_bounds(np.array(successes), np.array(n), level, method)
    p = successes / n
    return Interval(p, float(low), float(high), math.sqrt(p * (1 - p) / n), method, int(n), effective_n=float(n))


def robust_variance(x: np.ndarray, clusters: Clusters, centre: float) -> float:
    """Cluster-robust variance of the mean of x about `centre`: G/(G-1) * sum over clusters of (sum of x -
    centre)^2 / n^2."""
    g = clusters.n_clusters
    sums = clusters.sums(x - centre)
    return g / max(g - 1, 1) * float(sums @ sums) / x.size ** 2


def design_effect(x: np.ndarray, clusters: Clusters) -> float:
    """Cluster-robust variance of the mean over its iid variance (at least 1; 1 without spread)."""
    n = x.size
    iid = float(x.var(ddof=1)) / n if n > 1 else 0.0
    if iid == 0.0 or clusters.n_clusters < 2:
        return 1.0
    return max(1.0, robust_variance(x, clusters, float(x.mean())) / iid)


def clustered_rate_interval(x: np.ndarray, clusters: Clusters, level: float = LEVEL) -> Interval:
    """Wilson (exact edges) on the effective sample n / deff; the plain rate interval without clusters."""
    if clusters.trivial:
        return rate_interval(int(x.sum()), x.size, level)
    deff = design_effect(x, clusters)
    n_eff = x.size / deff
    p = float(x.mean())
    low, high = rate_bounds(np.array(p * n_eff), np.array(n_eff), level)
    return Interval(p, float(low), float(high), math.sqrt(p * (1 - p) / n_eff), "wilson-deff", int(x.size),
                    effective_n=n_eff)


def exact_one_sided(value: float, effective_n: float, upper: bool, level: float = LEVEL) -> float:
    """The exact (Clopper-Pearson) one-sided bound at (1 + level) / 2 of a rate observed on effective_n items:
    what a release bound is checked against (its error is at most (1 - level) / 2 on that side, where the
    Wilson bound's reaches 7% at small counts)."""
    x, n = np.array(value * effective_n), np.array(effective_n)
    low, high = _clopper_pearson(x, n, level)
    return float(high if upper else low)


def newcombe(e: float, f: float, g: float, h: float, level: float = LEVEL) -> tuple[float, float]:
    """Newcombe (1998) method 10 bounds for P(b=1) - P(a=1) from the paired table (both 1, a only, b only,
    neither); cells may be fractional (effective counts)."""
    n = e + f + g + h
    pa, pb = (e + f) / n, (e + g) / n
    la, ua = (float(v) for v in _wilson(np.array(e + f), np.array(n), level))
    lb, ub = (float(v) for v in _wilson(np.array(e + g), np.array(n), level))
    cross = e * h - f * g
    corrected = cross - n / 2 if cross > n / 2 else min(cross, 0.0)
    margins = (e + f) * (g + h) * (e + g) * (f + h)
    phi = corrected / math.sqrt(margins) if margins > 0 else 0.0
    d = pb - pa
    below = math.sqrt(max((pb - lb) ** 2 - 2 * phi * (pb - lb) * (ua - pa) + (ua - pa) ** 2, 0.0))
    above = math.sqrt(max((pa - la) ** 2 - 2 * phi * (pa - la) * (ub - pb) + (ub - pb) ** 2, 0.0))
    return max(d - below, -1.0), min(d + above, 1.0)


# ---------------------------------------------------------------- means


def expansion(units: int, level: float = LEVEL) -> float:
    """Hesterberg's widening factor for the percentile interval of a mean over `units` resampling units."""
    from scipy import special
    return float(special.stdtrit(units - 1, 0.5 + level / 2)) / z_value(level) * math.sqrt(units / (units - 1))


def mean_interval(values: np.ndarray | list[float], seed: int, clusters: Clusters | None = None,
                  level: float = LEVEL, n_boot: int = N_BOOT) -> Interval:
    """Expanded percentile bootstrap of the mean, resampling items (or whole clusters); stderr from the same."""
    x = as_values(values)
    check_level(level)
    if x.size == 0:
        return EMPTY
    clusters = clusters or Clusters.singletons(x.size)
    m, units = float(x.mean()), clusters.n_clusters
    if units < MIN_MEAN_UNITS:
        return Interval(m, None, None, None, "none", x.size, f"{units} resampling unit(s): no interval")
    weights = clusters.bootstrap_weights(seed, n_boot)
    boot = weights @ x / weights.sum(axis=1)
    q_low, q_high = np.quantile(boot, [0.5 - level / 2, 0.5 + level / 2])
    k = expansion(units, level)
    low, high = max(m + k * (float(q_low) - m), float(x.min())), min(m + k * (float(q_high) - m), float(x.max()))
    method = "bootstrap" if clusters.trivial else "cluster-bootstrap"
    return Interval(m, low, high, float(boot.std(ddof=1)), method, x.size)


def metric_interval(values: np.ndarray | list[float], seed: int, clusters: Clusters | None = None,
                    level: float = LEVEL) -> Interval:
    """A card metric's interval from its scored per-item values: 0/1 values -> rate, else bootstrap."""
    x = as_values(values)
    if x.size and is_binary(x):
        return clustered_rate_interval(x, clusters or Clusters.singletons(x.size), level)
    return mean_interval(x, seed, clusters, level)
