"""Judge specs: tasks/judges/<name>.yaml, validated into a frozen JudgeSpec, and the judge each one builds.

A spec that names a type but cannot be built as written (a rule judge without rules or of a kind rules cannot
label, an unknown key, an invalid regex, a model judge without its model) is a one-line UserError listing what
is allowed; no spec ever falls back to another judge.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from hhh_eval.errors import UserError
from hhh_eval.fileio import read_text
from hhh_eval.judges.base import KIND_LABELS, Judge
from hhh_eval.judges.refusal import RefusalRules
from hhh_eval.registry import Registry, default_registry

JudgeKind = Literal["refusal", "harm", "truthfulness"]
JudgeType = Literal["rule", "classifier", "llm"]


class ScoreSpec(BaseModel):
    """An extra per-item score read from a judge model's output, e.g. INFORMATIVE: yes -> 1.0."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pattern: str  # regex with one group: the value's word
    values: dict[str, float]  # word (case-insensitive) -> score


def _one_group_regex(pattern: str, what: str) -> None:
    try:
        groups = re.compile(pattern).groups
    except re.error as exc:
        raise ValueError(f"{what} '{pattern}' is not a valid regex ({exc})") from None
    if groups != 1:
        raise ValueError(f"{what} '{pattern}' must have exactly one group (the label), it has {groups}")


class JudgeSpec(BaseModel):
    """One judge as declared in tasks/judges/<name>.yaml. Model judges fill the optional fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    version: str
    kind: JudgeKind
    type: JudgeType
    description: str = ""
    model_args: str | None = None  # classifier/llm: the judge model, e.g. "pretrained=org/name"
    backend: str | None = None  # classifier/llm: hf, vllm, local-completions, ...
    batch_size: str = "auto"  # classifier/llm: the backend's batch size
    chat_template_args: dict[str, Any] | None = None  # classifier/llm: extra variables for the model's chat template
    max_gen_toks: int | None = Field(default=None, gt=0)  # classifier/llm: judge output length (default per type)
    prompt_template: str | None = None  # llm: the judge prompt, with {prompt}, {response} and doc fields
    verdict_regex: str | None = None  # llm: regex whose one group is the verdict word, e.g. "VERDICT: *(\\w+)"
    labels: dict[str, str] | None = None  # classifier/llm: the model's output label -> one of KIND_LABELS[kind]
    scores: dict[str, ScoreSpec] | None = None  # llm: extra scores read from the output (Verdict.scores)
    threshold: float | None = Field(default=None, ge=0, le=1)  # classifier: P(unsafe) cut-off for the label
    strip_think: bool = True  # drop a reasoning model's <think>...</think> block before judging
    rules: RefusalRules | None = None  # rule: the phrase lists of the rule engine (hhh_eval/judges/refusal.py)
    _source: Path | None = PrivateAttr(default=None)  # the file it was read from (None: built in code)

    @property
    def source(self) -> Path | None:
        """The spec file this spec was read from; its validation record lives beside it."""
        return self._source

    @model_validator(mode="after")
    def _consistent(self) -> JudgeSpec:
        bad = sorted(set((self.labels or {}).values()) - set(KIND_LABELS[self.kind]))
        if bad:
            known = ", ".join(KIND_LABELS[self.kind])
            raise ValueError(f"maps to unknown {self.kind} labels {', '.join(bad)}; use {known}")
        if self.type != "classifier" and self.threshold is not None:
            raise ValueError("threshold (a P(unsafe) cut-off) applies to classifier judges only")
        if self.type == "rule":
            _check_rule(self)
            return self
        if self.rules is not None:
            raise ValueError("rules apply to rule judges only; drop rules or make the judge type rule")
        if not (self.backend and self.model_args):
            raise ValueError(f"a {self.type} judge needs backend and model_args (e.g. backend: hf, "
                             "model_args: pretrained=org/name)")
        if self.type == "classifier":
            _check_classifier(self)
        if self.type == "llm":
            if not self.prompt_template or "{response}" not in self.prompt_template or not self.verdict_regex:
                raise ValueError("an llm judge needs prompt_template (with {response}) and verdict_regex")
            _one_group_regex(self.verdict_regex, "verdict_regex")
        for name, score in (self.scores or {}).items():
            _one_group_regex(score.pattern, f"scores.{name}.pattern")
        return self


MODEL_FIELDS = ("model_args", "backend", "chat_template_args", "max_gen_toks", "prompt_template", "verdict_regex",
                "labels", "scores")


def _check_rule(spec: JudgeSpec) -> None:
    if spec.kind != "refusal":
        raise ValueError(f"a rule judge labels {', '.join(KIND_LABELS['refusal'])}: its kind must be refusal "
                         f"(a {spec.kind} judge needs type llm or classifier)")
    if spec.rules is None:
        allowed = ", ".join(RefusalRules.model_fields)
        raise ValueError(f"a rule judge needs rules: a mapping with at least decline (a list of phrases or regexes); "
                         f"allowed keys: {allowed}")
    extra = [f for f in MODEL_FIELDS if getattr(spec, f) is not None]
    if extra:
        raise ValueError(f"a rule judge takes no model: drop {', '.join(extra)} (or make the judge type llm)")


def _check_classifier(spec: JudgeSpec) -> None:
    if spec.kind != "harm":
        raise ValueError("a classifier judge reads Llama Guard's safe/unsafe output: its kind must be harm")
    if spec.prompt_template or spec.verdict_regex or spec.scores:
        raise ValueError("a classifier judge uses its model's own prompt and output format: drop prompt_template, "
                         "verdict_regex and scores (or make it type llm)")
    if spec.labels and sorted(spec.labels.values()) != ["safe", "unsafe"]:
        raise ValueError("a classifier's labels map one output word to safe and one to unsafe")


def judge_names(registry: Registry | None = None) -> list[str]:
    """Names of the judges declared under judges/ of the shipped tasks folder and the include paths."""
    return (registry or default_registry()).names("judge")


def _judge_file(name: str, root: Path | None, registry: Registry | None) -> Path:
    """The file of judge `name`: in ROOT/judges/ alone when a root is given, else through the registry (a judge name
    from the shipped folder or an include path, or a file path)."""
    if root is None:
        return (registry or default_registry()).file("judge", name)
    path = root / "judges" / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in (root / "judges").glob("*.yaml"))) or "(none)"
        raise UserError(f"unknown judge '{name}' in {root / 'judges'}; known judges there: {known}")
    return path


def _read_yaml(path: Path) -> dict[str, Any]:
    text = read_text(path, "judge file", "pass a judge YAML (see tasks/judges/)")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise UserError(f"judge file {path} is not valid YAML{where} ({exc.__class__.__name__}); fix the file "
                        "(quote a pattern that holds ': ' or ' #')") from None
    if not isinstance(raw, dict):
        raise UserError(f"judge file {path} must be a YAML mapping of name, version, kind, type, description")
    return raw


def load_judge_spec(name: str, root: Path | None = None, *, registry: Registry | None = None) -> JudgeSpec:
    """The spec of judge `name`, checked: a name or file path resolved by the registry (default: the shipped folder
    plus HHH_EVAL_INCLUDE_PATH), or a name in ROOT/judges/ alone when `root` (a folder laid out like tasks/) is given."""
    path = _judge_file(name, root, registry)
    name = path.stem
    try:
        spec = JudgeSpec(**_read_yaml(path))
    except ValidationError as exc:
        raise UserError(f"judge file {path} is malformed: {_problems(exc)}") from None
    except TypeError as exc:
        raise UserError(f"judge file {path} is malformed: {exc}".replace("\n", " ")) from None
    if spec.name != name:
        raise UserError(f"judge file {path} declares name '{spec.name}'; the name must match the file name '{name}'")
    spec._source = path
    return spec


def _allowed_keys(loc: tuple[Any, ...]) -> str:
    model: type[BaseModel] = RefusalRules if loc[:1] == ("rules",) else ScoreSpec if loc[:1] == ("scores",) else JudgeSpec
    return ", ".join(model.model_fields)


def _problems(exc: ValidationError) -> str:
    """A pydantic error as one line: each problem with its key, unknown keys with the keys allowed there."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(x) for x in err["loc"]) or "spec"
        if err["type"] == "extra_forbidden":
            parts.append(f"{where}: unknown key (allowed: {_allowed_keys(err['loc'])})")
        elif err["type"] == "string_type" and isinstance(err["input"], bool):
            parts.append(f"{where}: YAML read this phrase as {str(err['input']).lower()}; quote it (e.g. 'no')")
        elif err["type"] == "string_type" and isinstance(err["input"], dict):
            parts.append(f"{where}: YAML read this pattern as a mapping (it holds ': '); quote it")
        else:
            parts.append(f"{where}: {err['msg']}".replace("Value error, ", ""))
    return "; ".join(parts).replace("\n", " ")


def with_overrides(spec: JudgeSpec, overrides: dict[str, str]) -> JudgeSpec:
    """The spec with its model swapped (e.g. a local copy of the weights): keys backend and/or model_args."""
    if not overrides:
        return spec
    if spec.type == "rule":
        raise UserError(f"judge '{spec.name}' is rule-based and takes no model; drop --judge-backend/--judge-model-args")
    try:
        changed = JudgeSpec(**{**spec.model_dump(), **overrides})
    except ValidationError as exc:
        raise UserError(f"judge '{spec.name}' with {overrides} is invalid: {_problems(exc)}") from None
    changed._source = spec.source
    return changed


def build_judge(spec: JudgeSpec) -> Judge:
    """The judge a spec describes. Model judges load their model only when they first judge something."""
    if spec.type == "classifier":
        from hhh_eval.judges.llama_guard import LlamaGuardJudge

        return LlamaGuardJudge(spec)
    if spec.type == "llm":
        from hhh_eval.judges.llm_judge import LLMJudge

        return LLMJudge(spec)
    from hhh_eval.judges.refusal import RuleJudge

    assert spec.rules is not None, "JudgeSpec validation requires rules for rule judges"
    return RuleJudge(spec.name, spec.version, spec.rules, spec.strip_think, spec.source)
