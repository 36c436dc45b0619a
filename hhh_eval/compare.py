"""`hhh-eval compare`: every card against a baseline, one table per card, Holm-corrected per card.

The numbers come from hhh_eval.comparison (the same path the gate and the sweep report use). Holm's correction
runs over all tests of one card against the baseline (its table), so for each card the chance of flagging any
difference when there is none stays at most alpha.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from hhh_eval.card import AXES, Card
from hhh_eval.comparison import (MISMATCH_SCOPE_ALL, PairComparison, compute_task_by_task, draw_bootstraps_ahead,
                                 mismatch_reasons, refuse)
from hhh_eval.errors import UserError
from hhh_eval.fileio import atomic_write_text, dumps
from hhh_eval.forked import even_chunks, forked_map
from hhh_eval.runs import RunData, load_run
from hhh_eval.stats import PairedResult, holm
from hhh_eval.text import md_escape

ALPHA = 0.05
MISMATCH_MARK, PARTIAL_MARK = "!", "~"


@dataclass(frozen=True)
class Row:
    """One line of the comparison: an axis score or a task metric of one card against the baseline."""

    card: str
    kind: str  # "axis" | "metric"
    axis: str | None
    task: str | None
    metric: str | None
    headline: bool
    higher_is_better: bool
    baseline_value: float | None  # as on the cards (axis scores 0-100, metrics as recorded)
    value: float | None
    diff: float | None = None  # paired difference (card - baseline) on the shared items
    ci_low: float | None = None
    ci_high: float | None = None
    p: float | None = None
    p_holm: float | None = None
    test: str | None = None  # the paired method (hhh_eval.stats.paired); None = not tested
    mde: float | None = None  # minimum detectable effect at 80% power for this n (same units as diff)
    spread: float | None = None  # paired 0/1 metrics: discordance; other per-item values: sd of the differences
    n_shared: int = 0
    n_excluded: int = 0  # items in both runs but unscored in at least one
    n_unmatched: int = 0  # items in only one of the runs
    verdict: str = "not tested"  # "regression" | "improvement" | "no significant difference" | "not tested"
    marks: tuple[str, ...] = ()


@dataclass(frozen=True)
class CardInfo:
    label: str
    run_name: str
    model: str
    path: str | None
    suite: str
    labels: dict[str, Any]
    partial: bool
    mismatches: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CompareReport:
    baseline: str
    cards: list[CardInfo]
    rows: list[Row]
    seed: int
    alpha: float = ALPHA

    @property
    def n_tests(self) -> int:
        return sum(r.p is not None for r in self.rows)

    def to_json(self) -> dict[str, Any]:
        return {"baseline": self.baseline, "cards": [asdict(c) for c in self.cards], "alpha": self.alpha,
                "correction": "holm per card", "n_tests": self.n_tests, "seed": self.seed,
                "rows": [{**vars(r), "marks": list(r.marks)} for r in self.rows],  # flat rows: no deep copy
                "summary": summary(self.rows)}


def _tested(row: Row, result: PairedResult, **counts: int) -> Row:
    notes = () if result.tested else (f"not tested: {result.note}",)
    return replace(row, diff=result.diff, ci_low=result.low, ci_high=result.high, p=result.p_value,
                   test=result.method if result.tested else None, n_shared=result.n, mde=result.mde,
                   spread=result.spread, marks=row.marks + notes, **counts)


def _metric_rows(pc: PairComparison, label: str, task: str, marks: tuple[str, ...]) -> list[Row]:
    bt, ot = pc.base.card.tasks[task], pc.other.card.tasks[task]
    rows = []
    for name in [bt.headline, *sorted(m for m in bt.metrics if m != bt.headline)]:
        if name not in ot.metrics:
            continue
        mc = pc.metric(task, name)
        row = Row(card=label, kind="metric", axis=bt.axis, task=task, metric=name, headline=name == bt.headline,
                  higher_is_better=mc.higher_is_better, baseline_value=bt.metrics[name].value,
                  value=ot.metrics[name].value, marks=marks)
        rows.append(_tested(row, mc.result, n_excluded=mc.n_excluded, n_unmatched=mc.n_unmatched))
    return rows


def _axis_row(pc: PairComparison, label: str, axis: str, marks: tuple[str, ...]) -> Row:
    base, other = pc.base.card.axes[axis], pc.other.card.axes[axis]
    ac = pc.axis(axis)
    notes = marks
    if len(ac.tasks) < len(base.weights):
        notes += (f"over {len(ac.tasks)} of {len(base.weights)} tasks",)
    if other.weights != base.weights:  # e.g. a task without scored items in one run: the axis scores differ in kind
        notes += ("card's axis weights differ; tested with the baseline's",)
    row = Row(card=label, kind="axis", axis=axis, task=None, metric=None, headline=True, higher_is_better=True,
              baseline_value=base.score, value=other.score, marks=notes)
    return _tested(row, ac.result)


def card_rows(pc: PairComparison, label: str) -> list[Row]:
    """Rows of one card against the baseline: each axis, then its tasks' metrics (headline first)."""
    found = pc.mismatches
    partial = (PARTIAL_MARK,) if pc.base.card.partial or pc.other.card.partial else ()
    rows: list[Row] = []
    for axis in AXES:
        if axis in pc.base.card.axes and axis in pc.other.card.axes:
            bad = MISMATCH_SCOPE_ALL in found or any(t in found for t in pc.base.card.axes[axis].weights)
            rows.append(_axis_row(pc, label, axis, ((MISMATCH_MARK,) if bad else ()) + partial))
        for task in (t for t, e in pc.base.card.tasks.items() if e.axis == axis and t in pc.other.card.tasks):
            marks = ((MISMATCH_MARK,) if MISMATCH_SCOPE_ALL in found or task in found else ()) + partial
            rows += _metric_rows(pc, label, task, marks)
    return rows


def _verdict(row: Row, alpha: float) -> str:
    if row.p_holm is None:
        return "not tested"
    if row.p_holm >= alpha or not row.diff:
        return "no significant difference"
    return "improvement" if (row.diff > 0) == row.higher_is_better else "regression"


def _holm_per_card(rows: list[Row], alpha: float) -> list[Row]:
    families: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        if r.p is not None:
            families.setdefault(r.card, []).append(i)
    for tested in families.values():
        for i, p_holm in zip(tested, holm([rows[i].p for i in tested])):  # type: ignore[misc]
            rows[i] = replace(rows[i], p_holm=p_holm)
    return [replace(r, verdict=_verdict(r, alpha)) for r in rows]


def labels_of(runs: list[RunData]) -> list[str]:
    """Short unique names: the run name, else model/run name, else with the position appended."""
    names = [r.name for r in runs]
    if len(set(names)) < len(names):
        names = [f"{r.card.model.name}/{r.name}" for r in runs]
    if len(set(names)) < len(names):
        names = [f"{n}#{i}" for i, n in enumerate(names)]
    return names


ALLOW_MISMATCH = ("compare cards of the same suite, items and judges, or pass --allow-mismatch to compare with those "
                  "rows marked")


def _card_info(run: RunData, label: str, found: dict[str, list[str]]) -> CardInfo:
    card: Card = run.card
    return CardInfo(label=label, run_name=run.name, model=card.model.name,
                    path=str(run.run_dir) if run.run_dir else None, suite=f"{card.suite.name}@{card.suite.version}",
                    labels=dict(card.run.labels), partial=card.partial,
                    mismatches=mismatch_reasons(found))


PAIRS_PER_JOB = 6  # pairs computed together task by task (comparison.compute_task_by_task) in one worker job
PerPair = Callable[[PairComparison], Any]  # more work on a pair, done where its comparisons are cached


def _chunk_rows(chunk: tuple[list[tuple[PairComparison, str]], PerPair | None]) -> list[tuple[list[Row], Any]]:
    """Each pair's rows and per_pair(pair); the pairs' metrics are computed together, task by task, first."""
    jobs, per_pair = chunk
    compute_task_by_task([pc for pc, _ in jobs])
    return [(card_rows(pc, label), per_pair(pc) if per_pair else None) for pc, label in jobs]


def _rows_of_pairs(pairs: list[PairComparison], labels: list[str],
                   per_pair: PerPair | None = None) -> list[tuple[list[Row], Any]]:
    """Each pair's rows (and per_pair's result), the same as a plain loop. The first pair runs here and fills the
    caches all pairs share (the baseline's per-item scores and statistics, the bootstrap weights, drawn on threads
    first); forked workers inherit them and do the rest a few pairs at a time, each loading its own cards' per-item
    scores."""
    jobs = list(zip(pairs, labels))
    if not jobs:
        return []
    chunks = [(chunk, per_pair) for chunk in even_chunks(jobs[1:], PAIRS_PER_JOB)]
    draw_bootstraps_ahead(pairs[0])
    return _chunk_rows((jobs[:1], per_pair)) + [done for found in forked_map(_chunk_rows, chunks) for done in found]


def compare_runs(runs: list[RunData], baseline: RunData | None = None, *, allow_mismatch: bool = False,
                 seed: int | None = None, alpha: float = ALPHA) -> CompareReport:
    """Compare each run with the baseline (default: the first run); Holm over each run's tests. The bootstrap
    seed defaults to the baseline card's, as in the gate."""
    return compare_runs_with(runs, baseline, None, allow_mismatch=allow_mismatch, seed=seed, alpha=alpha)[0]


def compare_runs_with(runs: list[RunData], baseline: RunData | None, per_pair: PerPair | None, *,
                     allow_mismatch: bool = False, seed: int | None = None,
                     alpha: float = ALPHA) -> tuple[CompareReport, list[Any]]:
    """compare_runs, and per_pair(pair) for each run (None without per_pair), computed in the worker that compared
    the pair right after it, so it reuses the pair's cached tests (the sweep report gates its points this way)."""
    if baseline is None:
        baseline, runs = runs[0], runs[1:]
    seed = baseline.card.run.seed if seed is None else seed
    if not runs:
        raise UserError("compare needs a second card to compare with the baseline; pass two or more cards")
    labels = labels_of([baseline, *runs])
    pairs = [PairComparison(baseline, run, seed) for run in runs]
    for label, pc in zip(labels[1:], pairs):
        if pc.mismatches and not allow_mismatch:
            raise refuse(label, labels[0], pc.mismatches, ALLOW_MISMATCH)
    done = _rows_of_pairs(pairs, labels[1:], per_pair)
    rows = _holm_per_card([row for rows, _ in done for row in rows], alpha)
    cards = [_card_info(baseline, labels[0], {})]
    cards += [_card_info(pc.other, label, pc.mismatches) for pc, label in zip(pairs, labels[1:])]
    report = CompareReport(baseline=labels[0], cards=cards, rows=rows, seed=seed, alpha=alpha)
    return report, [extra for _, extra in done]


def summary(rows: list[Row]) -> dict[str, dict[str, int]]:
    """Per card: tests run, significant regressions and improvements."""
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        s = out.setdefault(r.card, {"tests": 0, "regressions": 0, "improvements": 0})
        s["tests"] += r.p is not None
        s["regressions"] += r.verdict == "regression"
        s["improvements"] += r.verdict == "improvement"
    return out


# ---------------------------------------------------------------- markdown


def _num(v: float | None, axis: bool) -> str:
    return "—" if v is None else f"{v:.1f}" if axis else f"{v:.3f}"


def _p(p: float | None) -> str:
    return "—" if p is None else "<0.001" if p < 0.001 else f"{p:.3f}"


def _md_row(r: Row) -> str:
    axis = r.kind == "axis"
    name = f"**{r.axis}**" if axis else f"{r.task} {r.metric}" + ("" if r.headline else " (other)")
    name += "".join(f" {m}" for m in r.marks if m in (MISMATCH_MARK, PARTIAL_MARK))
    delta = "—" if r.diff is None or r.ci_low is None else \
        f"{_num(r.diff, axis)} [{_num(r.ci_low, axis)}, {_num(r.ci_high, axis)}]"
    n = f"{r.n_shared}" + (f" ({r.n_excluded} excl.)" if r.n_excluded else "")
    result = {"regression": "▼ regression", "improvement": "▲ improvement"}.get(r.verdict, "")
    notes = "; ".join([result, *(m for m in r.marks if m not in (MISMATCH_MARK, PARTIAL_MARK))]).strip("; ")
    return (f"| {md_escape(name)} | {_num(r.baseline_value, axis)} | {_num(r.value, axis)} | {delta} | "
            f"{_p(r.p_holm)} | {_num(r.mde, axis)} | {n} | {md_escape(notes)} |")


def to_markdown(report: CompareReport) -> str:
    """A summary line per card, then one table per card of its rows against the baseline."""
    counts = summary(report.rows)
    lines = ["# hhh-eval compare", "",
             f"Baseline: **{md_escape(report.baseline)}**. Paired tests on the items both runs scored (matched by "
             "doc_hash; clusters of the baseline): McNemar with Newcombe's interval for 0/1 items, paired t for "
             "other values, a paired bootstrap for corpus metrics; axis scores (0-100): MOVER over the axis's "
             f"tasks, correlated where they share documents. Holm correction over each card's tests "
             f"({report.n_tests} in all); alpha {report.alpha}.", "",
             "| card | model | regressions | improvements | tests | notes |", "|---|---|---|---|---|---|"]
    for info in report.cards[1:]:
        s = counts.get(info.label, {"tests": 0, "regressions": 0, "improvements": 0})
        notes = "; ".join((["partial"] if info.partial else []) + info.mismatches)
        lines.append(f"| {md_escape(info.label)} | {md_escape(info.model)} | {s['regressions']} | "
                     f"{s['improvements']} | {s['tests']} | {md_escape(notes)} |")
    rows: dict[str, list[Row]] = {}
    for r in report.rows:
        rows.setdefault(r.card, []).append(r)
    for info in report.cards[1:]:
        lines += ["", f"## {md_escape(info.label)} vs {md_escape(report.baseline)}", "",
                  "| | baseline | card | Δ [95% CI] | p (Holm) | MDE | n | result |", "|---" * 8 + "|"]
        lines += [_md_row(r) for r in rows.get(info.label, [])]
    lines += ["", f"{MISMATCH_MARK}: the cards differ in suite, task version, items or judge for this row "
              f"(compared under --allow-mismatch). {PARTIAL_MARK}: a partial card (--limit). n: shared items "
              "tested; excl.: items unscored in either run. Δ = card - baseline on the shared items. MDE: the "
              "smallest difference this test finds 80% of the time at this n (unadjusted). "
              "▼/▲: significant after Holm, by the metric's direction. Judged rates are compared on the raw "
              "per-item labels of the same judge: a judge-error correction would cancel in the difference."]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- CLI


def _same_run(a: str, b: str) -> bool:
    pa, pb = Path(a).resolve(), Path(b).resolve()
    return (pa.parent if pa.is_file() else pa) == (pb.parent if pb.is_file() else pb)


def cli_compare(args: argparse.Namespace) -> int:
    baseline = load_run(args.baseline) if args.baseline else None
    runs = [load_run(p) for p in args.cards if not (args.baseline and _same_run(p, args.baseline))]
    if not runs or (baseline is None and len(runs) < 2):
        raise UserError("compare needs at least two cards; pass two or more report cards or run folders")
    report = compare_runs(runs, baseline, allow_mismatch=args.allow_mismatch)
    md, js = to_markdown(report), dumps(report.to_json(), indent=2) + "\n"
    if args.out:
        atomic_write_text(Path(args.out) / "comparison.md", md)
        atomic_write_text(Path(args.out) / "comparison.json", js)
    print(js if args.format == "json" else md, end="")
    return 0
