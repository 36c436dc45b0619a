"""The one comparison path: whether two cards are comparable, pairing items by document, paired intervals and
tests per metric, and axis-level combination. `hhh-eval compare`, `hhh-eval gate` and the sweep report all call
this module, so they print the same numbers for the same pair of cards.

Per metric (hhh_eval.stats.paired): 0/1 items -> exact McNemar p with Newcombe's interval (clustered items:
Obuchowski's test, Newcombe on the design-effect-scaled table); other per-item values -> paired t (cluster-
robust); corpus metrics (F1, calibration error) -> paired cluster bootstrap. Items are paired by doc_hash;
an item unscored in either run is left out and counted. Clusters are the baseline's.

Per axis: the weighted sum of the tasks' headline differences (in 0-100 points, signed so that positive is
better) with a MOVER interval from the tasks' paired intervals, correlated where tasks share documents
(correlations from a joint cluster bootstrap of the paired differences); its p-value is the one consistent with
that interval. An axis whose task cannot be tested is not tested (the reason names the task).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from hhh_eval.card import Card
from hhh_eval.errors import UserError
from hhh_eval.runs import RunData, TaskScores
from hhh_eval.scoring.axes import shared_correlations
from hhh_eval.stats import (CORPUS_METRICS, Clusters, Estimate, PairedResult, Predictions,
                            mover, p_from_interval, paired_corpus, paired_values)
from hhh_eval.stats.clusters import draw_weights_ahead
from hhh_eval.stats.corpus import remembered_statistics
from hhh_eval.stats.intervals import N_BOOT
from hhh_eval.stats.paired import untested

MISMATCH_SCOPE_ALL = "*"


# ---------------------------------------------------------------- comparability


def mismatches(base: Card, other: Card) -> dict[str, list[str]]:
    """What makes two cards not comparable, by scope: '*' (the whole card) or a task name."""
    found: dict[str, list[str]] = {}
    if (base.suite.name, base.suite.version) != (other.suite.name, other.suite.version):
        found[MISMATCH_SCOPE_ALL] = [f"suite {other.suite.name}@{other.suite.version} vs "
                                     f"{base.suite.name}@{base.suite.version}"]
    for task in (t for t in base.tasks if t in other.tasks):
        bt, ot = base.tasks[task], other.tasks[task]
        reasons = []
        if bt.version != ot.version:
            reasons.append(f"{task} version {ot.version} vs {bt.version}")
        if bt.dataset.fingerprint != ot.dataset.fingerprint:
            reasons.append(f"{task} was run on different items (dataset fingerprints differ)")
        if bt.judge != ot.judge:
            reasons.append(f"{task} judge {ot.judge} vs {bt.judge}")
        elif bt.judge is not None and base.judges.get(bt.judge) != other.judges.get(ot.judge):
            reasons.append(f"{task} judge {bt.judge} changed (its identity differs)")
        if bt.clustering.field != ot.clustering.field:
            reasons.append(f"{task} clustered by {ot.clustering.field} vs {bt.clustering.field}")
        if reasons:
            found[task] = reasons
    return found


def mismatch_reasons(found: dict[str, list[str]]) -> list[str]:
    """Every reason of a mismatches() result, in order."""
    return [m for ms in found.values() for m in ms]


def mismatch_summary(found: dict[str, list[str]]) -> str:
    """The first reason and how many more (for one-line messages)."""
    reasons = mismatch_reasons(found)
    return reasons[0] + (f"; {len(reasons) - 1} more" if len(reasons) > 1 else "")


def refuse(label: str, base_label: str, found: dict[str, list[str]], fix: str) -> UserError:
    """The one-line error for a card not comparable with its baseline."""
    return UserError(f"{label} is not comparable with baseline {base_label} ({mismatch_summary(found)}); {fix}")


# ---------------------------------------------------------------- pairing


@dataclass(frozen=True)
class Pairing:
    """Positions of the items both runs have, in the baseline (base) and the other run (other)."""

    base: np.ndarray
    other: np.ndarray
    n_unmatched: int  # items only one of the runs has


def pair_items(base: TaskScores, other: TaskScores) -> Pairing:
    """Match the other run's items to the baseline's by document key (doc_hash)."""
    if other.same_items(base):
        idx = np.arange(len(base))
        return Pairing(idx, idx, 0)
    pos = base.position
    found = [(pos[k], j) for j, k in enumerate(other.keys) if k in pos]
    b_idx = np.array([i for i, _ in found], dtype=np.int64)
    o_idx = np.array([j for _, j in found], dtype=np.int64)
    return Pairing(b_idx, o_idx, len(base) + len(other) - 2 * len(found))


@dataclass(frozen=True)
class CorpusPair:
    """A task's multiple-choice predictions in both runs on the items both have with one, and their cluster keys
    (the baseline's): what every corpus metric of the task is compared on."""

    base: Predictions
    other: Predictions
    keys: tuple[str, ...]
    n_unmatched: int


Replicate = Callable[[np.ndarray], np.ndarray]  # item weights (B, n) -> the paired difference per row (B,)


@dataclass(frozen=True)
class MetricComparison:
    """One metric of one task: other - baseline on the paired items (in the metric's own units)."""

    task: str
    metric: str
    higher_is_better: bool
    result: PairedResult
    n_excluded: int = 0  # paired items unscored in either run
    n_unmatched: int = 0  # items only one of the runs has
    keys: tuple[str, ...] = ()  # cluster keys of the items tested (baseline's), for axis correlations
    replicate: Replicate | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class AxisComparison:
    """An axis score difference, other - baseline, in 0-100 points (positive = better)."""

    axis: str
    result: PairedResult
    tasks: tuple[str, ...]


def compare_values(task: str, metric: str, higher_is_better: bool, a: np.ndarray, b: np.ndarray,
                   keys: Sequence[str], n_unmatched: int = 0) -> MetricComparison:
    """Per-item values of the same items (NaN = unscored, left out) in the baseline (a) and the other run (b)."""
    valid = ~np.isnan(a) & ~np.isnan(b)
    kept = tuple(np.asarray(keys, dtype=object)[valid])
    d = b[valid] - a[valid]
    result = paired_values(a[valid], b[valid], Clusters.from_keys(kept))
    return MetricComparison(task, metric, higher_is_better, result, int(valid.size - valid.sum()), n_unmatched,
                            kept, lambda w: (w @ d) / np.maximum(w.sum(axis=1), 1e-12))


def compare_predictions(task: str, metric: str, higher_is_better: bool, a: Predictions, b: Predictions,
                        keys: Sequence[str], seed: int, n_unmatched: int = 0) -> MetricComparison:
    """A corpus metric (F1, calibration error) on the same items' predictions in both runs."""
    result = paired_corpus(metric, a, b, seed, Clusters.from_keys(keys))

    def replicate(w: np.ndarray) -> np.ndarray:
        other, base = remembered_statistics(metric, w, [b, a])
        return other - base

    return MetricComparison(task, metric, higher_is_better, result, 0, n_unmatched, tuple(keys), replicate)


def combine_axis(axis: str, parts: dict[str, MetricComparison], weights: dict[str, float],
                 seed: int) -> AxisComparison:
    """The weighted sum of the tasks' paired differences in 0-100 points (see the module doc)."""
    failed = [t for t, m in parts.items() if not m.result.tested]
    if not parts or failed:
        why = f"{', '.join(failed)}: {parts[failed[0]].result.note}" if failed else "no task of the axis in both"
        return AxisComparison(axis, untested(0, f"axis not testable ({why})"), tuple(weights))
    total = sum(weights[t] for t in parts)
    coefs = [100 * weights[t] / total * (1 if m.higher_is_better else -1) for t, m in parts.items()]
    estimates = [Estimate(m.result.diff, m.result.low, m.result.high) for m in parts.values()]  # type: ignore[arg-type]
    est = mover(estimates, coefs, paired_correlations(parts, seed))
    result = PairedResult(est.value, est.low, est.high, p_from_interval(est), "mover-paired",
                          sum(m.result.n for m in parts.values()), sum(m.result.n_differing for m in parts.values()))
    return AxisComparison(axis, result, tuple(parts))


def paired_correlations(parts: dict[str, MetricComparison], seed: int) -> np.ndarray:
    """Correlations of the tasks' paired differences: joint cluster bootstrap where tasks share documents."""
    return shared_correlations({t: m.keys for t, m in parts.items()},
                               {t: m.replicate for t, m in parts.items()}, seed)  # type: ignore[misc]


class PairComparison:
    """A baseline against one other run: per-metric and per-axis paired results, computed once and cached."""

    def __init__(self, base: RunData, other: RunData, seed: int | None = None) -> None:
        self.base, self.other = base, other
        self.seed = base.card.run.seed if seed is None else seed  # the baseline's: compare and gate agree
        self._metrics: dict[tuple[str, str], MetricComparison] = {}
        self._axes: dict[str, AxisComparison] = {}
        self._corpus: dict[str, CorpusPair | None] = {}

    @cached_property
    def mismatches(self) -> dict[str, list[str]]:
        return mismatches(self.base.card, self.other.card)

    def metric(self, task: str, metric: str) -> MetricComparison:
        """The paired comparison of one task metric (cached)."""
        if (task, metric) not in self._metrics:
            self._metrics[(task, metric)] = self._compare_metric(task, metric)
        return self._metrics[(task, metric)]

    def _compare_metric(self, task: str, metric: str) -> MetricComparison:
        higher = self.base.card.tasks[task].metrics[metric].higher_is_better
        if metric in CORPUS_METRICS:
            cp = self.corpus_pair(task)
            if cp is None:
                return MetricComparison(task, metric, higher, untested(0, "no per-item predictions"))
            return compare_predictions(task, metric, higher, cp.base, cp.other, cp.keys, self.seed, cp.n_unmatched)
        b, o = self.base.task_scores(task), self.other.task_scores(task)
        pairing = pair_items(b, o)
        keys = b.clusters[pairing.base]
        if metric not in b.metrics or metric not in o.metrics:
            return MetricComparison(task, metric, higher, untested(0, f"no per-item {metric} values"))
        return compare_values(task, metric, higher, b.metrics[metric][pairing.base],
                              o.metrics[metric][pairing.other], tuple(keys), pairing.n_unmatched)

    def axis(self, axis: str) -> AxisComparison:
        """The axis difference over the baseline's axis tasks present in both cards (headline metrics; cached)."""
        if axis not in self._axes:
            weights = {t: w for t, w in self.base.card.axes[axis].weights.items() if t in self.other.card.tasks}
            parts = {t: self.metric(t, self.base.card.tasks[t].headline) for t in weights}
            self._axes[axis] = combine_axis(axis, parts, weights, self.seed)
        return self._axes[axis]

    def corpus_pair(self, task: str) -> CorpusPair | None:
        """Both runs' predictions on the items both have with a prediction (None when a run has none)."""
        if task not in self._corpus:
            b, o = self.base.task_scores(task), self.other.task_scores(task)
            cp = None
            if b.confidence is not None and o.confidence is not None:
                pairing = pair_items(b, o)
                valid = ~np.isnan(b.confidence[pairing.base]) & ~np.isnan(o.confidence[pairing.other])
                cp = CorpusPair(b.predictions(pairing.base[valid]), o.predictions(pairing.other[valid]),  # type: ignore
                                tuple(b.clusters[pairing.base][valid]), pairing.n_unmatched)
            self._corpus[task] = cp
        return self._corpus[task]

    @cached_property
    def shared_metrics(self) -> list[tuple[str, str]]:
        """(task, metric) of every metric both cards report, in the baseline's order."""
        other = self.other.card.tasks
        return [(t, m) for t, e in self.base.card.tasks.items() if t in other
                for m in e.metrics if m in other[t].metrics]

    @cached_property
    def shared_axes(self) -> list[str]:
        return [a for a in self.base.card.axes if a in self.other.card.axes]


def compute_task_by_task(pairs: Sequence[PairComparison]) -> None:
    """Fill the pairs' caches with every shared metric and axis, one metric at a time across all pairs: a task's
    bootstrap weights (megabytes) then serve every pair while they are in the CPU cache, and a corpus metric's
    bootstrap is one product for all pairs (_corpus_statistics_ahead). Six pairs of full-suite cards together
    took 18 ms per pair on one core, one at a time 26 ms; the results are the same, bit for bit, in any order."""
    for task, metric in dict.fromkeys(key for pc in pairs for key in pc.shared_metrics):
        todo = [pc for pc in pairs if (task, metric) in pc.shared_metrics]
        if _bootstrapped(metric):
            _corpus_statistics_ahead(todo, task, metric)
        for pc in todo:
            pc.metric(task, metric)
    for axis in dict.fromkeys(a for pc in pairs for a in pc.shared_axes):
        for pc in pairs:
            if axis in pc.shared_axes:
                pc.axis(axis)


def _bootstrapped(metric: str) -> bool:
    """A corpus metric whose interval comes from a bootstrap over the items."""
    return metric in CORPUS_METRICS and CORPUS_METRICS[metric].interval != "none"


def draw_bootstraps_ahead(pc: PairComparison) -> None:
    """The bootstrap weights of the pair's corpus metrics, drawn together on threads before the metrics ask for them
    (the first pair of a comparison, whose caches every other pair reuses)."""
    tasks = dict.fromkeys(t for t, m in pc.shared_metrics if _bootstrapped(m))
    draw_weights_ahead([Clusters.from_keys(cp.keys) for t in tasks if (cp := pc.corpus_pair(t)) is not None],
                       pc.seed, N_BOOT)


def _corpus_statistics_ahead(pairs: Sequence[PairComparison], task: str, metric: str) -> None:
    """The other runs' bootstrap statistics of a corpus metric, computed a few runs per product and remembered for
    paired_corpus, which asks for them with the same bootstrap weights (the same cluster keys and seed)."""
    groups: dict[int, tuple[np.ndarray, list[Predictions]]] = {}
    for pc in pairs:
        cp = pc.corpus_pair(task)
        if cp is not None:
            w = Clusters.from_keys(cp.keys).bootstrap_weights(pc.seed, N_BOOT)
            groups.setdefault(id(w), (w, []))[1].append(cp.other)
    for w, preds in groups.values():
        remembered_statistics(metric, w, preds)
