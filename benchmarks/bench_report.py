"""Benchmark report.html on a real run folder: build time, file size (and the embedded item block's), and how long
headless Chromium takes until the sample browser is ready, then to filter and to search.

Run: python benchmarks/bench_report.py RUN_DIR [--baseline OTHER_RUN] [--repeat 3]. The report is written into a
copy of the run folder (the run itself is not touched). Needs playwright and Chromium at /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hhh_eval.card import load_card  # noqa: E402
from hhh_eval.report import write_reports  # noqa: E402

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


# in-page timings: a filter change re-filters and renders at once; a search runs after a 150 ms typing pause
FILTER = """() => { const s = document.getElementById('f-outcome'), t = performance.now(); s.value = 'incorrect';
  s.dispatchEvent(new Event('change')); return performance.now() - t; }"""
SEARCH = """() => new Promise((done) => { const i = document.getElementById('f-search');
  const status = document.getElementById('b-status'); i.value = 'the'; const t = performance.now();
  i.dispatchEvent(new Event('input'));
  const poll = () => status.dataset.query === 'the' ? done(performance.now() - t - 150) : setTimeout(poll, 2);
  poll(); })"""


def _copy(run_dir: Path, into: Path) -> Path:
    target = into / run_dir.name
    shutil.copytree(run_dir, target, ignore=shutil.ignore_patterns("report.*"))
    return target


def build(run_dir: Path, baseline: Path | None) -> Path:
    start = time.perf_counter()
    card, _ = load_card(run_dir)
    html = write_reports(card, run_dir, baseline)[1]
    text = html.read_text(encoding="utf-8")
    block = text.split('id="b-data">', 1)[1].split("</script>", 1)[0]
    print(f"build: {time.perf_counter() - start:.2f} s  report.html {html.stat().st_size / 1e6:.2f} MB "
          f"(item block {len(block) / 1e6:.2f} MB base64)")
    return html


def browse(html: Path, repeat: int) -> None:
    from playwright.sync_api import sync_playwright

    ready, filtered, searched = [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
        for _ in range(repeat):
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(html.resolve().as_uri())
            page.wait_for_selector("#browser[data-ready='1']", timeout=120_000)
            ready.append(int(page.get_attribute("#browser", "data-ready-ms")) / 1000)
            filtered.append(page.evaluate(FILTER) / 1000)
            searched.append(page.evaluate(SEARCH) / 1000)
            items = page.get_attribute("#browser", "data-items")
            page.close()
        browser.close()
    print(f"chromium: {items} items; ready after {statistics.median(ready):.2f} s (median of {repeat}, from "
          f"navigation start); filter {statistics.median(filtered) * 1000:.0f} ms; first search (builds the "
          f"search text) {statistics.median(searched) * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--baseline", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        html = build(_copy(args.run_dir, Path(tmp)), args.baseline)
        browse(html, args.repeat)


if __name__ == "__main__":
    main()
