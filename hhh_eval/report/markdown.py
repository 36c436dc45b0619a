"""report.md: the card for people as Markdown (fast: no plotting). Every text from the card is escaped."""

from __future__ import annotations

from pathlib import Path

from hhh_eval.card import Card
from hhh_eval.derived import card_sha256
from hhh_eval.fileio import atomic_write_text
from hhh_eval.report.content import Table, built_from, card_warnings, report_sections, report_title, summary_text
from hhh_eval.text import md_escape

REPORT_MD = "report.md"


def _md_table(table: Table) -> str:
    lines = ["| " + " | ".join(md_escape(h) for h in table.headers) + " |", "|" + "---|" * len(table.headers)]
    lines += ["| " + " | ".join(md_escape(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines)


def markdown_text(card: Card, card_sha256: str | None = None) -> str:
    """The report as Markdown; `card_sha256` names the report_card.json it was built from."""
    parts = [f"# {md_escape(report_title(card))}", md_escape(summary_text(card)), md_escape(built_from(card_sha256))]
    parts += [f"> **Warning:** {md_escape(w)}" for w in card_warnings(card)]
    for section in report_sections(card, card_sha256):
        parts.append(f"## {md_escape(section.title)}")
        parts += [md_escape(p) for p in section.paragraphs] + [_md_table(t) for t in section.tables]
    return "\n\n".join(parts) + "\n"


def write_markdown(card: Card, run_dir: Path) -> Path:
    """Write run_dir/report.md atomically, naming the run folder's report_card.json by its hash."""
    path = Path(run_dir) / REPORT_MD
    atomic_write_text(path, markdown_text(card, card_sha256(run_dir)))
    return path
