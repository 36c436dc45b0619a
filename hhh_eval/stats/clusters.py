"""Clusters of items and the bootstraps that resample them whole.

An item's cluster key is "<namespace>|<key>": the namespace is the dataset it comes from, the key a document
field (a task's `cluster_field`, e.g. TruthfulQA's question) or the item's own document hash. Items with the
same key are one cluster, also across tasks: TruthfulQA MC1, MC2 and generation ask the same 817 questions,
and calibration reuses MC1's and MedQA's items. Resampling clusters (not items) keeps the dependence between
such items in every interval and paired test; namespaces are resampled independently of each other.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from hhh_eval.fileio import sha256_text

SEPARATOR = "|"


def cluster_key(namespace: str, key: object) -> str:
    """The cluster of an item: its namespace and key (long keys hashed to keep files small)."""
    text = str(key)
    return f"{namespace}{SEPARATOR}{text if len(text) <= 40 else sha256_text(text)[:32]}"


def namespace_of(key: str) -> str:
    return key.partition(SEPARATOR)[0]


@dataclass(frozen=True)
class Clusters:
    """Items' cluster membership: codes[i] in 0..n_clusters-1."""

    codes: np.ndarray

    @classmethod
    def singletons(cls, n: int) -> Clusters:
        return cls(np.arange(n))

    @classmethod
    def from_keys(cls, keys: Sequence[str]) -> Clusters:
        return cls(_codes(tuple(keys)))

    @cached_property
    def n_clusters(self) -> int:
        return int(self.codes.max()) + 1 if self.codes.size else 0

    @cached_property
    def sizes(self) -> np.ndarray:
        return np.bincount(self.codes, minlength=self.n_clusters)

    @property
    def trivial(self) -> bool:
        """Every item is its own cluster."""
        return self.n_clusters == self.codes.size

    def sums(self, values: np.ndarray) -> np.ndarray:
        """Per-cluster sums of per-item values."""
        return np.bincount(self.codes, weights=values, minlength=self.n_clusters)

    def bootstrap_weights(self, seed: int, n_boot: int) -> np.ndarray:
        """(n_boot, n_items) float32 matrix (small integer counts, exact): how often each item's cluster is drawn in
        each resample (seeded; the same clusters and seed give the same, shared, read-only matrix: compare reuses
        it for every card)."""
        return _weights(self.codes.astype(np.int64).tobytes(), self.n_clusters, seed, n_boot)


def draw_weights_ahead(clusterings: Iterable[Clusters], seed: int, n_boot: int) -> None:
    """Draw the bootstrap weights of several clusterings together, a thread per core (numpy draws and counts them
    outside the GIL), so that each one's first bootstrap_weights call is a cache hit. Each matrix has its own
    generator: the same numbers as drawn one by one."""
    unique = list({c.codes.tobytes(): c for c in clusterings}.values())
    if len(unique) > 1:
        with ThreadPoolExecutor(min(len(unique), os.cpu_count() or 1)) as pool:
            list(pool.map(lambda c: c.bootstrap_weights(seed, n_boot), unique))


@lru_cache(maxsize=64)
def _codes(keys: tuple[str, ...]) -> np.ndarray:
    """Cluster codes of keys (cached and read-only: every card of a comparison has the same tasks' keys)."""
    _, codes = np.unique(np.asarray(keys, dtype=object).astype(str), return_inverse=True)
    codes = codes.astype(np.int64)
    codes.flags.writeable = False
    return codes


@lru_cache(maxsize=8)  # a full-suite task at 2000 resamples is about 18 MB
def _weights(codes: bytes, n_clusters: int, seed: int, n_boot: int) -> np.ndarray:
    weights = draw_counts(np.random.default_rng(seed), n_clusters, n_boot, np.frombuffer(codes, dtype=np.int64))
    weights.flags.writeable = False
    return weights


ROWS_PER_DRAW = 256


def draw_counts(rng: np.random.Generator, n_units: int, n_boot: int, columns: np.ndarray | None = None) -> np.ndarray:
    """(n_boot, n_units) multinomial draw counts of an ordinary bootstrap over n_units units, as float32 (exact for
    counts below 2**24; half the memory of float64, and what the corpus statistics multiply with). With `columns`,
    the counts of those units in that order, e.g. each item's cluster. Drawn ROWS_PER_DRAW resamples at a time:
    the same numbers as one draw of all, without full-size scratch arrays (fresh memory is slow to touch)."""
    out = np.empty((n_boot, n_units if columns is None else len(columns)), np.float32)
    for start in range(0, n_boot, ROWS_PER_DRAW):
        rows = min(ROWS_PER_DRAW, n_boot - start)
        idx = rng.integers(0, n_units, size=(rows, n_units))
        idx += (np.arange(rows) * n_units)[:, None]
        counts = np.bincount(idx.ravel(), minlength=rows * n_units).reshape(rows, n_units)
        out[start:start + rows] = counts if columns is None else np.take(counts, columns, axis=1)  # 5x [:, columns]
    return out


class JointBootstrap:
    """One stratified cluster bootstrap shared by several tasks: per namespace, the union of all tasks' cluster
    keys is resampled once, so items that share a key (within or across tasks) are drawn together.

    Seeded per namespace, so the draws do not depend on which tasks ask or in which order.
    """

    def __init__(self, keys: Sequence[str], seed: int, n_boot: int) -> None:
        self.n_boot = n_boot
        self._index: dict[str, dict[str, int]] = {}
        for key in sorted(set(keys)):
            ns = self._index.setdefault(namespace_of(key), {})
            ns[key] = len(ns)
        self._counts = {ns: draw_counts(np.random.default_rng([seed, int(sha256_text(ns)[:8], 16)]),
                                        len(members), n_boot)
                        for ns, members in self._index.items()}
        self._weights: dict[tuple[str, ...], np.ndarray] = {}

    def weights(self, keys: Sequence[str]) -> np.ndarray:
        """(n_boot, len(keys)) item weights for items with these cluster keys (all passed to the constructor);
        read-only and cached, as every card of a comparison asks for the same tasks' keys."""
        keys = tuple(keys)
        if keys not in self._weights:
            self._weights[keys] = self._build_weights(keys)
        return self._weights[keys]

    def _build_weights(self, keys: tuple[str, ...]) -> np.ndarray:
        out = np.empty((self.n_boot, len(keys)))
        by_ns: dict[str, list[int]] = {}
        for i, key in enumerate(keys):
            by_ns.setdefault(namespace_of(key), []).append(i)
        for ns, positions in by_ns.items():
            index = self._index[ns]
            out[:, positions] = np.take(self._counts[ns], [index[keys[i]] for i in positions], axis=1)
        out.flags.writeable = False
        return out


@lru_cache(maxsize=4)
def joint_bootstrap(keys: tuple[str, ...], seed: int, n_boot: int) -> JointBootstrap:
    """The JointBootstrap of these keys (shared: compare asks for the same one for every card)."""
    return JointBootstrap(keys, seed, n_boot)

