"""`hhh-eval run` (and `demo`): a RunConfig from the parsed arguments, every check before anything is written,
the run, its summary and, with --policy, the gate."""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
from typing import Any

from hhh_eval.datadir import resolve_data_dir
from hhh_eval.errors import UserError
from hhh_eval.generate import GenerationSettings
from hhh_eval.identity import parse_model_args
from hhh_eval.model_args import parse_gen_kwargs
from hhh_eval.pipeline import RunConfig, plan_run, run_plan
from hhh_eval.progress import default_mode
from hhh_eval.registry import Registry, include_paths


def _parse_labels(items: list[str]) -> dict[str, str | float]:
    labels: dict[str, str | float] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--label '{item}' must look like KEY=VALUE (e.g. step=2000)")
        try:
            number = float(value) if "." in value or "e" in value.lower() else int(value)
        except ValueError:
            number = None
        labels[key] = number if number is not None and math.isfinite(number) else value
    return labels


def _batch_size(text: str) -> str:
    number = text[5:] if text.startswith("auto:") else text
    if text == "auto" or (number.isdigit() and int(number) > 0):
        return text
    raise UserError(f"--batch-size '{text}' must be a positive integer, 'auto' or 'auto:N' (N re-tries of the "
                    "automatic search, a positive integer)")


def judge_overrides(args: argparse.Namespace) -> dict[str, str]:
    """--judge-backend / --judge-model-args as overrides of the judge spec."""
    pairs = {"backend": args.judge_backend, "model_args": args.judge_model_args}
    return {k: v for k, v in pairs.items() if v}


def _seed(seed: int) -> int:
    if not 0 <= seed < 2**32:
        raise UserError(f"--seed {seed} is out of range; pass an integer from 0 to {2**32 - 1}")
    return seed


def config_from_args(args: argparse.Namespace, backend: str, model_args: dict[str, Any], demo: bool = False) -> RunConfig:
    """A RunConfig from parsed CLI arguments (argparse already checked --limit)."""
    gen_kwargs = parse_gen_kwargs(args.gen_kwargs) if args.gen_kwargs else None
    settings = GenerationSettings(args.limit, _seed(args.seed), _batch_size(args.batch_size), gen_kwargs,
                                  args.system_prompt, args.limit_mode)
    return RunConfig(
        backend=backend, model_args=model_args, suite=args.suite,
        tasks=tuple(t.strip() for t in args.tasks.split(",") if t.strip()) if args.tasks else None,
        judge=args.judge, judge_overrides=judge_overrides(args), include_paths=include_paths(args.include_path),
        data_dir=resolve_data_dir(args.data_dir), output_dir=Path(os.path.normpath(args.output_dir)),
        run_name=args.run_name, settings=settings, force=args.force, labels=_parse_labels(args.label), demo=demo,
        progress=default_mode(args.quiet, args.verbose),
    )


def check_gate_args(args: argparse.Namespace, registry: Registry) -> None:
    """--policy (a name or file) and --baseline are read and checked before the run starts, not after it."""
    from hhh_eval.policy import load_policy
    from hhh_eval.runs import load_run

    if args.baseline and not args.policy:
        raise UserError("--baseline is used by the release gate: pass --policy too (or run 'hhh-eval gate')")
    if args.policy:
        load_policy(args.policy, registry)
    if args.baseline:
        load_run(args.baseline)


def finish_cli_run(args: argparse.Namespace, config: RunConfig) -> int:
    """Check, run, print the summary and, with --policy, gate the new card (the gate's exit code is the run's)."""
    from hhh_eval.summary import print_summary

    plan = plan_run(config)
    check_gate_args(args, plan.registry)
    card, run_dir = run_plan(plan)
    print_summary(card, run_dir)
    if not args.policy:
        return 0
    from hhh_eval.gate import run_gate

    return 1 if run_gate(run_dir, args.policy, args.baseline, plan.registry).verdict == "FAIL" else 0


def cli_run(args: argparse.Namespace) -> int:
    return finish_cli_run(args, config_from_args(args, args.model, parse_model_args(args.model_args)))
