"""Merged checkpoints, built by mergekit into a cache keyed by what defines the merge.

The key is a hash of the inputs' identities (a local folder's fingerprint, a hub model's commit), each input's
weight, the method, its parameters, the dtype and mergekit's version; input names and paths are not part of it,
so a merge is reused across sweeps wherever the same weights are merged the same way. A merge is built into a
temporary folder and renamed into place, so a cache folder that exists is complete. Merges run on the CPU: the
same key always gives the same bytes.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

from hhh_eval.errors import UserError
from hhh_eval.fileio import atomic_write_text, dumps, sha256_text
from hhh_eval.identity import fingerprint_dir, resolve_identity
from hhh_eval.paths import inside, plain_name

INSTALL_HINT = "pip install 'hhh-eval[merge]'"
MERGE_SEED = 0  # mergekit's random seed (used by the randomised methods such as dare_ties)
PROVENANCE_FILE = "hhh_merge.yml"  # beside the weights; not part of the merged model's fingerprint


@dataclass(frozen=True)
class MergeInput:
    """One model merged: its name in the sweep file, where it is (path or hub id) and its weight."""

    name: str
    ref: str
    weight: float


@dataclass(frozen=True)
class MergeRecipe:
    """Everything a merge needs: method, base, weighted inputs, mergekit parameters and dtype."""

    method: str
    base: str | None
    inputs: tuple[MergeInput, ...]
    parameters: tuple[tuple[str, float | bool], ...] = ()
    dtype: str | None = None

    def mergekit_config(self) -> dict[str, Any]:
        """The merge as a mergekit configuration (its YAML format, as a dict)."""
        config: dict[str, Any] = {"merge_method": self.method,
                                  "models": [{"model": i.ref, "parameters": {"weight": i.weight}} for i in self.inputs]}
        if self.base:
            config["base_model"] = self.base
        if self.parameters:
            config["parameters"] = dict(self.parameters)
        if self.dtype:
            config["dtype"] = self.dtype
        return config


def mergekit_version() -> str:
    """The installed mergekit's version; a UserError naming the extra when it is missing."""
    try:
        return metadata.version("mergekit")
    except metadata.PackageNotFoundError:
        raise UserError(f"merge points need mergekit, which is not installed; {INSTALL_HINT}") from None


def require_mergekit() -> None:
    if find_spec("mergekit") is None:
        raise UserError(f"the sweep's merge grid needs mergekit, which is not installed; {INSTALL_HINT}")


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class InputIdentity(_Record):
    """What a merge input is, wherever it lies: a local folder's fingerprint, or a hub model's commit."""

    source: str  # "local" | "hub"
    fingerprint: str | None = None
    name: str | None = None
    revision: str | None = None


class MergedInput(_Record):
    name: str | None  # None for the base
    ref: str
    weight: float | None  # None for the base
    identity: InputIdentity


class MergeProvenance(_Record):
    """A merge as recorded on each merged point (manifest.json model.merge, sweep.json) and in its cache folder."""

    method: str
    base: MergedInput | None
    inputs: list[MergedInput]
    parameters: dict[str, float | bool]
    dtype: str | None
    seed: int
    mergekit_version: str
    key: str  # sha256 of everything above but names and refs: the cache key


def input_identity(ref: str) -> InputIdentity:
    path = Path(ref).expanduser()
    if path.is_dir():
        return InputIdentity(source="local", fingerprint=fingerprint_dir(path))
    identity = resolve_identity("hf", {"pretrained": ref}, check_args=False)  # a UserError: missing path, unknown id
    return InputIdentity(source=identity.source, name=identity.name, revision=identity.revision)


def provenance(recipe: MergeRecipe) -> MergeProvenance:
    """The merge's provenance and cache key (input fingerprints come from the fingerprint cache)."""
    base = (MergedInput(name=None, ref=recipe.base, weight=None, identity=input_identity(recipe.base))
            if recipe.base else None)
    inputs = [MergedInput(name=i.name, ref=i.ref, weight=i.weight, identity=input_identity(i.ref))
              for i in recipe.inputs]
    version = mergekit_version()
    defining = [recipe.method, base and base.identity.model_dump(),
                [[i.identity.model_dump(), i.weight] for i in inputs], sorted(recipe.parameters), recipe.dtype,
                MERGE_SEED, version]
    return MergeProvenance(method=recipe.method, base=base, inputs=inputs, parameters=dict(recipe.parameters),
                           dtype=recipe.dtype, seed=MERGE_SEED, mergekit_version=version,
                           key=sha256_text(dumps(defining)))


def merged_path(merges_dir: Path, record: MergeProvenance) -> Path:
    """The cache folder of a merge (it exists only once the merge is complete)."""
    name = plain_name(f"{record.method}-{record.key[:16]}", "merge method")
    return inside(merges_dir / name, merges_dir, "merge")


def check_recipe(recipe: MergeRecipe) -> None:
    """A UserError when mergekit does not know the method or rejects the configuration (imports mergekit)."""
    from mergekit.config import MergeConfiguration
    from mergekit.merge_methods import registered_methods

    methods = sorted(m.spec.name for m in registered_methods())
    if recipe.method not in methods:
        raise UserError(f"merge method '{recipe.method}' is not a mergekit method; use one of {', '.join(methods)}")
    try:
        MergeConfiguration.model_validate(recipe.mergekit_config())
    except Exception as exc:  # pydantic's ValidationError or mergekit's own RuntimeError
        first = str(exc).splitlines()[0]
        raise UserError(f"mergekit rejects the merge ({first}); check the sweep file's merge keys") from None


def _run_mergekit(recipe: MergeRecipe, out: Path) -> None:
    from mergekit.config import MergeConfiguration
    from mergekit.merge import MergeOptions, run_merge

    options = MergeOptions(device="cpu", random_seed=MERGE_SEED, quiet=True, copy_tokenizer=True)
    run_merge(MergeConfiguration.model_validate(recipe.mergekit_config()), str(out), options)


def build_merge(recipe: MergeRecipe, merges_dir: Path) -> tuple[Path, MergeProvenance]:
    """The merged checkpoint's folder and provenance; built with mergekit unless the cache holds it."""
    record = provenance(recipe)
    final = merged_path(merges_dir, record)
    if final.is_dir():
        return final, record
    check_recipe(recipe)
    tmp = merges_dir / f".{final.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        _run_mergekit(recipe, tmp)
        atomic_write_text(tmp / PROVENANCE_FILE, yaml.safe_dump(record.model_dump(mode="json"), sort_keys=False))
        try:
            tmp.rename(final)
        except OSError:  # another worker finished the same merge first: theirs is identical
            if not final.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final, record
