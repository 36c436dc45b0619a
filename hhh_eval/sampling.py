"""Which documents a limited run (--limit N) evaluates.

The default ("sample") is a seeded random sample, stratified by category where the task has a category field:
each category gets items in proportion to its size (largest remainders, ties broken by the seed), and at least
one each when N is at least the number of categories. "first" takes the first N documents, as lm-eval's --limit
does. The same data, N, mode and seed give the same documents, so two models' limited runs pair item by item.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

LimitMode = Literal["sample", "first"]


def allocate(sizes: Sequence[int], n: int, rng: np.random.Generator) -> list[int]:
    """Items per stratum: proportional to `sizes`, summing to n (at most each size), one each where n allows."""
    total = sum(sizes)
    if n >= total:
        return list(sizes)
    share = np.array(sizes, dtype=float) * n / total
    floor = 1 if n >= len(sizes) else 0
    quota = np.minimum(np.maximum(np.floor(share).astype(int), floor), sizes)
    tie = rng.permutation(len(sizes))  # a seeded order among equal remainders
    while quota.sum() > n:  # only when the one-each floor overshot: take from the most over-served stratum
        over = np.where(quota > floor, quota - share, -np.inf)
        quota[max(range(len(sizes)), key=lambda i: (over[i], -tie[i]))] -= 1
    while quota.sum() < n:  # hand the rest to the largest remainders
        under = np.where(quota < sizes, share - quota, -np.inf)
        quota[max(range(len(sizes)), key=lambda i: (under[i], -tie[i]))] += 1
    return [int(q) for q in quota]


def sample_doc_ids(n_docs: int, limit: int, seed: int, categories: Sequence[str] | None = None,
                   mode: LimitMode = "sample") -> list[int]:
    """Sorted indices of the documents a run with --limit `limit` evaluates (all of them when limit >= n_docs)."""
    if limit >= n_docs:
        return list(range(n_docs))
    if mode == "first":
        return list(range(limit))
    rng = np.random.default_rng(seed)
    if categories is None:
        return sorted(int(i) for i in rng.choice(n_docs, size=limit, replace=False))
    strata: dict[str, list[int]] = {}
    for i, cat in enumerate(categories):
        strata.setdefault(cat, []).append(i)
    names = sorted(strata)
    quota = allocate([len(strata[c]) for c in names], limit, rng)
    picked = [int(i) for c, q in zip(names, quota, strict=True) for i in rng.choice(strata[c], size=q, replace=False)]
    return sorted(picked)
