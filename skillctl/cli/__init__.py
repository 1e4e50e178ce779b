"""The ``skillctl`` command: a thin consumer of the library.

Inside: ``app`` (the group and the one place errors become exit codes) above the command modules, which stand
on ``options``, ``output`` and ``context``. The command modules import only those, never each other.
"""

from __future__ import annotations

import os
import sys

from skillctl._version import __version__

VERSION_MESSAGE = "skillctl {version}"


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    args = sys.argv[1:] if argv is None else argv
    if args in (["--version"], ["-v"]):  # -v alone: the version, as the Go skillctl's -v prints it
        # Answer without importing Click or the library: start-up time matters in scripts.
        try:
            print(VERSION_MESSAGE.format(version=__version__), flush=True)
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(141)
        return
    from skillctl.cli.app import cli

    cli.main(args=args, prog_name="skillctl")
