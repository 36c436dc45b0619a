"""A run from model to report card: plan (all checks, nothing written), generate, judge, score, write.

Each stage reads and writes files in the run folder, so a finished stage is reused (resume) and a run can be
re-judged or re-scored alone. manifest.json records how the run was made and which tasks are finished.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from contextlib import ExitStack
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

from hhh_eval.datadir import check_data_file, local_file
from hhh_eval.errors import UserError
from hhh_eval.fileio import atomic_write_json, atomic_write_jsonl, dumps, make_folder, sha256_file, sha256_text
from hhh_eval.generate import GenerationSettings
from hhh_eval.identity import ModelIdentity, resolve_identity
from hhh_eval.model_args import check_gen_kwargs
from hhh_eval.paths import inside, plain_name
from hhh_eval.registry import SuiteSpec, TaskSpec, load_suite, load_tasks, select_tasks, tasks_dir
from hhh_eval.rundir import MANIFEST, read_manifest, read_samples, run_lock, samples_mismatch, samples_record

MANIFEST_VERSION = 1


@dataclass(frozen=True)
class RunConfig:
    """Everything a user chose for a run (from the CLI or a notebook)."""

    backend: str
    model_args: dict[str, Any]
    suite: str = "hhh-core"
    tasks: tuple[str, ...] | None = None
    judge: str | None = None
    judge_overrides: dict[str, str] = field(default_factory=dict)  # backend / model_args of the run's judge
    data_dir: Path | None = None
    output_dir: Path = Path("results")
    run_name: str | None = None
    settings: GenerationSettings = GenerationSettings(None, 1234, "8", None, None)
    force: bool = False
    labels: dict[str, str | float] = field(default_factory=dict)
    demo: bool = False


@dataclass(frozen=True)
class RunPlan:
    """A checked run: resolved model, tasks and folder. Building it writes nothing."""

    config: RunConfig
    suite: SuiteSpec
    specs: tuple[TaskSpec, ...]  # tasks the model runs
    derived: tuple[str, ...]  # tasks scored from those tasks' items
    identity: ModelIdentity
    run_dir: Path
    tasks_root: Path

    @property
    def data_source(self) -> str:
        if self.config.demo and self.config.data_dir == self.tasks_root / "demo_data":
            return "demo"
        return "data_dir" if self.config.data_dir else "hub"


# ---------------------------------------------------------------- planning (checks only)

def _check_data(specs: tuple[TaskSpec, ...], data_dir: Path | None) -> None:
    for spec in specs if data_dir else ():
        path = local_file(data_dir, spec.dataset_path, spec.dataset_name, spec.split)
        if not path.is_file():
            raise UserError(f"data dir has no data for task {spec.name} ({spec.dataset_path}): expected file {path}")
        check_data_file(path)


def check_writable(folder: Path) -> None:
    probe = folder
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK):
        raise UserError(f"output dir {folder} cannot be created or written ({probe} is not a writable folder); "
                        "pass --output-dir with a writable folder")


def _run_name(config: RunConfig, suite: SuiteSpec) -> str:
    if config.run_name:
        return plain_name(config.run_name, "--run-name")
    name = suite.name
    if config.tasks:
        tasks = "+".join(config.tasks)
        name += "." + (tasks if len(tasks) <= 80 else f"{len(config.tasks)}tasks-{sha256_text(tasks)[:8]}")
    return plain_name(name + (f"-limit{config.settings.limit}" if config.settings.limit else ""), "run name")


def check_judge_fits(judge: str, overrides: dict[str, str], specs: Sequence[TaskSpec]) -> None:
    """The named judge exists, its overrides are valid, and it can judge at least one of the tasks."""
    from hhh_eval.judges.specs import load_judge_spec, with_overrides

    kind = with_overrides(load_judge_spec(judge), overrides).kind
    if not any(kind in s.judge_kinds for s in specs):
        kinds = ", ".join(sorted({k for s in specs for k in s.judge_kinds})) or "(none judged)"
        raise UserError(f"judge '{judge}' ({kind}) fits none of the run's tasks; pick a judge of kind {kinds}")


class _Inputs(NamedTuple):
    """What a run's inputs resolve to before the model is looked at."""

    root: Path
    suite: SuiteSpec
    specs: tuple[TaskSpec, ...]
    derived: tuple[str, ...]
    run_name: str


def check_inputs(config: RunConfig) -> _Inputs:
    """Check every input but the model (suite, tasks, data, judge, generation settings, run name); writes nothing."""
    root = tasks_dir()
    suite = load_suite(config.suite, root)
    names = select_tasks(suite, list(config.tasks) if config.tasks else None, root)
    all_tasks = load_tasks(root)
    specs = tuple(all_tasks[n] for n in names if n in all_tasks)
    derived = tuple(n for n in names if n not in all_tasks)
    _check_data(specs, config.data_dir)
    if config.judge_overrides and not config.judge:
        raise UserError("--judge-backend/--judge-model-args change the run's judge: name it with --judge")
    if config.judge:
        check_judge_fits(config.judge, config.judge_overrides, specs)
    check_gen_kwargs(config.settings.gen_kwargs, config.backend, {s.output_type for s in specs})
    return _Inputs(root, suite, specs, derived, _run_name(config, suite))


def plan_run(config: RunConfig) -> RunPlan:
    """Check every input before anything is written; a problem is a one-line UserError."""
    root, suite, specs, derived, run_name = check_inputs(config)
    identity = resolve_identity(config.backend, config.model_args)
    run_dir = inside(config.output_dir / identity.slug / run_name, config.output_dir, "run folder")
    check_writable(run_dir)
    return RunPlan(config, suite, specs, derived, identity, run_dir, root)


# ---------------------------------------------------------------- generate stage

def _data_fingerprint(plan: RunPlan, spec: TaskSpec) -> str:
    if plan.config.data_dir is None:
        return f"hub:{spec.dataset_path}:{spec.dataset_name}:{spec.split}"
    return sha256_file(local_file(plan.config.data_dir, spec.dataset_path, spec.dataset_name, spec.split))


def _task_files_sha(spec: TaskSpec) -> str:
    """The task's YAML and the hook/data files beside it: a change to any of them invalidates finished work."""
    files = [spec.yaml_path, *sorted(p for p in spec.yaml_path.parent.iterdir() if p.suffix in (".py", ".json"))]
    return sha256_text(dumps([[f.name, sha256_file(f)] for f in files]))


def task_key(plan: RunPlan, spec: TaskSpec) -> str:
    """What a task's samples depend on: model, task files, data and generation settings."""
    s = plan.config.settings
    return sha256_text(dumps([plan.identity.sha256, spec.name, spec.version, _task_files_sha(spec),
                              _data_fingerprint(plan, spec), s.limit, s.seed, s.gen_kwargs, s.system_prompt]))


def samples_path(run_dir: Path, task: str) -> Path:
    return run_dir / "samples" / f"{task}.jsonl"


def _pending(plan: RunPlan, previous: dict[str, Any]) -> dict[TaskSpec, str]:
    """Unfinished tasks with their keys: a task is finished when its key matches and its samples file is the one
    the manifest recorded (row count and sha256); a file that does not match is recomputed, with a warning."""
    done = previous.get("generated", {})
    keys = {s: task_key(plan, s) for s in plan.specs}
    pending = {}
    for spec, key in keys.items():
        entry = done.get(spec.name, {})
        if plan.config.force or entry.get("key") != key:
            pending[spec] = key
        elif why := samples_mismatch(samples_path(plan.run_dir, spec.name), entry):
            print(f"warning: {samples_path(plan.run_dir, spec.name)} does not match the manifest ({why}); "
                  f"recomputing {spec.name}", file=sys.stderr)
            pending[spec] = key
    return pending


def _generate(plan: RunPlan, manifest: dict[str, Any], lm: Any, pending: dict[TaskSpec, str]) -> None:
    """Run every unfinished task on the loaded model; each finished task is saved and recorded at once."""
    from hhh_eval import generate

    cache = plan.config.output_dir / ".cache" / plan.identity.sha256 / "responses"
    for i, (spec, key) in enumerate(pending.items(), 1):
        print(f"[{i}/{len(pending)}] {spec.name}: generating", file=sys.stderr)
        start = time.perf_counter()
        out = generate.run_task(lm, spec, plan.config.data_dir, plan.config.settings, cache, plan.tasks_root)
        path = inside(samples_path(plan.run_dir, spec.name), plan.run_dir)
        atomic_write_jsonl(path, out.samples)
        manifest["generated"][spec.name] = {"key": key, "n": len(out.samples), "n_total": out.n_total,
                                            "chat_template_applied": out.chat_template_applied,
                                            "seconds": round(time.perf_counter() - start, 2),
                                            **samples_record(path, len(out.samples))}
        atomic_write_json(plan.run_dir / MANIFEST, manifest)


def _new_manifest(plan: RunPlan, previous: dict[str, Any], template_sha: str | None) -> dict[str, Any]:
    c = plan.config
    model = plan.identity.to_card(template_sha, c.settings.system_prompt)
    same_model = previous.get("model", {}).get("identity_sha256") == model["identity_sha256"]
    return {
        "manifest_version": MANIFEST_VERSION, "model": model, "suite": plan.suite.name,
        "tasks": [s.name for s in plan.specs], "derived": list(plan.derived), "judge": c.judge,
        "judge_overrides": c.judge_overrides,
        "data_dir": str(c.data_dir) if c.data_dir else None,
        "run": {"run_name": plan.run_dir.name, "seed": c.settings.seed, "limit": c.settings.limit,
                "partial": c.settings.limit is not None, "batch_size": c.settings.batch_size,
                "gen_kwargs": c.settings.gen_kwargs, "data_source": plan.data_source, "demo": c.demo,
                "labels": c.labels},
        "command": shlex.join(["hhh-eval", *sys.argv[1:]]),
        "generated": previous.get("generated", {}) if same_model else {},
    }


# ---------------------------------------------------------------- judge + score stages

def _judge_task(run_dir: Path, spec: TaskSpec, samples: list[dict[str, Any]], judge: Any, strip_think: bool,
                force: bool) -> list[Any]:
    from hhh_eval.judging import judge_samples, unscored_warning, verdicts_path

    path = inside(verdicts_path(run_dir, spec.name, judge.identity.name), run_dir)
    verdicts = judge_samples(judge, spec, samples, path, force=force, strip_think=strip_think)
    if warning := unscored_warning(spec.name, verdicts):
        print(warning, file=sys.stderr)
    return verdicts


def _judges(names: set[str], manifest: dict[str, Any], stack: ExitStack) -> dict[str, tuple[Any, bool]]:
    """Each judge of the run built once (model judges load their model once, in a session): name -> (judge, strip)."""
    from hhh_eval.judges.specs import build_judge, load_judge_spec, with_overrides

    judges = {}
    for name in sorted(names):
        spec = load_judge_spec(name)
        if name == manifest["judge"]:
            spec = with_overrides(spec, manifest.get("judge_overrides", {}))
        judge = build_judge(spec)
        if hasattr(judge, "session"):
            stack.enter_context(judge.session())
        judges[name] = (judge, spec.strip_think)
    return judges


def _task_cards(run_dir: Path, manifest: dict[str, Any], suite: SuiteSpec,
                force_judge: bool) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """Card entries, per-item score rows and judge identities of the run's generated tasks."""
    from hhh_eval import scoring
    from hhh_eval.judging import judge_name_for

    specs, seed = load_tasks(), manifest["run"]["seed"]
    judge_of = {n: judge_name_for(specs[n], manifest["judge"]) for n in manifest["tasks"] if specs[n].judged}
    tasks, rows = {}, {}
    with ExitStack() as stack:
        judges = _judges({j for j in judge_of.values() if j}, manifest, stack)
        for name in manifest["tasks"]:
            spec, gen = specs[name], manifest["generated"][name]
            samples = read_samples(run_dir, manifest, name)
            judge_name = judge_of.get(name)
            verdicts = _judge_task(run_dir, spec, samples, *judges[judge_name], force_judge) if judge_name else None
            rows[name] = scoring.item_scores(spec, samples, verdicts)
            tasks[name] = scoring.task_entry(spec, _suite_entry(suite, name), rows[name], n_total=gen["n_total"],
                                             fingerprint=scoring.items_fingerprint(samples), judge=judge_name,
                                             limit=manifest["run"]["limit"],
                                             chat_applied=gen["chat_template_applied"], seed=seed)
    return tasks, rows, {name: judge.identity.to_json() for name, (judge, _) in judges.items()}


def _suite_entry(suite: SuiteSpec, task: str) -> Any:
    return next(e for entries in suite.axes.values() for e in entries if e.task == task)


def build_card(run_dir: Path, manifest: dict[str, Any],
               force_judge: bool = False) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """Judge what needs judging and build the card and per-item score rows from the run folder's files alone."""
    from hhh_eval import scoring
    from hhh_eval.provenance import harness_info
    from hhh_eval.registry import load_derived

    suite = load_suite(manifest["suite"])
    tasks, rows, judges = _task_cards(run_dir, manifest, suite, force_judge)
    derived = load_derived()
    for name in manifest.get("derived", []):
        spec = derived[name]
        rows[name] = scoring.derived_rows(spec, rows)
        tasks[name] = scoring.derived_entry(spec, _suite_entry(suite, name), rows[name], tasks, manifest["run"]["seed"])
    return {
        "schema_version": "1.0", "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "harness": harness_info(), "model": manifest["model"], "run": manifest["run"],
        "suite": {"name": suite.name, "version": suite.version}, "judges": judges, "tasks": tasks,
        "axes": scoring.axis_entries(suite, tasks),
    }, rows


def _write_outputs(run_dir: Path, manifest: dict[str, Any], force_judge: bool = False) -> dict[str, Any]:
    from hhh_eval.card import check_card, write_card
    from hhh_eval.report import write_markdown

    card, rows = build_card(run_dir, manifest, force_judge)
    check_card(card)  # before anything is written: scores and card change together
    for name, task_rows in rows.items():
        atomic_write_jsonl(inside(run_dir / "scores" / f"{name}.jsonl", run_dir), task_rows)
    write_card(card, run_dir)
    write_markdown(card, run_dir)
    return card


def _previous(plan: RunPlan) -> dict[str, Any]:
    """The run folder's manifest, checked (nothing when there is none or --force)."""
    exists = (plan.run_dir / MANIFEST).is_file()
    return read_manifest(plan.run_dir) if exists and not plan.config.force else {}


def _load_model(plan: RunPlan) -> tuple[Any, str | None]:
    """The evaluated model, loaded (a model that cannot load fails here, before the run folder is made)."""
    from hhh_eval import generate

    generate.quiet_libraries()
    lm = generate.load_lm(plan.identity, plan.config.settings)
    template = generate.chat_template(lm)
    return lm, sha256_text(template) if template else None


def run(config: RunConfig) -> tuple[dict[str, Any], Path]:
    """Run a suite on a model; returns the card and the run folder. Finished work is reused.

    Every check, and the model load, comes before the first write; the run folder is locked while it is written
    (a folder that does not exist yet is locked once made, after the model loaded).
    """
    from hhh_eval import generate

    plan = plan_run(config)
    with ExitStack() as stack:
        locked = plan.run_dir.is_dir()
        if locked:
            stack.enter_context(run_lock(plan.run_dir))
        previous = _previous(plan)
        pending = _pending(plan, previous)
        if pending:
            lm, template_sha = _load_model(plan)
        else:
            print("all tasks finished earlier: no model calls (use --force to recompute)", file=sys.stderr)
            lm, template_sha = None, previous.get("model", {}).get("chat_template_sha256")
        if not locked:
            make_folder(plan.run_dir)
            stack.enter_context(run_lock(plan.run_dir))
            previous = _previous(plan)  # another command may have run meanwhile: its finished tasks count
            pending = _pending(plan, previous)
        manifest = _new_manifest(plan, previous, template_sha)
        atomic_write_json(plan.run_dir / MANIFEST, manifest)
        if pending:
            _generate(plan, manifest, lm, pending)
        lm = None  # release the evaluated model before a judge model loads
        generate.free_memory()
        return _write_outputs(plan.run_dir, manifest, force_judge=config.force), plan.run_dir


def rejudge_run(run_dir: Path, judge: str, force: bool = False,
                overrides: dict[str, str] | None = None) -> dict[str, Any]:
    """Re-judge a finished run's saved answers with another judge and re-score its card; no model is loaded."""
    from hhh_eval.summary import print_summary

    manifest = read_manifest(run_dir)
    missing = [t for t in manifest["tasks"] if t not in manifest["generated"]]
    if missing:
        raise UserError(f"run {run_dir} is unfinished (no answers for {', '.join(missing)}); finish it with its run command first")
    tasks = load_tasks()
    unknown = [t for t in manifest["tasks"] if t not in tasks]
    if unknown:
        raise UserError(f"run {run_dir} names unknown task(s) {', '.join(unknown)}; re-judge it where those tasks exist")
    check_judge_fits(judge, overrides or {}, [tasks[t] for t in manifest["tasks"]])
    with run_lock(run_dir):
        manifest = read_manifest(run_dir)  # as it is now that no other command writes the folder
        manifest["judge"], manifest["judge_overrides"] = judge, overrides or {}
        card = _write_outputs(run_dir, manifest, force_judge=force)
        atomic_write_json(run_dir / MANIFEST, manifest)
    print_summary(card, run_dir)
    return card
