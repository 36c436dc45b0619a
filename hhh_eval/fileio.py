"""Atomic file writes and checked JSON/JSONL reads: a kill never leaves a half-written file, a bad file is one line.

Writes go through a hidden temp file `.NAME.XXXX.tmp` in the target folder and an atomic rename; a folder that
cannot be made or written is a UserError naming it. Reads of a file that is not UTF-8 JSON raise `BadFile`, a
UserError naming the file (and line) and the fix, that callers expecting `json.JSONDecodeError` can still catch.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hhh_eval.errors import UserError

TMP_SUFFIX = ".tmp"
_REWRITE = "restore it or delete it, then run the command that wrote it again"


class BadFile(UserError, json.JSONDecodeError):
    """A file that cannot be read as UTF-8 JSON (or JSONL): a one-line UserError that is also a JSONDecodeError."""

    def __init__(self, message: str) -> None:
        json.JSONDecodeError.__init__(self, message, "", 0)
        self.args = (message,)

    def __str__(self) -> str:
        return self.args[0]


class WriteError(UserError):
    """A folder or file that cannot be written; `reason` says why (e.g. 'X is a file'), for a caller that names its
    own fix."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def _json_default(obj: Any) -> Any:
    """Serialise what plain json cannot (torch dtypes, numpy scalars, paths, sets)."""
    if hasattr(obj, "item") and callable(obj.item):
        try:
            return obj.item()
        except (TypeError, ValueError):
            pass
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    return str(obj)


def dumps(obj: Any, indent: int | None = None) -> str:
    """Deterministic, strict JSON (sorted keys, UTF-8, stable separators; NaN or infinity is an error)."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, indent=indent, default=_json_default, allow_nan=False)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_no_climb(path: Path) -> Path:
    """`path` unless a '..' follows a named folder in it (how a name read from a file climbs out of its folder).

    A path may start with '..' (the user's own choice); 'out/x/../../y' is refused, so no name joined onto an
    output folder can lead a write outside it.
    """
    path = Path(path)
    parts = path.parts
    first = next((i for i, part in enumerate(parts) if part not in ("..", path.anchor)), len(parts))
    if ".." in parts[first:]:
        raise UserError(f"refusing to write {path}: '..' inside a path climbs out of the output folder; "
                        "pass folders without '..' in the middle and names without '/' or '..'")
    return Path(path)


def make_folder(folder: Path) -> None:
    """mkdir -p; a folder that cannot be made (a file in the way, no permission) is a UserError naming why."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        probe = folder
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        why = f"{probe} is a file" if probe.exists() and not probe.is_dir() else (exc.strerror or type(exc).__name__)
        raise WriteError(f"cannot create folder {folder} ({why}); pass an output folder that can be created",
                         why) from None


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write bytes to `path` via a temp file in the same folder and an atomic rename (mode as for open())."""
    path = check_no_climb(Path(path))
    make_folder(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    except OSError as exc:
        raise WriteError(f"cannot write into {path.parent} ({exc.strerror}); pass a writable output folder",
                         f"{path.parent}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise WriteError(f"cannot write {path} ({exc.strerror or exc}); check the folder's permissions and free space",
                         str(exc.strerror or exc)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, dumps(obj, indent=2) + "\n")


def atomic_write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    atomic_write_text(path, "".join(dumps(r) + "\n" for r in rows))


def stale_temp_files(folder: Path) -> list[Path]:
    """Hidden temp files left in `folder` and its sub-folders by writes that were killed."""
    return sorted(p for p in Path(folder).rglob(f".*{TMP_SUFFIX}") if p.is_file())


def remove_stale_temp_files(folder: Path) -> int:
    """Delete the temp files killed writes left under `folder` (call it holding the folder's lock); how many."""
    stale = stale_temp_files(folder)
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)


def _bad(path: Path, where: str, reason: str, what: str | None, fix: str) -> BadFile:
    """'WHAT PATH[:LINE] REASON; FIX', or the reason alone (without 'is') for a caller that names the file itself."""
    return BadFile(f"{what} {path}{where} {reason}; {fix}" if what else reason.removeprefix("is "))


def read_text(path: Path, what: str | None = None, fix: str = _REWRITE) -> str:
    """A UTF-8 text file; a missing, unreadable or non-UTF-8 file is a BadFile (see `_bad`)."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise _bad(path, "", f"is not UTF-8 text (byte {exc.start})", what, fix) from None
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise BadFile(f"cannot read {what} {path} ({why}); {fix}" if what else f"cannot be read ({why})") from None


def read_json(path: Path, what: str | None = None, fix: str = _REWRITE) -> Any:
    """A JSON document. A file that is not UTF-8 JSON is a BadFile: with `what`, one line naming the file, the
    problem and `fix`; without, the problem alone (callers such as card loading add the file and their fix)."""
    text = read_text(path, what, fix)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        reason = f"is not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno})"
        raise _bad(path, "", reason, what, fix) from None


def read_jsonl(path: Path, what: str | None = None, fix: str = _REWRITE) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL file (blank lines skipped); a bad line is a BadFile naming file:line (see `_bad`)."""
    rows = []
    for lineno, line in enumerate(read_text(path, what, fix).split("\n"), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _bad(path, f":{lineno}", f"is not valid JSON ({exc.msg}; cut short?)", what, fix) from None
        if not isinstance(row, dict):
            raise _bad(path, f":{lineno}", "is not a JSON object", what, fix)
        rows.append(row)
    return rows


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_text(text: str) -> str:
    return sha256_bytes(text.encode("utf-8"))


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
