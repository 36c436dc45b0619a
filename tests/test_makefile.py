"""`make eval` passes each variable to the CLI as one argument and never runs its text."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _make_argv(tmp_path: Path, *assignments: str) -> list[str]:
    echo = tmp_path / "echo_argv.py"
    echo.write_text("import json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    proc = subprocess.run(["make", "-s", "-o", ".installed", "eval", f"PYTHON={sys.executable} {echo}", *assignments],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_demo_without_model(tmp_path: Path) -> None:
    argv = _make_argv(tmp_path)
    assert argv[:3] == ["-m", "hhh_eval", "demo"]


def test_variables_reach_the_cli_verbatim(tmp_path: Path) -> None:
    model = f"a b; touch {tmp_path}/p1 $(shell touch {tmp_path}/p2) `touch {tmp_path}/p3` $$(touch {tmp_path}/p4) it's"
    argv = _make_argv(tmp_path, f"MODEL={model}", "MODEL_ARGS=dtype=bfloat16,revision=$(x)", "BACKEND=vllm",
                      "LIMIT=7", f"POLICY=$(shell touch {tmp_path}/p5)")
    assert argv[:5] == ["-m", "hhh_eval", "run", "--model", "vllm"]
    assert argv[argv.index("--model-args") + 1] == f"pretrained={model},dtype=bfloat16,revision=$(x)"
    assert argv[argv.index("--limit") + 1] == "7"
    assert argv[argv.index("--policy") + 1] == f"$(shell touch {tmp_path}/p5)"
    assert not list(tmp_path.glob("p*")), "a variable's text was executed"


def test_help_lists_the_everyday_targets() -> None:
    out = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout
    for target in ("make eval", "make test", "make bench", "make bench-compare", "POLICY"):
        assert target in out


def test_printable_values_pass_the_control_character_check(tmp_path: Path) -> None:
    """Only control characters stop make (bad_inputs.yaml has those cases): Unicode, spaces and quotes pass."""
    model = "組織/모델-ü é \"q\" 'a'\\b"
    argv = _make_argv(tmp_path, f"MODEL={model}", "TASKS=a, b")
    assert argv[argv.index("--model-args") + 1] == f"pretrained={model}"
    assert argv[argv.index("--tasks") + 1] == "a, b"
