"""forked_map and forked_calls: the results of a plain loop, in order, from forked workers; in-process where
forking is not allowed."""

from __future__ import annotations

import os
from functools import partial
from multiprocessing import get_context

from hhh_eval.forked import forked_calls, forked_map


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
