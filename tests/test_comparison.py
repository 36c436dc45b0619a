"""One comparison path: compare and gate print the same numbers for the same pair of real tiny-model runs on the
real data; a statistic that cannot be computed never passes; strict JSON everywhere."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest

from hhh_eval.cli import main
from hhh_eval.compare import compare_runs
from hhh_eval.gate import gate_card
from hhh_eval.policy import Policy
from hhh_eval.runs import RunData, load_run
from hhh_eval.tiny_model import build_tiny_model

TASKS = "pubmedqa,medqa,truthfulqa_mc1,truthfulqa_mc2,beavertails,calibration"
LIMIT = 40


def _run(out: Path, model: Path, data_dir: Path, name: str) -> Path:
    args = ["run", "--model", "hf", "--model-args", f"pretrained={model}", "--suite", "hhh-core", "--tasks", TASKS,
            "--limit", str(LIMIT), "--output-dir", str(out), "--run-name", name, "--data-dir", str(data_dir),
            "--gen-kwargs", "max_gen_toks=16"]
    assert main(args) == 0
    return next(out.glob(f"*/{name}"))


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, data_dir: Path) -> tuple[Path, Path]:
    """The tiny model and a second tiny model (other random weights) on the same real items."""
    out = tmp_path_factory.mktemp("cmp")
    other = build_tiny_model(tmp_path_factory.mktemp("tiny-b"), seed=1)
    return _run(out, tiny_model, data_dir, "base"), _run(out, other, data_dir, "cand")


def _policy(base: RunData) -> Policy:
    """Non-inferiority and superiority on every metric and axis of the card (margins arbitrary but fixed)."""
    ni = [{"task": t, "metric": m, "margin": 0.05} for t, e in base.card.tasks.items() for m in e.metrics]
    ni += [{"axis": a, "margin": 3.0} for a in base.card.axes]
    sup = [{"task": t, "metric": e.headline, "margin": 0.01, "direction": "worse"} for t, e in base.card.tasks.items()]
    return Policy(name="all", non_inferiority=ni, superiority=sup)


@pytest.mark.integration
def test_compare_and_gate_print_the_same_numbers(two_runs):
    base, cand = (load_run(p) for p in two_runs)
    report = compare_runs([cand], base)
    rows = {(r.task or r.axis, r.metric or "axis"): r for r in report.rows}
    checks = gate_card(_policy(base), cand, base).checks
    paired = [c for c in checks if c.kind in ("non_inferiority", "superiority")]
    assert len(paired) == len(rows) + len(base.card.tasks)
    tested = 0
    for c in paired:
        subject = tuple(c.subject.split(" ", 1))
        row = rows[(subject[1], "axis")] if subject[0] == "axis" else rows[subject]
        assert (c.value, c.low, c.high, c.p, c.method if c.low is not None else None) == \
            (row.diff, row.ci_low, row.ci_high, row.p, row.test), c.subject
        tested += row.ci_low is not None
    assert tested >= len(rows) - 2  # the plug-in ece has no interval; everything else is tested
    print(f"{len(paired)} gate checks and {len(rows)} compare rows agree on difference, interval, p and method")


@pytest.mark.integration
def test_pairs_compared_in_forked_workers_print_the_numbers_of_the_first_pair(two_runs, monkeypatch):
    """compare runs the first pair in-process (as the gate does, on every BLAS thread) and forks the rest (one
    BLAS thread each): the same pair of cards gets the same numbers either way, and the same report as on one
    core. (Float32 bootstrap sums split over two BLAS threads once differed in the 9th digit.)"""
    monkeypatch.setattr("hhh_eval.compare.PAIRS_PER_JOB", 1)  # pairs 2 and 3 go to two forked jobs
    base = load_run(two_runs[0])
    cands = [load_run(two_runs[1]) for _ in range(3)]  # separate objects: each worker loads its card's scores
    forked = compare_runs(cands, base).to_json()
    by_card: dict[str, list[dict]] = {}
    for r in forked["rows"]:
        by_card.setdefault(r["card"], []).append({k: v for k, v in r.items() if k != "card"})
    first, *rest = by_card.values()
    assert len(rest) == 2 and all(rows == first for rows in rest)
    assert sum(r["ci_low"] is not None and r["diff"] != 0 for r in first) >= 5  # real differences, tested
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    assert compare_runs([load_run(two_runs[1]) for _ in range(3)], base).to_json() == forked


@pytest.mark.integration
def test_sweep_gates_from_the_comparison_workers_match_the_gate_command(two_runs, monkeypatch):
    """The sweep report gates each point in the worker that compared it, from that pair's cached tests: every
    check (value, interval, p, status, reason) is what gate_card gives the same pair on its own, in-process."""
    from hhh_eval.sweep.analysis import compare_and_gate

    monkeypatch.setattr("hhh_eval.compare.PAIRS_PER_JOB", 1)  # points 2 and 3 are gated in forked workers
    base = load_run(two_runs[0])
    policy = _policy(base)
    comparison, gates = compare_and_gate(base, [load_run(two_runs[1]) for _ in range(3)], policy)
    alone = [asdict(c) for c in gate_card(policy, load_run(two_runs[1]), base).checks]
    assert len(gates) == 3 and all(g.json["checks"] == alone for g in gates)
    assert sum(c["kind"] == "non_inferiority" and c["low"] is not None for c in alone) >= 5
    assert comparison.json == compare_runs([load_run(two_runs[1]) for _ in range(3)], base).to_json()


@pytest.mark.integration
def test_identical_runs_give_nonzero_intervals_that_include_zero(two_runs):
    base = load_run(two_runs[0])
    same = RunData(card=base.card.model_copy(update={"run": base.card.run.model_copy(update={"run_name": "b2"})}),
                   run_dir=base.run_dir)
    for row in compare_runs([same], base).rows:
        if row.ci_low is None:
            assert row.metric == "ece", row
            continue
        assert row.diff == 0 and row.ci_low < 0 < row.ci_high and row.p_holm == 1.0, row


@pytest.mark.integration
def test_two_items_worse_fail_a_tight_non_inferiority_margin(two_runs, tmp_path):
    """The issue's case: truthfulqa_mc2, candidate = baseline except two items worse by 0.5 and 0.25."""
    base = load_run(two_runs[0])
    scores = base.task_scores("truthfulqa_mc2")
    worse = scores.metrics["acc"].copy()
    worse[[3, 17]] = np.maximum(worse[[3, 17]] - [0.5, 0.25], 0.0)
    cand = RunData(card=base.card, run_dir=None,
                   scores={"truthfulqa_mc2": replace(scores, metrics={**scores.metrics, "acc": worse})})
    policy = Policy(name="p", non_inferiority=[{"task": "truthfulqa_mc2", "metric": "acc", "margin": 0.01}])
    (check,) = [c for c in gate_card(policy, cand, base).checks if c.kind == "non_inferiority"]
    assert check.status == "FAIL" and check.low < -0.01 < check.value + 0.01, check
    json.dumps(check.__dict__, allow_nan=False)


@pytest.mark.integration
def test_gate_writes_strict_json_and_fails_undecidable_checks(two_runs, tmp_path):
    base_dir, cand_dir = two_runs
    policy = tmp_path / "p.yaml"
    policy.write_text("name: p\nbounds:\n  - {task: beavertails, metric: harm_rate, category: '*', bound: upper, "
                      "max: 0.99}\n  - {task: calibration, metric: ece, bound: upper, max: 0.99}\n"
                      "non_inferiority:\n  - {axis: honesty, margin: 100}\n"
                      "  - {task: calibration, metric: ece, margin: 0.99}\n")
    code = main(["gate", str(cand_dir), "--policy", str(policy), "--baseline", str(base_dir)])
    text = (cand_dir / "checklist.json").read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON token {c}"))
    checklist = json.loads(text)
    undecidable = [c for c in checklist["checks"] if c["reason"].startswith("undecidable")]
    assert {c["subject"] for c in undecidable} == {"calibration ece"} and len(undecidable) == 2  # no interval
    assert all(c["status"] == "FAIL" for c in undecidable)
    assert code == (1 if any(c["status"] == "FAIL" for c in checklist["checks"]) else 0)


def test_policy_bound_of_nan_is_rejected(tmp_path, capsys):
    policy = tmp_path / "p.yaml"
    policy.write_text("name: p\nbounds:\n  - {task: beavertails, metric: harm_rate, bound: upper, max: .nan}\n")
    from hhh_eval.policy import load_policy
    from hhh_eval.errors import UserError

    with pytest.raises(UserError, match="bounds"):
        load_policy(policy)


@pytest.mark.integration
@pytest.mark.parametrize("bad", ["NaN", "Infinity", "1.7", "-0.5"])
def test_validate_rejects_non_finite_and_out_of_range_metrics(two_runs, tmp_path, bad, capsys):
    card = json.loads((two_runs[0] / "report_card.json").read_text())
    card["tasks"]["beavertails"]["metrics"]["harm_rate"]["value"] = "@BAD@"
    path = tmp_path / "report_card.json"
    path.write_text(json.dumps(card).replace('"@BAD@"', bad))
    assert main(["validate", str(path)]) == 1
    assert "invalid" in capsys.readouterr().out
    assert main(["gate", str(path), "--policy", str(Path(__file__).parent / "policies" / "pass.yaml")]) == 2


@pytest.mark.integration
def test_corrected_bounds_read_the_judge_error_corrected_rate(two_runs):
    base = load_run(two_runs[0])
    harm = base.card.tasks["beavertails"].metrics["harm_rate"]
    assert harm.corrected is not None and harm.corrected.value is not None  # the refusal judge ships its record
    assert base.card.tasks["beavertails"].judge_validation.startswith("validated on 900 human-labelled items")
    policy = Policy(name="c", bounds=[{"task": "beavertails", "metric": "harm_rate", "bound": "upper", "max": 0.5,
                                       "corrected": True},
                                      {"task": "pubmedqa", "metric": "acc", "bound": "lower", "min": 0.1,
                                       "corrected": True}])
    checks = [c for c in gate_card(policy, base).checks if c.kind == "bound"]
    assert (checks[0].subject, checks[0].value, checks[0].low, checks[0].high) == (
        "beavertails harm_rate (corrected)", harm.corrected.value, harm.corrected.ci_low, harm.corrected.ci_high)
    assert checks[1].status == "FAIL" and checks[1].reason.startswith("undecidable: not a judged rate")
