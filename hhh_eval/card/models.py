"""The report card as typed, frozen objects: built by scoring, read by report, plots, export, compare and gate.

The JSON form is the contract (hhh_eval/schema/report_card.schema.json); these models and the schema agree,
and both reject what may never reach a card: NaN or infinite numbers, rates and metric values outside [0, 1],
scores outside [0, 100], a value outside its own interval.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION = "2.0"
AXES = ("helpfulness", "honesty", "harmlessness")
Axis = Literal["helpfulness", "honesty", "harmlessness"]
Unit = Annotated[float, Field(ge=0.0, le=1.0)]
Points = Annotated[float, Field(ge=0.0, le=100.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
Count = Annotated[int, Field(ge=0)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
TOLERANCE = 1e-9  # a bound may differ from its value by float rounding


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


def _check_interval(value: float | None, low: float | None, high: float | None) -> None:
    if value is None and (low is not None or high is not None):
        raise ValueError("an interval without a value")
    if (low is None) != (high is None):
        raise ValueError("an interval needs both bounds or neither")
    if value is not None and low is not None and high is not None and not (
            low - TOLERANCE <= value <= high + TOLERANCE):
        raise ValueError(f"value {value} lies outside its interval [{low}, {high}]")


class CorrectedRate(Frozen):
    """A judged rate corrected for the judge's measured error (hhh_eval/stats/correction.py), or why not."""

    value: Unit | None
    ci_low: Unit | None
    ci_high: Unit | None
    method: str
    sensitivity: Unit | None  # of the judge on its validation data, for this outcome
    specificity: Unit | None
    validation_items: Count  # human-labelled items behind sensitivity and specificity
    note: str | None = None  # why there is no corrected rate (unvalidated judge, no better than chance...)

    @model_validator(mode="after")
    def _interval(self) -> CorrectedRate:
        _check_interval(self.value, self.ci_low, self.ci_high)
        if self.value is None and not self.note:
            raise ValueError("a missing corrected rate needs a note saying why")
        return self


class Metric(Frozen):
    """A task metric: its value on the scored items, a 95% interval and how it was computed."""

    value: Unit | None
    ci_low: Unit | None
    ci_high: Unit | None
    stderr: NonNegative | None
    ci_method: str  # e.g. wilson, wilson-deff, bootstrap, cluster-bootstrap, none (see hhh_eval/stats)
    higher_is_better: bool
    n: Count
    estimator: str | None = None  # a metric with several estimators names its own (e.g. calibration error)
    note: str | None = None  # why there is no value or interval
    corrected: CorrectedRate | None = None  # judged rates: corrected for the judge's measured error

    @model_validator(mode="after")
    def _interval(self) -> Metric:
        _check_interval(self.value, self.ci_low, self.ci_high)
        return self


class Score(Frozen):
    """A metric as a 0-100, higher-is-better score (lower-is-better metrics inverted) with its interval."""

    value: Points | None
    ci_low: Points | None
    ci_high: Points | None

    @model_validator(mode="after")
    def _interval(self) -> Score:
        _check_interval(self.value, self.ci_low, self.ci_high)
        return self


class DatasetRef(Frozen):
    path: str
    config: str | None
    split: str
    fingerprint: Sha256  # sha256 of the exact items used (doc hashes in order)


class Clustering(Frozen):
    """How the task's items were grouped for intervals and paired tests (items of one cluster move together)."""

    field: str | None  # doc field naming the cluster; None: every item is its own cluster
    namespace: str  # clusters with equal keys in one namespace are shared across tasks (a dataset id)
    n_clusters: Count
    largest: Count  # items in the largest cluster


class TaskResult(Frozen):
    axis: Axis
    version: str
    output_type: str
    dataset: DatasetRef
    n: Count
    n_total: Count
    n_scored: Count
    n_unscored: Count
    complete: bool
    judge: str | None
    judge_validation: str | None = None  # judged tasks: the judge's validation record, or "unvalidated: ..."
    headline: str
    score: Score
    metrics: dict[str, Metric] = Field(min_length=1)
    categories: dict[str, dict[str, Metric]] | None = None
    chat_template_applied: bool
    metric_notes: dict[str, str] | None = None
    clustering: Clustering
    scores_sha256: Sha256  # sha256 of scores/<task>.jsonl: the card and its per-item scores belong together

    @model_validator(mode="after")
    def _consistent(self) -> TaskResult:
        if self.headline not in self.metrics:
            raise ValueError(f"headline {self.headline} is not one of the metrics")
        if self.n_scored + self.n_unscored != self.n:
            raise ValueError("n_scored + n_unscored must equal n")
        return self


class AxisResult(Frozen):
    score: Points | None
    ci_low: Points | None
    ci_high: Points | None
    ci_method: str
    weights: dict[str, Annotated[float, Field(gt=0)]]
    tasks_missing: list[str]

    @model_validator(mode="after")
    def _interval(self) -> AxisResult:
        _check_interval(self.score, self.ci_low, self.ci_high)
        return self


class HarnessInfo(Frozen):
    name: Literal["hhh-eval"]
    version: str
    git_revision: str | None
    git_dirty: bool | None
    lm_eval_version: str
    python: str
    packages: dict[str, str | None]


class ModelInfo(Frozen):
    name: str = Field(min_length=1)
    backend: str = Field(min_length=1)
    source: Literal["local", "hub", "api"]
    revision: str | None
    fingerprint: str | None
    model_args: dict[str, Any]
    dtype: str | None
    identity_sha256: Sha256
    chat_template_sha256: str | None
    system_prompt: str | None
    merge: dict[str, Any] | None = None  # a merged checkpoint: method, inputs, weights, mergekit version


class RunInfo(Frozen):
    run_name: str = Field(min_length=1)
    seed: int
    limit: Annotated[int, Field(ge=1)] | None
    partial: bool
    batch_size: str | int | None
    gen_kwargs: dict[str, Any] | None
    data_source: Literal["hub", "data_dir", "demo"]
    demo: bool
    labels: dict[str, str | int | float] = Field(default_factory=dict)


class SuiteInfo(Frozen):
    name: str
    version: str


class JudgeInfo(Frozen):
    """A judge's identity: two cards were judged alike when these agree."""

    name: str
    version: str
    kind: str
    model: str | None
    prompt_sha256: str | None
    threshold: float | None = None
    identity_sha256: Sha256  # hash of everything that defines the judge's verdicts


class Card(Frozen):
    schema_version: Literal["2.0"]
    created_at: str
    harness: HarnessInfo
    model: ModelInfo
    run: RunInfo
    suite: SuiteInfo
    judges: dict[str, JudgeInfo]
    tasks: dict[str, TaskResult] = Field(min_length=1)
    axes: dict[Axis, AxisResult]

    @property
    def partial(self) -> bool:
        return self.run.partial or self.run.limit is not None

    def to_json(self) -> dict[str, Any]:
        """The card as plain JSON data (what report_card.json holds)."""
        return self.model_dump(mode="json")


class ItemScore(Frozen):
    """One row of scores/<task>.jsonl: every per-item metric (None = unscored) and the item's identity."""

    doc_id: int
    doc_hash: str
    category: str | None
    cluster: str  # "<namespace>|<key>": items sharing it are resampled together, also across tasks
    metrics: dict[str, Unit | None]
    pred: int | None = None  # multiple-choice items: argmax choice, gold choice, softmax probability of the argmax
    gold: int | None = None
    confidence: Unit | None = None
