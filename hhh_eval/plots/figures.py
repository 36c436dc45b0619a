"""Score plots: axis scores (grouped bars), task scores (one row per task), trends against x and the
helpfulness-vs-harmlessness Pareto plot, all with 95% intervals.

axis_scores: one group per axis, one bar per card (dots with interval lines past LEGEND_MAX cards).
task_scores: one row per task (labels read horizontally at any number of tasks), one bar per card.
trends: axis (and chosen task) scores against x (--x values, a card label such as step, or the cards in the
order given as categories); cards that carry a `series` label are drawn as one line per series.
pareto: helpfulness against harmlessness with interval crosses; the Pareto frontier (higher is better on both) is
a line through its points. Past LABEL_MAX points only the frontier is named.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from hhh_eval.card import Card
from hhh_eval.plots.common import (ANNOTATE_MAX, LABEL_MAX, LEGEND_MAX, axes_of, axis_interval, card_colours,
                                   order_colourbar, shorten, task_interval, tasks_of, thin)
from hhh_eval.registry import AXES


def pareto_frontier(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both coordinates (higher is better), by ascending x.

    A point is dominated when another is at least as good on both and better on one; equal points both stay.
    """
    def dominated(p: tuple[float, float]) -> bool:
        return any(q[0] >= p[0] and q[1] >= p[1] and (q[0] > p[0] or q[1] > p[1]) for q in points)

    return sorted((i for i, p in enumerate(points) if not dominated(p)), key=lambda i: (points[i][0], -points[i][1]))


def _legend_below(fig: Figure, ax: Any, n_cards: int) -> None:
    fig.legend(*ax.get_legend_handles_labels(), fontsize=9, ncols=min(n_cards, 5), loc="outside lower center",
               frameon=False)


def axis_scores_figure(cards: Sequence[Card], labels: list[str]) -> Figure:
    """values[card, axis] as bars (few cards) or dots with interval lines (many), one group per axis."""
    axes = axes_of(cards)
    values = np.array([[axis_interval(c, a) for a in axes] for c in cards])
    n_cards, many = len(labels), len(labels) > LEGEND_MAX
    fig = Figure(figsize=(min(11.0, max(6.0, 1.5 + len(axes) * (0.9 + (0.04 if many else 0.35) * n_cards))), 4.6),
                 layout="constrained")
    ax = fig.add_subplot()
    positions = _card_marks(ax, values, labels, horizontal=False)
    if n_cards <= ANNOTATE_MAX:
        for pos, (v, _, hi) in zip(positions, values.transpose(0, 2, 1)):
            for p, val, top in zip(pos, v, hi):
                y = 1.0 if math.isnan(val) else (val if math.isnan(top) else top) + 1.0
                ax.text(p, y, "no data" if math.isnan(val) else f"{val:.1f}", ha="center", va="bottom", fontsize=9)
    ax.set_xticks(np.arange(len(axes)), axes, fontsize=10)
    ax.set_ylim(0, 105)
    ax.set_ylabel("score (0-100, higher is better)")
    ax.set_title("Axis scores with 95% intervals")
    _grid_and_key(fig, ax, labels, "y")
    return fig


def _card_marks(ax: Any, values: np.ndarray, labels: list[str], horizontal: bool) -> list[np.ndarray]:
    """values[card, group, (value, low, high)] drawn card by card in a slot of every group: bars with interval
    whiskers, or dots with interval lines past LEGEND_MAX cards. Returns each card's positions."""
    n_cards = len(labels)
    slot, centres = 0.8 / n_cards, np.arange(values.shape[1])
    positions = [centres - 0.4 + slot * (i + 0.5) for i in range(n_cards)]
    if n_cards > LEGEND_MAX:
        _dots_with_lines(ax, values, np.array(positions), card_colours(n_cards), horizontal)
        return positions
    width, cap = (0.85, 3.0) if horizontal else (0.9, 4.0)
    err_key = "xerr" if horizontal else "yerr"
    for i, (label, colour) in enumerate(zip(labels, card_colours(n_cards))):
        v, lo, hi = values[i, :, 0], values[i, :, 1], values[i, :, 2]
        (ax.barh if horizontal else ax.bar)(positions[i], np.nan_to_num(v), slot * width, color=colour, label=label,
                                            capsize=min(cap, 10 * cap * slot),
                                            error_kw={"elinewidth": 1, "ecolor": "0.2"},
                                            **{err_key: np.nan_to_num(np.vstack([v - lo, hi - v]))})
    return positions


def _dots_with_lines(ax: Any, values: np.ndarray, positions: np.ndarray, colours: list[Any],
                     horizontal: bool) -> None:
    """values[card, group, (value, low, high)] at positions[card, group]: a dot per value and a line over its
    interval, coloured by card. All cards form one line collection and one set of dots (an errorbar per card took
    0.43 s to build for 100 cards, this 0.05 s); cards later in the order are drawn over earlier ones, lines under
    dots."""
    value, low, high = (values[:, :, k].ravel() for k in range(3))
    pos = positions.ravel()
    colour = np.repeat(np.array(colours), values.shape[1], axis=0)
    shown = ~np.isnan(value)
    spans = shown & ~np.isnan(low) & ~np.isnan(high)
    ends = np.stack([np.column_stack([low, pos]), np.column_stack([high, pos])], axis=1)[spans]
    ax.add_collection(LineCollection(ends if horizontal else ends[:, :, ::-1], colors=colour[spans],
                                     linewidths=0.8))
    xy = (value, pos) if horizontal else (pos, value)
    ax.scatter(xy[0][shown], xy[1][shown], s=2.5 ** 2, c=colour[shown], linewidths=1.0, zorder=2.1)


def _grid_and_key(fig: Figure, ax: Any, labels: list[str], grid_axis: str) -> None:
    """Grid lines behind the marks; which card is which: a colour bar past LEGEND_MAX cards, else a legend."""
    ax.grid(axis=grid_axis, alpha=0.3)
    ax.set_axisbelow(True)
    if len(labels) > LEGEND_MAX:
        order_colourbar(fig, ax, labels, f"card ({len(labels)}, order given)")
    elif len(labels) > 1:
        _legend_below(fig, ax, len(labels))


def _row_height(n_cards: int) -> float:
    if n_cards == 1:
        return 0.4
    return 0.3 + (0.17 * n_cards if n_cards <= LEGEND_MAX else 0.012 * n_cards)


def task_scores_figure(cards: Sequence[Card], labels: list[str]) -> Figure:
    """One row per task (grouped by axis, top to bottom), one bar per card, 0-100 with 95% intervals."""
    tasks = tasks_of(cards)
    axis = {name: t.axis for c in cards for name, t in c.tasks.items()}
    values = np.array([[task_interval(c, t) for t in tasks] for c in cards])
    n_cards = len(labels)
    legend = 0.5 if 1 < n_cards <= LEGEND_MAX else 0.0
    fig = Figure(figsize=(10.0, 1.1 + legend + len(tasks) * _row_height(n_cards)), layout="constrained")
    ax = fig.add_subplot()
    positions = _card_marks(ax, values, labels, horizontal=True)
    if n_cards <= ANNOTATE_MAX:
        for pos, (v, lo, hi) in zip(positions, values.transpose(0, 2, 1)):
            for p, val, low, top in zip(pos, v, lo, hi):
                text = "no data" if math.isnan(val) else (f"{val:.1f}" if math.isnan(top) or n_cards > 1
                                                          else f"{val:.1f} [{low:.1f}, {top:.1f}]")
                x = 0.0 if math.isnan(val) else (val if math.isnan(top) else top)
                ax.text(x + 1.0, p, text, va="center", fontsize=9 if n_cards == 1 else 8)
    ax.set_yticks(np.arange(len(tasks)), [f"{t} ({axis[t]})" for t in tasks], fontsize=10)
    ax.invert_yaxis()
    ax.set_xlim(0, 100 + (22 if n_cards == 1 else 10 if n_cards <= ANNOTATE_MAX else 0))
    ax.set_xticks(range(0, 101, 20))
    ax.set_xlabel("score (0-100, higher is better)")
    ax.set_title("Task scores (headline metric) with 95% intervals")
    _grid_and_key(fig, ax, labels, "x")
    return fig


def _series(cards: Sequence[Card]) -> list[tuple[str, list[int]]]:
    """(name, card indices) per line: by the cards' `series` label, else one line of all cards."""
    keys = [c.run.labels.get("series") for c in cards]
    if all(k is None for k in keys):
        return [("", list(range(len(cards))))]
    order: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        order.setdefault("(no series)" if k is None else str(k), []).append(i)
    return list(order.items())


def _x_axis(ax: Any, numeric: bool, integer: bool, categories: list[Any], title: str) -> None:
    ax.set_xlabel(title)
    if numeric:
        ax.ticklabel_format(axis="x", style="plain", useOffset=False)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=integer))  # few enough to read in a narrow panel
        return
    names = [shorten(str(c), 18) for c in categories]
    ticks, names = thin(range(len(categories)), names, 12)
    flat = len(names) <= 6 and max(map(len, names), default=0) <= 10
    ax.set_xticks(ticks, names, rotation=0 if flat else 40, ha="center" if flat else "right", fontsize=9)
    ax.set_xlim(-0.5, len(categories) - 0.5)


def trends_figure(cards: Sequence[Card], xs: list[Any], x_title: str, tasks: Sequence[str]) -> Figure:
    """One panel per axis and chosen task: score against x, a line with a shaded 95% band per series."""
    panels = [(a, lambda c, a=a: axis_interval(c, a)) for a in axes_of(cards)]
    panels += [(t, lambda c, t=t: task_interval(c, t)) for t in tasks]
    numeric = all(isinstance(v, (int, float)) for v in xs)
    integer = numeric and all(float(v).is_integer() for v in xs)
    categories = list(dict.fromkeys(xs)) if not numeric else []
    pos = np.array(xs if numeric else [categories.index(v) for v in xs], dtype=float)
    series = _series(cards)
    colours = (["C0"] if len(series) == 1 else card_colours(len(series)))
    many = len(series) > LEGEND_MAX
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig = Figure(figsize=(min(11.0, 3.6 * ncols + (1.2 if len(series) > 1 else 0)), 3.3 * nrows + 0.5),
                 layout="constrained")
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
        ax.set_ylabel("score (0-100)")
        ax.grid(alpha=0.3)
        _x_axis(ax, numeric, integer, categories, x_title)
    for ax in grid.flat[len(panels):]:
        ax.set_visible(False)
    if 1 < len(series) <= LEGEND_MAX:
        handles, names = grid.flat[0].get_legend_handles_labels()
        fig.legend(handles, names, loc="outside right upper", fontsize=9, title="series")
    elif many:
        order_colourbar(fig, grid.ravel().tolist(), [name for name, _ in series], f"series ({len(series)})")
    band = f"{len(series)} series, interval bands omitted" if many else "shaded: 95% interval"
    fig.suptitle(f"Scores against {x_title} ({band})")
    return fig


def _crosses(ax: Any, hx: np.ndarray, hy: np.ndarray, mask: np.ndarray, colour: str, ms: float, alpha: float,
             label: str) -> None:
    """Points with their 95% interval crosses (the crosses faint, so the points and the frontier stand out)."""
    if not mask.any():
        return
    xerr = np.nan_to_num(np.vstack([hx[mask, 0] - hx[mask, 1], hx[mask, 2] - hx[mask, 0]]))
    yerr = np.nan_to_num(np.vstack([hy[mask, 0] - hy[mask, 1], hy[mask, 2] - hy[mask, 0]]))
    ax.errorbar(hx[mask, 0], hy[mask, 0], xerr=xerr, yerr=yerr, fmt="none", ecolor="0.55", elinewidth=0.8,
                alpha=0.5, zorder=2)
    ax.plot(hx[mask, 0], hy[mask, 0], "o", ms=ms, color=colour, alpha=alpha, label=label, zorder=3, ls="none")


def pareto_figure(cards: Sequence[Card], labels: list[str]) -> Figure | None:
    """Helpfulness (x) against harmlessness (y) with interval crosses and the frontier as a line; None when no
    card has both."""
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
    small = len(idx) > LABEL_MAX
    _crosses(ax, hx, hy, ~on_front, "C0", 3.5 if small else 5, 0.45 if small else 0.7, "other cards")
    _crosses(ax, hx, hy, on_front, "C3", 4.5 if small else 6, 1.0, "on the frontier")
    ax.plot(hx[front, 0], hy[front, 0], color="C3", lw=2, zorder=2.5, label="Pareto frontier (no card better on both)")
    ax.set_xlabel("helpfulness score (0-100)")
    ax.set_ylabel("harmlessness score (0-100)")
    ax.set_title("Helpfulness vs harmlessness (higher is better on both; lines: 95% intervals)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    skipped = len(cards) - len(idx)
    if skipped or small:
        notes = [f"{skipped} card(s) without both scores left out"] if skipped else []
        notes += ["only frontier points named"] if small else []
        ax.text(0.99, 0.01, "; ".join(notes), transform=ax.transAxes, ha="right", va="bottom", fontsize=8,
                color="0.35")
    named = front if small else list(range(len(idx)))
    points = _one_label_per_point([(hx[j, 0], hy[j, 0], labels[idx[j]]) for j in named])
    _place_labels(fig, ax, points)  # last: needs the final layout
    return fig


def _one_label_per_point(points: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """Cards at the same coordinates (e.g. a merge at weight 0 and its source model) share one label."""
    groups: dict[tuple[float, float], list[str]] = {}
    for x, y, text in points:
        groups.setdefault((x, y), []).append(text)
    return [(x, y, names[0] + (f" (+{len(names) - 1} more here)" if len(names) > 1 else ""))
            for (x, y), names in groups.items()]


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
