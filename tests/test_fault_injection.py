"""Kill -9 at random moments: a run or a re-judge killed anywhere, then run again, ends exactly like one that was
never interrupted (the card apart from its timestamp, every per-item file byte for byte), with no temp file left.

The kill delays are drawn (seeded) between 0 and the time one uninterrupted command took here, so they land in
start-up, model loading, generation, judging and writing alike. A handful of kills keeps CI time small; the
command is the real CLI in a subprocess, SIGKILLed from this process.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import hhh_eval
from hhh_eval.cli import main
from hhh_eval.fileio import stale_temp_files
from hhh_eval.registry import tasks_dir

RUN_KILLS = 4
JUDGE_KILLS = 3
TASKS = "pubmedqa,xstest_safe"
CODE = str(Path(hhh_eval.__file__).resolve().parent.parent)  # the code under test, for the subprocesses
PER_ITEM = ("samples", "verdicts", "scores")


def _run_argv(out: Path, tiny: Path) -> list[str]:
    return ["run", "--model", "hf", "--model-args", f"pretrained={tiny}", "--tasks", TASKS, "--limit", "3",
            "--data-dir", str(tasks_dir() / "demo_data"), "--output-dir", str(out), "--run-name", "r"]


def _cli(argv: list[str]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": CODE}
    return subprocess.Popen([sys.executable, "-m", "hhh_eval", *argv], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _timed(argv: list[str]) -> float:
    start = time.perf_counter()
    assert _cli(argv).wait(timeout=600) == 0
    return time.perf_counter() - start


def _kill_after(argv: list[str], delay: float) -> None:
    proc = _cli(argv)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)


def _outcome(run_dir: Path) -> tuple[dict, dict[str, bytes]]:
    """The card without its timestamp, and every per-item file's bytes."""
    card = json.loads((run_dir / "report_card.json").read_text(encoding="utf-8"))
    card.pop("created_at")
    files = {str(p.relative_to(run_dir)): p.read_bytes() for d in PER_ITEM for p in sorted((run_dir / d).glob("*"))}
    return card, files


def _check_like(run_dir: Path, reference: tuple[dict, dict[str, bytes]], what: str) -> None:
    card, files = _outcome(run_dir)
    assert card == reference[0], f"{what}: the card differs from the uninterrupted one"
    assert files.keys() == reference[1].keys(), f"{what}: other per-item files"
    assert files == reference[1], f"{what}: per-item files differ"
    assert not stale_temp_files(run_dir), f"{what}: temp files left"
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    for task, entry in manifest["generated"].items():  # the manifest records the samples that are there
        rows = (run_dir / "samples" / f"{task}.jsonl").read_text(encoding="utf-8").count("\n")
        assert entry["rows"] == rows == entry["n"], what


@pytest.fixture(scope="module")
def reference(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """An uninterrupted run (in a subprocess, timed so that kills land anywhere in it)."""
    out = tmp_path_factory.mktemp("reference")
    seconds = _timed(_run_argv(out, tiny_model))
    return next(out.glob("*/r")), seconds


def test_killed_runs_resume_to_the_uninterrupted_result(reference: tuple[Path, float], tiny_model: Path,
                                                        tmp_path: Path) -> None:
    ref_dir, seconds = reference
    expected = _outcome(ref_dir)
    rng = random.Random(14)
    for i in range(RUN_KILLS):
        out = tmp_path / f"kill{i}"
        delay = rng.uniform(0.2, seconds)
        _kill_after(_run_argv(out, tiny_model), delay)
        assert main(_run_argv(out, tiny_model)) == 0, f"re-run after a kill at {delay:.1f}s failed"
        _check_like(next(out.glob("*/r")), expected, f"run killed at {delay:.1f}s")


def test_killed_rejudges_finish_like_an_uninterrupted_one(reference: tuple[Path, float], tmp_path: Path) -> None:
    ref_dir, _ = reference
    clean = tmp_path / "clean"
    shutil.copytree(ref_dir, clean)
    argv = ["judge", str(clean), "--judge", "refusal", "--force"]
    seconds = _timed(argv)
    expected = _outcome(clean)
    rng = random.Random(1414)
    for i in range(JUDGE_KILLS):
        run_dir = tmp_path / f"judge{i}"
        shutil.copytree(ref_dir, run_dir)
        delay = rng.uniform(0.2, seconds)
        _kill_after(["judge", str(run_dir), "--judge", "refusal", "--force"], delay)
        assert main(["judge", str(run_dir), "--judge", "refusal", "--force"]) == 0
        _check_like(run_dir, expected, f"re-judge killed at {delay:.1f}s")


def test_a_second_command_on_a_busy_run_folder_exits_2(reference: tuple[Path, float], tiny_model: Path,
                                                       tmp_path: Path) -> None:
    """Another process holds the folder (as a running `run` does): `run` and `judge` stop at once, write nothing."""
    from hhh_eval.rundir import run_lock

    ref_dir, _ = reference
    out = tmp_path / "busy"
    run_dir = out / ref_dir.parent.name / "r"
    shutil.copytree(ref_dir, run_dir)
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    with run_lock(run_dir):
        for argv in (_run_argv(out, tiny_model), ["judge", str(run_dir), "--judge", "refusal"]):
            proc = subprocess.run([sys.executable, "-m", "hhh_eval", *argv], capture_output=True, text=True,
                                  timeout=300, env={**os.environ, "PYTHONPATH": CODE})
            lines = proc.stderr.strip().splitlines()
            assert proc.returncode == 2 and len(lines) == 1, proc.stderr
            assert lines[0].startswith(f"hhh-eval {argv[0]}: error: run folder {run_dir} is in use by another")
    assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before
    assert main(["judge", str(run_dir), "--judge", "refusal"]) == 0  # free again once the holder is done
