"""The read-back client: manifests over the registry API, with the user's credentials and TLS settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from registry import Registry

import skillctl
from skillctl.backends.base import RegistryOptions
from skillctl.core.errors import AuthError, NotFoundError
from skillctl.core.refs import parse_reference
from skillctl.registry import client as registry_http
from skillctl.registry.login import login
from skillctl.registry.transfer import push


@pytest.fixture
def pushed_plain(registry: Registry, hello: Path, store: skillctl.Store) -> tuple[str, str]:
    packed = skillctl.pack(hello, store=store)
    dest = f"{registry.repo('hello')}:1.0.0-draft"
    push(packed.ref, dest, store=store, backend="skopeo", opts=RegistryOptions(tls_verify=False))
    return dest, packed.digest


def test_reads_the_exact_bytes_from_a_plain_registry(pushed_plain: tuple[str, str], registry: Registry) -> None:
    dest, digest = pushed_plain
    raw = registry_http.fetch_manifest(parse_reference(dest), RegistryOptions(tls_verify=False))
    assert raw == registry.manifest(dest)
    assert skillctl.core.oci.sha256_digest(raw) == digest
    by_digest = parse_reference(dest).with_digest(digest)
    assert registry_http.fetch_manifest(by_digest, RegistryOptions(tls_verify=False)) == raw


def test_plain_http_needs_tls_verify_false(pushed_plain: tuple[str, str]) -> None:
    dest, _ = pushed_plain
    with pytest.raises(OSError):
        registry_http.fetch_manifest(parse_reference(dest), RegistryOptions())


def test_missing_tag_is_not_found(pushed_plain: tuple[str, str]) -> None:
    dest, _ = pushed_plain
    with pytest.raises(NotFoundError):
        registry_http.fetch_manifest(parse_reference(dest).with_tag("nope"), RegistryOptions(tls_verify=False))


def test_tls_and_basic_auth_from_the_login_file(
    tls_registry: Registry, hello: Path, store: skillctl.Store, tmp_path: Path
) -> None:
    opts = RegistryOptions(cert_dir=tls_registry.cert_dir)
    ref = parse_reference(f"{tls_registry.repo('hello')}:1.0.0-draft")
    assert tls_registry.username and tls_registry.password
    with pytest.raises(AuthError):
        registry_http.fetch_manifest(ref, opts)  # no credentials yet
    login(tls_registry.host, tls_registry.username, tls_registry.password, opts=opts)
    packed = skillctl.pack(hello, store=store)
    result = push(packed.ref, str(ref), store=store, backend="crane", opts=opts)
    raw = registry_http.fetch_manifest(ref, opts)
    assert skillctl.core.oci.sha256_digest(raw) == result.digest == packed.digest
    assert json.loads(raw)["annotations"]["io.skillimage.status"] == "draft"
    with pytest.raises(OSError):  # the CA is required
        registry_http.fetch_manifest(ref, RegistryOptions())
