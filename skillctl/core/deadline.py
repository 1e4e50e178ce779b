"""One deadline for a whole command: every request and every tool run gets only the time that is left.

A socket timeout bounds each ``recv``, not a request: a server that sends one
byte a second never trips it. So sockets are *watched*: when the deadline
passes, every watched socket is shut down, and whatever was reading from it
returns at once; the caller then sees :meth:`Deadline.remaining` raise.

One watchdog thread serves every deadline of the process: a thread started
and cancelled per request costs more than a catalog's registry read itself.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import threading
import time
import weakref
from typing import TYPE_CHECKING, Final

from skillctl.core.errors import DeadlineExceeded

if TYPE_CHECKING:
    import socket

HINT: Final = "raise --timeout, or check that the registry answers"


class _Watchdog:
    """One daemon thread that expires deadlines in time order; a deadline is scheduled once, weakly held."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, weakref.ref[Deadline]]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def schedule(self, deadline: Deadline) -> None:
        with self._cond:
            if len(self._heap) > 10_000:  # a server's per-request deadlines: forget the ones already gone
                self._heap = [entry for entry in self._heap if entry[2]() is not None]
                heapq.heapify(self._heap)
            heapq.heappush(self._heap, (deadline.at, next(self._seq), weakref.ref(deadline)))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="skillctl-deadlines", daemon=True)
                self._thread.start()
            elif self._heap[0][2]() is deadline:
                self._cond.notify()  # the new deadline is the earliest: wake the thread to wait less

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                at, _, ref = self._heap[0]
                wait = at - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
            deadline = ref()
            if deadline is not None:
                deadline._expire()


_WATCHDOG = _Watchdog()
os.register_at_fork(after_in_child=lambda: _WATCHDOG.__init__())  # the thread does not survive a fork


class Deadline:
    """``seconds`` from now; shared by everything one command does."""

    def __init__(self, seconds: float) -> None:
        self.seconds = float(seconds)
        self.at = time.monotonic() + self.seconds
        self._lock = threading.Lock()
        self._watched: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._scheduled = False

    def __repr__(self) -> str:
        return f"Deadline({self.seconds:g}s, {self.left():.1f}s left)"

    def left(self) -> float:
        """Seconds left (negative once passed); never raises."""
        return self.at - time.monotonic()

    @property
    def expired(self) -> bool:
        return self.left() <= 0

    def remaining(self, what: str = "the operation") -> float:
        """Seconds left for ``what``.

        Raises:
            DeadlineExceeded: none are left.
        """
        left = self.left()
        if left <= 0:
            raise DeadlineExceeded(f"{what}: --timeout of {self.seconds:g}s reached", hint=HINT)
        return left

    def watch(self, sock: socket.socket) -> None:
        """Shut ``sock`` down when the deadline passes (unless it was closed before)."""
        with self._lock:
            self._watched.add(sock)
            schedule = not self._scheduled
            self._scheduled = True
        if schedule:
            _WATCHDOG.schedule(self)
        if self.expired:
            self._expire()

    def unwatch(self, sock: socket.socket) -> None:
        """Stop watching ``sock`` (it is done, or closed)."""
        with self._lock:
            self._watched.discard(sock)

    def _expire(self) -> None:
        with self._lock:
            watched = list(self._watched)
            self._watched.clear()
        import socket  # loaded already by whoever made the sockets; kept off the start-up of other commands

        for sock in watched:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def within(deadline: Deadline | None, seconds: float) -> Deadline:
    """``deadline``, or a new one of ``seconds`` for a call made without a command-wide deadline."""
    return deadline if deadline is not None else Deadline(seconds)
