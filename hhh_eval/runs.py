"""A finished run as compare, plots and gates see it: its typed report card and, on demand, per-item scores.

scores/<task>.jsonl rows are hhh_eval.card.ItemScore objects (null metric = unscored). They are read column by
column with pyarrow's JSON reader (a 12k-item run loads in milliseconds) and checked against the sha256 the
card recorded for them, so a card is never read with scores from another scoring.
Items are matched across runs by doc_hash (a hash that repeats within a task is matched by its occurrence order).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from hhh_eval.card import Card, ItemScore, load_card
from hhh_eval.card.io import scores_text
from hhh_eval.errors import UserError
from hhh_eval.fileio import sha256_bytes
from hhh_eval.stats import Predictions

SCORES_DIR = "scores"


@dataclass(frozen=True)
class TaskScores:
    """One task's per-item values as columns: per metric a float array with NaN where unscored, multiple-choice
    predictions (NaN where an item has none), and the string columns (doc_hash, category, cluster) kept as Arrow
    arrays, turned into Python strings only when asked for (a comparison needs the baseline's, not every card's)."""

    doc_hashes: Any  # pyarrow array of doc_hash per item
    metrics: dict[str, np.ndarray]
    category_column: Any  # pyarrow array (null = no category)
    cluster_column: Any  # pyarrow array of cluster keys
    pred: np.ndarray | None = None
    gold: np.ndarray | None = None
    confidence: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.doc_hashes)

    @cached_property
    def keys(self) -> tuple[str, ...]:
        """Item keys: the doc_hash, with '#k' on the k-th repeat of a hash (see unique_keys)."""
        return unique_keys(self.doc_hashes.to_pylist())

    @cached_property
    def categories(self) -> tuple[str | None, ...]:
        return tuple(self.category_column.to_pylist())

    @cached_property
    def clusters(self) -> np.ndarray:
        """Cluster key per item (a read-only object array)."""
        keys = np.array(self.cluster_column.to_pylist(), dtype=object)
        keys.flags.writeable = False
        return keys

    @cached_property
    def position(self) -> dict[str, int]:
        return {k: i for i, k in enumerate(self.keys)}

    def same_items(self, other: TaskScores) -> bool:
        """Both have the same items in the same order (equal doc_hash columns, compared without Python strings)."""
        return len(self) == len(other) and bool(self.doc_hashes.equals(other.doc_hashes))

    def predictions(self, index: np.ndarray) -> Predictions | None:
        """The predictions of the items at `index` (None when the task has none)."""
        if self.pred is None or self.gold is None or self.confidence is None:
            return None
        return Predictions(self.pred[index].astype(int), self.gold[index].astype(int), self.confidence[index])


@dataclass(frozen=True)
class RunData:
    """A run's card and folder; per-item scores are read lazily per task, or given explicitly (tests, libraries)."""

    card: Card
    run_dir: Path | None
    scores: dict[str, TaskScores] = field(default_factory=dict, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.card.run.run_name

    def task_scores(self, task: str) -> TaskScores:
        """The task's per-item scores, read from scores/<task>.jsonl on first use and checked against the card."""
        if task not in self.scores:
            if self.run_dir is None:
                raise UserError(f"run {self.name} has no per-item scores for {task}; pass a run folder with scores/")
            entry = self.card.tasks.get(task)
            arrow = self.run_dir / SCORES_DIR / f"{task}.arrow"
            if entry is not None and entry.scores_arrow_sha256 and arrow.is_file():
                self.scores[task] = read_task_columns(arrow, entry.scores_arrow_sha256)
            else:
                expected = entry.scores_sha256 if entry is not None else None
                self.scores[task] = read_task_scores(self.run_dir / SCORES_DIR / f"{task}.jsonl", expected)
        return self.scores[task]


def load_run(path: str | Path) -> RunData:
    """A run from its report card path or run folder (the card is validated)."""
    card, run_dir = load_card(path)
    return RunData(card=card, run_dir=run_dir)


def unique_keys(hashes: list[str]) -> tuple[str, ...]:
    """doc_hash per item; the k-th repeat of a hash (duplicate items in a dataset) gets the suffix '#k'."""
    if len(set(hashes)) == len(hashes):
        return tuple(hashes)
    seen: Counter[str] = Counter()
    keys = []
    for h in hashes:
        keys.append(f"{h}#{seen[h]}" if seen[h] else h)
        seen[h] += 1
    return tuple(keys)


def _floats(col: Any) -> np.ndarray:
    """A numeric Arrow column as float64, NaN where null. Read from the Arrow buffers with numpy: pyarrow's own
    to_numpy imports pandas for a column with nulls (0.3 s on the first call of a command)."""
    import pyarrow.compute as pc

    if col.null_count == len(col):
        return np.full(len(col), np.nan)
    arr = pc.cast(col, "float64").combine_chunks()
    values = np.frombuffer(arr.buffers()[1], dtype=np.float64, count=len(arr), offset=8 * arr.offset).copy()
    if arr.null_count:
        bits = np.unpackbits(np.frombuffer(arr.buffers()[0], dtype=np.uint8), bitorder="little")
        values[~bits[arr.offset:arr.offset + len(arr)].astype(bool)] = np.nan
    return values


def _column(table: Any, name: str) -> np.ndarray | None:
    return _floats(table.column(name)) if name in table.column_names else None


def _metric_columns(table: Any) -> dict[str, np.ndarray]:
    import pyarrow.compute as pc

    metrics = table.column("metrics")
    return {metrics.type.field(i).name: _floats(pc.struct_field(metrics, [i])) for i in range(metrics.type.num_fields)}


def task_scores_from_table(table: Any) -> TaskScores:
    """Columns of a pyarrow table of ItemScore rows."""
    has_pred = "pred" in table.column_names and table.column("pred").null_count < table.num_rows
    return TaskScores(doc_hashes=table.column("doc_hash"), metrics=_metric_columns(table),
                      category_column=table.column("category"), cluster_column=table.column("cluster"),
                      pred=_column(table, "pred") if has_pred else None,
                      gold=_column(table, "gold") if has_pred else None,
                      confidence=_column(table, "confidence") if has_pred else None)


def _parse(path: Path, data: bytes) -> TaskScores:
    import pyarrow as pa
    import pyarrow.json as pj

    if not data.strip():
        raise UserError(f"{path} is empty; re-run 'hhh-eval run' on that run (finished stages are kept) to rewrite it")
    try:
        return task_scores_from_table(pj.read_json(pa.BufferReader(data)))
    except (pa.ArrowInvalid, KeyError, TypeError) as exc:
        raise UserError(f"{path} is not a valid per-item scores file ({str(exc).splitlines()[0]}); re-run "
                        "'hhh-eval run' on that run (finished stages are kept) to rewrite it") from None


def _checked_bytes(path: Path, expected_sha256: str | None) -> bytes:
    """A per-item scores file's bytes, checked against the sha256 its card recorded."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"missing per-item scores {path}; re-run 'hhh-eval run' on that run "
                        "(finished stages are kept) to write them") from None
    except OSError as exc:
        raise UserError(f"cannot read {path} ({exc.strerror}); check the file or re-run 'hhh-eval run'") from None
    if expected_sha256 is not None and sha256_bytes(data) != expected_sha256:
        raise UserError(f"{path} does not belong to its report card (its sha256 differs from the card's record: the "
                        "run was interrupted or the file edited); re-run 'hhh-eval run' on that run to rewrite both")
    return data


def read_task_columns(path: Path, expected_sha256: str) -> TaskScores:
    """Read one scores/<task>.arrow file (the Arrow copy of the JSONL), checked against the card."""
    import pyarrow as pa

    data = _checked_bytes(path, expected_sha256)
    try:
        return task_scores_from_table(pa.ipc.open_file(pa.BufferReader(data)).read_all())
    except (pa.ArrowInvalid, KeyError, TypeError) as exc:
        raise UserError(f"{path} is not a valid per-item scores file ({str(exc).splitlines()[0]}); re-run "
                        "'hhh-eval run' on that run (finished stages are kept) to rewrite it") from None


def read_task_scores(path: Path, expected_sha256: str | None = None) -> TaskScores:
    """Read one scores/<task>.jsonl file; a UserError when missing, corrupt or not the card's own."""
    return _parse(path, _checked_bytes(path, expected_sha256))


def score_file_problems(card: Card, run_dir: Path) -> list[str]:
    """Each per-item scores file of the card's tasks that is missing or not the card's own (sha256 differs).
    The Arrow copy is optional (the JSONL is read without it), but when present it must match too."""
    problems = []
    for task, entry in sorted(card.tasks.items()):
        files = [(f"{task}.jsonl", entry.scores_sha256, True), (f"{task}.arrow", entry.scores_arrow_sha256, False)]
        for name, expected, required in files:
            path = run_dir / SCORES_DIR / name
            if expected is None or not (required or path.is_file()):
                continue
            try:
                _checked_bytes(path, expected)
            except UserError as exc:
                problems.append(str(exc))
    return problems


def task_scores_from_items(rows: Sequence[ItemScore]) -> TaskScores:
    """Columns of in-memory ItemScore rows (tests, libraries), parsed exactly as a scores file is."""
    return _parse(Path("<items>"), scores_text(rows).encode())
