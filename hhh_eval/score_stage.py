"""The judge and score stages of a run: judge what needs judging, then build the card and the per-item scores
from the run folder's files alone (so a run can be re-judged or re-scored without its model)."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hhh_eval.card import SCHEMA_VERSION, Card, ItemScore, TaskResult
from hhh_eval.card.io import ScoresFiles, scores_files
from hhh_eval.fileio import atomic_write_json
from hhh_eval.manifest import MANIFEST, judge_sources, run_suite
from hhh_eval.paths import inside
from hhh_eval.registry import Registry, SuiteSpec, TaskSpec
from hhh_eval.rundir import read_samples


def _judge_task(run_dir: Path, spec: TaskSpec, samples: list[dict[str, Any]], judge: Any, strip_think: bool,
                force: bool) -> list[Any]:
    from hhh_eval.judging import judge_samples, unscored_warning, verdicts_path

    path = inside(verdicts_path(run_dir, spec.name, judge.identity.name), run_dir)
    verdicts = judge_samples(judge, spec, samples, path, force=force, strip_think=strip_think)
    if warning := unscored_warning(spec.name, verdicts):
        print(warning, file=sys.stderr)
    return verdicts


def _judges(names: set[str], manifest: dict[str, Any], stack: ExitStack,
            registry: Registry) -> dict[str, tuple[Any, bool]]:
    """Each judge of the run built once (model judges load their model once, in a session): name -> (judge, strip)."""
    from hhh_eval.judges.specs import build_judge, load_judge_spec, with_overrides

    judges = {}
    for name in sorted(names):
        spec = load_judge_spec(name, registry=registry)
        if name == manifest["judge"]:
            spec = with_overrides(spec, manifest.get("judge_overrides", {}))
        judge = build_judge(spec)
        if hasattr(judge, "session"):
            stack.enter_context(judge.session())
        judges[name] = (judge, spec.strip_think)
    return judges


def _scored_tasks(run_dir: Path, manifest: dict[str, Any], suite: SuiteSpec, registry: Registry, force_judge: bool
                  ) -> tuple[dict[str, TaskResult], dict[str, list[ItemScore]], dict[str, ScoresFiles], dict[str, Any]]:
    """Task results, per-item score rows and their files, and judge identities of the generated tasks."""
    from hhh_eval import scoring
    from hhh_eval.judging import judge_name_for

    specs, seed = registry.tasks, manifest["run"]["seed"]
    judge_of = {n: judge_name_for(specs[n], manifest["judge"], registry) for n in manifest["tasks"] if specs[n].judged}
    tasks, rows, texts = {}, {}, {}
    with ExitStack() as stack:
        judges = _judges({j for j in judge_of.values() if j}, manifest, stack, registry)
        for name in manifest["tasks"]:
            spec, gen = specs[name], manifest["generated"][name]
            samples = read_samples(run_dir, manifest, name)
            judge_name = judge_of.get(name)
            verdicts = _judge_task(run_dir, spec, samples, *judges[judge_name], force_judge) if judge_name else None
            validation = scoring.judge_validation(judges[judge_name][0].identity) if judge_name else None
            rows[name] = scoring.item_scores(spec, samples, verdicts)
            texts[name] = scores_files(rows[name])
            tasks[name] = scoring.task_result(
                spec, _suite_entry(suite, name), rows[name], n_total=gen["n_total"],
                fingerprint=scoring.items_fingerprint(samples), judge=judge_name, limit=manifest["run"]["limit"],
                chat_applied=gen["chat_template_applied"], seed=seed, scores_sha256=texts[name].jsonl_sha256,
                scores_arrow_sha256=texts[name].arrow_sha256, validation=validation)
    return tasks, rows, texts, {name: judge.identity.to_json() for name, (judge, _) in judges.items()}


def _suite_entry(suite: SuiteSpec, task: str) -> Any:
    return next(e for entries in suite.axes.values() for e in entries if e.task == task)


def build_card(run_dir: Path, manifest: dict[str, Any], registry: Registry,
               force_judge: bool = False) -> tuple[Card, dict[str, ScoresFiles]]:
    """Judge what needs judging and build the card and each task's scores files from the run folder alone."""
    from hhh_eval import scoring
    from hhh_eval.provenance import harness_info

    suite = run_suite(registry, manifest)
    tasks, rows, texts, judges = _scored_tasks(run_dir, manifest, suite, registry, force_judge)
    derived, seed = registry.derived, manifest["run"]["seed"]
    for name in manifest.get("derived", []):
        spec = derived[name]
        rows[name] = scoring.derived_rows(spec, rows)
        texts[name] = scores_files(rows[name])
        tasks[name] = scoring.derived_result(spec, _suite_entry(suite, name), rows[name], tasks, seed,
                                             texts[name].jsonl_sha256, texts[name].arrow_sha256)
    card = Card(schema_version=SCHEMA_VERSION, created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                harness=harness_info(), model=manifest["model"], run=manifest["run"],
                suite={"name": suite.name, "version": suite.version}, judges=judges, tasks=tasks,
                axes=scoring.axis_results(suite, tasks, rows, seed))
    return card, texts


def write_outputs(run_dir: Path, manifest: dict[str, Any], registry: Registry, force_judge: bool = False) -> Card:
    """Scores first, then the card that records their hashes (a card is never read with other scores), the report,
    and the manifest with the judges' sources."""
    from hhh_eval.card import check_card, write_card
    from hhh_eval.derived import refresh_derived
    from hhh_eval.fileio import atomic_write_bytes, atomic_write_text

    card, files = build_card(run_dir, manifest, registry, force_judge)
    check_card(card)  # before anything is written
    for name, scores in files.items():
        atomic_write_text(inside(run_dir / "scores" / f"{name}.jsonl", run_dir), scores.jsonl)
        atomic_write_bytes(inside(run_dir / "scores" / f"{name}.arrow", run_dir), scores.arrow)
    write_card(card, run_dir)
    refresh_derived(card, run_dir)  # report.md/.html rebuilt, stale checklists and plots removed
    manifest.setdefault("sources", {})["judges"] = judge_sources(registry, list(card.judges))
    atomic_write_json(run_dir / MANIFEST, manifest)
    return card
