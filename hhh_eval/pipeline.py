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
from pathlib import Path
from typing import Any, NamedTuple

from hhh_eval.card import Card
from hhh_eval.datadir import check_data_file, local_file
from hhh_eval.errors import UserError
from hhh_eval.fileio import atomic_write_json, atomic_write_jsonl, dumps, make_folder, sha256_file, sha256_text
from hhh_eval.generate import GenerationSettings
from hhh_eval.identity import ModelIdentity, resolve_identity
from hhh_eval.manifest import MANIFEST, MANIFEST_VERSION, check_unchanged, run_registry, run_sources
from hhh_eval.model_args import check_gen_kwargs, check_run_model_args
from hhh_eval.paths import inside, plain_name
from hhh_eval.registry import Registry, SuiteSpec, TaskSpec
from hhh_eval.progress import Mode, RunProgress, default_mode
from hhh_eval.rundir import read_manifest, run_lock, samples_mismatch, samples_record, settings_changes
from hhh_eval.score_stage import write_outputs


@dataclass(frozen=True)
class RunConfig:
    """Everything a user chose for a run (from the CLI or a notebook)."""

    backend: str
    model_args: dict[str, Any]
    suite: str | None = None  # a suite name or file; None: hhh-core, or only the `tasks` when they are not all in it
    tasks: tuple[str, ...] | None = None
    judge: str | None = None  # a judge name or file
    include_paths: tuple[Path, ...] = ()  # folders laid out like tasks/ with the user's own definitions
    judge_overrides: dict[str, str] = field(default_factory=dict)  # backend / model_args of the run's judge
    data_dir: Path | None = None
    output_dir: Path = Path("results")
    run_name: str | None = None
    settings: GenerationSettings = GenerationSettings(None, 1234, "8", None, None)
    force: bool = False
    labels: dict[str, str | float] = field(default_factory=dict)
    demo: bool = False
    merge: dict[str, Any] | None = None  # a merged model's provenance (method, inputs, weights, mergekit version)
    replace: bool = False  # a finished run of other settings in the run folder may be replaced (sweeps say so)
    progress: Mode | None = None  # hhh_eval.progress: bar, lines, quiet or lm-eval (default: by the terminal)


@dataclass(frozen=True)
class RunPlan:
    """A checked run: resolved model, tasks and folder. Building it writes nothing."""

    config: RunConfig
    registry: Registry
    suite: SuiteSpec
    specs: tuple[TaskSpec, ...]  # tasks the model runs
    derived: tuple[str, ...]  # tasks scored from those tasks' items
    judge: str | None  # the run's judge by name (a judge given as a file is in the registry under its name)
    identity: ModelIdentity
    run_dir: Path

    @property
    def data_source(self) -> str:
        if self.config.demo and self.config.data_dir == self.registry.shipped / "demo_data":
            return "demo"
        return "data_dir" if self.config.data_dir else "hub"


# ---------------------------------------------------------------- planning (checks only)

def _data_path(spec: TaskSpec, data_dir: Path | None) -> Path | None:
    """The file a task's evaluated split loads from: its own data file, else the data dir's copy (None: the hub)."""
    if spec.data_file is not None:
        return spec.data_file
    return local_file(data_dir, spec.dataset_path, spec.dataset_name, spec.split) if data_dir else None


def _check_data(specs: tuple[TaskSpec, ...], data_dir: Path | None) -> None:
    for spec in specs:
        path = _data_path(spec, data_dir)
        if path is not None and not path.is_file():
            where = f"its data_files in {spec.yaml_path}" if spec.data_file else "the data dir"
            raise UserError(f"no data for task {spec.name} ({spec.dataset_path}): expected file {path} ({where})")
        if path is not None and path.suffix == ".jsonl":
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
    if config.tasks:  # a long task list is shortened to its count and a hash (a folder name has 128 characters)
        joined = "+".join(config.tasks)
        name += "." + (joined if len(joined) <= 80 else f"{len(config.tasks)}-tasks-{sha256_text(joined)[:8]}")
    s = config.settings
    return plain_name(name + (f"-limit{s.limit}" + ("-first" if s.limit_mode == "first" else "") if s.limit else ""),
                      "run folder name (pass --run-name)")


def check_judge_fits(judge: str, overrides: dict[str, str], specs: Sequence[TaskSpec], registry: Registry) -> None:
    """The named judge exists, its overrides are valid, and it can judge at least one of the tasks."""
    from hhh_eval.judges.specs import load_judge_spec, with_overrides

    kind = with_overrides(load_judge_spec(judge, registry=registry), overrides).kind
    if not any(kind in s.judge_kinds for s in specs):
        kinds = ", ".join(sorted({k for s in specs for k in s.judge_kinds})) or "(none judged)"
        raise UserError(f"judge '{judge}' ({kind}) fits none of the run's tasks; pick a judge of kind {kinds}")


class _Inputs(NamedTuple):
    """What a run's inputs resolve to before the model is looked at."""

    registry: Registry
    suite: SuiteSpec
    specs: tuple[TaskSpec, ...]
    derived: tuple[str, ...]
    judge: str | None
    run_name: str


def check_inputs(config: RunConfig, check_settings: bool = True, registry: Registry | None = None) -> _Inputs:
    """Check every input but the model (suite, tasks, data, judge, generation settings, run name); writes nothing.
    check_settings=False skips the generation settings' check against transformers (it imports transformers);
    `registry`: one already built for these include paths (else the task files are read again)."""
    registry, suite_name = registry or Registry.build(config.include_paths), None
    if config.suite:
        registry, suite_name = registry.named("suite", config.suite)
    suite, names = registry.select(suite_name, list(config.tasks or ()))
    specs = tuple(registry.tasks[n] for n in names if n in registry.tasks)
    derived = tuple(n for n in names if n not in registry.tasks)
    _check_data(specs, config.data_dir)
    if config.judge_overrides and not config.judge:
        raise UserError("--judge-backend/--judge-model-args change the run's judge: name it with --judge")
    judge = None
    if config.judge:
        registry, judge = registry.named("judge", config.judge)
        check_judge_fits(judge, config.judge_overrides, specs, registry)
    if check_settings:
        check_gen_kwargs(config.settings.gen_kwargs, config.backend, {s.output_type for s in specs})
    return _Inputs(registry, suite, specs, derived, judge, _run_name(config, suite))


def plan_run(config: RunConfig, check_settings: bool = True, registry: Registry | None = None) -> RunPlan:
    """Check every input, then resolve the model; nothing is written, a problem is a one-line UserError.
    check_settings=False leaves out the checks of generation settings and model args against transformers and
    lm-eval (for a plan that only names the run's folder and key, e.g. a sweep's finished points)."""
    if check_settings:
        check_run_model_args(config.model_args)
    registry, suite, specs, derived, judge, run_name = check_inputs(config, check_settings, registry)
    identity = resolve_identity(config.backend, config.model_args, check_settings)
    run_dir = inside(config.output_dir / identity.slug / run_name, config.output_dir, "run folder")
    check_writable(run_dir)
    return RunPlan(config, registry, suite, specs, derived, judge, identity, run_dir)


# ---------------------------------------------------------------- generate stage

def _data_fingerprint(plan: RunPlan, spec: TaskSpec) -> str:
    path = _data_path(spec, plan.config.data_dir)
    return f"hub:{spec.dataset_path}:{spec.dataset_name}:{spec.split}" if path is None else sha256_file(path)


def _task_files_sha(spec: TaskSpec) -> str:
    """The task's YAML and the hook/data files beside it: a change to any of them invalidates finished work."""
    files = [spec.yaml_path, *sorted(p for p in spec.yaml_path.parent.iterdir() if p.suffix in (".py", ".json"))]
    return sha256_text(dumps([[f.name, sha256_file(f)] for f in files]))


def task_key(plan: RunPlan, spec: TaskSpec) -> str:
    """What a task's samples depend on: model, task files, data and generation settings."""
    s = plan.config.settings
    return sha256_text(dumps([plan.identity.sha256, spec.name, spec.version, _task_files_sha(spec),
                              _data_fingerprint(plan, spec), s.limit, s.limit_mode, s.seed, s.gen_kwargs,
                              s.system_prompt]))


def samples_path(run_dir: Path, task: str) -> Path:
    return run_dir / "samples" / f"{task}.jsonl"


def _pending(plan: RunPlan, previous: dict[str, Any]) -> dict[TaskSpec, str]:
    """Unfinished tasks with their keys: a task is finished when its key matches and its samples file is the one
    the manifest recorded (row count and sha256); a file that does not match is recomputed, with a warning."""
    done = previous.get("generated", {})
    pending = {}
    for spec in plan.specs:
        key, entry = task_key(plan, spec), done.get(spec.name, {})
        if plan.config.force or entry.get("key") != key:
            pending[spec] = key
        elif why := samples_mismatch(samples_path(plan.run_dir, spec.name), entry):
            print(f"warning: {samples_path(plan.run_dir, spec.name)} does not match the manifest ({why}); "
                  f"recomputing {spec.name}", file=sys.stderr)
            pending[spec] = key
    return pending


def _generate(plan: RunPlan, manifest: dict[str, Any], lm: Any, pending: dict[TaskSpec, str],
              progress: RunProgress) -> None:
    """Run every unfinished task on the loaded model; each finished task is saved and recorded at once."""
    from hhh_eval import generate

    cache = plan.config.output_dir / ".cache" / plan.identity.sha256 / "responses"
    prepared = {spec: generate.prepare_task(spec, plan.config.data_dir, plan.config.settings) for spec in pending}
    progress.task_items.update({spec.name: p.n_items for spec, p in prepared.items()})
    for spec, key in pending.items():
        start = time.perf_counter()
        progress.start_task(spec.name)
        with progress.lm_eval_bars():
            out = generate.run_task(lm, prepared[spec], plan.config.settings, cache)
        progress.finish_task(time.perf_counter() - start)
        path = inside(samples_path(plan.run_dir, spec.name), plan.run_dir)
        atomic_write_jsonl(path, out.samples)
        manifest["generated"][spec.name] = {"key": key, "n": len(out.samples), "n_total": out.n_total,
                                            "doc_ids": out.doc_ids, "chat_template_applied": out.chat_template_applied,
                                            "seconds": round(time.perf_counter() - start, 2),
                                            **samples_record(path, len(out.samples))}
        atomic_write_json(plan.run_dir / MANIFEST, manifest)


def _new_manifest(plan: RunPlan, previous: dict[str, Any], template_sha: str | None) -> dict[str, Any]:
    c = plan.config
    model = plan.identity.to_card(template_sha, c.settings.system_prompt)
    if c.merge:
        model["merge"] = c.merge
    same_model = previous.get("model", {}).get("identity_sha256") == model["identity_sha256"]
    tasks = [s.name for s in plan.specs]
    return {
        "manifest_version": MANIFEST_VERSION, "model": model, "suite": plan.suite.name,
        "tasks": tasks, "derived": list(plan.derived), "judge": plan.judge,
        "judge_overrides": c.judge_overrides,
        "data_dir": str(c.data_dir) if c.data_dir else None,
        "include_paths": [str(p) for p in plan.registry.include_paths],
        "sources": run_sources(plan.registry, plan.suite, [*tasks, *plan.derived], [plan.judge] if plan.judge else []),
        "limit_mode": c.settings.limit_mode if c.settings.limit else None,
        "run": {"run_name": plan.run_dir.name, "seed": c.settings.seed, "limit": c.settings.limit,
                "partial": c.settings.limit is not None, "batch_size": c.settings.batch_size,
                "gen_kwargs": c.settings.gen_kwargs, "data_source": plan.data_source, "demo": c.demo,
                "labels": c.labels},
        "command": shlex.join(["hhh-eval", *sys.argv[1:]]),
        "generated": previous.get("generated", {}) if same_model else {},
    }


def run(config: RunConfig) -> tuple[Card, Path]:
    """Run a suite on a model; returns the card and the run folder. Finished work is reused."""
    return run_plan(plan_run(config))


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


def run_plan(plan: RunPlan) -> tuple[Card, Path]:
    """Carry out a checked run: generate what is unfinished, judge, score, write the card.

    The model loads before the first write; the run folder is locked while it is written (a folder that does not
    exist yet is locked once made, after the model loaded)."""
    from hhh_eval import generate

    with ExitStack() as stack:
        locked = plan.run_dir.is_dir()
        if locked:
            stack.enter_context(run_lock(plan.run_dir))
        previous = _previous(plan)
        if previous and not plan.config.replace and (changes := settings_changes(
                previous, _new_manifest(plan, previous, None))):
            raise UserError(f"{plan.run_dir} holds a run with other settings ({'; '.join(changes[:3])}); pass "
                            "--run-name NAME to keep both, or --force to replace it")
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
        progress = RunProgress({}, plan.config.progress or default_mode())
        if pending:
            _generate(plan, manifest, lm, pending, progress)
        lm = None  # release the evaluated model before a judge model loads
        generate.free_memory()
        progress.note("judging and scoring")
        return write_outputs(plan.run_dir, manifest, plan.registry, force_judge=plan.config.force), plan.run_dir


def finished_manifest(run_dir: Path) -> dict[str, Any]:
    """A finished run's checked manifest; a folder that is no run, or an unfinished run, is a UserError."""
    manifest = read_manifest(run_dir)
    missing = [t for t in manifest["tasks"] if t not in manifest["generated"]]
    if missing:
        raise UserError(f"run {run_dir} is unfinished (no answers for {', '.join(missing)}); finish it with its run "
                        "command first")
    return manifest


def rejudge_run(run_dir: Path, judge: str, force: bool = False, overrides: dict[str, str] | None = None,
                include: Sequence[Path] = ()) -> Card:
    """Re-judge a finished run's saved answers with another judge (a name or file) and re-score its card; no model
    is loaded. The run's include paths (and `include`) are searched for its tasks and the judge."""
    from hhh_eval.summary import print_summary

    manifest = finished_manifest(run_dir)
    registry = run_registry(manifest, include)
    check_unchanged(registry, manifest)
    registry, judge = registry.named("judge", judge)
    check_judge_fits(judge, overrides or {}, [registry.tasks[t] for t in manifest["tasks"]], registry)
    with run_lock(run_dir):
        manifest = finished_manifest(run_dir)  # as it is now that no other command writes the folder
        manifest["judge"], manifest["judge_overrides"] = judge, overrides or {}
        card = write_outputs(run_dir, manifest, registry, force_judge=force)
    print_summary(card, run_dir)
    return card
