"""The concise console summary after a run: per-axis and per-task tables, paths, and what to run next."""

from __future__ import annotations

import sys
from pathlib import Path

from hhh_eval.card import Card


def _num(x: float | None, scale: float = 1.0, digits: int = 1) -> str:
    return "-" if x is None else f"{x * scale:.{digits}f}"


def _ci(lo: float | None, hi: float | None, scale: float = 1.0) -> str:
    return "-" if lo is None or hi is None else f"[{_num(lo, scale)}, {_num(hi, scale)}]"


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
    lines += notes
    lines.append(f"report: {run_dir / 'report.md'}")
    lines.append(f"card:   {run_dir / 'report_card.json'}")
    lines.append(f"next:   hhh-eval compare {run_dir} OTHER_RUN | hhh-eval gate {run_dir} --policy tasks/policies/release.yaml")
    return lines


def print_summary(card: Card, run_dir: Path) -> None:
    if card.run.demo:
        items = "shipped sample items" if card.run.data_source == "demo" else "real data"
        print(f"DEMO: a tiny random model on {items}; these scores mean nothing. "
              "Run a real model with: make eval MODEL=org/name (or hhh-eval run --model hf --model-args pretrained=...)",
              file=sys.stderr)
    print("\n".join(summary_lines(card, run_dir)))
