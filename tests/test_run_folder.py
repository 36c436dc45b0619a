"""A new user's first runs: a run of other settings never silently replaces a finished one, relative data dirs
work from anywhere, and the run shows one progress view (lm-eval's own bars only with --verbose)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hhh_eval.cli import main

TASKS = "pubmedqa,beavertails"


@pytest.fixture(autouse=True)
def demo_data(request, monkeypatch):
    """The demo's shipped sample items (4 per task), unless a test asks for the real data."""
    if "data_dir" not in request.fixturenames:
        monkeypatch.delenv("HHH_EVAL_DATA_DIR", raising=False)


def _demo(out: Path, *extra: str) -> int:
    return main(["demo", "--tasks", TASKS, "--output-dir", str(out), "--gen-kwargs", "max_gen_toks=8", *extra])


def _card(out: Path, name: str = f"hhh-core.{TASKS.replace(',', '+')}") -> Path:
    return out / "tiny-model" / name / "report_card.json"


def test_other_settings_never_replace_a_finished_run_silently(tmp_path, capsys):
    out = tmp_path / "results"
    assert _demo(out) == 0
    before = _card(out).read_bytes()
    capsys.readouterr()
    assert _demo(out, "--seed", "7") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds a run with other settings (seed 7, was 1234)" in err[0]
    assert "--run-name" in err[0] and "--force" in err[0]
    assert _card(out).read_bytes() == before  # nothing was touched
    assert _demo(out, "--seed", "7", "--run-name", "seed7") == 0  # beside it
    assert _card(out, "seed7").is_file() and _card(out).read_bytes() == before
    assert _demo(out, "--seed", "7", "--force") == 0  # replaced, because the user said so
    assert b'"seed": 7' in _card(out).read_bytes()


def test_same_settings_resume_and_labels_may_change(tmp_path):
    out = tmp_path / "results"
    assert _demo(out) == 0
    assert _demo(out, "--label", "step=10") == 0  # metadata, not a setting of the results
    assert b'"step": 10' in _card(out).read_bytes()


@pytest.mark.integration
def test_relative_data_dir_works_from_anywhere(tmp_path, data_dir, monkeypatch):
    """A data dir given relative to where the command runs is recorded absolute: a re-judge from another folder
    finds the same data."""
    monkeypatch.chdir(data_dir.parent)
    out = tmp_path / "results"
    args = ["--data-dir", os.path.relpath(data_dir), "--limit", "3", "--tasks", "beavertails"]
    assert main(["demo", "--output-dir", str(out), "--gen-kwargs", "max_gen_toks=8", *args]) == 0
    run_dir = next(out.glob("tiny-model/*"))
    monkeypatch.chdir(tmp_path)
    assert main(["judge", str(run_dir), "--judge", "xstest-strmatch"]) == 0
    assert (run_dir / "verdicts" / "beavertails.xstest-strmatch.jsonl").is_file()


def test_one_progress_view_and_lm_eval_bars_only_when_asked(tmp_path, capsys):
    assert _demo(tmp_path / "a") == 0
    err = capsys.readouterr().err
    assert "[1/2] pubmedqa: 4 items answered" in err and "[2/2] beavertails: 4 items answered" in err
    assert "8/8 items" in err and "Running loglikelihood requests" not in err and "Checking cached" not in err
    assert _demo(tmp_path / "b", "--quiet") == 0
    assert "items answered" not in capsys.readouterr().err
    assert _demo(tmp_path / "c", "--verbose") == 0
    assert "Running loglikelihood requests" in capsys.readouterr().err
