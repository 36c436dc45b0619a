"""Rendering and writing plots: PNG and SVG per plot (same bytes for the same cards), each naming the cards it
was drawn from (file metadata `Source`, and plots.json beside them with each card's path and sha256); the
report's images (PNG at twice their displayed size); `hhh-eval plot`.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.figure import Figure

from hhh_eval.card import Card, card_path, load_card
from hhh_eval.comparison import mismatch_summary, mismatches
from hhh_eval.errors import UserError
from hhh_eval.fileio import atomic_write_bytes, atomic_write_json, make_folder
from hhh_eval.forked import forked_calls
from hhh_eval.plots.categories import categories_figure, category_tasks
from hhh_eval.plots.common import card_labels, tasks_of, x_values
from hhh_eval.plots.figures import axis_scores_figure, pareto_figure, task_scores_figure, trends_figure

DPI = 120  # plot files
REPORT_DPI = 192  # report images: twice the 96 CSS px per inch they are shown at, sharp on high-density screens
CSS_PX_PER_INCH = 96
SVG_SALT = "hhh-eval"
MANIFEST = "plots.json"


@dataclass(frozen=True)
class PlotImage:
    """A plot for report.html: caption, PNG bytes and the width (CSS px) it is drawn for."""

    caption: str
    png: bytes
    width: int


@dataclass(frozen=True)
class CardSource:
    """A plotted card's file: its path and sha256 (what plots name as their source)."""

    path: Path
    sha256: str


def render(fig: Figure, fmt: str, source: str | None = None, dpi: int = DPI) -> bytes:
    """A figure as PNG or SVG bytes, the same bytes for the same figure (no dates, fixed SVG ids); `source` goes
    into the file's metadata. The first render lays the figure out for its dpi (_lay_out); later renders reuse
    that layout, so every file of a figure has the same positions."""
    if fig.get_layout_engine() is not None:
        _lay_out(fig, dpi)
    metadata: dict[str, Any] = {"Date": None} if fmt == "svg" else {}
    if source:
        metadata["Source"] = source
    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": SVG_SALT}):
        fig.savefig(buf, format=fmt, dpi=dpi, metadata=metadata or None)
    return buf.getvalue()


def _lay_out(fig: Figure, dpi: int) -> None:
    """Computes the figure's layout once, for `dpi`, and removes its layout engine, keeping the positions. A
    savefig then draws the figure once: with any engine (even matplotlib's placeholder for 'none'), savefig first
    runs a whole draw without output."""
    engine = fig.get_layout_engine()
    fig.set_dpi(dpi)
    if engine is not None:
        engine.execute(fig)
    with matplotlib.rc_context({"figure.autolayout": False, "figure.constrained_layout.use": False}):
        fig.set_layout_engine(None)


def render_files(stem: str, fig: Figure, source: str | None = None) -> dict[str, bytes]:
    """`stem`.png and `stem`.svg, from one layout: the same positions in both files."""
    return {f"{stem}.png": render(fig, "png", source), f"{stem}.svg": render(fig, "svg", source)}


@dataclass(frozen=True)
class FigureJob:
    """One plot to draw: its file stem, the function that draws it (None: nothing to show) and its arguments."""

    stem: str
    draw: Callable[..., Figure | None]
    args: tuple[Any, ...]
    source: str | None = None  # what the files' metadata names as their source

    def __call__(self) -> dict[str, bytes]:
        """The plot's PNG and SVG by file name ({} when there is nothing to show); runs in a worker process."""
        fig = self.draw(*self.args)
        return {} if fig is None else render_files(self.stem, fig, self.source)


def _figure_jobs(cards: Sequence[Card], x: Sequence[str] | None = None, x_label: str | None = None,
                 tasks: Sequence[str] = (), source: str | None = None) -> list[FigureJob]:
    """Every plot for these cards."""
    labels = card_labels(cards)
    jobs = [FigureJob("axis_scores", axis_scores_figure, (cards, labels), source),
            FigureJob("task_scores", task_scores_figure, (cards, labels), source)]
    if len(cards) > 1:
        xs, x_title = x_values(cards, x, x_label)
        jobs += [FigureJob("trends", trends_figure, (cards, xs, x_title, tasks), source),
                 FigureJob("pareto", pareto_figure, (cards, labels), source)]
    jobs += [FigureJob(f"categories_{task}", categories_figure, (cards, labels, task), source)
             for task in category_tasks(cards)]
    return jobs


def card_figures(cards: Sequence[Card], x: Sequence[str] | None = None, x_label: str | None = None,
                 tasks: Sequence[str] = ()) -> dict[str, Figure]:
    """Every plot for these cards, by file stem (a plot with nothing to show is left out)."""
    figures = {job.stem: job.draw(*job.args) for job in _figure_jobs(cards, x, x_label, tasks)}
    return {stem: fig for stem, fig in figures.items() if fig is not None}


def render_jobs(jobs: Sequence[FigureJob]) -> dict[str, bytes]:
    """The plots' files, drawn in parallel on the machine's cores (same bytes as drawn one by one)."""
    return {name: data for files in forked_calls(jobs) for name, data in files.items()}


def card_images(card: Card) -> list[PlotImage]:
    """The single-card plots for the HTML report, drawn for display at their natural size."""
    captions = {"axis_scores": "Axis scores", "task_scores": "Task scores"}
    return [PlotImage(captions.get(stem, stem.replace("categories_", "Per-category results: ")),
                      render(fig, "png", dpi=REPORT_DPI), round(fig.get_figwidth() * CSS_PX_PER_INCH))
            for stem, fig in card_figures([card]).items()]


def check_same_suite(cards: Sequence[Card]) -> None:
    suites = {(c.suite.name, c.suite.version) for c in cards}
    if len(suites) > 1:
        names = ", ".join(f"{n} v{v}" for n, v in sorted(suites))
        raise UserError(f"cards come from different suites ({names}); plot cards of one suite at a time")


def comparability_warnings(cards: Sequence[Card]) -> list[str]:
    """One line per card not comparable with the first (other items, task versions or judges), as compare says."""
    labels = card_labels(cards)
    lines = []
    for label, card in zip(labels[1:], cards[1:]):
        found = mismatches(cards[0], card)
        if found:
            lines.append(f"warning: {label} is not comparable with {labels[0]} ({mismatch_summary(found)}); "
                         "plotted anyway, but its differences are not only the model's ('hhh-eval compare' refuses such cards)")
    return lines


def _source_text(sources: Sequence[CardSource]) -> str | None:
    return "; ".join(f"report_card.json sha256 {s.sha256} ({s.path})" for s in sources) or None


def check_plot_inputs(cards: Sequence[Card], tasks: Sequence[str] = ()) -> None:
    """The cards are of one suite and every task asked for is on them (a UserError otherwise)."""
    if not cards:
        raise UserError("no report cards to plot; pass report_card.json files or run folders")
    check_same_suite(cards)
    known = tasks_of(cards)
    unknown = [t for t in tasks if t not in known]
    if unknown:
        raise UserError(f"unknown task(s) for --tasks: {', '.join(unknown)}; known: {', '.join(known)}")


def write_plots(cards: Sequence[Card], out: Path, x: Sequence[str] | None = None, x_label: str | None = None,
                tasks: Sequence[str] = (), sources: Sequence[CardSource] = ()) -> list[Path]:
    """Render every plot as PNG and SVG into `out`, with plots.json naming the cards (`sources`: their files);
    nothing is written unless all render."""
    check_plot_inputs(cards, tasks)
    files = render_jobs(_figure_jobs(cards, x, x_label, tasks, _source_text(sources)))
    make_folder(out)
    for name, data in files.items():
        atomic_write_bytes(out / name, data)
    manifest = {"cards": [{"run": c.run.run_name, "path": os.path.relpath(s.path.resolve(), out.resolve()),
                           "sha256": s.sha256} for c, s in zip(cards, sources)],
                "files": sorted(files)}
    atomic_write_json(out / MANIFEST, manifest)
    return [out / name for name in files] + [out / MANIFEST]


def cli_plot(args: argparse.Namespace) -> int:
    from hhh_eval.derived import card_sha256

    paths = [card_path(p) for p in args.cards]
    cards = [load_card(p)[0] for p in paths]
    tasks = [t.strip() for t in (args.tasks or "").split(",") if t.strip()]
    check_plot_inputs(cards, tasks)  # before any warning: bad input gets its one line alone
    make_folder(Path(args.out))
    flagged = [c.run.run_name for c in cards if c.run.demo or c.partial]
    if flagged:
        print(f"warning: {len(flagged)} card(s) are demo or partial runs (e.g. {flagged[0]}); "
              "their scores are not comparable with full runs", file=sys.stderr)
    if len({(c.suite.name, c.suite.version) for c in cards}) == 1:
        for line in comparability_warnings(cards):
            print(line, file=sys.stderr)
    sources = [CardSource(p, card_sha256(p) or "") for p in paths]
    for path in write_plots(cards, Path(args.out), args.x, args.x_label, tasks, sources):
        print(path)
    return 0
