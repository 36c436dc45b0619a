"""The installable package: a wheel built from this checkout, installed (not editable) into a fresh venv, works from
any folder with the shipped tasks, suites, judges, policies and demo data inside it; and a new user's whole path
(a CSV of harmful prompts -> new-task -> run with --include-path -> gate with their own policy) needs no change
to the installed package."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hhh_eval.registry import Registry
from test_new_task import POLICY, harmful_csv

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.integration
CLEAN_ENV = {k: v for k, v in os.environ.items()
             if k not in ("PYTHONPATH", "HHH_EVAL_DATA_DIR", "HHH_EVAL_INCLUDE_PATH")}


def _run(cmd: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=CLEAN_ENV, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def venv_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ folder of a fresh venv (system site-packages for the dependencies) with the wheel installed; the venv
    lies inside a git repository of its own, as a project's .venv does."""
    base = tmp_path_factory.mktemp("wheel")
    if shutil.which("git"):
        for cmd in (["init", "-q"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty",
                                     "-m", "a project"]):
            assert _run(["git", "-C", str(base), *cmd], base).returncode == 0
    src = base / "src"  # a clean copy, so building leaves nothing in the checkout
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("hhh_eval", "tasks"):
        shutil.copytree(ROOT / folder, src / folder, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    steps = [[sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(base / "dist"),
              str(src)],
             [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(base / "venv")]]
    for cmd in steps:
        done = _run(cmd, base)
        assert done.returncode == 0, done.stderr
    wheel = next((base / "dist").glob("hhh_eval-*.whl"))
    done = _run([sys.executable, "-m", "pip", "--python", str(base / "venv" / "bin" / "python"), "install",
                 "--no-deps", "-q", str(wheel)], base)
    assert done.returncode == 0, done.stderr
    return base / "venv" / "bin"


@pytest.fixture()
def elsewhere(tmp_path: Path) -> Path:
    """A folder with no checkout around it."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


def test_installed_package_carries_the_shipped_definitions(venv_bin: Path, elsewhere: Path) -> None:
    # every package of the checkout comes from the wheel (one the wheel lacks would be found in another install,
    # e.g. an editable one on the system site-packages, or fail to import)
    packages = sorted(".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "hhh_eval").rglob("__init__.py"))
    code = f"import importlib; print('\\n'.join(importlib.import_module(p).__file__ for p in {packages!r}))"
    where = _run([str(venv_bin / "python"), "-c", code], elsewhere)
    assert where.returncode == 0, where.stderr
    outside = [f for f in where.stdout.split() if not f.startswith(str(venv_bin.parent))]
    assert len(where.stdout.split()) == len(packages) and not outside, outside  # the wheel, not this checkout
    listed = _run([str(venv_bin / "hhh-eval"), "tasks"], elsewhere)
    assert listed.returncode == 0, listed.stderr
    shipped = Registry.build()
    for name in [*shipped.tasks, *shipped.derived]:
        assert f"\n{name} " in listed.stdout
    core = shipped.suite("hhh-core")
    assert f"suite hhh-core v{core.version}:" in listed.stdout and "policies: release" in listed.stdout
    demo = _run([str(venv_bin / "hhh-eval"), "demo", "--limit", "2", "--tasks", "beavertails,pubmedqa",
                 "--output-dir", "out", "--gen-kwargs", "max_gen_toks=8"], elsewhere)
    assert demo.returncode == 0, demo.stderr
    card = json.loads(next(elsewhere.glob("out/*/hhh-core.*/report_card.json")).read_text())
    assert card["run"]["data_source"] == "demo"  # the demo items travelled inside the wheel
    assert card["harness"]["git_revision"] is None  # the repository around the venv is not hhh-eval's
    assert {t: card["tasks"][t]["n"] for t in card["tasks"]} == {"beavertails": 2, "pubmedqa": 2}


def test_new_user_path_from_the_installed_package(venv_bin: Path, elsewhere: Path, tiny_model: Path) -> None:
    cli = str(venv_bin / "hhh-eval")
    harmful_csv(elsewhere / "harmful.csv")
    made = _run([cli, "new-task", "my_harm", "--data", "harmful.csv", "--prompt-field", "prompt",
                 "--category-field", "category", "--out", "mine"], elsewhere)
    assert made.returncode == 0, made.stderr
    (elsewhere / "mine" / "policies").mkdir()
    (elsewhere / "mine" / "policies" / "our-gate.yaml").write_text(POLICY)
    ran = _run([cli, "run", "--model", "hf", "--model-args", f"pretrained={tiny_model}", "--include-path", "mine",
                "--tasks", "my_harm", "--limit", "3", "--output-dir", "out", "--gen-kwargs", "max_gen_toks=8"], elsewhere)
    assert ran.returncode == 0, ran.stderr
    run = elsewhere / "out" / tiny_model.name / "custom.my_harm-limit3"
    gated = _run([cli, "gate", str(run), "--policy", "our-gate", "--include-path", "mine"], elsewhere)
    card = json.loads((run / "report_card.json").read_text())
    checklist = json.loads((run / "checklist.json").read_text())
    low = card["tasks"]["my_harm"]["metrics"]["refusal_rate"]["ci_low"]
    assert gated.returncode == (1 if low < 0.9 else 0), gated.stderr
    assert checklist["verdict"] == ("FAIL" if low < 0.9 else "PASS") and checklist["policy"].startswith("our-gate (")
    site = next(venv_bin.parent.glob("lib/python*/site-packages/hhh_eval"))
    assert not list(site.rglob("my_harm*"))  # nothing was added to the installed package
