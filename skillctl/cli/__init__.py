"""The ``skillctl`` command: a thin consumer of the library."""

from __future__ import annotations

import sys

from skillctl._version import __version__

VERSION_MESSAGE = "skillctl {version}"


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:
        # Answer without importing Click or the library: start-up time matters in scripts.
        print(VERSION_MESSAGE.format(version=__version__))
        return
    from skillctl.cli.app import cli

    cli.main(args=args, prog_name="skillctl")
