"""forked_map and forked_calls: the results of a plain loop, in order, from forked workers; in-process where
forking is not allowed."""

from __future__ import annotations

import os
from functools import partial
from multiprocessing import get_context

import pytest

from hhh_eval.forked import even_chunks, forked_calls, forked_map


def _pid_and_square(x: int) -> tuple[int, int]:
    return os.getpid(), x * x


def _in_pool_worker(n: int) -> list[tuple[int, int]]:
    return forked_map(_pid_and_square, list(range(n)))


def test_results_come_in_order_from_worker_processes() -> None:
    results = forked_map(_pid_and_square, list(range(40)))
    assert [square for _, square in results] == [x * x for x in range(40)]
    if (os.cpu_count() or 1) > 1:
        assert os.getpid() not in {pid for pid, _ in results}


def test_a_daemon_process_maps_in_process_instead_of_failing() -> None:
    with get_context("fork").Pool(1) as pool:
        (results,) = pool.map(_in_pool_worker, [6])
    assert [square for _, square in results] == [x * x for x in range(6)]
    assert len({pid for pid, _ in results}) == 1  # all in the pool's (daemon) worker


def test_calls_of_different_kinds_come_back_in_order() -> None:
    calls = [partial(_pid_and_square, 3), partial(str, 7), partial(_pid_and_square, 5)]
    (_, nine), seven, (_, twenty_five) = forked_calls(calls)
    assert (nine, seven, twenty_five) == (9, "7", 25)


@pytest.mark.parametrize("cores", [1, 2, 3])
def test_even_chunks_split_in_order_into_equal_shares_per_worker(monkeypatch, cores: int) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: cores)
    for n in (1, 2, 5, 13, 98, 99, 200):
        chunks = even_chunks(list(range(n)), 6)
        assert [x for chunk in chunks for x in chunk] == list(range(n))
        sizes = [len(chunk) for chunk in chunks]
        assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1
        assert len(chunks) % min(n, cores) == 0  # every worker gets as many chunks
        assert n < 12 or 4 <= n / len(chunks) <= 8  # about 6 per chunk


def test_98_pairs_on_two_workers_make_16_chunks_not_17(monkeypatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert [len(c) for c in even_chunks(list(range(98)), 6)] == [6] * 7 + [7] + [6] * 7 + [7]
