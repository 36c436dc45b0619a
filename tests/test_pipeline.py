"""The whole pipeline on the tiny local model: real data, resume, caching, reproducibility, demo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hhh_eval import generate
from hhh_eval.card import card_errors, load_card
from hhh_eval.cli import main
from hhh_eval.fileio import read_json, read_jsonl, sha256_file
from hhh_eval.identity import fingerprint_dir

CORE3 = "pubmedqa,truthfulqa_mc2,beavertails"
LIMIT = 5


def _run(tmp: Path, model: Path, *extra: str) -> int:
    return main(["run", "--model", "hf", "--model-args", f"pretrained={model}", "--tasks", CORE3,
                 "--limit", str(LIMIT), "--output-dir", str(tmp), "--gen-kwargs", "max_gen_toks=16", *extra])


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, data_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("results")
    assert _run(out, tiny_model, "--data-dir", str(data_dir)) == 0
    return next(out.glob("*/hhh-core.*"))


@pytest.mark.integration
def test_card_is_valid_and_complete_for_the_run(real_run: Path, tiny_model: Path) -> None:
    card, _ = load_card(real_run)
    assert card_errors(card.to_json()) == [] and card_errors(read_json(real_run / "report_card.json")) == []
    assert card.run.limit == LIMIT and card.run.partial is True
    assert card.model.fingerprint == fingerprint_dir(tiny_model)
    assert card.run.gen_kwargs == {"max_gen_toks": 16}
    assert set(card.tasks) == set(CORE3.split(","))
    assert card.tasks["pubmedqa"].n_total == 500 and card.tasks["truthfulqa_mc2"].n_total == 817
    assert card.tasks["beavertails"].judge == "refusal" and "refusal" in card.judges
    assert all(not t.complete for t in card.tasks.values())
    assert (real_run / "report.md").is_file()


@pytest.mark.integration
def test_per_item_files_agree_with_the_card(real_run: Path) -> None:
    card, _ = load_card(real_run)
    for name, task in card.tasks.items():
        samples = read_jsonl(real_run / "samples" / f"{name}.jsonl")
        scores = read_jsonl(real_run / "scores" / f"{name}.jsonl")
        assert len(samples) == len(scores) == task.n == LIMIT
        assert [s["doc_hash"] for s in samples] == [r["doc_hash"] for r in scores]
        values = [r["metrics"][task.headline] for r in scores if r["metrics"][task.headline] is not None]
        assert len(values) == task.n_scored == task.n - task.n_unscored
        assert task.metrics[task.headline].value == pytest.approx(np.mean(values))
        assert sha256_file(real_run / "scores" / f"{name}.jsonl") == task.scores_sha256
    verdicts = read_jsonl(real_run / "verdicts" / "beavertails.refusal.jsonl")
    assert len(verdicts) == LIMIT and all("label" in v for v in verdicts)


@pytest.mark.integration
def test_mc_samples_keep_loglikelihoods_and_generation_keeps_answers(real_run: Path) -> None:
    mc = read_jsonl(real_run / "samples" / "truthfulqa_mc2.jsonl")[0]
    assert len(mc["loglikelihoods"]) == len(mc["choices"]) == len(mc["doc"]["mc2_targets"]["choices"])
    gen = read_jsonl(real_run / "samples" / "beavertails.jsonl")[0]
    assert isinstance(gen["response"], str) and gen["prompt"].startswith("<|user|>")  # chat template applied


@pytest.mark.integration
def test_rerun_makes_no_model_call_and_reproduces_the_card(real_run: Path, tiny_model: Path, data_dir: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    before = read_json(real_run / "report_card.json")

    def no_model(*args: object, **kwargs: object) -> None:
        raise AssertionError("a finished run loaded the model")

    monkeypatch.setattr(generate, "load_lm", no_model)
    assert _run(real_run.parent.parent, tiny_model, "--data-dir", str(data_dir)) == 0
    after = read_json(real_run / "report_card.json")
    before.pop("created_at"), after.pop("created_at")
    assert after == before


@pytest.mark.integration
def test_interrupted_run_resumes_only_unfinished_tasks(tmp_path: Path, tiny_model: Path, data_dir: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    assert _run(tmp_path, tiny_model, "--data-dir", str(data_dir)) == 0
    run_dir = next(tmp_path.glob("*/hhh-core.*"))
    manifest = read_json(run_dir / "manifest.json")
    del manifest["generated"]["truthfulqa_mc2"]  # as if killed while running this task
    (run_dir / "manifest.json").write_text(__import__("json").dumps(manifest))
    ran: list[str] = []
    real_run_task = generate.run_task
    monkeypatch.setattr(generate, "run_task", lambda lm, task, *a: ran.append(task.spec.name) or real_run_task(lm, task, *a))
    assert _run(tmp_path, tiny_model, "--data-dir", str(data_dir)) == 0
    assert ran == ["truthfulqa_mc2"]


@pytest.mark.integration
def test_response_cache_is_keyed_by_model_identity(tmp_path: Path, tiny_model: Path, data_dir: Path) -> None:
    from hhh_eval.tiny_model import build_tiny_model

    other = build_tiny_model(tmp_path / "other-model", seed=1)
    assert _run(tmp_path / "out", tiny_model, "--data-dir", str(data_dir), "--run-name", "a") == 0
    assert _run(tmp_path / "out", other, "--data-dir", str(data_dir), "--run-name", "a") == 0
    assert len(list((tmp_path / "out" / ".cache").glob("*/responses_rank0.db"))) == 2
    a = read_jsonl(tmp_path / "out" / tiny_model.name / "a" / "samples" / "pubmedqa.jsonl")
    b = read_jsonl(tmp_path / "out" / "other-model" / "a" / "samples" / "pubmedqa.jsonl")
    assert [s["loglikelihoods"] for s in a] != [s["loglikelihoods"] for s in b]


def test_demo_runs_offline_on_shipped_items(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("HHH_EVAL_DATA_DIR", raising=False)
    assert main(["demo", "--output-dir", str(tmp_path), "--tasks", CORE3, "--gen-kwargs", "max_gen_toks=8"]) == 0
    out = capsys.readouterr()
    assert "mean nothing" in out.err and "report:" in out.out
    card, _ = load_card(next(tmp_path.glob("*/hhh-core.*")))
    assert card.run.demo is True and card.run.data_source == "demo"
    assert all(t.n == t.n_total and t.complete for t in card.tasks.values())


def test_library_api_runs_the_pipeline(tmp_path: Path, tiny_model: Path) -> None:
    import hhh_eval
    from hhh_eval.registry import tasks_dir

    settings = hhh_eval.GenerationSettings(limit=None, seed=7, batch_size="4", gen_kwargs=None, system_prompt=None)
    config = hhh_eval.RunConfig(backend="hf", model_args={"pretrained": str(tiny_model)}, tasks=("pubmedqa",),
                                data_dir=tasks_dir() / "demo_data", output_dir=tmp_path, settings=settings)
    card, run_dir = hhh_eval.run(config)
    assert hhh_eval.load_card(run_dir)[0].tasks["pubmedqa"] == card.tasks["pubmedqa"]
    assert card.run.seed == 7 and card.run.data_source == "data_dir"
    with pytest.raises(AttributeError):
        hhh_eval.not_a_thing  # noqa: B018


@pytest.mark.integration
def test_compare_two_real_runs_tests_every_metric(tmp_path: Path, tiny_model: Path, data_dir: Path) -> None:
    """Cards from the real pipeline pair up item by item; corpus metrics (F1, calibration error) get a paired
    bootstrap, given enough items (at least MIN_CONTINUOUS_PAIRS, so real data rather than the 4-item demo files);
    the plug-in ECE, reported without an interval, is not tested."""
    from hhh_eval.compare import compare_runs
    from hhh_eval.runs import load_run
    from hhh_eval.stats import MIN_CONTINUOUS_PAIRS
    from hhh_eval.tiny_model import build_tiny_model

    other = build_tiny_model(tmp_path / "other-model", seed=1)
    for model in (tiny_model, other):
        assert main(["run", "--model", "hf", "--model-args", f"pretrained={model}", "--tasks",
                     "financial_phrasebank,medqa,truthfulqa_mc1,calibration", "--data-dir", str(data_dir),
                     "--limit", str(MIN_CONTINUOUS_PAIRS + 10), "--output-dir", str(tmp_path / "out"),
                     "--run-name", "r"]) == 0
    runs = [load_run(tmp_path / "out" / name / "r") for name in (tiny_model.name, "other-model")]
    cmp = compare_runs(runs)
    tested = {(r.task, r.metric): r for r in cmp.rows if r.kind == "metric"}
    assert tested[("financial_phrasebank", "f1_weighted")].test == "paired-bootstrap"
    assert tested[("calibration", "rms_calibration_error")].test == "paired-bootstrap"
    assert tested[("medqa", "acc")].test == "mcnemar-newcombe"
    ece = tested[("calibration", "ece")]
    assert ece.test is None and any("without an interval" in m for m in ece.marks)
    card_a, card_b = (r.card.tasks["calibration"].metrics["rms_calibration_error"].value for r in runs)
    assert tested[("calibration", "rms_calibration_error")].diff == pytest.approx(card_b - card_a)
    axes = {r.axis: r for r in cmp.rows if r.kind == "axis"}  # harmlessness: none of its tasks ran
    assert axes["helpfulness"].p is not None and axes["honesty"].p is not None and axes["harmlessness"].p is None
