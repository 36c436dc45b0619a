"""A generic LLM-as-judge: a rubric prompt from the spec, greedy decoding, the verdict read by the spec's regex.

The rubric's placeholders are {prompt}, {response} and any field of the task's doc (e.g. TruthfulQA's
{correct_answers}); list fields become one "- item" line each. The rubric is sent as one user message in the
judge model's chat template (raw text for a model without one). The verdict is the last match of
`verdict_regex` (case-insensitive, ^ and $ per line) mapped through `labels` (default: the kind's own labels);
no match, or a word that is not a label, is unscored with the reason, as is a judge that refuses.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from hhh_eval.errors import UserError
from hhh_eval.judges.base import KIND_LABELS, JudgeItem, Verdict
from hhh_eval.judges.model_judge import ModelJudge
from hhh_eval.judges.refusal import RuleJudge
from hhh_eval.judges.specs import JudgeSpec, ScoreSpec, build_judge, load_judge_spec

PLACEHOLDER = re.compile(r"\{(\w+)\}")
FLAGS = re.IGNORECASE | re.MULTILINE


def _field_text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "\n".join(f"- {v}" for v in value)
    return str(value)


def render_prompt(template: str, item: JudgeItem, judge: str) -> str:
    """The rubric with {prompt}, {response} and doc fields filled in (values are not searched for placeholders)."""
    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key in ("prompt", "response"):
            return getattr(item, key)
        if key not in item.doc:
            raise UserError(f"judge {judge}'s prompt uses {{{key}}}, a field this task's items lack; "
                            f"use the judge on a task whose docs have '{key}'")
        return _field_text(item.doc[key])

    return PLACEHOLDER.sub(fill, template)


@cache
def _refusal_judge() -> RuleJudge:
    """The shipped refusal judge, to tell a judge model that refuses from one that rambles (read once)."""
    from hhh_eval.registry import tasks_dir

    judge = build_judge(load_judge_spec("refusal", tasks_dir()))  # the shipped one, not the whole registry
    assert isinstance(judge, RuleJudge), "the shipped refusal judge is a rule judge"
    return judge


def _last_word(pattern: str, text: str) -> str | None:
    matches = list(re.finditer(pattern, text, FLAGS))
    return matches[-1].group(1).strip().lower() if matches else None


def read_scores(text: str, scores: dict[str, ScoreSpec]) -> dict[str, float]:
    """Extra scores found in the output; one whose word is missing or unknown is left out."""
    found = {name: (_last_word(s.pattern, text), {k.lower(): v for k, v in s.values.items()})
             for name, s in scores.items()}
    return {name: values[word] for name, (word, values) in found.items() if word in values}


def parse_verdict(text: str, spec: JudgeSpec) -> Verdict:
    """The verdict in a judge model's output; unscored (with the reason) when there is none."""
    labels = {k.lower(): v for k, v in (spec.labels or {x: x for x in KIND_LABELS[spec.kind]}).items()}
    assert spec.verdict_regex, "JudgeSpec validation requires verdict_regex for llm judges"
    word = _last_word(spec.verdict_regex, text)
    if word is None:
        refused = _refusal_judge().classify(text).label == "full_refusal" if text.strip() else False
        reason = "the judge model refused" if refused else "no verdict in the judge's output"
        return Verdict(label=None, reason=reason, raw=text)
    if word not in labels:
        return Verdict(label=None, reason=f"judge verdict '{word}' is not one of {', '.join(labels)}", raw=text)
    return Verdict(label=labels[word], scores=read_scores(text, spec.scores or {}), reason=f"judge verdict: {word}",
                   raw=text)


class LLMJudge(ModelJudge):
    """An instruction-following model grading answers with a rubric (type llm)."""

    default_max_gen_toks = 512

    def settings(self) -> dict[str, Any]:
        return {"prompt_template": self.spec.prompt_template, "verdict_regex": self.spec.verdict_regex,
                "labels": self.spec.labels, "scores": {k: v.model_dump() for k, v in (self.spec.scores or {}).items()}}

    def judge_batch(self, items: list[JudgeItem]) -> list[Verdict]:
        assert self.spec.prompt_template, "JudgeSpec validation requires prompt_template for llm judges"
        rubrics = [render_prompt(self.spec.prompt_template, item, self.spec.name) for item in items]
        contexts = [self.model.chat([{"role": "user", "content": r}]) or r for r in rubrics]
        return [parse_verdict(out, self.spec) for out in self.model.generate(contexts, self.max_gen_toks)]
