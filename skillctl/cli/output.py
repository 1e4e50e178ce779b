"""Rendering helpers shared by the commands: tables, JSON, sizes, times."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def output_options(func: F) -> F:
    """``--format text|json`` and ``-q/--quiet`` for commands that report something."""
    func = click.option("-q", "--quiet", is_flag=True, help="Print only references or digests, one per line.")(func)
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help="Output format; json keys are documented and stable.",
    )(func)


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


def registry_options(func: F) -> F:
    """``--tls-verify``, ``--cert-dir``, ``--authfile``, ``--backend``, ``--timeout`` (as skopeo and podman spell them).

    The command receives ``registry`` (a RegistryOptions) and ``backend`` (a name or None).
    """
    import functools
    from pathlib import Path

    @click.option(
        "--tls-verify",
        type=click.BOOL,
        default=True,
        show_default=True,
        metavar="BOOL",
        help="Verify TLS certificates; --tls-verify=false also allows plain HTTP.",
    )
    @click.option(
        "--cert-dir",
        type=click.Path(path_type=Path, file_okay=False, exists=True),
        help="Directory of CA certificates (*.crt) and client keys for the registry.",
    )
    @click.option(
        "--authfile",
        type=click.Path(path_type=Path, dir_okay=False),
        envvar="REGISTRY_AUTH_FILE",
        show_envvar=True,
        help="Auth file to use first (containers auth.json or Docker config.json).",
    )
    @click.option(
        "--backend",
        envvar="SKILLCTL_BACKEND",
        show_envvar=True,
        help="Tool to talk to registries: skopeo, crane, podman or buildah (default: first installed).",
    )
    @click.option(
        "--timeout",
        type=click.FloatRange(min=1),
        default=600,
        show_default=True,
        help="Seconds before a registry operation is abandoned.",
    )
    @functools.wraps(func)
    def wrapper(
        *args: Any, tls_verify: bool, cert_dir: Any, authfile: Any, backend: str | None, timeout: float, **kwargs: Any
    ) -> Any:
        from skillctl.backends.base import RegistryOptions

        kwargs["registry"] = RegistryOptions(
            tls_verify=tls_verify, cert_dir=cert_dir, authfile=authfile, timeout=timeout
        )
        if click.get_current_context().get_parameter_source("backend") is click.core.ParameterSource.ENVIRONMENT:
            backend = None  # the selection reads $SKILLCTL_BACKEND itself, so -v names the right reason
        kwargs["backend"] = backend
        return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


class SizeType(click.ParamType):
    """A byte count: 1048576, 512K, 512M or 2G (powers of 1024)."""

    name = "SIZE"
    _UNITS: ClassVar[dict[str, int]] = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip().upper().removesuffix("B").removesuffix("I")
        unit = text[-1:] if text[-1:] in "KMG" else ""
        try:
            size = int(float(text[: len(text) - len(unit)]) * self._UNITS[unit])
        except (ValueError, OverflowError):
            size = 0
        if size <= 0:
            self.fail(f"{value!r} is not a size such as 512M or 2G", param, ctx)
        return size


def limit_options(func: F) -> F:
    """``--max-size`` and ``--max-files``: the caps every unpack enforces against decompression bombs."""
    func = click.option(
        "--max-files",
        type=click.IntRange(min=1),
        default=20_000,
        show_default=True,
        help="Refuse images with more entries than this.",
    )(func)
    return click.option(
        "--max-size",
        type=SizeType(),
        default="512M",
        show_default=True,
        help="Refuse images that unpack to more than this.",
    )(func)


def unpack_limits(max_size: int, max_files: int) -> Any:
    from skillctl.unpack import UnpackLimits

    return UnpackLimits(max_bytes=max_size, max_files=max_files)
