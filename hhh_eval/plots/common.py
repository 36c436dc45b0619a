"""What every plot shares: card labels, intervals read off cards, x values for trends, colours and tick thinning."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from hhh_eval.card import Card, Metric
from hhh_eval.errors import UserError
from hhh_eval.registry import AXES

LEGEND_MAX = 10  # cards (bars) or series (trends) drawn with a legend; more get a colour map
ANNOTATE_MAX = 4  # cards whose values are written on the bars
LABEL_MAX = 20  # scatter points all named; more: only the frontier
HEATMAP_ANNOTATE_MAX = 24  # card columns with values written in the cells
MAX_TICKS = 30
LABEL_CHARS = 24
ORDER_TITLE = "card (order given)"


def shorten(text: str, limit: int = LABEL_CHARS) -> str:
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
        labels = [shorten(strategy(c)) for c in cards]
        if all(labels) and len(set(labels)) == len(labels):
            return labels
    return [f"{i + 1}:{shorten(model_short(c), LABEL_CHARS - 4)}" for i, c in enumerate(cards)]


def triple(*values: float | None) -> tuple[float, float, float]:
    """(value, low, high) as floats, NaN where absent."""
    return tuple(math.nan if v is None else float(v) for v in values)  # type: ignore[return-value]


def axis_interval(card: Card, axis: str) -> tuple[float, float, float]:
    a = card.axes.get(axis)  # type: ignore[call-overload]
    return triple(None, None, None) if a is None else triple(a.score, a.ci_low, a.ci_high)


def task_interval(card: Card, task: str) -> tuple[float, float, float]:
    t = card.tasks.get(task)
    return triple(None, None, None) if t is None else triple(t.score.value, t.score.ci_low, t.score.ci_high)


def metric_triple(m: Metric | None) -> tuple[float, float, float]:
    return triple(None, None, None) if m is None else triple(m.value, m.ci_low, m.ci_high)


def axes_of(cards: Sequence[Card]) -> list[str]:
    return [a for a in AXES if any(a in c.axes for c in cards)]


def tasks_of(cards: Sequence[Card]) -> list[str]:
    """Every task of the cards, grouped by axis in AXES order, first-seen order within an axis."""
    seen: dict[str, str] = {}
    for c in cards:
        for name, t in c.tasks.items():
            seen.setdefault(name, t.axis)
    return sorted(seen, key=lambda t: AXES.index(seen[t]))


def x_values(cards: Sequence[Card], x: Sequence[str] | None, x_label: str | None) -> tuple[list[Any], str]:
    """x per card and the axis title: --x values in order, else the card label x_label (or step), else the cards'
    labels in the order given (categories, not numbers)."""
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
    return card_labels(cards), ORDER_TITLE


def card_colours(n: int) -> list[Any]:
    if n <= LEGEND_MAX:
        return [colormaps["tab10"](i) for i in range(n)]
    cmap = colormaps["viridis"]
    return [cmap(i / max(n - 1, 1)) for i in range(n)]


def thin(positions: Sequence[float], labels: Sequence[str], limit: int = MAX_TICKS) -> tuple[list[float], list[str]]:
    step = max(1, math.ceil(len(labels) / limit))
    return list(positions[::step]), list(labels[::step])


def order_colourbar(fig: Figure, ax: Any, labels: Sequence[str], title: str) -> None:
    """A colour bar that maps viridis colour to card order, ticked with a few card labels."""
    n = len(labels)
    sm = ScalarMappable(norm=Normalize(0, n - 1), cmap=colormaps["viridis"])
    bar = fig.colorbar(sm, ax=ax, pad=0.01, fraction=0.04)
    ticks = sorted({round(i * (n - 1) / 5) for i in range(6)})
    bar.set_ticks(ticks)
    bar.set_ticklabels([labels[i] for i in ticks], fontsize=8)
    bar.set_label(title, fontsize=9)
