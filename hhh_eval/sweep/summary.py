"""The concise console summary after a sweep: one line per point, the frontier, the best point, the files."""

from __future__ import annotations

import math
from pathlib import Path

from hhh_eval.card import load_card
from hhh_eval.registry import AXES
from hhh_eval.sweep.state import SweepState


def _scores(sweep_dir: Path, card: str | None) -> list[str]:
    """The card's axis scores as short cells ('-' where an axis has none)."""
    from hhh_eval.sweep.analysis import axis_score

    if card is None:
        return ["" for _ in AXES]
    loaded, _ = load_card(sweep_dir / card)
    return ["-" if math.isnan(v := axis_score(loaded, a)[0]) else f"{v:.1f}" for a in AXES]


def summary_lines(state: SweepState, sweep_dir: Path) -> list[str]:
    done = sum(p.status == "done" for p in state.points)
    report = state.report
    gated = bool(report and report.policy)
    lines = [f"sweep {state.name}: {len(state.points)} points, {done} done, {len(state.points) - done} failed; "
             f"baseline {state.baseline}",
             f"{'point':<24}{'status':<8}" + "".join(f"{a[:12]:>14}" for a in AXES) + ("  gate" if gated else "")]
    for p in state.points:
        cells = _scores(sweep_dir, p.card if p.status == "done" else None)
        verdict = report.gate.get(p.name, "") if report else ""
        gate = f"  {verdict if verdict in ('PASS', 'FAIL', '') else 'not gated'}" if gated else ""
        lines.append(f"{p.name:<24}{p.status:<8}" + "".join(f"{c:>14}" for c in cells) + gate)
    for p in state.points:
        if p.status == "failed":
            lines.append(f"failed: {p.name}: {p.error} (log: {sweep_dir / 'logs' / p.name}.log)")
    if report:
        lines.append("Pareto frontier (helpfulness vs harmlessness): " + (", ".join(report.frontier) or "none"))
        if report.policy:
            lines.append(f"best under policy {report.policy}: {report.best or 'no point passes'}")
        lines += [f"note: {n}" for n in report.notes]
    lines.append(f"report: {sweep_dir / 'report.html'}  (sweep.md, comparison.md, plots/, sweep.json)")
    return lines
