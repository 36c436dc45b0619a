"""Plots from fake runs (1 and many cards), the Pareto frontier on hand cases, x values and bad input."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from fakecards import TASKS, fake_card, fake_run
from hhh_eval.card import Card
from hhh_eval.cli import main
from hhh_eval.errors import UserError
from hhh_eval.plots import LABEL_MAX, LEGEND_MAX, card_labels, pareto_frontier, write_plots, x_values

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
    assert sorted(p.name for p in paths) == sorted(f"{s}.{ext}" for s in stems for ext in ("png", "svg"))
    for p in paths:
        if p.suffix == ".png":
            assert p.read_bytes().startswith(PNG_MAGIC)
        else:
            assert ET.parse(p).getroot().tag.endswith("svg")


def test_one_card_gives_the_single_card_plots(tmp_path: Path) -> None:
    card = fake_card("solo", seed=1)
    _check_files(write_plots([card], tmp_path / "out"), SINGLE)


@pytest.mark.parametrize("n_cards", [3, max(LEGEND_MAX, LABEL_MAX) + 5])
def test_many_cards_give_every_plot(tmp_path: Path, n_cards: int) -> None:
    cards = [fake_card(f"ckpt-{i}", seed=i, n=60, labels={"step": 100 * (i + 1)},
                       shift={"pubmedqa": 0.01 * i, "beavertails": 0.01 * i}) for i in range(n_cards)]
    _check_files(write_plots(cards, tmp_path / "out", tasks=["pubmedqa"]), MULTI)


def test_files_are_the_same_bytes_each_time(tmp_path: Path) -> None:
    cards = [fake_card(f"r{i}", seed=i, n=50) for i in range(3)]
    first = {p.name: p.read_bytes() for p in write_plots(cards, tmp_path / "a")}
    second = {p.name: p.read_bytes() for p in write_plots(cards, tmp_path / "b")}
    assert first == second


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
    assert x_values(_cards({}, {}), None, None) == ([1, 2], "card (order given)")


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
    other = fake_run(tmp_path / "runs", "other", seed=9, n=30, suite="other-suite")
    assert main(["plot", str(runs[0]), str(other), "--out", str(tmp_path / "bad")]) == 2
    assert "different suites" in capsys.readouterr().err
