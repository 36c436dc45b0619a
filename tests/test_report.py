"""report.md and report.html from fake runs: content derived from the card, warnings, self-contained HTML."""

from __future__ import annotations

import base64
import html
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fakecards import FULL_TASKS, fake_run
from hhh_eval.card import Card, load_card
from hhh_eval.cli import main
from hhh_eval.fileio import sha256_file
from hhh_eval.plots.output import CSS_PX_PER_INCH
from hhh_eval.report import (
    UNSCORED_WARN_SHARE,
    fmt_interval,
    fmt_metric_value,
    fmt_score,
    html_text,
    markdown_text,
    write_html,
    write_markdown,
)
from hhh_eval.report.html import CSP

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PAGE_WIDTH = 1168  # CSS px of report.html's content column (1200 px less padding)


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
    assert not re.search(r"<link\b|<script[^>]*\bsrc=", text)  # scripts are inline, nothing is fetched
    assert f'content="{CSP}"' in text and "default-src 'none'" in CSP
    images = re.findall(r'<img [^>]*width="(\d+)" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(images) == 3  # axis scores, task scores, beavertails categories
    assert len(re.findall(r"<img [^>]*>", text)) == 3
    for width, data in images:
        png = base64.b64decode(data)
        assert png.startswith(PNG_MAGIC)
        pixels = int.from_bytes(png[16:20], "big")  # IHDR width
        assert int(width) <= PAGE_WIDTH and pixels == pytest.approx(2 * int(width), abs=2)  # drawn at 2x, shown 1:1
    for name in card.tasks:
        assert f"<td>{name}</td>" in text


def test_report_plots_keep_labels_readable_at_their_displayed_size(tmp_path: Path) -> None:
    """13 tasks: the task plot is shown at its drawn width (no shrinking), every label at least 11 px high."""
    from hhh_eval.plots import card_figures

    card, _ = load_card(fake_run(tmp_path, "all", seed=3, n=40, tasks=FULL_TASKS))
    for stem, fig in card_figures([card]).items():
        assert fig.get_figwidth() * CSS_PX_PER_INCH <= PAGE_WIDTH, stem
        fig.draw_without_rendering()
        texts = [t for ax in fig.axes for t in (*ax.get_xticklabels(), *ax.get_yticklabels(), *ax.texts)
                 if t.get_text()]
        assert texts and min(t.get_fontsize() for t in texts) * CSS_PX_PER_INCH / 72 >= 11, stem


def test_both_reports_name_the_card_they_were_built_from(full: tuple[Card, Path]) -> None:
    card, run_dir = full
    sha = sha256_file(run_dir / "report_card.json")
    md, html_file = write_markdown(card, run_dir), write_html(card, run_dir)
    assert f"Built from report_card.json with sha256 {sha}." in md.read_text(encoding="utf-8")
    text = html_file.read_text(encoding="utf-8")
    assert f'<meta name="hhh-eval-card-sha256" content="{sha}">' in text and f"<td>{sha}</td>" in text


@pytest.mark.parametrize("source, says, never", [
    ("demo", "the shipped sample items", "real data"),
    ("data_dir", "the real data (from a data dir)", "sample items"),
    ("hub", "the real data (from the hub)", "sample items"),
])
def test_demo_warning_names_the_data_the_demo_ran_on(full: tuple[Card, Path], source: str, says: str,
                                                     never: str) -> None:
    card = full[0]
    card = card.model_copy(update={"run": card.run.model_copy(update={"demo": True, "data_source": source})})
    for text in (markdown_text(card), html_text(card, [])):
        warning = next(line for line in text.splitlines() if "DEMO RUN" in line)
        assert says in warning and never not in warning


NASTY = {"model": "[win](http://evil.example) **org**/model_", "label": "<script>alert(1)</script>",
         "system": "# You are | a *helpful*\nassistant `x` ~~y~~ $5 & ![i](data:x)"}


def test_markdown_shows_every_free_text_literally(full: tuple[Card, Path]) -> None:
    """Model name, labels, system prompt and run name render as the same text, opening no link, emphasis, code,
    heading or HTML, and keep every table row intact."""
    markdown_it = pytest.importorskip("markdown_it")
    card = full[0]
    card = card.model_copy(update={
        "model": card.model.model_copy(update={"name": NASTY["model"], "system_prompt": NASTY["system"]}),
        "run": card.run.model_copy(update={"labels": {"name": NASTY["label"]}, "run_name": "run_*1*"})})
    rendered = markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown_text(card))
    assert not re.findall(r"<(a|img|em|strong|code|script|del|h1|ul|ol)\b", rendered.split("</h1>", 1)[1])
    page = html.unescape(re.sub(r"<[^>]+>", "", rendered))
    for text in (*NASTY.values(), "run_*1*"):
        assert text.replace("\n", " ") in page
    rows = [line for line in markdown_text(card).splitlines() if line.startswith("| ")]
    assert all(len(re.findall(r"(?<!\\)\|", row)) == len(re.findall(r"(?<!\\)\|", rows[0])) for row in rows[:4])


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
