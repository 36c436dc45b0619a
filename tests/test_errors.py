"""Bad input: one line naming the problem and the fix, exit 2, no traceback, nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hhh_eval.cli import main


def _fails_cleanly(capsys: pytest.CaptureFixture[str], out_dir: Path, argv: list[str], *needles: str) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    assert not out_dir.exists() or not any(out_dir.iterdir()), "an error left files behind"
    return err


def _run_args(out: Path, model: str | Path, *extra: str) -> list[str]:
    return ["run", "--model", "hf", "--model-args", f"pretrained={model}", "--output-dir", str(out), *extra]


def test_unknown_task_lists_known(tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fails_cleanly(capsys, tmp_path / "o", _run_args(tmp_path / "o", tiny_model, "--tasks", "nope"),
                   "unknown task(s) nope", "pubmedqa")


def test_unknown_suite_lists_known(tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fails_cleanly(capsys, tmp_path / "o", _run_args(tmp_path / "o", tiny_model, "--suite", "nope"),
                   "unknown suite 'nope'", "hhh-core")


@pytest.mark.parametrize("model", ["/no/such/model", "a b; rm -rf x", "$(touch pwned)", "`id`", "../x"])
def test_bad_model_path_is_just_a_wrong_path(tmp_path: Path, model: str, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _fails_cleanly(capsys, tmp_path / "o", _run_args(tmp_path / "o", model), "does not exist")
    assert not (tmp_path / "pwned").exists()


def test_unreachable_hub_id_offline(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    proc = subprocess.run([sys.executable, "-m", "hhh_eval", *_run_args(tmp_path / "o", "some-org/some-model")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "cannot be reached on the hub" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_unwritable_output_dir(tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    _fails_cleanly(capsys, blocker / "o", _run_args(blocker / "out", tiny_model), "cannot be created or written")


def test_data_dir_without_the_dataset_names_the_expected_file(tmp_path: Path, tiny_model: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "data" / "hub").mkdir(parents=True)
    err = _fails_cleanly(capsys, tmp_path / "o",
                         _run_args(tmp_path / "o", tiny_model, "--data-dir", str(tmp_path / "data"), "--tasks", "pubmedqa"),
                         "expected file")
    assert str(tmp_path / "data" / "hub" / "qiaojin" / "PubMedQA" / "pqa_labeled" / "train.jsonl") in err


def test_data_dir_without_hub_layout(tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fails_cleanly(capsys, tmp_path / "o", _run_args(tmp_path / "o", tiny_model, "--data-dir", str(tmp_path)),
                   "has no 'hub' folder")


@pytest.mark.parametrize("limit", ["0", "-3", "ten"])
def test_bad_limit(tmp_path: Path, tiny_model: Path, limit: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_run_args(tmp_path / "o", tiny_model, "--limit", limit)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--limit" in err and err.endswith("see hhh-eval run --help"), err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("flag,value,needle", [("--label", "nokey", "KEY=VALUE"), ("--batch-size", "-1", "--batch-size"),
                                               ("--run-name", "a/b", "is not a plain name"),
                                               ("--judge", "nope", "unknown judge"),
                                               ("--judge-model-args", "pretrained=x", "name it with --judge"),
                                               ("--baseline", "some/run", "pass --policy too")])
def test_bad_options(tmp_path: Path, tiny_model: Path, flag: str, value: str, needle: str,
                     capsys: pytest.CaptureFixture[str]) -> None:
    _fails_cleanly(capsys, tmp_path / "o", _run_args(tmp_path / "o", tiny_model, flag, value), needle)


def test_trust_remote_code_is_off_unless_asked(monkeypatch: pytest.MonkeyPatch, tiny_model: Path) -> None:
    from hhh_eval import generate
    from hhh_eval.identity import resolve_identity

    seen: list[dict] = []

    class FakeModel:
        @classmethod
        def create_from_arg_obj(cls, args: dict, extra: dict) -> None:
            seen.append(args)

    identities = [resolve_identity("hf", {"pretrained": str(tiny_model)}),
                  resolve_identity("hf", {"pretrained": str(tiny_model), "trust_remote_code": True})]
    monkeypatch.setattr("lm_eval.api.registry.get_model", lambda name: FakeModel)
    settings = generate.GenerationSettings(None, 0, "1", None, None)
    for identity in identities:
        generate.load_lm(identity, settings)
    assert [a["trust_remote_code"] for a in seen] == [False, True]


def test_validate_reports_an_invalid_card(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "report_card.json"
    bad.write_text('{"schema_version": "1.0"}')
    assert main(["validate", str(bad)]) == 1
    assert "invalid" in capsys.readouterr().out


def test_validate_checks_a_run_folders_score_files(tmp_path: Path, tiny_model: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from hhh_eval.registry import tasks_dir

    assert main(_run_args(tmp_path / "o", tiny_model, "--tasks", "pubmedqa", "--data-dir",
                          str(tasks_dir() / "demo_data"))) == 0
    run_dir = next((tmp_path / "o").glob("*/hhh-core.pubmedqa"))
    capsys.readouterr()
    assert main(["validate", str(run_dir)]) == 0
    assert "per-item scores of 1 task(s) match" in capsys.readouterr().out
    arrow = run_dir / "scores" / "pubmedqa.arrow"
    arrow.write_bytes(arrow.read_bytes()[:-8])
    assert main(["validate", str(run_dir)]) == 1
    out = capsys.readouterr().out
    assert "pubmedqa.arrow does not belong to its report card" in out and "pubmedqa.jsonl" not in out


def test_rejudging_with_a_judge_that_fits_no_task(tmp_path: Path, tiny_model: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from hhh_eval.registry import tasks_dir

    assert main(_run_args(tmp_path / "o", tiny_model, "--tasks", "pubmedqa", "--data-dir",
                          str(tasks_dir() / "demo_data"))) == 0
    run_dir = next((tmp_path / "o").glob("*/hhh-core.pubmedqa"))
    card = (run_dir / "report_card.json").read_bytes()
    capsys.readouterr()
    assert main(["judge", str(run_dir), "--judge", "refusal"]) == 2
    assert "fits none of the run's tasks" in capsys.readouterr().err
    assert (run_dir / "report_card.json").read_bytes() == card
