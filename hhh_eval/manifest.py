"""A run's manifest.json: where its tasks, suite and judges came from, and the registry that finds them again.

`sources` records, for the suite, each task (derived ones too) and each judge that labelled answers, a Source:
its origin (shipped, include_path, file, adhoc), the include path, the file and a sha256 (a task's is of its
resolved config and hook code). `include_paths` lists the folders the run read, so that re-judging a run
(`hhh-eval judge RUN_DIR`) finds its user tasks again; a folder that is gone, or a task or suite file that changed
since the run, is an error rather than a card silently built from other definitions.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hhh_eval.errors import UserError
from hhh_eval.registry import Registry, Source, SuiteSpec

MANIFEST = "manifest.json"
MANIFEST_VERSION = 2


def suite_source(registry: Registry, suite: SuiteSpec) -> Source:
    if suite.name not in registry.files["suite"]:
        return Source(origin="adhoc")
    return registry.source(registry.files["suite"][suite.name])


def judge_sources(registry: Registry, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    return {n: registry.source(registry.files["judge"][n]).model_dump() for n in sorted(names)}


def run_sources(registry: Registry, suite: SuiteSpec, tasks: Sequence[str], judges: Sequence[str]) -> dict[str, Any]:
    """The manifest's `sources`: suite, tasks and judges, each a Source as a dict."""
    return {"suite": suite_source(registry, suite).model_dump(),
            "tasks": {name: registry.task_source(name).model_dump() for name in tasks},
            "judges": judge_sources(registry, judges)}


def _sources(manifest: dict[str, Any]) -> dict[str, Any]:
    return manifest.get("sources") or {"suite": {"origin": "shipped"}, "tasks": {}, "judges": {}}


def run_registry(manifest: dict[str, Any], include: Sequence[Path] = ()) -> Registry:
    """The registry a finished run was made with: its include paths (plus `include`), its files given by path."""
    recorded = [Path(p) for p in manifest.get("include_paths", [])]
    if gone := [p for p in recorded if not p.is_dir()]:
        raise UserError(f"the run read tasks from include path {gone[0]}, which is gone; restore that folder to "
                        "re-judge or re-score the run")
    registry = Registry.build([*recorded, *include])
    sources = _sources(manifest)
    files = [("suite", sources["suite"])] + [("judge", s) for s in sources["judges"].values()]
    for kind, source in files:
        if source.get("origin") == "file":
            registry, _ = registry.named(kind, source["path"])  # type: ignore[arg-type]
    return registry


def run_suite(registry: Registry, manifest: dict[str, Any]) -> SuiteSpec:
    """The run's suite, rebuilt from the registry (an ad-hoc suite from the run's tasks)."""
    if _sources(manifest)["suite"].get("origin") == "adhoc":
        return registry.adhoc_suite([*manifest["tasks"], *manifest.get("derived", [])])
    return registry.suite(manifest["suite"])


def check_unchanged(registry: Registry, manifest: dict[str, Any]) -> None:
    """UserError when a task of the run is unknown now, or a task or the suite is defined differently than when it
    ran."""
    if unknown := [t for t in manifest["tasks"] if t not in registry.tasks]:
        raise UserError(f"the run names unknown task(s) {', '.join(unknown)}; re-judge it where those tasks exist "
                        "(--include-path DIR with their definitions)")
    sources = _sources(manifest)
    for name, recorded in sources["tasks"].items():
        now = registry.task_source(name)
        if recorded.get("sha256") != now.sha256:
            raise UserError(f"task {name} changed since the run ({now.path}): its answers belong to the old "
                            "definition; re-run the task (hhh-eval run ...) instead of re-judging")
    suite = sources["suite"]
    if suite.get("origin") not in (None, "adhoc") and suite.get("sha256"):
        now = registry.source(registry.files["suite"][manifest["suite"]])
        if now.sha256 != suite["sha256"]:
            raise UserError(f"suite {manifest['suite']} changed since the run ({now.path}); re-run the suite, or "
                            "restore the file to re-judge")
