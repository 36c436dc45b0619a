"""`hhh-eval run` (and `demo`): a RunConfig from the command line, the run, its summary and, with --policy, the gate."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hhh_eval.datadir import resolve_data_dir
from hhh_eval.errors import UserError
from hhh_eval.generate import GenerationSettings
from hhh_eval.identity import parse_model_args
from hhh_eval.pipeline import RunConfig, plan_run, run_plan
from hhh_eval.registry import include_paths


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
    settings = GenerationSettings(args.limit, args.seed, _batch_size(args.batch_size), gen_kwargs, args.system_prompt,
                                  args.limit_mode)
    return RunConfig(
        backend=backend, model_args=model_args, suite=args.suite,
        tasks=tuple(t.strip() for t in args.tasks.split(",") if t.strip()) if args.tasks else None,
        judge=args.judge, judge_overrides=judge_overrides(args), include_paths=include_paths(args.include_path),
        data_dir=resolve_data_dir(args.data_dir), output_dir=Path(args.output_dir), run_name=args.run_name,
        settings=settings, force=args.force, labels=_parse_labels(args.label), demo=demo,
    )


def finish_cli_run(args: argparse.Namespace, config: RunConfig) -> int:
    """Run, print the summary and, with --policy, gate the new card (the gate's exit code is the run's)."""
    from hhh_eval.summary import print_summary

    if args.baseline and not args.policy:
        raise UserError("--baseline is used by the release gate: pass --policy FILE too (or run 'hhh-eval gate')")
    plan = plan_run(config)
    if args.policy:  # a policy that does not load fails before the model runs
        from hhh_eval.policy import load_policy

        load_policy(args.policy, plan.registry)
    card, run_dir = run_plan(plan)
    print_summary(card, run_dir)
    if not args.policy:
        return 0
    from hhh_eval.gate import run_gate

    return 1 if run_gate(run_dir, args.policy, args.baseline, plan.registry).verdict == "FAIL" else 0


def cli_run(args: argparse.Namespace) -> int:
    return finish_cli_run(args, config_from_args(args, args.model, parse_model_args(args.model_args)))
