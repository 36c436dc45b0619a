"""Where a point runs: in this process (local) or as a Ray task on any node with the point's resources (ray).

A point is `run_point(PointTask)`: build its merge if it has one, then an ordinary run (pipeline.run) under the
sweep folder, its console output in logs/<point>.log. Executors only decide where that runs and report each
point once it is finished or has failed every try; Ray's own task retries (max_retries, retry_exceptions) cover
exceptions and workers that die mid-point.
"""

from __future__ import annotations

import contextlib
import logging
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Protocol

from hhh_eval.errors import UserError
from hhh_eval.fileio import WriteError, atomic_write_text
from hhh_eval.pipeline import RunConfig, plan_run, run_plan
from hhh_eval.sweep.merge import MergeProvenance, MergeRecipe, build_merge
from hhh_eval.sweep.points import with_merge
from hhh_eval.sweep.spec import ResourcesSpec
from hhh_eval.sweep.state import point_key, tasks_tree_sha

RAY_HINT = "pip install 'hhh-eval[ray]'"


@dataclass(frozen=True)
class PointTask:
    """What a worker needs to run one point."""

    name: str
    config: RunConfig  # a merge point's names no model until its merge is built
    merge: MergeRecipe | None
    merges_dir: Path
    log: Path


@dataclass(frozen=True)
class PointResult:
    name: str
    ok: bool
    seconds: float
    run_dir: Path | None = None
    key: str | None = None
    model: str | None = None
    merge: MergeProvenance | None = None
    error: str | None = None
    attempts: int | None = None


class Progress(Protocol):
    def started(self, name: str) -> None: ...
    def finished(self, result: PointResult) -> None: ...


def describe(exc: BaseException) -> str:
    """One line: the exception's type and the first line of its message."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


@contextlib.contextmanager
def _logged(log: Path) -> Iterator[None]:
    """The point's console output (and the traceback of a failure) appended to its log file."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} try\n")
        fh.flush()
        with contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
            try:
                yield
            except BaseException:
                traceback.print_exc(file=fh)
                raise


def run_point(task: PointTask) -> PointResult:
    """Run one point where this is called (any Ray node too); raises when the point fails."""
    start = time.perf_counter()
    with _logged(task.log):
        config, record = task.config, None
        if task.merge:
            path, record = build_merge(task.merge, task.merges_dir)
            config = with_merge(config, path, record)
        plan = plan_run(config)
        key = point_key(plan, tasks_tree_sha((plan.registry.shipped, *plan.registry.include_paths)))
        _, run_dir = run_plan(plan)
    return PointResult(task.name, True, time.perf_counter() - start, run_dir, key, plan.identity.name, record)


PointFn = Callable[[PointTask], PointResult]


@dataclass
class LocalExecutor:
    """Points one after another in this process; a failed point is tried again up to max_retries times."""

    max_retries: int

    def run(self, tasks: list[PointTask], progress: Progress, fn: PointFn = run_point) -> None:
        for task in tasks:
            progress.started(task.name)
            start, error = time.perf_counter(), ""
            for attempt in range(1, self.max_retries + 2):
                try:
                    result = replace(fn(task), attempts=attempt)
                    break
                except Exception as exc:  # a point's failure is recorded; the sweep goes on
                    error = describe(exc)
            else:
                result = PointResult(task.name, False, time.perf_counter() - start, error=error,
                                     attempts=self.max_retries + 1)
            progress.finished(result)


def require_ray() -> None:
    if find_spec("ray") is None:
        raise UserError(f"--executor ray needs Ray, which is not installed; {RAY_HINT}")


def _probe(folder: str, token: str) -> str | None:
    """On one node: None when the sweep folder is the driver's (it holds the driver's token) and writable."""
    import platform

    path = Path(folder)
    try:
        if (path / f".probe-{token}").read_text() != token:
            return "it holds other files than the driver's"
        mine = path / f".probe-{token}-{uuid.uuid4().hex[:8]}"
        atomic_write_text(mine, token)
        mine.unlink()
        return None
    except OSError as exc:
        return f"{platform.node()}: {exc.strerror or exc}"
    except WriteError as exc:
        return f"{platform.node()}: {exc.reason}"


@dataclass
class RayExecutor:
    """Each point a Ray task with the sweep's resources: on a cluster (address) or a local Ray started here."""

    max_retries: int
    resources: ResourcesSpec
    address: str | None = None
    num_cpus: int | None = None  # of the local Ray (default: all cores)
    _started: bool = field(default=False, init=False)

    def __enter__(self) -> RayExecutor:
        import ray

        if not ray.is_initialized():
            where = {"address": self.address} if self.address else {"address": "local", "num_cpus": self.num_cpus}
            try:
                ray.init(**where, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise UserError(f"cannot start or reach Ray at {self.address or 'this machine'} ({describe(exc)}); "
                                "check --ray-address (e.g. ray://head:10001 or auto)") from None
            self._started = True
        return self

    def __exit__(self, *exc: object) -> None:
        import ray

        if self._started:
            ray.shutdown()

    def _options(self) -> dict[str, Any]:
        r = self.resources
        return {"num_cpus": r.num_cpus, "num_gpus": r.num_gpus, **({"memory": r.memory} if r.memory else {})}

    def check_writable(self, sweep_dir: Path) -> None:
        """Every node that can run a point sees the sweep folder (the driver's) and can write there."""
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        need = {"CPU": self.resources.num_cpus, "GPU": self.resources.num_gpus}
        nodes = [n for n in ray.nodes() if n["Alive"]
                 and all(n["Resources"].get(k, 0) >= v for k, v in need.items() if v)]
        if not nodes:
            raise UserError(f"no Ray node has the resources of a point ({self._options()}); lower 'resources' "
                            "in the sweep file or add nodes")
        token = uuid.uuid4().hex
        marker = sweep_dir / f".probe-{token}"
        atomic_write_text(marker, token)
        try:
            probe = ray.remote(num_cpus=0)(_probe)
            refs = [probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
                    .remote(str(sweep_dir), token) for n in nodes]
            for node, reason in zip(nodes, ray.get(refs, timeout=300)):
                if reason:
                    raise UserError(f"Ray node {node['NodeManagerAddress']} cannot use the output folder {sweep_dir} "
                                    f"({reason}); put --output-dir on a filesystem every node mounts at that path")
        finally:
            marker.unlink(missing_ok=True)

    def run(self, tasks: list[PointTask], progress: Progress, fn: PointFn = run_point) -> None:
        import ray

        remote = ray.remote(**self._options(), max_retries=self.max_retries, retry_exceptions=True)(fn)
        pending = {remote.options(name=f"sweep point {t.name}").remote(t): (t, time.perf_counter()) for t in tasks}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                task, start = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as exc:  # the task's own exception (RayTaskError.cause) or a dead worker
                    cause = getattr(exc, "cause", None) or exc
                    result = PointResult(task.name, False, time.perf_counter() - start, error=describe(cause))
                progress.finished(result)
