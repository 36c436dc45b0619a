"""The report's content, built once from the card and rendered by markdown.py and html.py: summary and warnings,
axes, tasks, metrics, categories, datasets, judges and provenance. Scores are 0-100 with one decimal; rates
(metrics in [0, 1]) are percentages. Every text here is plain: the renderers escape it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hhh_eval.card import AxisResult, Card, Metric, TaskResult
from hhh_eval.judging import UNSCORED_WARN_SHARE
from hhh_eval.registry import AXES

DASH = "—"


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Section:
    title: str
    paragraphs: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()


# ---------------------------------------------------------------- formatting


def fmt_score(value: float | None) -> str:
    return DASH if value is None else f"{value:.1f}"


def fmt_interval(low: float | None, high: float | None) -> str:
    return DASH if low is None or high is None else f"[{low:.1f}, {high:.1f}]"


def fmt_metric_value(metric: Metric) -> str:
    v = metric.value
    if v is None:
        return DASH
    return f"{100 * v:.1f}%"


def fmt_metric_interval(metric: Metric) -> str:
    lo, hi = metric.ci_low, metric.ci_high
    if lo is None or hi is None:
        return DASH
    return f"[{100 * lo:.1f}, {100 * hi:.1f}]%"


def fmt_stderr(metric: Metric) -> str:
    se = metric.stderr
    if se is None:
        return DASH
    return f"{100 * se:.2f} pp"


def _kv(mapping: dict[str, Any] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted((mapping or {}).items())) or DASH


def _or_dash(value: Any) -> str:
    return DASH if value is None or value == "" else str(value)


def unscored_share(task: TaskResult) -> float:
    return task.n_unscored / task.n if task.n else 0.0


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def axis_items(card: Card) -> list[tuple[str, AxisResult]]:
    """The card's axes in the fixed order helpfulness, honesty, harmlessness."""
    return [(a, card.axes[a]) for a in AXES if a in card.axes]


def task_items(card: Card) -> list[tuple[str, TaskResult]]:
    """The card's tasks grouped by axis (in axis order), by name within an axis."""
    return sorted(card.tasks.items(), key=lambda kv: (AXES.index(kv[1].axis), kv[0]))


# ---------------------------------------------------------------- content


def data_description(card: Card) -> str:
    """Which items the run used, as the terminal says it: the shipped sample items or the real data."""
    return {"demo": "the shipped sample items", "data_dir": "the real data (from a data dir)",
            "hub": "the real data (from the hub)"}[card.run.data_source]


def card_warnings(card: Card) -> list[str]:
    """What a reader must know before trusting the numbers, one line each."""
    run = card.run
    out = []
    if run.demo:
        out.append(f"DEMO RUN: a tiny random model on {data_description(card)}; demo scores mean nothing.")
    if card.partial:
        limit = f"at most {run.limit} items per task" if run.limit is not None else "not every item scored"
        out.append(f"PARTIAL RUN ({limit}): scores are not comparable with full runs.")
    unscored = [f"{name} {t.n_unscored} of {t.n} ({100 * unscored_share(t):.1f}%)"
                for name, t in task_items(card) if unscored_share(t) > UNSCORED_WARN_SHARE]
    if unscored:
        out.append(f"MANY UNSCORED ITEMS (over {100 * UNSCORED_WARN_SHARE:.0f}% of a task): {'; '.join(unscored)}. "
                   "Unscored items are never counted as correct or safe; check the judge.")
    for axis, entry in axis_items(card):
        if entry.tasks_missing:
            out.append(f"{axis} score leaves out missing task(s): {', '.join(entry.tasks_missing)}.")
    return out


def summary_text(card: Card) -> str:
    axes = "; ".join(f"{axis} {fmt_score(a.score)} (95% CI {fmt_interval(a.ci_low, a.ci_high)})"
                     for axis, a in axis_items(card)) or "no axis scores"
    suite = card.suite
    return (f"{card.model.name} on suite {suite.name} v{suite.version} ({len(card.tasks)} tasks): "
            f"{axes}. Scores are 0-100, higher is better.")


def _axes_table(card: Card) -> Table:
    rows = tuple(
        (axis, fmt_score(a.score), fmt_interval(a.ci_low, a.ci_high), a.ci_method,
         ", ".join(f"{t} {w:g}" for t, w in a.weights.items()) or DASH, ", ".join(a.tasks_missing) or DASH)
        for axis, a in axis_items(card)
    )
    return Table(("Axis", "Score", "95% CI", "CI method", "Weights", "Missing tasks"), rows)


def _tasks_table(card: Card) -> Table:
    rows = []
    for name, t in task_items(card):
        m = t.metrics[t.headline]
        s = t.score
        n = str(t.n) if t.n == t.n_total else f"{t.n} of {t.n_total}"
        unscored = f"{t.n_unscored} ({100 * unscored_share(t):.1f}%)"
        rows.append((name, t.axis, t.headline, fmt_metric_value(m), fmt_metric_interval(m), m.ci_method,
                     fmt_score(s.value), fmt_interval(s.ci_low, s.ci_high), n, unscored,
                     _or_dash(t.judge), _yes_no(t.complete)))
    headers = ("Task", "Axis", "Headline", "Value", "95% CI", "CI method", "Score", "Score 95% CI", "n", "Unscored",
               "Judge", "Complete")
    return Table(headers, tuple(rows))


def fmt_corrected(metric: Metric) -> str:
    """A judged rate corrected for judge error: value [95% CI], or why there is none."""
    c = metric.corrected
    if c is None:
        return DASH
    if c.value is None or c.ci_low is None or c.ci_high is None:
        return f"none: {c.note}"
    return f"{100 * c.value:.1f}% [{100 * c.ci_low:.1f}, {100 * c.ci_high:.1f}]%"


def _metrics_table(card: Card) -> Table:
    rows = tuple(
        (name, metric, fmt_metric_value(m), fmt_metric_interval(m), fmt_stderr(m), m.ci_method,
         "higher" if m.higher_is_better else "lower", str(m.n), fmt_corrected(m), m.estimator or m.note or DASH)
        for name, t in task_items(card) for metric, m in t.metrics.items()
    )
    return Table(("Task", "Metric", "Value", "95% CI", "Stderr", "CI method", "Better", "n",
                  "Corrected for judge error [95% CI]", "Notes"), rows)


def _category_section(name: str, task: TaskResult) -> Section:
    categories = task.categories or {}
    metrics = sorted({m for cat in categories.values() for m in cat})
    headers = ("Category", *(h for m in metrics for h in (m, "95% CI", "n")))
    rows = []
    for cat, entry in sorted(categories.items()):
        cells: list[str] = [cat]
        for m in metrics:
            obj = entry.get(m)
            cells += [fmt_metric_value(obj), fmt_metric_interval(obj), str(obj.n)] if obj else [DASH] * 3
        rows.append(tuple(cells))
    return Section(f"Per-category results: {name}", tables=(Table(headers, tuple(rows)),))


def _datasets_table(card: Card) -> Table:
    rows = tuple(
        (name, t.version, t.dataset.path, _or_dash(t.dataset.config), t.dataset.split,
         t.dataset.fingerprint[:12], t.output_type, _yes_no(t.chat_template_applied),
         t.clustering.field or "none", f"{t.clustering.n_clusters} (largest {t.clustering.largest})")
        for name, t in task_items(card)
    )
    return Table(("Task", "Version", "Dataset", "Config", "Split", "Fingerprint", "Output type", "Chat template",
                  "Cluster field", "Clusters"), rows)


def _judges_table(card: Card) -> Table:
    def validation(judge: str) -> str:
        return next((t.judge_validation for _, t in task_items(card) if t.judge == judge and t.judge_validation),
                    DASH)

    rows = tuple(
        (key, j.kind, j.version, j.identity_sha256[:12], _or_dash(j.model), _or_dash(j.threshold), validation(key),
         ", ".join(t for t, task in task_items(card) if task.judge == key) or DASH)
        for key, j in card.judges.items()
    )
    return Table(("Judge", "Kind", "Version", "Identity", "Model", "Threshold", "Validation", "Tasks"), rows)


def _provenance_table(card: Card, card_sha256: str | None) -> Table:
    model, run, harness, suite = card.model, card.run, card.harness, card.suite
    dirty = "" if harness.git_dirty is None else (" (dirty)" if harness.git_dirty else " (clean)")
    rows = (
        ("Model", model.name),
        ("Source", model.source),
        ("Revision", _or_dash(model.revision)),
        ("Fingerprint", _or_dash(model.fingerprint)),
        ("Backend", model.backend),
        ("Model args", _kv(model.model_args)),
        ("dtype", _or_dash(model.dtype)),
        ("Model identity SHA-256", model.identity_sha256),
        ("Chat template SHA-256", _or_dash(model.chat_template_sha256)),
        ("System prompt", _or_dash(model.system_prompt)),
        ("Harness", f"{harness.name} {harness.version}"),
        ("Harness git revision", _or_dash(harness.git_revision) + dirty),
        ("lm-eval version", harness.lm_eval_version),
        ("Python", harness.python),
        ("Packages", ", ".join(f"{p} {v}" for p, v in sorted(harness.packages.items()) if v) or DASH),
        ("Seed", str(run.seed)),
        ("Batch size", _or_dash(run.batch_size)),
        ("Generation kwargs", _kv(run.gen_kwargs)),
        ("Limit", _or_dash(run.limit)),
        ("Data source", run.data_source),
        ("Suite", f"{suite.name} v{suite.version}"),
        ("Run name", run.run_name),
        ("Labels", _kv(run.labels)),
        ("Created at", card.created_at),
        ("Schema version", card.schema_version),
        ("Card SHA-256 (report_card.json)", _or_dash(card_sha256)),
    )
    return Table(("Field", "Value"), rows)


def _notes(card: Card) -> tuple[str, ...]:
    return tuple(f"{name} / {metric}: {note}" for name, t in task_items(card)
                 for metric, note in sorted((t.metric_notes or {}).items()))


def report_sections(card: Card, card_sha256: str | None = None) -> list[Section]:
    """The report's content, shared by the Markdown and HTML renderings; `card_sha256` names the card file."""
    sections = [
        Section("Axes", tables=(_axes_table(card),)),
        Section("Tasks", paragraphs=_notes(card), tables=(_tasks_table(card),)),
        Section("All metrics", tables=(_metrics_table(card),)),
    ]
    sections += [_category_section(name, t) for name, t in task_items(card) if t.categories]
    sections += [
        Section("Datasets", tables=(_datasets_table(card),)),
        Section("Judges", paragraphs=() if card.judges else ("No judged tasks.",),
                tables=(_judges_table(card),) if card.judges else ()),
        Section("Provenance", tables=(_provenance_table(card, card_sha256),)),
    ]
    return sections


def report_title(card: Card) -> str:
    return f"hhh-eval report: {card.model.name} / {card.run.run_name}"


def built_from(card_sha256: str | None) -> str:
    """The line that names the card a report was built from."""
    return f"Built from report_card.json with sha256 {card_sha256 or 'unknown'}."
