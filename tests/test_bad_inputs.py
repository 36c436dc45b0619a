"""Every bad input is one clean line: the table of cases in bad_inputs.yaml, run by one runner.

Each case runs a subcommand in-process through `hhh_eval.cli.main` (or `make` in a subprocess) inside a fresh
folder holding the shared fixtures, and asserts: the exit code; one stderr line naming the problem and the fix
(the case's `problem` and `fix` texts); no traceback; and that the files under the folder are exactly as before,
apart from the case's documented `writes` (globs). A new command's cases are one entry each in the YAML file;
`test_every_command_and_make_target_has_cases` fails until every subcommand (hhh_eval.cli.COMMANDS) and every
make target (the Makefile's .PHONY) has at least one.
"""

from __future__ import annotations

import fcntl
import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml

import hhh_eval
from hhh_eval.cli import COMMANDS, main

TABLE = Path(__file__).with_name("bad_inputs.yaml")
ROOT = Path(hhh_eval.__file__).resolve().parent.parent  # the code under test (its Makefile and tasks/)
CASES: list[dict[str, Any]] = yaml.safe_load(TABLE.read_text(encoding="utf-8"))
KEYS = {"id", "class", "argv", "make", "make_flags", "setup", "exit", "problem", "fix", "writes", "stream", "env"}
MAKE_TARGETS = next(line.split(":", 1)[1].split() for line in (ROOT / "Makefile").read_text().splitlines()
                    if line.startswith(".PHONY:"))  # every target of the Makefile needs a case
BASE_TASKS = "pubmedqa,xstest_safe"


def _base_args(out: Path, tiny: Path) -> list[str]:
    return ["run", "--model", "hf", "--model-args", f"pretrained={tiny}", "--tasks", BASE_TASKS, "--limit", "3",
            "--data-dir", str(ROOT / "tasks" / "demo_data"), "--output-dir", str(out), "--run-name", "base"]


@pytest.fixture(scope="session")
def base_run(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run of the tiny model (a log-likelihood task and a judged generation task), copied per case."""
    out = tmp_path_factory.mktemp("base-run")
    assert main(_base_args(out, tiny_model)) == 0
    return next(out.glob("*/base"))


# ---------------------------------------------------------------- fixtures and placeholders

def _fixture_files(tmp: Path) -> None:
    (tmp / "file.txt").write_text("a regular file, not a folder\n")
    (tmp / "latin1.txt").write_bytes("caf\xe9 {\"x\": 1}\n".encode("latin-1"))
    (tmp / "binary.bin").write_bytes(bytes(range(256)) * 4)
    (tmp / "empty.txt").write_bytes(b"")
    (tmp / "emptydir").mkdir()
    (tmp / "outside").mkdir()


def _places(tmp: Path, tiny: Path, base: Path | None) -> dict[str, str]:
    places = {"tmp": str(tmp), "tiny": str(tiny), "root": str(ROOT), "demo_data": str(ROOT / "tasks" / "demo_data"),
              "policy": str(ROOT / "tasks" / "policies" / "release.yaml"), "python": sys.executable,
              "base_tasks": BASE_TASKS}
    if base is not None:
        places |= {"run": str(tmp / "results" / base.parent.name / "base"),
                   "run2": str(tmp / "results" / base.parent.name / "base2"),
                   "card": str(tmp / "results" / base.parent.name / "base" / "report_card.json")}
    return places


def _fill(value: Any, places: dict[str, str]) -> Any:
    if isinstance(value, str):
        for key, text in places.items():
            value = value.replace("{" + key + "}", text)
        return value
    if isinstance(value, list):
        return [_fill(v, places) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, places) for k, v in value.items()}
    return value


def _uses_run(case: dict[str, Any]) -> bool:
    text = json.dumps(case)
    return any(f"{{{p}}}" in text for p in ("run", "run2", "card"))


# ---------------------------------------------------------------- setup operations

def _cut_line(path: Path, line: int) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[line - 1] = lines[line - 1][: len(lines[line - 1]) // 2] + "\n"
    path.write_text("".join(lines), encoding="utf-8")


def _json_edit(path: Path, key: str | list[str], value: Any, delete: bool) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    *parents, last = key.split(".") if isinstance(key, str) else key
    node = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if delete:
        del node[last]
    else:
        node[last] = value
    path.write_text(json.dumps(doc), encoding="utf-8")


def _apply(op: dict[str, Any], stack: ExitStack) -> None:
    """One setup operation (each names its target path first)."""
    kind, target = next(iter(op.items()))
    path = Path(target)
    if kind == "write":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(op["text"], encoding="utf-8")
    elif kind == "keep_bytes":
        path.write_bytes(path.read_bytes()[: op["n"]])
    elif kind == "keep_lines":
        path.write_text("".join(path.read_text(encoding="utf-8").splitlines(keepends=True)[: op["n"]]), encoding="utf-8")
    elif kind == "cut_line":
        _cut_line(path, op["line"])
    elif kind in ("json_set", "json_delete"):
        _json_edit(path, op["key"], op.get("value"), kind == "json_delete")
    elif kind == "copy":
        Path(op["to"]).parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if path.is_dir() else shutil.copy)(path, Path(op["to"]))
    elif kind == "symlink":
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink(missing_ok=True)
        path.symlink_to(op["to"])
    elif kind == "delete":
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    elif kind == "lock":  # another command holding the run folder's lock
        fd = os.open(path / ".lock", os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)
        stack.callback(os.close, fd)
    else:
        raise AssertionError(f"unknown setup operation {kind}")


def _snapshot(folder: Path) -> dict[str, str]:
    """Every entry under `folder`: a file's sha256, a link's target, or 'dir'."""
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        if path.is_symlink():
            out[rel] = "link:" + os.readlink(path)
        elif path.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


# ---------------------------------------------------------------- running one case

def _run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except Exception as exc:  # an exception out of main is a traceback for the user
        pytest.fail(f"uncaught {type(exc).__name__}: {exc}")
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _run_make(case: dict[str, Any], tmp: Path) -> tuple[int, str, str]:
    echo = tmp / "echo_argv.py"
    echo.write_text("import json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    target, *assignments = case["make"]
    cmd = ["make", "-s", "-o", ".installed", *case.get("make_flags", []), target, *assignments]
    if not any(a.startswith("PYTHON=") for a in assignments):
        cmd.append(f"PYTHON={sys.executable} {echo}")
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stdout, proc.stderr


def _check_output(case: dict[str, Any], code: int, out: str, err: str) -> None:
    expected = case.get("exit", 2)
    assert "Traceback" not in err + out, err
    assert code == expected, f"exit {code}, expected {expected}; stderr: {err.strip()}"
    text = out if case.get("stream") == "stdout" else err
    lines = [line for line in text.splitlines() if line.strip()]
    if expected == 0:  # a documented recovery: its warning is one of the lines
        lines = [line for line in lines if case["problem"] in line]
    assert len(lines) == 1, f"expected one line naming the problem, got: {text!r}"
    assert case["problem"] in lines[0] and case["fix"] in lines[0], lines[0]


def run_case(case: dict[str, Any], tmp: Path, tiny: Path, base: Path | None, capsys: pytest.CaptureFixture[str],
             monkeypatch: pytest.MonkeyPatch) -> None:
    _fixture_files(tmp)
    case = _fill(case, _places(tmp, tiny, base))
    if base is not None:
        shutil.copytree(base, tmp / "results" / base.parent.name / "base")
        shutil.copytree(base, tmp / "results" / base.parent.name / "base2")
    monkeypatch.chdir(tmp)
    monkeypatch.delenv("HHH_EVAL_DATA_DIR", raising=False)
    for key, value in case.get("env", {}).items():
        monkeypatch.setenv(key, value)
    with ExitStack() as stack:
        for op in case.get("setup", []):
            _apply(op, stack)
        before = _snapshot(tmp)
        code, out, err = _run_make(case, tmp) if "make" in case else _run_cli(case["argv"], capsys)
        after = _snapshot(tmp)
    _check_output(case, code, out, err)
    undocumented = {p for p in _changed(before, after) if not any(fnmatch.fnmatch(p, w) for w in case.get("writes", []))}
    undocumented.discard("echo_argv.py")
    assert not undocumented, f"files written or changed that the case does not document: {sorted(undocumented)}"
    assert not [p for p in after if p.endswith(".tmp")], "temp files left behind"
    assert not (tmp / "pwned").exists(), "a value was run as a command"


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_bad_input(case: dict[str, Any], tmp_path: Path, tiny_model: Path, request: pytest.FixtureRequest,
                   capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    if "make" in case and shutil.which("make") is None:
        pytest.skip("make is not installed")
    base = request.getfixturevalue("base_run") if _uses_run(case) else None
    capsys.readouterr()  # the shared run's own output, when it was made for this case
    run_case(case, tmp_path, tiny_model, base, capsys, monkeypatch)


# ---------------------------------------------------------------- the table itself

def test_table_is_well_formed() -> None:
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids)), "case ids repeat"
    for case in CASES:
        assert set(case) <= KEYS, f"{case['id']}: unknown keys {set(case) - KEYS}"
        assert ("argv" in case) != ("make" in case), f"{case['id']}: give argv or make"
        assert case.get("problem") and case.get("fix") and case.get("class"), f"{case['id']}: problem, fix, class"


def test_every_command_and_make_target_has_cases() -> None:
    commands = {c["argv"][0] for c in CASES if c.get("argv")}
    targets = {c["make"][0] for c in CASES if "make" in c}
    assert set(COMMANDS) <= commands, f"add bad-input cases for: {sorted(set(COMMANDS) - commands)}"
    assert set(MAKE_TARGETS) <= targets, f"add make cases for: {sorted(set(MAKE_TARGETS) - targets)}"
    assert len(CASES) >= 150


def case_counts() -> Iterator[str]:
    """Cases by class and by subcommand (printed by `python tests/test_bad_inputs.py`)."""
    from collections import Counter

    by_class = Counter(c["class"] for c in CASES)
    by_command = Counter(("make " + c["make"][0]) if "make" in c else (c["argv"][0] if c["argv"] else "(none)")
                         for c in CASES)
    yield f"{len(CASES)} cases"
    yield "by class: " + ", ".join(f"{k} {v}" for k, v in sorted(by_class.items()))
    yield "by command: " + ", ".join(f"{k} {v}" for k, v in sorted(by_command.items()))


if __name__ == "__main__":
    print("\n".join(case_counts()))
