"""Files derived from a report card never describe another card.

Each derived file names the card it was built from by the sha256 of report_card.json: report.md and report.html
(a line and the provenance table), checklist.md/.json (header `card_sha256`), model-index.yaml and
lm_eval_results.json (a comment, and the `hhh_eval` block), plots (PNG/SVG metadata and plots.json beside them).

Whenever a card is written (a run, a re-run, `hhh-eval judge`), `refresh_derived` brings the run folder in line:
- rebuilt from the run folder alone: report.md and report.html (always; with the same baseline as before, while
  it still loads), and model-index.yaml / lm_eval_results.json when they are there;
- removed, with one line on stderr, where other inputs are needed: checklist.md/.json (a policy and a baseline:
  run the gate again) and plots written into the run folder or a folder inside it (other cards, --x, --tasks:
  run `hhh-eval plot` again).
Files written outside the run folder (export --out, plot --out elsewhere) are not touched; they name their card.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from hhh_eval.card import CARD_NAME, Card
from hhh_eval.fileio import sha256_file

CHECKLISTS = ("checklist.md", "checklist.json")
EXPORTS = ("model-index.yaml", "lm_eval_results.json")
PLOTS_MANIFEST = "plots.json"


def card_sha256(path: str | Path) -> str | None:
    """sha256 of report_card.json, given itself or its run folder; None when there is none."""
    p = Path(path)
    p = p / CARD_NAME if p.is_dir() else p
    return sha256_file(p) if p.is_file() else None


def _say(line: str) -> None:
    print(line, file=sys.stderr)


def _stale_checklist(run_dir: Path, sha: str | None) -> None:
    """Remove checklist.md/.json unless they checked exactly this card."""
    present = [run_dir / n for n in CHECKLISTS if (run_dir / n).is_file()]
    if not present:
        return
    try:
        checked = json.loads((run_dir / "checklist.json").read_text(encoding="utf-8")).get("card_sha256")
    except (OSError, ValueError, AttributeError):
        checked = None
    if checked is not None and checked == sha:
        return
    for p in present:
        p.unlink()
    _say(f"removed {' and '.join(p.name for p in present)}: they checked the previous card; run "
         f"'hhh-eval gate {run_dir} --policy FILE' again")


def _plot_manifests(run_dir: Path) -> list[Path]:
    """plots.json in the run folder and in the folders directly inside it."""
    folders = [run_dir, *(p for p in sorted(run_dir.iterdir()) if p.is_dir() and not p.name.startswith("."))]
    return [f / PLOTS_MANIFEST for f in folders if (f / PLOTS_MANIFEST).is_file()]


def _stale_plots(run_dir: Path, sha: str | None) -> None:
    """Remove plots whose manifest names this run's card with another hash."""
    card = (run_dir / CARD_NAME).resolve()
    for manifest in _plot_manifests(run_dir):
        try:
            doc = json.loads(manifest.read_text(encoding="utf-8"))
            built_from = {(manifest.parent / c["path"]).resolve(): c["sha256"] for c in doc["cards"]}
            files = [manifest.parent / Path(f).name for f in doc["files"]]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if card not in built_from or built_from[card] == sha:
            continue
        removed = [f for f in files if f.is_file()]
        for f in [*removed, manifest]:
            f.unlink()
        _say(f"removed {len(removed)} plot file(s) in {manifest.parent}: they show the previous card; run "
             "'hhh-eval plot' again")


def _usable_baseline(run_dir: Path) -> Path | None:
    """The baseline the current report.html compared with, while its card still loads."""
    from hhh_eval.card import load_card
    from hhh_eval.errors import UserError
    from hhh_eval.report.html import recorded_baseline

    baseline = recorded_baseline(run_dir)
    if baseline is None:
        return None
    try:
        load_card(baseline)
    except UserError as exc:
        _say(f"report.html no longer compares with {baseline} ({exc}); run 'hhh-eval report {run_dir} "
             "--baseline RUN' to compare again")
        return None
    return baseline


def refresh_derived(card: Card, run_dir: Path) -> list[Path]:
    """Call right after writing the run folder's card: rebuild what the folder alone rebuilds, remove the rest
    (see the module doc). Returns the files written."""
    from hhh_eval.export import write_exports
    from hhh_eval.report import write_reports

    run_dir = Path(run_dir)
    sha = card_sha256(run_dir)
    written = write_reports(card, run_dir, _usable_baseline(run_dir))
    if any((run_dir / name).is_file() for name in EXPORTS):
        written += write_exports(card, run_dir, sha)
    _stale_checklist(run_dir, sha)
    _stale_plots(run_dir, sha)
    return written
