"""report.html: one self-contained file. A Content-Security-Policy forbids every fetch, so the page works offline
and loads nothing. It holds the report's sections, the plots (PNG drawn at twice their displayed size, shown at
their natural size so labels stay readable) and the sample browser: every item of every task, its data one
gzip + base64 block that the page decompresses with the browser's DecompressionStream and renders 25 at a time.
Every text is HTML-escaped here or set with textContent by browser.js.
"""

from __future__ import annotations

import base64
import gzip
import html
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from hhh_eval.card import Card
from hhh_eval.derived import card_sha256
from hhh_eval.fileio import atomic_write_text, dumps
from hhh_eval.report.content import Table, built_from, card_warnings, report_sections, report_title, summary_text
from hhh_eval.report.items import BrowserData

if TYPE_CHECKING:
    from hhh_eval.plots.output import PlotImage

REPORT_HTML = "report.html"
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
BASELINE_META = "hhh-eval-baseline"  # the baseline run folder a report compared with (kept by derived.refresh)


def _asset(name: str) -> str:
    return resources.files("hhh_eval.report").joinpath(name).read_text(encoding="utf-8")


def _anchor(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def _table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in table.rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(image: PlotImage) -> str:
    data = base64.b64encode(image.png).decode("ascii")
    caption = html.escape(image.caption)
    return (f'<figure><img alt="{caption}" width="{image.width}" src="data:image/png;base64,{data}">'
            f"<figcaption>{caption}</figcaption></figure>")


def encode_items(data: BrowserData) -> str:
    """The browser's data as strict JSON, gzip-compressed (no timestamp: same bytes each time), base64."""
    raw = dumps(data.to_json()).encode("utf-8")
    return base64.b64encode(gzip.compress(raw, compresslevel=9, mtime=0)).decode("ascii")


def _browser(data: BrowserData) -> str:
    """The Samples section: controls, the item list, the embedded data and the script."""
    n_changed = len(data.changed) if data.changed is not None else None
    intro = ("Every item of every task: the prompt as sent (chat template applied), the model's answer or its "
             "options with log-likelihoods, the target, per-item metrics and the judge's label and reason. Outcome "
             "is the headline metric of the item: correct (better side of 0.5), incorrect, or unscored.")
    mode = ""
    if n_changed is not None:
        intro += (f" Against the baseline {data.baseline}: {n_changed} item(s) changed outcome, paired by document "
                  "hash; show them with 'Items'.")
        mode = ('<label>Items<select id="f-mode"><option value="all">all items</option>'
                f'<option value="changed">changed vs baseline ({n_changed})</option></select></label>')
    notes = (f'<p class="warning">The baseline differs: {html.escape("; ".join(data.baseline_notes))}. Only items '
             "in both runs are paired.</p>") if data.baseline_notes else ""
    missing = "".join(f"<li>{html.escape(t.name)}: {html.escape(t.note)}</li>" for t in data.tasks if t.note)
    return (f'<h2 id="samples">Samples</h2><p>{html.escape(intro)}</p>{notes}'
            + (f"<ul>{missing}</ul>" if missing else "")
            + f'<div id="browser" data-items="{len(data.items)}"><div class="controls">{mode}'
            '<label>Task<select id="f-task"></select></label><label>Category<select id="f-category"></select></label>'
            '<label>Judge label<select id="f-label"></select></label><label>Outcome<select id="f-outcome">'
            '<option value="">any outcome</option><option value="correct">correct</option>'
            '<option value="incorrect">incorrect</option><option value="unscored">unscored</option></select></label>'
            '<label>Search<input id="f-search" type="search" placeholder="prompt, answer, reason, doc id..."></label>'
            f'</div><div id="b-status" aria-live="polite">Loading {len(data.items)} items...</div>'
            '<noscript>The sample browser needs JavaScript.</noscript><div id="b-items"></div><div class="pager">'
            '<button id="b-prev" type="button">Previous</button><span id="b-page"></span>'
            '<button id="b-next" type="button">Next</button></div></div>'
            f'<script type="application/octet-stream" id="b-data">{encode_items(data)}</script>'
            f"<script>{_asset('browser.js')}</script>")


def html_text(card: Card, images: Sequence[PlotImage], card_sha: str | None = None, browser: BrowserData | None = None,
              baseline_dir: Path | None = None) -> str:
    """The report as one HTML document."""
    title = html.escape(report_title(card))
    sections = report_sections(card, card_sha)
    nav = [("Tasks", "tasks")] + ([("Plots", "plots")] if images else []) + \
        ([("Samples", "samples")] if browser else []) + [("Provenance", "provenance")]
    parts = [f"<h1>{title}</h1>", "<nav>" + "".join(f'<a href="#{a}">{t}</a>' for t, a in nav) + "</nav>",
             f"<p>{html.escape(summary_text(card))}</p>", f'<p class="built">{html.escape(built_from(card_sha))}</p>']
    parts += [f'<p class="warning">Warning: {html.escape(w)}</p>' for w in card_warnings(card)]
    for section in sections:
        parts.append(f'<h2 id="{_anchor(section.title)}">{html.escape(section.title)}</h2>')
        parts += [f"<p>{html.escape(p)}</p>" for p in section.paragraphs] + [_table(t) for t in section.tables]
        if section.title == "Tasks" and images:
            parts.append('<h2 id="plots">Plots</h2>')
            parts += [_figure(image) for image in images]
    if browser is not None:
        parts.append(_browser(browser))
    metas = [f'<meta name="hhh-eval-card-sha256" content="{html.escape(card_sha or "")}">']
    if baseline_dir is not None:
        metas.append(f'<meta name="{BASELINE_META}" content="{html.escape(str(baseline_dir))}">')
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">{"".join(metas)}'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>'
            f"<style>{_asset('report.css')}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")


def recorded_baseline(run_dir: Path) -> Path | None:
    """The baseline folder the run's current report.html was built with, if any."""
    path = Path(run_dir) / REPORT_HTML
    if not path.is_file():
        return None
    with open(path, encoding="utf-8", errors="replace") as fh:
        head = fh.read(4096)  # the meta tags come first; the page can be megabytes
    found = re.search(rf'<meta name="{BASELINE_META}" content="([^"]*)">', head)
    return Path(html.unescape(found.group(1))) if found else None


def write_html(card: Card, run_dir: Path, baseline: Path | None = None) -> Path:
    """Write run_dir/report.html atomically: plots and the sample browser (with the items that changed against
    `baseline`, a run folder or card, when given)."""
    from hhh_eval.plots import card_images
    from hhh_eval.report.items import browser_data, with_changes
    from hhh_eval.runs import RunData, load_run

    run = RunData(card, Path(run_dir))
    data = browser_data(run)
    base = load_run(baseline) if baseline is not None else None
    if base is not None:
        data = with_changes(data, run, base)
    path = Path(run_dir) / REPORT_HTML
    base_dir = base.run_dir.resolve() if base is not None and base.run_dir is not None else None
    atomic_write_text(path, html_text(card, card_images(card), card_sha256(run_dir), data, base_dir))
    return path
