"""Sweeps: many checkpoints or merge weights evaluated in one command, each point an ordinary run.

spec (the sweep file) -> points (explicit, checkpoint glob, mergekit grid) -> executors (local or Ray) run each
point (merge.py builds merges) -> state (sweep.json) -> report (comparison, plots, gate) and summary.
Entry points: `hhh-eval sweep` (runner.cli_sweep) and `run_sweep(path, SweepOptions(...))`.
"""
