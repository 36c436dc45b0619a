"""Paired differences between two runs on the same items: diff = mean(b - a), its interval and a p-value.

- Both 0/1 ("mcnemar-newcombe"): exact McNemar p-value (binomial test on the discordant pairs) with Newcombe's
  (1998, method 10) square-and-add interval, which never collapses to zero width: with no discordant pair it
  still spans what the sample size allows. Clustered items ("obuchowski-newcombe-deff"): Obuchowski's (1998)
  clustered McNemar statistic, and Newcombe's interval on the table scaled down by the design effect.
- Other per-item values in [0, 1] ("paired-t"): the paired t interval (cluster-robust standard error with
  G - 1 degrees of freedom when clustered). At least MIN_CONTINUOUS_PAIRS pairs, else no test: on strongly
  skewed differences the t-test (like the bootstrap-t) rejects 8-11% at n = 10-20 instead of 5%; at n = 50
  it rejects 6.5% (centred Beta(0.5, 4) differences, tests/test_paired.py), near 5% for symmetric ones. With at most SIGN_FLIP_MAX differing units
  the p-value is the exact sign-flip permutation test over them (the t-test is badly discrete there).
  With fewer than FEW_DIFFERING differing units the interval is widened to +-u, u the exact upper bound on
  the share of differing units (|b - a| <= 1), so near-identical runs never get a zero-width interval
  ("paired-t+bound").
- Corpus metrics (weighted F1, calibration error; "paired-bootstrap"): a normal interval with the standard
  error of a paired (cluster) bootstrap of metric(b) - metric(a), widened the same way when few items differ.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from hhh_eval.stats.clusters import Clusters
from hhh_eval.stats.corpus import CORPUS_METRICS, Predictions, corpus_value, remembered_statistics
from hhh_eval.stats.intervals import (LEVEL, N_BOOT, design_effect, is_binary, newcombe, robust_variance,
                                      upper_share_bound, z_value)
from hhh_eval.stats.power import mde

MIN_CONTINUOUS_PAIRS = 30
FEW_DIFFERING = 5
SIGN_FLIP_MAX = 12


@dataclass(frozen=True)
class PairedResult:
    """mean(b - a) on the paired items with its interval and two-sided p-value (None: not testable, see note).

    spread: what power depends on: the share of discordant pairs (binary) or the standard deviation of the
    differences (continuous values); None for corpus metrics.
    """

    diff: float | None
    low: float | None
    high: float | None
    p_value: float | None
    method: str
    n: int
    n_differing: int
    spread: float | None = None
    note: str | None = None

    @property
    def tested(self) -> bool:
        return self.low is not None

    @property
    def mde(self) -> float | None:
        """Minimum detectable effect at 80% power (two-sided 5%), from the interval's half-width."""
        return None if self.low is None or self.high is None else mde((self.high - self.low) / 2)


def untested(n: int, note: str, diff: float | None = None, n_differing: int = 0) -> PairedResult:
    return PairedResult(diff, None, None, None, "none", n, n_differing, None, note)


# ---------------------------------------------------------------- 0/1 outcomes


def mcnemar_p(f: np.ndarray | float, g: np.ndarray | float) -> np.ndarray:
    """Two-sided exact McNemar p-values from discordant counts (vectorised)."""
    from scipy import special
    f, g = np.asarray(f, dtype=float), np.asarray(g, dtype=float)
    m = f + g
    p = np.minimum(1.0, 2.0 * special.bdtr(np.minimum(f, g), np.maximum(m, 1), 0.5))
    return np.where(m == 0, 1.0, p)


def _table(a: np.ndarray, b: np.ndarray) -> tuple[int, int, int, int]:
    both, a_only = int(np.sum((a == 1) & (b == 1))), int(np.sum((a == 1) & (b == 0)))
    b_only = int(np.sum((a == 0) & (b == 1)))
    return both, a_only, b_only, a.size - both - a_only - b_only


def paired_binary(a: np.ndarray, b: np.ndarray, clusters: Clusters | None = None,
                  level: float = LEVEL) -> PairedResult:
    """0/1 outcomes of the same items in two runs (see module doc)."""
    e, f, g, h = _table(a, b)
    n, d = a.size, (g - f) / a.size
    if n == 0:
        return untested(0, "no paired items")
    spread = (f + g) / n
    if clusters is None or clusters.trivial:
        low, high = newcombe(e, f, g, h, level)
        return PairedResult(d, low, high, float(mcnemar_p(f, g)), "mcnemar-newcombe", n, f + g, spread)
    diffs = b - a
    uncentred = robust_variance(diffs, clusters, 0.0)
    p = 1.0 if f + g == 0 else float(math.erfc(abs(d) / math.sqrt(2 * uncentred)))
    deff = design_effect(diffs, clusters)
    low, high = newcombe(e / deff, f / deff, g / deff, h / deff, level)
    return PairedResult(d, low, high, p, "obuchowski-newcombe-deff", n, f + g, spread)


# ---------------------------------------------------------------- other per-item values


def sign_flip_p(unit_sums: np.ndarray) -> float:
    """Exact two-sided sign-flip permutation p-value of sum(unit_sums) = 0 (few nonzero units)."""
    nonzero = unit_sums[unit_sums != 0]
    if nonzero.size == 0:
        return 1.0
    signs = np.array(list(itertools.product((1.0, -1.0), repeat=nonzero.size)))
    totals = np.abs(signs @ nonzero)
    return float(np.mean(totals >= abs(nonzero.sum()) * (1 - 1e-12)))


def _few_differing_bound(n_differing: int, units: int, level: float) -> float | None:
    """+-u for near-identical runs: u bounds the share of differing units (each moves the mean by <= 1)."""
    return upper_share_bound(n_differing, units, level) if n_differing < FEW_DIFFERING else None


def paired_continuous(a: np.ndarray, b: np.ndarray, clusters: Clusters | None = None,
                      level: float = LEVEL) -> PairedResult:
    """Per-item values in [0, 1] of the same items in two runs (see module doc)."""
    from scipy import special
    d = b - a
    n = d.size
    clusters = clusters or Clusters.singletons(n)
    unit_sums = clusters.sums(d)
    differing, units = int(np.count_nonzero(unit_sums)), clusters.n_clusters
    mean = float(d.mean()) if n else None
    if units < MIN_CONTINUOUS_PAIRS:
        return untested(n, f"{units} paired units; a paired test of non-0/1 values needs at least "
                           f"{MIN_CONTINUOUS_PAIRS}", mean, differing)
    se = math.sqrt(robust_variance(d, clusters, mean))
    half = float(special.stdtrit(units - 1, 0.5 + level / 2)) * se
    low, high = mean - half, mean + half
    if differing <= SIGN_FLIP_MAX:
        p = sign_flip_p(unit_sums)
    else:
        p = float(2 * special.stdtr(units - 1, -abs(mean) / se)) if se > 0 else 1.0
    method = "paired-t" if clusters.trivial else "paired-t-cluster"
    if (bound := _few_differing_bound(differing, units, level)) is not None:
        low, high, method = min(low, -bound), max(high, bound), method + "+bound"
    return PairedResult(mean, max(low, -1.0), min(high, 1.0), p, method, n, differing, float(d.std(ddof=1)))


def paired_values(a: np.ndarray, b: np.ndarray, clusters: Clusters | None = None,
                  level: float = LEVEL) -> PairedResult:
    """The paired test for per-item values: binary when both runs' values are 0/1, else continuous."""
    if a.size and is_binary(a) and is_binary(b):
        return paired_binary(a, b, clusters, level)
    return paired_continuous(a, b, clusters, level)


# ---------------------------------------------------------------- corpus metrics


def paired_corpus(name: str, a: Predictions, b: Predictions, seed: int, clusters: Clusters | None = None,
                  level: float = LEVEL, n_boot: int = N_BOOT) -> PairedResult:
    """metric(b) - metric(a) on the same items, items (clusters) resampled together in both runs."""
    metric, n = CORPUS_METRICS[name], len(a)
    if metric.interval == "none":
        return untested(n, f"{name} is reported without an interval ({metric.estimator})")
    clusters = clusters or Clusters.singletons(n)
    changed = (a.pred != b.pred) | (a.confidence != b.confidence)
    differing = int(np.count_nonzero(clusters.sums(changed.astype(float))))
    diff = corpus_value(name, b) - corpus_value(name, a) if n else None
    if clusters.n_clusters < MIN_CONTINUOUS_PAIRS:
        return untested(n, f"{clusters.n_clusters} paired units; a paired test of {name} needs at least "
                           f"{MIN_CONTINUOUS_PAIRS}", diff, differing)
    w = clusters.bootstrap_weights(seed, n_boot)
    boot_b, boot_a = remembered_statistics(name, w, [b, a])  # the baseline's, and cards computed ahead, remembered
    boot = boot_b - boot_a
    se = float(boot.std(ddof=1))
    half = z_value(level) * se
    low, high = diff - half, diff + half
    p = float(math.erfc(abs(diff) / (se * math.sqrt(2)))) if se > 0 else 1.0
    method = "paired-bootstrap" if clusters.trivial else "paired-cluster-bootstrap"
    if (share := _few_differing_bound(differing, clusters.n_clusters, level)) is not None:
        bound = metric.sensitivity(share)
        low, high, method = min(low, -bound), max(high, bound), method + "+bound"
    return PairedResult(diff, max(low, -1.0), min(high, 1.0), p, method, n, differing)
