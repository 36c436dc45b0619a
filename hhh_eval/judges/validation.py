"""Judge validation records: how one exact judge identity agrees with human labels, and where the record lives.

`hhh-eval judge-eval --judge NAME --labels FILE... --save` writes a record for the judge's current identity
(hhh_eval/judge_eval.py). For every binary outcome the judged tasks use (a judged metric of scoring's
JUDGED_METRICS that covers all of the judge kind's labels: positive = per-item value 1.0, for the judge's label
and the human label alike) it holds, per labelled file and pooled over all files:

- the confusion counts (true/false positives/negatives among the items the judge scored, and the items it left
  unscored by their human label);
- sensitivity and specificity over the scored items, with 95% Wilson intervals (stats.rate_interval): what a
  judge-error correction of a task's rate (which also leaves unscored items out) needs;
- agreement and Cohen's kappa over all items, an unscored item counting as a disagreement.

A record lives beside its judge's spec: `<spec folder>/validation/<judge>.json` (tasks/judges/validation/ for
the shipped judges). It is valid only for the identity hash it names: a record of any other identity (a rule,
prompt or model changed since) is stale, and the judge counts as unvalidated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from hhh_eval import stats
from hhh_eval.agreement import agreement
from hhh_eval.errors import UserError
from hhh_eval.fileio import WriteError, atomic_write_json, read_json
from hhh_eval.judges.base import KIND_LABELS, JudgeIdentity
from hhh_eval.paths import inside, plain_name
from hhh_eval.registry import tasks_dir

POSITIVE, NEGATIVE = "positive", "negative"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Rate(_Frozen):
    """A proportion with its 95% interval (estimate and bounds None when n == 0)."""

    successes: int
    n: int
    estimate: float | None
    low: float | None
    high: float | None
    method: str  # stats.rate_interval's method: "wilson" (exact bounds at 0 and n)

    @classmethod
    def of(cls, successes: int, n: int) -> Rate:
        ci = stats.rate_interval(successes, n)
        return cls(successes=successes, n=n, estimate=ci.value, low=ci.low, high=ci.high, method=ci.method)


class BinaryConfusion(_Frozen):
    """One binary outcome (a judged metric: positive = per-item value 1.0) of the judge against human labels."""

    tp: int  # human positive, judge positive
    fp: int  # human negative, judge positive
    fn: int  # human positive, judge negative
    tn: int  # human negative, judge negative
    unscored_positive: int  # human positive, judge left it unscored
    unscored_negative: int  # human negative, judge left it unscored
    sensitivity: Rate  # tp / (tp + fn): over the items the judge scored
    specificity: Rate  # tn / (tn + fp): over the items the judge scored
    agreement: float | None  # (tp + tn) / all items; unscored items are disagreements
    kappa: float | None  # Cohen's kappa over all items (unscored never agrees); None when undefined

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn + self.n_unscored

    @property
    def n_unscored(self) -> int:
        return self.unscored_positive + self.unscored_negative


class LabelAgreement(_Frozen):
    """Agreement on all of the judge kind's labels (3-way for refusal judges)."""

    agreement: float | None
    kappa: float | None
    confusion: dict[str, dict[str, int]]  # human label -> judge label (or "unscored") -> count


class Validation(_Frozen):
    """The judge against human labels on one set of items (one file, or all files pooled)."""

    n: int
    n_unscored: int
    labels: LabelAgreement
    metrics: dict[str, BinaryConfusion]  # judged metric name -> its binary confusion


class FileValidation(Validation):
    """One labelled file: its name (no folder) and sha256, so the record says exactly which data it rests on."""

    file: str
    sha256: str


class ValidationRecord(_Frozen):
    """A judge's validation: tasks/judges/validation/<judge>.json. Valid for `identity_sha256` only."""

    format: Literal[1] = 1
    judge: str
    version: str
    kind: str
    identity_sha256: str
    files: tuple[FileValidation, ...]
    pooled: Validation


@dataclass(frozen=True)
class LabelledSet:
    """A labelled file as judged: human labels and the judge's labels (None = unscored), in the same order."""

    file: str
    sha256: str
    human: tuple[str, ...]
    judged: tuple[str | None, ...]


def _judged_metrics() -> dict[str, dict[str, float]]:
    from hhh_eval.scoring import JUDGED_METRICS  # here, not at the top: scoring may come to use validation records

    return JUDGED_METRICS


def binary_metrics(kind: str) -> tuple[str, ...]:
    """The judged metrics a judge of `kind` scores: those that give every one of the kind's labels a value."""
    return tuple(m for m, values in _judged_metrics().items() if set(KIND_LABELS[kind]) <= set(values))


def binary_confusion(human: Sequence[str], judged: Sequence[str | None], values: dict[str, float]) -> BinaryConfusion:
    """The judge's decision against the human label on one binary outcome (`values`: label -> per-item value)."""
    truth = [POSITIVE if values[h] == 1.0 else NEGATIVE for h in human]
    decided = [None if j is None else POSITIVE if values[j] == 1.0 else NEGATIVE for j in judged]
    counts = {(t, d): 0 for t in (POSITIVE, NEGATIVE) for d in (POSITIVE, NEGATIVE, None)}
    for pair in zip(truth, decided, strict=True):
        counts[pair] += 1
    tp, fn = counts[POSITIVE, POSITIVE], counts[POSITIVE, NEGATIVE]
    fp, tn = counts[NEGATIVE, POSITIVE], counts[NEGATIVE, NEGATIVE]
    overall = agreement(truth, decided, (POSITIVE, NEGATIVE))
    return BinaryConfusion(tp=tp, fp=fp, fn=fn, tn=tn, unscored_positive=counts[POSITIVE, None],
                           unscored_negative=counts[NEGATIVE, None], sensitivity=Rate.of(tp, tp + fn),
                           specificity=Rate.of(tn, tn + fp), agreement=overall.accuracy, kappa=overall.kappa)


def validate(human: Sequence[str], judged: Sequence[str | None], kind: str) -> Validation:
    """All validation figures of one set of items."""
    full = agreement(human, judged, KIND_LABELS[kind])
    metrics = {m: binary_confusion(human, judged, _judged_metrics()[m]) for m in binary_metrics(kind)}
    return Validation(n=full.n, n_unscored=full.n_unscored, metrics=metrics,
                      labels=LabelAgreement(agreement=full.accuracy, kappa=full.kappa, confusion=full.confusion))


def build_record(identity: JudgeIdentity, sets: Sequence[LabelledSet]) -> ValidationRecord:
    """The validation record of `identity` on labelled files: per file and pooled."""
    files = tuple(FileValidation(file=s.file, sha256=s.sha256, **dict(validate(s.human, s.judged, identity.kind)))
                  for s in sets)
    pooled = validate([h for s in sets for h in s.human], [j for s in sets for j in s.judged], identity.kind)
    return ValidationRecord(judge=identity.name, version=identity.version, kind=identity.kind,
                            identity_sha256=identity.identity_sha256, files=files, pooled=pooled)


# ---------------------------------------------------------------- where records live


def record_path(identity: JudgeIdentity) -> Path:
    """`<folder of the judge's spec>/validation/<judge>.json`; the shipped judges' folder for a spec built in code."""
    folder = identity.source.parent if identity.source is not None else tasks_dir() / "judges"
    path = folder / "validation" / f"{plain_name(identity.name, 'judge name')}.json"
    return inside(path, folder, "validation record")


def save_record(record: ValidationRecord, identity: JudgeIdentity) -> Path:
    """Write the record beside the judge's spec (atomically); returns where."""
    path = record_path(identity)
    try:
        atomic_write_json(path, record.model_dump(mode="json"))
    except WriteError as exc:
        raise UserError(f"cannot write the validation record {path} ({exc.reason}); copy the judge's spec "
                        "to a folder you can write and pass that judge") from None
    return path


def _hint(identity: JudgeIdentity) -> str:
    return f"hhh-eval judge-eval --judge {identity.name} --labels FILE... --save"


@dataclass(frozen=True)
class ValidationLookup:
    """A judge's validation record, or None with the reason it is unvalidated."""

    record: ValidationRecord | None
    status: str  # "validated by PATH", or why not (no record, or a stale one) and the command that makes one


def lookup_validation(identity: JudgeIdentity) -> ValidationLookup:
    """The record of exactly this identity; a missing or stale (other identity hash) record leaves it unvalidated."""
    path = record_path(identity)
    if not path.is_file():
        return ValidationLookup(None, f"unvalidated: no validation record ({path}); create one with {_hint(identity)}")
    try:
        record = ValidationRecord.model_validate(read_json(path))
    except (ValueError, ValidationError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise UserError(f"validation record {path} is malformed ({first}); re-create it with {_hint(identity)}") from None
    if record.identity_sha256 != identity.identity_sha256:
        return ValidationLookup(None, f"unvalidated: the validation record {path} is stale (judge identity "
                                      f"{record.identity_sha256[:12]}, now {identity.identity_sha256[:12]}: its rules, "
                                      f"prompt or model changed); refresh it with {_hint(identity)}")
    return ValidationLookup(record, f"validated by {path}")


def validation_for(identity: JudgeIdentity) -> ValidationRecord | None:
    """The judge's validation record, or None when there is none or it is stale (= unvalidated)."""
    return lookup_validation(identity).record
