"""Work on a stream of pieces in a second thread: how packing and pulling overlap their own work.

zlib, hashlib and file writes release the GIL, so a worker thread doing them runs on another core while the caller
builds tar headers, reads files or receives from a socket. The pieces go through a short queue (the caller waits when
the worker falls behind), and an error in the worker is raised in the caller.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Handoff(Generic[T]):
    """Pieces handed to ``consume``, which runs in a worker thread and gets them as an iterator.

    The caller must not touch a piece once it is put. An error in the worker is raised at the caller's next
    :meth:`put` or at :meth:`close`.
    """

    def __init__(self, consume: Callable[[Iterator[T]], None], *, name: str, depth: int = 4) -> None:
        self._consume = consume
        self._queue: queue.Queue[T | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._abandoned = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _pieces(self) -> Iterator[T]:
        while (piece := self._queue.get()) is not None:
            if not self._abandoned:
                yield piece

    def _run(self) -> None:
        pieces = self._pieces()
        try:
            self._consume(pieces)
        except BaseException as exc:  # handed to the caller, which raises it
            self._error = exc
        for _ in pieces:  # drain to the end, so the caller never blocks on a full queue
            pass

    def put(self, piece: T) -> None:
        """Queue ``piece``; raise the worker's error if it failed."""
        if self._error is not None:
            self.close()
        self._queue.put(piece)

    def close(self, *, abandon: bool = False) -> None:
        """Wait until everything queued is consumed; raise the worker's error. ``abandon``: the caller is raising its
        own error and discards the result; what is still queued is dropped and the worker's error not raised."""
        self._abandoned = self._abandoned or abandon
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if self._error is not None and not abandon:
            raise self._error
