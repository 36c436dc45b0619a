"""The sweep's points: explicit checkpoints, a checkpoint glob and a merge grid, each an ordinary run's config.

Order: explicit points as written, checkpoints by their number, merge points by the grid's order. A point's
name becomes its run folder's name (through plain_name) and must be unique.
"""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from hhh_eval.datadir import resolve_data_dir
from hhh_eval.errors import UserError
from hhh_eval.generate import GenerationSettings
from hhh_eval.identity import API_BACKENDS
from hhh_eval.paths import plain_name
from hhh_eval.pipeline import RunConfig
from hhh_eval.sweep.merge import MergeInput, MergeProvenance, MergeRecipe
from hhh_eval.sweep.spec import CheckpointsSpec, MergeSpec, SweepSpec

Label = int | float | str


@dataclass(frozen=True)
class SweepPoint:
    """One point: a model (or a merge recipe, built on the worker) with its own args and labels."""

    name: str
    kind: Literal["point", "checkpoint", "merge"]
    model: str | None  # path or hub id; None for a merge
    model_args: dict[str, Any]
    labels: dict[str, Label]
    merge: MergeRecipe | None = None


def default_x(spec: SweepSpec) -> str | None:
    """The x-axis label: as given, else the checkpoints' label, else the merge's varied model, else none (order)."""
    if spec.x:
        return spec.x
    if spec.checkpoints:
        return spec.checkpoints.label or "step"
    return spec.merge.varied if spec.merge else None


def _explicit(spec: SweepSpec) -> list[SweepPoint]:
    out = []
    for p in spec.points:
        args = dict(p.model_args) | ({"revision": p.revision} if p.revision else {})
        out.append(SweepPoint(p.name, "point", p.model, args, dict(p.labels)))
    return out


def _checkpoints(cp: CheckpointsSpec, label: str) -> list[SweepPoint]:
    """Folders matching the glob, labelled and ordered by the last number in their names."""
    folders = [Path(p) for p in glob.glob(str(Path(cp.glob).expanduser())) if Path(p).is_dir()]
    if not folders:
        raise UserError(f"checkpoints glob '{cp.glob}' matches no folder; check the path in the sweep file")
    numbered = []
    for folder in folders:
        numbers = re.findall(r"\d+", folder.name)
        if not numbers:
            raise UserError(f"checkpoint folder {folder} has no number in its name to label it with; "
                            "narrow the glob or list it under points")
        numbered.append((int(numbers[-1]), folder.name, folder))
    return [SweepPoint(name, "checkpoint", str(folder), {}, {label: n}) for n, name, folder in sorted(numbered)]


def _merges(merge: MergeSpec, x: str | None) -> list[SweepPoint]:
    """One point per weight of the varied model, named <varied>-<weight>, the other models at weight 1."""
    out = []
    for weight in merge.grid[merge.varied]:
        inputs = tuple(MergeInput(name, ref, float(weight) if name == merge.varied else 1.0)
                       for name, ref in merge.models.items())
        recipe = MergeRecipe(merge.method, merge.base, inputs, tuple(sorted(merge.parameters.items())), merge.dtype)
        labels: dict[str, Label] = {merge.varied: float(weight)} | ({x: float(weight)} if x else {})
        out.append(SweepPoint(f"{merge.varied}-{float(weight)}", "merge", None, {}, labels, recipe))
    return out


def expand_points(spec: SweepSpec) -> list[SweepPoint]:
    """Every point of the sweep, in order, with checked unique names."""
    x = default_x(spec)
    points = _explicit(spec)
    if spec.checkpoints:
        points += _checkpoints(spec.checkpoints, spec.checkpoints.label or x or "step")
    if spec.merge:
        points += _merges(spec.merge, x)
    seen: set[str] = set()
    for p in points:
        plain_name(p.name, "sweep point")
        if p.name in seen:
            raise UserError(f"two sweep points are named '{p.name}'; give each point a unique name")
        seen.add(p.name)
    baseline = spec.baseline or points[0].name
    if baseline not in seen:
        raise UserError(f"baseline '{baseline}' is not a point of the sweep; name one of {', '.join(sorted(seen))}")
    return points


def run_config(spec: SweepSpec, point: SweepPoint, sweep_dir: Path, force: bool,
               include: tuple[Path, ...] = ()) -> RunConfig:
    """The point's run: the sweep's settings, its model (None for a merge until it is built), under the sweep folder."""
    overrides = {k: v for k, v in (("backend", spec.judge_backend), ("model_args", spec.judge_model_args)) if v}
    settings = GenerationSettings(spec.limit, spec.seed, spec.batch_size, spec.gen_kwargs, spec.system_prompt,
                                  spec.limit_mode)
    return RunConfig(
        backend=spec.backend, model_args=with_model(spec.backend, spec.model_args | point.model_args, point.model),
        suite=spec.suite, tasks=tuple(spec.tasks) if spec.tasks else None, judge=spec.judge,
        judge_overrides=overrides, include_paths=include, data_dir=resolve_data_dir(spec.data_dir), output_dir=sweep_dir,
        run_name=point.name, settings=settings, force=force, labels=point.labels, replace=True)


def with_model(backend: str, model_args: dict[str, Any], model: str | None) -> dict[str, Any]:
    """Model args naming the model the way the backend expects (API backends: model=, others: pretrained=)."""
    return model_args | ({"model" if backend in API_BACKENDS else "pretrained": model} if model else {})


def with_merge(config: RunConfig, path: Path, record: MergeProvenance) -> RunConfig:
    """A merge point's run once its checkpoint exists: the merged folder and its provenance (for the manifest)."""
    return replace(config, model_args=with_model(config.backend, config.model_args, str(path)),
                   merge=record.model_dump(mode="json"))
