"""Axis scores: the weighted mean of the axis's task scores, with a MOVER interval built from the tasks' own
intervals and their correlations (hhh_eval.stats.combine). Tasks on different datasets are independent; tasks
that share documents (TruthfulQA MC1, MC2 and generation; calibration over MC1 items) are correlated, and their
correlation is estimated by resampling the shared documents jointly (a cluster bootstrap by document)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np

from hhh_eval.card import AxisResult, ItemScore, TaskResult
from hhh_eval.registry import SuiteSpec
from hhh_eval.scoring.items import predictions, scored_values
from hhh_eval.stats import CORPUS_METRICS, Estimate, correlations, mover
from hhh_eval.stats.clusters import joint_bootstrap, namespace_of

N_BOOT_CORRELATION = 500
Statistic = Callable[[np.ndarray], np.ndarray]  # item weights (B, n) -> statistic per row (B,)


def headline_statistic(task: TaskResult, rows: Sequence[ItemScore]) -> tuple[list[str], Statistic]:
    """The cluster keys of the items the task's headline uses, and its 0-100 score for rows of item weights."""
    metric = task.metrics[task.headline]
    sign = 1.0 if metric.higher_is_better else -1.0
    offset = 0.0 if metric.higher_is_better else 100.0
    if task.headline in CORPUS_METRICS:
        preds, keys = predictions(rows)
        statistic = CORPUS_METRICS[task.headline].statistic
        return keys, lambda w: offset + sign * 100 * statistic(w, preds)
    values, keys = scored_values(rows, task.headline)
    return keys, lambda w: offset + sign * 100 * (w @ values) / np.maximum(w.sum(axis=1), 1e-12)


@lru_cache(maxsize=64)
def namespaces(keys: tuple[str, ...]) -> frozenset[str]:
    """The namespaces of cluster keys (cached: every card of a comparison has the same tasks' keys)."""
    return frozenset(namespace_of(k) for k in keys)


def linked_groups(keys_by_task: dict[str, list[str]]) -> dict[str, str]:
    """A group label per task: tasks that share a namespace, directly or through other tasks, share the label."""
    parent: dict[str, str] = {}

    def find(node: str) -> str:
        while parent[node] != node:
            node = parent[node]
        return node

    for task, keys in keys_by_task.items():
        parent.setdefault(task, task)
        for ns in namespaces(tuple(keys)):
            parent.setdefault(f"ns:{ns}", f"ns:{ns}")
            parent[find(f"ns:{ns}")] = find(task)
    return {task: find(task) for task in keys_by_task}


def shared_correlations(keys: dict[str, Sequence[str]], statistics: dict[str, Statistic], seed: int,
                        n_boot: int = N_BOOT_CORRELATION) -> np.ndarray:
    """Correlations of the tasks' statistics (items' cluster keys and statistic per task): the identity, except
    between tasks that share documents (directly or through other tasks), estimated by one joint cluster bootstrap
    of their documents."""
    groups = linked_groups({t: list(k) for t, k in keys.items()})
    shared = [t for t in keys if list(groups.values()).count(groups[t]) > 1]
    corr = np.eye(len(keys))
    if not shared:
        return corr
    boot = joint_bootstrap(tuple(k for t in shared for k in keys[t]), seed, n_boot)
    replicates = np.column_stack([statistics[t](boot.weights(keys[t])) for t in shared])
    index = [list(keys).index(t) for t in shared]
    corr[np.ix_(index, index)] = correlations(replicates, [groups[t] for t in shared])
    return corr


def task_correlations(tasks: dict[str, TaskResult], rows: dict[str, list[ItemScore]], seed: int) -> np.ndarray:
    """Correlations of the tasks' headline scores (identity where no two tasks share a dataset)."""
    stats = {t: headline_statistic(tasks[t], rows[t]) for t in tasks}
    return shared_correlations({t: keys for t, (keys, _) in stats.items()}, {t: s for t, (_, s) in stats.items()},
                               seed)


def axis_results(suite: SuiteSpec, tasks: dict[str, TaskResult], rows: dict[str, list[ItemScore]],
                 seed: int) -> dict[str, AxisResult]:
    """Per-axis 0-100 scores from the suite's weights, with intervals over every scored task in the axis."""
    axes = {}
    for axis, entries in suite.axes.items():
        present = [e for e in entries if e.task in tasks and tasks[e.task].score.value is not None]
        missing = [e.task for e in entries if e not in present]
        weights = {e.task: e.weight for e in present}
        axes[axis] = _axis({e.task: tasks[e.task] for e in present}, weights, rows, seed, missing)
    return axes


def _axis(tasks: dict[str, TaskResult], weights: dict[str, float], rows: dict[str, list[ItemScore]],
          seed: int, missing: list[str]) -> AxisResult:
    if not tasks:
        return AxisResult(score=None, ci_low=None, ci_high=None, ci_method="none", weights={}, tasks_missing=missing)
    total = sum(weights.values())
    coefs = [weights[t] / total for t in tasks]
    scores = [tasks[t].score for t in tasks]
    point = float(sum(c * s.value for c, s in zip(coefs, scores)))
    if any(s.ci_low is None for s in scores):
        return AxisResult(score=point, ci_low=None, ci_high=None, ci_method="none", weights=weights,
                          tasks_missing=missing)
    corr = task_correlations(tasks, {t: rows[t] for t in tasks}, seed)
    est = mover([Estimate(s.value, s.ci_low, s.ci_high) for s in scores], coefs, corr, clip=(0.0, 100.0))
    method = "mover" if np.allclose(corr, np.eye(len(tasks))) else "mover-correlated"
    return AxisResult(score=min(max(est.value, 0.0), 100.0), ci_low=est.low, ci_high=est.high, ci_method=method,
                      weights=weights, tasks_missing=missing)
