"""Weighted sums of estimates (axis scores and axis differences) and multiple-comparison correction.

MOVER (Zou and Donner 2008; Zou 2008 for correlated estimates): the interval of sum_i c_i x_i is recovered
from each estimate's own interval (l_i, u_i): with e_i the distance from x_i to the bound that lowers the sum,

    low = sum c_i x_i - sqrt(sum_ij r_ij e_i e_j),

and likewise for the upper end. Each estimate keeps its own well-behaved interval (Wilson, Newcombe...), so a
one-task axis has exactly its task's interval and near-identical runs never get a zero-width axis interval.
r_ij is the correlation of the two estimates: 0 for tasks on different documents; for tasks that share
documents (TruthfulQA MC1/MC2/generation, calibration over MC1 items) it is estimated from a joint cluster
bootstrap (hhh_eval.stats.clusters.JointBootstrap); where a bootstrap shows no spread, the worst case 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hhh_eval.errors import UserError
from hhh_eval.stats.intervals import LEVEL, z_value


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float


def correlations(replicates: np.ndarray, groups: Sequence[str]) -> np.ndarray:
    """Correlation matrix of the estimates from bootstrap replicates (columns). Estimates in different groups
    (independently resampled namespaces) get 0; a column without spread gets the worst case 1 within its group."""
    k = replicates.shape[1]
    spread = replicates.std(axis=0) > 0
    r = np.eye(k)
    for i in range(k):
        for j in range(i + 1, k):
            if groups[i] != groups[j]:
                continue
            if spread[i] and spread[j]:
                r[i, j] = r[j, i] = float(np.corrcoef(replicates[:, i], replicates[:, j])[0, 1])
            else:
                r[i, j] = r[j, i] = 1.0
    return r


def mover(estimates: Sequence[Estimate], coefs: Sequence[float], corr: np.ndarray | None = None,
          clip: tuple[float, float] | None = None) -> Estimate:
    """The weighted sum of estimates with its MOVER interval (see module doc); corr defaults to independence."""
    c = np.asarray(coefs, dtype=float)
    x = np.array([e.value for e in estimates])
    lo = np.array([e.low for e in estimates])
    hi = np.array([e.high for e in estimates])
    r = np.eye(len(estimates)) if corr is None else corr
    signs = np.sign(c)
    r_eff = r * np.outer(signs, signs)  # the correlation of the terms c_i x_i
    down = np.abs(c) * np.where(c >= 0, x - lo, hi - x)
    up = np.abs(c) * np.where(c >= 0, hi - x, x - lo)
    point = float(c @ x)
    low = point - math.sqrt(max(float(down @ r_eff @ down), 0.0))
    high = point + math.sqrt(max(float(up @ r_eff @ up), 0.0))
    if clip is not None:
        low, high = max(low, clip[0]), min(high, clip[1])
    return Estimate(point, low, high)


def p_from_interval(estimate: Estimate, level: float = LEVEL) -> float:
    """Two-sided p-value of 0 consistent with the interval (Altman and Bland 2011): the half-width on the side
    of 0 gives the standard error; p < 1 - level exactly when the interval excludes 0."""
    from scipy import special
    d = estimate.value
    half = (d - estimate.low) if d >= 0 else (estimate.high - d)
    if half <= 0:
        return 1.0 if d == 0 else 0.0
    se = half / z_value(level)
    return float(special.erfc(abs(d) / (se * math.sqrt(2))))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in input order (tests check them against statsmodels)."""
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1 or not np.all((p >= 0) & (p <= 1)):
        raise UserError("holm needs a flat list of p-values in [0, 1]")
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adjusted
    return out.tolist()
