"""What the card records of the harness itself: versions of the code and the libraries that made the numbers."""

from __future__ import annotations

import platform
import subprocess
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import hhh_eval

PACKAGES = ("lm-eval", "torch", "transformers", "datasets", "tokenizers", "huggingface-hub", "accelerate",
            "numpy", "scipy", "vllm")


def _git(*args: str) -> str | None:
    """git's answer in the checkout hhh-eval runs from; None for an installed package (its folder is no checkout,
    though it may lie inside someone else's repository, e.g. a project's .venv)."""
    root = Path(hhh_eval.__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


@cache
def harness_info() -> dict[str, Any]:
    revision = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if revision else None
    return {
        "name": "hhh-eval",
        "version": hhh_eval.__version__,
        "git_revision": revision,
        "git_dirty": None if status is None else bool(status),
        "lm_eval_version": _version("lm-eval") or "unknown",
        "python": platform.python_version(),
        "packages": {p: _version(p) for p in PACKAGES},
    }
