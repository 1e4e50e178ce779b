"""The worker thread packing and pulling hand their pieces to (``core.handoff``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from skillctl.core.handoff import Handoff


def test_every_piece_is_consumed_in_order_before_close_returns() -> None:
    got: list[int] = []
    worker_threads: set[str] = set()

    def consume(pieces: Iterator[int]) -> None:
        for piece in pieces:
            worker_threads.add(threading.current_thread().name)
            got.append(piece)

    handoff: Handoff[int] = Handoff(consume, name="test-worker", depth=2)
    for i in range(100):
        handoff.put(i)
    handoff.close()
    assert got == list(range(100))
    assert worker_threads == {"test-worker"}


def test_an_error_in_the_worker_is_raised_in_the_caller_which_never_blocks() -> None:
    def consume(pieces: Iterator[int]) -> None:
        for piece in pieces:
            if piece == 3:
                raise OSError(28, "No space left on device")

    handoff: Handoff[int] = Handoff(consume, name="test-worker", depth=1)
    with pytest.raises(OSError, match="No space left"):
        for i in range(10_000):  # far more than the queue holds: the worker drains after its error
            handoff.put(i)
        handoff.close()
    with pytest.raises(OSError, match="No space left"):
        handoff.close()  # and again, for a caller that closes after its own handling


def test_abandoning_drops_what_is_queued_and_keeps_the_callers_error() -> None:
    started, release = threading.Event(), threading.Event()
    got: list[int] = []

    def consume(pieces: Iterator[int]) -> None:
        for piece in pieces:
            started.set()
            release.wait(10)
            got.append(piece)
        raise ValueError("the worker failed too")

    handoff: Handoff[int] = Handoff(consume, name="test-worker", depth=8)
    handoff.put(0)
    assert started.wait(10)
    for i in range(1, 6):
        handoff.put(i)  # queued behind the piece the worker holds
    threading.Timer(0.2, release.set).start()  # the worker goes on once close has begun
    handoff.close(abandon=True)  # the caller's own error is on its way: nothing raised here
    assert got == [0]  # the queued pieces were dropped
