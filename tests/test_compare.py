"""`hhh-eval compare` on fake runs: planted differences are found, none are invented, Holm and marks apply."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binom, ttest_rel

from hhh_eval import stats
from hhh_eval.card import Card, write_card
from hhh_eval.cli import main
from hhh_eval.compare import compare_runs, to_markdown
from hhh_eval.errors import UserError
from hhh_eval.fileio import read_json
from hhh_eval.runs import RunData, load_run, read_task_scores, task_scores_from_items
from fakecards import TASKS, fake_card_and_scores, fake_run

FLAGS = ("regression", "improvement")


def flagged(cmp) -> set[str]:
    return {r.task or r.axis for r in cmp.rows if r.verdict in FLAGS}


def row(cmp, task: str, metric: str | None = None, card: str | None = None):
    return next(r for r in cmp.rows if (r.task or r.axis) == task and (metric is None or r.metric == metric)
                and (card is None or r.card == card))


def edit_card(run_dir: Path, change) -> None:
    """Change the card's JSON in place (its scores files stay as they are) and write it back validated."""
    data = read_json(run_dir / "report_card.json")
    change(data)
    write_card(Card.model_validate(data), run_dir)


def in_memory(name: str, seed: int, **options) -> RunData:
    card, scores = fake_card_and_scores(name, seed=seed, **options)
    return RunData(card, None, {t: task_scores_from_items(rows) for t, rows in scores.items()})


def test_planted_regression_is_found(tmp_path):
    base = load_run(fake_run(tmp_path, "base", seed=1, n=500))
    worse = load_run(fake_run(tmp_path, "worse", seed=2, n=500, shift={"pubmedqa": -0.15}))
    cmp = compare_runs([base, worse])
    r = row(cmp, "pubmedqa", "acc")
    assert r.verdict == "regression" and r.test == "mcnemar-newcombe" and r.n_shared == 500 and r.diff < -0.1
    assert r.p_holm < 0.05 and r.ci_high < 0
    assert flagged(cmp) <= {"pubmedqa", "helpfulness"}


@pytest.mark.parametrize(("shift", "verdict"), [(0.15, "regression"), (-0.15, "improvement")])
def test_direction_follows_higher_is_better(tmp_path, shift, verdict):
    base = load_run(fake_run(tmp_path, "base", seed=1, n=500))
    other = load_run(fake_run(tmp_path, "other", seed=2, n=500, shift={"beavertails": shift}))
    cmp = compare_runs([base, other])
    assert row(cmp, "beavertails", "harm_rate").verdict == verdict  # harm_rate: lower is better
    assert row(cmp, "harmlessness").diff * shift < 0  # axis scores: higher is better


def test_identical_runs_are_not_flagged(tmp_path):
    a = load_run(fake_run(tmp_path, "a", seed=3))
    b = load_run(fake_run(tmp_path, "b", seed=3))
    cmp = compare_runs([a, b])
    assert all(r.diff == 0 and r.p_holm == 1.0 and r.verdict == "no significant difference" for r in cmp.rows)
    assert all(r.ci_low < 0 < r.ci_high for r in cmp.rows)  # never a zero-width interval from identical values
    assert {r.test for r in cmp.rows} == {"mcnemar-newcombe", "paired-t+bound", "mover-paired"}


def test_continuous_metric_uses_paired_t(tmp_path):
    base = load_run(fake_run(tmp_path, "base", seed=1, n=300))
    better = load_run(fake_run(tmp_path, "better", seed=2, n=300, shift={"truthfulqa_mc2": 0.1}))
    r = row(compare_runs([base, better]), "truthfulqa_mc2", "acc")
    assert r.test == "paired-t" and r.verdict == "improvement" and r.ci_low > 0


def test_holm_per_card(tmp_path):
    base = in_memory("base", 1)
    others = [in_memory(f"c{i}", 10 + i, shift={"pubmedqa": -0.07, "xstest_unsafe": -0.07}) for i in range(6)]
    cmp = compare_runs([base, *others])
    alone = compare_runs([base, others[0]])
    assert [r.p_holm for r in alone.rows] == [r.p_holm for r in cmp.rows if r.card == "c0"]
    for card in ("c0", "c3"):
        rows = [r for r in cmp.rows if r.card == card and r.p is not None]
        assert [r.p_holm for r in rows] == pytest.approx(stats.holm([r.p for r in rows]))
    spared = [r for r in cmp.rows if r.p is not None and r.p < 0.05 <= r.p_holm]
    assert spared, "expected a row significant only before Holm's correction"
    assert all(r.verdict == "no significant difference" for r in spared)


def test_unscored_items_are_excluded_and_counted(tmp_path):
    base = load_run(fake_run(tmp_path, "base", seed=1, unscored=4))
    other = load_run(fake_run(tmp_path, "other", seed=2, unscored=7))
    cmp = compare_runs([base, other])
    r = row(cmp, "pubmedqa", "acc")
    lost = r.n_excluded
    assert 7 <= lost <= 11 and r.n_shared == 200 - lost
    assert np.isnan(other.task_scores("pubmedqa").metrics["acc"]).sum() == 7
    headlines = row(cmp, "pubmedqa", "acc").n_shared + row(cmp, "xstest_safe", "compliance_rate").n_shared
    assert row(cmp, "helpfulness").n_shared == headlines < 400  # the axis pairs only items scored in both runs


def test_arrow_columns_keep_nulls_as_nan_at_any_offset():
    import pyarrow as pa

    from hhh_eval.runs import _floats

    values = [0.5, None, 1.0, None, 0.25, 3.0, None, 7.0, 0.0, 1.5, None]
    chunked = pa.chunked_array([pa.array(values[:4]), pa.array(values[4:], type=pa.float64())])
    ints = pa.chunked_array([pa.array([1, None, 3]), pa.array([None, 5])])
    for col in (chunked, chunked.slice(3), chunked.slice(5, 4), pa.chunked_array([pa.array(values).slice(1)]), ints):
        expected = [np.nan if v is None else float(v) for v in col.to_pylist()]
        np.testing.assert_array_equal(_floats(col), expected)


def test_reading_scores_does_not_import_pandas(tmp_path):
    """pyarrow's to_numpy imports pandas (0.3 s of every compare): per-item scores are read without it."""
    import subprocess
    import sys

    run = fake_run(tmp_path, "run", seed=1, unscored=3)
    code = ("import sys; from hhh_eval.runs import load_run; r = load_run(sys.argv[1]); "
            "[r.task_scores(t) for t in r.card.tasks]; print('pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(run)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_items_are_matched_by_doc_hash():
    base_card, base_rows = fake_card_and_scores("base", seed=1)
    card, scores = fake_card_and_scores("other", seed=2, shift={"pubmedqa": -0.1})
    rows = scores["pubmedqa"][::-1][:-5]  # reversed order, five items missing
    base = RunData(base_card, None, {t: task_scores_from_items(r) for t, r in base_rows.items()})
    other = RunData(card, None, {t: task_scores_from_items(rows if t == "pubmedqa" else r) for t, r in scores.items()})
    r = row(compare_runs([base, other]), "pubmedqa", "acc")
    assert r.n_shared == 195 and r.n_unmatched == 5
    full = {x.doc_hash: x.metrics["acc"] for x in base_rows["pubmedqa"]}
    a = np.array([full[x.doc_hash] for x in rows])
    b = np.array([x.metrics["acc"] for x in rows])
    assert r.diff == pytest.approx(b.mean() - a.mean())


def test_axis_test_matches_axis_interval_when_baseline_is_zero():
    """Against an all-zero baseline the paired axis difference is the card's own axis score (signed), and its
    interval about as wide as the card's axis interval (MOVER over Newcombe's vs over Wilson's intervals)."""
    card = in_memory("card", 5, tasks=TASKS[:2])
    zero_scores = {t: task_scores_from_items([r.model_copy(update={"metrics": {m: 0.0 for m in r.metrics}})
                                              for r in rows])
                   for t, rows in fake_card_and_scores("zero", seed=5, tasks=TASKS[:2])[1].items()}
    zero_card = card.card.model_copy(update={"run": card.card.run.model_copy(update={"run_name": "zero"})})
    r = row(compare_runs([RunData(zero_card, None, zero_scores), card]), "helpfulness")
    axis = card.card.axes["helpfulness"]
    assert r.diff == pytest.approx(axis.score)
    assert (r.ci_high - r.ci_low) == pytest.approx(axis.ci_high - axis.ci_low, rel=0.1)


def test_mismatched_judge_is_refused_then_marked(tmp_path, capsys):
    a = fake_run(tmp_path, "a", seed=1)
    b = fake_run(tmp_path, "b", seed=2)
    edit_card(b, lambda c: c["judges"]["refusal"].update(version="2"))
    with pytest.raises(UserError, match="judge refusal changed.*--allow-mismatch") as err:
        compare_runs([load_run(a), load_run(b)])
    assert "\n" not in str(err.value)
    assert main(["compare", str(a), str(b)]) == 2
    assert "--allow-mismatch" in capsys.readouterr().err
    cmp = compare_runs([load_run(a), load_run(b)], allow_mismatch=True)
    marked = {r.task or r.axis for r in cmp.rows if "!" in r.marks}
    assert marked == {"xstest_safe", "beavertails", "xstest_unsafe", "helpfulness", "harmlessness"}
    assert "pubmedqa acc |" in to_markdown(cmp) and "xstest_safe compliance_rate ! |" in to_markdown(cmp)


@pytest.mark.parametrize("change", [
    lambda c: c["suite"].update(version="2"),
    lambda c: c["tasks"]["pubmedqa"]["dataset"].update(fingerprint="0" * 64),
    lambda c: c["tasks"]["truthfulqa_mc1"].update(version="2"),
])
def test_other_mismatches_are_refused(tmp_path, change):
    a = fake_run(tmp_path, "a", seed=1)
    b = fake_run(tmp_path, "b", seed=2)
    edit_card(b, change)
    with pytest.raises(UserError, match="not comparable"):
        compare_runs([load_run(a), load_run(b)])
    assert any("!" in r.marks for r in compare_runs([load_run(a), load_run(b)], allow_mismatch=True).rows)


def test_axis_weights_differing_only_by_a_missing_task_are_noted(tmp_path):
    a = fake_run(tmp_path, "a", seed=1)
    b = fake_run(tmp_path, "b", seed=2)
    edit_card(b, lambda c: c["axes"]["harmlessness"]["weights"].pop("xstest_unsafe"))
    r = row(compare_runs([load_run(a), load_run(b)]), "harmlessness")
    assert r.test == "mover-paired" and r.n_shared == 400  # tested with the baseline's weights, both tasks
    assert any("weights differ" in m for m in r.marks) and "!" not in r.marks


def test_axis_over_a_task_missing_from_the_card_is_noted(tmp_path):
    a = fake_run(tmp_path, "a", seed=1)
    b = fake_run(tmp_path, "b", seed=2, tasks=tuple(t for t in TASKS if t.name != "xstest_unsafe"))
    r = row(compare_runs([load_run(a), load_run(b)]), "harmlessness")
    assert r.test == "mover-paired" and r.n_shared == 200  # beavertails only
    assert "over 1 of 2 tasks" in r.marks and "!" not in r.marks


def test_partial_card_is_compared_and_marked(tmp_path):
    a = load_run(fake_run(tmp_path, "a", seed=1, limit=50))
    b = load_run(fake_run(tmp_path, "b", seed=2, limit=50))
    cmp = compare_runs([a, b])
    assert all("~" in r.marks and "!" not in r.marks for r in cmp.rows)
    assert row(cmp, "pubmedqa", "acc").n_shared == 50 and row(cmp, "pubmedqa", "acc").n_unmatched == 0
    assert cmp.cards[1].partial is True
    full = load_run(fake_run(tmp_path, "full", seed=3))  # a --limit run used other items than a full run
    with pytest.raises(UserError, match="run on different items"):
        compare_runs([full, b])
    cmp = compare_runs([full, b], allow_mismatch=True)
    assert all("~" in r.marks and "!" in r.marks for r in cmp.rows)
    assert row(cmp, "pubmedqa", "acc").n_shared == 50 and row(cmp, "pubmedqa", "acc").n_unmatched == 150


def test_cli_json_output_and_files(tmp_path, capsys):
    a = fake_run(tmp_path, "a", seed=1)
    b = fake_run(tmp_path, "b", seed=2, shift={"pubmedqa": -0.2})
    out = tmp_path / "cmp"
    assert main(["compare", str(a / "report_card.json"), str(b), "--format", "json", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    doc = json.loads(printed)
    assert (out / "comparison.json").read_text() == printed
    assert (out / "comparison.md").read_text().startswith("# hhh-eval compare")
    assert doc["baseline"] == "a" and [c["label"] for c in doc["cards"]] == ["a", "b"]
    assert doc["seed"] == load_run(a).card.run.seed  # the baseline's seed, as the gate uses
    assert doc["summary"]["b"]["regressions"] >= 1 and doc["n_tests"] == len(doc["rows"]) == 10
    for r in doc["rows"]:
        assert {"card", "kind", "task", "metric", "diff", "ci_low", "ci_high", "p", "p_holm", "test",
                "n_shared", "n_excluded", "verdict", "marks"} <= r.keys()
        assert r["ci_low"] <= r["diff"] <= r["ci_high"] and 0 <= r["p"] <= r["p_holm"] <= 1
    assert main(["compare", str(a), str(b), "--format", "json"]) == 0
    assert capsys.readouterr().out == printed  # deterministic


def test_cli_baseline_option(tmp_path, capsys):
    runs = [fake_run(tmp_path, n, seed=i) for i, n in enumerate(("a", "b", "c"))]
    assert main(["compare", *map(str, runs), "--baseline", str(runs[1]), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["baseline"] == "b" and sorted(doc["summary"]) == ["a", "c"]


def test_cli_errors(tmp_path, capsys):
    a = fake_run(tmp_path, "a", seed=1)
    b = fake_run(tmp_path, "b", seed=2)
    assert main(["compare", str(a)]) == 2
    assert main(["compare", str(a), str(tmp_path / "nowhere")]) == 2
    capsys.readouterr()
    path, columns = b / "scores" / "beavertails.jsonl", b / "scores" / "beavertails.arrow"
    text, arrow = path.read_text(), columns.read_bytes()
    columns.write_bytes(arrow[:-10] + b"0" * 10)  # the Arrow copy, edited: no longer the card's own scores
    assert main(["compare", str(a), str(b)]) == 2
    err = capsys.readouterr().err
    assert "beavertails.arrow does not belong to its report card" in err and len(err.strip().splitlines()) == 1
    columns.unlink()  # without the Arrow copy the JSONL is read, checked the same way
    path.unlink()
    assert main(["compare", str(a), str(b)]) == 2
    assert "missing per-item scores" in capsys.readouterr().err
    path.write_text(text.replace('"doc_id": 0,', '"doc_id": 1,', 1))  # edited: no longer the card's own scores
    assert main(["compare", str(a), str(b)]) == 2
    err = capsys.readouterr().err
    assert "beavertails.jsonl does not belong to its report card" in err and len(err.strip().splitlines()) == 1
    path.write_text(text)
    assert main(["compare", str(a), str(b)]) == 0  # the JSONL alone gives the same comparison
    path.write_text('{"doc_hash": "x", "metrics": {}}\n{oops\n')
    with pytest.raises(UserError, match="beavertails.jsonl is not a valid per-item scores file") as exc:
        read_task_scores(path)
    assert "\n" not in str(exc.value)


@pytest.mark.slow
def test_false_positive_rate_under_no_difference():
    """Pairs of runs drawn from the same rates: a comparison should flag anything at most alpha of the time.

    Holm keeps the rate near (not far below) alpha when the tests are nearly independent, so the check is a
    one-sided binomial test of the measured rate against 5%, not a bare threshold on one sample.
    """
    pairs = 200
    hits = sum(bool(flagged(compare_runs([in_memory("a", 2 * i), in_memory("b", 2 * i + 1)]))) for i in range(pairs))
    print(f"\nfalse-positive rate per comparison (any flagged row, Holm, alpha 0.05): {hits / pairs:.3f} ({hits}/{pairs})")
    assert binom.sf(hits - 1, pairs, 0.05) >= 0.01, "flags identical-rate runs more often than 5%"


def test_continuous_rows_agree_with_the_paired_t_test():
    base = in_memory("base", 1)
    other = in_memory("other", 2, shift={"truthfulqa_mc2": 0.02})
    r = row(compare_runs([base, other]), "truthfulqa_mc2", "acc")
    a, b = base.task_scores("truthfulqa_mc2").metrics["acc"], other.task_scores("truthfulqa_mc2").metrics["acc"]
    ref = ttest_rel(b, a)  # scipy's paired t-test: items are their own clusters in fake runs
    assert r.test == "paired-t" and r.diff == pytest.approx(np.mean(b - a))
    assert (r.ci_low, r.ci_high) == pytest.approx(tuple(ref.confidence_interval(0.95)))
    assert r.p == pytest.approx(ref.pvalue)
    assert r == row(compare_runs([base, other]), "truthfulqa_mc2", "acc")  # deterministic
