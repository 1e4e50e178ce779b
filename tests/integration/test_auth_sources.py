"""Credentials from every file ops already have, for skopeo and crane pushes to the TLS + htpasswd registry.

Also: crane's private DOCKER_CONFIG (0700 / 0600, removed afterwards), and no
password on any command line or in the ``-v``/``-vv`` log, on success and on failure.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from registry import Registry, need_tool, unique_skill

import skillctl
import skillctl.core.proc
from skillctl.backends.base import RegistryOptions
from skillctl.cli.app import cli
from skillctl.core import auth
from skillctl.core.errors import AuthError, ExitCode
from skillctl.image.pack import PackResult
from skillctl.registry import transfer

pytestmark = pytest.mark.integration

LOCATIONS = (
    "--authfile",
    "REGISTRY_AUTH_FILE",
    "XDG_RUNTIME_DIR",
    "~/.config/containers",
    "DOCKER_CONFIG",
    "~/.docker",
    "credHelpers",
    "credsStore",
)
HELPER = """#!/bin/sh
# docker-credential-testhelper: a credential helper for one registry.
[ "$1" = get ] || exit 1
read -r server
echo "$server" >> {log}
case "$server" in
  *{host}*) printf '{{"ServerURL":"%s","Username":"%s","Secret":"%s"}}\\n' "$server" {user} {password} ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
"""


@pytest.fixture(params=("skopeo", "crane"))
def backend(request: pytest.FixtureRequest) -> str:
    need_tool(request.param)
    return str(request.param)


@pytest.fixture
def image(tmp_path: Path, store: skillctl.Store) -> PackResult:
    return skillctl.pack(unique_skill(tmp_path / "src" / "demo"), store=store)


def auths(reg: Registry, password: str | None = None, key: str | None = None) -> dict[str, Any]:
    token = base64.b64encode(f"{reg.username}:{password or reg.password}".encode()).decode()
    return {"auths": {key or reg.host: {"auth": token}}}


def write_json(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    path.chmod(0o600)
    return path


def install_helper(reg: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``docker-credential-testhelper`` on PATH; returns the file it logs each request to."""
    bin_dir = tmp_path / "helper-bin"
    bin_dir.mkdir()
    log = tmp_path / "helper.log"
    helper = bin_dir / "docker-credential-testhelper"
    helper.write_text(HELPER.format(log=log, host=reg.host, user=reg.username, password=reg.password))
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


@dataclass
class Spy:
    """Records every subprocess the library starts (argv and env), and lets a hook look at the world meanwhile."""

    calls: list[tuple[list[str], dict[str, str]]] = field(default_factory=list)
    hook: Callable[[list[str], dict[str, str]], None] | None = None

    def argv_text(self) -> str:
        return "\n".join(" ".join(argv) for argv, _ in self.calls)

    def env_text(self) -> str:
        return "\n".join(f"{k}={v}" for _, env in self.calls for k, v in env.items())


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    recorder = Spy()
    real_run = subprocess.run

    def run(args: Any, *a: Any, **kw: Any) -> Any:
        argv = [str(x) for x in args]
        env = dict(kw.get("env") or os.environ)
        recorder.calls.append((argv, env))
        if recorder.hook:
            recorder.hook(argv, env)
        return real_run(args, *a, **kw)

    monkeypatch.setattr(skillctl.core.proc.subprocess, "run", run)
    return recorder


def place_credentials(
    location: str, reg: Registry, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path | None, str]:
    """Put working credentials in ``location`` only; returns (--authfile, expected source)."""
    if location == "--authfile":
        path = write_json(tmp_path / "given-auth.json", auths(reg))
        return path, str(path)
    if location == "REGISTRY_AUTH_FILE":
        path = write_json(tmp_path / "env-auth.json", auths(reg))
        monkeypatch.setenv("REGISTRY_AUTH_FILE", str(path))
        return None, str(path)
    if location == "XDG_RUNTIME_DIR":
        return None, str(write_json(home / "run" / "containers" / "auth.json", auths(reg)))
    if location == "~/.config/containers":
        return None, str(write_json(home / ".config" / "containers" / "auth.json", auths(reg)))
    if location == "DOCKER_CONFIG":
        path = write_json(tmp_path / "docker-config" / "config.json", auths(reg, key=f"https://{reg.host}"))
        monkeypatch.setenv("DOCKER_CONFIG", str(path.parent))
        return None, str(path)
    if location == "~/.docker":
        return None, str(write_json(home / ".docker" / "config.json", auths(reg)))
    if location == "credHelpers":
        write_json(home / ".docker" / "config.json", {"credHelpers": {reg.host: "testhelper"}})
        return None, "credential helper testhelper"
    if location == "credsStore":
        write_json(home / ".docker" / "config.json", {"credsStore": "testhelper"})
        return None, "credential helper testhelper"
    raise AssertionError(location)


@pytest.mark.parametrize("location", LOCATIONS)
def test_credentials_are_found(
    backend: str,
    location: str,
    tls_registry: Registry,
    store: skillctl.Store,
    image: PackResult,
    isolated_env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    helper_log = install_helper(tls_registry, tmp_path, monkeypatch)
    authfile, source = place_credentials(location, tls_registry, isolated_env, tmp_path, monkeypatch)
    creds = auth.lookup(tls_registry.host, authfile=authfile)
    assert creds is not None and creds.source == source
    assert (creds.username, creds.secret) == (tls_registry.username, tls_registry.password)
    helper_log.unlink(missing_ok=True)

    ref = f"{tls_registry.repo('demo')}:1.0.0-draft"
    opts = RegistryOptions(cert_dir=tls_registry.cert_dir, authfile=authfile, timeout=120)
    result = transfer.push(image.ref, ref, store=store, backend=backend, opts=opts)

    assert result.backend == backend
    assert result.digest == image.digest == tls_registry.digest(ref)
    if location in ("credHelpers", "credsStore"):
        assert tls_registry.host in helper_log.read_text(), f"{backend} did not ask the credential helper"


@pytest.mark.parametrize("location", ["credHelpers", "credsStore"])
@pytest.mark.parametrize("tool", ["podman", "buildah"])
def test_credential_helpers_reach_the_containers_tools(
    tool: str,
    location: str,
    tls_registry: Registry,
    store: skillctl.Store,
    image: PackResult,
    isolated_env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """podman and buildah never run a ``credsStore`` themselves; skillctl hands them the helper's answer."""
    need_tool(tool)
    helper_log = install_helper(tls_registry, tmp_path, monkeypatch)
    place_credentials(location, tls_registry, isolated_env, tmp_path, monkeypatch)
    ref = f"{tls_registry.repo('demo')}:1.0.0-draft"
    opts = RegistryOptions(cert_dir=tls_registry.cert_dir, timeout=120)
    result = transfer.push(image.ref, ref, store=store, backend=tool, opts=opts)
    assert result.digest == tls_registry.digest(ref)
    assert tls_registry.host in helper_log.read_text()


def test_first_file_with_credentials_wins(
    backend: str,
    tls_registry: Registry,
    store: skillctl.Store,
    image: PackResult,
    isolated_env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """REGISTRY_AUTH_FILE beats ~/.docker/config.json (which crane on its own would read first)."""
    right = write_json(tmp_path / "env-auth.json", auths(tls_registry))
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(right))
    write_json(isolated_env / ".docker" / "config.json", auths(tls_registry, password="stale-password"))
    ref = f"{tls_registry.repo('demo')}:1.0.0-draft"
    opts = RegistryOptions(cert_dir=tls_registry.cert_dir, timeout=120)
    assert transfer.push(image.ref, ref, store=store, backend=backend, opts=opts).digest == image.digest

    # And the other way round: the wrong password first means failure, not a silent fallback.
    right.write_text(json.dumps(auths(tls_registry, password="stale-password")))
    write_json(isolated_env / ".docker" / "config.json", auths(tls_registry))
    with pytest.raises(AuthError):
        transfer.push(image.ref, f"{tls_registry.repo('demo')}:1.0.0-draft", store=store, backend=backend, opts=opts)


def test_crane_gets_a_private_docker_config(
    spy: Spy,
    tls_registry: Registry,
    store: skillctl.Store,
    image: PackResult,
    isolated_env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    need_tool("crane")
    write_json(isolated_env / "run" / "containers" / "auth.json", auths(tls_registry))
    seen: list[dict[str, Any]] = []

    def look(argv: list[str], env: dict[str, str]) -> None:
        if Path(argv[0]).name != "crane":
            return
        config_dir = Path(env["DOCKER_CONFIG"])
        config = config_dir / "config.json"
        bundle = Path(env["SSL_CERT_FILE"])
        seen.append(
            {
                "dir": config_dir,
                "dir_mode": stat.S_IMODE(config_dir.stat().st_mode),
                "file_mode": stat.S_IMODE(config.stat().st_mode),
                "files": sorted(p.name for p in config_dir.iterdir()),
                "config": json.loads(config.read_text()),
                "bundle": bundle,
                "bundle_has_ca": (tls_registry.cert_dir / "ca.crt").read_bytes().strip() in bundle.read_bytes(),
                "registry_auth_file": env.get("REGISTRY_AUTH_FILE"),
            }
        )

    spy.hook = look
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    ref = f"{tls_registry.repo('demo')}:1.0.0-draft"
    opts = RegistryOptions(cert_dir=tls_registry.cert_dir, timeout=120)
    assert transfer.push(image.ref, ref, store=store, backend="crane", opts=opts).digest == image.digest

    assert seen, "crane was never run"
    for call in seen:
        assert call["dir_mode"] == 0o700
        assert call["file_mode"] == 0o600
        # Only what crane needs sits in the private directory: the config and the CA bundle.
        assert call["files"] == ["ca-bundle.crt", "config.json"]
        assert call["config"] == auths(tls_registry)
        assert call["bundle_has_ca"]
        assert call["registry_auth_file"] is None
        assert not call["dir"].exists(), "the private DOCKER_CONFIG must be removed afterwards"
        assert not call["bundle"].exists()
        # In the per-user runtime directory (a tmpfs), where the next run sweeps what a killed one left.
        assert call["dir"].parent == isolated_env / "run" / "skillctl"
    assert list(private_tmp.iterdir()) == [], "every temporary file of the crane backend must be gone"
    assert list((isolated_env / "run" / "skillctl").iterdir()) == []


@pytest.mark.parametrize("outcome", ["success", "failure"])
def test_no_password_on_command_lines_or_in_logs(
    backend: str,
    outcome: str,
    spy: Spy,
    tls_registry: Registry,
    tmp_path: Path,
    skillctl_log: pytest.LogCaptureFixture,
) -> None:
    """``-vv`` shows every command, never a password; the same holds when the registry rejects it."""
    assert tls_registry.username and tls_registry.password
    password = tls_registry.password if outcome == "success" else f"wrong-{tls_registry.password}"
    caplog = skillctl_log
    runner = CliRunner()
    store_args = ["--store", str(tmp_path / "store")]
    skill = unique_skill(tmp_path / "src" / "demo")
    packed = runner.invoke(cli, [*store_args, "pack", str(skill)])
    assert packed.exit_code == 0, packed.output
    certs = ["--cert-dir", str(tls_registry.cert_dir)]
    logged_in = runner.invoke(
        cli,
        ["-vv", "login", tls_registry.host, "-u", tls_registry.username, "--password-stdin", *certs],
        input=password + "\n",
    )
    if outcome == "failure":
        assert logged_in.exit_code == ExitCode.AUTH, logged_in.output
        # Save the wrong password anyway, so the tools themselves get rejected.
        auth.save_login(tls_registry.host, tls_registry.username, password, auth.login_file())
    else:
        assert logged_in.exit_code == 0, logged_in.output

    repo = tls_registry.repo("demo")
    pushed = runner.invoke(
        cli, ["-vv", *store_args, "push", "test/demo:1.0.0-draft", f"{repo}:1.0.0-draft", "--backend", backend, *certs]
    )
    listed = runner.invoke(cli, ["-vv", "list", repo, "--backend", backend, *certs])
    expected = 0 if outcome == "success" else ExitCode.AUTH
    assert (pushed.exit_code, listed.exit_code) == (expected, expected), pushed.output + listed.output

    assert f"running: {backend} " in caplog.text, "the -vv log was not produced"
    assert backend in spy.argv_text()
    for text in (logged_in.output, pushed.output, listed.output, caplog.text, spy.argv_text(), spy.env_text()):
        assert password not in text
        assert base64.b64encode(f"{tls_registry.username}:{password}".encode()).decode() not in text


def test_verbose_log_of_a_real_process_has_no_password(
    backend: str, tls_registry: Registry, tmp_path: Path, isolated_env: Path
) -> None:
    """The same through the installed ``skillctl`` script, whose -vv log really goes to stderr."""
    assert tls_registry.username and tls_registry.password
    exe = Path(sys.executable).with_name("skillctl")
    assert exe.exists(), f"{exe}: the skillctl script is not installed next to the interpreter"
    env = dict(os.environ, SKILLCTL_STORE=str(tmp_path / "store"))
    skill = unique_skill(tmp_path / "src" / "demo")
    certs = ["--cert-dir", str(tls_registry.cert_dir)]

    def skillctl_run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(exe), *args], input=stdin, capture_output=True, text=True, env=env, timeout=120, check=False
        )

    assert skillctl_run("pack", str(skill)).returncode == 0
    login = skillctl_run(
        "-vv", "login", tls_registry.host, "-u", tls_registry.username, "--password-stdin", *certs,
        stdin=tls_registry.password + "\n",
    )  # fmt: skip
    assert login.returncode == 0, login.stderr
    push = skillctl_run(
        "-vv", "push", "test/demo:1.0.0-draft", f"{tls_registry.repo('demo')}:1.0.0-draft", "--backend", backend, *certs
    )
    assert push.returncode == 0, push.stderr
    assert "running: " in push.stderr and backend in push.stderr
    assert f"backend {backend}: chosen by --backend" in push.stderr
    for proc in (login, push):
        assert tls_registry.password not in proc.stdout + proc.stderr
