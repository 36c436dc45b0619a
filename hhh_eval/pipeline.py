"""A run from model to report card: plan (all checks, nothing written), generate, judge, score, write.

Each stage reads and writes files in the run folder, so a finished stage is reused (resume) and a run can be
re-judged or re-scored alone. manifest.json records how the run was made and which tasks are finished.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from contextlib import ExitStack
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hhh_eval.card import SCHEMA_VERSION, Card, ItemScore, TaskResult
from hhh_eval.datadir import local_file, resolve_data_dir
from hhh_eval.errors import UserError
from hhh_eval.fileio import atomic_write_json, atomic_write_jsonl, dumps, read_json, read_jsonl, sha256_file, sha256_text
from hhh_eval.generate import GenerationSettings
from hhh_eval.identity import ModelIdentity, parse_model_args, resolve_identity
from hhh_eval.registry import SuiteSpec, TaskSpec, load_suite, load_tasks, select_tasks, tasks_dir

MANIFEST = "manifest.json"
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


def check_writable(folder: Path) -> None:
    probe = folder
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK):
        raise UserError(f"output dir {folder} cannot be created or written ({probe} is not a writable folder); "
                        "pass --output-dir with a writable folder")


def _run_name(config: RunConfig, suite: SuiteSpec) -> str:
    if config.run_name:
        if "/" in config.run_name or config.run_name in (".", ".."):
            raise UserError(f"--run-name '{config.run_name}' must be a plain folder name (no '/')")
        return config.run_name
    name = suite.name
    if config.tasks:
        name += "." + "+".join(config.tasks)
    return name + (f"-limit{config.settings.limit}" if config.settings.limit else "")


def check_judge_fits(judge: str, overrides: dict[str, str], specs: Sequence[TaskSpec]) -> None:
    """The named judge exists, its overrides are valid, and it can judge at least one of the tasks."""
    from hhh_eval.judges.specs import load_judge_spec, with_overrides

    kind = with_overrides(load_judge_spec(judge), overrides).kind
    if not any(kind in s.judge_kinds for s in specs):
        kinds = ", ".join(sorted({k for s in specs for k in s.judge_kinds})) or "(none judged)"
        raise UserError(f"judge '{judge}' ({kind}) fits none of the run's tasks; pick a judge of kind {kinds}")


def plan_run(config: RunConfig) -> RunPlan:
    """Check every input before anything is written; a problem is a one-line UserError."""
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
    identity = resolve_identity(config.backend, config.model_args)
    run_dir = config.output_dir / identity.slug / _run_name(config, suite)
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


def _pending(plan: RunPlan, manifest: dict[str, Any]) -> dict[TaskSpec, str]:
    """Unfinished tasks with their keys (a task is finished when its key matches and its samples exist)."""
    done = manifest.get("generated", {})
    keys = {s: task_key(plan, s) for s in plan.specs}
    return {s: k for s, k in keys.items() if plan.config.force or done.get(s.name, {}).get("key") != k
            or not samples_path(plan.run_dir, s.name).is_file()}


def _generate(plan: RunPlan, manifest: dict[str, Any]) -> None:
    """Run every unfinished task on the model (loaded once); each finished task is saved at once."""
    from hhh_eval import generate

    pending = _pending(plan, manifest)
    if not pending:
        print("all tasks finished earlier: no model calls (use --force to recompute)", file=sys.stderr)
        return
    generate.quiet_libraries()
    lm = generate.load_lm(plan.identity, plan.config.settings)
    template = generate.chat_template(lm)
    manifest["model"]["chat_template_sha256"] = sha256_text(template) if template else None
    cache = plan.config.output_dir / ".cache" / plan.identity.sha256 / "responses"
    for i, (spec, key) in enumerate(pending.items(), 1):
        print(f"[{i}/{len(pending)}] {spec.name}: generating", file=sys.stderr)
        start = time.perf_counter()
        out = generate.run_task(lm, spec, plan.config.data_dir, plan.config.settings, cache, plan.tasks_root)
        atomic_write_jsonl(samples_path(plan.run_dir, spec.name), out.samples)
        manifest["generated"][spec.name] = {"key": key, "n": len(out.samples), "n_total": out.n_total,
                                            "chat_template_applied": out.chat_template_applied,
                                            "seconds": round(time.perf_counter() - start, 2)}
        atomic_write_json(plan.run_dir / MANIFEST, manifest)


def _new_manifest(plan: RunPlan, previous: dict[str, Any]) -> dict[str, Any]:
    c = plan.config
    model = plan.identity.to_card(previous.get("model", {}).get("chat_template_sha256"), c.settings.system_prompt)
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

def _judge_task(run_dir: Path, spec: TaskSpec, judge: Any, strip_think: bool, force: bool) -> list[Any]:
    from hhh_eval.judging import judge_samples, unscored_warning, verdicts_path

    samples = read_jsonl(samples_path(run_dir, spec.name))
    path = verdicts_path(run_dir, spec.name, judge.identity.name)
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


def _scored_tasks(run_dir: Path, manifest: dict[str, Any], suite: SuiteSpec, force_judge: bool
                  ) -> tuple[dict[str, TaskResult], dict[str, list[ItemScore]], dict[str, str], dict[str, Any]]:
    """Task results, per-item score rows and their files' text, and judge identities of the generated tasks."""
    from hhh_eval import scoring
    from hhh_eval.card.io import scores_text
    from hhh_eval.judging import judge_name_for

    specs, seed = load_tasks(), manifest["run"]["seed"]
    judge_of = {n: judge_name_for(specs[n], manifest["judge"]) for n in manifest["tasks"] if specs[n].judged}
    tasks, rows, texts = {}, {}, {}
    with ExitStack() as stack:
        judges = _judges({j for j in judge_of.values() if j}, manifest, stack)
        for name in manifest["tasks"]:
            spec, gen = specs[name], manifest["generated"][name]
            samples = read_jsonl(samples_path(run_dir, name))
            judge_name = judge_of.get(name)
            verdicts = _judge_task(run_dir, spec, *judges[judge_name], force_judge) if judge_name else None
            validation = scoring.judge_validation(judges[judge_name][0].identity) if judge_name else None
            rows[name] = scoring.item_scores(spec, samples, verdicts)
            texts[name] = scores_text(rows[name])
            tasks[name] = scoring.task_result(
                spec, _suite_entry(suite, name), rows[name], n_total=gen["n_total"],
                fingerprint=scoring.items_fingerprint(samples), judge=judge_name, limit=manifest["run"]["limit"],
                chat_applied=gen["chat_template_applied"], seed=seed, scores_sha256=sha256_text(texts[name]),
                validation=validation)
    return tasks, rows, texts, {name: judge.identity.to_json() for name, (judge, _) in judges.items()}


def _suite_entry(suite: SuiteSpec, task: str) -> Any:
    return next(e for entries in suite.axes.values() for e in entries if e.task == task)


def build_card(run_dir: Path, manifest: dict[str, Any], force_judge: bool = False) -> tuple[Card, dict[str, str]]:
    """Judge what needs judging and build the card and each task's scores file text from the run folder alone."""
    from hhh_eval import scoring
    from hhh_eval.card.io import scores_text
    from hhh_eval.provenance import harness_info
    from hhh_eval.registry import load_derived

    suite = load_suite(manifest["suite"])
    tasks, rows, texts, judges = _scored_tasks(run_dir, manifest, suite, force_judge)
    derived, seed = load_derived(), manifest["run"]["seed"]
    for name in manifest.get("derived", []):
        spec = derived[name]
        rows[name] = scoring.derived_rows(spec, rows)
        texts[name] = scores_text(rows[name])
        tasks[name] = scoring.derived_result(spec, _suite_entry(suite, name), rows[name], tasks, seed,
                                             sha256_text(texts[name]))
    card = Card(schema_version=SCHEMA_VERSION, created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                harness=harness_info(), model=manifest["model"], run=manifest["run"],
                suite={"name": suite.name, "version": suite.version}, judges=judges, tasks=tasks,
                axes=scoring.axis_results(suite, tasks, rows, seed))
    return card, texts


def _write_outputs(run_dir: Path, manifest: dict[str, Any], force_judge: bool = False) -> Card:
    """Scores first, then the card that records their hashes: a card is never read with other scores."""
    from hhh_eval.card import check_card, write_card
    from hhh_eval.fileio import atomic_write_text
    from hhh_eval.derived import refresh_derived

    card, texts = build_card(run_dir, manifest, force_judge)
    check_card(card)  # before anything is written
    for name, text in texts.items():
        atomic_write_text(run_dir / "scores" / f"{name}.jsonl", text)
    write_card(card, run_dir)
    refresh_derived(card, run_dir)  # report.md/.html rebuilt, stale checklists and plots removed
    return card


def run(config: RunConfig) -> tuple[Card, Path]:
    """Run a suite on a model; returns the card and the run folder. Finished work is reused."""
    from hhh_eval import generate

    plan = plan_run(config)
    path = plan.run_dir / MANIFEST
    previous = read_json(path) if path.is_file() and not config.force else {}
    manifest = _new_manifest(plan, previous)
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, manifest)
    _generate(plan, manifest)  # the evaluated model is loaded and released in here
    generate.free_memory()
    return _write_outputs(plan.run_dir, manifest, force_judge=config.force), plan.run_dir


def rejudge_run(run_dir: Path, judge: str, force: bool = False,
                overrides: dict[str, str] | None = None) -> dict[str, Any]:
    """Re-judge a finished run's saved answers with another judge and re-score its card; no model is loaded."""
    from hhh_eval.summary import print_summary

    path = run_dir / MANIFEST
    if not path.is_file():
        raise UserError(f"{run_dir} is not a run folder (no {MANIFEST}); pass a folder written by 'hhh-eval run'")
    manifest = read_json(path)
    missing = [t for t in manifest["tasks"] if t not in manifest["generated"]]
    if missing:
        raise UserError(f"run {run_dir} is unfinished (no answers for {', '.join(missing)}); finish it with its run command first")
    tasks = load_tasks()
    check_judge_fits(judge, overrides or {}, [tasks[t] for t in manifest["tasks"]])
    manifest["judge"], manifest["judge_overrides"] = judge, overrides or {}
    card = _write_outputs(run_dir, manifest, force_judge=force)
    atomic_write_json(path, manifest)
    print_summary(card, run_dir)
    return card


# ---------------------------------------------------------------- CLI

def _parse_labels(items: list[str]) -> dict[str, str | float]:
    labels: dict[str, str | float] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--label '{item}' must look like KEY=VALUE (e.g. step=2000)")
        try:
            labels[key] = float(value) if "." in value or "e" in value.lower() else int(value)
        except ValueError:
            labels[key] = value
    return labels


def _batch_size(text: str) -> str:
    if text == "auto" or text.startswith("auto:") or (text.isdigit() and int(text) > 0):
        return text
    raise UserError(f"--batch-size '{text}' must be a positive integer or 'auto'")


def judge_overrides(args: argparse.Namespace) -> dict[str, str]:
    """--judge-backend / --judge-model-args as overrides of the judge spec."""
    pairs = {"backend": args.judge_backend, "model_args": args.judge_model_args}
    return {k: v for k, v in pairs.items() if v}


def config_from_args(args: argparse.Namespace, backend: str, model_args: dict[str, Any], demo: bool = False) -> RunConfig:
    """A RunConfig from parsed CLI arguments (argparse already checked --limit)."""
    gen_kwargs = parse_model_args(args.gen_kwargs) if args.gen_kwargs else None
    settings = GenerationSettings(args.limit, args.seed, _batch_size(args.batch_size), gen_kwargs, args.system_prompt)
    return RunConfig(
        backend=backend, model_args=model_args, suite=args.suite,
        tasks=tuple(t.strip() for t in args.tasks.split(",") if t.strip()) if args.tasks else None,
        judge=args.judge, judge_overrides=judge_overrides(args), data_dir=resolve_data_dir(args.data_dir), output_dir=Path(args.output_dir),
        run_name=args.run_name, settings=settings, force=args.force, labels=_parse_labels(args.label), demo=demo,
    )


def finish_cli_run(args: argparse.Namespace, config: RunConfig) -> int:
    """Run, print the summary and, with --policy, gate the new card (the gate's exit code is the run's)."""
    from hhh_eval.summary import print_summary

    if args.baseline and not args.policy:
        raise UserError("--baseline is used by the release gate: pass --policy FILE too (or run 'hhh-eval gate')")
    if args.policy and not Path(args.policy).is_file():
        raise UserError(f"policy file {args.policy} not found; pass an existing YAML such as tasks/policies/release.yaml")
    card, run_dir = run(config)
    print_summary(card, run_dir)
    if not args.policy:
        return 0
    from hhh_eval.gate import run_gate

    return 1 if run_gate(run_dir, args.policy, args.baseline).verdict == "FAIL" else 0


def cli_run(args: argparse.Namespace) -> int:
    return finish_cli_run(args, config_from_args(args, args.model, parse_model_args(args.model_args)))
