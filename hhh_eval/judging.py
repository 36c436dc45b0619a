"""The judge stage: label a run's free-text answers, cached per judge identity and item; and `hhh-eval judge`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hhh_eval.fileio import atomic_write_jsonl, dumps, sha256_text
from hhh_eval.judges.base import Judge, JudgeIdentity, JudgeItem, Verdict
from hhh_eval.registry import Registry, TaskSpec, include_paths
from hhh_eval.rundir import cached_verdicts

UNSCORED_WARN_SHARE = 0.05


def judge_name_for(spec: TaskSpec, requested: str | None, registry: Registry | None = None) -> str | None:
    """The run's judge when the task accepts its kind, else the task's default judge (None: not judged)."""
    from hhh_eval.judges.specs import load_judge_spec

    if requested and load_judge_spec(requested, registry=registry).kind in spec.judge_kinds:
        return requested
    return spec.default_judge


def verdicts_path(run_dir: Path, task: str, judge: str) -> Path:
    return run_dir / "verdicts" / f"{task}.{judge}.jsonl"


def judge_item(spec: TaskSpec, sample: dict[str, Any], strip_think: bool = True) -> JudgeItem:
    """What the judge sees of one answer: the user's prompt as written, the response, the task's doc."""
    from hhh_eval.judges.refusal import strip_think as strip

    prompt = sample["doc"].get(spec.prompt_field) if spec.prompt_field else None
    response = sample.get("response") or ""
    return JudgeItem(prompt=str(prompt if prompt is not None else sample["prompt"]),
                     response=strip(response) if strip_think else response, doc=sample["doc"])


def item_key(identity: JudgeIdentity, item: JudgeItem) -> str:
    """The verdict cache key: the judge's identity hash, prompt, response and doc (references can change a verdict)."""
    return sha256_text(dumps([identity.identity_sha256, item.prompt, item.response, item.doc]))


def judge_samples(judge: Judge, spec: TaskSpec, samples: list[dict[str, Any]], path: Path,
                  force: bool = False, strip_think: bool = True) -> list[Verdict]:
    """Verdicts for every sample; items judged before by the same judge identity are read back, not re-judged."""
    items = [judge_item(spec, s, strip_think) for s in samples]
    keys = [item_key(judge.identity, it) for it in items]
    cached = {} if force or not path.is_file() else {k: Verdict.from_json(r) for k, r in cached_verdicts(path).items()}
    todo = [i for i, k in enumerate(keys) if k not in cached]
    fresh = dict(zip(todo, judge.judge([items[i] for i in todo]), strict=True)) if todo else {}
    verdicts = [fresh[i] if i in fresh else cached[keys[i]] for i in range(len(items))]
    rows = [{"doc_id": s["doc_id"], "doc_hash": s["doc_hash"], "key": k, **v.to_json()}
            for s, k, v in zip(samples, keys, verdicts, strict=True)]
    atomic_write_jsonl(path, rows)
    return verdicts


def unscored_warning(task: str, verdicts: list[Verdict], limit: float = UNSCORED_WARN_SHARE) -> str | None:
    """A loud warning line when more than `limit` of a task's items could not be judged."""
    n_unscored = sum(not v.scored for v in verdicts)
    if verdicts and n_unscored / len(verdicts) > limit:
        return (f"WARNING: {task}: {n_unscored} of {len(verdicts)} answers ({n_unscored / len(verdicts):.0%}) are unscored "
                f"by the judge (above {limit:.0%}); they count as neither safe nor correct")
    return None


def cli_judge(args: argparse.Namespace) -> int:
    """`hhh-eval judge RUN_DIR --judge NAME`: re-judge saved answers and re-score the card; no model calls."""
    from hhh_eval.pipeline import rejudge_run
    from hhh_eval.run_command import judge_overrides

    rejudge_run(Path(args.run_dir), args.judge, force=args.force, overrides=judge_overrides(args),
                include=include_paths(args.include_path))
    return 0
