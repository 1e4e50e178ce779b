"""skillctl.core.proc: argv-only runs, timeouts, missing tools, stderr classification and redaction, on children."""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

import pytest

from skillctl.core import proc
from skillctl.core.errors import (
    AuthError,
    ExitCode,
    IntegrityError,
    NetworkError,
    NotFoundError,
    SkillctlError,
    TLSError,
    ToolError,
    ToolNotFoundError,
    ToolTimeoutError,
)

PY = sys.executable
FAIL_WITH_STDERR = "import sys; sys.stderr.write(sys.argv[1]); sys.exit(int(sys.argv[2]))"


def skopeo_fatal(msg: str) -> str:
    """How skopeo (logrus) prints a fatal error: quotes inside the message are escaped."""
    escaped = msg.replace('"', '\\"')
    return f'time="2026-11-25T10:00:00Z" level=fatal msg="{escaped}"\n'


def podman_error(msg: str) -> str:
    return f"Error: {msg}\n"


def fail(stderr: str, code: int = 1, **kwargs: object) -> SkillctlError:
    with pytest.raises(SkillctlError) as exc:
        proc.run([PY, "-c", FAIL_WITH_STDERR, stderr, str(code)], timeout=30, **kwargs)  # type: ignore[arg-type]
    return exc.value


# -- running ---------------------------------------------------------------------------------------


def test_runs_an_argument_list_without_a_shell() -> None:
    hostile = "$(touch /tmp/pwned); echo `id` > x; *"
    result = proc.run([PY, "-c", "import sys; print(sys.argv[1])", hostile], timeout=30)
    assert result.returncode == 0
    assert result.text == hostile + "\n"
    assert Path(result.argv[0]).is_absolute()
    assert result.seconds >= 0


def test_stdin_is_closed_unless_input_is_given() -> None:
    read_stdin = [PY, "-c", "import sys; print(repr(sys.stdin.read()))"]
    assert proc.run(read_stdin, timeout=10).text == "''\n"
    assert proc.run(read_stdin, timeout=10, input=b"registry.example\n").text == "'registry.example\\n'\n"


def test_env_replaces_the_environment(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "ONLY_THIS": "yes"}
    out = proc.run([PY, "-c", "import os; print(sorted(os.environ))"], timeout=30, env=env).text
    assert "ONLY_THIS" in out
    assert "HOME" not in out


def test_check_false_returns_the_failure() -> None:
    result = proc.run([PY, "-c", FAIL_WITH_STDERR, "boom", "3"], timeout=30, check=False)
    assert result.returncode == 3
    assert result.stderr == b"boom"


def test_timeout_kills_the_child_and_raises() -> None:
    start = time.monotonic()
    with pytest.raises(ToolTimeoutError) as exc:
        proc.run([PY, "-c", "import time; time.sleep(60)"], timeout=0.5)
    assert time.monotonic() - start < 10
    assert isinstance(exc.value, NetworkError)
    assert exc.value.exit_code == ExitCode.NETWORK
    assert "did not finish within" in str(exc.value)
    assert exc.value.hint and "--timeout" in exc.value.hint


@pytest.mark.parametrize(
    ("tool", "hint"),
    [
        ("skopeo", "apt-get install skopeo"),
        ("podman", "apt-get install podman"),
        ("buildah", "apt-get install buildah"),
        ("crane", "go install github.com/google/go-containerregistry/cmd/crane@v0.22.1"),
    ],
)
def test_missing_tool_has_an_install_hint(tool: str, hint: str, tmp_path: Path) -> None:
    with pytest.raises(ToolNotFoundError) as exc:
        proc.run([tool, "--version"], timeout=10, env={"PATH": str(tmp_path)})
    assert exc.value.exit_code == ExitCode.MISSING_TOOL
    assert str(exc.value) == f"{tool} is not installed"
    assert exc.value.hint == f"install it: {hint}"


def test_missing_unknown_program(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolNotFoundError) as exc:
        proc.run(["no-such-tool-for-skillctl"], timeout=10)
    assert exc.value.hint is None


# -- classification (real stderr texts from shared/notes/container-tools.md §2.j) ---------------------

CASES = [
    # (stderr, exit code, error class, cleaned message)
    (
        skopeo_fatal(
            'Error parsing image name "docker://127.0.0.1:5601/test/go:nope": '
            "reading manifest nope in 127.0.0.1:5601/test/go: manifest unknown: manifest unknown"
        ),
        1,
        NotFoundError,
        'Error parsing image name "docker://127.0.0.1:5601/test/go:nope": '
        "reading manifest nope in 127.0.0.1:5601/test/go: manifest unknown: manifest unknown",
    ),
    (
        skopeo_fatal(
            "Error listing repository tags: fetching tags list: invalid status code from registry 404 (Not Found)"
        ),
        1,
        NotFoundError,
        "Error listing repository tags: fetching tags list: invalid status code from registry 404 (Not Found)",
    ),
    (
        skopeo_fatal(
            'pinging container registry 127.0.0.1:5699: Get "http://127.0.0.1:5699/v2/": '
            "dial tcp 127.0.0.1:5699: connect: connection refused"
        ),
        1,
        NetworkError,
        'pinging container registry 127.0.0.1:5699: Get "http://127.0.0.1:5699/v2/": '
        "dial tcp 127.0.0.1:5699: connect: connection refused",
    ),
    (
        skopeo_fatal(
            'pinging container registry 127.0.0.1:5601: Get "https://127.0.0.1:5601/v2/": '
            "http: server gave HTTP response to HTTPS client"
        ),
        1,
        TLSError,
        'pinging container registry 127.0.0.1:5601: Get "https://127.0.0.1:5601/v2/": '
        "http: server gave HTTP response to HTTPS client",
    ),
    (
        skopeo_fatal("reading manifest 1.0.0-draft in 127.0.0.1:5602/s/go: unauthorized: authentication required"),
        1,
        AuthError,
        "reading manifest 1.0.0-draft in 127.0.0.1:5602/s/go: unauthorized: authentication required",
    ),
    (
        podman_error(
            "trying to reuse blob sha256:1eff22 at destination: checking whether a blob sha256:1eff22 exists in "
            "127.0.0.1:5602/s/go: unauthorized: authentication required"
        ),
        125,
        AuthError,
        "trying to reuse blob sha256:1eff22 at destination: checking whether a blob sha256:1eff22 exists in "
        "127.0.0.1:5602/s/go: unauthorized: authentication required",
    ),
    (
        skopeo_fatal("unable to retrieve auth token: invalid username/password: unauthorized: authentication required"),
        1,
        AuthError,
        "unable to retrieve auth token: invalid username/password: unauthorized: authentication required",
    ),
    (
        podman_error('logging into "127.0.0.1:5602": invalid username/password'),
        125,
        AuthError,
        'logging into "127.0.0.1:5602": invalid username/password',
    ),
    (
        skopeo_fatal(
            'pinging container registry 127.0.0.1:5602: Get "https://127.0.0.1:5602/v2/": '
            "x509: certificate signed by unknown authority"
        ),
        1,
        TLSError,
        'pinging container registry 127.0.0.1:5602: Get "https://127.0.0.1:5602/v2/": '
        "x509: certificate signed by unknown authority",
    ),
    (
        podman_error(
            "initializing source docker://127.0.0.1:5603/s/go:1: pinging container registry 127.0.0.1:5603: "
            'Get "https://127.0.0.1:5603/v2/": x509: cannot validate certificate for 127.0.0.1 because it '
            "doesn't contain any IP SANs"
        ),
        125,
        TLSError,
        "initializing source docker://127.0.0.1:5603/s/go:1: pinging container registry 127.0.0.1:5603: "
        'Get "https://127.0.0.1:5603/v2/": x509: cannot validate certificate for 127.0.0.1 because it '
        "doesn't contain any IP SANs",
    ),
    (podman_error("localhost/nope:1: image not known"), 125, NotFoundError, "localhost/nope:1: image not known"),
    (
        podman_error(
            'pushing image "localhost/nope:1" to "docker://127.0.0.1:5601/x/y:1": localhost/nope:1: image not known'
        ),
        125,
        NotFoundError,
        'pushing image "localhost/nope:1" to "docker://127.0.0.1:5601/x/y:1": localhost/nope:1: image not known',
    ),
    (
        skopeo_fatal(
            'writing blob: storing blob to file "/tmp/l/blobs/sha256/6f2a": happened during read: '
            "Digest did not match, expected sha256:6f2a404e, got sha256:91c0401a"
        ),
        1,
        IntegrityError,
        'writing blob: storing blob to file "/tmp/l/blobs/sha256/6f2a": happened during read: '
        "Digest did not match, expected sha256:6f2a404e, got sha256:91c0401a",
    ),
    # crane (cobra): "Error: ..." and exit 1
    (
        podman_error(
            "GET https://127.0.0.1:5602/v2/s/go/manifests/1: UNAUTHORIZED: authentication required; "
            "[map[Action:pull Class: Name:s/go Type:repository]]"
        ),
        1,
        AuthError,
        "GET https://127.0.0.1:5602/v2/s/go/manifests/1: UNAUTHORIZED: authentication required; "
        "[map[Action:pull Class: Name:s/go Type:repository]]",
    ),
    (
        podman_error(
            'Get "https://127.0.0.1:5699/v2/": dial tcp 127.0.0.1:5699: connect: connection refused; '
            'Get "http://127.0.0.1:5699/v2/": dial tcp 127.0.0.1:5699: connect: connection refused'
        ),
        1,
        NetworkError,
        'Get "https://127.0.0.1:5699/v2/": dial tcp 127.0.0.1:5699: connect: connection refused; '
        'Get "http://127.0.0.1:5699/v2/": dial tcp 127.0.0.1:5699: connect: connection refused',
    ),
    (
        podman_error(
            "fetching manifest 127.0.0.1:5601/t/go:nope: GET http://127.0.0.1:5601/v2/t/go/manifests/nope: "
            "MANIFEST_UNKNOWN: manifest unknown; map[Tag:nope]"
        ),
        1,
        NotFoundError,
        "fetching manifest 127.0.0.1:5601/t/go:nope: GET http://127.0.0.1:5601/v2/t/go/manifests/nope: "
        "MANIFEST_UNKNOWN: manifest unknown; map[Tag:nope]",
    ),
]


@pytest.mark.parametrize(("stderr", "code", "error", "message"), CASES)
def test_stderr_is_classified(stderr: str, code: int, error: type[SkillctlError], message: str) -> None:
    exc = fail("Getting image source signatures\n" + stderr, code, what="the operation")
    assert type(exc) is error
    assert str(exc) == f"the operation: {message}"
    expected_code = {
        NotFoundError: ExitCode.NOT_FOUND,
        AuthError: ExitCode.AUTH,
        NetworkError: ExitCode.NETWORK,
        TLSError: ExitCode.NETWORK,
        IntegrityError: ExitCode.INTEGRITY,
    }
    assert exc.exit_code == expected_code[error]
    assert exc.hint


@pytest.mark.parametrize(
    "stderr",
    [
        skopeo_fatal("Source image rejected: Running image docker://r/x:1 is rejected by policy."),
        podman_error(
            "DELETE http://127.0.0.1:5601/v2/x/go/manifests/sha256:09d2: UNSUPPORTED: The operation is unsupported."
        ),
    ],
)
def test_unclassified_failures_keep_the_details(stderr: str) -> None:
    exc = fail(stderr, 1)
    assert type(exc) is ToolError
    assert exc.exit_code == ExitCode.FAILURE
    assert exc.returncode == 1
    assert exc.stderr == stderr
    assert exc.argv[0] == PY
    assert exc.hint and exc.hint.startswith("command: ")


def test_empty_stderr_names_the_exit_code() -> None:
    exc = fail("", 125)
    assert type(exc) is ToolError
    assert "exit code 125" in str(exc)


def test_clean_stderr() -> None:
    assert proc.clean_stderr(skopeo_fatal('reading "x": manifest unknown')) == 'reading "x": manifest unknown'
    assert proc.clean_stderr("Trying to pull...\nError: boom\n") == "boom"
    assert proc.clean_stderr("\n\n") == ""


# -- secrets -----------------------------------------------------------------------------------------


def test_secrets_are_redacted_in_log_and_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="skillctl")
    secret = "hunter2-Sup3rSecret"
    script = "import sys; sys.stderr.write('unauthorized: bad credentials ' + sys.argv[1]); sys.exit(1)"
    with pytest.raises(AuthError) as exc:
        proc.run([PY, "-c", script, secret], timeout=30, secrets=[secret])
    assert "running: " in caplog.text and "***" in caplog.text
    assert "stderr: unauthorized: bad credentials ***" in caplog.text
    assert secret not in caplog.text
    assert secret not in str(exc.value) and "***" in str(exc.value)
    assert secret not in (exc.value.hint or "")

    caplog.clear()
    with pytest.raises(ToolError) as tool_exc:
        proc.run([PY, "-c", FAIL_WITH_STDERR, f"weird failure {secret}", "2", secret], timeout=30, secrets=[secret])
    for text in (caplog.text, str(tool_exc.value), tool_exc.value.hint or "", tool_exc.value.stderr):
        assert secret not in text

    with pytest.raises(ToolTimeoutError) as timeout_exc:
        proc.run([PY, "-c", "import time; time.sleep(60)", secret], timeout=0.3, secrets=[secret])
    assert secret not in str(timeout_exc.value)
    assert "***" in str(timeout_exc.value)


def test_redact() -> None:
    argv = ["skopeo", "login", "--password", "p@ss word", "--username", "u"]
    assert proc.redact(argv, ["p@ss word", ""]) == "skopeo login --password '***' --username u"
    assert proc.redact(argv, []) == "skopeo login --password 'p@ss word' --username u"
