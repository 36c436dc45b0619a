"""report.md and report.html from fake runs: content derived from the card, warnings, self-contained HTML."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fakecards import fake_run
from hhh_eval.card import Card, load_card
from hhh_eval.cli import main
from hhh_eval.report import (
    UNSCORED_WARN_SHARE,
    fmt_interval,
    fmt_metric_value,
    fmt_score,
    markdown_text,
    write_html,
    write_markdown,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> tuple[Card, Path]:
    """A run without limit, demo or unscored items."""
    return load_card(fake_run(tmp_path_factory.mktemp("runs"), "full", seed=3))


def test_markdown_lists_axis_scores_tasks_and_categories(full: tuple[Card, Path]) -> None:
    card, run_dir = full
    text = write_markdown(card, run_dir).read_text(encoding="utf-8")
    assert text.startswith(f"# hhh-eval report: {card.model.name} / {card.run.run_name}")
    for axis, entry in card.axes.items():
        row = f"| {axis} | {fmt_score(entry.score)} | {fmt_interval(entry.ci_low, entry.ci_high)} |"
        assert row in text
        assert f"{axis} {fmt_score(entry.score)} (95% CI" in text  # the summary paragraph
    for name, task in card.tasks.items():
        headline = task.metrics[task.headline]
        assert f"| {name} | {task.axis} | {task.headline} | {fmt_metric_value(headline)} |" in text
    for category, metrics in card.tasks["beavertails"].categories.items():
        assert f"| {category} | {fmt_metric_value(metrics['harm_rate'])} |" in text
    assert "Warning" not in text


def test_markdown_records_provenance_and_judges(full: tuple[Card, Path]) -> None:
    card, _ = full
    text = markdown_text(card)
    assert f"| Seed | {card.run.seed} |" in text
    assert f"| lm-eval version | {card.harness.lm_eval_version} |" in text
    assert f"| Suite | {card.suite.name} v{card.suite.version} |" in text
    for key, judge in card.judges.items():
        judged = sorted(t for t, task in card.tasks.items() if task.judge == key)
        row = next(line for line in text.splitlines() if line.startswith(f"| {key} | {judge.kind} |"))
        assert all(t in row for t in judged)


def test_markdown_warns_for_demo_partial_and_unscored(tmp_path: Path) -> None:
    card, run_dir = load_card(fake_run(tmp_path, "partial", seed=4, limit=40, unscored=6))
    card = card.model_copy(update={"run": card.run.model_copy(update={"demo": True})})
    text = write_markdown(card, run_dir).read_text(encoding="utf-8")
    warnings = [line for line in text.splitlines() if line.startswith("> **Warning:**")]
    assert any("demo scores mean nothing" in w for w in warnings)
    assert any(f"at most {card.run.limit} items per task" in w for w in warnings)
    unscored = next(w for w in warnings if "UNSCORED" in w)
    for name, task in card.tasks.items():
        assert task.n_unscored / task.n > UNSCORED_WARN_SHARE
        assert f"{name} {task.n_unscored} of {task.n}" in unscored


@pytest.mark.parametrize("unscored, warned", [(10, False), (11, True)])
def test_unscored_warning_starts_above_five_percent(tmp_path: Path, unscored: int, warned: bool) -> None:
    card, _ = load_card(fake_run(tmp_path, "u", seed=5, n=200, unscored=unscored))
    text = markdown_text(card)
    share = 100 * unscored / 200
    assert f"| {unscored} ({share:.1f}%) |" in text  # the count is always in the task table
    assert ("UNSCORED" in text) is warned


def test_report_module_imports_no_matplotlib(full: tuple[Card, Path]) -> None:
    _, run_dir = full
    code = ("import sys; from hhh_eval.card import load_card; from hhh_eval.report import write_markdown; "
            f"write_markdown(*load_card({str(run_dir)!r})); assert 'matplotlib' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_html_is_self_contained_with_embedded_plots(full: tuple[Card, Path]) -> None:
    card, run_dir = full
    text = write_html(card, run_dir).read_text(encoding="utf-8")
    assert not re.search(r"https?://", text)
    assert not re.search(r"<(link|script)\b", text)
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(images) == 3  # axis scores, task scores, beavertails categories
    assert all(base64.b64decode(img).startswith(PNG_MAGIC) for img in images)
    assert re.findall(r"<img [^>]*>", text) and all("data:image/png" in tag for tag in re.findall(r"<img [^>]*>", text))
    for name in card.tasks:
        assert f"<td>{name}</td>" in text


def test_cli_report_writes_both_files(full: tuple[Card, Path], capsys: pytest.CaptureFixture[str]) -> None:
    _, run_dir = full
    assert main(["report", str(run_dir / "report_card.json")]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(run_dir / "report.md"), str(run_dir / "report.html")]
    assert all(Path(p).stat().st_size > 0 for p in printed)


def test_cli_report_refuses_a_folder_without_card(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path)]) == 2
    assert "no report card" in capsys.readouterr().err
    assert not (tmp_path / "report.md").exists()
