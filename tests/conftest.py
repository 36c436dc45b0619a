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
    if not (path / "hub").is_dir():
        pytest.skip(f"HHH_EVAL_DATA_DIR={path} has no hub/ folder")
    return path
