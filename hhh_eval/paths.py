"""Names that become path components, and paths that must stay inside the folder a user gave.

Every name read from a file or an argument (suite, task, judge, run, model slug, sweep point) passes
`plain_name` before it names a folder or file; every path the tool writes passes `inside`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from hhh_eval.errors import UserError

_PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=-]{0,127}$")


def plain_name(name: str, what: str) -> str:
    """`name` when it is a plain file or folder name (letters, digits, . _ + = -; no '/', no '..'), else a UserError."""
    if not isinstance(name, str) or not _PLAIN.match(name) or ".." in name:
        raise UserError(f"{what} {name!r} is not a plain name (letters, digits and . _ + = -, starting with a letter "
                        "or digit, no '/' or '..'); rename it")
    return name


def _within(path: Path, base: Path) -> bool:
    return path == base or base in path.parents


def inside(path: Path, root: Path, what: str = "output") -> Path:
    """`path` when it resolves inside `root` (symlinks followed), else a UserError naming both."""
    resolved, base = Path(path).resolve(), Path(root).resolve()
    if not _within(resolved, base):
        if _within(Path(os.path.abspath(path)), Path(os.path.abspath(root))):
            raise UserError(f"{what} path {path} leads outside {root} through a symbolic link; "
                            "replace the link with a real folder or file")
        raise UserError(f"{what} path {path} lies outside {root}; pass names without '..' or '/'")
    return Path(path)
