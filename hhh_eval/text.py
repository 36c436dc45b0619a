"""Text for people: Markdown escaping shared by every Markdown file the tool writes, and Markdown as HTML."""

from __future__ import annotations

import re

_ALWAYS = re.compile(r"[\\`*~$|]")  # code, emphasis, strikethrough, math, table cells
_EDGE_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")  # snake_case stays as written
_LINK = re.compile(r"\][(\[:]|!\[")  # inline links, references, definitions, images
_HEADING_OR_BULLET = re.compile(r"^(\s*)([#+-])(?=#{0,5}(\s|$))")  # at a paragraph's start: "# x", "- x"
_NUMBERED = re.compile(r"^(\s*\d{1,9})([.)])(?=\s|$)")  # "1. x" (not "2.0")


def md_escape(text: str) -> str:
    """Text shown literally in Markdown (and a table cell): model names, labels, system prompts, reasons and
    every other free text can open no link, image, emphasis, code span, heading, list, raw HTML or entity, nor
    end a table cell or a line. Our own numbers and intervals read as written ("[0.1, 0.3]" stays unescaped
    unless the text could form a link)."""
    text = re.sub(r"\r\n|[\r\n]", " ", text)
    text = _ALWAYS.sub(lambda m: "\\" + m.group(0), text)
    text = _EDGE_UNDERSCORE.sub(r"\\_", text)
    if _LINK.search(text):
        text = text.replace("[", "\\[").replace("]", "\\]")
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _HEADING_OR_BULLET.sub(lambda m: m.group(1) + "\\" + m.group(2), text)
    return _NUMBERED.sub(lambda m: m.group(1) + "\\" + m.group(2), text)


def markdown_html(text: str, demote: bool = False) -> str:
    """Markdown (CommonMark with tables) as HTML, by cmark-gfm (the C reference implementation; markdown-it-py took
    17x as long for a 100-point sweep's comparison); raw HTML is left out, so free text must go through md_escape.
    `demote`: headings two levels down, for a document placed under a report's own headings."""
    import cmarkgfm

    if demote:
        text = re.sub(r"^(#+) ", r"##\1 ", text, flags=re.MULTILINE)
    return str(cmarkgfm.markdown_to_html_with_extensions(text, extensions=["table"]))
