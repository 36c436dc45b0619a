"""Benchmark: `hhh-eval compare`, `hhh-eval plot` and the sweep report over 100 full-size fake runs.

Run: python benchmarks/bench_compare.py [--runs 100] [--real RUN_DIR]. Prints seconds per step; the goal
(issue 11) is compare + plot of 100 real full-suite cards in at most 5 s on a 2-core machine. With --real, the
same is timed on copies of a real run folder (e.g. the tiny model on the full suite), which has corpus metrics
(F1, calibration error) and per-category rows that the fake runs lack. Each copy's per-item scores differ from
the real run's on PERTURBED of the items (answer and correctness flipped, confidence lowered), so every pair is
a real computation: identical copies would let compare reuse one card's statistics for all. The copies' cards
keep the real card's summary values (plots draw those). Last, the sweep report over the same cards as 100 finished
points (comparison, plots, report.html; then again with every point gated under tasks/policies/release.yaml).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from hhh_eval.card import ItemScore, load_card, write_card  # noqa: E402
from hhh_eval.card.io import scores_files_of_text  # noqa: E402
from hhh_eval.cli import main  # noqa: E402
from hhh_eval.compare import compare_runs, to_markdown  # noqa: E402
from hhh_eval.fileio import dumps  # noqa: E402
from hhh_eval.policy import load_policy  # noqa: E402
from hhh_eval.runs import load_run  # noqa: E402
from hhh_eval.sweep.report import write_report  # noqa: E402
from hhh_eval.sweep.spec import SweepSpec  # noqa: E402
from hhh_eval.sweep.state import PointState, SweepState  # noqa: E402
from tests.fakecards import FULL_TASKS, fake_run  # noqa: E402


def timed(label: str, argv: list[str]) -> float:
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    seconds = time.perf_counter() - start
    print(f"{label}: {seconds:.2f} s (exit {code})")
    return seconds


def breakdown(cards: list[str]) -> None:
    """Where compare's time goes: validated cards, per-item scores and tests (forked over the cores), the output;
    then per-item loading alone, on one core."""
    marks = [time.perf_counter()]
    runs = [load_run(c) for c in cards]
    marks.append(time.perf_counter())
    cmp = compare_runs(runs)
    marks.append(time.perf_counter())
    to_markdown(cmp), dumps(cmp.to_json(), indent=2)
    marks.append(time.perf_counter())
    parts = ("load+validate cards", "per-item scores + tests", "format output")
    print("  breakdown: " + ", ".join(f"{name} {b - a:.2f} s" for name, a, b in zip(parts, marks, marks[1:])))
    start = time.perf_counter()
    for r in (load_run(c) for c in cards):
        for task in r.card.tasks:
            r.task_scores(task)
    print(f"  per-item scores alone, one core: {time.perf_counter() - start:.2f} s")


RELEASE_POLICY = Path(__file__).resolve().parents[1] / "tasks" / "policies" / "release.yaml"


def sweep_report(root: Path, policy: Path | None) -> None:
    """Write the sweep report over the run folders in `root` as the finished points of a sweep there (the first
    is the baseline) and print its time; run in a fresh process, so no cache of an earlier step helps."""
    runs = sorted(p for p in root.iterdir() if (p / "report_card.json").is_file())
    points = [PointState(name=r.name, kind="point", labels={}, model=r.name, status="done", run_dir=r.name)
              for r in runs]
    spec = SweepSpec(name="bench", points=[{"name": r.name, "model": r.name} for r in runs])
    state = SweepState(name="bench", sweep_file="bench.yaml", sweep_sha256="0", executor="local",
                       baseline=runs[0].name, x=None, points=points)
    start = time.perf_counter()
    report = write_report(state, root, spec, load_policy(policy) if policy else None, policy)
    gated = sum(v in ("PASS", "FAIL") for v in report.gate.values())
    print(f"sweep report of {len(runs)} points" + (f", {gated} gated under {policy.name}" if policy else "")
          + f", fresh process: {time.perf_counter() - start:.2f} s ({len(report.files)} files)")


def build_runs(root: Path, count: int) -> list[Path]:
    """A checkpoint sweep: run i drifts a little on a few tasks, labelled with its training step."""
    runs = []
    for i in range(count):
        drift = 0.001 * i
        shift = {"pubmedqa": drift, "medqa": drift, "beavertails": -drift / 2, "truthfulqa_mc2": drift / 2}
        runs.append(fake_run(root, f"step{i * 100:05d}", seed=i, n=None, tasks=FULL_TASKS, shift=shift,
                             labels={"step": i * 100}))
    return runs


PERTURBED = 0.05


def _perturbed(row: ItemScore) -> ItemScore:
    """The item answered the other way: 0/1 metrics flipped, other values moved, the choice changed to or from the
    gold one and its confidence lowered."""
    metrics = {m: None if v is None else (1.0 - v if v in (0.0, 1.0) else min(1.0, v + 0.2) if v < 0.5 else v - 0.2)
               for m, v in row.metrics.items()}
    update: dict[str, object] = {"metrics": metrics}
    if row.pred is not None and row.gold is not None and row.confidence is not None:
        update["pred"] = row.gold if row.pred != row.gold else (1 if row.gold == 0 else row.gold - 1)
        update["confidence"] = round(row.confidence * 0.8, 6)
    return row.model_copy(update=update)


def copy_real_runs(root: Path, real: Path, count: int) -> list[Path]:
    """`count` copies of a real run's card and per-item scores, each with its own PERTURBED share of items changed
    (seeded by the copy's number); the card records the new files' sha256."""
    card, _ = load_card(real)
    lines = {t: (real / "scores" / f"{t}.jsonl").read_text().splitlines(keepends=True) for t in card.tasks}
    runs = []
    for i in range(count):
        rng = np.random.default_rng(i)
        run_dir, entries = root / f"copy{i:03d}", {}
        (run_dir / "scores").mkdir(parents=True)
        for task, rows in lines.items():
            changed = list(rows)
            for k in np.flatnonzero(rng.random(len(rows)) < PERTURBED):
                row = _perturbed(ItemScore.model_validate_json(rows[k]))
                changed[k] = dumps(row.model_dump(mode="json")) + "\n"
            files = scores_files_of_text("".join(changed))
            (run_dir / "scores" / f"{task}.jsonl").write_text(files.jsonl)
            (run_dir / "scores" / f"{task}.arrow").write_bytes(files.arrow)
            entries[task] = card.tasks[task].model_copy(update={"scores_sha256": files.jsonl_sha256,
                                                                "scores_arrow_sha256": files.arrow_sha256})
        run = card.run.model_copy(update={"run_name": f"copy{i:03d}"})
        write_card(card.model_copy(update={"tasks": entries, "run": run}), run_dir)
        runs.append(run_dir)
    return runs


def run(count: int, real: Path | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        if real:
            runs = copy_real_runs(root, real, count)
            print(f"copied {real} {count} times ({PERTURBED:.0%} of each copy's items changed) "
                  f"in {time.perf_counter() - start:.1f} s")
        else:
            runs = build_runs(root, count)
            items = sum(t.size for t in FULL_TASKS)
            print(f"built {count} fake runs x {len(FULL_TASKS)} tasks ({items} items each) "
                  f"in {time.perf_counter() - start:.1f} s")
        cards = [str(r) for r in runs]
        compare = timed(f"compare {count} cards, in-process", ["compare", *cards, "--format", "json",
                                                              "--out", str(root / "cmp")])
        breakdown(cards)
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "hhh_eval", "compare", *cards, "--out", str(root / "cmp2")],
                              capture_output=True, text=True)
        print(f"compare {count} cards, subprocess: {time.perf_counter() - start:.2f} s (exit {proc.returncode})")
        plot = timed(f"plot {count} cards, in-process", ["plot", *cards, "--out", str(root / "plots")]
                     + ([] if real else ["--x-label", "step"]))
        print(f"compare + plot: {compare + plot:.2f} s")
        for policy in ([], ["--policy", str(RELEASE_POLICY)]):
            subprocess.run([sys.executable, __file__, "--sweep-report", str(root), *policy], check=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--real", type=Path, help="a real run folder to copy instead of fake runs")
    parser.add_argument("--sweep-report", type=Path, help=argparse.SUPPRESS)  # the sweep report step, own process
    parser.add_argument("--policy", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sweep_report:
        sweep_report(args.sweep_report, args.policy)
    else:
        run(args.runs, args.real)
