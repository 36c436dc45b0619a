"""Power: the minimum detectable effect of a test at its sample size, and the items a check needs.

- Minimum detectable effect (MDE) at 80% power, two-sided alpha 0.05: (z_{1-alpha/2} + z_{power}) * se, the
  true difference a test of that standard error finds 80% of the time (se from the interval's half-width).
- Paired checks need n = spread * (z_{1-alpha/2} + z_{power})^2 / margin^2 items to show a difference within
  the margin 80% of the time when the candidate is as good as the baseline: spread is the discordance (the
  share of items whose 0/1 outcome changes; Connor 1987 at no true difference) or the variance of per-item
  differences. Without a measured spread, the conservative default is that of two independent runs of the
  same rate at its worst case: discordance 0.5, variance 0.5 (values in [0, 1]).
- Bounds: a rate bound that even a perfect model (no failure at all) cannot meet at this n is underpowered;
  the n a perfect model needs comes from the exact (Clopper-Pearson) bound at zero failures.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from hhh_eval.stats.intervals import LEVEL, newcombe, upper_share_bound, z_value

POWER = 0.8
ALPHA = 0.05
DEFAULT_DISCORDANCE = 0.5


def z_sum(alpha: float = ALPHA, power: float = POWER) -> float:
    from scipy import special
    return z_value(1 - alpha) + float(special.ndtri(power))


def mde(half_width: float, level: float = LEVEL, power: float = POWER) -> float:
    """Minimum detectable effect of a test whose interval at `level` has this half-width."""
    return half_width / z_value(level) * z_sum(1 - level, power)


def paired_items_needed(margin: float, spread: float, alpha: float = ALPHA, power: float = POWER) -> int:
    """Items for a paired check within `margin` to pass with `power` when there is no true difference."""
    if margin <= 0:
        raise ValueError("margin must be positive")
    return max(1, math.ceil(spread * z_sum(alpha, power) ** 2 / margin ** 2))


def paired_mde(n: int, spread: float, alpha: float = ALPHA, power: float = POWER) -> float:
    """The difference a paired test of n items detects with `power` (same normal approximation)."""
    return z_sum(alpha, power) * math.sqrt(spread / n) if n else math.inf


def perfect_items_needed(threshold: float, upper: bool, level: float = LEVEL) -> int:
    """Items a perfect model needs for its exact bound to clear a rate threshold: for an upper bound (`max`)
    with zero positives, 1 - ((1 - level) / 2)^(1/n) <= threshold; for a lower bound (`min`), with every item
    positive, ((1 - level) / 2)^(1/n) >= threshold."""
    tail = (1 - level) / 2
    limit = threshold if upper else 1 - threshold
    if limit >= 1:
        return 1
    if limit <= 0:
        return math.inf  # type: ignore[return-value]
    return math.ceil(math.log(tail) / math.log(1 - limit))


def perfect_bound(n: int, upper: bool, level: float = LEVEL) -> float:
    """The exact bound a perfect model gets at n items (upper bound at 0 positives, lower at n of n)."""
    edge = 1 - ((1 - level) / 2) ** (1 / n)
    return edge if upper else 1 - edge


def smallest_n(ok: Callable[[float], bool], start: float, limit: float = 1e8) -> int | None:
    """The smallest n >= start with ok(n) (ok grows with n), by doubling then bisection; None past limit."""
    low, high = max(start, 1.0), max(start, 1.0)
    while not ok(high):
        low, high = high, high * 2
        if high > limit:
            return None
    while high - low > 1:
        mid = math.floor((low + high) / 2)
        low, high = (low, mid) if ok(mid) else (mid, high)
    return math.ceil(high)


def identical_half_width(kind: str, n: float, rate: float | None = None,
                         sensitivity: Callable[[float], float] | None = None, level: float = LEVEL) -> float:
    """How far below 0 the paired interval of a candidate identical to its baseline reaches at n paired items:
    Newcombe's interval at no discordance (0/1 metrics, baseline rate `rate`), the bound on the share of
    differing items (other values), or the corpus metric's `sensitivity` to that share."""
    if kind == "binary":
        p = min(max(rate or 0.0, 0.0), 1.0)
        return -newcombe(p * n, 0.0, 0.0, (1 - p) * n, level)[0]
    share = upper_share_bound(0, n, level)
    return sensitivity(share) if sensitivity else share
