"""`hhh-eval judge RUN_DIR --judge NAME` re-judges saved answers: the evaluated model is never loaded again.

The evaluated model (the demo's tiny model) is made unloadable - hhh_eval.generate.load_lm raises, and lm-eval's
HFLM raises for its path - and the run is re-judged with the rule judge and with a tiny-model judge (a copy of
the tiny model at another path, the only model allowed to load).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hhh_eval import generate
from hhh_eval.cli import main
from hhh_eval.fileio import read_json
from hhh_eval.registry import INCLUDE_PATH_ENV
from test_model_judges import GUARD_TEMPLATE, make_tasks_dir

TASKS = "beavertails,xstest_unsafe"  # one task takes harm judges, one only refusal judges


@pytest.fixture(scope="module")
def judged_run(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A finished demo run and the judge model's folder (a Llama Guard-shaped copy of the tiny model)."""
    base = tmp_path_factory.mktemp("rejudge")
    guard = Path(shutil.copytree(tiny_model, base / "tiny-guard"))
    (guard / "chat_template.jinja").write_text(GUARD_TEMPLATE)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(INCLUDE_PATH_ENV, str(make_tasks_dir(base / "tasks", guard, tiny_model)))
        out = base / "results"
        assert main(["demo", "--output-dir", str(out), "--limit", "3", "--tasks", TASKS,
                     "--gen-kwargs", "max_gen_toks=12"]) == 0
        yield next(out.glob("*/hhh-core.*")), guard


def _forbid_evaluated_model(mp: pytest.MonkeyPatch, evaluated: Path, allow_judges: bool) -> list[str]:
    """Make the evaluated model unloadable; returns the list of models lm-eval's HFLM did load."""
    from lm_eval.models.huggingface import HFLM

    loaded: list[str] = []
    original = HFLM.__init__

    def load_lm(*_: Any, **__: Any) -> None:
        raise AssertionError("re-judging loaded the evaluated model through hhh_eval.generate.load_lm")

    def hflm_init(self: Any, *args: Any, pretrained: Any = None, **kwargs: Any) -> None:
        if not allow_judges or Path(str(pretrained)).resolve() == evaluated:
            raise AssertionError(f"re-judging instantiated HFLM for {pretrained}")
        loaded.append(str(Path(str(pretrained)).resolve()))
        original(self, *args, pretrained=pretrained, **kwargs)

    mp.setattr(generate, "load_lm", load_lm)
    mp.setattr(HFLM, "__init__", hflm_init)
    return loaded


def _frozen_files(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((run / "samples").glob("*.jsonl"))}


@pytest.mark.integration
def test_rejudging_makes_no_call_to_the_evaluated_model(judged_run: tuple[Path, Path],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    run, guard = judged_run
    evaluated = Path(read_json(run / "manifest.json")["model"]["name"]).resolve()
    generated = read_json(run / "manifest.json")["generated"]
    samples = _frozen_files(run)
    before = read_json(run / "report_card.json")
    assert set(before["judges"]) == {"refusal"} and before["tasks"]["beavertails"]["judge"] == "refusal"
    other = Path(shutil.copytree(run, run.parent / "copy"))

    with pytest.MonkeyPatch.context() as mp:  # the rule judge: no model at all may load
        _forbid_evaluated_model(mp, evaluated, allow_judges=False)
        assert main(["judge", str(other), "--judge", "refusal", "--force"]) == 0
    loaded = _forbid_evaluated_model(monkeypatch, evaluated, allow_judges=True)
    assert main(["judge", str(run), "--judge", "tiny-guard"]) == 0
    assert loaded == [str(guard.resolve())]  # the judge model, once, and nothing else

    guarded, ruled = read_json(run / "report_card.json"), read_json(other / "report_card.json")
    assert set(guarded["judges"]) == {"tiny-guard", "refusal"}  # xstest_unsafe takes refusal judges only
    assert guarded["judges"]["tiny-guard"]["model"].startswith(f"{guard.resolve()}@")
    assert guarded["tasks"]["beavertails"]["judge"] == "tiny-guard"
    assert ruled["tasks"]["beavertails"]["judge"] == "refusal"
    assert guarded["tasks"]["xstest_unsafe"]["judge"] == ruled["tasks"]["xstest_unsafe"]["judge"] == "refusal"
    assert guarded["judges"] != ruled["judges"] and ruled["judges"] == before["judges"]
    assert _frozen_files(run) == _frozen_files(other) == samples
    assert read_json(run / "manifest.json")["generated"] == generated
    assert read_json(run / "manifest.json")["judge"] == "tiny-guard"

    monkeypatch.undo()
    with pytest.MonkeyPatch.context() as mp:  # back to the rule judge: again no model loads
        _forbid_evaluated_model(mp, evaluated, allow_judges=False)
        assert main(["judge", str(run), "--judge", "refusal"]) == 0
    back = read_json(run / "report_card.json")
    assert back["judges"] == before["judges"] and back["tasks"]["beavertails"]["judge"] == "refusal"
    assert back["tasks"]["beavertails"]["metrics"] == before["tasks"]["beavertails"]["metrics"]


@pytest.mark.integration
def test_shipped_model_judge_runs_on_a_local_copy_of_its_weights(judged_run: tuple[Path, Path], tiny_model: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """--judge-model-args points a shipped judge at local weights (air-gapped use); the card records them."""
    run, guard_with_variables = judged_run
    other = Path(shutil.copytree(run, run.parent / "local-guard"))
    assert main(["judge", str(other), "--judge", "llama-guard-3",
                 "--judge-model-args", f"pretrained={guard_with_variables}"]) == 2  # its template needs categories
    assert "chat template cannot format" in capsys.readouterr().err
    guard = Path(shutil.copytree(tiny_model, run.parent / "guard-copy"))
    assert main(["judge", str(other), "--judge", "llama-guard-3", "--judge-model-args", f"pretrained={guard}"]) == 0
    card = read_json(other / "report_card.json")
    assert card["tasks"]["beavertails"]["judge"] == "llama-guard-3"
    assert card["judges"]["llama-guard-3"]["model"].startswith(f"{guard.resolve()}@")
    assert read_json(other / "manifest.json")["judge_overrides"] == {"model_args": f"pretrained={guard}"}
    capsys.readouterr()
    assert main(["judge", str(other), "--judge", "refusal", "--judge-model-args", "pretrained=x"]) == 2
    assert "rule-based and takes no model" in capsys.readouterr().err
