"""Shared fixtures: the tiny offline model (built once per session) and the real data dir (or a clear skip)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hhh_eval.tiny_model import build_tiny_model

DATA_DIR_ENV = "HHH_EVAL_DATA_DIR"
# A relative data dir (the README's `HHH_EVAL_DATA_DIR=../shared/data make test`) means relative to where the tests
# were started; tests that change folder or start subprocesses elsewhere must see the same folder.
if os.environ.get(DATA_DIR_ENV):
    os.environ[DATA_DIR_ENV] = str(Path(os.environ[DATA_DIR_ENV]).expanduser().resolve())


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random causal LM with a trained byte-level tokenizer and a chat template."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real datasets in hub layout (CI sets HHH_EVAL_DATA_DIR=../shared/data)."""
    raw = os.environ.get(DATA_DIR_ENV)
    if not raw:
        pytest.skip("HHH_EVAL_DATA_DIR is not set: real-data tests need the datasets in hub layout (see README)")
    path = Path(raw).resolve()
    if not (path / "hub").is_dir():  # set but wrong: the real-data tests would skip unseen, so fail instead
        pytest.fail(f"HHH_EVAL_DATA_DIR={path} has no hub/ folder; point it at the datasets (e.g. ../shared/data) "
                    "or unset it to skip the real-data tests")
    return path


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run that collected no test fails (exit 1), never exits 5: CI cannot pass on an empty selection."""
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
