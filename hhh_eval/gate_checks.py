"""The gate's checks, one function per kind; each returns checklist lines (hhh_eval.gate runs them).

A check whose statistic cannot be computed FAILs as "undecidable" with the reason: an unproven claim is
never a pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from hhh_eval.card import Card, Metric
from hhh_eval.comparison import PairComparison
from hhh_eval.policy import Bound, JudgeRequirement, NonInferiority, Superiority
from hhh_eval.stats import CORPUS_METRICS, MIN_CONTINUOUS_PAIRS, PairedResult, is_binary, power
from hhh_eval.stats.intervals import exact_one_sided

RATE_METHODS = ("wilson", "wilson-deff", "clopper-pearson")

Status = Literal["PASS", "FAIL", "SKIP"]
UNDECIDABLE = "undecidable: "


@dataclass(frozen=True)
class Check:
    """One line of the checklist (numbers as measured, None when they cannot be computed)."""

    kind: str  # task | judge | unscored | bound | non_inferiority | superiority
    subject: str
    measured: str
    threshold: str
    status: Status
    reason: str = ""
    value: float | None = None
    low: float | None = None
    high: float | None = None
    p: float | None = None
    method: str | None = None
    n: int | None = None
    mde: float | None = None  # minimum detectable effect at 80% power for this n (hhh_eval/stats/power.py)


def _fmt(x: float | None) -> str:
    return "null" if x is None else f"{x:.4g}"


def _interval_text(value: float | None, low: float | None, high: float | None) -> str:
    return f"{_fmt(value)} [{_fmt(low)}, {_fmt(high)}]"


# ---- requirements ---------------------------------------------------------------------------------------------


def check_task(card: Card, task: str) -> Check:
    """A required task is on the card and complete: every item, no --limit."""
    entry = card.tasks.get(task)
    need = "present, complete"
    if entry is None:
        return Check("task", task, "absent", need, "FAIL", "task not on the card; run it with the suite")
    measured = f"{entry.n}/{entry.n_total} items"
    if card.run.limit is not None:
        return Check("task", task, measured, need, "FAIL", f"run used --limit {card.run.limit}; run without it")
    if not entry.complete:
        return Check("task", task, measured, need, "FAIL", f"incomplete: {entry.n} of {entry.n_total} items; "
                     "finish the run")
    return Check("task", task, measured, need, "PASS")


def check_judge(card: Card, req: JudgeRequirement) -> Check:
    """Every judged task used the required judge (and version, when the policy names one)."""
    wanted = req.name + (f" v{req.version}" if req.version else "")
    used = {t: e.judge for t, e in card.tasks.items() if e.judge is not None}
    if not used:
        return Check("judge", "judged tasks", "no judged task", wanted, "FAIL",
                     f"no judged task on the card; the policy requires judge {wanted}")
    versions = {j: (card.judges[j].version if j in card.judges else "?") for j in used.values()}
    measured = ", ".join(sorted(f"{j} v{v}" for j, v in versions.items()))
    wrong = sorted(t for t, j in used.items() if j != req.name)
    if wrong:
        return Check("judge", "judged tasks", measured, wanted, "FAIL",
                     f"{', '.join(wrong)} judged by {used[wrong[0]]}, not {req.name}; re-judge with 'hhh-eval judge'")
    if req.version is not None and versions.get(req.name) != req.version:
        return Check("judge", "judged tasks", measured, wanted, "FAIL",
                     f"judge {req.name} is version {versions.get(req.name)}, the policy requires {req.version}")
    return Check("judge", "judged tasks", measured, wanted, "PASS")


def check_unscored(card: Card, task: str, max_share: float) -> Check:
    """The task's share of unscored items is at most max_share."""
    entry = card.tasks[task]
    threshold = f"<= {max_share:.1%} unscored"
    if entry.n == 0:
        return Check("unscored", task, "no items", threshold, "FAIL", UNDECIDABLE + "the task has no items")
    share = entry.n_unscored / entry.n
    measured = f"{share:.1%} ({entry.n_unscored} of {entry.n})"
    if share > max_share:
        return Check("unscored", task, measured, threshold, "FAIL", f"{entry.n_unscored} items unscored (judge or "
                     "scoring failures); fix the cause and re-run", value=share)
    return Check("unscored", task, measured, threshold, "PASS", value=share)


# ---- absolute bounds ------------------------------------------------------------------------------------------


class _Missing(Exception):
    """What a check needs is not on the card: the check FAILs with this reason."""


def _metric_of(entries: dict[str, Metric], metric: str, where: str) -> Metric:
    if metric not in entries:
        raise _Missing(f"no metric {metric} on {where} (it has {', '.join(sorted(entries)) or 'none'})")
    return entries[metric]


Target = tuple[str, float | None, float | None, float | None, str | None, Metric | None]


def _metric_target(subject: str, m: Metric, corrected: bool) -> Target:
    if not corrected:
        return subject, m.value, m.ci_low, m.ci_high, m.note, m
    if m.corrected is None:
        return subject + " (corrected)", None, None, None, "not a judged rate: no judge-error correction", None
    c = m.corrected
    return subject + " (corrected)", c.value, c.ci_low, c.ci_high, c.note, None


def _bound_targets(card: Card, b: Bound) -> list[Target]:
    """(subject, value, low, high, why no interval, metric) per thing the bound applies to; _Missing when absent."""
    if b.axis:
        axis = card.axes.get(b.axis)
        if axis is None:
            raise _Missing(f"axis {b.axis} not on the card")
        return [(b.subject, axis.score, axis.ci_low, axis.ci_high, None, None)]
    entry = card.tasks.get(b.task or "")
    if entry is None:
        raise _Missing(f"task {b.task} not on the card")
    if b.category is None:
        return [_metric_target(b.subject, _metric_of(entry.metrics, b.metric or "", f"task {b.task}"), b.corrected)]
    cats = entry.categories or {}
    if b.category != "*" and b.category not in cats:
        raise _Missing(f"category {b.category} not on task {b.task} (it has {', '.join(sorted(cats)) or 'none'})")
    if not cats:
        raise _Missing(f"task {b.task} has no per-category metrics")
    chosen = sorted(cats) if b.category == "*" else [b.category]
    out = []
    for c in chosen:
        m = _metric_of(cats[c], b.metric or "", f"{b.task} [{c}]")
        out.append(_metric_target(f"{b.task} {b.metric} [{c}]", m, b.corrected))
    return out


def _bound_threshold(b: Bound) -> str:
    if b.bound == "lower":
        return f"95% lower bound >= {_fmt(b.min)}"
    if b.bound == "upper":
        return f"95% upper bound <= {_fmt(b.max)}"
    return " and ".join(s for s in (b.min is not None and f"value >= {_fmt(b.min)}",
                                     b.max is not None and f"value <= {_fmt(b.max)}") if s)


def _bound_failure(b: Bound, value: float | None, low: float | None, high: float | None, why: str | None) -> str:
    """'' when the bound holds, else why not."""
    if value is None:
        return UNDECIDABLE + (why or "no value on the card (no scored item)")
    if b.bound != "point" and (low is None or high is None):
        return UNDECIDABLE + f"the card has no interval for it ({why or 'too few items'})"
    if b.bound == "lower":
        return f"lower 95% bound {_fmt(low)} is below {_fmt(b.min)}" if low < b.min else ""  # type: ignore
    if b.bound == "upper":
        return f"upper 95% bound {_fmt(high)} is above {_fmt(b.max)}" if high > b.max else ""  # type: ignore
    if b.min is not None and value < b.min:
        return f"value {_fmt(value)} is below {_fmt(b.min)}"
    if b.max is not None and value > b.max:
        return f"value {_fmt(value)} is above {_fmt(b.max)}"
    return ""


def _perfect_model_fails(b: Bound, metric: Metric | None) -> str:
    """'underpowered: ...' when even a perfect model could not meet this rate bound at the metric's n, else ''."""
    if metric is None or metric.ci_method not in RATE_METHODS or b.bound == "point" or metric.n == 0:
        return ""
    upper = b.bound == "upper"
    if upper == metric.higher_is_better:  # a bound a perfect model meets trivially (or the wrong way round)
        return ""
    threshold = b.max if upper else b.min
    best = power.perfect_bound(metric.n, upper)
    if (best <= threshold) if upper else (best >= threshold):  # type: ignore[operator]
        return ""
    needed = power.perfect_items_needed(threshold, upper)  # type: ignore[arg-type]
    return (f"underpowered: even a perfect model's 95% bound is {_fmt(best)} at n={metric.n}; needs about "
            f"{needed} items")


def check_bound(card: Card, b: Bound) -> list[Check]:
    """One check per target of the bound (several for category '*')."""
    threshold = _bound_threshold(b)
    try:
        targets = _bound_targets(card, b)
    except _Missing as exc:
        return [Check("bound", b.subject, "absent", threshold, "FAIL", str(exc))]
    checks = []
    for subject, value, low, high, why, metric in targets:
        mde = None if low is None or high is None else power.mde((high - low) / 2)
        measured, method = _interval_text(value, low, high), None
        if metric is not None and metric.effective_n and value is not None and b.bound != "point":
            # a rate: checked against its exact one-sided bound (Wilson's errs up to 7% on one side)
            exact = exact_one_sided(value, metric.effective_n, upper=b.bound == "upper")
            low, high = (exact, high) if b.bound == "lower" else (low, exact)
            measured, method = f"{measured}; exact one-sided bound {_fmt(exact)}", "exact one-sided"
        failure = _bound_failure(b, value, low, high, why)
        if failure and (underpowered := _perfect_model_fails(b, metric)):
            failure = f"{underpowered} ({failure})"
        checks.append(Check("bound", subject, measured, threshold, "FAIL" if failure else "PASS", failure, value,
                            low, high, method=method, mde=mde))
    return checks


# ---- paired checks against a baseline ------------------------------------------------------------------------


def _paired(pair: PairComparison, rule: NonInferiority | Superiority) -> tuple[PairedResult, bool]:
    """The paired result of the rule's subject and whether higher is better (_Missing when it is absent)."""
    if rule.axis:
        if rule.axis not in pair.base.card.axes or rule.axis not in pair.other.card.axes:
            raise _Missing(f"axis {rule.axis} not on both cards")
        return pair.axis(rule.axis).result, True
    for card, role in ((pair.other.card, "candidate"), (pair.base.card, "baseline")):
        if rule.task not in card.tasks:
            raise _Missing(f"task {rule.task} not on the {role} card")
        _metric_of(card.tasks[rule.task].metrics, rule.metric or "", f"the {role}'s task {rule.task}")
    mc = pair.metric(rule.task or "", rule.metric or "")
    return mc.result, mc.higher_is_better


def _paired_threshold(kind: str, margin: float, higher: bool, direction: str) -> tuple[str, float, str]:
    """(text, limit, side): the interval end ('low' or 'high') that must clear the limit."""
    worse_sign = -1.0 if higher else 1.0  # the sign of d when the candidate is worse
    if kind == "non_inferiority":
        side = "low" if higher else "high"
        limit = worse_sign * margin
    else:
        sign = worse_sign if direction == "worse" else -worse_sign
        limit = sign * margin
        side = "high" if limit < 0 else "low"
    op = ">=" if side == "low" else "<="
    return f"d 95% CI {side} {op} {_fmt(limit)}", limit, side


@dataclass(frozen=True)
class _Identical:
    """How far below 0 the interval of a candidate identical to its baseline reaches at n paired items, and
    the fewest items the metric's paired test takes at all."""

    half: Callable[[float], float]
    minimum: int

    def needed(self, margin: float, n: int) -> int | None:
        found = power.smallest_n(lambda m: self.half(m) <= margin, n)
        return None if found is None else max(found, self.minimum)


def _identical(pair: PairComparison, task: str, metric: str) -> _Identical | None:
    if metric in CORPUS_METRICS:
        spec = CORPUS_METRICS[metric]
        return None if spec.interval == "none" else _Identical(
            lambda n: power.identical_half_width("corpus", n, sensitivity=spec.sensitivity), MIN_CONTINUOUS_PAIRS)
    values = pair.base.task_scores(task).metrics.get(metric)
    if values is None:
        return None
    if is_binary(values[~np.isnan(values)]):
        rate = pair.base.card.tasks[task].metrics[metric].value
        return _Identical(lambda n: power.identical_half_width("binary", n, rate), 1)
    return _Identical(lambda n: power.identical_half_width("continuous", n), MIN_CONTINUOUS_PAIRS)


def _identical_fails(pair: PairComparison, rule: NonInferiority, n: int) -> str:
    """'underpowered: ...' when even a candidate identical to the baseline would fail this check, else ''."""
    if rule.axis:
        return _identical_axis_fails(pair, rule)
    model = _identical(pair, rule.task or "", rule.metric or "")
    n = max(n, 1)
    if model is None or (model.half(n) <= rule.margin and n >= model.minimum):
        return ""
    needed = model.needed(rule.margin, n)
    return "" if needed is None else (f"underpowered: a candidate identical to the baseline would fail too at "
                                      f"n={n}; needs about {needed} paired items")


def _identical_axis_fails(pair: PairComparison, rule: NonInferiority) -> str:
    """The axis version: the tasks' identical-model half-widths added up (the worst case, fully correlated)."""
    tasks = pair.axis(rule.axis or "").tasks
    weights = pair.base.card.axes[rule.axis].weights  # type: ignore[index]
    total = sum(weights[t] for t in tasks)
    parts = []
    for t in tasks:
        headline = pair.base.card.tasks[t].headline
        model = _identical(pair, t, headline)
        if model is None:
            return ""
        parts.append((100 * weights[t] / total, model, max(pair.metric(t, headline).result.n, 1)))
    def width(k: float) -> float:
        return sum(c * model.half(k * n) for c, model, n in parts)
    if width(1.0) <= rule.margin:
        return ""
    scale = power.smallest_n(lambda k: width(k) <= rule.margin, 1.0)
    return "" if scale is None else (f"underpowered: a candidate identical to the baseline would reach "
                                     f"{_fmt(-width(1.0))} points; needs about {scale}x the items "
                                     f"({scale * sum(n for _, _, n in parts)} paired items)")


def paired_check(pair: PairComparison | None, rule: NonInferiority | Superiority, kind: str) -> Check:
    """A non-inferiority or superiority check of the rule's subject against the baseline."""
    direction = getattr(rule, "direction", "worse")
    if pair is None:
        return Check(kind, rule.subject, "no baseline", "needs --baseline", "SKIP", "no --baseline given")
    try:
        result, higher = _paired(pair, rule)
    except _Missing as exc:
        return Check(kind, rule.subject, "absent", "", "FAIL", str(exc))
    threshold, limit, side = _paired_threshold(kind, rule.margin, higher, direction)
    measured = f"d {_interval_text(result.diff, result.low, result.high)}, {result.n} paired items"
    if result.spread is not None:
        measured += f", {'discordance' if result.method.startswith(('mcnemar', 'obuchowski')) else 'sd'} " \
                    f"{_fmt(result.spread)}"
    def underpowered() -> str:  # only asked for a check that fails: it searches n
        return _identical_fails(pair, rule, result.n) if kind == "non_inferiority" else ""  # type: ignore[arg-type]

    if not result.tested:
        reason = underpowered() or UNDECIDABLE + str(result.note)
        return Check(kind, rule.subject, measured, threshold, "FAIL", reason, result.diff, method=result.method,
                     n=result.n)
    end = result.low if side == "low" else result.high
    ok = end >= limit if side == "low" else end <= limit  # type: ignore[operator]
    reason = "" if ok else f"the {side} end {_fmt(end)} of d's 95% interval does not clear {_fmt(limit)}"
    if not ok and (why := underpowered()):
        reason = f"{why} ({reason})"
    return Check(kind, rule.subject, measured + f", MDE {_fmt(result.mde)}", threshold, "PASS" if ok else "FAIL",
                 reason, result.diff, result.low, result.high, result.p_value, result.method, result.n, result.mde)
