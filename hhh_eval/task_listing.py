"""`hhh-eval tasks`: every task, suite, judge and policy with axis, dataset, metrics, version and, for the user's own
definitions, the include path they come from."""

from __future__ import annotations

import argparse
from pathlib import Path

from hhh_eval.registry import Registry, include_paths


def _origin(registry: Registry, path: Path) -> str:
    root = registry.root_of(path)
    return "" if root == registry.shipped else f"  [from {root or path}]"


def _metrics(metrics: tuple) -> str:
    return ", ".join(f"{m.name}{'' if m.higher_is_better else ' (lower better)'}" for m in metrics)


def task_lines(registry: Registry) -> list[str]:
    lines = [f"{'task':<22}{'axis':<14}{'version':<9}{'dataset (config/split)':<58}metrics"]
    for spec in sorted(registry.tasks.values(), key=lambda s: (s.axis, s.name)):
        data = f"{spec.data_file.name if spec.data_file else spec.dataset_path} ({spec.dataset_name or 'default'}/{spec.split})"
        judge = f"judged by {spec.default_judge}" if spec.default_judge else "judged when --judge names one"
        judged = f"  {judge} ({'/'.join(spec.judge_kinds)})" if spec.judged else ""
        lines.append(f"{spec.name:<22}{spec.axis:<14}{spec.version:<9}{data:<58}{_metrics(spec.metrics)}{judged}"
                     f"{_origin(registry, spec.yaml_path)}")
    for d in registry.derived.values():
        source = "derived from " + " + ".join(d.sources)
        lines.append(f"{d.name:<22}{d.axis:<14}{d.version:<9}{source:<58}{_metrics(d.metrics)}"
                     f"{_origin(registry, registry.task_files[d.name])}")
    return lines


def suite_lines(registry: Registry) -> list[str]:
    lines = []
    for name in registry.names("suite"):
        suite = registry.suite(name)
        lines.append(f"suite {suite.name} v{suite.version}: {suite.description}"
                     f"{_origin(registry, registry.files['suite'][name])}")
        for axis, entries in suite.axes.items():
            parts = ", ".join(f"{e.task}:{e.metric} (w={e.weight:g})" for e in entries)
            lines.append(f"  {axis:<13} {parts}")
    return lines


def file_lines(registry: Registry) -> list[str]:
    """One line each for judges and policies: their names, marked with their include path where not shipped."""
    return [f"{folder}: " + ", ".join(name + _origin(registry, registry.files[kind][name])  # type: ignore[index]
                                      for name in registry.names(kind))  # type: ignore[arg-type]
            for kind, folder in (("judge", "judges"), ("policy", "policies"))]


def cli_tasks(args: argparse.Namespace) -> int:
    registry = Registry.build(include_paths(args.include_path))
    print("\n".join(task_lines(registry) + [""] + suite_lines(registry) + [""] + file_lines(registry)))
    return 0
