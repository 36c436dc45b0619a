"""Work spread over the machine's cores by forked processes that inherit the parent's objects: only an index
goes to a worker and only the result comes back (pickling 100 cards for every job cost more than the work).
Each worker's BLAS gets its share of the cores (two workers with two BLAS threads each on two cores ran slower
than one process). The results are the same, in the same order, as a plain loop."""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import current_process, get_context
from typing import Any, TypeVar

from threadpoolctl import threadpool_limits

T = TypeVar("T")
_WORK: tuple[Callable[[Any], Any], Sequence[Any]] | None = None


def forked_map(fn: Callable[[Any], T], items: Sequence[Any]) -> list[T]:
    """[fn(x) for x in items], on up to one forked worker per core (in-process on one core, for one item, or in a
    daemon process such as a multiprocessing pool's worker, which may not start processes)."""
    global _WORK
    workers = min(len(items), os.cpu_count() or 1)
    if workers < 2 or current_process().daemon:
        return [fn(x) for x in items]
    _WORK = (fn, items)
    # The parent's objects stay out of the workers' garbage collections: a collection writes to every object it
    # visits, which would copy the parent's memory into each worker page by page.
    gc.freeze()
    try:
        cores = max(1, (os.cpu_count() or 1) // workers)
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork"), initializer=_limit_blas,
                                 initargs=(cores,)) as pool:
            return list(pool.map(_run_one, range(len(items))))
    finally:
        _WORK = None
        gc.unfreeze()


def even_chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    """`items` in consecutive chunks of about `size`, as many chunks as a multiple of forked_map's workers, so that
    each worker gets an equal share (98 pairs in 17 chunks of 6 on two workers left one idle for the last chunk)."""
    workers = max(1, min(len(items), os.cpu_count() or 1))
    count = workers * max(1, round(len(items) / (size * workers)))
    return [chunk for k in range(count) if (chunk := items[len(items) * k // count:len(items) * (k + 1) // count])]


def forked_calls(calls: Sequence[Callable[[], T]]) -> list[T]:
    """[call() for call in calls] on forked workers (forked_map of different kinds of work in one pool)."""
    return forked_map(_call, calls)


def _call(call: Callable[[], T]) -> T:
    return call()


def _limit_blas(threads: int) -> None:
    threadpool_limits(threads)


def _run_one(index: int) -> Any:
    assert _WORK is not None, "forked_map's worker started without work"
    fn, items = _WORK
    return fn(items[index])
