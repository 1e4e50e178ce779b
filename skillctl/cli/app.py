"""The Click group: global options, command aliases, and the one place errors become exit codes."""

from __future__ import annotations

import datetime as dt
import errno
import importlib
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from skillctl._version import __version__
from skillctl.cli import VERSION_MESSAGE
from skillctl.cli.context import Settings
from skillctl.cli.output import say
from skillctl.core import logs
from skillctl.core.errors import (
    ExitCode,
    FileSystemError,
    NetworkError,
    SkillctlError,
    UsageError,
)

ALIASES = {"build": "pack", "ls": "list", "delete": "rm"}

# Each command's module, by command name: a command's module is imported when the command runs (or --help lists
# it), so `skillctl validate` loads neither the registry client nor the signing code. tests/unit/test_startup_imports.py
# checks this table against every module's COMMANDS.
COMMAND_MODULES: dict[str, str] = {
    **dict.fromkeys(["validate", "init", "pack", "version"], "skills"),
    **dict.fromkeys(["list", "inspect", "tag", "rm", "prune"], "store"),
    **dict.fromkeys(["push", "pull", "login", "logout"], "registry"),
    "promote": "lifecycle",
    **dict.fromkeys(["approve", "attest", "gates", "history"], "governance"),
    **dict.fromkeys(["lint", "diff"], "review"),
    **dict.fromkeys(["install", "upgrade", "uninstall"], "agents"),
    **dict.fromkeys(["add", "remove", "sync", "update", "outdated"], "project"),
    **dict.fromkeys(["kube", "collection"], "kube"),
    **dict.fromkeys(["keygen", "sign", "verify"], "signing"),
    **dict.fromkeys(["mirror", "save", "load"], "airgap"),
    "serve": "serve",
    "mcp": "mcp",
    "catalog": "catalog",
}


DEFAULT_HINTS = {
    ExitCode.FAILURE: "rerun with -v to see the commands skillctl ran",
    ExitCode.USAGE: "see the command's --help",
    ExitCode.INVALID: "fix what the message names, then run the command again",
    ExitCode.NOT_FOUND: "check the name; 'skillctl list' shows local images, 'skillctl list REPO' a registry's",
    ExitCode.LIFECYCLE: "promotion goes one step at a time: draft, testing, published, deprecated, archived",
    ExitCode.AUTH: "log in with 'skillctl login REGISTRY' or pass --authfile",
    ExitCode.NETWORK: "check the registry address; --tls-verify=false for plain-HTTP registries, --cert-dir for a CA",
    ExitCode.MISSING_TOOL: "install the tool named above (make tools installs them all)",
    ExitCode.CONFLICT: "name exactly what you mean, or pass --force where the command has it",
    ExitCode.INTEGRITY: "the content does not match its digest or signature; do not use it",
    ExitCode.DRIFT: "run 'skillctl sync' and commit skills.lock.yaml",
}


def report_error(error: SkillctlError) -> None:
    say("Error: ", error.message, err=True)
    problems = list(getattr(error, "problems", None) or [])  # validation findings, unmet promotion gates
    if len(problems) > 1 or (problems and problems[0] not in error.message):
        for problem in problems:
            say("  ", problem, err=True)
    say("hint: ", error.hint or DEFAULT_HINTS.get(error.exit_code, "see skillctl --help"), err=True)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that every ``finally`` cleans up, as for Ctrl-C."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


def error_from_os(exc: OSError) -> SkillctlError:
    """An OSError nothing below classified: the environment (a full or read-only disk, permissions,
    a path too long), never a bug. One line naming the file and what the system said."""
    import socket

    where = f"{exc.filename}: " if exc.filename else ""
    text = f"{where}{exc.strerror or exc}"
    if exc.errno == errno.ENAMETOOLONG:
        return UsageError(f"{text} (a path or file name is longer than the system allows)")
    if isinstance(exc, ConnectionError | TimeoutError | socket.gaierror):
        return NetworkError(text)
    return FileSystemError(text, hint="check free space, permissions and the path named above")


def _crash_report(exc: BaseException) -> Path | None:
    import platform
    import traceback

    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "skillctl"
    try:
        state.mkdir(parents=True, exist_ok=True)
        path = state / f"crash-{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%S')}.log"
        path.write_text(
            f"# skillctl crash report\n\n- skillctl {__version__}\n- Python {platform.python_version()}\n"
            f"- {platform.platform()}\n- argv: {sys.argv!r}\n\n```\n{''.join(traceback.format_exception(exc))}```\n",
            encoding="utf-8",
        )
        return path
    except OSError:
        return None


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


_LOG_HANDLER = "skillctl.cli"


def _log_to_stderr(verbose: int, debug: bool) -> None:
    """Print the library's log records as ``skillctl: message`` lines, at the level -v/-vv/--debug ask for.

    Deferred by :func:`skillctl.core.logs.configure` until something logs: commands that log nothing never
    import logging.
    """
    import logging

    class EchoHandler(logging.Handler):
        """Log lines go to whatever stderr is now (Click's test runner swaps it), like every other message."""

        def emit(self, record: logging.LogRecord) -> None:
            say(self.format(record), err=True)

    logger = logging.getLogger("skillctl")
    for old in [h for h in logger.handlers if h.get_name() == _LOG_HANDLER]:
        logger.removeHandler(old)
    handler = EchoHandler()
    handler.set_name(_LOG_HANDLER)
    handler.setFormatter(logging.Formatter("skillctl: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose > 1 or debug else logging.INFO if verbose else logging.WARNING)
    logger.propagate = False


class SkillctlGroup(click.Group):
    """The top-level group: aliases, commands loaded from their module on first use, and skillctl's error format."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._loaded: dict[str, click.Command] = {}
        super().__init__(*args, **kwargs)

    @property
    def commands(self) -> dict[str, click.Command]:  # type: ignore[override]
        """Every command, each module imported: for callers that walk the whole tree (completion, tests)."""
        for name in COMMAND_MODULES:
            self._load(name)
        return self._loaded

    @commands.setter
    def commands(self, value: dict[str, click.Command]) -> None:
        self._loaded = dict(value)

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        name = name or cmd.name
        assert name is not None
        self._loaded[name] = cmd

    def _load(self, name: str) -> click.Command | None:
        if name not in self._loaded and name in COMMAND_MODULES:
            module = importlib.import_module(f"skillctl.cli.{COMMAND_MODULES[name]}")
            for command in module.COMMANDS:
                self._loaded.setdefault(command.name, command)
        return self._loaded.get(name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self._loaded, *COMMAND_MODULES})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(ALIASES.get(cmd_name, cmd_name))

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        _, cmd, rest = super().resolve_command(ctx, args)
        return (cmd.name if cmd else None), cmd, rest

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        """Click's own errors in skillctl's format: one ``Error:`` line and a ``hint:`` line."""
        previous = signal.getsignal(signal.SIGTERM) if _main_thread() else None
        if previous is not None:
            signal.signal(signal.SIGTERM, _terminate)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx else "skillctl"
            say("Error: ", exc.format_message(), err=True)
            say(f"hint: see '{command} --help'", err=True)
            code = exc.exit_code
        except click.ClickException as exc:
            say("Error: ", exc.format_message(), err=True)
            code = exc.exit_code
        except click.exceptions.Abort:  # Ctrl-C or EOF at a prompt
            click.echo("Interrupted.", err=True)
            code = int(ExitCode.INTERRUPTED)
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        code = code if isinstance(code, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SkillctlError as exc:
            report_error(exc)
            ctx.exit(int(exc.exit_code))
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except BrokenPipeError:
            # The reader went away (`skillctl list | head`): stop quietly, as shell tools do.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(141)
        except OSError as exc:
            error = error_from_os(exc)
            report_error(error)
            ctx.exit(int(error.exit_code))
        except KeyboardInterrupt as exc:
            click.echo("Interrupted.", err=True)
            ctx.exit(int(ExitCode.TERMINATED if isinstance(exc, Terminated) else ExitCode.INTERRUPTED))
        except Exception as exc:
            settings = ctx.obj if isinstance(ctx.obj, Settings) else None
            if settings and settings.debug:
                import traceback

                traceback.print_exc()
            path = _crash_report(exc)
            say(f"Error: unexpected error (a bug in skillctl): {exc!r}", err=True)
            click.echo(
                f"hint: please report it{f' with {path}' if path else ''}; rerun with --debug for the traceback",
                err=True,
            )
            ctx.exit(int(ExitCode.INTERNAL))


@click.group(cls=SkillctlGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", message=VERSION_MESSAGE.replace("{version}", "%(version)s"))
@click.option(
    "--store",
    "store_path",
    type=click.Path(path_type=Path, file_okay=False),
    envvar="SKILLCTL_STORE",
    show_envvar=True,
    help="Local store (OCI layout). Default: $XDG_DATA_HOME/skillctl/store.",
)
@click.option("-v", "--verbose", count=True, help="Say more: -v for progress, -vv for debug detail.")
@click.option("--debug", is_flag=True, help="Show tracebacks of unexpected errors.")
@click.pass_context
def cli(ctx: click.Context, store_path: Path | None, verbose: int, debug: bool) -> None:
    """Package, govern and ship AI agent skills as FROM-scratch OCI images.

    \b
    skillctl validate examples/hello-world
    skillctl pack examples/hello-world
    skillctl list
    skillctl inspect examples/hello-world:1.0.0-draft
    """
    logs.configure(lambda: _log_to_stderr(verbose, debug))
    ctx.obj = Settings(store_path=store_path, verbose=verbose, debug=debug)


@cli.command(short_help="Print the shell completion script.")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script.

    \b
    eval "$(skillctl completion bash)"     # in ~/.bashrc
    """
    from click.shell_completion import get_completion_class

    comp_cls = get_completion_class(shell)
    assert comp_cls is not None
    click.echo(comp_cls(cli, {}, "skillctl", "_SKILLCTL_COMPLETE").source())
