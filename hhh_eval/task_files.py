"""Task, derived-task and suite files: their typed models, and every check of what a file says at load.

A task file is an lm-eval task config (the YAML lm-eval runs); hhh-eval reads its dataset, split and metrics and
its `metadata` block. Anything a file says that hhh-eval would only trip over later (an unknown judged metric, a
judge kind that does not exist, a split that is not there) is a one-line UserError here, listing what is allowed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hhh_eval.card.models import Axis
from hhh_eval.datadir import dataset_config, local_data_files
from hhh_eval.errors import UserError
from hhh_eval.fileio import read_text
from hhh_eval.paths import plain_name

EVAL_SPLIT_KEYS = ("test_split", "validation_split")
METADATA_KEYS = ("version", "description", "judge_kinds", "default_judge", "category_field", "prompt_field",
                 "cluster_field", "judged_metrics", "corpus_metrics")


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
    data_file: Path | None = None  # the evaluated split's file when the task loads a local file (not a hub dataset)
    num_fewshot: int = 0
    description: str = ""
    metrics: tuple[MetricSpec, ...]
    judge_kinds: tuple[str, ...] = ()  # judged tasks: the judge kinds whose labels they can score
    default_judge: str | None = None  # judged tasks: the judge used unless the run names one of an accepted kind
    category_field: str | None = None  # doc field for per-category metrics (and the strata of a --limit sample)
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


# ---------------------------------------------------------------- reading files

class _TaskYamlLoader(yaml.SafeLoader):
    """Reads lm-eval task YAMLs without importing their hooks (`!function` stays a string)."""


_TaskYamlLoader.add_constructor("!function", lambda loader, node: f"!function {loader.construct_scalar(node)}")


def read_yaml(path: Path, what: str, loader: type[yaml.SafeLoader] = yaml.SafeLoader) -> dict[str, Any]:
    """A YAML mapping from a file; anything else is a one-line UserError naming the file."""
    text = read_text(path, f"{what} file", "fix the file")
    try:
        raw = yaml.load(text, Loader=loader)  # noqa: S506 - both loaders are SafeLoader subclasses
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise UserError(f"{what} file {path} is not valid YAML{at}; fix the file") from None
    if not isinstance(raw, dict):
        raise UserError(f"{what} file {path} must be a YAML mapping (key: value lines); fix the file")
    return raw


def _one_line(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "top level"
    return f"{where}: {first['msg']}"


# ---------------------------------------------------------------- task files

def kinds_scoring(metric: str) -> list[str]:
    """The judge kinds whose labels give `metric` a value (e.g. harm_rate: refusal and harm judges)."""
    from hhh_eval.judges.base import KIND_LABELS
    from hhh_eval.scoring import JUDGED_METRICS

    return [kind for kind, labels in KIND_LABELS.items() if set(labels) & set(JUDGED_METRICS[metric])]


def _check_metadata(path: Path, meta: dict[str, Any]) -> None:
    """Metadata keys, judge kinds and judged/corpus metric names are ones hhh-eval knows."""
    from hhh_eval.stats.corpus import CORPUS_METRICS
    from hhh_eval.judges.base import KIND_LABELS
    from hhh_eval.scoring import JUDGED_METRICS

    def bad(msg: str) -> UserError:
        return UserError(f"task file {path}: {msg}")

    if unknown := sorted(set(meta) - set(METADATA_KEYS)):
        raise bad(f"unknown metadata key(s) {', '.join(unknown)}; allowed: {', '.join(METADATA_KEYS)}")
    if "version" not in meta:
        raise bad("metadata.version is missing; add `version: 1` under metadata")
    kinds = meta.get("judge_kinds") or []
    if unknown := [k for k in kinds if k not in KIND_LABELS]:
        raise bad(f"unknown judge kind(s) {', '.join(map(str, unknown))} in judge_kinds; allowed: {', '.join(KIND_LABELS)}")
    judged = [m.get("name") if isinstance(m, dict) else m for m in meta.get("judged_metrics") or []]
    if judged and not kinds:
        raise bad(f"judged_metrics need judge_kinds (the kinds of judge that label the answers: {', '.join(KIND_LABELS)})")
    if kinds and not judged:
        raise bad(f"judge_kinds without judged_metrics; add judged_metrics (allowed: {', '.join(JUDGED_METRICS)})")
    for name in judged:
        if name not in JUDGED_METRICS:
            raise bad(f"unknown judged metric '{name}'; allowed: {', '.join(JUDGED_METRICS)}")
        if not set(kinds) & set(kinds_scoring(name)):
            raise bad(f"judged metric {name} takes labels of {' or '.join(kinds_scoring(name))} judges, but judge_kinds "
                      f"is {', '.join(kinds)}")
    for m in meta.get("corpus_metrics") or []:
        name = m.get("name") if isinstance(m, dict) else m
        if name not in CORPUS_METRICS:
            raise bad(f"unknown corpus metric '{name}'; allowed: {', '.join(CORPUS_METRICS)}")
    for key in ("category_field", "prompt_field", "cluster_field", "default_judge"):
        if meta.get(key) is not None and not (isinstance(meta[key], str) and meta[key]):
            raise bad(f"metadata.{key} must be a field name (a string), got {meta[key]!r}")


def _split_of(path: Path, cfg: dict[str, Any]) -> str:
    """The evaluated split (test_split, else validation_split); a local file task must have a file for it."""
    split = next((cfg[k] for k in EVAL_SPLIT_KEYS if cfg.get(k)), None)
    if not isinstance(split, str):
        raise UserError(f"task file {path} names no test_split or validation_split; add e.g. `test_split: test` "
                        "(a dataset with only a train split on the hub is evaluated as `test_split: train`)")
    files = local_data_files(cfg, path.parent)
    if files is not None and split not in files:
        raise UserError(f"task file {path}: split '{split}' has no file in dataset_kwargs.data_files; it has "
                        f"{', '.join(files) or 'none'}")
    return split


def _metrics(cfg: dict[str, Any], meta: dict[str, Any]) -> tuple[MetricSpec, ...]:
    items = [MetricSpec(name=m["metric"], higher_is_better=m.get("higher_is_better", True))
             for m in cfg.get("metric_list") or []]
    items += [MetricSpec(**m, kind="judged") for m in meta.get("judged_metrics") or []]
    items += [MetricSpec(**m, kind="corpus") for m in meta.get("corpus_metrics") or []]
    metrics = tuple(m for m in items if m.name != "bypass")
    if not metrics:
        raise UserError("it declares no metric: add metric_list, or judged_metrics for a judged task")
    return metrics


def task_from_yaml(path: Path, axis: Axis) -> TaskSpec:
    """The TaskSpec of one lm-eval task YAML, every hhh-eval key checked."""
    cfg = read_yaml(path, "task", _TaskYamlLoader)
    meta = cfg.get("metadata") or {}
    if not isinstance(meta, dict):
        raise UserError(f"task file {path}: metadata must be a mapping (version, description, ...)")
    _check_metadata(path, meta)
    try:
        plain_name(cfg.get("task"), f"task name in {path}")
        files = local_data_files(cfg, path.parent)
        split = _split_of(path, cfg)
        if meta.get("judge_kinds") and cfg.get("output_type") != "generate_until":
            raise UserError(f"a judged task must be output_type generate_until, not {cfg.get('output_type')}")
        return TaskSpec(
            name=cfg["task"], axis=axis, version=str(meta["version"]), yaml_path=path,
            output_type=cfg["output_type"], dataset_path=cfg["dataset_path"], dataset_name=dataset_config(cfg),
            split=split, data_file=files[split] if files else None, num_fewshot=cfg.get("num_fewshot") or 0,
            description=meta.get("description", ""), metrics=_metrics(cfg, meta),
            judge_kinds=tuple(meta.get("judge_kinds") or ()), default_judge=meta.get("default_judge"),
            category_field=meta.get("category_field"), prompt_field=meta.get("prompt_field"),
            cluster_field=meta.get("cluster_field"),
        )
    except UserError as exc:
        text = str(exc)
        raise UserError(text if str(path) in text else f"task file {path}: {text}") from None
    except KeyError as exc:
        raise UserError(f"task file {path} lacks the key {exc}; an lm-eval task needs task, dataset_path, "
                        "output_type and a split") from None
    except (TypeError, ValidationError) as exc:
        detail = _one_line(exc) if isinstance(exc, ValidationError) else str(exc)
        raise UserError(f"task file {path} is malformed ({detail}); fix the YAML") from None


def derived_from_yaml(path: Path) -> DerivedSpec:
    """A derived task (scored from other tasks' saved items), its metrics checked to be corpus metrics."""
    from hhh_eval.stats.corpus import CORPUS_METRICS

    raw = read_yaml(path, "derived task")
    try:
        metrics = tuple(MetricSpec(**m, kind="corpus") for m in raw.pop("metrics"))
        spec = DerivedSpec(**raw, metrics=metrics)
    except (KeyError, TypeError, ValidationError) as exc:
        detail = _one_line(exc) if isinstance(exc, ValidationError) else f"{type(exc).__name__}: {exc}"
        raise UserError(f"derived task file {path} is malformed ({detail}); fix the YAML") from None
    plain_name(spec.name, f"derived task name in {path}")
    if unknown := [m.name for m in spec.metrics if m.name not in CORPUS_METRICS]:
        raise UserError(f"derived task file {path}: unknown metric(s) {', '.join(unknown)}; allowed: "
                        f"{', '.join(CORPUS_METRICS)}")
    return spec


def suite_from_yaml(path: Path) -> SuiteSpec:
    """A suite file, its name checked to be plain and to match the file name (it names the run folder)."""
    raw = read_yaml(path, "suite")
    try:
        suite = SuiteSpec(**raw)
    except (TypeError, ValidationError) as exc:
        detail = _one_line(exc) if isinstance(exc, ValidationError) else str(exc)
        raise UserError(f"suite file {path} is malformed ({detail}); fix the YAML") from None
    plain_name(suite.name, f"suite name in {path}")
    if suite.name != path.stem:
        raise UserError(f"suite file {path} declares name '{suite.name}'; the name must match the file name "
                        f"'{path.stem}'")
    return suite


def _hook_loader(base: Path) -> type[yaml.SafeLoader]:
    """A loader that shows each `!function module.fn` hook with the sha256 of its module file (beside the YAML)."""
    from hhh_eval.fileio import sha256_file

    class Loader(yaml.SafeLoader):
        pass

    def hook(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
        ref = str(loader.construct_scalar(node))
        module = base / (ref.rsplit(".", 1)[0].replace(".", "/") + ".py")
        return f"!function {ref} (sha256 {sha256_file(module) if module.is_file() else 'missing'})"

    Loader.add_constructor("!function", hook)
    return Loader


def resolved_config(path: Path) -> dict[str, Any]:
    """A task config as lm-eval resolves it (`include:` files merged, local keys win), each hook shown with the
    sha256 of its code: what defines the task, wherever it is installed."""
    cfg = read_yaml(path, "task", _hook_loader(path.parent))
    includes = cfg.pop("include", [])
    merged: dict[str, Any] = {}
    for inc in includes if isinstance(includes, list) else [includes]:
        merged.update({k: v for k, v in resolved_config(path.parent / inc).items() if k != "task_list"})
    return {**merged, **cfg}
