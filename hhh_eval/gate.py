"""`hhh-eval gate`: check a report card against a release policy and write checklist.md / checklist.json beside it.

Exit 0 when every check passes, 1 when any fails, 2 (UserError) when the inputs are invalid.

Rules:
- Bounds are stated on the card's 95% interval: `lower` needs ci_low >= min, `upper` needs ci_high <= max,
  `point` compares the value. A missing task, metric or category, a null value or a missing interval FAILs.
- Non-inferiority against --baseline uses the items both runs scored (matched by doc_hash). The difference
  d = candidate - baseline is signed so that positive is better (flipped for lower-is-better metrics); the check
  passes when the lower end of d's two-sided 95% paired CI is >= -margin, i.e. a one-sided test at alpha 0.025.
  An axis difference (points) is the weighted sum of its tasks' headline differences; its interval combines
  the per-task paired intervals as independent normal errors (tasks share no items).
"""

from __future__ import annotations

import argparse
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from hhh_eval.card import card_path
from hhh_eval.errors import UserError
from hhh_eval.fileio import atomic_write_json, atomic_write_text
from hhh_eval.policy import Bound, JudgeRequirement, NonInferiority, Policy, load_policy
from hhh_eval.registry import Registry, include_paths
from hhh_eval.runs import RunData, load_run

Status = Literal["PASS", "FAIL", "SKIP"]
Z95 = 1.959963984540054  # two-sided 95% normal quantile


@dataclass(frozen=True)
class Check:
    """One line of the checklist."""

    kind: str  # task | judge | unscored | bound | non_inferiority
    subject: str
    measured: str
    threshold: str
    status: Status
    reason: str = ""
    value: float | None = None
    low: float | None = None
    high: float | None = None


class _Missing(Exception):
    """What a check needs is not on the card (or the runs): the check FAILs with this reason."""


def _fmt(x: float | None) -> str:
    return "null" if x is None else f"{x:.4g}"


def _interval_text(value: float | None, low: float | None, high: float | None) -> str:
    return f"{_fmt(value)} [{_fmt(low)}, {_fmt(high)}]"


# ---- requirements ---------------------------------------------------------------------------------------------


def check_task(card: dict[str, Any], task: str) -> Check:
    """A required task is on the card and complete: every item, no --limit."""
    entry = card["tasks"].get(task)
    limit = card["run"]["limit"]
    if entry is None:
        return Check("task", task, "absent", "present, complete", "FAIL", "task not on the card; run it with the suite")
    measured = f"{entry['n']}/{entry['n_total']} items"
    if limit is not None:
        return Check("task", task, measured, "present, complete", "FAIL", f"run used --limit {limit}; run without it")
    if not entry["complete"]:
        return Check("task", task, measured, "present, complete", "FAIL",
                     f"incomplete: {entry['n']} of {entry['n_total']} items; finish the run")
    return Check("task", task, measured, "present, complete", "PASS")


def check_judge(card: dict[str, Any], req: JudgeRequirement) -> Check:
    """Every judged task used the required judge (and version, when the policy names one)."""
    wanted = req.name + (f" v{req.version}" if req.version else "")
    used = {t: e["judge"] for t, e in card["tasks"].items() if e["judge"] is not None}
    if not used:
        return Check("judge", "judged tasks", "no judged task", wanted, "FAIL",
                     f"no judged task on the card; the policy requires judge {wanted}")
    wrong = sorted(t for t, j in used.items() if j != req.name)
    identity = card["judges"].get(req.name, {})
    measured = ", ".join(sorted({f"{j} v{card['judges'].get(j, {}).get('version', '?')}" for j in used.values()}))
    if wrong:
        return Check("judge", "judged tasks", measured, wanted, "FAIL",
                     f"{', '.join(wrong)} judged by {used[wrong[0]]}, not {req.name}; re-judge with 'hhh-eval judge'")
    if req.version is not None and identity.get("version") != req.version:
        return Check("judge", "judged tasks", measured, wanted, "FAIL",
                     f"judge {req.name} is version {identity.get('version')}, the policy requires {req.version}")
    return Check("judge", "judged tasks", measured, wanted, "PASS")


def check_unscored(card: dict[str, Any], task: str, max_share: float) -> Check:
    """The task's share of unscored items is at most max_share."""
    entry = card["tasks"][task]
    threshold = f"<= {max_share:.1%} unscored"
    if entry["n"] == 0:
        return Check("unscored", task, "no items", threshold, "FAIL", "the task has no items")
    share = entry["n_unscored"] / entry["n"]
    measured = f"{share:.1%} ({entry['n_unscored']} of {entry['n']})"
    if share > max_share:
        return Check("unscored", task, measured, threshold, "FAIL",
                     f"{entry['n_unscored']} items unscored (judge or scoring failures); fix the cause and re-run",
                     value=share)
    return Check("unscored", task, measured, threshold, "PASS", value=share)


# ---- absolute bounds ------------------------------------------------------------------------------------------


def _metric_of(entries: dict[str, Any], metric: str, where: str) -> dict[str, Any]:
    if metric not in entries:
        raise _Missing(f"no metric {metric} on {where} (it has {', '.join(sorted(entries)) or 'none'})")
    return entries[metric]


def _bound_targets(card: dict[str, Any], b: Bound) -> list[tuple[str, dict[str, Any]]]:
    """(subject, {value, ci_low, ci_high}) for each thing the bound applies to; _Missing when absent."""
    if b.axis:
        axis = card["axes"].get(b.axis)
        if axis is None:
            raise _Missing(f"axis {b.axis} not on the card")
        return [(b.subject, {"value": axis["score"], "ci_low": axis["ci_low"], "ci_high": axis["ci_high"]})]
    entry = card["tasks"].get(b.task)
    if entry is None:
        raise _Missing(f"task {b.task} not on the card")
    if b.category is None:
        return [(b.subject, _metric_of(entry["metrics"], b.metric, f"task {b.task}"))]
    cats = entry.get("categories") or {}
    if b.category != "*":
        if b.category not in cats:
            raise _Missing(f"category {b.category} not on task {b.task} (it has {', '.join(sorted(cats)) or 'none'})")
        return [(b.subject, _metric_of(cats[b.category], b.metric, f"{b.task} [{b.category}]"))]
    if not cats:
        raise _Missing(f"task {b.task} has no per-category metrics")
    return [(f"{b.task} {b.metric} [{c}]", _metric_of(cats[c], b.metric, f"{b.task} [{c}]")) for c in sorted(cats)]


def _bound_threshold(b: Bound) -> str:
    if b.bound == "lower":
        return f"95% CI low >= {_fmt(b.min)}"
    if b.bound == "upper":
        return f"95% CI high <= {_fmt(b.max)}"
    return " and ".join(s for s in (b.min is not None and f"value >= {_fmt(b.min)}",
                                     b.max is not None and f"value <= {_fmt(b.max)}") if s)


def _bound_failure(b: Bound, value: float | None, low: float | None, high: float | None) -> str:
    """'' when the bound holds, else why not."""
    if value is None:
        return "no value on the card (every item unscored)"
    if b.bound == "lower":
        if low is None:
            return "the card has no interval for it"
        return f"lower 95% bound {_fmt(low)} is below {_fmt(b.min)}" if low < b.min else ""
    if b.bound == "upper":
        if high is None:
            return "the card has no interval for it"
        return f"upper 95% bound {_fmt(high)} is above {_fmt(b.max)}" if high > b.max else ""
    if b.min is not None and value < b.min:
        return f"value {_fmt(value)} is below {_fmt(b.min)}"
    if b.max is not None and value > b.max:
        return f"value {_fmt(value)} is above {_fmt(b.max)}"
    return ""


def check_bound(card: dict[str, Any], b: Bound) -> list[Check]:
    """One check per target of the bound (several for category '*')."""
    threshold = _bound_threshold(b)
    try:
        targets = _bound_targets(card, b)
    except _Missing as exc:
        return [Check("bound", b.subject, "absent", threshold, "FAIL", str(exc))]
    checks = []
    for subject, iv in targets:
        value, low, high = iv["value"], iv["ci_low"], iv["ci_high"]
        failure = _bound_failure(b, value, low, high)
        checks.append(Check("bound", subject, _interval_text(value, low, high), threshold,
                            "FAIL" if failure else "PASS", failure, value, low, high))
    return checks


# ---- non-inferiority ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Diff:
    """candidate - baseline, signed so that positive is better, with its 95% paired CI."""

    diff: float
    low: float
    high: float
    n: int


def _paired_columns(cand: RunData, base: RunData, task: str, columns: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Per-item columns (metrics, or predictions for corpus metrics) of both runs on the items both scored,
    matched by doc_hash: two arrays of shape (items, columns)."""
    a_scores, b_scores = cand.task_scores(task), base.task_scores(task)
    for name in columns:
        if name not in a_scores.metrics or name not in b_scores.metrics:
            role = "baseline" if name in a_scores.metrics else "candidate"
            raise _Missing(f"no per-item {name.lstrip('_')} for {task} in the {role}'s scores")
    b_index = {k: i for i, k in enumerate(b_scores.keys)}
    pairs = [(i, b_index[k]) for i, k in enumerate(a_scores.keys) if k in b_index]
    a = np.column_stack([a_scores.metrics[c][[i for i, _ in pairs]] for c in columns])
    b = np.column_stack([b_scores.metrics[c][[j for _, j in pairs]] for c in columns])
    both = ~(np.isnan(a).any(axis=1) | np.isnan(b).any(axis=1))
    if not both.any():
        raise _Missing(f"no {task} items scored in both runs")
    return a[both], b[both]


def _predictions(columns: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return columns[:, 0].astype(int), columns[:, 1].astype(int), columns[:, 2]


def _paired_result(cand: RunData, base: RunData, task: str, metric: str, seed: int) -> Any:
    """The paired test of candidate vs baseline: a corpus metric (F1, ECE) from the items' predictions,
    any other metric from its per-item values."""
    from hhh_eval import stats
    from hhh_eval.corpus_metrics import CORPUS_METRICS, paired_corpus_test
    from hhh_eval.runs import PREDICTION_FIELDS

    if metric in CORPUS_METRICS and metric not in cand.task_scores(task).metrics:
        a, b = _paired_columns(cand, base, task, tuple(f"_{f}" for f in PREDICTION_FIELDS))
        return paired_corpus_test(metric, _predictions(b), _predictions(a), seed)  # diff = candidate - baseline
    a, b = _paired_columns(cand, base, task, (metric,))
    return stats.paired_test(b[:, 0], a[:, 0], seed=seed)  # diff = mean(candidate - baseline)


def _metric_diff(cand: RunData, base: RunData, task: str, metric: str, seed: int) -> _Diff:
    for run, role in ((cand, "candidate"), (base, "baseline")):
        if task not in run.card["tasks"]:
            raise _Missing(f"task {task} not on the {role} card")
        _metric_of(run.card["tasks"][task]["metrics"], metric, f"the {role}'s task {task}")
    higher_is_better = cand.card["tasks"][task]["metrics"][metric]["higher_is_better"]
    r = _paired_result(cand, base, task, metric, seed)
    if r.diff is None:
        raise _Missing(f"fewer than 2 {task} items scored in both runs")
    if higher_is_better:
        return _Diff(r.diff, r.low, r.high, r.n)
    return _Diff(-r.diff, -r.high, -r.low, r.n)


def _axis_diff(cand: RunData, base: RunData, axis: str, seed: int) -> _Diff:
    """Weighted sum of the axis tasks' headline differences, in points, with a normal combined interval."""
    entry = cand.card["axes"].get(axis)
    if entry is None or not entry["weights"]:
        raise _Missing(f"axis {axis} has no scored task on the candidate card")
    total = sum(entry["weights"].values())
    diff = var = 0.0
    n = 0
    for task, weight in entry["weights"].items():
        d = _metric_diff(cand, base, task, cand.card["tasks"][task]["headline"], seed)
        scale = 100 * weight / total
        diff += scale * d.diff
        var += (scale * (d.high - d.low) / (2 * Z95)) ** 2
        n += d.n
    half = Z95 * math.sqrt(var)
    return _Diff(diff, diff - half, diff + half, n)


def check_non_inferiority(cand: RunData, base: RunData | None, ni: NonInferiority, seed: int) -> Check:
    """Not worse than the baseline by more than the margin (lower end of the paired 95% CI of d >= -margin)."""
    threshold = f"d 95% CI low >= {_fmt(-ni.margin)}"
    if base is None:
        return Check("non_inferiority", ni.subject, "no baseline", threshold, "SKIP", "no --baseline given")
    try:
        d = _axis_diff(cand, base, ni.axis, seed) if ni.axis else _metric_diff(cand, base, ni.task, ni.metric, seed)
    except _Missing as exc:
        return Check("non_inferiority", ni.subject, "absent", threshold, "FAIL", str(exc))
    measured = f"d {_interval_text(d.diff, d.low, d.high)}, {d.n} paired items"
    if d.low < -ni.margin:
        return Check("non_inferiority", ni.subject, measured, threshold, "FAIL",
                     f"may be worse than the baseline by up to {_fmt(-d.low)} (margin {_fmt(ni.margin)})",
                     d.diff, d.low, d.high)
    return Check("non_inferiority", ni.subject, measured, threshold, "PASS", "", d.diff, d.low, d.high)


# ---- compatibility --------------------------------------------------------------------------------------------


def _judge_identity(card: dict[str, Any], name: str | None) -> dict[str, Any] | None:
    return None if name is None else card["judges"].get(name, {"name": name})


def check_suite(policy: Policy, card: dict[str, Any], path: Path) -> None:
    """UserError when the card is not of the suite the policy is written for."""
    want, have = policy.suite, card["suite"]
    if want and (want.name != have["name"] or (want.version is not None and want.version != have["version"])):
        wanted = want.name + (f" v{want.version}" if want.version else "")
        raise UserError(f"policy {policy.name} is for suite {wanted}, but {path} is suite {have['name']} "
                        f"v{have['version']}; use a policy written for that suite")


def check_compatible(card: dict[str, Any], base: dict[str, Any]) -> None:
    """UserError (one line) when the baseline cannot be compared with the card."""
    if card["suite"] != base["suite"]:
        raise UserError(f"baseline is suite {base['suite']['name']} v{base['suite']['version']}, the card "
                        f"{card['suite']['name']} v{card['suite']['version']}; pass a baseline of the same suite")
    for task in sorted(card["tasks"].keys() & base["tasks"].keys()):
        mine, theirs = card["tasks"][task], base["tasks"][task]
        if mine["version"] != theirs["version"]:
            raise UserError(f"task {task} is version {mine['version']} on the card and {theirs['version']} on the "
                            "baseline; re-run the baseline with the current tasks")
        if mine["dataset"]["fingerprint"] != theirs["dataset"]["fingerprint"]:
            raise UserError(f"task {task} was run on different data than the baseline (dataset fingerprints "
                            "differ); re-run both on the same data")
        if _judge_identity(card, mine["judge"]) != _judge_identity(base, theirs["judge"]):
            raise UserError(f"task {task} was judged by {mine['judge']} on the card and {theirs['judge']} on the "
                            "baseline (or the judge changed); re-judge the baseline with 'hhh-eval judge'")


# ---- the gate -------------------------------------------------------------------------------------------------


def evaluate(policy: Policy, cand: RunData, base: RunData | None) -> list[Check]:
    """Every check of the policy on the card, in checklist order."""
    card, req = cand.card, policy.requirements
    checks = [check_task(card, t) for t in req.tasks]
    if req.judge:
        checks.append(check_judge(card, req.judge))
    checks += [check_unscored(card, t, req.max_unscored) for t in card["tasks"]]
    for b in policy.bounds:
        checks += check_bound(card, b)
    seed = card["run"]["seed"]
    checks += [check_non_inferiority(cand, base, ni, seed) for ni in policy.non_inferiority]
    return checks


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(checks: list[Check], header: dict[str, str]) -> str:
    failed = [c for c in checks if c.status == "FAIL"]
    lines = [f"# Release checklist: {header['model']} / {header['run']}", ""]
    lines += [f"- {k}: {v}" for k, v in header.items() if k not in ("model", "run")]
    lines += ["- bounds use the card's 95% intervals; non-inferiority: d = candidate - baseline, positive = better,",
              "  passes when the lower end of d's paired 95% CI is >= -margin", "",
              "| # | check | subject | measured [95% CI] | threshold | result | reason |",
              "|---|---|---|---|---|---|---|"]
    lines += [f"| {i} | {c.kind} | {_cell(c.subject)} | {_cell(c.measured)} | {_cell(c.threshold)} | {c.status} | "
              f"{_cell(c.reason)} |" for i, c in enumerate(checks, 1)]
    skipped = sum(c.status == "SKIP" for c in checks)
    counts = f"{len(checks) - len(failed) - skipped} passed, {len(failed)} failed, {skipped} skipped"
    lines += ["", f"VERDICT: {'FAIL' if failed else 'PASS'} ({counts})", ""]
    return "\n".join(lines)


def cli_gate(args: argparse.Namespace) -> int:
    policy = load_policy(args.policy, Registry.build(include_paths(args.include_path)))
    cand = load_run(args.card)
    check_suite(policy, cand.card, cand.run_dir)
    if args.baseline is None and policy.baseline == "required":
        raise UserError(f"policy {policy.name} requires --baseline CARD for its non-inferiority checks; pass the "
                        "card of the model this one replaces")
    base = load_run(args.baseline) if args.baseline else None
    if base is not None:
        check_compatible(cand.card, base.card)
    checks = evaluate(policy, cand, base)
    verdict = "FAIL" if any(c.status == "FAIL" for c in checks) else "PASS"
    header = {"model": cand.card["model"]["name"], "run": cand.card["run"]["run_name"],
              "card": str(card_path(args.card)), "policy": f"{policy.name} ({args.policy})",
              "baseline": str(card_path(args.baseline)) if base else "none"}
    text = render_markdown(checks, header)
    atomic_write_text(cand.run_dir / "checklist.md", text)
    atomic_write_json(cand.run_dir / "checklist.json",
                      {**header, "verdict": verdict, "checks": [asdict(c) for c in checks]})
    print(console_summary(checks, verdict))
    print(f"checklist: {cand.run_dir / 'checklist.md'}")
    return 1 if verdict == "FAIL" else 0


def console_summary(checks: list[Check], verdict: str) -> str:
    """What a person needs at the terminal: each failed check with its reason, then the verdict."""
    failed = [c for c in checks if c.status == "FAIL"]
    lines = [f"FAIL {c.kind} {c.subject}: {c.reason} (measured {c.measured}; needs {c.threshold})" for c in failed]
    skipped = sum(c.status == "SKIP" for c in checks)
    lines.append(f"gate {verdict}: {len(checks) - len(failed) - skipped} passed, {len(failed)} failed, {skipped} skipped")
    return "\n".join(lines)
