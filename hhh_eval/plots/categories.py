"""Per-category plots of a task with categories (BeaverTails harm rate): bars for one card, a categories x cards
heatmap for more.

Colour says how good a value is, never just how large: a lower-is-better metric (harm_rate) is red, deeper the
worse; a higher-is-better metric is blue, deeper the better, so red never marks a value that is good. The colour
scale is fixed at 0-100% (every card metric lies in [0, 1]), so equal colours mean equal values across plots. A
category with no value is hatched grey and labelled "no data", never drawn as 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import Colormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FixedLocator, MaxNLocator

from hhh_eval.card import Card, Metric
from hhh_eval.plots.common import HEATMAP_ANNOTATE_MAX, metric_triple, tasks_of, thin

NO_DATA = {"facecolor": "0.93", "edgecolor": "0.55", "hatch": "///", "linewidth": 0}
SHADE = (0.12, 0.9)  # the part of the colour map used: 0% is a visible pale tint, 100% the deepest


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
    return [t for t in tasks_of(cards) if any(_category_metrics(c, t) for c in cards)]


def direction_colours(lower_is_better: bool) -> Colormap:
    """The colour map of a metric: reds when lower is better (deeper = worse), blues when higher is better."""
    base = colormaps["Reds" if lower_is_better else "Blues"]
    return base.resampled(256).with_extremes(bad=NO_DATA["facecolor"])


def _shade(cmap: Colormap, percent: float) -> Any:
    return cmap(SHADE[0] + (SHADE[1] - SHADE[0]) * percent / 100.0)


def _legend_text(metric: str, lower_is_better: bool) -> str:
    return (f"{metric} (%), lower is better: deeper red = worse" if lower_is_better
            else f"{metric} (%), higher is better: deeper blue = better")


def categories_figure(cards: Sequence[Card], labels: list[str], task: str) -> Figure:
    """A task's per-category metric: bars with 95% intervals for one card, else a heatmap (categories x cards)."""
    metric = _category_metric(cards, task)
    cats = sorted({cat for c in cards for cat in _category_metrics(c, task)})
    objs = [[_category_metrics(c, task).get(cat, {}).get(metric) for c in cards] for cat in cats]
    lower_better = not next(o.higher_is_better for row in objs for o in row if o)
    if len(cards) == 1:
        return _category_bars(task, metric, cats, [row[0] for row in objs], lower_better)
    grid = np.array([[math.nan if not o or o.value is None else 100.0 * o.value for o in row] for row in objs])
    return _heatmap(task, metric, cats, labels, grid, lower_better)


def _heatmap(task: str, metric: str, cats: list[str], labels: list[str], grid: np.ndarray,
             lower_better: bool) -> Figure:
    n = len(labels)
    fig = Figure(figsize=(min(11.0, 3.8 + 0.6 * n), 1.9 + 0.36 * len(cats) + min(1.6, 0.09 * max(map(len, labels)))),
                 layout="constrained")
    ax = fig.add_subplot()
    cmap = direction_colours(lower_better)
    shaded = np.where(np.isnan(grid), np.nan, SHADE[0] * 100 + (SHADE[1] - SHADE[0]) * grid)
    ax.imshow(shaded, aspect="auto", cmap=cmap, vmin=0, vmax=100, interpolation="nearest")
    missing = np.argwhere(np.isnan(grid))
    for r, k in missing:
        ax.add_patch(Rectangle((k - 0.5, r - 0.5), 1, 1, **NO_DATA))
    if n <= HEATMAP_ANNOTATE_MAX:
        for r in range(len(cats)):
            for k in range(n):
                v = grid[r, k]
                ax.text(k, r, "no data" if math.isnan(v) else f"{v:.1f}", ha="center", va="center",
                        fontsize=8 if n > 8 else 9, color="white" if not math.isnan(v) and v > 55 else "0.1")
    ax.set_yticks(range(len(cats)), [c.replace("_", " ") for c in cats], fontsize=9)
    ticks, names = thin(range(n), labels, 50)
    ax.set_xticks(ticks, names, rotation=0 if n == 1 else (45 if n <= HEATMAP_ANNOTATE_MAX else 90),
                  ha="center" if n == 1 else ("right" if n <= HEATMAP_ANNOTATE_MAX else "center"),
                  fontsize=9 if n <= HEATMAP_ANNOTATE_MAX else 7)
    _percent_colourbar(fig, ax, cmap, _legend_text(metric, lower_better))
    if len(missing):
        fig.legend(handles=[Patch(**NO_DATA, label="no data")], loc="outside lower right", fontsize=8, frameon=False)
    ax.set_title(f"{task}: {metric} per category", fontsize=10)
    return fig


def _percent_colourbar(fig: Figure, ax: Any, cmap: Colormap, title: str) -> None:
    """A 0-100% colour bar showing the shades the cells use."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import ListedColormap, Normalize

    shades = ListedColormap([_shade(cmap, p) for p in np.linspace(0, 100, 256)])
    bar = fig.colorbar(ScalarMappable(norm=Normalize(0, 100), cmap=shades), ax=ax, pad=0.01, fraction=0.05,
                       aspect=35)
    bar.set_ticks(range(0, 101, 20))
    bar.set_label(title, fontsize=9)
    bar.ax.tick_params(labelsize=9)


def _category_bars(task: str, metric: str, cats: list[str], objs: list[Metric | None], lower_better: bool) -> Figure:
    """One card's per-category metric as horizontal bars with 95% intervals, values written at the bar ends."""
    vals = np.array([metric_triple(o) for o in objs]) * 100.0
    fig = Figure(figsize=(8.0, 1.4 + 0.34 * len(cats)), layout="constrained")
    ax = fig.add_subplot()
    rows = np.arange(len(cats))
    cmap = direction_colours(lower_better)
    colours = [NO_DATA["facecolor"] if math.isnan(v) else _shade(cmap, v) for v in vals[:, 0]]
    err = np.nan_to_num(np.vstack([vals[:, 0] - vals[:, 1], vals[:, 2] - vals[:, 0]]))
    ax.barh(rows, np.nan_to_num(vals[:, 0]), 0.7, color=colours, edgecolor="0.35", linewidth=0.5, xerr=err,
            capsize=2, error_kw={"elinewidth": 0.8, "ecolor": "0.25"})
    right = max(10.0, float(np.nanmax(vals[:, 2])) if np.isfinite(vals[:, 2]).any() else 10.0)
    for r, (v, lo, hi) in enumerate(vals):
        x = 0.0 if math.isnan(v) else (v if math.isnan(hi) else hi)
        text = "no data" if math.isnan(v) else (f"{v:.1f}" if math.isnan(hi) else f"{v:.1f} [{lo:.1f}, {hi:.1f}]")
        ax.text(x + 0.01 * right, r, text, va="center", fontsize=9, style="italic" if math.isnan(v) else "normal")
    ax.set_yticks(rows, [c.replace("_", " ") for c in cats], fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0, right * 1.35)  # room for the values written after the bars
    ticks = MaxNLocator(6, steps=[1, 2, 2.5, 5, 10]).tick_values(0, min(right, 100.0))
    ax.xaxis.set_major_locator(FixedLocator([t for t in ticks if t <= 100]))
    ax.set_xlabel(_legend_text(metric, lower_better) + "; lines: 95% intervals", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    ax.set_title(f"{task}: {metric} per category", fontsize=10)
    return fig
