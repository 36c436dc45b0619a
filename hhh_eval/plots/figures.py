"""Plots of report cards (matplotlib Figure objects rendered with Agg; no pyplot state): PNG and SVG per plot.

axis_scores, task_scores: grouped scores with 95% intervals, one group per axis/task, one mark per card.
trends: axis (and chosen task) scores against x (--x values, a card label such as step, or the order given);
cards that carry a `series` label are drawn as one line per series.
pareto: helpfulness against harmlessness with interval crosses and the Pareto frontier (higher is better on both).
categories_<task>: per-category rates of a task with categories (BeaverTails harm rate): bars for one card,
a categories x cards heatmap for more.
Past LEGEND_MAX cards (or series) legends give way to a colour map; past LABEL_MAX points only the frontier is named.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from hhh_eval.card import Card, Metric, load_card
from hhh_eval.errors import UserError
from hhh_eval.fileio import atomic_write_bytes
from hhh_eval.registry import AXES

LEGEND_MAX = 10  # cards (bars) or series (trends) drawn with a legend; more get a colour map
ANNOTATE_MAX = 4  # cards whose values are written on the bars
LABEL_MAX = 20  # scatter points all named; more: only the frontier
HEATMAP_ANNOTATE_MAX = 24  # card columns with values written in the cells
MAX_TICKS = 30
LABEL_CHARS = 24
DPI = 120
SVG_SALT = "hhh-eval"


# ---------------------------------------------------------------- data


def _shorten(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def card_labels(cards: Sequence[Card]) -> list[str]:
    """Short unique labels: run.labels.name, else run name, else short model name, else model/run."""

    def model_short(c: Card) -> str:
        return c.model.name.rstrip("/").rsplit("/", 1)[-1]

    strategies = (
        lambda c: str(c.run.labels.get("name", "")),
        lambda c: c.run.run_name,
        model_short,
        lambda c: f"{model_short(c)}/{c.run.run_name}",
    )
    for strategy in strategies:
        labels = [_shorten(strategy(c)) for c in cards]
        if all(labels) and len(set(labels)) == len(labels):
            return labels
    return [f"{i + 1}:{_shorten(model_short(c), LABEL_CHARS - 4)}" for i, c in enumerate(cards)]


def _triple(*values: float | None) -> tuple[float, float, float]:
    """(value, low, high) as floats, NaN where absent."""
    return tuple(math.nan if v is None else float(v) for v in values)  # type: ignore[return-value]


def axis_interval(card: Card, axis: str) -> tuple[float, float, float]:
    a = card.axes.get(axis)  # type: ignore[call-overload]
    return _triple(None, None, None) if a is None else _triple(a.score, a.ci_low, a.ci_high)


def task_interval(card: Card, task: str) -> tuple[float, float, float]:
    t = card.tasks.get(task)
    return _triple(None, None, None) if t is None else _triple(t.score.value, t.score.ci_low, t.score.ci_high)


def _metric_triple(m: Metric | None) -> tuple[float, float, float]:
    return _triple(None, None, None) if m is None else _triple(m.value, m.ci_low, m.ci_high)


def _axes_of(cards: Sequence[Card]) -> list[str]:
    return [a for a in AXES if any(a in c.axes for c in cards)]


def _tasks_of(cards: Sequence[Card]) -> list[str]:
    """Every task of the cards, grouped by axis in AXES order, first-seen order within an axis."""
    seen: dict[str, str] = {}
    for c in cards:
        for name, t in c.tasks.items():
            seen.setdefault(name, t.axis)
    return sorted(seen, key=lambda t: AXES.index(seen[t]))


def pareto_frontier(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both coordinates (higher is better), by ascending x.

    A point is dominated when another is at least as good on both and better on one; equal points both stay.
    """
    def dominated(p: tuple[float, float]) -> bool:
        return any(q[0] >= p[0] and q[1] >= p[1] and (q[0] > p[0] or q[1] > p[1]) for q in points)

    return sorted((i for i, p in enumerate(points) if not dominated(p)), key=lambda i: (points[i][0], -points[i][1]))


def x_values(cards: Sequence[Card], x: Sequence[str] | None, x_label: str | None) -> tuple[list[Any], str]:
    """x per card and the axis title: --x values in order, else the card label x_label (or step), else order."""
    if x is not None:
        if len(x) != len(cards):
            raise UserError(f"--x has {len(x)} value(s) for {len(cards)} card(s); give one x value per card, in order")
        try:
            return [float(v) for v in x], x_label or "x"
        except ValueError:
            return list(x), x_label or "x"
    key = x_label or "step"
    values = [c.run.labels.get(key) for c in cards]
    if all(v is not None for v in values):
        numeric = all(isinstance(v, (int, float)) for v in values)
        return (values if numeric else [str(v) for v in values]), key
    if x_label is not None:
        missing = [c.run.run_name for c, v in zip(cards, values) if v is None]
        raise UserError(f"{len(missing)} card(s) have no label '{x_label}' (e.g. {missing[0]}); "
                        f"run them with --label {x_label}=VALUE or pass --x")
    return list(range(1, len(cards) + 1)), "card (order given)"


# ---------------------------------------------------------------- drawing helpers


def _card_colours(n: int) -> list[Any]:
    if n <= LEGEND_MAX:
        return [colormaps["tab10"](i) for i in range(n)]
    cmap = colormaps["viridis"]
    return [cmap(i / max(n - 1, 1)) for i in range(n)]


def _thin(positions: Sequence[float], labels: Sequence[str], limit: int = MAX_TICKS) -> tuple[list[float], list[str]]:
    step = max(1, math.ceil(len(labels) / limit))
    return list(positions[::step]), list(labels[::step])


def _order_colourbar(fig: Figure, ax: Any, labels: Sequence[str], title: str) -> None:
    """A colour bar that maps viridis colour to card order, ticked with a few card labels."""
    n = len(labels)
    sm = ScalarMappable(norm=Normalize(0, n - 1), cmap=colormaps["viridis"])
    bar = fig.colorbar(sm, ax=ax, pad=0.01, fraction=0.04)
    ticks = sorted({round(i * (n - 1) / 5) for i in range(6)})
    bar.set_ticks(ticks)
    bar.set_ticklabels([labels[i] for i in ticks], fontsize=7)
    bar.set_label(title, fontsize=8)


def _grouped_scores(groups: list[str], group_titles: list[str], labels: list[str],
                    values: np.ndarray, title: str) -> Figure:
    """values[card, group] = (value, low, high): bars (few cards) or dots with interval lines (many)."""
    n_cards, n_groups = len(labels), len(groups)
    many = n_cards > LEGEND_MAX
    width = min(18.0, max(6.0, 1.5 + n_groups * (0.9 + (0.04 if many else 0.35) * n_cards)))
    fig = Figure(figsize=(width, 4.8), layout="constrained")
    ax = fig.add_subplot()
    colours = _card_colours(n_cards)
    slot = 0.8 / n_cards
    centres = np.arange(n_groups)
    for i, (label, colour) in enumerate(zip(labels, colours)):
        v, lo, hi = values[i, :, 0], values[i, :, 1], values[i, :, 2]
        pos = centres - 0.4 + slot * (i + 0.5)
        err = np.vstack([v - lo, hi - v])
        if many:
            ax.errorbar(pos, v, yerr=err, fmt="o", ms=2.5, color=colour, elinewidth=0.8, capsize=0)
        else:
            ax.bar(pos, np.nan_to_num(v), slot * 0.9, color=colour, label=label, yerr=np.nan_to_num(err),
                   capsize=min(4.0, 40 * slot), error_kw={"elinewidth": 1, "ecolor": "0.2"})
        if n_cards <= ANNOTATE_MAX:
            for p, val, top in zip(pos, v, hi):
                text = "n/a" if math.isnan(val) else f"{val:.1f}"
                y = 1.0 if math.isnan(val) else (top if not math.isnan(top) else val) + 1.0
                ax.text(p, y, text, ha="center", va="bottom", fontsize=8)
    ax.set_xticks(centres, group_titles, fontsize=9, rotation=0 if n_groups <= 6 else 30,
                  ha="center" if n_groups <= 6 else "right")
    ax.set_ylim(0, 105)
    ax.set_ylabel("score (0-100, higher is better)")
    ax.set_title(f"{title} with 95% intervals")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    if many:
        _order_colourbar(fig, ax, labels, f"card ({n_cards}, order given)")
    elif n_cards > 1:
        fig.legend(*ax.get_legend_handles_labels(), fontsize=8, ncols=min(n_cards, 5), loc="outside lower center",
                   frameon=False)
    return fig


# ---------------------------------------------------------------- figures


def axis_scores_figure(cards: Sequence[Card], labels: list[str]) -> Figure:
    axes = _axes_of(cards)
    values = np.array([[axis_interval(c, a) for a in axes] for c in cards])
    return _grouped_scores(axes, axes, labels, values, "Axis scores")


def task_scores_figure(cards: Sequence[Card], labels: list[str]) -> Figure:
    tasks = _tasks_of(cards)
    axis = {name: t.axis for c in cards for name, t in c.tasks.items()}
    values = np.array([[task_interval(c, t) for t in tasks] for c in cards])
    titles = [f"{t}\n({axis[t]})" for t in tasks]
    return _grouped_scores(tasks, titles, labels, values, "Task scores (headline metric)")


def _series(cards: Sequence[Card]) -> list[tuple[str, list[int]]]:
    """(name, card indices) per line: by the cards' `series` label, else one line of all cards."""
    keys = [c.run.labels.get("series") for c in cards]
    if all(k is None for k in keys):
        return [("", list(range(len(cards))))]
    order: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        order.setdefault("(no series)" if k is None else str(k), []).append(i)
    return list(order.items())


def trends_figure(cards: Sequence[Card], xs: list[Any], x_title: str, tasks: Sequence[str]) -> Figure:
    """One panel per axis and chosen task: score against x, a line with a shaded 95% band per series."""
    panels = [(a, lambda c, a=a: axis_interval(c, a)) for a in _axes_of(cards)]
    panels += [(t, lambda c, t=t: task_interval(c, t)) for t in tasks]
    numeric = all(isinstance(v, (int, float)) for v in xs)
    categories = list(dict.fromkeys(xs)) if not numeric else []
    pos = np.array(xs if numeric else [categories.index(v) for v in xs], dtype=float)
    series = _series(cards)
    colours = (["C0"] if len(series) == 1 else _card_colours(len(series)))
    many = len(series) > LEGEND_MAX
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig = Figure(figsize=(4.6 * ncols + (1.0 if len(series) > 1 else 0), 3.4 * nrows + 0.4), layout="constrained")
    grid = fig.subplots(nrows, ncols, squeeze=False)
    for k, (name, get) in enumerate(panels):
        ax = grid.flat[k]
        for (sname, idx), colour in zip(series, colours):
            idx = sorted(idx, key=lambda i: pos[i]) if numeric else idx
            vals = np.array([get(cards[i]) for i in idx])
            x = pos[idx]
            if not many:
                ax.fill_between(x, vals[:, 1], vals[:, 2], color=colour, alpha=0.18, linewidth=0)
            ax.plot(x, vals[:, 0], color=colour, marker="o" if len(idx) <= 40 else None, ms=3.5 if not many else 2,
                    lw=1.5 if not many else 1, label=sname or None)
        ax.set_title(name if name in AXES else f"{name} (task)", fontsize=10)
        ax.set_xlabel(x_title)
        ax.set_ylabel("score (0-100)")
        ax.grid(alpha=0.3)
        if numeric:
            ax.ticklabel_format(axis="x", style="plain", useOffset=False)
        else:
            ticks, names = _thin(range(len(categories)), [_shorten(str(c), 18) for c in categories], 12)
            ax.set_xticks(ticks, names, rotation=45, ha="right", fontsize=8)
    for ax in grid.flat[len(panels):]:
        ax.set_visible(False)
    if 1 < len(series) <= LEGEND_MAX:
        handles, names = grid.flat[0].get_legend_handles_labels()
        fig.legend(handles, names, loc="outside right upper", fontsize=8, title="series")
    elif many:
        _order_colourbar(fig, grid.ravel().tolist(), [name for name, _ in series], f"series ({len(series)})")
    band = f"{len(series)} series, interval bands omitted" if many else "shaded: 95% interval"
    fig.suptitle(f"Scores against {x_title} ({band})")
    return fig


def pareto_figure(cards: Sequence[Card], labels: list[str]) -> Figure | None:
    """Helpfulness (x) against harmlessness (y) with interval crosses; None when no card has both."""
    idx = [i for i, c in enumerate(cards)
           if not any(math.isnan(axis_interval(c, a)[0]) for a in ("helpfulness", "harmlessness"))]
    if not idx:
        return None
    hx = np.array([axis_interval(cards[i], "helpfulness") for i in idx])
    hy = np.array([axis_interval(cards[i], "harmlessness") for i in idx])
    front = pareto_frontier(list(zip(hx[:, 0], hy[:, 0])))
    on_front = np.zeros(len(idx), bool)
    on_front[front] = True
    fig = Figure(figsize=(7.5, 6.2), layout="constrained")
    ax = fig.add_subplot()
    for mask, colour, name in ((~on_front, "C0", "other cards"), (on_front, "C3", "Pareto frontier")):
        if mask.any():
            ax.errorbar(hx[mask, 0], hy[mask, 0],
                        xerr=np.nan_to_num(np.vstack([hx[mask, 0] - hx[mask, 1], hx[mask, 2] - hx[mask, 0]])),
                        yerr=np.nan_to_num(np.vstack([hy[mask, 0] - hy[mask, 1], hy[mask, 2] - hy[mask, 0]])),
                        fmt="o", ms=5 if len(idx) <= LABEL_MAX else 3.5, color=colour, elinewidth=0.8,
                        alpha=0.9 if name == "Pareto frontier" else (0.6 if len(idx) <= LABEL_MAX else 0.35),
                        capsize=0, label=name, zorder=3)
    if len(front) > 1:
        ax.step(hx[front, 0], hy[front, 0], where="pre", color="C3", ls="--", lw=1, zorder=2)
    ax.set_xlabel("helpfulness score (0-100)")
    ax.set_ylabel("harmlessness score (0-100)")
    ax.set_title("Helpfulness vs harmlessness (higher is better on both)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    skipped = len(cards) - len(idx)
    if skipped or len(idx) > LABEL_MAX:
        notes = [f"{skipped} card(s) without both scores left out"] if skipped else []
        notes += ["only frontier points named"] if len(idx) > LABEL_MAX else []
        ax.text(0.99, 0.01, "; ".join(notes), transform=ax.transAxes, ha="right", va="bottom", fontsize=7,
                color="0.35")
    named = list(range(len(idx))) if len(idx) <= LABEL_MAX else front
    _place_labels(fig, ax, [(hx[j, 0], hy[j, 0], labels[idx[j]]) for j in named])  # last: needs the final layout
    return fig


# label offsets tried in turn (points): right-above, right-below, left-above, left-below, then further out
_LABEL_OFFSETS = ((5, 4), (5, -4), (-5, 4), (-5, -4), (5, 13), (5, -13), (-5, 13), (-5, -13))


def _place_labels(fig: Figure, ax: Any, points: list[tuple[float, float, str]], size: float = 8) -> None:
    """Name points, each at the first offset whose (estimated) text box overlaps no label placed before it."""
    fig.draw_without_rendering()  # resolve the layout so data -> display transforms are final
    to_pt = 72.0 / fig.dpi
    placed: list[tuple[float, float, float, float]] = []
    for x, y, text in points:
        px, py = (v * to_pt for v in ax.transData.transform((x, y)))
        w, h = 0.6 * size * len(text), 1.2 * size
        for dx, dy in _LABEL_OFFSETS:
            x0 = px + dx if dx > 0 else px + dx - w
            y0 = py + dy if dy > 0 else py + dy - h
            box = (x0, y0, x0 + w, y0 + h)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
                break
        else:
            dx, dy = _LABEL_OFFSETS[0]
            box = (px + dx, py + dy, px + dx + w, py + dy + h)
        placed.append(box)
        ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=size, color="0.15",
                    ha="left" if dx > 0 else "right", va="bottom" if dy > 0 else "top", zorder=4)


def _category_metric(cards: Sequence[Card], task: str) -> str:
    """The task's headline metric where categories carry it, else the first category metric."""
    for c in cards:
        t = c.tasks.get(task)
        if t and t.categories:
            first = next(iter(t.categories.values()))
            return t.headline if t.headline in first else next(iter(first))
    raise KeyError(task)


def _category_metrics(card: Card, task: str) -> dict[str, dict[str, Metric]]:
    t = card.tasks.get(task)
    return (t.categories or {}) if t else {}


def category_tasks(cards: Sequence[Card]) -> list[str]:
    return [t for t in _tasks_of(cards) if any(_category_metrics(c, t) for c in cards)]


def categories_figure(cards: Sequence[Card], labels: list[str], task: str) -> Figure:
    """A task's per-category metric: bars with 95% intervals for one card, else a heatmap (categories x cards)."""
    metric = _category_metric(cards, task)
    cats = sorted({cat for c in cards for cat in _category_metrics(c, task)})
    objs = [[_category_metrics(c, task).get(cat, {}).get(metric) for c in cards] for cat in cats]
    percent = True
    lower_better = not next(o.higher_is_better for row in objs for o in row if o)
    unit = (f"{metric} (%)" if percent else metric) + (", lower is better" if lower_better else ", higher is better")
    scale = 100.0 if percent else 1.0
    if len(cards) == 1:
        return _category_bars(task, cats, [row[0] for row in objs], scale, unit)
    grid = np.array([[math.nan if not o or o.value is None else scale * o.value for o in row] for row in objs])
    n = len(cards)
    fig = Figure(figsize=(min(22.0, 3.6 + 0.55 * n), 1.6 + 0.36 * len(cats) + min(1.6, 0.09 * max(map(len, labels)))),
                 layout="constrained")
    ax = fig.add_subplot()
    top = np.nanmax(grid) if np.isfinite(grid).any() else 1.0
    cmap = colormaps["Reds" if lower_better else "Blues"]
    image = ax.imshow(grid, aspect="auto", cmap=cmap, vmin=0, vmax=max(top, 1e-9), interpolation="nearest")
    if n <= HEATMAP_ANNOTATE_MAX:
        for r in range(len(cats)):
            for k in range(n):
                v = grid[r, k]
                text = "n/a" if math.isnan(v) else (f"{v:.1f}" if percent else f"{v:.3g}")
                dark = not math.isnan(v) and v > 0.6 * top
                ax.text(k, r, text, ha="center", va="center", fontsize=7 if n > 8 else 8,
                        color="white" if dark else "0.1")
    ax.set_yticks(range(len(cats)), [c.replace("_", " ") for c in cats], fontsize=8)
    ticks, names = _thin(range(n), labels, 50)
    ax.set_xticks(ticks, names, rotation=0 if n == 1 else (45 if n <= HEATMAP_ANNOTATE_MAX else 90),
                  ha="center" if n == 1 else ("right" if n <= HEATMAP_ANNOTATE_MAX else "center"),
                  fontsize=8 if n <= HEATMAP_ANNOTATE_MAX else 6)
    bar = fig.colorbar(image, ax=ax, pad=0.01, fraction=0.05)
    bar.set_label(unit, fontsize=8)
    bar.ax.tick_params(labelsize=8)
    ax.set_title(f"{task}: {metric} per category", fontsize=10)
    return fig


def _category_bars(task: str, cats: list[str], objs: list[Metric | None], scale: float, unit: str) -> Figure:
    """One card's per-category metric as horizontal bars with 95% intervals, values written at the bar ends."""
    vals = np.array([_metric_triple(o) for o in objs]) * scale
    fig = Figure(figsize=(7.0, 1.2 + 0.32 * len(cats)), layout="constrained")
    ax = fig.add_subplot()
    rows = np.arange(len(cats))
    err = np.nan_to_num(np.vstack([vals[:, 0] - vals[:, 1], vals[:, 2] - vals[:, 0]]))
    ax.barh(rows, np.nan_to_num(vals[:, 0]), 0.7, color="C3", alpha=0.8, xerr=err, capsize=2,
            error_kw={"elinewidth": 0.8, "ecolor": "0.25"})
    right = np.nanmax(vals[:, 2]) if np.isfinite(vals[:, 2]).any() else 1.0
    for r, (v, lo, hi) in enumerate(vals):
        x = 0.0 if math.isnan(v) else (v if math.isnan(hi) else hi)
        text = "n/a" if math.isnan(v) else (f"{v:.1f}" if math.isnan(hi) else f"{v:.1f} [{lo:.1f}, {hi:.1f}]")
        ax.text(x + 0.01 * right, r, text, va="center", fontsize=7)
    ax.set_yticks(rows, [c.replace("_", " ") for c in cats], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, right * 1.3)
    ax.set_xlabel(unit + " (bars: 95% interval)", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    ax.set_title(f"{task}: per category", fontsize=10)
    return fig


# ---------------------------------------------------------------- output


def render(fig: Figure, fmt: str) -> bytes:
    """A figure as PNG or SVG bytes, the same bytes for the same figure (no dates, fixed SVG ids)."""
    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": SVG_SALT}):
        fig.savefig(buf, format=fmt, dpi=DPI, metadata={"Date": None} if fmt == "svg" else None)
    return buf.getvalue()


def _figure_jobs(cards: Sequence[Card], x: Sequence[str] | None = None, x_label: str | None = None,
                 tasks: Sequence[str] = ()) -> dict[str, tuple[Callable[..., Figure | None], tuple[Any, ...]]]:
    """Every plot for these cards, by file stem: the function that draws it and its arguments."""
    labels = card_labels(cards)
    jobs: dict[str, tuple[Callable[..., Figure | None], tuple[Any, ...]]] = {
        "axis_scores": (axis_scores_figure, (cards, labels)), "task_scores": (task_scores_figure, (cards, labels))}
    if len(cards) > 1:
        xs, x_title = x_values(cards, x, x_label)
        jobs["trends"] = (trends_figure, (cards, xs, x_title, tasks))
        jobs["pareto"] = (pareto_figure, (cards, labels))
    for task in category_tasks(cards):
        jobs[f"categories_{task}"] = (categories_figure, (cards, labels, task))
    return jobs


def card_figures(cards: Sequence[Card], x: Sequence[str] | None = None, x_label: str | None = None,
                 tasks: Sequence[str] = ()) -> dict[str, Figure]:
    """Every plot for these cards, by file stem (a plot with nothing to show is left out)."""
    figures = {stem: fn(*args) for stem, (fn, args) in _figure_jobs(cards, x, x_label, tasks).items()}
    return {stem: fig for stem, fig in figures.items() if fig is not None}


def _render_job(job: tuple[str, Callable[..., Figure | None], tuple[Any, ...]]) -> dict[str, bytes]:
    """Draw one plot and render it as PNG and SVG (runs in a worker process)."""
    stem, fn, args = job
    fig = fn(*args)
    return {} if fig is None else {f"{stem}.{fmt}": render(fig, fmt) for fmt in ("png", "svg")}


def render_all(cards: Sequence[Card], x: Sequence[str] | None, x_label: str | None,
               tasks: Sequence[str]) -> dict[str, bytes]:
    """Every plot's files, drawn in parallel on the machine's cores (same bytes as drawn one by one)."""
    jobs = [(stem, fn, args) for stem, (fn, args) in _figure_jobs(cards, x, x_label, tasks).items()]
    workers = min(len(jobs), os.cpu_count() or 1)
    if workers < 2:
        return {name: data for job in jobs for name, data in _render_job(job).items()}
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) as pool:
        return {name: data for files in pool.map(_render_job, jobs) for name, data in files.items()}


def card_images(card: Card) -> list[tuple[str, bytes]]:
    """(caption, PNG bytes) of the single-card plots, for the HTML report."""
    captions = {"axis_scores": "Axis scores", "task_scores": "Task scores"}
    return [(captions.get(stem, stem.replace("categories_", "Per-category results: ")), render(fig, "png"))
            for stem, fig in card_figures([card]).items()]


def check_same_suite(cards: Sequence[Card]) -> None:
    suites = {(c.suite.name, c.suite.version) for c in cards}
    if len(suites) > 1:
        names = ", ".join(f"{n} v{v}" for n, v in sorted(suites))
        raise UserError(f"cards come from different suites ({names}); plot cards of one suite at a time")


def write_plots(cards: Sequence[Card], out: Path, x: Sequence[str] | None = None, x_label: str | None = None,
                tasks: Sequence[str] = ()) -> list[Path]:
    """Render every plot as PNG and SVG into `out`; nothing is written unless all render."""
    if not cards:
        raise UserError("no report cards to plot; pass report_card.json files or run folders")
    check_same_suite(cards)
    known = _tasks_of(cards)
    unknown = [t for t in tasks if t not in known]
    if unknown:
        raise UserError(f"unknown task(s) for --tasks: {', '.join(unknown)}; known: {', '.join(known)}")
    files = render_all(cards, x, x_label, tasks)
    out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        atomic_write_bytes(out / name, data)
    return [out / name for name in files]


def cli_plot(args: argparse.Namespace) -> int:
    cards = [load_card(p)[0] for p in args.cards]
    flagged = [c.run.run_name for c in cards if c.run.demo or c.partial]
    if flagged:
        print(f"warning: {len(flagged)} card(s) are demo or partial runs (e.g. {flagged[0]}); "
              "their scores are not comparable with full runs", file=sys.stderr)
    tasks = [t.strip() for t in (args.tasks or "").split(",") if t.strip()]
    for path in write_plots(cards, Path(args.out), args.x, args.x_label, tasks):
        print(path)
    return 0
