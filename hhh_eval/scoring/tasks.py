"""Card entries of tasks: each metric's value and interval on the scored items (items of one cluster move
together), the 0-100 score of the headline metric, per-category metrics, and derived tasks."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hhh_eval.card import Clustering, CorrectedRate, DatasetRef, ItemScore, Metric, Score, TaskResult
from hhh_eval.fileio import dumps, sha256_text
from hhh_eval.registry import DerivedSpec, MetricSpec, SuiteEntry, TaskSpec
from hhh_eval.scoring.items import predictions, scored_values
from hhh_eval.stats import CORPUS_METRICS, Clusters, corpus_interval, metric_interval
from hhh_eval.stats.correction import METHOD as CORRECTION_METHOD
from hhh_eval.stats.correction import JudgeAccuracy, corrected_rate
from hhh_eval.stats.intervals import design_effect

FALLBACK_NOTE = "fallback headline: no judge of this task's kind ran, so {metric} has no scored item"


@dataclass(frozen=True)
class JudgeValidation:
    """What the card says of a judged task's judge: its validation status and, when validated, its measured
    accuracy per judged metric (for the judge-error-corrected rates)."""

    status: str
    accuracy: dict[str, JudgeAccuracy] = field(default_factory=dict)


def judge_validation(identity: Any) -> JudgeValidation:
    """The validation of a judge identity from its record (hhh_eval.judges.validation)."""
    from hhh_eval.judges.validation import validation_for

    record = validation_for(identity)
    if record is None:
        return JudgeValidation(f"unvalidated: no current validation record for judge {identity.name} "
                               f"(identity {identity.identity_sha256[:12]})")
    files = ", ".join(f.file for f in record.files)
    accuracy = {m: JudgeAccuracy(c.tp, c.tp + c.fn, c.tn, c.tn + c.fp) for m, c in record.pooled.metrics.items()}
    return JudgeValidation(f"validated on {record.pooled.n} human-labelled items ({files}); identity "
                           f"{record.identity_sha256[:12]}", accuracy)


def _corrected(metric: str, values: np.ndarray, keys: list[str], validation: JudgeValidation) -> CorrectedRate:
    accuracy = validation.accuracy.get(metric)
    if accuracy is None:
        note = validation.status if not validation.accuracy else f"the validation record has no {metric} outcome"
        return CorrectedRate(value=None, ci_low=None, ci_high=None, method=CORRECTION_METHOD, sensitivity=None,
                             specificity=None, validation_items=0, note=note)
    n_eff = values.size / design_effect(values, Clusters.from_keys(keys)) if values.size > 1 else float(values.size)
    c = corrected_rate(float(values.mean()) * n_eff if values.size else 0.0, n_eff, accuracy)
    return CorrectedRate(value=c.value, ci_low=c.low, ci_high=c.high, method=CORRECTION_METHOD,
                         sensitivity=accuracy.sensitivity, specificity=accuracy.specificity,
                         validation_items=accuracy.positives + accuracy.negatives, note=c.note)


def metric_result(metric: MetricSpec, rows: Sequence[ItemScore], seed: int,
                  validation: JudgeValidation | None = None) -> Metric:
    """A card metric from the rows' scored per-item values (or predictions, for corpus metrics); judged rates
    also carry their judge-error-corrected value when the task's judge is given."""
    estimator, corrected = None, None
    if metric.kind == "corpus":
        preds, keys = predictions(rows)
        iv = corpus_interval(metric.name, preds, seed, Clusters.from_keys(keys))
        estimator = CORPUS_METRICS[metric.name].estimator
    else:
        values, keys = scored_values(rows, metric.name)
        iv = metric_interval(values, seed, Clusters.from_keys(keys))
        if metric.kind == "judged" and validation is not None:
            corrected = _corrected(metric.name, values, keys, validation)
    return Metric(value=iv.value, ci_low=iv.low, ci_high=iv.high, stderr=iv.stderr, ci_method=iv.method,
                  higher_is_better=metric.higher_is_better, n=iv.n, estimator=estimator, note=iv.note,
                  effective_n=iv.effective_n, corrected=corrected)


def score_of(metric: Metric) -> Score:
    """A metric's 0-100 higher-is-better score with its interval (an inverted metric swaps its bounds)."""
    if metric.value is None:
        return Score(value=None, ci_low=None, ci_high=None)
    if metric.ci_low is None or metric.ci_high is None:
        low = high = None
    elif metric.higher_is_better:
        low, high = 100 * metric.ci_low, 100 * metric.ci_high
    else:
        low, high = 100 * (1 - metric.ci_high), 100 * (1 - metric.ci_low)
    value = 100 * metric.value if metric.higher_is_better else 100 * (1 - metric.value)
    return Score(value=value, ci_low=low, ci_high=high)


def _categories(metrics: tuple[MetricSpec, ...], rows: Sequence[ItemScore], seed: int,
                validation: JudgeValidation | None = None) -> dict[str, dict[str, Metric]]:
    by_cat: dict[str, list[ItemScore]] = defaultdict(list)
    for r in rows:
        by_cat[str(r.category)].append(r)
    return {cat: {m.name: metric_result(m, cat_rows, seed, validation) for m in metrics}
            for cat, cat_rows in sorted(by_cat.items())}


def _headline(entry: SuiteEntry, metrics: dict[str, Metric], judge: str | None) -> tuple[str, dict[str, str] | None]:
    """The suite's headline metric, or its fallback when no judge ran to score it."""
    if judge is None and metrics[entry.metric].n == 0 and entry.fallback_metric:
        return entry.fallback_metric, {entry.fallback_metric: FALLBACK_NOTE.format(metric=entry.metric)}
    return entry.metric, None


def clustering(field: str | None, namespace: str, rows: Sequence[ItemScore]) -> Clustering:
    clusters = Clusters.from_keys([r.cluster for r in rows])
    return Clustering(field=field, namespace=namespace, n_clusters=clusters.n_clusters,
                      largest=int(clusters.sizes.max()) if rows else 0)


def task_result(spec: TaskSpec, entry: SuiteEntry, rows: Sequence[ItemScore], *, n_total: int, fingerprint: str,
                judge: str | None, limit: int | None, chat_applied: bool, seed: int, scores_sha256: str,
                scores_arrow_sha256: str | None = None, validation: JudgeValidation | None = None) -> TaskResult:
    """The card's entry for one task; `validation`: its judge's, for judged tasks."""
    metrics = {m.name: metric_result(m, rows, seed, validation) for m in spec.metrics}
    headline, notes = _headline(entry, metrics, judge)
    n_scored = metrics[headline].n
    return TaskResult(
        axis=spec.axis, version=spec.version, output_type=spec.output_type,
        dataset=DatasetRef(path=spec.dataset_path, config=spec.dataset_name, split=spec.split, fingerprint=fingerprint),
        n=len(rows), n_total=n_total, n_scored=n_scored, n_unscored=len(rows) - n_scored,
        complete=limit is None and len(rows) == n_total, judge=judge, headline=headline,
        judge_validation=validation.status if validation else None,
        score=score_of(metrics[headline]), metrics=metrics, chat_template_applied=chat_applied,
        categories=_categories(spec.metrics, rows, seed, validation) if spec.category_field else None,
        metric_notes=notes,
        clustering=clustering(spec.cluster_field, spec.dataset_path, rows), scores_sha256=scores_sha256,
        scores_arrow_sha256=scores_arrow_sha256)


def derived_rows(spec: DerivedSpec, rows: dict[str, list[ItemScore]]) -> list[ItemScore]:
    """The source tasks' scored predictions, each tagged with its source task as category (clusters kept)."""
    return [r.model_copy(update={"category": source, "metrics": {}}) for source in spec.sources
            for r in rows[source] if r.pred is not None]


def derived_result(spec: DerivedSpec, entry: SuiteEntry, rows: Sequence[ItemScore], sources: dict[str, TaskResult],
                   seed: int, scores_sha256: str, scores_arrow_sha256: str | None = None) -> TaskResult:
    """The card's entry for a derived task, from its sources' items and card entries."""
    metrics = {m.name: metric_result(m, rows, seed) for m in spec.metrics}
    n_scored = metrics[entry.metric].n
    fingerprint = sha256_text(dumps([sources[s].dataset.fingerprint for s in spec.sources]))
    return TaskResult(
        axis=spec.axis, version=spec.version, output_type="derived",
        dataset=DatasetRef(path="derived", config=None, split="+".join(spec.sources), fingerprint=fingerprint),
        n=len(rows), n_total=sum(sources[s].n_total for s in spec.sources), n_scored=n_scored,
        n_unscored=len(rows) - n_scored, complete=all(sources[s].complete for s in spec.sources), judge=None,
        headline=entry.metric, score=score_of(metrics[entry.metric]), metrics=metrics, chat_template_applied=False,
        categories=_categories(spec.metrics, rows, seed), clustering=clustering(None, "+".join(spec.sources), rows),
        scores_sha256=scores_sha256, scores_arrow_sha256=scores_arrow_sha256)
