"""The sweep report's comparison and gates on fake cards: each point gated once, why a point is not gated said
once, and a point that cannot be compared still gated on its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from hhh_eval.policy import Policy
from hhh_eval.runs import RunData, load_run
from hhh_eval.sweep import analysis
from hhh_eval.sweep.report import findings
from hhh_eval.sweep.spec import SweepSpec
from hhh_eval.sweep.state import PointState, SweepState
from fakecards import fake_run

POLICY = Policy(name="ni", non_inferiority=[{"task": "pubmedqa", "metric": "acc", "margin": 0.05}])


def _state(names: list[str], baseline: str) -> SweepState:
    points = [PointState(name=n, kind="point", labels={}, model=n, status="done", run_dir=n) for n in names]
    return SweepState(name="s", sweep_file="s.yaml", sweep_sha256="0", executor="local", baseline=baseline, x=None,
                      points=points)


def _findings(runs: dict[str, RunData], baseline: str) -> tuple[analysis.PairedComparison | None, dict, list[str]]:
    spec = SweepSpec(name="s", points=[{"name": n, "model": n} for n in runs])
    found = findings(runs, _state(list(runs), baseline), spec, POLICY)
    return found.comparison, found.gates, found.notes


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, RunData]:
    root = tmp_path_factory.mktemp("sweep-report")
    return {n: load_run(fake_run(root, n, seed=i)) for i, n in enumerate(("a", "b", "c"))}


def test_every_point_is_gated_with_the_comparison(runs: dict[str, RunData]) -> None:
    comparison, gates, notes = _findings(runs, "a")
    assert comparison is not None and set(comparison.counts) == {"b", "c"}
    assert not [n for n in notes if "comparison" in n]
    assert list(gates) == ["a", "b", "c"] and all(isinstance(g, analysis.GateOutcome) for g in gates.values())
    ni = {n: next(c for c in g.json["checks"] if c["kind"] == "non_inferiority") for n, g in gates.items()}
    assert ni["a"]["status"] == "SKIP" and ni["b"]["low"] is not None and ni["c"]["low"] is not None
    assert gates["b"].markdown.startswith("# Release checklist") and gates["b"].verdict == gates["b"].json["verdict"]


def test_a_baseline_without_card_leaves_every_point_not_gated_once(runs: dict[str, RunData]) -> None:
    comparison, gates, notes = _findings({n: runs[n] for n in ("b", "c")}, "a")
    assert comparison is None and "the baseline point a has no card: no paired comparison" in notes
    assert gates == {n: "not gated: the baseline point has no card (its non-inferiority checks need one)"
                     for n in ("b", "c")}


def test_a_point_not_comparable_is_still_gated_alone(runs: dict[str, RunData], tmp_path: Path) -> None:
    other_items = load_run(fake_run(tmp_path, "d", seed=5, limit=50))  # a --limit run: other items than a's
    comparison, gates, notes = _findings({**runs, "d": other_items}, "a")
    assert comparison is None and any(n.startswith("no paired comparison: d is not comparable") for n in notes)
    assert all(isinstance(gates[n], analysis.GateOutcome) for n in ("a", "b", "c"))
    assert gates["d"].startswith("not gated: ") and "not comparable" in gates["d"]
    assert gates["d"].count("not gated") == 1


def test_free_text_shows_as_written_in_both_reports(tmp_path: Path) -> None:
    """Point names, errors and notes are text in sweep.md and report.html: never markup, never left out."""
    from hhh_eval.sweep.report import write_report

    for i, name in enumerate(("a", "b_")):
        fake_run(tmp_path, name, seed=i)
    error = "ValueError: <b>bold</b> *x* | y [l](http://e.x)"
    state = _state(["a", "b_"], "a")
    state.points.append(PointState(name="c*", kind="point", labels={}, model="m", status="failed", error=error))
    spec = SweepSpec(name="s", points=[{"name": "a", "model": "a"}])
    write_report(state, tmp_path, spec, None, None)
    md, html = (tmp_path / "sweep.md").read_text(), (tmp_path / "report.html").read_text()
    assert "| c\\* | ValueError: &lt;b&gt;bold&lt;/b&gt; \\*x\\* \\| y \\[l\\](http://e.x) |" in md
    assert "<td>c*</td>\n<td>ValueError: &lt;b&gt;bold&lt;/b&gt; *x* | y [l](http://e.x)</td>" in html
    assert "<td>b_</td>" in html and "raw HTML omitted" not in html and "<b>bold" not in html
