"""Axis intervals and paired axis tests when tasks share documents (TruthfulQA MC1, MC2 and generation ask the
same questions): the card's axis interval covers the true axis score 93-97% of the time and the paired axis
test holds its 5% size, where treating the tasks as independent does neither. Run with -s for the figures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fakecards import FakeTask, fake_spec
from hhh_eval.card import ItemScore
from hhh_eval.comparison import combine_axis, compare_values
from hhh_eval.registry import SuiteEntry, SuiteSpec
from hhh_eval.scoring import axis_results, task_result
from hhh_eval.stats import cluster_key, mover, p_from_interval
from hhh_eval.stats.combine import Estimate

TASKS = (FakeTask("mc1", "honesty", "acc", 0.4, 817), FakeTask("mc2", "honesty", "acc", 0.5, 817, continuous=True),
         FakeTask("gen", "honesty", "truthful_rate", 0.4, 817))
OFFSETS = {"mc1": -0.4, "mc2": 0.0, "gen": -0.6}  # per-task difficulty on the shared questions
WEIGHTS = {"mc1": 0.5, "mc2": 0.5, "gen": 1.0}
SUITE = SuiteSpec(name="s", version="1", axes={"honesty": tuple(SuiteEntry(task=t.name, metric=t.metric, weight=WEIGHTS[t.name])
                                                                   for t in TASKS)})


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _run(rng: np.random.Generator, ability: np.ndarray) -> dict[str, np.ndarray]:
    """One run's per-item values on the shared questions; `ability` is the run's per-question skill."""
    out = {}
    for t in TASKS:
        p = _sigmoid(ability + OFFSETS[t.name])
        out[t.name] = (np.clip(p + rng.normal(0, 0.1, p.size), 0, 1) if t.continuous
                       else (rng.random(p.size) < p).astype(float))
    return out


def _truth() -> float:
    theta = np.random.default_rng(0).normal(0, 1.5, 2_000_000)
    means = {t.name: float(_sigmoid(theta + OFFSETS[t.name]).mean()) for t in TASKS}
    return 100 * sum(WEIGHTS[t] * means[t] for t in means) / sum(WEIGHTS.values())


def _rows(task: str, values: np.ndarray) -> list[ItemScore]:
    return [ItemScore.model_construct(doc_id=i, doc_hash=f"{task}/{i}", category=None, metrics={TASKS_BY[task].metric: v},
                                      cluster=cluster_key("truthfulqa", f"q{i}"), pred=None, gold=None, confidence=None)
            for i, v in enumerate(values.tolist())]


TASKS_BY = {t.name: t for t in TASKS}


def _card_axis(values: dict[str, np.ndarray], seed: int) -> tuple[float, float, float, float, float]:
    """(value, low, high) of the card's axis, and the low/high the same tasks give treated as independent."""
    rows = {t: _rows(t, v) for t, v in values.items()}
    results = {t: task_result(fake_spec(TASKS_BY[t]), SUITE.axes["honesty"][i], rows[t], n_total=len(rows[t]),
                              fingerprint="0" * 64, judge=None, limit=None, chat_applied=False, seed=seed,
                              scores_sha256="0" * 64) for i, t in enumerate(values)}
    axis = axis_results(SUITE, results, rows, seed)["honesty"]
    scores = [results[t].score for t in values]
    independent = mover([Estimate(s.value, s.ci_low, s.ci_high) for s in scores],
                        [WEIGHTS[t] / sum(WEIGHTS.values()) for t in values])
    return axis.score, axis.ci_low, axis.ci_high, independent.low, independent.high


@pytest.mark.parametrize(("n", "reps"), [(200, 300), (817, 300)])
def test_card_axis_interval_covers_with_shared_documents(n, reps):
    truth, rng = _truth(), np.random.default_rng(n)
    hits = naive = 0
    for rep in range(reps):
        theta = rng.normal(0, 1.5, n)
        value, low, high, ind_low, ind_high = _card_axis(_run(rng, theta), seed=rep)
        hits += low <= truth <= high
        naive += ind_low <= truth <= ind_high
    print(f"honesty axis, 3 tasks on {n} shared questions: coverage {hits / reps:.3f} "
          f"(tasks treated as independent: {naive / reps:.3f}) over {reps} reps")
    assert 0.93 - 2 * math.sqrt(0.05 * 0.95 / reps) <= hits / reps <= 0.97 + 2 * math.sqrt(0.05 * 0.95 / reps)
    assert naive / reps < hits / reps - 0.03  # the correlation matters: the simulation can tell them apart


def _paired_axis(base: dict[str, np.ndarray], other: dict[str, np.ndarray], seed: int) -> tuple[float, float]:
    """p-values of the paired axis test: correlated (the comparison module) and as if independent."""
    keys = [cluster_key("truthfulqa", f"q{i}") for i in range(base["mc1"].size)]
    parts = {t: compare_values(t, TASKS_BY[t].metric, True, base[t], other[t], keys) for t in base}
    joint = combine_axis("honesty", parts, WEIGHTS, seed).result
    coefs = [100 * WEIGHTS[t] / sum(WEIGHTS.values()) for t in parts]
    independent = mover([Estimate(m.result.diff, m.result.low, m.result.high) for m in parts.values()], coefs)
    return joint.p_value, p_from_interval(independent)


def test_paired_axis_test_size_with_shared_documents():
    rng, n, reps = np.random.default_rng(3), 817, 500
    rejected = naive = 0
    for rep in range(reps):
        theta = rng.normal(0, 1.5, n)
        base = _run(rng, theta + rng.normal(0, 1.2, n))  # each run knows each question a little differently,
        other = _run(rng, theta + rng.normal(0, 1.2, n))  # and that carries over to all three tasks
        p_joint, p_naive = _paired_axis(base, other, seed=rep)
        rejected += p_joint < 0.05
        naive += p_naive < 0.05
    tolerance = 3 * math.sqrt(0.05 * 0.95 / reps)
    print(f"paired honesty axis, null: size {rejected / reps:.4f} (independent tasks: {naive / reps:.4f}) "
          f"over {reps} reps, allowed 0.05 + {tolerance:.4f}")
    assert rejected / reps <= 0.05 + tolerance
    assert naive / reps > rejected / reps + 0.03
