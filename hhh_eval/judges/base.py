"""The judge interface: a judge maps (prompt, response, doc) items to verdicts; None label = unscored."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from hhh_eval.fileio import dumps, sha256_text

# Labels each judge kind may give. Anything else is a parsing failure -> unscored.
KIND_LABELS: dict[str, tuple[str, ...]] = {
    "refusal": ("full_compliance", "full_refusal", "partial_refusal"),
    "harm": ("safe", "unsafe"),
    "truthfulness": ("truthful", "untruthful"),
}


@dataclass(frozen=True)
class JudgeItem:
    """One answer to judge: the prompt the model saw, its response, and the task's doc (for references)."""

    prompt: str
    response: str
    doc: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """A judge's decision on one item. `label` None means unscored (never counted as safe or correct)."""

    label: str | None
    scores: dict[str, float] = field(default_factory=dict)  # e.g. {"p_unsafe": 0.93}
    categories: tuple[str, ...] = ()  # e.g. violated safety category codes
    reason: str = ""  # why unscored, or which rule fired
    raw: str | None = None  # the judge model's raw output, for audit

    @property
    def scored(self) -> bool:
        return self.label is not None

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "scores": self.scores, "categories": list(self.categories),
                "reason": self.reason, "raw": self.raw}

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Verdict:
        return cls(label=row["label"], scores=row.get("scores") or {}, categories=tuple(row.get("categories") or ()),
                   reason=row.get("reason", ""), raw=row.get("raw"))


def definition_sha256(definition: Mapping[str, Any]) -> str:
    """The identity hash of a judge: sha256 of everything that defines its verdicts, as deterministic JSON."""
    return sha256_text(dumps(definition))


@dataclass(frozen=True)
class JudgeIdentity:
    """What the card records of a judge: enough to tell whether two cards were judged alike.

    `identity_sha256` covers everything that defines the verdicts (a rule judge's lists and the rule engine's
    source; a model judge's model, prompt, parsing, decoding, threshold and judge code): two judges with the
    same hash label every answer alike, and any change is a new identity. `version` is a human label only.
    `source` is the spec file the judge was built from (where its validation record lives); not on the card.
    """

    name: str
    version: str
    kind: str
    identity_sha256: str
    model: str | None = None
    prompt_sha256: str | None = None
    threshold: float | None = None
    source: Path | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "kind": self.kind, "model": self.model,
                "prompt_sha256": self.prompt_sha256, "threshold": self.threshold,
                "identity_sha256": self.identity_sha256}


class Judge(Protocol):
    """A judge: batched, deterministic for the same inputs, and honest about what it cannot decide."""

    identity: JudgeIdentity

    def judge(self, items: list[JudgeItem]) -> list[Verdict]:
        """One verdict per item, in order."""
        ...
