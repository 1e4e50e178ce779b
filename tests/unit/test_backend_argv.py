"""What the backends put on a command line: TLS, CA and auth flags as each tool spells them, never a password."""

from __future__ import annotations

import base64
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

import pytest

from skillctl.backends import crane as crane_module
from skillctl.backends import skopeo as skopeo_module
from skillctl.backends.base import LAYOUT_TAG, RegistryOptions
from skillctl.backends.buildah import BuildahBackend
from skillctl.backends.crane import CraneBackend
from skillctl.backends.podman import PodmanBackend
from skillctl.backends.skopeo import SkopeoBackend
from skillctl.core import auth, proc
from skillctl.core.errors import AuthError
from skillctl.core.refs import parse_reference

PASSWORD = "s3cret-Pa55word"
DEST = parse_reference("registry.example:5000/ns/skill:1.0.0-draft")
SRC = parse_reference("registry.example:5000/ns/skill:1.0.0")
PASSWORD_FLAGS = ("--creds", "--src-creds", "--dest-creds", "--password", "--username", "-p", "--registry-token")


@pytest.fixture
def authfile(tmp_path: Path) -> Path:
    path = tmp_path / "auth.json"
    token = base64.b64encode(f"robot:{PASSWORD}".encode()).decode()
    path.write_text(json.dumps({"auths": {"registry.example:5000": {"auth": token}}}))
    return path


def assert_no_secret(argv: list[str]) -> None:
    joined = " ".join(argv)
    assert PASSWORD not in joined
    assert base64.b64encode(f"robot:{PASSWORD}".encode()).decode() not in joined
    assert not [a for a in argv if a.split("=", 1)[0] in PASSWORD_FLAGS]


def test_skopeo_push_argv_defaults() -> None:
    argv = SkopeoBackend().push_argv(Path("/l"), DEST, RegistryOptions(), Path("/d/digest"))
    assert argv[0] == "skopeo"
    assert argv[argv.index("copy") :] == [
        "copy",
        "--quiet",
        "--all",
        "--preserve-digests",
        "--digestfile=/d/digest",
        "--dest-tls-verify=true",
        f"oci:/l:{LAYOUT_TAG}",
        f"docker://{DEST}",
    ]


def test_skopeo_push_argv_tls_and_auth(tmp_path: Path, authfile: Path) -> None:
    opts = RegistryOptions(tls_verify=False, cert_dir=tmp_path, authfile=authfile)
    argv = SkopeoBackend().push_argv(Path("/l"), DEST, opts, Path("/d"))
    assert "--dest-tls-verify=false" in argv
    assert f"--dest-cert-dir={tmp_path}" in argv
    assert f"--dest-authfile={authfile}" in argv
    assert not [a for a in argv if a.startswith("--src-")]
    assert_no_secret(argv)


def test_skopeo_pull_argv(tmp_path: Path, authfile: Path) -> None:
    opts = RegistryOptions(cert_dir=tmp_path, authfile=authfile)
    argv = SkopeoBackend().pull_argv(SRC, Path("/out/layout"), opts)
    assert argv[-2:] == [f"docker://{SRC}", f"oci:/out/layout:{LAYOUT_TAG}"]
    assert "--preserve-digests" in argv
    assert "--remove-signatures" in argv  # a layout holds none (use-sigstore-attachments would fail the pull)
    assert {"--src-tls-verify=true", f"--src-cert-dir={tmp_path}", f"--src-authfile={authfile}"} <= set(argv)
    assert not [a for a in argv if a.startswith("--dest-")]
    assert_no_secret(argv)


def test_skopeo_copy_argv(tmp_path: Path, authfile: Path) -> None:
    opts = RegistryOptions(tls_verify=False, cert_dir=tmp_path, authfile=authfile)
    argv = SkopeoBackend().copy_argv(SRC, DEST, opts, Path("/d/digest"))
    assert argv[-2:] == [f"docker://{SRC}", f"docker://{DEST}"]
    for side in ("src", "dest"):
        assert {f"--{side}-tls-verify=false", f"--{side}-cert-dir={tmp_path}", f"--{side}-authfile={authfile}"} <= set(
            argv
        )
    assert "--digestfile=/d/digest" in argv
    assert "--preserve-digests" in argv
    assert_no_secret(argv)


def test_skopeo_brings_its_own_policy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """skillctl applies containers-policy.json itself (trust.policy); skopeo must not apply it again."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    skopeo_module._fallback_policy.cache_clear()
    argv = SkopeoBackend().push_argv(Path("/l"), DEST, RegistryOptions(), Path("/d"))
    policy = Path(argv[1].removeprefix("--policy="))
    # A private directory of this process, not a shared path another user could prepare.
    assert policy.parent.parent == tmp_path and policy.parent.name.startswith("skillctl-policy-")
    assert json.loads(policy.read_text()) == {"default": [{"type": "insecureAcceptAnything"}]}
    skopeo_module._fallback_policy.cache_clear()


@pytest.mark.parametrize("backend", [PodmanBackend, BuildahBackend])
def test_storage_backend_flags(backend: type[PodmanBackend], tmp_path: Path, authfile: Path) -> None:
    impl = backend()
    assert impl._flags(RegistryOptions(), DEST) == ["--tls-verify=true"]
    opts = RegistryOptions(tls_verify=False, cert_dir=tmp_path, authfile=authfile)
    assert impl._flags(opts, DEST) == ["--tls-verify=false", f"--cert-dir={tmp_path}", f"--authfile={authfile}"]
    # podman and buildah fail on a missing --authfile with a confusing message; skillctl says it plainly.
    with pytest.raises(AuthError, match="does not exist"):
        impl._flags(RegistryOptions(authfile=tmp_path / "missing.json"), DEST)


def test_each_registry_gets_its_own_certs_d_directory(isolated_env: Path) -> None:
    """Without --cert-dir, skopeo's source and destination and podman/buildah get the certs.d of their registry."""
    system = isolated_env / "system-certs.d"
    user = isolated_env / ".config/containers/certs.d"
    src = parse_reference("near.example/ns/skill:1.0.0")
    (user / "near.example").mkdir(parents=True)
    (system / "registry.example:5000").mkdir(parents=True)
    argv = SkopeoBackend().copy_argv(src, DEST, RegistryOptions(), Path("/d/digest"))
    assert f"--src-cert-dir={user / 'near.example'}" in argv
    assert f"--dest-cert-dir={system / 'registry.example:5000'}" in argv
    for backend in (PodmanBackend, BuildahBackend):
        assert f"--cert-dir={system / 'registry.example:5000'}" in backend()._flags(RegistryOptions(), DEST)
    assert not [
        a
        for a in SkopeoBackend().pull_argv(parse_reference("other.example:5000/x"), Path("/o"), RegistryOptions())
        if "cert" in a
    ]
    assert not [a for a in PodmanBackend()._flags(RegistryOptions(), parse_reference("other.example/x")) if "cert" in a]


def test_crane_flags() -> None:
    assert CraneBackend()._flags(RegistryOptions()) == []
    assert CraneBackend()._flags(RegistryOptions(tls_verify=False)) == ["--insecure"]


@pytest.mark.parametrize(
    ("registry", "expected"),
    [
        ("127.0.0.1:5000", ("127.0.0.1", 5000)),
        ("127.0.0.1", ("127.0.0.1", 443)),
        ("localhost:5000", ("localhost", 5000)),
        ("[::1]:5000", ("::1", 5000)),
        ("10.1.2.3:5000", ("10.1.2.3", 5000)),
        ("192.168.1.10", ("192.168.1.10", 443)),
        ("registry.localhost:8443", ("registry.localhost", 8443)),
        ("quay.io", None),
        ("ghcr.io:443", None),
        ("8.8.8.8:5000", None),
    ],
)
def test_crane_plain_http_fallback_hosts(registry: str, expected: tuple[str, int] | None) -> None:
    """The hosts go-containerregistry also tries over plain HTTP, which skillctl checks first."""
    assert crane_module._http_fallback_host(registry) == expected


def test_podman_search_gets_the_ca_as_a_bundle(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, authfile: Path) -> None:
    """podman 4.3 ``search`` has no --cert-dir: the CA must reach it some other way."""
    cert_dir = tmp_path / "certs"
    cert_dir.mkdir()
    (cert_dir / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\nTESTCA\n-----END CERTIFICATE-----\n")
    seen: dict[str, Any] = {}

    def fake_run(argv: list[str], **kwargs: Any) -> proc.ProcResult:
        env = kwargs["env"]
        seen["argv"] = list(argv)
        seen["bundle"] = Path(env["SSL_CERT_FILE"])
        seen["bundle_text"] = seen["bundle"].read_text()
        return proc.ProcResult(list(argv), 0, b'[{"Name":"x","Tags":["1.0.0","latest"]}]', b"", 0.0)

    monkeypatch.setattr(proc, "run", fake_run)
    opts = RegistryOptions(cert_dir=cert_dir, authfile=authfile)
    assert PodmanBackend().list_tags(DEST, opts) == ["1.0.0", "latest"]
    argv = seen["argv"]
    assert argv[:3] == ["podman", "search", "--list-tags"]
    assert "--format=json" in argv and argv[-1] == DEST.repository
    assert not [a for a in argv if a.startswith("--cert-dir")]
    assert {"--tls-verify=true", f"--authfile={authfile}"} <= set(argv)
    assert "TESTCA" in seen["bundle_text"]
    assert not seen["bundle"].exists()
    assert_no_secret(argv)


def test_credentials_from_a_helper_reach_skopeo_in_a_private_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """skopeo never runs a Docker ``credsStore``; skillctl hands its answer over in a temporary auth file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-unit"
    helper.write_text(f'#!/bin/sh\nread -r s\nprintf \'{{"Username":"robot","Secret":"{PASSWORD}"}}\'\n')
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    docker = Path(os.environ["HOME"]) / ".docker" / "config.json"
    docker.parent.mkdir(parents=True)
    docker.write_text(json.dumps({"credsStore": "unit"}))

    backend = SkopeoBackend()
    opts = RegistryOptions()
    with backend._helper_credentials(opts, DEST) as given:
        assert given.authfile is not None
        private = Path(given.authfile)
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
        assert stat.S_IMODE(private.parent.stat().st_mode) == 0o700
        token = base64.b64encode(f"robot:{PASSWORD}".encode()).decode()
        assert json.loads(private.read_text()) == {"auths": {"registry.example:5000": {"auth": token}}}
        argv = backend.push_argv(Path("/l"), DEST, given, Path("/d"))
        assert f"--dest-authfile={private}" in argv
        assert_no_secret(argv)
    assert not private.parent.exists()

    docker.write_text(json.dumps({"auths": {}}))
    with backend._helper_credentials(opts, DEST) as given:
        assert given is opts, "without a helper the tool reads the files itself"


def test_identity_tokens_are_handed_over_as_tokens() -> None:
    creds = {
        "a.example": auth.Credentials("<token>", "refresh-token-value", "credential helper x"),
        "b.example": auth.Credentials("robot", PASSWORD, "file"),
        "c.example": None,
    }
    with auth.docker_config_dir(creds) as config_dir:
        data = json.loads((config_dir / "config.json").read_text())
    assert data == {
        "auths": {
            "a.example": {"identitytoken": "refresh-token-value"},
            "b.example": {"auth": base64.b64encode(f"robot:{PASSWORD}".encode()).decode()},
        }
    }
    assert not config_dir.exists()
