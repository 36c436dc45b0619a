"""The release gate: check a report card against a policy; `gate_card` is the library entry, `cli_gate` the
command (exit 0 pass, 1 fail, 2 invalid input). The checklist (checklist.md / checklist.json) goes beside the card.

Rules:
- Bounds are stated on 95% intervals: `lower` needs the lower end >= min, `upper` the upper end <= max, `point`
  compares the value. A rate (0/1 items) is checked against its exact one-sided (Clopper-Pearson) bound at
  97.5%, whose error on that side is at most 2.5% (the card's two-sided Wilson bound errs up to 7% on one side
  at small counts); other metrics and axes against the card's interval. A missing task, metric or category
  FAILs; so does a number that cannot be computed (no scored item, no interval): such a check is
  "undecidable" and says why.
- Against --baseline, differences d = candidate - baseline (in the metric's units; axes in 0-100 points) come
  from hhh_eval.comparison, the same numbers `hhh-eval compare` prints. Non-inferiority passes when the paired
  95% interval of d stays above -margin (below +margin for a lower-is-better metric): a one-sided test at
  2.5%. Superiority (direction worse/better) passes when the whole interval lies beyond the margin.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from pathlib import Path

from hhh_eval.card import Card, card_path
from hhh_eval.comparison import PairComparison, refuse
from hhh_eval.errors import UserError
from hhh_eval.derived import card_sha256
from hhh_eval.fileio import atomic_write_json, atomic_write_text
from hhh_eval.gate_checks import Check, check_bound, check_judge, check_task, check_unscored, paired_check
from hhh_eval.policy import Policy, load_policy
from hhh_eval.registry import Registry, include_paths
from hhh_eval.runs import RunData, load_run
from hhh_eval.text import md_escape


@dataclass(frozen=True)
class GateResult:
    policy: str
    checks: list[Check]

    @property
    def verdict(self) -> str:
        return "FAIL" if any(c.status == "FAIL" for c in self.checks) else "PASS"

    def counts(self) -> str:
        failed = sum(c.status == "FAIL" for c in self.checks)
        skipped = sum(c.status == "SKIP" for c in self.checks)
        return f"{len(self.checks) - failed - skipped} passed, {failed} failed, {skipped} skipped"


def check_suite(policy: Policy, card: Card, path: Path | None) -> None:
    """UserError when the card is not of the suite the policy is written for."""
    want, have = policy.suite, card.suite
    if want and (want.name != have.name or (want.version is not None and want.version != have.version)):
        wanted = want.name + (f" v{want.version}" if want.version else "")
        raise UserError(f"policy {policy.name} is for suite {wanted}, but {path} is suite {have.name} "
                        f"v{have.version}; use a policy written for that suite")


def gate_card(policy: Policy, cand: RunData, base: RunData | None = None,
              pair: PairComparison | None = None) -> GateResult:
    """Every check of the policy on the candidate's card, in checklist order. UserError when the inputs cannot
    be gated at all (another suite, a baseline that is not comparable, a required baseline missing). `pair`:
    the candidate's comparison with `base`, where one has its tests already (the sweep report's)."""
    card, req = cand.card, policy.requirements
    check_suite(policy, card, cand.run_dir)
    if base is None and policy.baseline == "required":
        raise UserError(f"policy {policy.name} requires --baseline CARD for its paired checks; pass the card of "
                        "the model this one replaces")
    if pair is not None and (pair.base is not base or pair.other is not cand or pair.seed != base.card.run.seed):
        raise ValueError("gate_card: the pair given is not the candidate's with this baseline at its seed")
    pair = pair or (PairComparison(base, cand) if base is not None else None)
    if pair is not None and pair.mismatches:
        raise refuse(f"the card {cand.name}", pair.base.name, pair.mismatches,
                     "pass a baseline of the same suite, task versions and items, judged by the same judge "
                     "(re-judge it with 'hhh-eval judge')")
    checks = [check_task(card, t) for t in req.tasks]
    if req.judge:
        checks.append(check_judge(card, req.judge))
    checks += [check_unscored(card, t, req.max_unscored) for t in card.tasks]
    for b in policy.bounds:
        checks += check_bound(card, b)
    checks += [paired_check(pair, rule, "non_inferiority") for rule in policy.non_inferiority]
    checks += [paired_check(pair, rule, "superiority") for rule in policy.superiority]
    return GateResult(policy.name, checks)


def render_markdown(result: GateResult, header: dict[str, str]) -> str:
    lines = [f"# Release checklist: {md_escape(header['model'])} / {md_escape(header['run'])}", ""]
    lines += [f"- {k}: {md_escape(v)}" for k, v in header.items() if k not in ("model", "run")]
    lines += ["- bounds use the card's 95% intervals; paired checks: d = candidate - baseline on the shared items,",
              "  non-inferiority passes when d's paired 95% interval stays within the margin of 0 on the worse side",
              "", "| # | check | subject | measured [95% CI] | threshold | result | reason |",
              "|---|---|---|---|---|---|---|"]
    lines += [f"| {i} | {c.kind} | {md_escape(c.subject)} | {md_escape(c.measured)} | {md_escape(c.threshold)} "
              f"| {c.status} | {md_escape(c.reason)} |" for i, c in enumerate(result.checks, 1)]
    lines += ["", f"VERDICT: {result.verdict} ({result.counts()})", ""]
    return "\n".join(lines)


def write_checklist(result: GateResult, run_dir: Path, header: dict[str, str]) -> Path:
    """checklist.md and checklist.json beside the card (strict JSON: no NaN)."""
    atomic_write_text(run_dir / "checklist.md", render_markdown(result, header))
    atomic_write_json(run_dir / "checklist.json",
                      {**header, "verdict": result.verdict, "checks": [asdict(c) for c in result.checks]})
    return run_dir / "checklist.md"


def console_summary(result: GateResult) -> str:
    """What a person needs at the terminal: each failed check with its reason, then the verdict."""
    lines = [f"FAIL {c.kind} {c.subject}: {c.reason} (measured {c.measured}; needs {c.threshold})"
             for c in result.checks if c.status == "FAIL"]
    lines.append(f"gate {result.verdict}: {result.counts()}")
    return "\n".join(lines)


def run_gate(card: str | Path, policy_path: str | Path, baseline: str | Path | None = None,
             registry: Registry | None = None) -> GateResult:
    """Gate a card (or run folder) against a policy (a file, or a name from the registry's policies), write the
    checklist, print the summary."""
    policy = load_policy(policy_path, registry)
    cand = load_run(card)
    base = load_run(baseline) if baseline else None
    result = gate_card(policy, cand, base)
    header = {"model": cand.card.model.name, "run": cand.card.run.run_name, "card": str(card_path(card)),
              "card_sha256": card_sha256(card),
              "policy": f"{policy.name} ({policy_path})", "baseline": str(card_path(baseline)) if base else "none"}
    assert cand.run_dir is not None
    path = write_checklist(result, cand.run_dir, header)
    print(console_summary(result))
    print(f"checklist: {path}")
    return result


def cli_gate(args: argparse.Namespace) -> int:
    registry = Registry.build(include_paths(args.include_path))
    return 1 if run_gate(args.card, args.policy, args.baseline, registry).verdict == "FAIL" else 0
