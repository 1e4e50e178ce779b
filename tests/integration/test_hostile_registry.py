"""A hostile registry (``tests/hostile_registry.py``) against every command that talks to registries.

Credentials: a password goes only to the registry itself or its HTTPS token service, never in clear, never
after a redirect to another host, and a refusal is final (no backend tries again). Bounds: ``--timeout`` is
one deadline for the whole command; a catalog cannot page forever; a download cannot write more than the
manifest declares. Hostile metadata (control characters in tags and annotations, configs and token answers
that are not JSON) gives one ``Error:`` line with a documented exit code, or a warning and the rest, never a
crash; values from the registry are escaped before they reach the terminal.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from cli_helpers import assert_error
from click.testing import CliRunner, Result
from hostile_registry import (
    HostileRegistry,
    Reply,
    build_image,
    hostile_registry,
    write_authfile,
)
from registry import make_ca, make_server_cert, need_tool

from skillctl.cli.app import cli

pytestmark = pytest.mark.integration

USER, PASSWORD = "robot", "s3cret-pw"
NO_TLS = "--tls-verify=false"


def skillctl(store: Path, *args: object, input: str | None = None) -> Result:
    argv = ["--store", str(store), *(str(a) for a in args)]
    return CliRunner().invoke(cli, argv, input=input, catch_exceptions=False, prog_name="skillctl")


def skillctl_process(store: Path, *args: object, timeout: float) -> tuple[subprocess.CompletedProcess[str], float]:
    """The installed console script in its own process (for what must end by itself); (result, seconds)."""
    exe = shutil.which("skillctl", path=str(Path(sys.executable).parent)) or "skillctl"
    start = time.monotonic()
    done = subprocess.run(
        [exe, "--store", str(store), *(str(a) for a in args)],
        capture_output=True, text=True, timeout=timeout, env=os.environ.copy(), stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return done, time.monotonic() - start


@dataclass(frozen=True)
class Certs:
    trusted: Path  # a --cert-dir holding the CA that signed ``server``
    server: tuple[Path, Path]
    rogue: tuple[Path, Path]  # a certificate from a CA nobody trusts


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    need_tool("openssl")
    root = tmp_path_factory.mktemp("hostile-certs")
    ca_crt, ca_key = make_ca(root / "ca")
    server = make_server_cert(root / "server", ca_crt, ca_key)
    trusted = root / "trusted"
    trusted.mkdir()
    shutil.copy(ca_crt, trusted / "ca.crt")
    rogue_ca, rogue_key = make_ca(root / "rogue-ca", name="rogue CA")
    return Certs(trusted, server, make_server_cert(root / "rogue", rogue_ca, rogue_key))


@pytest.fixture
def other() -> HostileRegistry:
    """A second server on another port: where a hostile registry tries to send the password."""
    with hostile_registry() as server:
        yield server


@pytest.fixture
def authfile(tmp_path: Path) -> Path:
    return tmp_path / "auth.json"


def no_password_leaves(*servers: HostileRegistry, allowed: HostileRegistry | None = None) -> None:
    for server in servers:
        for seen in server.credentials_seen():
            assert server is allowed and seen.tls, f"password sent to {server.host}{seen.path} (tls={seen.tls})"


# -- 1: crane's plain-HTTP fallback ------------------------------------------------------------------


def test_crane_is_refused_where_an_untrusted_tls_port_also_speaks_plain_http(
    certs: Certs, authfile: Path, store_path: Path
) -> None:
    """TLS with an unknown CA's certificate and plain HTTP on one loopback port: crane would use HTTP."""
    need_tool("crane")
    with hostile_registry(tls="both", cert=certs.rogue, basic=(USER, PASSWORD)) as reg:
        reg.put_image("ns/skill", "1.0.0", build_image())
        write_authfile(authfile, reg.host, USER, PASSWORD)
        for args in (["pull", reg.ref("ns/skill")], ["list", f"{reg.host}/ns/skill"]):
            result = skillctl(store_path, *args, "--backend", "crane", "--authfile", authfile, "--timeout", "60")
            assert_error(result, 7, "TLS")
        assert [s for s in reg.seen if not s.tls] == [], "a request went over plain HTTP"
        no_password_leaves(reg)


def test_crane_still_works_with_a_trusted_certificate(certs: Certs, authfile: Path, store_path: Path) -> None:
    need_tool("crane")
    with hostile_registry(tls="both", cert=certs.server, basic=(USER, PASSWORD)) as reg:
        digest = reg.put_image("ns/skill", "1.0.0", build_image())
        write_authfile(authfile, reg.host, USER, PASSWORD)
        result = skillctl(
            store_path, "pull", reg.ref("ns/skill"), "--backend", "crane", "--authfile", authfile,
            "--cert-dir", certs.trusted, "--format", "json",
        )  # fmt: skip
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["digest"] == digest
        assert [s for s in reg.seen if not s.tls] == []


# -- 2: login's credentials ---------------------------------------------------------------------------


def _login(store: Path, host: str, *flags: object) -> Result:
    return skillctl(store, "login", host, "-u", USER, "--password-stdin", *flags, input=PASSWORD + "\n")


def test_login_does_not_follow_a_redirect_to_plain_http(
    certs: Certs, other: HostileRegistry, authfile: Path, store_path: Path
) -> None:
    with hostile_registry(tls="on", cert=certs.server, basic=(USER, PASSWORD)) as reg:
        reg.route("GET", "/v2/", lambda m, s: Reply(307, {"Location": f"http://{other.host}/v2/"}))
        result = _login(store_path, reg.host, "--cert-dir", certs.trusted, "--authfile", authfile)
        assert_error(result, 7)
        no_password_leaves(reg, other, allowed=reg)
    assert other.seen == []
    assert not authfile.exists()


def test_login_does_not_carry_the_password_to_another_host(
    other: HostileRegistry, authfile: Path, store_path: Path
) -> None:
    """A plain-HTTP lab registry (--tls-verify=false) redirecting the credential check elsewhere."""
    with hostile_registry(basic=(USER, PASSWORD)) as reg:
        reg.route(
            "GET",
            "/v2/",
            lambda m, s: Reply(307, {"Location": f"http://{other.host}/v2/"}) if s.authorization else None,
        )
        result = _login(store_path, reg.host, NO_TLS, "--authfile", authfile)
        assert_error(result, 7, "redirected")
    assert other.credentials_seen() == []
    assert not authfile.exists()


def test_login_refuses_a_plain_http_token_service(
    certs: Certs, other: HostileRegistry, authfile: Path, store_path: Path
) -> None:
    with hostile_registry(tls="on", cert=certs.server, bearer_realm=f"http://{other.host}/token") as reg:
        result = _login(store_path, reg.host, "--cert-dir", certs.trusted, "--authfile", authfile)
        assert_error(result, 7, "not HTTPS")
        no_password_leaves(reg, other)
    assert other.seen == []
    assert not authfile.exists()


def test_login_checks_the_password_against_the_registry(certs: Certs, authfile: Path, store_path: Path) -> None:
    with hostile_registry(tls="on", cert=certs.server, basic=(USER, PASSWORD)) as reg:
        result = _login(store_path, reg.host, "--cert-dir", certs.trusted, "--authfile", authfile)
        assert result.exit_code == 0, result.stderr
        assert "Login Succeeded" in result.stdout
        bad = skillctl(store_path, "login", reg.host, "-u", USER, "--password-stdin", "--cert-dir", certs.trusted,
                       "--authfile", authfile, input="wrong\n")  # fmt: skip
        assert_error(bad, 6, "invalid username or password")


# -- 3: a security refusal is final -------------------------------------------------------------------


READERS = {
    "inspect": lambda ref, repo: ["inspect", "--remote", ref],
    "list": lambda ref, repo: ["list", repo],
    "pull": lambda ref, repo: ["pull", ref],
    "kube": lambda ref, repo: ["kube", ref, "--kind", "patch"],
    "promote": lambda ref, repo: ["promote", ref, "--to", "deprecated"],
    "mirror": lambda ref, repo: ["mirror", repo, "127.0.0.1:1/mirror"],
    "install": lambda ref, repo: ["install", ref, "-o", "skills"],
}


@pytest.mark.parametrize("command", sorted(READERS))
@pytest.mark.parametrize("backend", ["skopeo", "crane"])
def test_a_plain_http_token_service_is_refused_by_every_reader(
    command: str, backend: str, certs: Certs, other: HostileRegistry, authfile: Path, store_path: Path
) -> None:
    need_tool(backend)
    with hostile_registry(tls="on", cert=certs.server, bearer_realm=f"http://{other.host}/token") as reg:
        reg.put_image("ns/skill", "1.0.0", build_image())
        write_authfile(authfile, reg.host, USER, PASSWORD)
        args = READERS[command](reg.ref("ns/skill"), f"{reg.host}/ns/skill")
        result = skillctl(store_path, *args, "--backend", backend, "--authfile", authfile, "--cert-dir", certs.trusted)
        assert_error(result, 7, "not HTTPS")
    assert other.seen == [], [(s.method, s.path) for s in other.seen]
