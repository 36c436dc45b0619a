"""Gate policies: YAML files validated by schema/policy.schema.json and loaded into frozen objects."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from yaml.constructor import ConstructorError
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from hhh_eval.card.models import Axis
from hhh_eval.errors import UserError
from hhh_eval.fileio import read_text
from hhh_eval.registry import Registry, policy_file

Version = Annotated[str, BeforeValidator(str)]  # YAML `version: 1` and `version: "1"` mean the same
DEFAULT_MAX_UNSCORED = 0.05


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class SuiteRequirement(_Frozen):
    name: str
    version: Version | None = None


class JudgeRequirement(_Frozen):
    name: str
    version: Version | None = None


class Requirements(_Frozen):
    tasks: tuple[str, ...] = ()
    judge: JudgeRequirement | None = None
    max_unscored: float = DEFAULT_MAX_UNSCORED


class Bound(_Frozen):
    """An absolute bound: on an axis score (0-100) or a task metric, optionally per category ('*' = every one)."""

    axis: Axis | None = None
    task: str | None = None
    metric: str | None = None
    category: str | None = None
    bound: Literal["lower", "upper", "point"]
    min: float | None = None
    max: float | None = None
    corrected: bool = False  # bound the judge-error-corrected rate instead of the raw judged rate

    @property
    def subject(self) -> str:
        if self.axis:
            return f"axis {self.axis}"
        return f"{self.task} {self.metric}" + (f" [{self.category}]" if self.category else "")


class _PairedRule(_Frozen):
    """A rule on the paired difference from a baseline: an axis score (margin in points) or a task metric (margin
    in its units)."""

    axis: Axis | None = None
    task: str | None = None
    metric: str | None = None
    margin: float

    @property
    def subject(self) -> str:
        return f"axis {self.axis}" if self.axis else f"{self.task} {self.metric}"


class NonInferiority(_PairedRule):
    """The candidate is at most `margin` worse than the baseline."""


class Superiority(_PairedRule):
    """The metric (or axis) moved by at least `margin` in `direction` (e.g. a forget set got worse), proven by the
    paired interval lying wholly beyond the margin."""

    direction: Literal["worse", "better"]


class Policy(_Frozen):
    name: str
    description: str = ""
    suite: SuiteRequirement | None = None
    baseline: Literal["optional", "required"] = "optional"
    requirements: Requirements = Requirements()
    bounds: tuple[Bound, ...] = ()
    non_inferiority: tuple[NonInferiority, ...] = ()
    superiority: tuple[Superiority, ...] = ()


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects a key given twice in one mapping (plain YAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise ConstructorError(None, None, f"duplicate key '{key}'", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


@cache
def _validator() -> Any:
    import jsonschema

    schema = json.loads(resources.files("hhh_eval").joinpath("schema/policy.schema.json").read_text())
    return jsonschema.Draft202012Validator(schema)


def _where(path: Any) -> str:
    """A JSON path as 'bounds[1].bound' ('the top level' for the root)."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the top level"


def _error_line(err: Any) -> str:
    """One schema error as 'where: what is wrong; what is expected'."""
    where = _where(err.absolute_path)
    schema = err.schema if isinstance(err.schema, dict) else {}
    if err.validator == "additionalProperties":
        unknown = sorted(set(err.instance) - set(schema.get("properties", {})))
        return f"{where}: unknown key {', '.join(map(repr, unknown))}; allowed: {', '.join(schema['properties'])}"
    if err.validator == "enum":
        return f"{where}: {err.instance!r} is not allowed; expected one of {', '.join(map(str, err.validator_value))}"
    if err.validator == "type":
        expected = " or ".join(err.validator_value) if isinstance(err.validator_value, list) else err.validator_value
        return f"{where}: expected {expected}, got {type(err.instance).__name__} {err.instance!r}"
    branch = list(err.schema_path)[-2:-1]
    if branch and branch[0] in ("then", "else") and "description" in schema:
        return f"{where}: {schema['description']}"
    return f"{where}: {err.message}"


def _read_yaml(path: Path) -> Any:
    text = read_text(path, "policy", "pass a policy YAML file, or a policy name such as release")
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(f"policy {path} is not valid YAML{at}: {problem}; fix the file") from None


def policy_errors(raw: Any) -> list[str]:
    """Schema violations of a parsed policy, one line each, in document order."""
    errors = sorted(_validator().iter_errors(raw), key=lambda e: (list(map(str, e.absolute_path)), str(e.validator)))
    return list(dict.fromkeys(_error_line(e) for e in errors))


def load_policy(ref: str | Path, registry: Registry | None = None) -> Policy:
    """A validated policy from a YAML file, or by name from policies/ of the shipped tasks folder or an include path;
    any problem is a UserError naming the file, the key and what is expected."""
    path = policy_file(str(ref), registry)
    raw = _read_yaml(path)
    if raw is None:
        raise UserError(f"policy {path} is empty; see tasks/policies/README.md for the format")
    errors = policy_errors(raw)
    if errors:
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise UserError(f"policy {path} is invalid at {errors[0]}{more}")
    try:
        return Policy(**raw)
    except ValidationError as exc:  # the schema should catch everything; this keeps a traceback from the user
        first = exc.errors()[0]
        raise UserError(f"policy {path} is invalid at {_where(first['loc'])}: {first['msg']}") from None
