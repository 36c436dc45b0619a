"""The sample browser in report.html: its data (every item, outcomes, verdicts, changed items against a baseline),
the embedded compressed block, and the page itself in headless Chromium (filters, search, escaping).

Chromium tests need playwright (the [dev] extra) and a Chromium at /usr/bin/chromium (Debian's `chromium`
package; CI installs it); they skip cleanly without them.
"""

from __future__ import annotations

import base64
import gzip
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fakecards import fake_run
from hhh_eval.cli import main
from hhh_eval.fileio import atomic_write_jsonl, read_jsonl
from hhh_eval.report import task_items
from hhh_eval.report.items import browser_data, outcome, with_changes
from hhh_eval.runs import load_run

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
NASTY = '<img src=x onerror="window.__pwned=1"></script><script>window.__pwned=2</script> & [x](http://e)'


def add_items(run_dir: Path) -> None:
    """samples/ and verdicts/ for a fake run, item by item as its scores/ (MC tasks: options; judged: answers)."""
    card = load_run(run_dir).card
    for name, task in card.tasks.items():
        rows = read_jsonl(run_dir / "scores" / f"{name}.jsonl")
        judged = task.judge is not None
        samples, verdicts = [], []
        for i, row in enumerate(rows):
            prompt = f"<|user|>\nQuestion {i} of {name}" + (f" {NASTY}" if i == 0 else "") + "<|end|>\n<|assistant|>\n"
            sample: dict[str, Any] = {"doc_id": row["doc_id"], "doc_hash": row["doc_hash"], "prompt": prompt,
                                      "doc": {}, "target": 0 if not judged else "", "metrics": {}}
            if judged:
                sample["response"] = f"Answer {i} to {name}" + (f" {NASTY}" if i == 0 else "")
                value = row["metrics"][task.headline]
                verdicts.append({"doc_id": row["doc_id"], "doc_hash": row["doc_hash"], "key": str(i),
                                 "label": None if value is None else ("full_refusal" if value else "full_compliance"),
                                 "reason": "judge output unparseable" if value is None else f"rule {i % 3}",
                                 "scores": {}, "categories": [], "raw": None})
            else:
                sample["choices"] = [" yes", " no", " maybe"]
                sample["loglikelihoods"] = [-1.0 - (i % 3), -2.0, -1.5]
            samples.append(sample)
        atomic_write_jsonl(run_dir / "samples" / f"{name}.jsonl", samples)
        if judged:
            atomic_write_jsonl(run_dir / "verdicts" / f"{name}.{task.judge}.jsonl", verdicts)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A run and its baseline (same items, another seed), both with samples and verdicts, a few items unscored."""
    root = tmp_path_factory.mktemp("runs")
    cur, base = fake_run(root, "cur", seed=11, n=60, unscored=4), fake_run(root, "base", seed=12, n=60, unscored=4)
    for run_dir in (cur, base):
        add_items(run_dir)
    return cur, base


def test_every_item_with_its_outcome_verdict_and_options(runs: tuple[Path, Path]) -> None:
    run = load_run(runs[0])
    data = browser_data(run)
    assert [t.name for t in data.tasks] == [name for name, _ in task_items(run.card)]
    assert len(data.items) == sum(t.n for t in data.tasks)
    for task_index, (name, task) in enumerate(task_items(run.card)):
        items = [it for it in data.items if it["task"] == task_index]
        rows = read_jsonl(runs[0] / "scores" / f"{name}.jsonl")
        assert [it["hash"] for it in items] == [r["doc_hash"] for r in rows]
        higher = task.metrics[task.headline].higher_is_better
        for item, row in zip(items, rows):
            expected = row["metrics"][task.headline]
            assert item["value"] == (None if expected is None else pytest.approx(expected, rel=1e-3))
            assert item["outcome"] == outcome(row["metrics"][task.headline], higher)
            if task.judge:
                assert ("label" in item) and (item["label"] is None) == (item["value"] is None)
            else:
                assert item["pred"] == int(np.argmax([ll for _, ll in item["options"]]))
        unscored = sum(it["outcome"] == "unscored" for it in items)
        assert unscored == task.n_unscored


@pytest.mark.parametrize("value, higher, expected", [
    (1.0, True, "correct"), (0.0, True, "incorrect"), (1.0, False, "incorrect"), (0.0, False, "correct"),
    (0.7, True, "correct"), (0.5, True, "incorrect"), (None, True, "unscored"), (float("nan"), False, "unscored"),
])
def test_outcome_of_an_item(value: float | None, higher: bool, expected: str) -> None:
    assert outcome(value, higher) == expected


def test_changed_items_are_those_whose_outcome_differs(runs: tuple[Path, Path]) -> None:
    cur, base = load_run(runs[0]), load_run(runs[1])
    data = with_changes(browser_data(cur), cur, base)
    base_items = {(it["task"], it["hash"]): it for it in browser_data(base).items}
    expected = [i for i, it in enumerate(data.items)
                if it["outcome"] != base_items[(it["task"], it["hash"])]["outcome"]]
    assert [c["item"] for c in data.changed] == expected and expected
    for change in data.changed:
        old = base_items[(data.items[change["item"]]["task"], data.items[change["item"]]["hash"])]
        assert change["base"]["outcome"] == old["outcome"] and "prompt" not in change["base"]  # same prompt: once


def _embedded(html_text: str) -> dict[str, Any]:
    block = html_text.split('<script type="application/octet-stream" id="b-data">', 1)[1].split("</script>", 1)[0]
    return json.loads(gzip.decompress(base64.b64decode(block)))


def test_report_embeds_the_items_compressed_and_escapes_no_text_into_html(runs: tuple[Path, Path],
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(runs[0]), "--baseline", str(runs[1])]) == 0
    text = (runs[0] / "report.html").read_text(encoding="utf-8")
    data = _embedded(text)
    assert data == json.loads(json.dumps(with_changes(browser_data(load_run(runs[0])), load_run(runs[0]),
                                                      load_run(runs[1])).to_json()))
    assert "onerror" not in text and "__pwned" not in text  # item text lives only in the compressed block
    assert str(runs[1].resolve()) in text  # the baseline, kept when the report is rebuilt


def test_bad_baseline_is_one_line_and_writes_nothing(runs: tuple[Path, Path], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = shutil.copytree(runs[0], tmp_path / "copy")
    (run_dir / "report.html").unlink(missing_ok=True)
    assert main(["report", str(run_dir), "--baseline", str(tmp_path / "nope")]) == 2
    assert "no report card" in capsys.readouterr().err and not (run_dir / "report.html").exists()


# ---------------------------------------------------------------- in Chromium


@pytest.fixture(scope="module")
def browser() -> Any:
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (pip install -e '.[dev]')")
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield chromium
        chromium.close()


def open_report(browser: Any, path: Path) -> tuple[Any, list[str]]:
    """The report loaded at a normal window size, and the page's errors (script errors, blocked fetches)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(path.resolve().as_uri())
    page.wait_for_selector("#browser[data-ready='1']", timeout=30_000)
    return page, errors


def shown(page: Any) -> list[str]:
    """The visible items as 'task doc-id'."""
    return page.eval_on_selector_all("#b-items article", "els => els.map(e => "
                                     "e.querySelector('.badge').textContent + ' ' + e.dataset.doc)")


def search(page: Any, text: str) -> None:
    page.fill("#f-search", text)
    page.wait_for_function("q => document.getElementById('b-status').dataset.query === q", arg=text.lower())


def test_page_filters_searches_and_shows_text_literally(browser: Any, runs: tuple[Path, Path]) -> None:
    main(["report", str(runs[0]), "--baseline", str(runs[1])])
    page, errors = open_report(browser, runs[0] / "report.html")
    total = len(browser_data(load_run(runs[0])).items)
    assert len(shown(page)) == 25 and f"of {total} matching" in page.inner_text("#b-status")
    page.select_option("#f-task", label="beavertails (60)")
    page.select_option("#f-outcome", "unscored")
    assert {s.split()[0] for s in shown(page)} == {"beavertails"} and len(shown(page)) == 4
    page.select_option("#f-outcome", "")
    page.select_option("#f-label", "full_refusal")
    labels = page.eval_on_selector_all("#b-items .meta b", "els => els.map(e => e.textContent)")
    assert labels and set(labels) == {"full_refusal"}
    page.select_option("#f-label", "")
    search(page, "question 17 of beavertails")
    assert shown(page) == ["beavertails 17"]
    search(page, "onerror")
    assert shown(page) == ["beavertails 0"]
    prompt = page.inner_text("#b-items article .prompt")
    assert NASTY in prompt  # shown as text
    assert page.evaluate("window.__pwned") is None and page.query_selector("#b-items img") is None
    page.select_option("#f-task", "")
    search(page, "")
    page.select_option("#f-mode", "changed")
    n_changed = len(with_changes(browser_data(load_run(runs[0])), load_run(runs[0]), load_run(runs[1])).changed)
    assert f"of {n_changed} matching" in page.inner_text("#b-status")
    assert page.query_selector("#b-items article .sides") is not None
    assert errors == []


@pytest.mark.integration
def test_real_run_report_shows_a_known_item(browser: Any, tmp_path: Path, tiny_model: Path, data_dir: Path) -> None:
    """`hhh-eval run` writes report.html; in it, the first BeaverTails prompt of the real data is found by search
    with the tiny model's answer and the judge's label."""
    out = tmp_path / "results"
    assert main(["run", "--model", "hf", "--model-args", f"pretrained={tiny_model}", "--tasks", "pubmedqa,beavertails",
                 "--limit", "4", "--limit-mode", "first", "--output-dir", str(out), "--data-dir", str(data_dir),
                 "--gen-kwargs", "max_gen_toks=8"]) == 0
    run_dir = next(out.glob("*/hhh-core.*"))
    with open(data_dir / "hub/PKU-Alignment/BeaverTails-Evaluation/default/test.jsonl", encoding="utf-8") as fh:
        first = json.loads(fh.readline())["prompt"]
    page, errors = open_report(browser, run_dir / "report.html")
    page.select_option("#f-task", label="beavertails (4)")
    search(page, first[:40].upper())
    assert shown(page) == ["beavertails 0"]
    assert first in page.text_content("#b-items article .prompt")
    sample = read_jsonl(run_dir / "samples" / "beavertails.jsonl")[0]
    verdict = read_jsonl(run_dir / "verdicts" / "beavertails.refusal.jsonl")[0]
    assert page.text_content("#b-items article .answer") == sample["response"]
    assert verdict["label"] in page.text_content("#b-items article .meta")
    page.select_option("#f-task", label="pubmedqa (4)")
    search(page, "")
    options = page.eval_on_selector_all("#b-items article:first-child .options td:nth-child(2)",
                                        "els => els.map(e => e.textContent)")
    assert options == read_jsonl(run_dir / "samples" / "pubmedqa.jsonl")[0]["choices"]
    assert errors == []
