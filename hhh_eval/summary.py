"""The concise console summary after a run: per-axis and per-task tables, paths, and what to run next.

Every path printed works from the folder the user stands in: relative below it, absolute elsewhere (the shipped
release policy lives in the package's tasks/ folder, wherever that is installed).
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from hhh_eval.card import Card
from hhh_eval.errors import UserError


def _num(x: float | None, scale: float = 1.0, digits: int = 1) -> str:
    return "-" if x is None else f"{x * scale:.{digits}f}"


def _ci(lo: float | None, hi: float | None, scale: float = 1.0) -> str:
    return "-" if lo is None or hi is None else f"[{_num(lo, scale)}, {_num(hi, scale)}]"


def shown_path(path: Path) -> str:
    """A path as the user can type it here: relative below the current folder, absolute elsewhere (shell-quoted)."""
    absolute = Path(os.path.abspath(path))
    try:
        text = str(absolute.relative_to(Path.cwd()))
    except ValueError:
        text = str(absolute)
    return shlex.quote(text)


def release_policy(card: Card) -> Path | None:
    """The shipped release policy when it is written for the card's suite, else None."""
    from hhh_eval.policy import load_policy
    from hhh_eval.registry import tasks_dir

    try:
        path = tasks_dir() / "policies" / "release.yaml"
        suite = load_policy(path).suite
    except UserError:
        return None
    if suite is not None and (suite.name != card.suite.name or suite.version not in (None, card.suite.version)):
        return None
    return path


def next_lines(card: Card, run_dir: Path) -> list[str]:
    """Where the report is and what to run next, with paths that work from the current folder."""
    run = shown_path(run_dir)
    policy = release_policy(card)
    if policy is not None:
        gate = f"hhh-eval gate {run} --policy {shown_path(policy)}"
    else:
        from hhh_eval.registry import tasks_dir

        gate = (f"hhh-eval gate {run} --policy POLICY.yaml  (no shipped policy for suite {card.suite.name} "
                f"v{card.suite.version}; how to write one: {shown_path(tasks_dir() / 'policies' / 'README.md')})")
    return [f"report: {shown_path(run_dir / 'report.html')}  (also report.md)",
            f"card:   {shown_path(run_dir / 'report_card.json')}",
            f"next:   hhh-eval compare {run} OTHER_RUN",
            f"        {gate}"]


def summary_lines(card: Card, run_dir: Path) -> list[str]:
    model, run = card.model, card.run
    lines = [f"model: {model.name} ({model.backend}, {model.source})  suite: {card.suite.name} "
             f"v{card.suite.version}" + (f"  limit: {run.limit} (partial)" if run.partial else "")]
    lines.append(f"{'axis':<14}{'score':>7}  {'95% CI':<16}tasks")
    for axis, a in card.axes.items():
        missing = f" (missing: {', '.join(a.tasks_missing)})" if a.tasks_missing else ""
        lines.append(f"{axis:<14}{_num(a.score):>7}  {_ci(a.ci_low, a.ci_high):<16}{', '.join(a.weights)}{missing}")
    lines.append(f"{'task':<22}{'metric':<24}{'value %':>8}  {'95% CI':<16}{'n':>6}{'unscored':>10}")
    notes = []
    for name, t in card.tasks.items():
        m = t.metrics[t.headline]
        note = (t.metric_notes or {}).get(t.headline)
        if note:
            notes.append(f"* {name}: {note}")
        headline = t.headline + ("*" if note else "")
        lines.append(f"{name:<22}{headline:<24}{_num(m.value, 100):>8}  {_ci(m.ci_low, m.ci_high, 100):<16}"
                     f"{t.n:>6}{t.n_unscored:>10}")
    return lines + notes + next_lines(card, run_dir)


def print_summary(card: Card, run_dir: Path) -> None:
    if card.run.demo:
        items = "shipped sample items" if card.run.data_source == "demo" else "real data"
        print(f"DEMO: a tiny random model on {items}; these scores mean nothing. "
              "Run a real model with: make eval MODEL=org/name "
              "(or hhh-eval run --model hf --model-args pretrained=...)", file=sys.stderr)
    print("\n".join(summary_lines(card, run_dir)))
