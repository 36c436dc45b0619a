"""Benchmark: `hhh-eval sweep` of 4 tiny-model points, local executor vs a local Ray; cached re-run; fingerprints.

Run: python benchmarks/bench_sweep.py [--points 4] [--limit 20] [--gb 4] [--rounds 3] (needs HHH_EVAL_DATA_DIR).
Prints:
- wall time of the sweep (fresh output folder each time) with a local Ray with 2 workers, then `rounds` rounds
  of the local executor and a local Ray with 1 worker, alternating (the best of each is compared: the machine's
  speed drifts more than the effect), the speed-up of 2 workers, and Ray's overhead per point on 1 worker
  against the local executor on the same number of threads (goal <= 5%), with and without Ray's fixed cost:
  a worker given 1 CPU against the local executor with OMP_NUM_THREADS=1, and a worker given 2 CPUs (the sweep
  file's resources) against the local executor as it runs by default on this 2-core machine;
- a fully cached re-run of the sweep (goal < 2 s);
- fingerprint time of a GB-sized checkpoint (created in a temporary folder, deleted after) before and after the
  fingerprint cache.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hhh_eval import identity  # noqa: E402


def sweep_files(folder: Path, points: int, limit: int, data_dir: str) -> tuple[Path, Path]:
    """The sweep, and the same sweep asking for 2 CPUs per point (a Ray worker then runs torch on 2 threads, as the
    local executor does on this machine)."""
    models = [folder / f"tiny-{seed}" for seed in range(points)]
    code = ("import sys; from hhh_eval.tiny_model import build_tiny_model as build; "
            "[build(p, seed) for seed, p in enumerate(sys.argv[1:])]")  # in a subprocess: the tokenizer trainer prints
    subprocess.run([sys.executable, "-c", code, *map(str, models)], cwd=ROOT, capture_output=True, check=True)
    sweep = {"name": "bench", "tasks": ["hhh_helpful", "hhh_harmless", "beavertails"], "limit": limit,
             "gen_kwargs": {"max_gen_toks": 32}, "data_dir": data_dir,
             "points": [{"name": f"seed-{i}", "model": str(m), "labels": {"seed": i}} for i, m in enumerate(models)]}
    path, two_cpus = folder / "bench.yaml", folder / "bench-2cpus.yaml"
    path.write_text(yaml.safe_dump(sweep, sort_keys=False))
    two_cpus.write_text(yaml.safe_dump(sweep | {"resources": {"num_cpus": 2}}, sort_keys=False))
    return path, two_cpus


def timed(label: str, argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{label} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    print(f"  {label:<44}{seconds:7.2f} s", flush=True)
    return seconds


def ray_start_seconds(env: dict[str, str]) -> float:
    """What a Ray sweep pays once, whatever its number of points, timed inside a fresh process: importing Ray,
    starting a local 1-CPU Ray, starting one worker (an empty task) and stopping it all."""
    code = ("import time; t = time.perf_counter(); import logging, ray; ray.init(address='local', num_cpus=1, "
            "include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR); "
            "ray.get(ray.remote(num_cpus=1)(lambda: 0).remote()); ray.shutdown(); print(time.perf_counter() - t)")
    return float(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                check=True).stdout.strip().splitlines()[-1])


RAY1, RAY1_2CPUS, LOCAL, LOCAL_1THREAD = ("Ray, 1 worker (1 CPU)", "Ray, 1 worker (2 CPUs)", "local",
                                          "local, OMP_NUM_THREADS=1")


def executors(paths: tuple[Path, Path], tmp: Path, points: int, rounds: int, env: dict[str, str]) -> Path:
    """Wall times of the executors. The machine's speed drifts by about 10% between runs, more than the effect
    measured, so the local executor and a 1-worker Ray run alternately `rounds` times and the best of each is
    compared (the best run is the one least slowed by the machine). A Ray worker runs torch on as many threads as
    CPUs it is given, so each Ray run is compared with the local executor on the same number of threads."""
    path, two_cpus = paths
    cli = [sys.executable, "-m", "hhh_eval", "sweep"]
    print(f"sweep of {points} tiny-model points (3 tasks), fresh output folder each run:")
    ray2 = timed("Ray, 2 workers (num_cpus=2)", [*cli, str(path), "--executor", "ray", "--ray-num-cpus", "2",
                                                 "--output-dir", str(tmp / "ray2")], env)
    variants = {LOCAL: ([str(path)], env), LOCAL_1THREAD: ([str(path)], env | {"OMP_NUM_THREADS": "1"}),
                RAY1: ([str(path), "--executor", "ray", "--ray-num-cpus", "1"], env),
                RAY1_2CPUS: ([str(two_cpus), "--executor", "ray", "--ray-num-cpus", "2"], env)}
    runs: dict[str, list[float]] = {name: [] for name in variants}
    for r in range(rounds):
        for i, (name, (args, run_env)) in enumerate(variants.items()):
            runs[name].append(timed(f"round {r + 1}: {name}", [*cli, *args, "--output-dir", str(tmp / f"{r}-{i}")],
                                    run_env))
    best = {name: min(times) for name, times in runs.items()}
    start = min(ray_start_seconds(env) for _ in range(rounds))
    print(f"  best of {rounds}: " + ", ".join(f"{name} {t:.2f} s" for name, t in best.items()))
    print(f"  speed-up of Ray with 2 workers over the local executor: {best[LOCAL] / ray2:.2f}x")
    print(f"  Ray's fixed cost (import, local Ray start, one worker start, shutdown; best of {rounds}): {start:.2f} s")
    for ray, local, note in ((RAY1, LOCAL_1THREAD, "1 thread each"), (RAY1_2CPUS, LOCAL, "2 threads each"),
                             (RAY1, LOCAL, "1 thread vs 2: not like for like")):
        base = best[local]
        extra, net = best[ray] - base, best[ray] - start - base
        print(f"  {ray} vs {local} ({note}): {extra / points:+.2f} s per point ({100 * extra / base:+.1f}%); "
              f"without Ray's fixed cost {net / points:+.2f} s per point ({100 * net / base:+.1f}%)  [goal <= 5%]")
    return tmp / "0-0"


def cached_rerun(path: Path, out: Path, env: dict[str, str]) -> None:
    cli = [sys.executable, "-m", "hhh_eval", "sweep", str(path), "--output-dir", str(out)]
    print("fully cached re-run of the local sweep (every point finished, report unchanged):")
    seconds = min(timed(f"re-run {i + 1}", cli, env) for i in range(3))
    print(f"  best of 3: {seconds:.2f} s  [goal < 2 s]")


def fingerprints(gb: int, tmp: Path) -> None:
    ckpt = tmp / "big-checkpoint"
    ckpt.mkdir()
    block = os.urandom(64 << 20)
    with open(ckpt / "model.safetensors", "wb") as fh:
        for _ in range(gb * 16):
            fh.write(block)
    (ckpt / "config.json").write_text("{}")
    time.sleep(identity.RACY_NS / 1e9 + 0.2)  # past the racy window, so the hashes can be cached
    cache = tmp / "fingerprint-cache"
    os.environ[identity.CACHE_DIR_ENV] = str(cache)
    print(f"fingerprint of a {gb} GB checkpoint (file in the page cache):")
    start = time.perf_counter()
    first = identity.fingerprint_dir(ckpt)
    before = time.perf_counter() - start
    start = time.perf_counter()
    second = identity.fingerprint_dir(ckpt)
    after = time.perf_counter() - start
    assert first == second
    print(f"  before the cache (reads every byte): {before:.2f} s ({before / gb:.2f} s per GB)")
    print(f"  after (unchanged files from the cache): {after * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=4)
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--gb", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3, help="alternating local / Ray runs; the best of each counts")
    args = parser.parse_args()
    data_dir = os.environ.get("HHH_EVAL_DATA_DIR")
    if not data_dir:
        sys.exit("set HHH_EVAL_DATA_DIR to the real data (e.g. ../shared/data)")
    tmp = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
                        identity.CACHE_DIR_ENV: str(tmp / "cache")}
    try:
        paths = sweep_files(tmp, args.points, args.limit, data_dir)
        out = executors(paths, tmp, args.points, args.rounds, env)
        cached_rerun(paths[0], out, env)
        fingerprints(args.gb, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
