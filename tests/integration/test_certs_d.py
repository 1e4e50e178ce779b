"""TLS settings from certs.d: no --cert-dir on any command once a registry's CA is in its certs.d directory.

The CA of the session ``tls_registry`` (TLS with htpasswd) goes into ``<certs.d root>/HOST:PORT/ca.crt``,
and login, every backend's push and pull, listing and the in-process client must reach the registry
without ``--cert-dir``. The system root is the test's own directory (``SKILLCTL_SYSTEM_CERTS_D``, set by
``tests/conftest.py``), which the container tools do not know: a pass there proves skillctl handed the
directory over itself. The mirror test runs between two TLS registries with different CAs, each in its
own certs.d directory: one ``--cert-dir`` could not serve both.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from registry import Registry, need_tool, start_registry, unique_skill

from skillctl.backends.base import RegistryOptions
from skillctl.cli.app import cli
from skillctl.core.errors import ExitCode
from skillctl.core.refs import parse_reference
from skillctl.registry import client
from skillctl.trust.signing import generate_key_pair

pytestmark = pytest.mark.integration

BACKENDS = ["skopeo", "crane", "podman", "buildah"]


def run(store: Path, *args: object, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, ["--store", str(store), *map(str, args)], input=input, env=env)


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def trust(reg: Registry, root: Path) -> Path:
    """Put ``reg``'s CA where certs.d lookups find it under ``root``."""
    assert reg.cert_dir is not None
    where = root / reg.host
    where.mkdir(parents=True, exist_ok=True)
    shutil.copy(reg.cert_dir / "ca.crt", where / "ca.crt")
    return where


def login(store: Path, reg: Registry) -> Result:
    assert reg.username and reg.password
    return run(store, "login", reg.host, "-u", reg.username, "--password-stdin", input=reg.password + "\n")


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_command_finds_the_ca_in_certs_d(
    backend: str, tls_registry: Registry, isolated_env: Path, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    repo = tls_registry.repo("demo")
    ok(run(store, "pack", unique_skill(tmp_path / "src" / "demo")))
    # Nothing trusted yet: TLS fails (exit 7) and says where the CA goes.
    refused = login(store, tls_registry)
    assert refused.exit_code == ExitCode.NETWORK, refused.stderr
    assert f"certs.d/{tls_registry.host}/ca.crt" in refused.stderr

    trust(tls_registry, isolated_env / "system-certs.d")
    ok(login(store, tls_registry))
    ok(run(store, "push", "test/demo:1.0.0-draft", f"{repo}:1.0.0-draft", "--backend", backend))
    rows = json.loads(ok(run(store, "list", repo, "--backend", backend, "--format", "json")).stdout)
    assert [r["tag"] for r in rows] == ["1.0.0-draft"]
    out = tmp_path / "pulled"
    ok(run(tmp_path / "other", "pull", f"{repo}:1.0.0-draft", "-o", out, "--backend", backend))
    assert (out / "demo" / "scripts" / "run.sh").stat().st_mode & 0o111
    ok(run(store, "inspect", f"{repo}:1.0.0-draft", "--remote", "--backend", backend))


def test_the_users_certs_d_and_the_environment_variable(
    tls_registry: Registry, isolated_env: Path, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    repo = tls_registry.repo("demo")
    ok(run(store, "pack", unique_skill(tmp_path / "src" / "demo")))
    ca_dir = trust(tls_registry, tmp_path / "elsewhere")
    # $SKILLCTL_CERT_DIR stands for --cert-dir.
    assert tls_registry.username and tls_registry.password
    ok(
        run(
            store,
            *("login", tls_registry.host, "-u", tls_registry.username, "--password-stdin"),
            input=f"{tls_registry.password}\n",
            env={"SKILLCTL_CERT_DIR": str(ca_dir)},
        )
    )
    ok(run(store, "push", "test/demo:1.0.0-draft", f"{repo}:1.0.0-draft", env={"SKILLCTL_CERT_DIR": str(ca_dir)}))
    assert run(store, "list", repo).exit_code == ExitCode.NETWORK

    # ~/.config/containers/certs.d, as podman and skopeo read it; the in-process client needs no fallback.
    trust(tls_registry, isolated_env / ".config" / "containers" / "certs.d")
    raw = client.fetch_manifest(parse_reference(f"{repo}:1.0.0-draft"), RegistryOptions())
    assert raw == tls_registry.manifest(f"{repo}:1.0.0-draft")
    ok(run(store, "push", "test/demo:1.0.0-draft", f"{repo}:again", "--backend", "crane"))
    assert tls_registry.digest(f"{repo}:again") == tls_registry.digest(f"{repo}:1.0.0-draft")


@pytest.fixture
def gap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """An air-gapped side: TLS with its own CA, htpasswd, deletes disabled."""
    need_tool("docker-registry")
    reg = start_registry(tmp_path_factory.mktemp("gap"), tls=True, auth=True, delete=False)
    yield reg
    reg.stop()


@pytest.mark.parametrize("backend", ["skopeo", "crane"])
def test_mirror_between_two_tls_registries_with_their_own_cas(
    backend: str, tls_registry: Registry, gap: Registry, isolated_env: Path, tmp_path: Path
) -> None:
    root = isolated_env / ".config" / "containers" / "certs.d"
    trust(tls_registry, root)
    trust(gap, root)
    store = tmp_path / "store"
    ok(login(store, tls_registry))
    ok(login(store, gap))
    key, pub = generate_key_pair(tmp_path / "key", b"pw")
    env = {"COSIGN_PASSWORD": "pw"}
    repo = tls_registry.repo("demo")
    ok(run(store, "pack", unique_skill(tmp_path / "src" / "demo")))
    ok(run(store, "push", "test/demo:1.0.0-draft", f"{repo}:1.0.0-draft", "--sign-key", key, env=env))
    ok(run(store, "promote", f"{repo}:1.0.0-draft", "--to", "testing", "--sign-key", key, env=env))
    ok(run(store, "promote", f"{repo}:1.0.0-testing", "--to", "published", "--sign-key", key, env=env))

    dest = f"{gap.host}/mirror"
    far = f"{dest}/{repo.partition('/')[2]}"
    first = json.loads(ok(run(store, "mirror", repo, dest, "--backend", backend, "--format", "json")).stdout)
    assert {i["action"] for i in first} == {"copied"}
    again = json.loads(ok(run(store, "mirror", repo, dest, "--backend", backend, "--format", "json")).stdout)
    assert {i["action"] for i in again} == {"skipped"}
    assert {t: gap.digest(f"{far}:{t}") for t in gap.tags(far)} == {
        t: tls_registry.digest(f"{repo}:{t}") for t in tls_registry.tags(repo)
    }
    ok(run(store, "verify", f"{far}:1.0.0", "--key", pub))
    ok(run(tmp_path / "consumer", "install", f"{far}:latest", "-o", tmp_path / "skills", "--verify-key", pub))
