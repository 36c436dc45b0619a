"""report_card.json: strict reading (no NaN/Infinity tokens), validation against the JSON Schema and the typed
models, and validated atomic writes. `hhh-eval validate` reports every problem it finds."""

from __future__ import annotations

import argparse
import json
from functools import cache
from importlib import resources
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hhh_eval.card.models import SCHEMA_VERSION, Card, ItemScore
from hhh_eval.errors import UserError
from hhh_eval.fileio import atomic_write_json, dumps, sha256_bytes, sha256_text

CARD_NAME = "report_card.json"


@cache
def _schema() -> Any:
    return json.loads(resources.files("hhh_eval").joinpath("schema/report_card.schema.json").read_text())


@cache
def _validator() -> Any:
    """The reference validator (python-jsonschema): its messages are what `validate` prints."""
    import jsonschema

    return jsonschema.Draft202012Validator(_schema(), format_checker=jsonschema.FormatChecker())


@cache
def _fast_validator() -> Any:
    """The same schema compiled by jsonschema-rs (about 100x faster): every card compare, gate or plot reads is
    checked, so a valid card is accepted on its word; tests/test_card_schema.py checks the two agree."""
    import jsonschema_rs

    return jsonschema_rs.validator_for(_schema(), validate_formats=True)


def _reject_constant(token: str) -> float:
    raise ValueError(f"non-finite number {token} (strict JSON has no NaN or Infinity)")


def parse_strict(text: str) -> Any:
    """JSON text to data; NaN, Infinity and -Infinity tokens are errors (ValueError)."""
    return json.loads(text, parse_constant=_reject_constant)


def _as_model(data: Any) -> tuple[Card | None, list[str]]:
    try:
        return Card.model_validate(data), []
    except ValidationError as exc:
        return None, [f"{'/'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors()]


def _checked(data: Any) -> tuple[Card | None, list[str]]:
    """The typed card and no problems, or None and every problem, one line each: JSON Schema violations, then
    typed-model violations (value outside its interval, inconsistent counts)."""
    if _fast_validator().is_valid(data):
        return _as_model(data)
    errors = sorted(_validator().iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    lines = [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors]
    lines = lines or [f"{'/'.join(map(str, e.instance_path)) or '<root>'}: {e.message}"
                      for e in _fast_validator().iter_errors(data)]
    return (None, lines) if lines else _as_model(data)


def card_errors(data: Any) -> list[str]:
    """Every problem of a parsed card, one line each (see _checked). Empty when valid."""
    return _checked(data)[1]


def scores_text(rows: Sequence[ItemScore]) -> str:
    """scores/<task>.jsonl as written (one ItemScore per line, deterministic); its sha256 goes on the card."""
    return "".join(dumps(r.model_dump(mode="json")) + "\n" for r in rows)


@dataclass(frozen=True)
class ScoresFiles:
    """A task's per-item scores as written: scores/<task>.jsonl (for people and other tools) and the same rows as
    Arrow columns, scores/<task>.arrow (what compare reads: a 12k-item run loads in milliseconds, about 20x faster
    than parsing the JSONL). The card records both files' sha256."""

    jsonl: str
    arrow: bytes

    @property
    def jsonl_sha256(self) -> str:
        return sha256_text(self.jsonl)

    @property
    def arrow_sha256(self) -> str:
        return sha256_bytes(self.arrow)


def scores_files(rows: Sequence[ItemScore]) -> ScoresFiles:
    """Both files of a task's per-item scores (the Arrow table is read from the JSONL, so both hold the same)."""
    return scores_files_of_text(scores_text(rows))


def scores_files_of_text(text: str) -> ScoresFiles:
    """Both files from the JSONL text of scores_text."""
    import pyarrow as pa
    import pyarrow.json as pj

    if not text:
        return ScoresFiles(text, b"")
    table = pj.read_json(pa.BufferReader(text.encode()))
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return ScoresFiles(text, sink.getvalue().to_pybytes())


def card_path(path: str | Path) -> Path:
    """report_card.json given itself or the run folder that holds it."""
    p = Path(path)
    p = p / CARD_NAME if p.is_dir() else p
    if not p.is_file():
        raise UserError(f"no report card at {p}; pass a report_card.json or a run folder that holds one")
    return p


def _read(p: Path) -> Any:
    """The parsed card file; a UserError for unreadable, non-UTF-8 or non-strict JSON."""
    try:
        return parse_strict(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise UserError(f"{p} is not UTF-8 text; pass a report_card.json written by hhh-eval") from None
    except OSError as exc:
        raise UserError(f"cannot read {p} ({exc.strerror}); pass a readable report_card.json") from None
    except ValueError as exc:
        raise UserError(f"{p} is not valid JSON ({str(exc).splitlines()[0]}); pass a report card written by "
                        "hhh-eval") from None


def _old_schema(data: Any, p: Path) -> UserError | None:
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version is None or version == SCHEMA_VERSION:
        return None
    return UserError(f"{p} is a schema {version} card from another hhh-eval version (this one reads "
                     f"{SCHEMA_VERSION}); rebuild it by re-running its command (manifest.json 'command'): "
                     "finished answers are reused")


def load_card(path: str | Path) -> tuple[Card, Path]:
    """A validated card and its run folder, from a card path or a run folder."""
    p = card_path(path)
    data = _read(p)
    if (old := _old_schema(data, p)) is not None:
        raise old
    card, errors = _checked(data)
    if card is None:
        raise UserError(f"{p} is not a valid report card ({errors[0]}; {len(errors)} problem(s)); "
                        f"run 'hhh-eval validate {p}'")
    return card, p.parent


def check_card(card: Card) -> None:
    """Raise if hhh-eval itself built an invalid card (a bug, not a user error)."""
    errors = card_errors(card.to_json())
    if errors:
        raise RuntimeError("refusing to write an invalid report card: " + "; ".join(errors[:5]))


def write_card(card: Card, run_dir: Path) -> Path:
    """Validate, then write the card atomically; an invalid card is never written."""
    check_card(card)
    path = run_dir / CARD_NAME
    atomic_write_json(path, card.to_json())
    return path


def cli_validate(args: argparse.Namespace) -> int:
    p = card_path(args.card)
    try:
        data = _read(p)
    except UserError as exc:
        print(f"invalid: {exc}")
        return 1
    card, errors = _checked(data)
    if card is None:
        print(f"invalid: {p} ({len(errors)} problem(s))")
        for line in errors:
            print(f"  {line}")
        return 1
    return _validate_run_folder(p, data, card)


def _validate_run_folder(path: Path, data: dict[str, Any], card: Card) -> int:
    """A card in a run folder: its per-item scores files must be the ones it records."""
    from hhh_eval.runs import SCORES_DIR, score_file_problems

    run_dir = path.parent
    if not (run_dir / SCORES_DIR).is_dir():
        print(f"valid: {path} (schema {data['schema_version']}; no scores/ folder beside it to check)")
        return 0
    problems = score_file_problems(card, run_dir)
    for line in problems:
        print(f"invalid: {line}")
    if problems:
        return 1
    print(f"valid: {path} (schema {data['schema_version']}; per-item scores of {len(data['tasks'])} task(s) match)")
    return 0
