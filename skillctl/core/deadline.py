"""One deadline for a whole command: every request and every tool run gets only the time that is left.

A socket timeout bounds each ``recv``, not a request: a server that sends one
byte a second never trips it. So sockets are *watched*: when the deadline
passes, every watched socket is shut down, and whatever was reading from it
returns at once; the caller then sees :meth:`Deadline.remaining` raise.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from typing import TYPE_CHECKING, Final

from skillctl.core.errors import DeadlineExceeded

if TYPE_CHECKING:
    import socket

HINT: Final = "raise --timeout, or check that the registry answers"


class Deadline:
    """``seconds`` from now; shared by everything one command does."""

    def __init__(self, seconds: float) -> None:
        self.seconds = float(seconds)
        self.at = time.monotonic() + self.seconds
        self._lock = threading.Lock()
        self._watched: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._timer: threading.Timer | None = None

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
            if self._timer is None:
                self._timer = threading.Timer(max(self.left(), 0), self._expire)
                self._timer.daemon = True
                self._timer.start()
        if self.expired:
            self._expire()

    def unwatch(self, sock: socket.socket) -> None:
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
