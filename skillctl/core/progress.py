"""What a long operation (push, pull, mirror, save, load, a collection's installs) reports while it runs.

The library only counts: items and bytes done out of a total known up front, and a directory a tool is
writing into, whose bytes count as arrived. Drawing it is the CLI's business, and only on a terminal;
the default, :data:`SILENT`, drops everything.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path


class Progress:
    """Counts for one operation at a time; every method is cheap and safe to call from worker threads."""

    def begin(self, what: str, *, items: int = 0, unit: str = "items", size: int = 0) -> None:
        """A new operation: ``items`` (of ``unit``) and ``size`` bytes to move, where known (0 otherwise)."""

    def advance(self, *, items: int = 0, size: int = 0) -> None:
        """``items`` more done, ``size`` more bytes moved."""

    def watch(self, path: Path | None) -> None:
        """Count the bytes under ``path`` as moved while a tool writes there; ``None`` stops watching."""

    def end(self) -> None:
        """The operation finished (it may have failed: the caller's error says so)."""


SILENT = Progress()


@contextlib.contextmanager
def running(progress: Progress, what: str, *, items: int = 0, unit: str = "items", size: int = 0) -> Iterator[None]:
    """``begin`` now, ``end`` however the block ends."""
    progress.begin(what, items=items, unit=unit, size=size)
    try:
        yield
    finally:
        progress.end()
