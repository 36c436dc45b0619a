"""The sweep report: sweep.md and a single-file report.html over every finished point, with comparison.md/json
(paired with the baseline, Holm-corrected), plots/ (trends, Pareto frontier, per-category heatmaps) and, under a
policy, each point's gate checklist (checklist.md/json in its run folder) and the best point.

It is rebuilt only when a point, the baseline, x, the trend tasks, the objective or the policy changed.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from hhh_eval.fileio import atomic_write_bytes, dumps, sha256_file, sha256_text
from hhh_eval.forked import forked_calls
from hhh_eval.paths import inside
from hhh_eval.policy import Policy
from hhh_eval.provenance import harness_info
from hhh_eval.registry import AXES
from hhh_eval.runs import RunData, load_run
from hhh_eval.sweep import analysis
from hhh_eval.sweep.spec import SweepSpec
from hhh_eval.sweep.state import ReportState, SweepState
from hhh_eval.text import markdown_html, md_escape

REPORT_VERSION = 1
CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem auto;max-width:1200px;
padding:0 1rem;color:#1d1d1f;line-height:1.45}h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;
border-bottom:1px solid #ddd}table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}th,td{border:1px solid
#d0d0d0;padding:.25rem .5rem;text-align:left;vertical-align:top}th{background:#f3f3f3}img{max-width:100%;height:auto}
details{margin:.4rem 0}summary{cursor:pointer;font-weight:600}"""


@dataclass
class Findings:
    """What the report says beyond the cards: comparison, frontier, gate verdicts, best point, notes."""

    comparison: analysis.PairedComparison | None
    frontier: list[str]
    gates: dict[str, analysis.GateOrWhy]
    best: str | None
    notes: list[str]


def report_key(state: SweepState, spec: SweepSpec, policy_file: Path | None) -> str:
    points = [[p.name, p.status, p.key, p.run_dir, p.error] for p in state.points]
    policy = sha256_file(policy_file) if policy_file else None
    return sha256_text(dumps([REPORT_VERSION, points, state.baseline, state.x, spec.trend_tasks, spec.objective,
                              policy, harness_info()["version"], harness_info()["git_revision"]]))


def _compare_and_gate(runs: dict[str, RunData], baseline: str, policy: Policy | None,
                      notes: list[str]) -> tuple[analysis.PairedComparison | None, dict[str, analysis.GateOrWhy]]:
    """The paired comparison with the baseline and, under a policy, every point's gate (in runs' order); each
    point is gated on its own where there is no comparison (no baseline card, or cards not comparable)."""
    others = {n: r for n, r in runs.items() if n != baseline}
    comparison, gates = None, None
    if baseline not in runs:
        notes.append(f"the baseline point {baseline} has no card: no paired comparison")
    elif not others:
        notes.append("no finished point besides the baseline: no paired comparison")
    else:
        found, error = analysis.safe(analysis.compare_and_gate, runs[baseline], list(others.values()), policy)
        if error:
            notes.append(f"no paired comparison: {error}")
        else:
            comparison, gates = found[0], dict(zip(others, found[1]))
    if policy is None:
        return comparison, {}
    return comparison, _gates(policy, runs, baseline, gates or {})


def _gates(policy: Policy, runs: dict[str, RunData], baseline: str,
           done: dict[str, analysis.GateOrWhy]) -> dict[str, analysis.GateOrWhy]:
    """Every point's gate in runs' order: those `done` already, the others computed here (on forked workers)."""
    reason = analysis.not_gated_reason(policy, baseline in runs)
    if reason:
        return {name: reason for name in runs}
    todo = [name for name in runs if name not in done]
    calls = [partial(analysis.gate_or_why, policy, runs[n], None if n == baseline else runs.get(baseline))
             for n in todo]
    found = {**done, **dict(zip(todo, forked_calls(calls)))}
    return {name: found[name] for name in runs}


def findings(runs: dict[str, RunData], state: SweepState, spec: SweepSpec, policy: Policy | None) -> Findings:
    notes: list[str] = []
    comparison, gates = _compare_and_gate(runs, state.baseline, policy, notes)
    front = analysis.frontier([r.card for r in runs.values()], list(runs))
    passed = [n for n, g in gates.items() if isinstance(g, analysis.GateOutcome) and g.verdict == "PASS"]
    best = analysis.best_point({n: runs[n].card for n in passed}, passed, spec.objective) if policy else None
    if policy and best is None:
        notes.append(f"no point passes policy {policy.name}" + ("" if passed else " (see each point's gate)"))
    return Findings(comparison, front, gates, best, notes)


# ---------------------------------------------------------------- markdown


def _axis_cell(run: RunData | None, axis: str) -> str:
    if run is None:
        return ""
    score, low, high = analysis.axis_score(run.card, axis)
    if math.isnan(score):
        return "—"
    return f"{score:.1f}" + ("" if math.isnan(low) else f" [{low:.1f}, {high:.1f}]")


def _versus(name: str, state: SweepState, found: Findings) -> str:
    if name == state.baseline:
        return "baseline"
    if found.comparison is None or name not in found.comparison.counts:
        return ""
    regressions, improvements = found.comparison.counts[name]
    return f"{regressions} ▼, {improvements} ▲"


def _gate_cell(name: str, found: Findings) -> str:
    gate = found.gates.get(name)
    return gate.verdict if isinstance(gate, analysis.GateOutcome) else (gate or "")


def points_table(state: SweepState, runs: dict[str, RunData], found: Findings) -> list[str]:
    head = ["point", *([state.x] if state.x else []), "status", *AXES, "vs baseline (significant)", "frontier", "gate"]
    lines = ["| " + " | ".join(md_escape(h) for h in head) + " |", "|" + "---|" * len(head)]
    for p in state.points:
        run = runs.get(p.name)
        cells = [p.name, *([str(p.labels.get(state.x, ""))] if state.x else []), p.status,
                 *(_axis_cell(run, a) for a in AXES), _versus(p.name, state, found),
                 "●" if p.name in found.frontier else "", _gate_cell(p.name, found)]
        lines.append("| " + " | ".join(md_escape(c) for c in cells) + " |")
    return lines


def sweep_markdown(state: SweepState, runs: dict[str, RunData], found: Findings, images: dict[str, str],
                   policy: Policy | None, objective: str) -> str:
    """The report; `images` maps each PNG's file name to how the document refers to it (path or data URI)."""
    done = sum(p.status == "done" for p in state.points)
    failed = [p for p in state.points if p.status == "failed"]
    first = next(iter(runs.values()), None)
    limited = f", partial (--limit {first.card.run.limit})" if first and first.card.run.partial else ""
    suite = f"suite {first.card.suite.name} v{first.card.suite.version}{limited}. " if first else ""
    lines = [f"# Sweep {md_escape(state.name)}", "",
             f"{suite}{len(state.points)} points: {done} done, {len(failed)} failed. Baseline: "
             f"{md_escape(state.baseline)}. x: {md_escape(state.x or 'point order')}. Axis scores 0-100 with 95% "
             "intervals; ▼/▲: significant regressions and improvements against the baseline after Holm correction "
             "(comparison.md).", "",
             "## Points", "", *points_table(state, runs, found), "",
             "Pareto frontier (helpfulness vs harmlessness, higher is better on both): "
             + (md_escape(", ".join(found.frontier)) or "none (no point has both scores)") + "."]
    if policy:
        best = md_escape(found.best or "none")
        lines += ["", f"Best point under policy {md_escape(policy.name)} (passes its gate, highest {objective}): "
                      f"{best}."]
    lines += [line for n in found.notes for line in ("", f"Note: {md_escape(n)}")]
    if failed:
        lines += ["", "## Failed points", "", "| point | error | log |", "|---|---|---|"]
        lines += [f"| {md_escape(p.name)} | {md_escape(p.error or '')} | logs/{md_escape(p.name)}.log |"
                  for p in failed]
    lines += ["", "## Plots", ""]
    lines += [f"![{name.removesuffix('.png').replace('_', ' ')}]({src})\n" for name, src in images.items()]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- files


def report_html(state: SweepState, runs: dict[str, RunData], found: Findings, pngs: dict[str, bytes],
                policy: Policy | None, objective: str) -> str:
    """One HTML file: the report, plots inline, the comparison and each point's gate checklist."""
    uris = {name: "data:image/png;base64," + base64.b64encode(data).decode("ascii") for name, data in pngs.items()}
    parts = [markdown_html(sweep_markdown(state, runs, found, uris, policy, objective))]
    if found.comparison:
        parts += ["<h2>Paired comparison with the baseline</h2>", markdown_html(found.comparison.markdown, demote=True)]
    if found.gates:
        parts.append(f"<h2>Gate checklists ({html.escape(policy.name if policy else '')})</h2>")
        for name, gate in found.gates.items():
            verdict = gate.verdict if isinstance(gate, analysis.GateOutcome) else gate
            body = markdown_html(gate.markdown, demote=True) if isinstance(gate, analysis.GateOutcome) else ""
            parts.append(f"<details><summary>{html.escape(name)}: {html.escape(verdict)}</summary>{body}</details>")
    title = html.escape(f"Sweep {state.name}")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{CSS}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")


def write_report(state: SweepState, sweep_dir: Path, spec: SweepSpec, policy: Policy | None,
                 policy_file: Path | None) -> ReportState:
    """Write (or keep, when nothing changed) the sweep report; returns what sweep.json records of it."""
    key = report_key(state, spec, policy_file)
    if state.report and state.report.key == key and all((sweep_dir / f).is_file() for f in state.report.files):
        return state.report
    runs = {p.name: load_run(sweep_dir / p.card) for p in state.points if p.status == "done" and p.card}
    found = findings(runs, state, spec, policy)
    names, cards = list(runs), [r.card for r in runs.values()]
    plots = analysis.figures(cards, names, state.x, spec.trend_tasks) if cards else {}
    files = {f"plots/{n}": b for n, b in plots.items()}
    pngs = {n: b for n, b in plots.items() if n.endswith(".png")}
    if found.comparison:
        files["comparison.md"] = found.comparison.markdown.encode()
        files["comparison.json"] = (dumps(found.comparison.json, indent=2) + "\n").encode()
    for name, gate in found.gates.items():
        if isinstance(gate, analysis.GateOutcome):
            run_dir = Path(state.point(name).run_dir or "")
            files[str(run_dir / "checklist.md")] = gate.markdown.encode()
            files[str(run_dir / "checklist.json")] = (dumps(gate.json, indent=2) + "\n").encode()
    images = {n: f"plots/{n}" for n in pngs}
    files["sweep.md"] = sweep_markdown(state, runs, found, images, policy, spec.objective).encode()
    files["report.html"] = report_html(state, runs, found, pngs, policy, spec.objective).encode()
    for name, data in files.items():
        atomic_write_bytes(inside(sweep_dir / name, sweep_dir, "sweep report"), data)
    verdicts = {n: g.verdict if isinstance(g, analysis.GateOutcome) else g for n, g in found.gates.items()}
    return ReportState(key=key, files=sorted(files), frontier=found.frontier, policy=policy.name if policy else None,
                       gate=verdicts, best=found.best, notes=found.notes)
