"""Rendering shared by the commands: tables, JSON, warnings, sizes, times."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from skillctl.core.errors import InvalidSkillError, SkillctlError

T = TypeVar("T")
R = TypeVar("R")


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))


def warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    for row in [headers, *rows]:
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
            click.echo(f"error: {item}: {exc.message}", err=True)
    if failed:
        codes = {exc.exit_code for _, exc in failed}
        message = f"{len(failed)} of {len(items)} {what} failed: {', '.join(str(i) for i, _ in failed)}"
        error = InvalidSkillError(message) if codes == {InvalidSkillError.exit_code} else SkillctlError(message)
        if len(codes) == 1:
            error.exit_code = codes.pop()
        error.hint = "the lines starting with 'error:' above say why"
        raise error
    return done
