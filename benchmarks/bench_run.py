"""Benchmark `hhh-eval run` against lm-eval's simple_evaluate alone on the same tasks and items (tiny model).

Prints: wall time of both (fresh processes, same model, tasks, items and settings) and their ratio (goal <= 1.15),
a second cached run (goal < 5% of the first), and `hhh-eval --help` start-up (goal < 1 s).
Usage: python benchmarks/bench_run.py [--limit N] [--data-dir DIR]   (default data: HHH_EVAL_DATA_DIR, else demo items)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TASKS = ("pubmedqa", "truthfulqa_mc2", "beavertails")
BATCH_SIZE = "8"  # hhh-eval's default


def _baseline(model: str, data_dir: str, limit: int) -> None:
    """lm-eval alone: load the model once, run the tasks as hhh-eval does (chat template on generation only)."""
    from lm_eval import simple_evaluate
    from lm_eval.api.registry import get_model
    from lm_eval.tasks import TaskManager

    from hhh_eval.generate import task_config
    from hhh_eval.registry import load_tasks

    specs = load_tasks()
    tm = TaskManager(include_defaults=False)
    lm = get_model("hf").create_from_arg_obj({"pretrained": model, "dtype": "float32"},
                                             {"batch_size": BATCH_SIZE, "device": "cpu"})
    mc = [task_config(specs[t], Path(data_dir)) for t in TASKS if specs[t].output_type != "generate_until"]
    gen = [task_config(specs[t], Path(data_dir)) for t in TASKS if specs[t].output_type == "generate_until"]
    simple_evaluate(model=lm, tasks=mc, limit=limit, task_manager=tm, bootstrap_iters=0)
    simple_evaluate(model=lm, tasks=gen, limit=limit, task_manager=tm, bootstrap_iters=0, apply_chat_template=True)


def _timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--data-dir", default=os.environ.get("HHH_EVAL_DATA_DIR") or str(ROOT / "tasks" / "demo_data"))
    parser.add_argument("--baseline", metavar="MODEL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline:
        return _baseline(args.baseline, args.data_dir, args.limit)

    from hhh_eval.tiny_model import build_tiny_model

    with tempfile.TemporaryDirectory() as tmp:
        model = str(build_tiny_model(Path(tmp) / "tiny"))
        run = [sys.executable, "-m", "hhh_eval", "run", "--model", "hf", "--model-args", f"pretrained={model},dtype=float32",
               "--tasks", ",".join(TASKS), "--limit", str(args.limit), "--limit-mode", "first",  # lm-eval's items
               "--data-dir", args.data_dir,
               "--output-dir", str(Path(tmp) / "out"), "--batch-size", BATCH_SIZE]
        base = _timed([sys.executable, __file__, "--baseline", model, "--limit", str(args.limit), "--data-dir", args.data_dir])
        first = _timed(run)
        cached = _timed(run)
        helps = [_timed([sys.executable, "-m", "hhh_eval", "--help"]) for _ in range(5)]
        console = [_timed(["hhh-eval", "--help"]) for _ in range(5)]
    print(f"tasks {', '.join(TASKS)}; limit {args.limit} per task; batch size {BATCH_SIZE}; data {args.data_dir}")
    print(f"lm-eval simple_evaluate alone : {base:7.2f} s")
    print(f"hhh-eval run (first)          : {first:7.2f} s   ratio {first / base:.3f}  (goal <= 1.15)")
    print(f"hhh-eval run (cached re-run)  : {cached:7.2f} s   {100 * cached / first:.1f}% of first  (goal < 5%)")
    print(f"hhh-eval --help (median of 5) : {statistics.median(console):7.3f} s console script, "
          f"{statistics.median(helps):.3f} s python -m  (goal < 1 s)")


if __name__ == "__main__":
    main()
