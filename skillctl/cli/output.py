"""Rendering shared by the commands: tables, JSON, warnings, sizes, times, and terminal-safe text.

Registries, bundles, receipts and skill files are untrusted: a value from one of them can hold a newline
that forges an output line, or escape sequences that move the cursor, clear the screen or set the
terminal's title. :func:`term` makes any value one harmless line; ``table``, ``warn``, ``say`` and the
error report apply it, and commands wrap other outside values in it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

import click

from skillctl.core.errors import InvalidSkillError, SkillctlError

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
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


def human_time(stamp: str, *, now: dt.datetime | None = None) -> str:
    """'3 minutes ago' for an RFC 3339 UTC time; the raw text if it does not parse."""
    try:
        when = dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
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
