"""`hhh-eval power`: how many items a non-inferiority check of one task metric needs, before running it.

n = spread * (z_{1-alpha/2} + z_{power})^2 / margin^2 (hhh_eval/stats/power.py): the items for the paired 95%
interval to stay within the margin with the given power when the candidate is as good as the baseline. The
spread comes from the baseline card's per-item results when given (0/1 metrics: the discordance 2p(1-p) of
two independent runs at the baseline's rate p; other values: twice their variance: both are upper bounds
for checkpoints of one model, whose answers agree more than independent runs do), else the documented
worst case 0.5.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np

from hhh_eval.errors import UserError
from hhh_eval.registry import Registry, include_paths
from hhh_eval.runs import load_run
from hhh_eval.stats import CORPUS_METRICS, is_binary
from hhh_eval.stats.power import DEFAULT_DISCORDANCE, paired_items_needed, paired_mde


@dataclass(frozen=True)
class PowerPlan:
    task: str
    metric: str
    margin: float
    spread: float
    spread_source: str
    items_needed: int
    n_total: int | None
    mde_at_full_size: float | None


def _spread(baseline: str | None, task: str, metric: str) -> tuple[float, str, int | None]:
    """(spread, where it came from, the task's full size when known)."""
    if baseline is None:
        return DEFAULT_DISCORDANCE, "worst case 0.5 (no --baseline)", None
    run = load_run(baseline)
    if task not in run.card.tasks:
        raise UserError(f"the baseline card has no task {task}; pass a card that ran it (or drop --baseline)")
    values = run.task_scores(task).metrics.get(metric)
    if values is None or np.isnan(values).all():
        raise UserError(f"the baseline card has no per-item {metric} for {task}; pick one of its metrics with --metric")
    values = values[~np.isnan(values)]
    n_total = run.card.tasks[task].n_total
    if is_binary(values):
        p = float(values.mean())
        return 2 * p * (1 - p), f"discordance 2p(1-p) at the baseline's rate p={p:.3f}", n_total
    return 2 * float(values.var(ddof=1)), "twice the variance of the baseline's per-item values", n_total


def plan(task: str, margin: float, metric: str | None = None, baseline: str | None = None, suite: str = "hhh-core",
         power: float = 0.8, alpha: float = 0.05, registry: Registry | None = None) -> PowerPlan:
    """The items a non-inferiority check of `task`'s metric needs (see the module doc)."""
    registry = registry or Registry.build(include_paths())
    specs = registry.tasks
    if derived := registry.derived.get(task):
        raise UserError(f"{task} is a derived task (corpus metrics {', '.join(m.name for m in derived.metrics)}): "
                        f"power is planned for per-item metrics; pass --task with one of {', '.join(derived.sources)}")
    if task not in specs:
        raise UserError(f"unknown task '{task}'; known tasks: {', '.join(sorted(specs))}")
    if not 0 < margin < 1:
        raise UserError(f"--margin {margin} must be a difference of rates in (0, 1), e.g. 0.03")
    if not (0 < power < 1 and 0 < alpha < 1):
        raise UserError("--power and --alpha must lie in (0, 1), e.g. --power 0.8 --alpha 0.05")
    if metric is None:
        entry = next((e for es in registry.suite(suite).axes.values() for e in es if e.task == task), None)
        metric = entry.metric if entry else specs[task].metrics[0].name
    specs[task].metric(metric)
    if metric in CORPUS_METRICS:
        raise UserError(f"{metric} is a corpus metric: power is planned for per-item metrics; pass --metric with one "
                        f"of {', '.join(m.name for m in specs[task].metrics if m.kind != 'corpus')}")
    spread, source, n_total = _spread(baseline, task, metric)
    needed = paired_items_needed(margin, spread, alpha, power)
    full = paired_mde(n_total, spread, alpha, power) if n_total else None
    return PowerPlan(task, metric, margin, spread, source, needed, n_total, full)


def cli_power(args: argparse.Namespace) -> int:
    registry = Registry.build(include_paths(args.include_path))
    p = plan(args.task, args.margin, args.metric, args.baseline, args.suite, args.power, args.alpha, registry)
    print(f"{p.task} {p.metric}, margin {p.margin:g}, power {args.power:g}, alpha {args.alpha:g} (two-sided; "
          f"spread {p.spread:.4f}: {p.spread_source})")
    print(f"items needed: {p.items_needed}")
    if p.mde_at_full_size is not None:
        print(f"MDE at the full task size (n={p.n_total}): {p.mde_at_full_size:.4f}")
    return 0
