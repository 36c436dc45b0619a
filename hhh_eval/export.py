"""Export a report card for other tools: the Hugging Face model card `model-index` block and lm-eval results JSON.

model-index.yaml: one results entry per task (headline metric first, then the others) and one for the axis scores.
Rates are written as percentages (0-100, as HF leaderboards show them) and named "... (%)"; other metrics as on
the card. Every metric is `verified: false`.
lm_eval_results.json: the shape lm-eval 0.4.13 writes (results, versions, n-shot, higher_is_better, n-samples,
config, lm_eval_version, git_hash, date), values as on the card (0-1), so lm-eval tooling (make_table,
loggers) reads it; an extra `hhh_eval` block names the card (sha256 of report_card.json) and says demo/partial.

A demo or partial card is exported, marked in the results themselves so no reader takes it for a full run: every
task and metric name (model-index) and every task alias (lm-eval) carries "[DEMO RUN ...]" / "[PARTIAL RUN ...]",
and both files say it in their header. Both files name the card they were built from by its hash.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from hhh_eval.card import Card, Metric, TaskResult, load_card
from hhh_eval.errors import UserError
from hhh_eval.fileio import atomic_write_json, atomic_write_text
from hhh_eval.registry import load_tasks
from hhh_eval.report import axis_items, task_items

HF_TASK_TYPE = "text-generation"
NO_FILTER = "none"  # lm-eval's filter key for unfiltered metrics


def run_marks(card: Card) -> list[str]:
    """What must travel with every exported number of a demo or partial card (empty for a full run)."""
    marks = ["DEMO RUN (a tiny random model; the scores mean nothing)"] if card.run.demo else []
    if card.partial:
        size = f"at most {card.run.limit} items per task" if card.run.limit is not None else "not every item scored"
        marks.append(f"PARTIAL RUN ({size}; not comparable with full runs)")
    return marks


def _marked(text: str, card: Card) -> str:
    return text + "".join(f" [{m}]" for m in run_marks(card))


def _hf_metric(name: str, metric: Metric, card: Card) -> dict[str, Any]:
    direction = "higher is better" if metric.higher_is_better else "lower is better"
    return {"type": name, "value": round(100 * metric.value, 4), "name": _marked(f"{name} (%, {direction})", card),
            "verified": False}


def _hf_dataset(task: TaskResult) -> dict[str, Any]:
    ds = task.dataset
    out = {"name": ds.path.rsplit("/", 1)[-1], "type": ds.path}
    if ds.config:
        out["config"] = ds.config
    out["split"] = ds.split
    return out


def model_index(card: Card) -> dict[str, Any]:
    """The `model-index` block of a Hugging Face model card."""
    results = []
    for name, task in task_items(card):
        ordered = [task.headline, *(m for m in task.metrics if m != task.headline)]
        metrics = [_hf_metric(m, task.metrics[m], card) for m in ordered if task.metrics[m].value is not None]
        if metrics:
            results.append({"task": {"type": HF_TASK_TYPE, "name": _marked(f"{name} ({task.axis})", card)},
                            "dataset": _hf_dataset(task), "metrics": metrics})
    suite = card.suite
    axes = [{"type": f"hhh_{axis}", "value": round(entry.score, 4),
             "name": _marked(f"{axis} score (0-100, higher is better)", card), "verified": False}
            for axis, entry in axis_items(card) if entry.score is not None]
    if axes:
        results.append({"task": {"type": HF_TASK_TYPE, "name": _marked("hhh-eval axis scores", card)},
                        "dataset": {"name": f"hhh-eval suite {suite.name} v{suite.version}",
                                    "type": f"hhh-eval/{suite.name}"},
                        "metrics": axes})
    return {"model-index": [{"name": card.model.name, "results": results}]}


def _model_args_string(args: dict[str, Any]) -> str:
    """lm-eval's command-line form: key=value pairs joined by commas."""
    return ",".join(f"{k}={v}" for k, v in args.items())


def _timestamp(created_at: str) -> float:
    """lm-eval's `date`: seconds since the epoch."""
    return datetime.fromisoformat(created_at.replace("Z", "+00:00")).timestamp()


def _num_fewshot(card: Card) -> dict[str, int]:
    """Few-shot counts from the local task YAMLs of the card's tasks at the same version (the card has none)."""
    try:
        specs = load_tasks()
    except UserError:
        return {}
    out = {}
    for name, task in card.tasks.items():
        spec = specs.get(name)
        if spec is not None and spec.version == task.version:
            out[name] = spec.num_fewshot
    return out


def lm_eval_results(card: Card, card_sha256: str | None = None) -> dict[str, Any]:
    """The card as lm-eval 0.4.13 writes aggregated results, plus the `hhh_eval` block (card hash, demo, partial)."""
    tasks = task_items(card)
    results = {}
    tag = "".join(f" [{m.split(' (')[0]}]" for m in run_marks(card))
    for name, task in tasks:
        entry: dict[str, Any] = {"alias": name + tag, "name": name, "sample_len": task.n}
        for metric, m in task.metrics.items():
            entry[f"{metric},{NO_FILTER}"] = m.value
            entry[f"{metric}_stderr,{NO_FILTER}"] = "N/A" if m.stderr is None else m.stderr
        results[name] = entry
    model, run, harness = card.model, card.run, card.harness
    return {
        "results": results,
        "group_subtasks": {},
        "configs": {name: {"task": name, "dataset_path": t.dataset.path, "dataset_name": t.dataset.config,
                           "test_split": t.dataset.split, "output_type": t.output_type,
                           "metadata": {"version": t.version}} for name, t in tasks},
        "versions": {name: t.version for name, t in tasks},
        "n-shot": _num_fewshot(card),
        "higher_is_better": {name: {m: v.higher_is_better for m, v in t.metrics.items()} for name, t in tasks},
        "n-samples": {name: {"original": t.n_total, "effective": t.n} for name, t in tasks},
        "config": {"model": model.backend, "model_args": _model_args_string(model.model_args),
                   "model_dtype": model.dtype, "batch_size": run.batch_size, "limit": run.limit,
                   "gen_kwargs": run.gen_kwargs, "random_seed": run.seed},
        "git_hash": (harness.git_revision or "")[:7] or None,
        "date": _timestamp(card.created_at),
        "lm_eval_version": harness.lm_eval_version,
        "transformers_version": harness.packages.get("transformers"),
        "model_source": model.backend,
        "model_name": model.name,
        "model_name_sanitized": model.name.replace("/", "__"),
        "system_instruction": model.system_prompt,
        "chat_template_sha": model.chat_template_sha256,
        "hhh_eval": {"card_sha256": card_sha256, "demo": run.demo, "partial": card.partial, "limit": run.limit,
                     "data_source": run.data_source, "warnings": run_marks(card)},
    }


def _yaml_header(card: Card, card_sha256: str | None) -> str:
    lines = [f"# hhh-eval export of report_card.json sha256 {card_sha256 or 'unknown'} "
             f"({card.model.name}, run {card.run.run_name})"]
    return "\n".join(lines + [f"# {m}" for m in run_marks(card)]) + "\n"


def write_exports(card: Card, out: Path, card_sha256: str | None) -> list[Path]:
    """Write model-index.yaml and lm_eval_results.json into `out`, each atomically, naming the card's hash."""
    index = yaml.safe_dump(model_index(card), sort_keys=False, allow_unicode=True)
    paths = [out / "model-index.yaml", out / "lm_eval_results.json"]
    atomic_write_text(paths[0], _yaml_header(card, card_sha256) + index)
    atomic_write_json(paths[1], lm_eval_results(card, card_sha256))
    return paths


def cli_export(args: argparse.Namespace) -> int:
    from hhh_eval.derived import card_sha256

    card, run_dir = load_card(args.card)
    out = Path(args.out) if args.out else run_dir
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; pass a folder to write the exports into")
    for path in write_exports(card, out, card_sha256(args.card)):
        print(path)
    for mark in run_marks(card):
        print(f"note: exported as a {mark.split(' (')[0].lower()}; every exported result says so", file=sys.stderr)
    return 0
