"""Threads for many small registry reads, stopped at the first error."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def map_all(fn: Callable[[T], R], items: Iterable[T], workers: int) -> list[R]:
    """``fn`` over ``items``, ``workers`` at a time, results in order.

    Only a few calls are queued at once, and the first error cancels those and is raised: a deadline
    that passed must not wait for a hundred thousand queued reads to fail one by one.
    """
    workers = max(1, workers)
    todo = iter(enumerate(items))
    results: dict[int, R] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: dict[Future[R], int] = {}

        def refill() -> None:
            for index, item in todo:
                pending[pool.submit(fn, item)] = index
                if len(pending) >= 2 * workers:
                    return

        refill()
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    results[pending.pop(future)] = future.result()
                refill()
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return [results[i] for i in range(len(results))]
