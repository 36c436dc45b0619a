"""Task and suite definitions read from tasks/: lm-eval task YAMLs per axis, suites in tasks/suites/."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hhh_eval.datadir import dataset_config
from hhh_eval.errors import UserError

AXES = ("helpfulness", "honesty", "harmlessness")
Axis = Literal["helpfulness", "honesty", "harmlessness"]
TASKS_DIR_ENV = "HHH_EVAL_TASKS_DIR"


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MetricSpec(Frozen):
    """A task metric. kind: "item" (mean of lm-eval's per-item values), "judged" (from judge verdicts),
    "corpus" (a statistic of per-item predictions, e.g. weighted F1 or ECE)."""

    name: str
    higher_is_better: bool
    kind: Literal["item", "judged", "corpus"] = "item"


def find_metric(task: str, metrics: tuple[MetricSpec, ...], name: str) -> MetricSpec:
    for m in metrics:
        if m.name == name:
            return m
    raise UserError(f"task {task} has no metric '{name}'; it has {', '.join(m.name for m in metrics)}")


class TaskSpec(Frozen):
    """What hhh-eval needs to know of one task; the lm-eval config itself stays in the YAML."""

    name: str
    axis: Axis
    version: str
    yaml_path: Path
    output_type: str
    dataset_path: str
    dataset_name: str | None
    split: str
    num_fewshot: int = 0
    description: str = ""
    metrics: tuple[MetricSpec, ...]
    judge_kinds: tuple[str, ...] = ()  # judged tasks: the judge kinds whose labels they can score
    default_judge: str | None = None  # judged tasks: the judge used unless the run names one of an accepted kind
    category_field: str | None = None  # doc field for per-category metrics
    prompt_field: str | None = None  # judged tasks: doc field holding the user's prompt as written
    cluster_field: str | None = None  # doc field whose equal values are one cluster (resampled together)

    @property
    def judged(self) -> bool:
        return bool(self.judge_kinds)

    def metric(self, name: str) -> MetricSpec:
        return find_metric(self.name, self.metrics, name)


class DerivedSpec(Frozen):
    """A task scored from other tasks' items with no model calls of its own (e.g. calibration over MC tasks)."""

    name: str
    axis: Axis
    version: str
    description: str = ""
    sources: tuple[str, ...]
    metrics: tuple[MetricSpec, ...]

    def metric(self, name: str) -> MetricSpec:
        return find_metric(self.name, self.metrics, name)


class SuiteEntry(Frozen):
    task: str
    metric: str
    weight: float = Field(gt=0)
    fallback_metric: str | None = None  # headline when `metric` has no scored item (e.g. no judge of its kind ran)


class SuiteSpec(Frozen):
    name: str
    version: str
    description: str = ""
    axes: dict[Axis, tuple[SuiteEntry, ...]]

    @property
    def task_names(self) -> list[str]:
        return [e.task for entries in self.axes.values() for e in entries]



class _TaskYamlLoader(yaml.SafeLoader):
    """Reads lm-eval task YAMLs without importing their hooks (`!function` stays a string)."""


_TaskYamlLoader.add_constructor("!function", lambda loader, node: f"!function {loader.construct_scalar(node)}")


def tasks_dir() -> Path:
    """The tasks/ folder: HHH_EVAL_TASKS_DIR, else the one beside the package."""
    raw = os.environ.get(TASKS_DIR_ENV)
    path = Path(raw) if raw else Path(__file__).resolve().parent.parent / "tasks"
    if not path.is_dir():
        raise UserError(f"tasks folder {path} not found; set {TASKS_DIR_ENV} to the project's tasks/ folder")
    return path


def task_yaml_dirs(root: Path) -> list[Path]:
    """The folders lm-eval indexes as include_path: one per axis."""
    return [root / axis for axis in AXES if (root / axis).is_dir()]


def _split_of(cfg: dict[str, Any]) -> str:
    split = cfg.get("test_split") or cfg.get("validation_split")
    if not split:
        raise UserError(f"task {cfg.get('task')} names no test_split or validation_split")
    return split


def _task_from_yaml(path: Path, axis: Axis) -> TaskSpec:
    with open(path, encoding="utf-8") as fh:
        cfg = yaml.load(fh, Loader=_TaskYamlLoader)
    meta = cfg.get("metadata") or {}
    metrics = [MetricSpec(name=m["metric"], higher_is_better=m.get("higher_is_better", True)) for m in cfg.get("metric_list") or []]
    try:
        metrics += [MetricSpec(**m, kind="judged") for m in meta.get("judged_metrics", [])]
        metrics += [MetricSpec(**m, kind="corpus") for m in meta.get("corpus_metrics", [])]
        return TaskSpec(
            name=cfg["task"],
            axis=axis,
            version=str(meta["version"]),
            yaml_path=path,
            output_type=cfg["output_type"],
            dataset_path=cfg["dataset_path"],
            dataset_name=dataset_config(cfg),
            split=_split_of(cfg),
            num_fewshot=cfg.get("num_fewshot") or 0,
            description=meta.get("description", ""),
            metrics=tuple(m for m in metrics if m.name != "bypass"),
            judge_kinds=tuple(meta.get("judge_kinds", ())),
            default_judge=meta.get("default_judge"),
            category_field=meta.get("category_field"),
            prompt_field=meta.get("prompt_field"),
            cluster_field=meta.get("cluster_field"),
        )
    except (KeyError, TypeError, ValidationError) as exc:
        raise UserError(f"task file {path} is malformed ({exc.__class__.__name__}: {exc}); fix the YAML") from None


@cache
def _load_tasks(root: Path) -> dict[str, TaskSpec]:
    specs: dict[str, TaskSpec] = {}
    for folder in task_yaml_dirs(root):
        for path in sorted(folder.glob("*.yaml")):
            spec = _task_from_yaml(path, folder.name)  # type: ignore[arg-type]
            specs[spec.name] = spec
    return specs


def load_tasks(root: Path | None = None) -> dict[str, TaskSpec]:
    """All tasks under tasks/<axis>/*.yaml, by name."""
    return _load_tasks(root or tasks_dir())


@cache
def _load_derived(root: Path) -> dict[str, DerivedSpec]:
    specs = {}
    for path in sorted((root / "derived").glob("*.yaml")):
        with open(path, encoding="utf-8") as fh:
            raw = yaml.safe_load(fh)
        try:
            metrics = tuple(MetricSpec(**m, kind="corpus") for m in raw.pop("metrics"))
            spec = DerivedSpec(**raw, metrics=metrics)
        except (KeyError, TypeError, ValidationError) as exc:
            raise UserError(f"derived task file {path} is malformed: {exc}".replace("\n", " ")) from None
        specs[spec.name] = spec
    return specs


def load_derived(root: Path | None = None) -> dict[str, DerivedSpec]:
    """Derived tasks from tasks/derived/*.yaml, by name."""
    return _load_derived(root or tasks_dir())


def load_suite(name: str, root: Path | None = None) -> SuiteSpec:
    """A suite from tasks/suites/<name>.yaml, checked against the tasks it names."""
    root = root or tasks_dir()
    path = root / "suites" / f"{name}.yaml"
    if not path.is_file():
        raise UserError(f"unknown suite '{name}'; known suites: {', '.join(suite_names(root))}")
    with open(path, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    try:
        suite = SuiteSpec(**raw)
    except (TypeError, ValidationError) as exc:
        raise UserError(f"suite file {path} is malformed: {exc}".replace("\n", " ")) from None
    known = {**load_tasks(root), **load_derived(root)}
    for axis, entries in suite.axes.items():
        for entry in entries:
            spec = known.get(entry.task)
            if spec is None:
                raise UserError(f"suite {name} names unknown task '{entry.task}'; known tasks: {', '.join(sorted(known))}")
            spec.metric(entry.metric)
            if entry.fallback_metric:
                spec.metric(entry.fallback_metric)
            if spec.axis != axis:
                raise UserError(f"suite {name} puts task {entry.task} under {axis} but it belongs to {spec.axis}")
            missing = [s for s in getattr(spec, "sources", ()) if s not in suite.task_names]
            if missing:
                raise UserError(f"suite {name}: derived task {entry.task} needs {', '.join(missing)} in the suite too")
    return suite


def suite_names(root: Path | None = None) -> list[str]:
    root = root or tasks_dir()
    return sorted(p.stem for p in (root / "suites").glob("*.yaml"))


def select_tasks(suite: SuiteSpec, only: list[str] | None, root: Path | None = None) -> list[str]:
    """The suite's tasks, or the named subset of them plus the sources of derived tasks among them."""
    if not only:
        return suite.task_names
    unknown = [t for t in only if t not in suite.task_names]
    if unknown:
        raise UserError(
            f"unknown task(s) {', '.join(unknown)} for suite {suite.name}; known: {', '.join(suite.task_names)}"
        )
    derived = load_derived(root)
    wanted = set(only) | {s for t in only if t in derived for s in derived[t].sources}
    return [t for t in suite.task_names if t in wanted]
