"""One error hierarchy for the whole library.

The library raises these and never prints or exits; the CLI turns them into a
one-line message, a hint and an exit code in exactly one place.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence


class ExitCode(enum.IntEnum):
    """Process exit codes, one per error class (documented in the README)."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    INVALID = 3
    NOT_FOUND = 4
    LIFECYCLE = 5
    AUTH = 6
    NETWORK = 7
    MISSING_TOOL = 8
    CONFLICT = 9
    INTEGRITY = 10
    DRIFT = 11
    INTERNAL = 70
    INTERRUPTED = 130


class SkillctlError(Exception):
    """Base class: a message for the user, an optional hint and an exit code."""

    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(SkillctlError):
    """The call itself is wrong (bad option combination, malformed reference)."""

    exit_code = ExitCode.USAGE


class InvalidSkillError(SkillctlError):
    """A skill directory, SkillCard or SKILL.md does not pass validation.

    ``problems`` keeps every finding (``field: message``) so callers can show all
    of them at once.
    """

    exit_code = ExitCode.INVALID

    def __init__(self, message: str, *, problems: Sequence[str] = (), hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.problems = list(problems)


class UnsafeContentError(InvalidSkillError):
    """A file or archive entry that must not be packed or unpacked."""


class NotFoundError(SkillctlError):
    exit_code = ExitCode.NOT_FOUND


class LifecycleError(SkillctlError):
    exit_code = ExitCode.LIFECYCLE


class AuthError(SkillctlError):
    exit_code = ExitCode.AUTH


class NetworkError(SkillctlError):
    exit_code = ExitCode.NETWORK


class ToolNotFoundError(SkillctlError):
    exit_code = ExitCode.MISSING_TOOL


class ConflictError(SkillctlError):
    """Something already exists, or a reference matches more than one thing."""

    exit_code = ExitCode.CONFLICT


class IntegrityError(SkillctlError):
    """Content does not match its digest, or the store is damaged."""

    exit_code = ExitCode.INTEGRITY


class DriftError(SkillctlError):
    """Installed skills or the lock differ from what the project asks for (``sync --check``, ``--frozen``)."""

    exit_code = ExitCode.DRIFT

    def __init__(self, message: str, *, differences: Sequence[str] = (), hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.differences = list(differences)


class StoreError(SkillctlError):
    """The local store cannot be read or written."""

    exit_code = ExitCode.FAILURE


class TLSError(NetworkError):
    """Certificate verification or TLS/plain-HTTP mismatch."""


class ToolError(SkillctlError):
    """An external tool failed in a way we could not classify; keeps its stderr."""

    def __init__(
        self,
        message: str,
        *,
        argv: Sequence[str] = (),
        returncode: int | None = None,
        stderr: str = "",
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr


class ToolTimeoutError(NetworkError):
    """An external tool did not finish within its timeout."""


class UnsupportedOperation(SkillctlError):
    """No installed backend can do this operation safely."""

    exit_code = ExitCode.MISSING_TOOL
