"""Run reports: report.md (Markdown, no plotting) and report.html (one self-contained file with plots and the
sample browser), both built from a report card and naming it by its hash; `hhh-eval report` writes both.

content.py builds the sections once; markdown.py and html.py render them; items.py reads the run folder's items for
the sample browser (browser.js, report.css).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hhh_eval.card import Card, load_card
from hhh_eval.report.content import (UNSCORED_WARN_SHARE, axis_items, card_warnings, fmt_interval, fmt_metric_value,
                                     fmt_score, report_sections, task_items)
from hhh_eval.report.html import REPORT_HTML, html_text, write_html
from hhh_eval.report.markdown import REPORT_MD, markdown_text, write_markdown

__all__ = ["REPORT_HTML", "REPORT_MD", "UNSCORED_WARN_SHARE", "axis_items", "card_warnings", "cli_report",
           "fmt_interval", "fmt_metric_value", "fmt_score", "html_text", "markdown_text", "report_sections",
           "task_items", "write_html", "write_markdown", "write_reports"]


def write_reports(card: Card, run_dir: Path, baseline: Path | None = None) -> list[Path]:
    """report.md and report.html in the run folder (the HTML with changed items against `baseline`, if given)."""
    return [write_markdown(card, run_dir), write_html(card, run_dir, baseline)]


def cli_report(args: argparse.Namespace) -> int:
    card, run_dir = load_card(args.run_dir)
    baseline = Path(args.baseline) if getattr(args, "baseline", None) else None
    if baseline is not None:
        load_card(baseline)  # a bad baseline is a one-line error before anything is written
    for path in write_reports(card, run_dir, baseline):
        print(path)
    return 0
