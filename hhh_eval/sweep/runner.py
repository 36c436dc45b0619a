"""`hhh-eval sweep`: plan the points, run what is missing on an executor, record each point, write the report.

Exit 0 when every point finished (and, under --policy, some point passes it), 1 otherwise, 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hhh_eval.errors import UserError
from hhh_eval.fileio import make_folder
from hhh_eval.identity import API_BACKENDS, check_backend
from hhh_eval.model_args import check_model_args, check_run_model_args
from hhh_eval.paths import inside, plain_name
from hhh_eval.pipeline import RunConfig, check_inputs, check_writable, plan_run
from hhh_eval.policy import Policy, load_policy
from hhh_eval.registry import Registry
from hhh_eval.sweep.executors import LocalExecutor, PointResult, PointTask, RayExecutor, require_ray
from hhh_eval.sweep.merge import MergeProvenance, MergeRecipe, check_recipe, merged_path, provenance, require_mergekit
from hhh_eval.sweep.points import SweepPoint, default_x, expand_points, run_config, with_merge
from hhh_eval.sweep.spec import SweepSpec, load_sweep
from hhh_eval.sweep.state import PointState, SweepState, load_state, now, point_key, tasks_tree_sha
from hhh_eval.sweep.summary import summary_lines


@dataclass(frozen=True)
class SweepOptions:
    """How to run a sweep file (the command line's options)."""

    executor: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    ray_num_cpus: int | None = None
    output_dir: Path = Path("results")
    force: bool = False
    policy: str | None = None  # a policy name or YAML file
    include_paths: tuple[Path, ...] = ()  # folders laid out like tasks/ with the user's own definitions


@dataclass(frozen=True)
class SweepPlan:
    spec: SweepSpec
    sha256: str
    points: list[SweepPoint]
    configs: dict[str, RunConfig]
    sweep_dir: Path
    merges_dir: Path
    policy: Policy | None
    registry: Registry


def plan_sweep(path: Path, options: SweepOptions) -> SweepPlan:
    """Check the sweep file, the extras it needs, the policy and the output folder; nothing is written."""
    spec, sha = load_sweep(path)
    if options.executor == "ray":
        require_ray()
    if spec.merge:
        require_mergekit()
    sweep_dir = inside(options.output_dir / "sweeps" / plain_name(spec.name, "sweep name"), options.output_dir)
    check_writable(sweep_dir)
    points = expand_points(spec)
    configs = {p.name: run_config(spec, p, sweep_dir, options.force, options.include_paths) for p in points}
    # the settings every point shares (suite, tasks, data, judge), checked once before anything runs (generation
    # settings and model args too, but only where a point is to run: check_points_to_run)
    registry, suite, specs, derived, _, _ = check_inputs(configs[points[0].name], check_settings=False)
    tasks = [*(s.name for s in specs), *derived]
    unknown = [t for t in spec.trend_tasks if t not in tasks]
    if unknown:
        raise UserError(f"trend_tasks names {', '.join(unknown)}, not among the sweep's tasks ({', '.join(tasks)}); "
                        "add them to tasks or drop them from trend_tasks")
    policy = load_policy(options.policy, registry) if options.policy else None
    want = policy.suite if policy else None
    if want and (want.name != suite.name or want.version not in (None, suite.version)):
        raise UserError(f"policy {policy.name} is for suite {want.name}" + (f" v{want.version}" if want.version else "")
                        + f", the sweep runs {suite.name} v{suite.version}; use a policy written for that suite")
    return SweepPlan(spec, sha, points, configs, sweep_dir, options.output_dir / ".cache" / "merges", policy, registry)


def check_points_to_run(plan: SweepPlan, todo: list[SweepPoint]) -> None:
    """Before anything runs: the shared generation settings, and the model args of each point still to run against
    the backend and the checkpoint's config (a merge point: its first local input's), so one wrong key is one
    error, not a failed point each. A checkpoint that is not there fails alone, when its point runs. Nothing is
    checked when nothing runs (a cached re-run imports neither transformers nor lm-eval's models)."""
    if not todo:
        return
    check_inputs(plan.configs[todo[0].name], registry=plan.registry)
    check_backend(plan.spec.backend)
    for point in todo:
        args = plan.configs[point.name].model_args
        refs = [i.ref for i in point.merge.inputs] if point.merge else [str(args.get("pretrained") or "")]
        local = next((Path(r).expanduser() for r in refs if r and Path(r).expanduser().is_dir()), None)
        try:
            check_run_model_args(args)
            if local is not None or plan.spec.backend in API_BACKENDS:
                check_model_args(plan.spec.backend, args, local)
        except UserError as err:
            raise UserError(f"sweep point '{point.name}': {err} (in the sweep file's model_args)") from None


def _merged_folder(plan: SweepPlan, recipe: MergeRecipe) -> tuple[Path, MergeProvenance] | None:
    """The merge's cache folder and provenance once it is built; None before (or when an input is not here)."""
    try:
        record = provenance(recipe)
    except UserError:
        return None
    path = merged_path(plan.merges_dir, record)
    return (path, record) if path.is_dir() else None


def _current_key(plan: SweepPlan, point: SweepPoint, tree_sha: str) -> str | None:
    """The point's key as things are now; None when it cannot be planned here (e.g. its merge is not built)."""
    config = plan.configs[point.name]
    if point.merge:
        built = _merged_folder(plan, point.merge)
        if built is None:
            return None
        config = with_merge(config, *built)
    try:
        return point_key(plan_run(config, check_settings=False, registry=plan.registry), tree_sha)
    except UserError:
        return None


def initial_state(plan: SweepPlan, path: Path, executor: str, force: bool) -> SweepState:
    """Every point, done where an earlier run finished it under the same key and its card is still there."""
    previous = load_state(plan.sweep_dir)
    earlier = {p.name: p for p in previous.points} if previous else {}
    tree_sha = tasks_tree_sha((plan.registry.shipped, *plan.registry.include_paths)) if earlier else ""
    points = []
    for point in plan.points:
        old = earlier.get(point.name)
        fresh = PointState(name=point.name, kind=point.kind, labels=point.labels, model=point.model)
        done = (not force and old is not None and old.status == "done" and old.card is not None
                and (plan.sweep_dir / old.card).is_file() and old.key == _current_key(plan, point, tree_sha))
        points.append(old if done else fresh)
    spec = plan.spec
    return SweepState(name=spec.name, sweep_file=str(path), sweep_sha256=plan.sha256, executor=executor,
                      baseline=spec.baseline or plan.points[0].name, x=default_x(spec), points=points,
                      report=previous.report if previous else None)


class ConsoleProgress:
    """Records each finished point in sweep.json (atomically) and prints it with an ETA."""

    def __init__(self, state: SweepState, sweep_dir: Path, total: int) -> None:
        self.state, self.sweep_dir, self.total = state, sweep_dir, total
        self.count, self.start = 0, time.perf_counter()

    def started(self, name: str) -> None:
        print(f"[{self.count + 1}/{self.total}] {name}: running (log: {self.sweep_dir / 'logs' / name}.log)",
              file=sys.stderr)

    def finished(self, r: PointResult) -> None:
        self.count += 1
        p = self.state.point(r.name)
        p.status, p.error, p.attempts = ("done" if r.ok else "failed"), r.error, r.attempts
        p.seconds, p.finished_at = round(r.seconds, 2), now()
        if r.ok and r.run_dir is not None:
            p.key, p.run_dir, p.model, p.merge = r.key, str(r.run_dir.relative_to(self.sweep_dir)), r.model, r.merge
        self.state.save(self.sweep_dir)
        left = self.total - self.count
        eta = f"; {left} left, ETA {_duration((time.perf_counter() - self.start) / self.count * left)}" if left else ""
        outcome = f"done in {r.seconds:.1f} s" if r.ok else f"FAILED ({r.error})"
        print(f"[{self.count}/{self.total}] {r.name}: {outcome}{eta}", file=sys.stderr)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _execute(plan: SweepPlan, state: SweepState, options: SweepOptions) -> None:
    """Run the points that are not done, recording each in sweep.json as it finishes."""
    todo = [p for p in plan.points if state.point(p.name).status != "done"]
    done = len(plan.points) - len(todo)
    print(f"sweep {plan.spec.name}: {len(plan.points)} points, {done} finished earlier, {len(todo)} to run "
          f"({options.executor})", file=sys.stderr)
    if not todo:
        return
    logs = plan.sweep_dir / "logs"
    tasks = [PointTask(p.name, plan.configs[p.name], p.merge, plan.merges_dir, logs / f"{p.name}.log") for p in todo]
    progress = ConsoleProgress(state, plan.sweep_dir, len(tasks))
    if options.executor == "local":
        LocalExecutor(plan.spec.max_retries).run(tasks, progress)
        return
    with RayExecutor(plan.spec.max_retries, plan.spec.resources, options.ray_address, options.ray_num_cpus) as ray_ex:
        ray_ex.check_writable(plan.sweep_dir)
        print(f"submitting {len(tasks)} points to Ray", file=sys.stderr)
        ray_ex.run(tasks, progress)


def run_sweep(path: str | Path, options: SweepOptions) -> tuple[SweepState, Path]:
    """Run a sweep file: every missing point, then the report; returns sweep.json's content and the sweep folder."""
    from hhh_eval.sweep.report import write_report

    path = Path(path)
    plan = plan_sweep(path, options)
    state = initial_state(plan, path, options.executor, options.force)
    todo = [p for p in plan.points if state.point(p.name).status != "done"]
    check_points_to_run(plan, todo)
    unbuilt = [p.merge for p in todo if p.merge and _merged_folder(plan, p.merge) is None]
    if unbuilt:
        check_recipe(unbuilt[0])  # imports mergekit; a bad method is one error now, not a failure per point
    make_folder(plan.sweep_dir)
    state.save(plan.sweep_dir)
    _execute(plan, state, options)
    state.report = write_report(state, plan.sweep_dir, plan.spec, plan.policy, options.policy)
    state.save(plan.sweep_dir)
    return state, plan.sweep_dir


def exit_code(state: SweepState) -> int:
    failed = any(p.status != "done" for p in state.points)
    return 1 if failed or (state.report and state.report.policy and state.report.best is None) else 0


def cli_sweep(args: argparse.Namespace) -> int:
    from hhh_eval.registry import include_paths

    options = SweepOptions(executor=args.executor, ray_address=args.ray_address, ray_num_cpus=args.ray_num_cpus,
                           output_dir=Path(args.output_dir), force=args.force, policy=args.policy,
                           include_paths=include_paths(args.include_path))
    if (args.ray_address or args.ray_num_cpus) and args.executor != "ray":
        raise UserError("--ray-address and --ray-num-cpus are for --executor ray; add --executor ray")
    if args.ray_address and args.ray_num_cpus:
        raise UserError("--ray-num-cpus sizes the local Ray started without --ray-address; drop one of them")
    state, sweep_dir = run_sweep(args.sweep_file, options)
    print("\n".join(summary_lines(state, sweep_dir)))
    return exit_code(state)
