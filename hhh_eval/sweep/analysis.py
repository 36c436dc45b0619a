"""The sweep report's numbers and figures: the only place it calls compare, plots and gate.

Paired comparisons with the baseline come from hhh_eval.compare (built on hhh_eval.comparison), and each
point's gate from hhh_eval.gate.gate_card: the sweep report prints the same numbers as `hhh-eval compare` and
`hhh-eval gate` for the same pair of cards. A point's gate is computed in the worker that compared it with the
baseline, from the same cached tests.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from hhh_eval.card import Card
from hhh_eval.errors import UserError
from hhh_eval.policy import Policy
from hhh_eval.registry import AXES
from hhh_eval.runs import RunData

if TYPE_CHECKING:
    from hhh_eval.comparison import PairComparison


@dataclass(frozen=True)
class PairedComparison:
    """Every point against the baseline: the report (markdown, JSON) and per point (regressions, improvements)."""

    markdown: str
    json: dict[str, Any]
    counts: dict[str, tuple[int, int]]


@dataclass(frozen=True)
class GateOutcome:
    verdict: str  # PASS | FAIL
    markdown: str
    json: dict[str, Any]


GateOrWhy = GateOutcome | str  # a point's gate, or why it was not gated


def compare_and_gate(baseline: RunData, others: list[RunData],
                     policy: Policy | None) -> tuple[PairedComparison, list[GateOrWhy]]:
    """Paired, Holm-corrected comparison of each point with the baseline (hhh_eval.compare) and, under a policy,
    each point's gate, computed in the same worker from the same paired tests."""
    from hhh_eval.compare import compare_runs_with, summary, to_markdown

    report, gates = compare_runs_with(others, baseline, partial(_gate_pair, policy) if policy else None)
    counts = {label: (s["regressions"], s["improvements"]) for label, s in summary(report.rows).items()}
    return PairedComparison(to_markdown(report), report.to_json(), counts), gates


def _gate_pair(policy: Policy, pair: PairComparison) -> GateOrWhy:
    return gate_or_why(policy, pair.other, pair.base, pair)


def axis_score(card: Card, axis: str) -> tuple[float, float, float]:
    """(score, low, high) of an axis on a card, NaN where the card has none."""
    entry = card.axes.get(axis)  # type: ignore[call-overload]
    values = (entry.score, entry.ci_low, entry.ci_high) if entry else (None, None, None)
    return tuple(math.nan if v is None else float(v) for v in values)  # type: ignore[return-value]


def frontier(cards: list[Card], names: list[str]) -> list[str]:
    """Points no other point beats on both helpfulness and harmlessness (hhh_eval.plots.pareto_frontier)."""
    from hhh_eval.plots import pareto_frontier

    both = [(n, axis_score(c, "helpfulness")[0], axis_score(c, "harmlessness")[0]) for c, n in zip(cards, names)]
    both = [b for b in both if not (math.isnan(b[1]) or math.isnan(b[2]))]
    return [both[i][0] for i in pareto_frontier([(h, s) for _, h, s in both])]


def figures(cards: list[Card], names: list[str], x: str | None, trend_tasks: list[str]) -> dict[str, bytes]:
    """PNG and SVG bytes by file name, drawn on forked workers: trends against x with 95% bands (points carrying
    the x label), the helpfulness-vs-harmlessness Pareto plot, per-category heatmaps (BeaverTails harm) and axis
    scores."""
    from hhh_eval import plots

    jobs = [plots.FigureJob("axis_scores", plots.axis_scores_figure, (cards, names))]
    with_x = [c for c in cards if x is None or x in c.run.labels]
    if len(with_x) > 1:
        xs, title = plots.x_values(with_x, None, x)
        jobs.append(plots.FigureJob("trends", plots.trends_figure, (with_x, xs, title, trend_tasks)))
    if len(cards) > 1:
        jobs.append(plots.FigureJob("pareto", plots.pareto_figure, (cards, names)))
    jobs += [plots.FigureJob(f"categories_{task}", plots.categories_figure, (cards, names, task))
             for task in plots.category_tasks(cards)]
    return plots.render_jobs(jobs)


def gate_point(policy: Policy, cand: RunData, base: RunData | None,
               pair: PairComparison | None = None) -> GateOutcome:
    """The release gate on one point (hhh_eval.gate), against the sweep's baseline (None for the baseline);
    `pair`: the point's comparison with the baseline, with its tests done."""
    from hhh_eval import gate

    result = gate.gate_card(policy, cand, base, pair)
    header = {"model": cand.card.model.name, "run": cand.name, "policy": policy.name,
              "baseline": base.name if base else "none (this is the sweep's baseline)"}
    return GateOutcome(result.verdict, gate.render_markdown(result, header),
                       {**header, "verdict": result.verdict, "checks": [asdict(c) for c in result.checks]})


def gate_or_why(policy: Policy, cand: RunData, base: RunData | None,
                pair: PairComparison | None = None) -> GateOrWhy:
    """gate_point, or "not gated: <why>" when the inputs do not allow it."""
    outcome, error = safe(gate_point, policy, cand, base, pair)
    return outcome or f"not gated: {error}"


def best_point(cards: dict[str, Card], passed: list[str], objective: str) -> str | None:
    """The passing point with the highest objective axis score (ties: the other axes in order); None if none."""
    order = [objective, *(a for a in AXES if a != objective)]

    def rank(name: str) -> tuple[float, ...]:
        return tuple(-math.inf if math.isnan(v := axis_score(cards[name], a)[0]) else v for a in order)

    scored = [n for n in passed if not math.isnan(axis_score(cards[n], objective)[0])]
    return max(scored, key=rank) if scored else None


def not_gated_reason(policy: Policy, baseline_done: bool) -> str | None:
    """Why no point can be gated: the policy's non-inferiority checks need the baseline's card."""
    if (policy.non_inferiority or policy.superiority) and not baseline_done:
        return "not gated: the baseline point has no card (its non-inferiority checks need one)"
    return None


def safe(call: Any, *args: Any) -> tuple[Any, str | None]:
    """(result, None), or (None, the UserError's message) when the inputs do not allow the call."""
    try:
        return call(*args), None
    except UserError as exc:
        return None, str(exc)
