"""The sweep file: a YAML document validated into frozen objects; any problem is one line naming the key.

Keys (README "Sweeps" has an example): the run settings every point shares (suite, tasks, limit, judge, data_dir,
seed, gen_kwargs, backend, model_args, limit_mode, ...), what to evaluate (points, checkpoints, merge: any combination),
how to report it (x, baseline, trend_tasks, objective) and how to run it (resources, max_retries).
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Annotated, Any, Union

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from hhh_eval.card.models import Axis
from hhh_eval.errors import UserError
from hhh_eval.fileio import read_text, sha256_text
from hhh_eval.policy import _UniqueKeyLoader
from hhh_eval.sampling import LimitMode


def _scalar(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"a label is a number or a string, got {type(value).__name__} {value!r}")
    return value


Label = Annotated[Union[int, float, str], BeforeValidator(_scalar)]


def _comma_list(value: Any) -> Any:
    """`tasks: a,b` and `tasks: [a, b]` mean the same."""
    return [t.strip() for t in value.split(",") if t.strip()] if isinstance(value, str) else value


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PointSpec(_Frozen):
    """An explicit checkpoint: a local path or a hub id (with an optional revision)."""

    name: str
    model: str
    revision: str | None = None
    model_args: dict[str, Any] = {}
    labels: dict[str, Label] = {}


class CheckpointsSpec(_Frozen):
    """Checkpoint folders matching a glob; the last number in each folder's name is its label."""

    glob: str
    label: str | None = None  # default: the sweep's x, else "step"


class MergeSpec(_Frozen):
    """A merge grid built with mergekit: the varied model's weights; the other models are fixed at 1."""

    method: str = Field(pattern=r"^[A-Za-z0-9_]+$")  # a mergekit method name (checked against mergekit's list)
    base: str | None = None
    models: dict[str, str] = Field(min_length=1)
    grid: dict[str, list[float]]
    parameters: dict[str, float | bool] = {}  # mergekit's global parameters, e.g. density for ties
    dtype: str | None = None

    @model_validator(mode="after")
    def _one_varied_model(self) -> MergeSpec:
        if len(self.grid) != 1:
            raise ValueError(f"grid names {len(self.grid)} models; name exactly one (the varied model)")
        varied, weights = next(iter(self.grid.items()))
        if varied not in self.models:
            raise ValueError(f"grid model '{varied}' is not one of models ({', '.join(self.models)})")
        if not weights:
            raise ValueError(f"grid of '{varied}' has no weights")
        return self

    @property
    def varied(self) -> str:
        return next(iter(self.grid))


class ResourcesSpec(_Frozen):
    """What one point needs on a Ray node (the local executor ignores it)."""

    num_cpus: float = Field(1.0, ge=0)
    num_gpus: float = Field(0.0, ge=0)
    memory: int | None = Field(None, gt=0)  # bytes


class SweepSpec(_Frozen):
    """A whole sweep file."""

    name: str
    # run settings shared by every point
    suite: str | None = None  # None: hhh-core, or a suite of just `tasks` when they are not all in it (as run)
    tasks: Annotated[list[str] | None, BeforeValidator(_comma_list)] = None
    limit: int | None = Field(None, gt=0)
    limit_mode: LimitMode = "sample"  # as run's --limit-mode: a seeded stratified sample, or lm-eval's first N
    judge: str | None = None
    judge_backend: str | None = None
    judge_model_args: str | None = None
    data_dir: str | None = None
    seed: int = 1234
    batch_size: Annotated[str, BeforeValidator(str), Field(pattern=r"^(auto(:\d+)?|[1-9]\d*)$")] = "8"
    gen_kwargs: dict[str, Any] | None = None
    system_prompt: str | None = None
    backend: str = "hf"
    model_args: dict[str, Any] = {}
    # what to evaluate
    points: list[PointSpec] = []
    checkpoints: CheckpointsSpec | None = None
    merge: MergeSpec | None = None
    # how to report and run it
    x: str | None = None
    baseline: str | None = None
    trend_tasks: Annotated[list[str], BeforeValidator(_comma_list)] = []
    objective: Axis = "helpfulness"
    resources: ResourcesSpec = ResourcesSpec()
    max_retries: int = Field(1, ge=0)

    @model_validator(mode="after")
    def _something_to_evaluate(self) -> SweepSpec:
        if not (self.points or self.checkpoints or self.merge):
            raise ValueError("the sweep has nothing to evaluate; give points, checkpoints or merge")
        return self


# ---------------------------------------------------------------- one-line errors


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model that holds the key at `loc` (None inside free-form mappings)."""
    current: Any = SweepSpec
    for part in loc[:-1]:
        while typing.get_origin(current) in (Union, types.UnionType, Annotated):
            current = next(a for a in typing.get_args(current) if a is not type(None))
        if isinstance(part, int) and typing.get_origin(current) is list:
            current = typing.get_args(current)[0]
        elif isinstance(current, type) and issubclass(current, BaseModel) and part in current.model_fields:
            current = current.model_fields[part].annotation
        else:
            return None
    while typing.get_origin(current) in (Union, types.UnionType):
        current = next(a for a in typing.get_args(current) if a is not type(None))
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the top level"


def error_line(exc: ValidationError) -> str:
    """The first validation error as 'key: what is wrong', naming the allowed keys for an unknown one."""
    err = exc.errors()[0]
    loc = tuple(err["loc"])
    if err["type"] == "extra_forbidden":
        model = _model_at(loc)
        allowed = f"; allowed: {', '.join(model.model_fields)}" if model else ""
        return f"unknown key '{_where(loc)}'{allowed}"
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "missing":
        return f"'{_where(loc)}' is required"
    return f"'{_where(loc)}': {message}" if loc else message


# ---------------------------------------------------------------- loading


def _read_yaml(path: Path) -> tuple[Any, str]:
    text = read_text(path, "sweep file", "pass a sweep YAML (README 'Sweeps')")
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader), text
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(f"sweep file {path} is not valid YAML{at}: {problem}; fix the file") from None


def load_sweep(path: str | Path) -> tuple[SweepSpec, str]:
    """The validated sweep and the sha256 of its file's text; any problem is a UserError naming the key."""
    path = Path(path)
    raw, text = _read_yaml(path)
    if not isinstance(raw, dict):
        raise UserError(f"sweep file {path} is not a YAML mapping of keys; see README 'Sweeps' for the format")
    try:
        return SweepSpec.model_validate(raw), sha256_text(text)
    except ValidationError as exc:
        raise UserError(f"sweep file {path} is invalid: {error_line(exc)}") from None
