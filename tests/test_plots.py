"""Plots from fake runs (1 and many cards), the Pareto frontier on hand cases, x values and bad input."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.patches import Rectangle

from fakecards import TASKS, fake_card, fake_run
from hhh_eval.card import Card
from hhh_eval.cli import main
from hhh_eval.errors import UserError
from hhh_eval.fileio import sha256_file
from hhh_eval.plots import (LABEL_MAX, LEGEND_MAX, MANIFEST, card_figures, card_labels, categories_figure,
                            pareto_figure, pareto_frontier, render_files, trends_figure, write_plots, x_values)
from hhh_eval.plots.categories import NO_DATA
from hhh_eval.plots.output import DPI

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SINGLE = ["axis_scores", "task_scores", "categories_beavertails"]
MULTI = ["axis_scores", "task_scores", "trends", "pareto", "categories_beavertails"]


@pytest.mark.parametrize("points, frontier", [
    ([], []),
    ([(1, 1)], [0]),
    ([(1, 1), (2, 2)], [1]),
    ([(1, 3), (2, 2), (3, 1)], [0, 1, 2]),
    ([(3, 1), (1, 3)], [1, 0]),  # ordered by ascending x
    ([(1, 2), (2, 1), (0.5, 0.5), (1.5, 1.5)], [0, 3, 1]),
    ([(1, 1), (1, 1)], [0, 1]),  # equal points do not beat each other
    ([(1, 2), (1, 1)], [0]),  # same x, higher y wins
    ([(2, 1), (1, 1)], [0]),  # same y, higher x wins
    ([(5, 5), (1, 9), (9, 1), (4, 4), (6, 2)], [1, 0, 4, 2]),
])
def test_pareto_frontier(points: list[tuple[float, float]], frontier: list[int]) -> None:
    assert pareto_frontier(points) == frontier


def _check_files(paths: list[Path], stems: list[str]) -> None:
    expected = [f"{s}.{ext}" for s in stems for ext in ("png", "svg")]
    assert sorted(p.name for p in paths) == sorted([*expected, MANIFEST])
    for p in paths:
        if p.suffix == ".png":
            assert p.read_bytes().startswith(PNG_MAGIC)
        elif p.suffix == ".svg":
            assert ET.parse(p).getroot().tag.endswith("svg")
    assert json.loads(paths[-1].read_text())["files"] == sorted(expected)


def test_one_card_gives_the_single_card_plots(tmp_path: Path) -> None:
    card = fake_card("solo", seed=1)
    _check_files(write_plots([card], tmp_path / "out"), SINGLE)


@pytest.mark.parametrize("n_cards", [3, max(LEGEND_MAX, LABEL_MAX) + 5])
def test_many_cards_give_every_plot(tmp_path: Path, n_cards: int) -> None:
    cards = [fake_card(f"ckpt-{i}", seed=i, n=60, labels={"step": 100 * (i + 1)},
                       shift={"pubmedqa": 0.01 * i, "beavertails": 0.01 * i}) for i in range(n_cards)]
    _check_files(write_plots(cards, tmp_path / "out", tasks=["pubmedqa"]), MULTI)


def test_many_cards_are_dots_on_their_intervals() -> None:
    """Past LEGEND_MAX cards the task plot draws a dot per card and task at its value and a line over its interval,
    in the card's colour; a task missing from a card draws nothing for it (no dot at 0)."""
    from matplotlib.collections import LineCollection, PathCollection

    from hhh_eval.plots import task_scores_figure
    from hhh_eval.plots.common import card_colours, task_interval, tasks_of

    n = LEGEND_MAX + 2
    cards = [fake_card(f"c{i}", seed=i, n=60, shift={"pubmedqa": 0.02 * i}) for i in range(n - 1)]
    cards.append(fake_card("no-pubmedqa", seed=99, n=60, tasks=tuple(t for t in TASKS if t.name != "pubmedqa")))
    ax = task_scores_figure(cards, card_labels(cards)).axes[0]
    tasks = tasks_of(cards)
    (lines,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    (dots,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(dots.get_offsets()) == len(lines.get_segments()) == n * len(tasks) - 1
    colours = card_colours(n)
    drawn = 0
    for i, card in enumerate(cards):
        for k, task in enumerate(tasks):
            value, low, high = task_interval(card, task)
            if np.isnan(value):
                assert card.run.run_name == "no-pubmedqa" and task == "pubmedqa"
                continue
            y = k - 0.4 + 0.8 / n * (i + 0.5)
            assert np.allclose(dots.get_offsets()[drawn], (value, y))
            assert np.allclose(lines.get_segments()[drawn], [(low, y), (high, y)])
            assert np.allclose(dots.get_facecolors()[drawn], colours[i])
            drawn += 1


def test_files_are_the_same_bytes_each_time(tmp_path: Path) -> None:
    cards = [fake_card(f"r{i}", seed=i, n=50) for i in range(3)]
    first = {p.name: p.read_bytes() for p in write_plots(cards, tmp_path / "a") if p.name != MANIFEST}
    second = {p.name: p.read_bytes() for p in write_plots(cards, tmp_path / "b") if p.name != MANIFEST}
    assert first == second


@pytest.mark.parametrize("n_cards", [1, 3])
def test_one_layout_gives_the_png_matplotlib_lays_out_itself(n_cards: int) -> None:
    """render lays each figure out once and saves without a layout engine; its PNG must be the bytes of
    matplotlib's own savefig with constrained layout (a layout at another dpi, or none, changes them)."""
    cards = [fake_card(f"r{i}", seed=i, n=50) for i in range(n_cards)]
    plain = {}
    for stem, fig in card_figures(cards).items():
        assert fig.get_layout_engine() is not None
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI)
        plain[stem] = buf.getvalue()
    for stem, fig in card_figures(cards).items():
        assert render_files(stem, fig)[f"{stem}.png"] == plain[stem], stem
        assert fig.get_layout_engine() is None


def test_no_heatmap_without_categories(tmp_path: Path) -> None:
    tasks = tuple(t for t in TASKS if not t.categories)
    cards = [fake_card(f"r{i}", seed=i, n=50, tasks=tasks) for i in range(2)]
    assert not [p for p in write_plots(cards, tmp_path) if p.name.startswith("categories_")]


def test_pareto_is_skipped_without_both_axes(tmp_path: Path) -> None:
    tasks = tuple(t for t in TASKS if t.axis != "harmlessness")
    cards = [fake_card(f"r{i}", seed=i, n=50, tasks=tasks) for i in range(2)]
    names = {p.stem for p in write_plots(cards, tmp_path)}
    assert "trends" in names and "pareto" not in names


def _cards(*labels: dict[str, Any]) -> list[Card]:
    return [fake_card(f"run{i}", seed=i, n=20, labels=lab) for i, lab in enumerate(labels)]


def test_x_values_come_from_x_then_label_then_order() -> None:
    cards = _cards({"step": 300}, {"step": 100})
    assert x_values(cards, ["5", "7"], "merge weight") == ([5.0, 7.0], "merge weight")
    assert x_values(cards, ["a", "b"], None) == (["a", "b"], "x")
    assert x_values(cards, None, None) == ([300, 100], "step")
    assert x_values(_cards({}, {}), None, None) == (["run0", "run1"], "card (order given)")


def test_x_values_refuse_bad_input() -> None:
    cards = _cards({"step": 1}, {})
    with pytest.raises(UserError, match="one x value per card"):
        x_values(cards, ["1"], None)
    with pytest.raises(UserError, match="no label 'step'"):
        x_values(cards, None, "step")


def test_labels_are_short_and_unique() -> None:
    same_run = [fake_card("hhh-core", seed=i, n=20, model=f"org/model-{i}") for i in range(3)]
    assert card_labels(same_run) == ["model-0", "model-1", "model-2"]
    named = _cards({"name": "base"}, {"name": "merged"})
    assert card_labels(named) == ["base", "merged"]
    assert card_labels(_cards({}, {})) == ["run0", "run1"]


def test_refuses_no_cards_mixed_suites_and_unknown_tasks(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no report cards"):
        write_plots([], tmp_path)
    mixed = [fake_card("a", seed=1, n=20), fake_card("b", seed=2, n=20, suite_version="2")]
    with pytest.raises(UserError, match="different suites"):
        write_plots(mixed, tmp_path)
    with pytest.raises(UserError, match="unknown task"):
        write_plots([fake_card("a", seed=1, n=20)], tmp_path, tasks=["nope"])
    assert not list(tmp_path.iterdir())


def test_cli_plot_prints_files_and_rejects_mixed_suites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = [fake_run(tmp_path / "runs", f"r{i}", seed=i, n=30, labels={"step": i}) for i in range(2)]
    out = tmp_path / "plots"
    assert main(["plot", *map(str, runs), "--out", str(out), "--tasks", "pubmedqa"]) == 0
    printed = capsys.readouterr().out.split()
    assert sorted(printed) == sorted(str(p) for p in out.iterdir())
    manifest = json.loads((out / MANIFEST).read_text())
    assert [c["sha256"] for c in manifest["cards"]] == [sha256_file(r / "report_card.json") for r in runs]
    assert all((out / c["path"]).resolve() == (r / "report_card.json").resolve()
               for c, r in zip(manifest["cards"], runs))
    svg = (out / "axis_scores.svg").read_text()
    assert all(c["sha256"] in svg for c in manifest["cards"])  # every file names its cards
    other = fake_run(tmp_path / "runs", "other", seed=9, n=30, suite="other-suite")
    assert main(["plot", str(runs[0]), str(other), "--out", str(tmp_path / "bad")]) == 2
    assert "different suites" in capsys.readouterr().err


def _with_categories(card: Card, values: dict[str, float | None], higher_is_better: bool) -> Card:
    """The card with beavertails' per-category harm_rate set to `values` (None: no data) and its direction."""
    task = card.tasks["beavertails"]
    template = next(iter(task.categories.values()))["harm_rate"]
    cats = {cat: {"harm_rate": template.model_copy(update={
        "value": v, "ci_low": v, "ci_high": v, "stderr": None if v is None else 0.0,
        "higher_is_better": higher_is_better})} for cat, v in values.items()}
    task = task.model_copy(update={"categories": cats})
    return card.model_copy(update={"tasks": {**card.tasks, "beavertails": task}})


def test_heatmap_scale_is_0_to_100_and_no_data_is_not_zero() -> None:
    cards = [_with_categories(fake_card(f"r{i}", seed=i, n=20), {"a": 0.0, "b": None, "c": 0.0}, False)
             for i in range(2)]
    fig = categories_figure(cards, ["r0", "r1"], "beavertails")
    bar = fig.axes[-1]
    assert bar.get_ylim() == (0.0, 100.0)  # fixed, though every value is 0
    cells = [t.get_text() for t in fig.axes[0].texts]
    assert cells == ["0.0", "0.0", "no data", "no data", "0.0", "0.0"]
    hatched = [p for p in fig.axes[0].patches if isinstance(p, Rectangle) and p.get_hatch() == NO_DATA["hatch"]]
    assert len(hatched) == 2
    image = fig.axes[0].images[0]
    zero, missing = image.to_rgba(image.get_array())[0, 0], image.cmap.get_bad()
    assert not np.allclose(zero, missing)  # 0 is a tint of the scale, no data is grey and hatched


@pytest.mark.parametrize("higher_is_better", [True, False])
def test_category_colours_follow_the_metric_direction(higher_is_better: bool) -> None:
    """Red only where lower is better (deeper = worse); blue where higher is better (red never means good)."""
    card = _with_categories(fake_card("solo", seed=1, n=20), {"a": 0.1, "b": 0.5, "c": 0.9}, higher_is_better)
    fig = categories_figure([card], ["solo"], "beavertails")
    colours = [bar.get_facecolor() for bar in fig.axes[0].patches if bar.get_width() > 0]
    assert len(colours) == 3
    assert all((b > r) if higher_is_better else (r > b) for r, _, b, _ in colours)
    brightness = [sum(c[:3]) for c in colours]
    assert brightness[0] > brightness[1] > brightness[2]  # deeper for larger values, on a fixed 0-100% scale


def test_trends_without_x_show_the_cards_in_order_as_categories() -> None:
    cards = _cards({}, {}, {})
    xs, title = x_values(cards, None, None)
    fig = trends_figure(cards, xs, title, [])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["run0", "run1", "run2"]
    assert ax.get_xlabel() == "card (order given)"


def test_pareto_draws_the_frontier_as_a_line() -> None:
    cards = [fake_card(f"r{i}", seed=i, n=60, shift={"pubmedqa": 0.05 * i, "beavertails": 0.05 * i})
             for i in range(4)]
    fig = pareto_figure(cards, card_labels(cards))
    line = next(line for line in fig.axes[0].lines if line.get_label().startswith("Pareto frontier"))
    points = [(c.axes["helpfulness"].score, c.axes["harmlessness"].score) for c in cards]
    front = pareto_frontier(points)
    assert list(line.get_xdata()) == [points[i][0] for i in front]
    assert list(line.get_ydata()) == [points[i][1] for i in front]


def test_pareto_names_cards_at_one_point_once() -> None:
    cards = [fake_card("same", seed=1, n=60), fake_card("same", seed=1, n=60), fake_card("other", seed=2, n=60)]
    labels = ["a", "b", "c"]
    texts = [t.get_text() for t in pareto_figure(cards, labels).axes[0].texts]
    assert "a (+1 more here)" in texts and "b" not in texts and not any(t.startswith("b ") for t in texts)


def test_plots_drawn_on_all_cores_are_the_bytes_drawn_one_by_one(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    cards = [fake_card(f"r{i}", seed=i, n=50) for i in range(3)]
    forked = {p.name: p.read_bytes() for p in write_plots(cards, tmp_path / "a")}
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    assert {p.name: p.read_bytes() for p in write_plots(cards, tmp_path / "b")} == forked


def test_cli_plot_warns_when_cards_are_over_different_data(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    a = fake_run(tmp_path / "runs", "a", seed=1, n=30)
    b = fake_run(tmp_path / "runs", "b", seed=2, n=40)  # other items: dataset fingerprints differ
    c = fake_run(tmp_path / "runs", "c", seed=3, n=30)
    assert main(["plot", str(a), str(b), str(c), "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err.splitlines()
    warned = [line for line in err if "not comparable" in line]
    assert len(warned) == 1 and warned[0].startswith("warning: b is not comparable with a (")
    assert "different items" in warned[0]
