"""sweep.json: every point's status, card, labels and error, written atomically after each point.

A point is finished when sweep.json records it done under the same key and its card is still there. The key
hashes everything its card was made from, so a changed checkpoint, task, dataset, judge or setting (or another
version of hhh-eval) makes the point run again; the run itself then resumes whatever is still valid.
"""

from __future__ import annotations

from collections.abc import Sequence

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from hhh_eval.fileio import atomic_write_json, dumps, read_json, sha256_text
from hhh_eval.identity import cached_sha256
from hhh_eval.pipeline import RunPlan, task_key
from hhh_eval.provenance import harness_info
from hhh_eval.sweep.merge import MergeProvenance

SWEEP_JSON = "sweep.json"
KEY_VERSION = 1
Status = Literal["pending", "done", "failed"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PointState(_Model):
    name: str
    kind: Literal["point", "checkpoint", "merge"]
    labels: dict[str, int | float | str]
    model: str | None  # path or hub id; a merge's cache folder once built
    status: Status = "pending"
    key: str | None = None
    run_dir: str | None = None  # relative to the sweep folder
    error: str | None = None
    attempts: int | None = None  # tries made (local executor; Ray retries on its own)
    seconds: float | None = None
    merge: MergeProvenance | None = None
    finished_at: str | None = None

    @property
    def card(self) -> str | None:
        return f"{self.run_dir}/report_card.json" if self.run_dir else None


class ReportState(_Model):
    key: str
    files: list[str]
    frontier: list[str]
    policy: str | None = None
    gate: dict[str, str] = {}  # point -> PASS | FAIL | why it was not gated
    best: str | None = None
    notes: list[str] = []


class SweepState(_Model):
    sweep_version: Literal[1] = 1
    name: str
    sweep_file: str
    sweep_sha256: str
    executor: str
    baseline: str
    x: str | None
    points: list[PointState]
    report: ReportState | None = None
    updated_at: str = ""

    def point(self, name: str) -> PointState:
        return next(p for p in self.points if p.name == name)

    def save(self, sweep_dir: Path) -> None:
        self.updated_at = now()
        atomic_write_json(sweep_dir / SWEEP_JSON, self.model_dump(mode="json"))


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def load_state(sweep_dir: Path) -> SweepState | None:
    """The sweep.json of an earlier run, or None (absent, or unreadable: every point is then checked again)."""
    path = sweep_dir / SWEEP_JSON
    if not path.is_file():
        return None
    try:
        return SweepState.model_validate(read_json(path))
    except (OSError, json.JSONDecodeError, ValidationError) as exc:
        print(f"warning: {path} is unreadable ({type(exc).__name__}); checking every point again", file=sys.stderr)
        return None


def tasks_tree_sha(roots: Sequence[Path]) -> str:
    """Hash of every task, suite, judge and policy file, shipped and in the include paths (file hashes from the
    fingerprint cache)."""
    listing = []
    for root in roots:
        files = sorted(f for f in root.rglob("*") if f.is_file() and "__pycache__" not in f.parts)
        listing.append([str(root), [[str(f.relative_to(root)), cached_sha256(f)] for f in files]])
    return sha256_text(dumps(listing))


def point_key(plan: RunPlan, tree_sha: str) -> str:
    """Everything a point's card is made from: model identity, each task's key (task files, data, settings),
    judge, labels, merge provenance, the shipped task files and the harness version."""
    c, harness = plan.config, harness_info()
    return sha256_text(dumps([KEY_VERSION, plan.identity.sha256, [[s.name, task_key(plan, s)] for s in plan.specs],
                              list(plan.derived), c.judge, c.judge_overrides, c.settings.batch_size, c.labels,
                              c.merge, tree_sha, harness["version"], harness["git_revision"]]))
