"""`hhh-eval export`: model-index YAML and lm-eval results JSON agree with the card and parse with their tools."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from fakecards import fake_run
from hhh_eval.card import Card, load_card
from hhh_eval.cli import main
from hhh_eval.export import lm_eval_results, model_index
from hhh_eval.fileio import sha256_file

# what lm-eval 0.4.13's evaluator and EvaluationTracker put in a results file (besides samples and env info)
LM_EVAL_KEYS = {"results", "group_subtasks", "configs", "versions", "n-shot", "higher_is_better", "n-samples",
                "config", "git_hash", "date", "lm_eval_version"}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Card, Path]:
    return load_card(fake_run(tmp_path_factory.mktemp("runs"), "export", seed=7, limit=80, unscored=3))


@pytest.fixture(scope="module")
def exported(run: tuple[Card, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export")
    assert main(["export", str(run[1]), "--out", str(out)]) == 0
    return out


def test_model_index_yaml_lists_every_task_and_the_axes(run: tuple[Card, Path], exported: Path) -> None:
    card, _ = run
    doc = yaml.safe_load((exported / "model-index.yaml").read_text(encoding="utf-8"))
    (entry,) = doc["model-index"]
    assert entry["name"] == card.model.name
    by_task = {r["task"]["name"].split(" ")[0]: r for r in entry["results"]}
    assert set(card.tasks) | {"hhh-eval"} == set(by_task)
    for name, task in card.tasks.items():
        result = by_task[name]
        assert result["dataset"]["type"] == task.dataset.path
        assert result["dataset"]["split"] == task.dataset.split
        assert [m["type"] for m in result["metrics"]][0] == task.headline
        for m in result["metrics"]:
            assert m["verified"] is False and "(%" in m["name"]
            assert "[PARTIAL RUN (at most 80 items per task; not comparable with full runs)]" in m["name"]
            assert m["value"] == pytest.approx(100 * task.metrics[m["type"]].value, abs=1e-4)
    axes = {m["type"]: m["value"] for m in by_task["hhh-eval"]["metrics"]}
    assert axes == {f"hhh_{a}": pytest.approx(e.score, abs=1e-4) for a, e in card.axes.items()}


def test_model_index_reads_with_huggingface_hub(run: tuple[Card, Path]) -> None:
    repocard_data = pytest.importorskip("huggingface_hub.repocard_data")
    card, _ = run
    name, results = repocard_data.model_index_to_eval_results(model_index(card)["model-index"])
    assert name == card.model.name
    assert len(results) == sum(len(t.metrics) for t in card.tasks.values()) + len(card.axes)


def test_lm_eval_json_matches_the_card(run: tuple[Card, Path], exported: Path) -> None:
    card, _ = run
    doc = json.loads((exported / "lm_eval_results.json").read_text(encoding="utf-8"))
    assert LM_EVAL_KEYS <= set(doc)
    assert set(doc["results"]) == set(card.tasks)
    for name, task in card.tasks.items():
        row = doc["results"][name]
        assert row["alias"] == f"{name} [PARTIAL RUN]" and row["name"] == name
        for metric, m in task.metrics.items():
            assert row[f"{metric},none"] == m.value
            assert row[f"{metric}_stderr,none"] == m.stderr
            assert doc["higher_is_better"][name][metric] is m.higher_is_better
        assert doc["versions"][name] == task.version
        assert doc["n-samples"][name] == {"original": task.n_total, "effective": task.n}
    assert doc["config"]["model"] == card.model.backend
    assert doc["config"]["limit"] == card.run.limit
    assert doc["lm_eval_version"] == card.harness.lm_eval_version


def test_lm_eval_make_table_reads_the_json(run: tuple[Card, Path]) -> None:
    pytest.importorskip("pytablewriter")
    from lm_eval.utils import make_table

    card, _ = run
    table = make_table(json.loads(json.dumps(lm_eval_results(card))))
    for name, task in card.tasks.items():
        assert name in table
        assert f"{task.metrics[task.headline].value:.4f}" in table


def test_missing_stderr_is_written_as_lm_eval_does(run: tuple[Card, Path]) -> None:
    card = run[0]
    name, task = next(iter(card.tasks.items()))
    metrics = {**task.metrics, task.headline: task.metrics[task.headline].model_copy(update={"stderr": None})}
    card = card.model_copy(update={"tasks": {**card.tasks, name: task.model_copy(update={"metrics": metrics})}})
    assert lm_eval_results(card)["results"][name][f"{task.headline}_stderr,none"] == "N/A"


def test_cli_export_defaults_to_the_run_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = fake_run(tmp_path, "r", seed=1, n=20)
    assert main(["export", str(run_dir / "report_card.json")]) == 0
    out = capsys.readouterr()
    assert out.out.split() == [str(run_dir / "model-index.yaml"), str(run_dir / "lm_eval_results.json")]
    assert out.err == ""  # a full run: no note
    partial = fake_run(tmp_path, "p", seed=1, n=20, limit=10)
    assert main(["export", str(partial)]) == 0
    assert "note: exported as a partial run" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "missing")]) == 2


def _all_names(index: dict) -> list[str]:
    (entry,) = index["model-index"]
    return [r["task"]["name"] for r in entry["results"]] + [m["name"] for r in entry["results"] for m in r["metrics"]]


@pytest.mark.parametrize("demo, limit, marks", [
    (False, None, []),
    (True, None, ["DEMO RUN"]),
    (True, 30, ["DEMO RUN", "PARTIAL RUN"]),
])
def test_demo_and_partial_cards_say_so_in_every_exported_result(tmp_path: Path, demo: bool, limit: int | None,
                                                                 marks: list[str]) -> None:
    card, _ = load_card(fake_run(tmp_path, "r", seed=1, n=40, limit=limit))
    card = card.model_copy(update={"run": card.run.model_copy(update={"demo": demo})})
    names = _all_names(model_index(card))
    assert all(all(f"[{m}" in n for m in marks) for n in names)
    if not marks:
        assert not any("DEMO" in n or "PARTIAL" in n for n in names)
    results = lm_eval_results(card)
    assert all(all(f"[{m}]" in r["alias"] for m in marks) for r in results["results"].values())
    assert results["hhh_eval"]["demo"] is demo and results["hhh_eval"]["partial"] is (limit is not None)
    assert [w.split(" (")[0] for w in results["hhh_eval"]["warnings"]] == marks


def test_exports_name_the_card_they_were_built_from(run: tuple[Card, Path], exported: Path) -> None:
    sha = sha256_file(run[1] / "report_card.json")
    assert (exported / "model-index.yaml").read_text(encoding="utf-8").startswith(
        f"# hhh-eval export of report_card.json sha256 {sha} ")
    assert json.loads((exported / "lm_eval_results.json").read_text())["hhh_eval"]["card_sha256"] == sha
