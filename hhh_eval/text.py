"""Text for people: Markdown escaping shared by every Markdown file the tool writes."""

from __future__ import annotations


def md_escape(text: str) -> str:
    """Text safe inside Markdown (and a table cell): no raw HTML, pipes or line breaks from model names,
    labels, prompts or reasons."""
    return (text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\n", " "))
