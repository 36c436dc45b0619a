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
    from hhh_eval.pipeline import check_writable
    from hhh_eval.run_command import config_from_args, finish_cli_run
    from hhh_eval.tiny_model import build_tiny_model

    check_writable(Path(args.output_dir))
    model_dir = build_tiny_model(demo_model_dir(Path(args.output_dir)))
    if not (args.data_dir or os.environ.get(DATA_DIR_ENV)):
        args.data_dir = str(tasks_dir() / "demo_data")
    config = config_from_args(args, "hf", {"pretrained": str(model_dir), "dtype": "float32"}, demo=True)
    return finish_cli_run(args, config)
