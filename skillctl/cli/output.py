"""Rendering shared by the commands: tables, JSON, warnings, sizes, times, and terminal-safe text.

Registries, bundles, receipts and skill files are untrusted: a value from one of them can hold a newline
that forges an output line, or escape sequences that move the cursor, clear the screen or set the
terminal's title. :func:`term` makes any value one harmless line; ``table``, ``warn``, ``say`` and the
error report apply it, and commands wrap other outside values in it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final, TypeVar

import click

from skillctl.core.errors import InvalidSkillError, SkillctlError
from skillctl.core.progress import SILENT, Progress

T = TypeVar("T")
R = TypeVar("R")

# C0 and C1 controls, DEL, the invisible format characters that reorder or hide text (bidi overrides,
# zero-width marks, line and paragraph separators), and lone surrogates (bytes that were not UTF-8).
_UNSAFE: Final = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]")
_NAMED: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    return _NAMED.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")


def term(value: object) -> str:
    """``value`` as one line a terminal shows as text: control and format characters become escapes
    (``\\n``, ``\\x1b``, ``\\u202e``); text without them is unchanged."""
    text = str(value)
    if not _UNSAFE.search(text):
        return text
    return _UNSAFE.sub(_escape, text)


def say(*parts: object, err: bool = False) -> None:
    """One output line made of ``parts``, each escaped with :func:`term`."""
    click.echo("".join(term(p) for p in parts), err=err)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))  # json escapes every control character


def warn(message: str) -> None:
    click.echo(f"warning: {term(message)}", err=True)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    cells = [[term(c) for c in row] for row in [headers, *rows]]
    widths = [len(h) for h in cells[0]]
    for row in cells[1:]:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    # One write: a table of 1,000 images is a tenth of `list`'s time when echoed line by line.
    click.echo("\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells))


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


def human_time(stamp: str, *, now: dt.datetime | None = None) -> str:
    """'3 minutes ago' for an RFC 3339 UTC time; the raw text if it does not parse."""
    # Checked here, parsed by fromisoformat: strptime would import _strptime and calendar (1.5 ms) for `list`.
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp, re.ASCII):
        return stamp
    try:
        when = dt.datetime.fromisoformat(stamp)
    except ValueError:  # a month 13
        return stamp
    seconds = int(((now or dt.datetime.now(dt.UTC)) - when).total_seconds())
    if seconds < 0:
        return stamp
    for unit, size in (("year", 31_536_000), ("month", 2_592_000), ("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"


def short_digest(digest: str) -> str:
    return digest.split(":", 1)[-1][:12]


def for_each(items: Sequence[T], action: Callable[[T], R], *, what: str) -> list[tuple[T, R]]:
    """Run ``action`` on every item (``pack a b c``, shell globs); one failure does not stop the others.

    With one item its error is raised as is. With several, each failure is reported as it happens and
    one error naming them all is raised at the end: the failures' own exit code when they share one.
    """
    if len(items) == 1:
        return [(items[0], action(items[0]))]
    done: list[tuple[T, R]] = []
    failed: list[tuple[T, SkillctlError]] = []
    for item in items:
        try:
            done.append((item, action(item)))
        except SkillctlError as exc:
            failed.append((item, exc))
            say("error: ", item, ": ", exc.message, err=True)
    if failed:
        codes = {exc.exit_code for _, exc in failed}
        message = f"{len(failed)} of {len(items)} {what} failed: {', '.join(str(i) for i, _ in failed)}"
        error = InvalidSkillError(message) if codes == {InvalidSkillError.exit_code} else SkillctlError(message)
        if len(codes) == 1:
            error.exit_code = codes.pop()
        error.hint = "the lines starting with 'error:' above say why"
        raise error
    return done


class TerminalProgress(Progress):
    """One status line on stderr, redrawn a few times a second, then a one-line summary per operation.

    ``what`` comes from references, which may be hostile: it is escaped like every outside value.
    """

    REDRAW: Final = 0.2

    def __init__(self, stream: Any = None) -> None:
        self._stream = stream or sys.stderr
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reset("", 0, "items", 0)

    def _reset(self, what: str, items: int, unit: str, size: int) -> None:
        self._what, self._items, self._unit, self._size = term(what), items, unit, size
        self._done_items = self._done_size = 0
        self._watched: Path | None = None
        self._started = time.monotonic()

    def begin(self, what: str, *, items: int = 0, unit: str = "items", size: int = 0) -> None:
        with self._lock:
            self._reset(what, items, unit, size)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="skillctl-progress", daemon=True)
        self._thread.start()

    def advance(self, *, items: int = 0, size: int = 0) -> None:
        with self._lock:
            self._done_items += items
            self._done_size += size

    def watch(self, path: Path | None) -> None:
        with self._lock:
            if path is None and self._watched is not None:
                self._done_size += _bytes_under(self._watched)  # what the tool wrote stays counted
            self._watched = path

    def end(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        items, size, elapsed = self._counts()
        parts = [f"{items} {self._unit}" if self._items or items else "", human_size(size) if size else ""]
        rate = f", {human_size(int(size / elapsed))}/s" if size and elapsed >= 0.5 else ""
        done = ", ".join(p for p in parts if p)
        self._write(f"\r\x1b[K{self._what}: {done + ' in ' if done else ''}{elapsed:.1f} s{rate}\n")

    def _counts(self) -> tuple[int, int, float]:
        with self._lock:
            watched = self._watched
            items, size = self._done_items, self._done_size
        if watched is not None:
            size += _bytes_under(watched)
        return items, size, time.monotonic() - self._started

    def _run(self) -> None:
        while not self._stop.wait(self.REDRAW):
            items, size, elapsed = self._counts()
            count = f"{items}/{self._items} {self._unit}" if self._items else ""
            moved = f"{human_size(size)}/{human_size(self._size)}" if self._size else human_size(size) if size else ""
            status = ", ".join(p for p in (count, moved, f"{elapsed:.0f} s") if p)
            self._write(f"\r\x1b[K{self._what}: {status}")

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):  # the terminal went away: progress is not worth an error
            self._stop.set()


def _bytes_under(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):  # removed while counting
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def progress_for(fmt: str = "text", quiet: bool = False) -> Progress:
    """A terminal's progress for a long command; silent for ``--format json``, ``-q`` and when stderr or stdout
    is not a terminal (a pipe, a log, CI)."""
    if fmt == "json" or quiet or not (_isatty(sys.stderr) and _isatty(sys.stdout)):
        return SILENT
    return TerminalProgress()


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
