"""Benchmark: `hhh-eval compare` (and `hhh-eval plot`, where present) over 100 full-size fake runs.

Run: python benchmarks/bench_compare.py [--runs 100] [--real RUN_DIR]. Prints seconds per step; the goal
(issue 11, not met yet) is compare + plot of 100 real full-suite cards in at most 5 s on a 2-core machine. With
--real, the same is timed on copies of a real run folder (its card and per-item scores, e.g. the tiny model on
the full suite), which has corpus metrics (F1, calibration error) and per-category rows that the fake runs lack.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hhh_eval.cli import main  # noqa: E402
from hhh_eval.compare import compare_runs, to_markdown  # noqa: E402
from hhh_eval.fileio import dumps  # noqa: E402
from hhh_eval.runs import load_run  # noqa: E402
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


def build_runs(root: Path, count: int) -> list[Path]:
    """A checkpoint sweep: run i drifts a little on a few tasks, labelled with its training step."""
    runs = []
    for i in range(count):
        drift = 0.001 * i
        shift = {"pubmedqa": drift, "medqa": drift, "beavertails": -drift / 2, "truthfulqa_mc2": drift / 2}
        runs.append(fake_run(root, f"step{i * 100:05d}", seed=i, n=None, tasks=FULL_TASKS, shift=shift,
                             labels={"step": i * 100}))
    return runs


def copy_real_runs(root: Path, real: Path, count: int) -> list[Path]:
    """`count` copies of a real run's card and per-item scores (the work per card is what a real sweep costs)."""
    runs = []
    for i in range(count):
        run_dir = root / f"copy{i:03d}"
        shutil.copytree(real / "scores", run_dir / "scores")
        shutil.copy(real / "report_card.json", run_dir / "report_card.json")
        runs.append(run_dir)
    return runs


def run(count: int, real: Path | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        if real:
            runs = copy_real_runs(root, real, count)
            print(f"copied {real} {count} times in {time.perf_counter() - start:.1f} s")
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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--real", type=Path, help="a real run folder to copy instead of fake runs")
    args = parser.parse_args()
    run(args.runs, args.real)
