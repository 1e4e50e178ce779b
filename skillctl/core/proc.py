"""The one place skillctl runs external programs.

Argument lists only (never a shell), a timeout on every call, the command
logged with secrets redacted, and failures turned into typed errors by reading
stderr: the tools' exit codes carry no meaning (skopeo always exits 1, podman
and buildah 125).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from skillctl.core.errors import (
    AuthError,
    IntegrityError,
    NetworkError,
    NotFoundError,
    SkillctlError,
    TLSError,
    ToolError,
    ToolNotFoundError,
    ToolTimeoutError,
)
from skillctl.core.logs import get_logger

log = get_logger(__name__)

INSTALL_HINTS: Final = {
    "skopeo": "apt-get install skopeo",
    "podman": "apt-get install podman",
    "buildah": "apt-get install buildah",
    "crane": "go install github.com/google/go-containerregistry/cmd/crane@v0.22.1",
    "umoci": "apt-get install umoci",
    "docker-registry": "apt-get install docker-registry",
}

# Order matters: the first pattern that matches decides the error class.
_CLASSIFY: Final[list[tuple[re.Pattern[str], type[SkillctlError]]]] = [
    # First: these messages quote digests, whose hex could match the patterns below.
    (
        re.compile(
            r"digest did not match|digest mismatch|does not match provided manifest digest|"
            r"does not match requested digest|"
            r"error verifying (?:sha256 checksum|size)",
            re.I,
        ),
        IntegrityError,
    ),
    (
        re.compile(r"x509:|certificate|tls: |server gave HTTP response to HTTPS client|https? response to", re.I),
        TLSError,
    ),
    (
        re.compile(
            # Not a bare "denied": a local "permission denied" is not a login problem.
            r"unauthorized|authentication required|invalid username/password|getting username and password|"
            r"requested access to the resource is denied|access denied|reading JSON file|\b401\b|\b403\b",
            re.I,
        ),
        AuthError,
    ),
    (
        re.compile(
            r"connection refused|no such host|i/o timeout|network is unreachable|connection reset|"
            r"dial tcp|EOF$|context deadline exceeded|TLS handshake timeout",
            re.I,
        ),
        NetworkError,
    ),
    (
        re.compile(
            r"manifest unknown|name unknown|not found|\b404\b|NAME_UNKNOWN|MANIFEST_UNKNOWN|"
            r"image not known|no descriptor found|does not exist|Image may not exist",
            re.I,
        ),
        NotFoundError,
    ),
]
_SKOPEO_MSG: Final = re.compile(r'level=(?:fatal|error) msg="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class ProcResult:
    argv: list[str]
    returncode: int
    stdout: bytes
    stderr: bytes
    seconds: float

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", errors="replace")


def redact(argv: Sequence[str], secrets: Sequence[str]) -> str:
    text = shlex.join(argv)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def clean_stderr(stderr: str) -> str:
    """The meaningful last line of a tool's stderr (skopeo's logrus wrapper removed)."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    for line in reversed(lines):
        match = _SKOPEO_MSG.search(line)
        if match:
            # logrus escapes newlines and tabs inside msg="..."; fold them into one line.
            text = match.group(1).replace('\\"', '"').replace("\\n", " ").replace("\\t", " ")
            return " ".join(text.split())
    last = lines[-1]
    return last[len("Error: ") :] if last.startswith("Error: ") else last


def classify(stderr: str) -> type[SkillctlError]:
    for pattern, error in _CLASSIFY:
        if pattern.search(stderr):
            return error
    return ToolError


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
    cwd: str | os.PathLike[str] | None = None,
    secrets: Sequence[str] = (),
    check: bool = True,
    what: str | None = None,
    max_file_bytes: int | None = None,
) -> ProcResult:
    """Run a tool; raise a typed :class:`SkillctlError` on failure when ``check``.

    ``max_file_bytes`` caps every file the tool writes (``RLIMIT_FSIZE``, set by util-linux ``prlimit``
    before the tool starts): a download cannot fill the disk with more than the registry declared.

    Raises:
        ToolNotFoundError: the program is not installed (with an install hint).
        ToolTimeoutError: it ran longer than ``timeout`` seconds.
        IntegrityError: it tried to write a file larger than ``max_file_bytes``.
        AuthError, TLSError, NetworkError, NotFoundError, ToolError: classified from stderr.
    """
    args = [str(a) for a in argv]
    path_var = (env or os.environ).get("PATH")
    exe = shutil.which(args[0], path=path_var)
    if exe is None:
        hint = INSTALL_HINTS.get(args[0])
        raise ToolNotFoundError(f"{args[0]} is not installed", hint=hint and f"install it: {hint}")
    command = [exe, *args[1:]]
    if max_file_bytes is not None:
        prlimit = shutil.which("prlimit", path=path_var) or shutil.which("prlimit")
        if prlimit is None:
            raise ToolNotFoundError(
                "prlimit is not installed; it caps what a download may write", hint="install util-linux"
            )
        command = [prlimit, f"--fsize={max_file_bytes}", "--", *command]
    shown = redact(args, secrets)
    log.info("running: %s", shown)
    start = time.monotonic()
    try:
        proc = subprocess.run(
            command,
            input=input,
            capture_output=True,
            timeout=timeout,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            check=False,
            stdin=subprocess.DEVNULL if input is None else None,
        )
    except subprocess.TimeoutExpired:
        raise ToolTimeoutError(
            f"{args[0]} did not finish within {timeout:.0f}s: {shown}", hint="raise --timeout or check the registry"
        ) from None
    seconds = time.monotonic() - start
    stderr = proc.stderr.decode("utf-8", errors="replace")
    for secret in secrets:
        if secret:
            stderr = stderr.replace(secret, "***")
    log.debug("exit %s after %.2fs; stderr: %s", proc.returncode, seconds, stderr.strip()[-2000:])
    result = ProcResult([exe, *args[1:]], proc.returncode, proc.stdout, stderr.encode(), seconds)
    if max_file_bytes is not None and (
        proc.returncode in (-signal.SIGXFSZ, 128 + signal.SIGXFSZ) or "file too large" in stderr.lower()
    ):
        raise IntegrityError(
            f"{what or args[0]}: stopped writing a file at {max_file_bytes} bytes: the registry sent more than "
            "its manifest declares",
            hint="the registry serves content that does not match its manifest; do not use it",
        )
    if check and proc.returncode != 0:
        raise error_for(args, proc.returncode, stderr, what=what, secrets=secrets)
    return result


def error_for(
    argv: Sequence[str], returncode: int, stderr: str, *, what: str | None = None, secrets: Sequence[str] = ()
) -> SkillctlError:
    detail = clean_stderr(stderr) or f"exit code {returncode}"
    message = f"{what or argv[0] + ' failed'}: {detail}"
    cls = classify(stderr)
    if cls is ToolError:
        return ToolError(
            message, argv=argv, returncode=returncode, stderr=stderr, hint=f"command: {redact(argv, secrets)}"
        )
    hints = {
        AuthError: "log in with 'skillctl login REGISTRY' or pass --authfile",
        TLSError: "put the registry's CA in ~/.config/containers/certs.d/HOST:PORT/ca.crt (or pass --cert-dir DIR), "
        "or --tls-verify=false for a local registry",
        NetworkError: "check that the registry is running and reachable",
        NotFoundError: "check the reference; 'skillctl list REPOSITORY' shows the tags a repository has",
        IntegrityError: "content does not match its digest: damaged registry storage, or tampering on the way",
    }
    return cls(message, hint=hints.get(cls))
