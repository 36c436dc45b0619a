"""Model identity: what a result belongs to. Keys the response cache and is recorded on the card."""

from __future__ import annotations

import json
import os
import re
import socket
import time
from dataclasses import dataclass
from functools import cache
from importlib import import_module
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from hhh_eval.errors import UserError
from hhh_eval.fileio import atomic_write_text, dumps, sha256_file, sha256_text
from hhh_eval.model_args import check_model_args as _check_model_args
from hhh_eval.model_args import parse_kv
from hhh_eval.paths import plain_name

HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")
API_BACKENDS = ("local-completions", "local-chat-completions", "openai-completions", "openai-chat-completions")
_API_PACKAGES = (("requests", "aiohttp", "tenacity", "tqdm"), "pip install 'lm-eval[api]'")
# optional packages a backend's lm-eval module imports, and how to install them
BACKEND_PACKAGES: dict[str, tuple[tuple[str, ...], str]] = {
    "vllm": (("vllm",), "pip install -e '.[vllm]'"),
    "vllm-vlm": (("vllm",), "pip install -e '.[vllm]'"),
    **{backend: _API_PACKAGES for backend in API_BACKENDS},
}
# model args that change how fast results come, not what they are
NON_IDENTITY_ARGS = frozenset({"batch_size", "max_batch_size", "device", "parallelize", "num_concurrent",
                               "max_retries", "timeout", "gpu_memory_utilization", "data_parallel_size"})
_SLUG_MAX = 100
_WEIGHT_FILES = ("*.json", "*.safetensors", "*.bin", "*.model", "*.txt", "*.jinja", "*.py", "*.tiktoken")
CACHE_DIR_ENV = "HHH_EVAL_CACHE_DIR"
# a file's hash is cached only once its timestamps are this much in the past: a write within the same timestamp
# tick (coarse clocks, FAT's 2 s, NFS) could otherwise leave size, mtime and ctime unchanged
RACY_NS = 2_000_000_000


@dataclass(frozen=True)
class ModelIdentity:
    """A model as evaluated: backend, name, where it came from and the exact version of its files."""

    backend: str
    name: str
    source: str  # "local" | "hub" | "api"
    revision: str | None
    fingerprint: str | None
    model_args: dict[str, Any]
    dtype: str | None

    @property
    def sha256(self) -> str:
        """Hash of everything that defines the model's answers (the response cache key)."""
        args = {k: v for k, v in self.model_args.items() if k not in NON_IDENTITY_ARGS}
        return sha256_text(dumps([self.backend, self.name, self.source, self.revision, self.fingerprint, args]))

    @property
    def slug(self) -> str:
        """A plain folder name for the model: the hub id or the local folder's name, made filesystem-safe.

        Characters outside letters, digits and . _ - become '--', dot runs one '.', leading dots and dashes go
        (an API model named '..' is 'model'); a long name is cut and keeps a hash of the whole.
        """
        base = Path(self.name).name if self.source == "local" else self.name
        slug = re.sub(r"\.{2,}", ".", re.sub(r"[^A-Za-z0-9._-]+", "--", base)).strip(".-") or "model"
        if len(slug) > _SLUG_MAX:
            slug = f"{slug[:_SLUG_MAX - 9].rstrip('.-')}-{sha256_text(self.name)[:8]}"
        return plain_name(slug, "model slug")

    def to_card(self, chat_template_sha256: str | None, system_prompt: str | None) -> dict[str, Any]:
        return {"name": self.name, "backend": self.backend, "source": self.source, "revision": self.revision,
                "fingerprint": self.fingerprint, "model_args": self.model_args, "dtype": self.dtype,
                "identity_sha256": self.sha256, "chat_template_sha256": chat_template_sha256,
                "system_prompt": system_prompt}


def parse_model_args(text: str, flag: str = "--model-args") -> dict[str, Any]:
    """'a=1,b=x' -> {'a': 1, 'b': 'x'} (ints, floats, bools converted as lm-eval does); a malformed list is a UserError."""
    return parse_kv(text, flag)


def cache_root() -> Path:
    """hhh-eval's own cache (file hashes, library signatures): $HHH_EVAL_CACHE_DIR, else ~/.cache/hhh-eval."""
    user_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return Path(os.environ.get(CACHE_DIR_ENV) or user_cache / "hhh-eval")


def fingerprint_cache_dir() -> Path:
    """Where file hashes are cached: <cache root>/fingerprints (see cache_root)."""
    return cache_root() / "fingerprints"


@cache
def _machine() -> str:
    """This machine (a cache in a home folder shared by several machines keeps their local files apart)."""
    try:
        machine_id = Path("/etc/machine-id").read_text().strip()
    except OSError:
        machine_id = ""
    return f"{socket.gethostname()}:{machine_id}"


def _stat_key(path: Path, st: os.stat_result) -> str:
    """Everything that changes when the file's contents can have changed: writing changes size or mtime and
    always ctime (which no tool can set back); replacing the file changes the inode; device and machine tell
    filesystems apart."""
    return sha256_text(dumps([_machine(), str(path.absolute()), st.st_dev, st.st_ino, st.st_size,
                              st.st_mtime_ns, st.st_ctime_ns]))


def cached_sha256(path: Path, cache_dir: Path | None = None) -> str:
    """sha256 of a file, read from the fingerprint cache when the file's stat key is unchanged since it was hashed.

    An entry is written only when the file did not change while it was read and its timestamps are older than
    RACY_NS; an unwritable cache only costs the re-read.
    """
    cache_dir = fingerprint_cache_dir() if cache_dir is None else cache_dir
    before = path.stat()
    key = _stat_key(path, before)
    entry = cache_dir / key[:2] / f"{key}.json"
    try:
        digest = json.loads(entry.read_text(encoding="utf-8"))["sha256"]
        if isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{64}", digest):
            return digest
    except (OSError, ValueError, KeyError, TypeError):
        pass
    digest = sha256_file(path)
    after = path.stat()
    settled = time.time_ns() - max(after.st_mtime_ns, after.st_ctime_ns) > RACY_NS
    if settled and _stat_key(path, after) == key:
        try:
            atomic_write_text(entry, dumps({"path": str(path.absolute()), "size": after.st_size,
                                            "mtime_ns": after.st_mtime_ns, "sha256": digest}) + "\n")
        except UserError:  # a file in the way, no permission, no space: the next call reads the file again
            pass
    return digest


def fingerprint_dir(path: Path) -> str:
    """sha256 over the names and contents of a local model's config, tokenizer and weight files (file hashes
    come from the fingerprint cache when a file is unchanged)."""
    files = sorted({f for pattern in _WEIGHT_FILES for f in path.rglob(pattern) if f.is_file()})
    cache_dir = fingerprint_cache_dir()
    entries = [[str(f.relative_to(path)), cached_sha256(f, cache_dir)] for f in files]
    return sha256_text(json.dumps(entries))


def _hub_revision(repo_id: str, revision: str | None) -> str:
    """The commit hash of a hub model: from the local HF cache, else from the hub."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError

    try:
        snapshot = snapshot_download(repo_id, revision=revision, local_files_only=True,
                                     allow_patterns=["config.json"])
        return Path(snapshot).name
    except (HFValidationError, ValueError):
        raise UserError(f"model '{repo_id}' is not a valid hub id or an existing local path; check --model-args pretrained=") from None
    except Exception:
        pass
    try:
        from huggingface_hub import HfApi

        return HfApi().model_info(repo_id, revision=revision).sha
    except Exception as exc:
        raise UserError(
            f"model '{repo_id}' is not a local path and cannot be reached on the hub ({type(exc).__name__}); "
            "check the name, your network or HF_TOKEN, or pass a local checkpoint path"
        ) from None


def _cached_config_dir(repo_id: str, revision: str) -> Path | None:
    """The HF-cache snapshot folder holding a hub model's config.json, if it is cached."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    return Path(found).parent if isinstance(found, str) else None


def install_hint(backend: str) -> str:
    return BACKEND_PACKAGES.get(backend, ((), "install the package named above"))[1]


def check_backend(backend: str) -> None:
    """An unknown backend, or one whose optional packages are missing, is a UserError (imports no backend)."""
    import_module("lm_eval.models")  # registers every backend's name without importing its module
    from lm_eval.api.registry import model_registry

    if backend not in model_registry:
        raise UserError(f"unknown backend '{backend}'; use an lm-eval model name: hf, vllm, local-completions, "
                        "local-chat-completions, ...")
    packages, hint = BACKEND_PACKAGES.get(backend, ((), ""))
    missing = [p for p in packages if find_spec(p) is None]
    if missing:
        raise UserError(f"backend '{backend}' is not installed (no module {', '.join(missing)}); {hint}")


def _no_check(backend: str, args: dict[str, Any], model_dir: Path | None) -> None:
    return None


def resolve_identity(backend: str, model_args: dict[str, Any], check_args: bool = True) -> ModelIdentity:
    """Resolve a model to its identity; an unusable backend, a wrong path or an unreachable hub id is a UserError.
    With check_args, the model args are also checked against the backend (which imports lm-eval's models and
    transformers: a second or more, needless where only the identity is wanted)."""
    check_backend(backend)
    check_model_args = _check_model_args if check_args else _no_check
    name = str(model_args.get("pretrained") or model_args.get("model") or "")
    if not name:
        raise UserError("--model-args names no model; pass pretrained=<hub id or path> (or model=<name> for API backends)")
    dtype = str(model_args["dtype"]) if "dtype" in model_args else None
    if backend in API_BACKENDS:
        check_model_args(backend, model_args, None)
        return ModelIdentity(backend, name, "api", model_args.get("revision"), None, model_args, dtype)
    path = Path(name).expanduser()
    if path.is_dir():
        check_model_args(backend, model_args, path)
        resolved = str(path.resolve())
        args = {**model_args, "pretrained": resolved}
        return ModelIdentity(backend, resolved, "local", None, fingerprint_dir(path), args, dtype)
    if path.exists() or name.startswith((".", "/", "~")) or not HUB_ID.match(name):
        raise UserError(f"model path '{name}' does not exist (and is not a hub id); pass an existing folder or org/name")
    revision = _hub_revision(name, model_args.get("revision"))
    check_model_args(backend, model_args, _cached_config_dir(name, revision))
    args = {**model_args, "revision": revision}
    if backend.startswith("vllm") and "tokenizer" not in args:  # vllm reads the tokenizer at main unless told
        args.setdefault("tokenizer_revision", revision)
    return ModelIdentity(backend, name, "hub", revision, None, args, dtype)
