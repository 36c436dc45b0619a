"""`hhh-eval demo`: the whole pipeline offline on a tiny locally built model; the scores mean nothing."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from hhh_eval.datadir import DATA_DIR_ENV
from hhh_eval.registry import tasks_dir


def demo_model_dir(output_dir: Path) -> Path:
    return output_dir / ".cache" / "tiny-model"


def cli_demo(args: argparse.Namespace) -> int:
    """Check every option first (suite, data dir, judge, policy...), then build the tiny model, then run."""
    from hhh_eval.pipeline import check_inputs, check_writable
    from hhh_eval.run_command import check_gate_args, config_from_args, finish_cli_run
    from hhh_eval.tiny_model import build_tiny_model

    if not (args.data_dir or os.environ.get(DATA_DIR_ENV)):
        args.data_dir = str(tasks_dir() / "demo_data")
    model_dir = demo_model_dir(Path(os.path.normpath(args.output_dir)))
    config = config_from_args(args, "hf", {"pretrained": str(model_dir), "dtype": "float32"}, demo=True)
    check_gate_args(args, check_inputs(config).registry)
    check_writable(Path(args.output_dir))
    build_tiny_model(model_dir)
    return finish_cli_run(args, config)
