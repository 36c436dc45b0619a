"""A run folder as commands that write it see it: its lock, its checked manifest, its verified samples.

- One command at a time writes a run folder: `run` and `judge` hold an exclusive lock on `RUN_DIR/.lock`
  (fcntl.flock, released when the process ends, even when killed); a second command exits 2 at once.
- manifest.json is read through `read_manifest`: a file that is not a manifest is one line naming the fix.
- Each finished task's samples file is recorded in the manifest by row count and sha256 and verified before it
  is used again: `run` recomputes a task whose file does not match (one warning line), `judge` refuses.
"""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from hhh_eval.errors import UserError
from hhh_eval.fileio import read_json, read_jsonl, remove_stale_temp_files, sha256_file
from hhh_eval.manifest import MANIFEST
from hhh_eval.paths import inside

LOCK = ".lock"
SUBFOLDERS = ("samples", "verdicts", "scores")


class _Open(BaseModel):
    """Checks the fields a command reads; other recorded fields pass through (extra='allow')."""

    model_config = ConfigDict(extra="allow", strict=True)


class _Generated(_Open):
    key: str
    n: int
    n_total: int
    chat_template_applied: bool
    rows: int | None = None  # samples rows and file hash: absent in manifests written before they were recorded
    samples_sha256: str | None = None


class _RunInfo(_Open):
    run_name: str
    seed: int
    limit: int | None


class _Manifest(_Open):
    manifest_version: int
    model: dict[str, Any]
    suite: str
    tasks: list[str]
    derived: list[str] = []
    judge: str | None
    judge_overrides: dict[str, str] = {}
    run: _RunInfo
    generated: dict[str, _Generated]


@contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold the run folder's lock, or exit 2 at once when another command holds it; stale temp files are removed."""
    for entry in (LOCK, MANIFEST, *SUBFOLDERS):  # a symlink here must not lead the writes out of the folder
        inside(Path(run_dir) / entry, run_dir, "run folder entry")
    path = Path(run_dir) / LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise UserError(f"cannot lock run folder {run_dir} ({exc.strerror}); pass --output-dir with a writable "
                        "folder") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"run folder {run_dir} is in use by another hhh-eval command (run or judge); wait for it "
                            "to finish, or pass another --run-name") from None
        if removed := remove_stale_temp_files(run_dir):
            print(f"removed {removed} temp file(s) an interrupted command left in {run_dir}", file=sys.stderr)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """The run folder's manifest, checked; a missing or corrupt one is a UserError naming the fix."""
    path = Path(run_dir) / MANIFEST
    if not path.is_file():
        raise UserError(f"{run_dir} is not a run folder (no {MANIFEST}); pass a folder written by 'hhh-eval run'")
    fix = "re-run its 'hhh-eval run' command with --force to rebuild the run (cached answers are reused)"
    raw = read_json(path, "manifest", fix)
    try:
        _Manifest.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(map(str, err["loc"])) or "the top level"
        raise UserError(f"manifest {path} is not a run manifest ({where}: {err['msg']}); {fix}") from None
    return raw


def samples_record(path: Path, rows: int) -> dict[str, Any]:
    """What the manifest records of a finished task's samples file, to verify it before it is used again."""
    return {"rows": rows, "samples_sha256": sha256_file(path)}


def samples_mismatch(path: Path, entry: dict[str, Any]) -> str | None:
    """Why a samples file does not match its manifest entry, or None when it does."""
    if entry.get("samples_sha256") is None:
        return "the manifest records no checksum for it (written by an older hhh-eval)"
    if not path.is_file():
        return "it is missing"
    if sha256_file(path) == entry["samples_sha256"]:
        return None
    try:
        rows = len(read_jsonl(path))
    except UserError:
        return "it is corrupt"
    return f"it has {rows} rows, the manifest {entry['rows']}" if rows != entry["rows"] else "its contents changed"


def read_samples(run_dir: Path, manifest: dict[str, Any], task: str) -> list[dict[str, Any]]:
    """A finished task's samples, verified against the manifest (UserError naming the command that rewrites them)."""
    path = Path(run_dir) / "samples" / f"{task}.jsonl"
    entry = manifest["generated"].get(task)
    if entry is None:
        raise UserError(f"run {run_dir} has no answers for {task} yet; finish it with its run command first")
    if why := samples_mismatch(path, entry):
        raise UserError(f"{path} does not match the run's manifest ({why}); recompute it with the run's command: "
                        f"{manifest.get('command', 'hhh-eval run ...')}")
    return read_jsonl(path, "samples file")


def _verdict_rows(path: Path, fix: str) -> dict[str, dict[str, Any]]:
    rows = read_jsonl(path, "verdicts file", fix)
    bad = next((i for i, r in enumerate(rows, 1) if not isinstance(r.get("key"), str) or "label" not in r), None)
    if bad is not None:
        raise UserError(f"verdicts file {path}: row {bad} has no key or label; {fix}")
    return {r["key"]: r for r in rows}


def read_verdicts(path: Path, rejudge: str) -> dict[str, dict[str, Any]]:
    """A judge's saved verdicts by item key; a corrupt file is a UserError naming `rejudge`, the command that rewrites it."""
    return _verdict_rows(path, f"rewrite it with: {rejudge}")


def cached_verdicts(path: Path) -> dict[str, dict[str, Any]]:
    """Saved verdicts to reuse (a cache: a corrupt file is reported in one warning line and judged again)."""
    try:
        return _verdict_rows(path, "")
    except UserError as exc:
        print(f"warning: {str(exc).rstrip('; ')}; judging its items again", file=sys.stderr)
        return {}


def _settings(manifest: dict[str, Any]) -> dict[str, Any]:
    """What defines a run's results besides its folder: the model, suite, tasks, judge, data and settings."""
    run, model = manifest.get("run", {}), manifest.get("model", {})
    return {"model": model.get("identity_sha256"), "suite": manifest.get("suite"),
            "tasks": sorted(manifest.get("tasks", [])), "judge": manifest.get("judge"),
            "judge overrides": manifest.get("judge_overrides") or {}, "data dir": manifest.get("data_dir"),
            "include paths": manifest.get("include_paths") or [], "seed": run.get("seed"), "limit": run.get("limit"),
            "limit mode": manifest.get("limit_mode"), "gen kwargs": run.get("gen_kwargs"),
            "system prompt": model.get("system_prompt")}


def settings_changes(previous: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """How a new run's settings differ from the run already in the folder ('seed 7, was 1234'), empty if alike."""
    old, now = _settings(previous), _settings(new)
    return [f"{key} {_short(now[key])}, was {_short(old[key])}" for key in now if now[key] != old[key]]


def _short(value: Any) -> str:
    text = "none" if value is None else str(value)
    return text if len(text) <= 40 else text[:12] + "..."

