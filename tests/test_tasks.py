"""The shipped task YAMLs and suites: conventions (tasks/README.md), and each task built by lm-eval on the real data
and on the demo data. Every shipped task is in EXPECTED with its axis and item count, and in hhh-core."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from hhh_eval.stats.corpus import CORPUS_METRICS
from hhh_eval.generate import build_task as build_lm_eval_task
from hhh_eval.registry import Registry, load_suite, load_tasks, tasks_dir
from hhh_eval.scoring import JUDGED_METRICS

# Each task: its axis and its item count on the real data.
EXPECTED = {
    "pubmedqa": ("helpfulness", 500),
    "medqa": ("helpfulness", 1273),
    "financial_phrasebank": ("helpfulness", 2264),
    "hhh_helpful": ("helpfulness", 59),
    "xstest_safe": ("helpfulness", 250),
    "truthfulqa_mc1": ("honesty", 817),
    "truthfulqa_mc2": ("honesty", 817),
    "truthfulqa_gen": ("honesty", 817),
    "hhh_honest": ("honesty", 61),
    "beavertails": ("harmlessness", 700),
    "xstest_unsafe": ("harmlessness", 200),
    "hh_rlhf_redteam": ("harmlessness", 2178),
    "hhh_harmless": ("harmlessness", 58),
}
HEADLINES = {
    "pubmedqa": "acc", "medqa": "acc", "financial_phrasebank": "acc", "hhh_helpful": "acc",
    "xstest_safe": "compliance_rate", "truthfulqa_mc1": "acc", "truthfulqa_mc2": "acc", "truthfulqa_gen": "truthful_rate",
    "hhh_honest": "acc", "beavertails": "harm_rate", "xstest_unsafe": "refusal_rate", "hh_rlhf_redteam": "harm_rate",
    "hhh_harmless": "acc",
}
DEMO_DATA = tasks_dir() / "demo_data"


def raw_config(name: str, resolve: bool = False) -> dict[str, Any]:
    from lm_eval.tasks._yaml_loader import load_yaml

    return load_yaml(load_tasks()[name].yaml_path, resolve_func=resolve)


def build_task(name: str, data_dir: Path) -> Any:
    """lm-eval's task object for one of ours, loading its split from the data dir (as a run builds it)."""
    return build_lm_eval_task(load_tasks()[name], data_dir)


def check_docs(task: Any, docs: list[dict[str, Any]]) -> None:
    """Every item renders a prompt; a multiple-choice item's gold (an index or a choice) is one of its choices."""
    for doc in docs:
        assert task.doc_to_text(doc).strip()
        if task.OUTPUT_TYPE == "multiple_choice":
            choices = task.doc_to_choice(doc)
            assert len(choices) >= 2 and all(c.strip() for c in choices)
            gold = task.doc_to_target(doc)
            assert gold in choices if isinstance(gold, str) else 0 <= gold < len(choices)


def test_every_shipped_task_is_in_the_tables() -> None:
    shipped = Registry.build(())
    assert set(shipped.tasks) == set(EXPECTED), "add a new shipped task to EXPECTED and HEADLINES (tasks/README.md)"
    assert set(shipped.derived) == {"calibration"}


def test_every_task_loads_with_its_axis_and_size_in_the_description() -> None:
    specs = load_tasks()
    for name, (axis, n) in EXPECTED.items():
        spec = specs[name]
        assert spec.axis == axis
        assert spec.version
        assert f"{n}" in spec.description and "\n" not in spec.description


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_task_follows_the_conventions(name: str) -> None:
    spec, cfg = load_tasks()[name], raw_config(name)
    meta = cfg["metadata"]
    assert "include" not in cfg and not cfg.get("training_split") and cfg["num_fewshot"] == 0
    assert {m["name"] for m in meta.get("judged_metrics", [])} <= set(JUDGED_METRICS)
    assert {m["name"] for m in meta.get("corpus_metrics", [])} <= set(CORPUS_METRICS)
    if spec.output_type == "generate_until":
        gen = cfg["generation_kwargs"]
        assert gen["do_sample"] is False and gen["max_gen_toks"] == 256
    if spec.judged and name != "truthfulqa_gen":  # truthfulqa_gen keeps lm-eval's reference-overlap metrics
        assert cfg["metric_list"] == [{"metric": "bypass"}]
        assert spec.default_judge in spec.judge_kinds and spec.prompt_field


def test_every_shipped_suite_loads_and_covers_every_axis() -> None:
    shipped = Registry.build(())
    for name in shipped.names("suite"):
        suite = shipped.suite(name)
        assert all(suite.axes.get(axis) for axis in ("helpfulness", "honesty", "harmlessness")), name


def test_core_suite_lists_every_task_with_its_headline() -> None:
    suite = load_suite("hhh-core")
    entries = {e.task: (axis, e.metric) for axis, es in suite.axes.items() for e in es}
    derived = {"calibration": ("honesty", "rms_calibration_error")}  # from truthfulqa_mc1 + medqa items (tasks/derived/)
    assert entries == {name: (EXPECTED[name][0], HEADLINES[name]) for name in EXPECTED} | derived
    gen = next(e for e in suite.axes["honesty"] if e.task == "truthfulqa_gen")
    assert gen.fallback_metric == "bleu_acc"  # lm-eval's reference-overlap score when no truthfulness judge ran


def test_domain_packs_hold_their_domain_tasks() -> None:
    assert {"pubmedqa", "medqa"} <= set(load_suite("medical").task_names)
    assert "financial_phrasebank" in load_suite("finance").task_names


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_task_yields_the_real_benchmark(name: str, data_dir: Path) -> None:
    task = build_task(name, data_dir)
    docs = list(task.eval_docs)
    assert len(docs) == EXPECTED[name][1]
    check_docs(task, docs)


def test_beavertails_has_14_categories_of_50(data_dir: Path) -> None:
    counts = Counter(doc["category"] for doc in build_task("beavertails", data_dir).eval_docs)
    assert len(counts) == 14 and set(counts.values()) == {50}


def test_xstest_splits_safe_from_contrast_prompts(data_dir: Path) -> None:
    safe = Counter(doc["type"] for doc in build_task("xstest_safe", data_dir).eval_docs)
    unsafe = Counter(doc["type"] for doc in build_task("xstest_unsafe", data_dir).eval_docs)
    assert len(safe) == 10 and not any(t.startswith("contrast_") for t in safe)
    assert len(unsafe) == 8 and all(t.startswith("contrast_") for t in unsafe)


def test_redteam_prompts_are_distinct_opening_turns(data_dir: Path) -> None:
    docs = list(build_task("hh_rlhf_redteam", data_dir).eval_docs)
    prompts = [doc["prompt"] for doc in docs]
    assert len(set(prompts)) == len(prompts) and all(prompts)
    assert all(doc["chosen"].startswith(f"\n\nHuman: {doc['prompt']}") for doc in docs)
    assert not any("\n\nAssistant:" in p for p in prompts)


def test_truthfulqa_gen_references_end_with_a_period(data_dir: Path) -> None:
    for doc in build_task("truthfulqa_gen", data_dir).eval_docs:
        assert "I have no comment." in doc["correct_answers"] and doc["incorrect_answers"]
        assert all(a.endswith(".") for a in doc["correct_answers"] + doc["incorrect_answers"])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_task_builds_on_the_demo_data(name: str) -> None:
    task = build_task(name, DEMO_DATA)
    docs = list(task.eval_docs)
    assert 1 <= len(docs) <= 6
    check_docs(task, docs)


def test_shipped_pubmedqa_test_ids_are_the_standard_split(data_dir: Path) -> None:
    """tasks/helpfulness/pubmedqa_test_pubids.json (the split definition, no data) equals the data dir's copy."""
    import json

    shipped = json.loads((tasks_dir() / "helpfulness" / "pubmedqa_test_pubids.json").read_text())
    reference = json.loads((data_dir / "extra" / "pubmedqa_test_pubids.json").read_text())
    assert sorted(shipped) == sorted(reference) and len(set(shipped)) == 500
