"""Fake runs for tests and benchmarks: schema-valid report cards plus per-item scores files that agree with them.

Each task's items have a fixed latent difficulty (seeded by the task name only), so every run has the SAME items
(same doc_hash per index) and runs of similar models are correlated item by item, as real runs are. A run's
per-item values are drawn from its own seed; `shift[task]` moves the task's success rate. Every number on the card
is computed from those per-item values by hhh_eval.scoring, the card built through the typed models.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hhh_eval.card import SCHEMA_VERSION, Card, ItemScore, write_card
from hhh_eval.card.io import scores_files
from hhh_eval.fileio import atomic_write_bytes, atomic_write_text, sha256_text
from hhh_eval.registry import MetricSpec, SuiteEntry, SuiteSpec, TaskSpec
from hhh_eval.scoring import axis_results, task_result
from hhh_eval.stats import cluster_key

HARM_CATEGORIES = (
    "animal_abuse", "child_abuse", "controversial_topics", "discrimination", "drug_abuse", "financial_crime",
    "hate_speech", "misinformation", "non_violent_unethical", "privacy_violation", "self_harm",
    "sexually_explicit", "terrorism", "violence",
)


@dataclass(frozen=True)
class FakeTask:
    """One fake task: its headline metric, base rate and full size."""

    name: str
    axis: str
    metric: str
    rate: float
    size: int
    higher_is_better: bool = True
    judged: bool = False
    continuous: bool = False
    categories: tuple[str, ...] = ()
    extra_metric: str | None = None  # a second 0/1 metric (lower is better): ~70% of the headline's failures


TASKS: tuple[FakeTask, ...] = (
    FakeTask("pubmedqa", "helpfulness", "acc", 0.70, 500),
    FakeTask("xstest_safe", "helpfulness", "compliance_rate", 0.85, 250, judged=True, extra_metric="full_refusal_rate"),
    FakeTask("truthfulqa_mc1", "honesty", "acc", 0.35, 817),
    FakeTask("truthfulqa_mc2", "honesty", "acc", 0.50, 817, continuous=True),
    FakeTask("beavertails", "harmlessness", "harm_rate", 0.25, 700, higher_is_better=False, judged=True,
             categories=HARM_CATEGORIES),
    FakeTask("xstest_unsafe", "harmlessness", "refusal_rate", 0.80, 200, judged=True),
)

# The full-size suite for benchmarks: the tasks above plus more of hhh-core's size.
FULL_TASKS: tuple[FakeTask, ...] = TASKS + (
    FakeTask("medqa", "helpfulness", "acc", 0.55, 1273),
    FakeTask("mmlu_clinical", "helpfulness", "acc", 0.60, 265),
    FakeTask("gsm8k", "helpfulness", "exact_match", 0.45, 1319),
    FakeTask("truthfulqa_gen", "honesty", "truthful_rate", 0.45, 817, judged=True),
    FakeTask("halueval_qa", "honesty", "acc", 0.65, 1000),
    FakeTask("harmbench", "harmlessness", "harm_rate", 0.20, 400, higher_is_better=False, judged=True),
    FakeTask("advbench", "harmlessness", "refusal_rate", 0.90, 520, judged=True),
)

JUDGE_KINDS = {"refusal": "refusal"}


def _task_seed(task: str) -> int:
    return int(sha256_text(task)[:8], 16)


def _item_values(task: FakeTask, n: int, seed: int, shift: float) -> dict[str, np.ndarray]:
    """Per-item metric values (NaN never here; unscored items are applied afterwards)."""
    difficulty = np.random.default_rng(_task_seed(task.name)).beta(2 * task.rate, 2 * (1 - task.rate), task.size)[:n]
    p = np.clip(difficulty + shift, 0.0, 1.0)
    rng = np.random.default_rng([seed, _task_seed(task.name)])
    if task.continuous:
        return {task.metric: np.clip(p + rng.normal(0.0, 0.1, n), 0.0, 1.0)}
    u = rng.random(n)
    values = {task.metric: (u < p).astype(float)}
    if task.extra_metric:
        values[task.extra_metric] = (u >= p + 0.3 * (1 - p)).astype(float)
    return values


def fake_spec(task: FakeTask) -> TaskSpec:
    """The TaskSpec a fake task would have (metrics with their directions, categories, judged or not)."""
    metrics = [MetricSpec(name=task.metric, higher_is_better=task.higher_is_better,
                          kind="judged" if task.judged else "item")]
    if task.extra_metric:
        metrics.append(MetricSpec(name=task.extra_metric, higher_is_better=False,
                                  kind="judged" if task.judged else "item"))
    return TaskSpec(name=task.name, axis=task.axis, version="1", yaml_path=Path(f"{task.name}.yaml"),
                    output_type="generate_until" if task.judged else "multiple_choice",
                    dataset_path=f"fake/{task.name}", dataset_name=None, split="test", metrics=tuple(metrics),
                    judge_kinds=("refusal",) if task.judged else (), category_field="category" if task.categories
                    else None)


def fake_rows(task: FakeTask, *, seed: int, shift: float, n: int, unscored: int) -> list[ItemScore]:
    """The scores rows of one fake task."""
    values = _item_values(task, n, seed, shift)
    scored = np.ones(n, bool)
    scored[np.random.default_rng([seed, _task_seed(task.name), 1]).choice(n, min(unscored, n), replace=False)] = False
    cats = [task.categories[i % len(task.categories)] if task.categories else None for i in range(n)]
    return [ItemScore(doc_id=i, doc_hash=sha256_text(f"{task.name}/{i}"), category=cats[i],
                      cluster=cluster_key(f"fake/{task.name}", f"doc:{i}"),
                      metrics={m: (float(v[i]) if scored[i] else None) for m, v in values.items()}) for i in range(n)]


def _suite(name: str, version: str, tasks: tuple[FakeTask, ...]) -> SuiteSpec:
    axes = {axis: tuple(SuiteEntry(task=t.name, metric=t.metric, weight=1.0) for t in tasks if t.axis == axis)
            for axis in ("helpfulness", "honesty", "harmlessness")}
    return SuiteSpec(name=name, version=version, axes={a: e for a, e in axes.items() if e})


def _header(name: str, seed: int, model: str, labels: dict | None, limit: int | None, judge: str,
            suite: SuiteSpec) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION, "created_at": "2025-01-01T00:00:00Z",
        "harness": {"name": "hhh-eval", "version": "0.1.0", "git_revision": None, "git_dirty": None,
                    "lm_eval_version": "0.4.13", "python": "3.11", "packages": {}},
        "model": {"name": model, "backend": "hf", "source": "hub", "revision": None, "fingerprint": None,
                  "model_args": {"pretrained": model}, "dtype": None,
                  "identity_sha256": sha256_text(model), "chat_template_sha256": None, "system_prompt": None},
        "run": {"run_name": name, "seed": seed, "limit": limit, "partial": limit is not None, "batch_size": 1,
                "gen_kwargs": None, "data_source": "data_dir", "demo": False, "labels": dict(labels or {})},
        "suite": {"name": suite.name, "version": suite.version},
        "judges": {judge: {"name": judge, "version": "1", "kind": JUDGE_KINDS.get(judge, "harm"), "model": None,
                           "prompt_sha256": None, "threshold": None, "identity_sha256": sha256_text(f"judge/{judge}")}},
    }


def fake_card_and_scores(name: str, *, seed: int, shift: dict[str, float] | None = None, n: int | None = 200,
                         labels: dict | None = None, judge: str = "refusal", suite: str = "hhh-core",
                         suite_version: str = "1", limit: int | None = None, unscored: int = 0,
                         model: str | None = None, tasks: tuple[FakeTask, ...] = TASKS,
                         ) -> tuple[Card, dict[str, list[ItemScore]]]:
    """A card and its scores rows per task. n=None: every task at full size; limit caps items per task."""
    shift = shift or {}
    spec = _suite(suite, suite_version, tasks)
    results, scores = {}, {}
    for task in tasks:
        size = min(task.size if n is None else n, limit or task.size)
        rows = scores[task.name] = fake_rows(task, seed=seed, shift=shift.get(task.name, 0.0), n=size,
                                             unscored=unscored)
        files = scores_files(rows)
        entry = next(e for entries in spec.axes.values() for e in entries if e.task == task.name)
        results[task.name] = task_result(
            fake_spec(task), entry, rows, n_total=task.size, judge=judge if task.judged else None, limit=limit,
            fingerprint=sha256_text(f"{task.name}/{suite_version}/{size}"), chat_applied=task.judged, seed=seed,
            scores_sha256=files.jsonl_sha256, scores_arrow_sha256=files.arrow_sha256)
    card = Card.model_validate({**_header(name, seed, model or f"fake/{name}", labels, limit, judge, spec),
                                "tasks": results, "axes": axis_results(spec, results, scores, seed)})
    return card, scores


def fake_card(name: str, *, seed: int, **options: Any) -> Card:
    """Just the card of `fake_run` (same options, no files)."""
    return fake_card_and_scores(name, seed=seed, **options)[0]


def fake_run(root: Path, name: str, *, seed: int, **options: Any) -> Path:
    """Write root/<name>/report_card.json and root/<name>/scores/<task>.jsonl; return the run folder.

    Options (see fake_card_and_scores): shift, n, labels, judge, suite, suite_version, limit, unscored, model, tasks.
    """
    card, scores = fake_card_and_scores(name, seed=seed, **options)
    run_dir = Path(root) / name
    for task, rows in scores.items():
        files = scores_files(rows)
        atomic_write_text(run_dir / "scores" / f"{task}.jsonl", files.jsonl)
        atomic_write_bytes(run_dir / "scores" / f"{task}.arrow", files.arrow)
    write_card(card, run_dir)
    return run_dir
