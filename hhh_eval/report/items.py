"""The sample browser's data: every item of every task of a run, and the items whose outcome changed against a
baseline run, read from the run folder (samples/, verdicts/, scores/).

An item carries its prompt as sent (chat template applied), the model's answer or the options with their
log-likelihoods (chosen = argmax, as lm-eval's acc), the target, every per-item metric (None = unscored), the
judge's label and reason, and its outcome on the task's headline metric: "correct" when the value lies on the
better side of 0.5 (0/1 metrics: the good value; TruthfulQA MC2: most probability on true answers), "incorrect"
otherwise, "unscored" when the metric has no value. Items are paired with a baseline by doc_hash
(hhh_eval.comparison.pair_items), as compare and gate pair them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from hhh_eval.card import TaskResult
from hhh_eval.comparison import mismatch_reasons, mismatches, pair_items
from hhh_eval.errors import UserError
from hhh_eval.fileio import read_jsonl
from hhh_eval.judging import verdicts_path
from hhh_eval.report.content import task_items
from hhh_eval.runs import RunData, TaskScores

SIGNIFICANT = 4  # digits kept of per-item metric values and judge scores
LL_DECIMALS = 2  # decimals kept of log-likelihoods (as the page shows them)


@dataclass(frozen=True)
class BrowserTask:
    """A task as the browser lists it; `note` says why it has no items (a derived task, no samples file)."""

    name: str
    axis: str
    headline: str
    higher_is_better: bool
    judge: str | None
    n: int
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "axis": self.axis, "headline": self.headline,
                "higher_is_better": self.higher_is_better, "judge": self.judge, "n": self.n, "note": self.note}


@dataclass(frozen=True)
class BrowserData:
    """What report.html embeds: tasks, items (each names its task by index) and changed items vs a baseline."""

    tasks: list[BrowserTask]
    items: list[dict[str, Any]]
    baseline: str | None = None
    changed: list[dict[str, Any]] | None = None
    baseline_notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"tasks": [t.to_json() for t in self.tasks], "items": self.items, "baseline": self.baseline,
                "changed": self.changed, "baseline_notes": list(self.baseline_notes)}


def _round(x: float | None, decimals: int | None = None) -> float | None:
    """x to SIGNIFICANT digits (or to `decimals` places); None for a missing or non-finite number."""
    if x is None or not math.isfinite(x):
        return None
    return round(x, decimals) if decimals is not None else float(f"{x:.{SIGNIFICANT}g}")


def outcome(value: float | None, higher_is_better: bool) -> str:
    """correct / incorrect / unscored for one item's headline value (see the module doc)."""
    if value is None or not math.isfinite(value):
        return "unscored"
    return "correct" if (value > 0.5 if higher_is_better else value < 0.5) else "incorrect"


def _verdicts(run_dir: Path, task: str, judge: str | None, hashes: list[str]) -> list[dict[str, Any] | None]:
    """The judge's verdict row per item (rows are written in sample order; matched by doc_hash otherwise)."""
    path = verdicts_path(run_dir, task, judge) if judge else None
    if path is None or not path.is_file():
        return [None] * len(hashes)
    rows = read_jsonl(path)
    if [r["doc_hash"] for r in rows] == hashes:
        return rows  # type: ignore[return-value]
    by_hash = {r["doc_hash"]: r for r in rows}
    return [by_hash.get(h) for h in hashes]


def _answer(sample: dict[str, Any], scores: TaskScores, i: int) -> dict[str, Any]:
    """The model's answer: its response, or the options with log-likelihoods, chosen and gold option."""
    if "response" in sample:
        target = sample.get("target")
        return {"answer": sample["response"],
                "target": target if isinstance(target, str) and target.strip() else None}
    lls = sample.get("loglikelihoods") or []
    out: dict[str, Any] = {"options": [[str(c), _round(ll, LL_DECIMALS)]
                                       for c, ll in zip(sample.get("choices") or [], lls)]}
    if lls:
        out["pred"] = int(np.argmax(lls))
    if scores.gold is not None and not math.isnan(scores.gold[i]):
        out["gold"] = int(scores.gold[i])
    return out


def _item(task_index: int, task: TaskResult, sample: dict[str, Any], scores: TaskScores, i: int,
          verdict: dict[str, Any] | None) -> dict[str, Any]:
    metrics = {m: _round(float(v[i])) for m, v in scores.metrics.items()}
    raw = float(scores.metrics[task.headline][i]) if task.headline in scores.metrics else None
    item = {"task": task_index, "id": sample["doc_id"], "hash": sample["doc_hash"], "category": scores.categories[i],
            "prompt": sample.get("prompt", ""), **_answer(sample, scores, i), "metrics": metrics,
            "value": metrics.get(task.headline), "outcome": outcome(raw, task.metrics[task.headline].higher_is_better)}
    if verdict is not None:
        item.update(label=verdict.get("label"), reason=verdict.get("reason") or "",
                    judge_scores={k: _round(v) for k, v in (verdict.get("scores") or {}).items()})
    return item


def _derived_tasks() -> Mapping[str, Any]:
    from hhh_eval.registry import load_derived

    try:
        return load_derived()
    except UserError:
        return {}


def _why_no_items(task: str, derived_tasks: Callable[[], Mapping[str, Any]]) -> str:
    derived = derived_tasks().get(task)
    if derived is not None:
        return f"scored from the items of {', '.join(derived.sources)} (no items of its own): browse those tasks"
    return "no samples file in the run folder"


def _task_items(run: RunData, name: str, index: int,
                derived_tasks: Callable[[], Mapping[str, Any]]) -> tuple[list[dict[str, Any]], str | None]:
    """A task's items in file order, or none and why."""
    assert run.run_dir is not None
    path = run.run_dir / "samples" / f"{name}.jsonl"
    if not path.is_file():
        return [], _why_no_items(name, derived_tasks)
    task, scores, samples = run.card.tasks[name], run.task_scores(name), read_jsonl(path)
    hashes = [s["doc_hash"] for s in samples]
    if hashes != [k.split("#")[0] for k in scores.keys]:
        raise UserError(f"{path} does not match scores/{name}.jsonl item by item; re-run 'hhh-eval run' on that "
                        "run (finished stages are kept) to rewrite both")
    verdicts = _verdicts(run.run_dir, name, task.judge, hashes)
    return [_item(index, task, s, scores, i, verdicts[i]) for i, s in enumerate(samples)], None


def browser_data(run: RunData) -> BrowserData:
    """Every item of every task of a run folder, tasks in the card's order."""
    tasks, items = [], []
    derived_tasks = cache(_derived_tasks)  # the task files are read once, and only if a task has no samples
    for index, (name, task) in enumerate(task_items(run.card)):
        found, note = _task_items(run, name, index, derived_tasks)
        headline = task.metrics[task.headline]
        tasks.append(BrowserTask(name, task.axis, task.headline, headline.higher_is_better, task.judge, len(found),
                                 note))
        items += found
    return BrowserData(tasks, items)


def _side(item: dict[str, Any]) -> dict[str, Any]:
    """What the baseline column shows of an item (its prompt only where it differs)."""
    keep = ("prompt", "answer", "options", "pred", "gold", "target", "metrics", "value", "outcome", "label", "reason",
            "judge_scores")
    return {k: item[k] for k in keep if k in item}


def with_changes(data: BrowserData, run: RunData, base: RunData) -> BrowserData:
    """`data` plus the items whose outcome differs in the baseline run, paired by doc_hash."""
    base_data = browser_data(base)
    first = {t.name: sum(u.n for u in data.tasks[:k]) for k, t in enumerate(data.tasks)}
    base_first = {t.name: sum(u.n for u in base_data.tasks[:k]) for k, t in enumerate(base_data.tasks)}
    base_n = {t.name: t.n for t in base_data.tasks}
    changed = []
    for task in data.tasks:
        if not task.n or not base_n.get(task.name):
            continue
        pairing = pair_items(base.task_scores(task.name), run.task_scores(task.name))
        for b, c in zip(pairing.base.tolist(), pairing.other.tolist()):
            cur, old = data.items[first[task.name] + c], base_data.items[base_first[task.name] + b]
            if cur["outcome"] != old["outcome"]:
                side = _side(old)
                if side.get("prompt") == cur["prompt"]:
                    del side["prompt"]
                changed.append({"item": first[task.name] + c, "base": side})
    notes = tuple(mismatch_reasons(mismatches(base.card, run.card)))
    return BrowserData(data.tasks, data.items, f"{base.card.model.name} / {base.name}", changed, notes)
