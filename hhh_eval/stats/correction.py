"""Rates corrected for judge error: the prevalence implied by a judge's measured sensitivity and specificity.

A judge with sensitivity se and specificity sp labels a share p = se * pi + (1 - sp) * (1 - pi) of the items
positive when the true share is pi, so pi = (p + sp - 1) / (se + sp - 1) (Rogan and Gladen 1978), clipped to
[0, 1]. The interval is Lang and Reiczigel's (2014): the Rogan-Gladen variance with the task's apparent rate
and the validation counts each adjusted Agresti-Coull style, plus their shift term, so it accounts for the
sampling error of the task AND of the validation set; tests/test_correction.py measures its coverage.
It assumes the judge errs on the task's answers as it did on the validation set's. A judge no better than
chance on the validation data (se + sp <= 1) gives no corrected rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hhh_eval.stats.intervals import LEVEL, z_value

METHOD = "rogan-gladen, lang-reiczigel interval"


@dataclass(frozen=True)
class JudgeAccuracy:
    """Validation counts of one binary outcome: positives found (of the human positives) and negatives kept."""

    true_positives: int
    positives: int
    true_negatives: int
    negatives: int

    @property
    def sensitivity(self) -> float:
        return self.true_positives / self.positives

    @property
    def specificity(self) -> float:
        return self.true_negatives / self.negatives


@dataclass(frozen=True)
class Corrected:
    value: float | None
    low: float | None
    high: float | None
    note: str | None = None


def _clip(x: float) -> float:
    return min(max(x, 0.0), 1.0)


def corrected_rate(positives: float, n: float, accuracy: JudgeAccuracy, level: float = LEVEL) -> Corrected:
    """The judge-error-corrected rate of `positives` judged positive among `n` items (n may be an effective,
    design-effect-adjusted count), with its interval; no value (and why) when it cannot be computed."""
    if accuracy.positives == 0 or accuracy.negatives == 0:
        return Corrected(None, None, None, "the validation set lacks human positives or negatives")
    youden = accuracy.sensitivity + accuracy.specificity - 1
    if youden <= 0:
        return Corrected(None, None, None, f"the judge is no better than chance on its validation data "
                         f"(sensitivity + specificity = {youden + 1:.3f} <= 1)")
    if n <= 0:
        return Corrected(None, None, None, "no scored items")
    value = _clip((positives / n + accuracy.specificity - 1) / youden)
    z = z_value(level)
    p = (positives + z * z / 2) / (n + z * z)
    n_se, n_sp = accuracy.positives + 2, accuracy.negatives + 2
    se, sp = (accuracy.true_positives + 1) / n_se, (accuracy.true_negatives + 1) / n_sp
    adjusted_youden = se + sp - 1
    if adjusted_youden <= 0:
        return Corrected(value, None, None, "too few validation items for an interval")
    est = (p + sp - 1) / adjusted_youden
    var_se, var_sp = se * (1 - se) / n_se, sp * (1 - sp) / n_sp
    spread = math.sqrt(p * (1 - p) / (n + z * z) + var_se * est ** 2 + var_sp * (1 - est) ** 2) / adjusted_youden
    centre = est + 2 * z * z * (est * var_se - (1 - est) * var_sp)
    low, high = _clip(centre - z * spread), _clip(centre + z * spread)
    return Corrected(value, min(low, value), max(high, value))
