"""Files derived from a card never describe another card: each names its card's sha256, and writing a card
rebuilds the reports (and exports) and removes checklists and plots built from the previous card."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from fakecards import fake_run
from hhh_eval.card import load_card
from hhh_eval.cli import main
from hhh_eval.derived import card_sha256, refresh_derived
from hhh_eval.fileio import read_json
from hhh_eval.summary import shown_path

PASS_POLICY = Path(__file__).parent / "policies" / "pass.yaml"


def named_hash(run_dir: Path) -> dict[str, str]:
    """The card hash each derived file in the run folder names."""
    found = {}
    patterns = {"report.md": r"Built from report_card.json with sha256 ([0-9a-f]{64})",
                "report.html": r'<meta name="hhh-eval-card-sha256" content="([0-9a-f]{64})">',
                "model-index.yaml": r"^# hhh-eval export of report_card.json sha256 ([0-9a-f]{64})"}
    for name, pattern in patterns.items():
        if (run_dir / name).is_file():
            found[name] = re.search(pattern, (run_dir / name).read_text(encoding="utf-8")).group(1)
    if (run_dir / "lm_eval_results.json").is_file():
        found["lm_eval_results.json"] = read_json(run_dir / "lm_eval_results.json")["hhh_eval"]["card_sha256"]
    if (run_dir / "checklist.json").is_file():
        found["checklist.json"] = read_json(run_dir / "checklist.json")["card_sha256"]
    return found


def derive_everything(run_dir: Path, other: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """What a user derives from a card: reports, exports, a checklist, plots inside the run folder (of this card,
    and of another run only)."""
    assert main(["report", str(run_dir)]) == 0
    assert main(["export", str(run_dir)]) == 0
    assert main(["gate", str(run_dir), "--policy", str(PASS_POLICY)]) in (0, 1)
    assert main(["plot", str(run_dir), str(other), "--out", str(run_dir / "plots")]) == 0
    assert main(["plot", str(other), "--out", str(run_dir / "other-plots")]) == 0
    capsys.readouterr()


def test_a_new_card_rebuilds_reports_and_exports_and_removes_checklist_and_plots(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir, other = fake_run(tmp_path, "r", seed=1, n=40), fake_run(tmp_path, "o", seed=5, n=40)
    derive_everything(run_dir, other, capsys)
    first = card_sha256(run_dir)
    assert set(named_hash(run_dir).values()) == {first} and len(named_hash(run_dir)) == 5
    fake_run(tmp_path, "r", seed=2, n=40)  # re-scored: a new card in the same folder
    card, _ = load_card(run_dir)
    refresh_derived(card, run_dir)
    second = card_sha256(run_dir)
    assert second != first
    assert named_hash(run_dir) == {name: second for name in ("report.md", "report.html", "model-index.yaml",
                                                             "lm_eval_results.json")}
    assert not (run_dir / "checklist.md").exists() and not (run_dir / "checklist.json").exists()
    assert not list((run_dir / "plots").iterdir())
    assert (run_dir / "other-plots" / "plots.json").is_file()  # plots of another card stay
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2
    assert err[0].startswith("removed checklist.md and checklist.json: they checked the previous card; run "
                             f"'hhh-eval gate {run_dir} --policy FILE' again")
    assert err[1].startswith(f"removed 10 plot file(s) in {run_dir / 'plots'}: they show the previous card")


def test_a_checklist_of_the_same_card_stays(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = fake_run(tmp_path, "r", seed=1, n=40)
    main(["gate", str(run_dir), "--policy", str(PASS_POLICY)])
    refresh_derived(load_card(run_dir)[0], run_dir)
    assert (run_dir / "checklist.md").is_file() and "removed" not in capsys.readouterr().err


def test_the_report_keeps_its_baseline_while_it_loads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir, base = fake_run(tmp_path, "r", seed=1, n=40), fake_run(tmp_path, "b", seed=2, n=40)
    assert main(["report", str(run_dir), "--baseline", str(base)]) == 0
    refresh_derived(load_card(run_dir)[0], run_dir)
    assert str(base.resolve()) in (run_dir / "report.html").read_text(encoding="utf-8")
    shutil.rmtree(base)
    capsys.readouterr()
    refresh_derived(load_card(run_dir)[0], run_dir)
    assert str(base.resolve()) not in (run_dir / "report.html").read_text(encoding="utf-8")
    assert f"report.html no longer compares with {base.resolve()}" in capsys.readouterr().err


def test_shown_paths_work_from_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert shown_path(tmp_path / "results" / "run") == "results/run"
    assert shown_path(Path("results/run")) == "results/run"
    assert shown_path(tmp_path.parent / "else where") == f"'{tmp_path.parent / 'else where'}'"


@pytest.mark.integration
def test_first_hour_leaves_no_stale_file(tmp_path: Path, tiny_model: Path, data_dir: Path,
                                         monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """run -> report.html written, next lines usable from here -> export, gate -> re-judge: every derived file
    names the new card or is gone."""
    monkeypatch.chdir(tmp_path)
    argv = ["run", "--model", "hf", "--model-args", f"pretrained={tiny_model}", "--tasks", "beavertails,xstest_unsafe",
            "--limit", "3", "--output-dir", "results", "--data-dir", str(data_dir), "--gen-kwargs", "max_gen_toks=8"]
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    report = Path(next(line for line in out if line.startswith("report: ")).split()[1])
    assert not report.is_absolute() and report.name == "report.html" and report.is_file()
    gate_line = next(line for line in out if "hhh-eval gate" in line).split()
    policy = Path(gate_line[gate_line.index("--policy") + 1])
    assert policy.is_file() and policy.name == "release.yaml"  # the package's policy, from here
    run_dir = report.parent
    assert main(["export", str(run_dir)]) == 0
    assert main(["gate", str(run_dir), "--policy", str(policy)]) == 1  # a 3-item run fails the release policy
    capsys.readouterr()
    assert main(["judge", str(run_dir), "--judge", "xstest-strmatch"]) == 0
    sha = card_sha256(run_dir)
    assert named_hash(run_dir) == {name: sha for name in ("report.md", "report.html", "model-index.yaml",
                                                          "lm_eval_results.json")}
    assert "removed checklist.md and checklist.json" in capsys.readouterr().err
    assert json.loads((run_dir / "lm_eval_results.json").read_text())["hhh_eval"]["partial"] is True
