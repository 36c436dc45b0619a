"""Where a task's data comes from: a hub dataset (id, config, split), mapped to DIR/hub/<org>/<name>/<config>/<split>.jsonl
when a data dir is given, or local files the task names itself (dataset_path json/csv/parquet with data_files)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hhh_eval.errors import UserError
from hhh_eval.fileio import read_jsonl

DATA_DIR_ENV = "HHH_EVAL_DATA_DIR"
SPLIT_KEYS = ("training_split", "validation_split", "test_split", "fewshot_split")
LOCAL_LOADERS = ("json", "csv", "parquet", "text")  # datasets' loaders of local files, named as dataset_path


def resolve_data_dir(arg: str | None) -> Path | None:
    """The data dir from --data-dir, else HHH_EVAL_DATA_DIR, else None (load from the hub)."""
    raw = arg or os.environ.get(DATA_DIR_ENV) or None
    if raw is None:
        return None
    path = Path(raw).expanduser().resolve()
    if not (path / "hub").is_dir():
        raise UserError(
            f"data dir {path} has no 'hub' folder; expected the layout DIR/hub/<org>/<name>/<config>/<split>.jsonl"
        )
    return path


def local_file(data_dir: Path, dataset_path: str, config: str | None, split: str) -> Path:
    """The JSONL file that holds one split of a hub dataset in a data dir."""
    return data_dir / "hub" / dataset_path / (config or "default") / f"{split}.jsonl"


def check_data_file(path: Path) -> None:
    """A data-dir split is UTF-8 JSONL of objects; a bad line is a UserError naming the file, line and fix.

    `datasets` would fail on it mid-run with a long traceback, after the run folder was made.
    """
    read_jsonl(path, "data file", "restore the file from its source (one JSON object per line)")


def dataset_config(cfg: dict[str, Any]) -> str | None:
    """The hub config of a task's dataset: dataset_name, else a data_dir inside the repo (e.g. hh-rlhf's)."""
    return cfg.get("dataset_name") or (cfg.get("dataset_kwargs") or {}).get("data_dir")


def task_splits(cfg: dict[str, Any]) -> list[str]:
    """The dataset splits a task config names (train/validation/test/fewshot), without repeats."""
    return list(dict.fromkeys(cfg[k] for k in SPLIT_KEYS if cfg.get(k)))


def local_data_files(cfg: dict[str, Any], base_dir: Path) -> dict[str, Path] | None:
    """split -> file of a task that loads local files (paths relative to the task file's folder `base_dir`);
    None for a hub dataset."""
    if cfg.get("dataset_path") not in LOCAL_LOADERS:
        return None
    files = (cfg.get("dataset_kwargs") or {}).get("data_files")
    if isinstance(files, str):
        files = {"train": files}  # as datasets names a single file's split
    if not isinstance(files, dict) or not files or not all(isinstance(v, str) for v in files.values()):
        raise UserError(f"task {cfg.get('task')}: dataset_path {cfg['dataset_path']} loads local files; give "
                        "dataset_kwargs.data_files as a mapping of split to file, e.g. {test: prompts.csv}")
    return {str(split): (base_dir / Path(p).expanduser()).resolve() for split, p in files.items()}


def apply_data_dir(cfg: dict[str, Any], data_dir: Path | None, base_dir: Path = Path()) -> dict[str, Any]:
    """Return a copy of an lm-eval task config that loads its splits from the data dir's JSONL files, or, for a task
    of local files, from those files (resolved against the task file's folder `base_dir`)."""
    local = local_data_files(cfg, base_dir)
    if local is not None:
        if missing := [str(p) for p in local.values() if not p.is_file()]:
            raise UserError(f"task {cfg['task']}: data file {missing[0]} not found; fix dataset_kwargs.data_files")
        kwargs = cfg.get("dataset_kwargs") or {}
        return {**cfg, "dataset_kwargs": {**kwargs, "data_files": {s: str(p) for s, p in local.items()}}}
    if data_dir is None:
        return dict(cfg)
    dataset = cfg["dataset_path"]
    files = {s: local_file(data_dir, dataset, dataset_config(cfg), s) for s in task_splits(cfg)}
    for split, path in files.items():
        if not path.is_file():
            raise UserError(
                f"data dir has no split '{split}' of {dataset} for task {cfg['task']}: expected file {path}"
            )
    kwargs = {k: v for k, v in (cfg.get("dataset_kwargs") or {}).items() if k not in ("data_files", "data_dir")}
    return {
        **cfg,
        "dataset_path": "json",
        "dataset_name": None,
        "dataset_kwargs": {**kwargs, "data_files": {s: str(p) for s, p in files.items()}},
    }
