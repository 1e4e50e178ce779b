"""The catalog reads registries under the same rules as every command: those of ``skillctl.registry.client``.

A hostile registry (``tests/hostile_registry.py``) checks what the catalog's sync sends and how long it waits:
the deadline holds against a registry that drips, a redirect off the registry carries no credentials, a token
service's answer is checked before it goes into a header, and a listing may not page off to another host. In
each case the sync reports the registry (or repository) as failed and keeps serving the rest.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from catalog_helpers import annotations
from hostile_registry import (
    OCI_INDEX,
    OCI_MANIFEST,
    HostileRegistry,
    Reply,
    build_image,
    hostile_registry,
    json_reply,
    write_authfile,
)

from skillctl.backends.base import RegistryOptions
from skillctl.catalog.service import Catalog, CatalogSettings
from skillctl.catalog.sources import RegistrySource
from skillctl.trust.bundle import BUNDLE_V03

pytestmark = pytest.mark.integration

USER, PASSWORD = "robot", "s3cret-pw"


def skill_image(name: str) -> bytes:
    """A skill manifest for ``ns/<name>:1.0.0`` (the catalog indexes it by its annotations)."""
    return build_image(annotations=annotations(namespace="ns", version="1.0.0", title=name)).manifest


def sync(host: str, opts: RegistryOptions) -> tuple[Catalog, float]:
    cat = Catalog(CatalogSettings([RegistrySource(host)], opts=opts))
    start = time.monotonic()
    cat.sync()
    return cat, time.monotonic() - start


@pytest.fixture
def reg() -> Iterator[HostileRegistry]:
    with hostile_registry() as server:
        yield server


@pytest.fixture
def other() -> Iterator[HostileRegistry]:
    with hostile_registry() as server:
        yield server


def test_a_registry_that_drips_a_manifest_hits_the_deadline(reg: HostileRegistry) -> None:
    """A socket timeout alone never trips on a byte every 50 ms; the per-request deadline (1 s here) does."""
    reg.put_manifest("ns/fast", "1.0.0", skill_image("fast"))
    slow = skill_image("slow")
    reg.put_manifest("ns/slow", "1.0.0", slow)
    chunks = [slow[i : i + 4] for i in range(0, len(slow), 4)]  # about 10 s at 4 bytes every 50 ms
    reg.route("GET", "/v2/ns/slow/manifests/1.0.0",
              lambda m, s: Reply(200, {"Content-Type": "application/json"}, iter(chunks), length=len(slow),
                                 delay=0.05))  # fmt: skip
    cat, seconds = sync(reg.host, RegistryOptions(tls_verify=False, timeout=1))
    try:
        assert seconds < 5, f"the sync waited {seconds:.1f}s for a dripping registry"
        report = cat.syncer.last_report
        assert report is not None and report.sources[reg.host].failed == 1
        assert "--timeout" in report.errors[reg.host] or "repositories could not be read" in report.errors[reg.host]
        assert [v.tag for v in cat.versions("ns", "fast")] == ["1.0.0"]  # the rest is served
        assert cat.index.known_tags(reg.host, "ns/slow") == {}
    finally:
        cat.close()


def test_a_manifest_redirected_to_another_host_is_read_without_the_credentials(
    reg: HostileRegistry, other: HostileRegistry, tmp_path: Path
) -> None:
    authfile = write_authfile(tmp_path / "auth.json", reg.host, USER, PASSWORD)
    reg.basic = (USER, PASSWORD)
    raw = skill_image("moved")
    reg.put_manifest("ns/moved", "1.0.0", raw)
    other.put_manifest("ns/moved", "1.0.0", raw)
    target = f"http://{other.host}/v2/ns/moved/manifests/1.0.0"
    reg.route("GET", "/v2/ns/moved/manifests/1.0.0",
              lambda m, s: Reply(307, {"Location": target}) if s.authorization else None)  # fmt: skip
    cat, _ = sync(reg.host, RegistryOptions(tls_verify=False, timeout=10, authfile=authfile))
    try:
        assert reg.credentials_seen(), "the registry itself gets the credentials"
        assert other.requests("/v2/ns/moved/manifests/1.0.0"), "the redirect was followed"
        assert other.credentials_seen() == [], "credentials followed the redirect to another host"
        assert [v.tag for v in cat.versions("ns", "moved")] == ["1.0.0"]
    finally:
        cat.close()


def test_a_token_that_would_forge_headers_is_refused_and_the_server_keeps_serving(reg: HostileRegistry) -> None:
    reg.bearer_realm = f"http://{reg.host}/token"
    reg.put_manifest("ns/skill", "1.0.0", skill_image("skill"))
    reg.route("GET", "/token", lambda m, s: json_reply({"token": "abc\r\nX-Forged: 1"}))
    cat, _ = sync(reg.host, RegistryOptions(tls_verify=False, timeout=10))  # a sync that raises fails here
    try:
        report = cat.syncer.last_report
        assert report is not None and "token" in report.errors[reg.host]
        assert not [s for s in reg.requests() if "x-forged" in s.headers]
        assert cat.status()["sources"][0]["error"]
    finally:
        cat.close()


def test_a_catalog_page_linking_to_another_host_is_refused(reg: HostileRegistry, other: HostileRegistry) -> None:
    reg.put_manifest("ns/skill", "1.0.0", skill_image("skill"))
    link = f'<http://{other.host}/v2/_catalog?n=1000&last=ns/skill>; rel="next"'
    reg.route("GET", "/v2/_catalog", lambda m, s: json_reply({"repositories": ["ns/skill"]}, Link=link))
    cat, _ = sync(reg.host, RegistryOptions(tls_verify=False, timeout=10))
    try:
        report = cat.syncer.last_report
        assert report is not None and "another host" in report.errors[reg.host]
        assert other.requests() == []
    finally:
        cat.close()


def test_a_tag_list_without_end_is_bounded(reg: HostileRegistry) -> None:
    """Pages that link to themselves are read once; the repository's tags are those of that page."""
    reg.put_manifest("ns/skill", "1.0.0", skill_image("skill"))
    link = '</v2/ns/skill/tags/list?n=100&last=1.0.0>; rel="next"'
    reg.route("GET", "/v2/ns/skill/tags/list",
              lambda m, s: json_reply({"name": "ns/skill", "tags": ["1.0.0"]}, Link=link))  # fmt: skip
    cat, _ = sync(reg.host, RegistryOptions(tls_verify=False, timeout=10))
    try:
        assert [v.tag for v in cat.versions("ns", "skill")] == ["1.0.0"]
        assert len(reg.requests("/v2/ns/skill/tags/list")) == 2  # the first page and its one distinct link
    finally:
        cat.close()


def _fallback(reg: HostileRegistry, repo: str, descriptors: object) -> tuple[str, str]:
    """``repo:1.0.0`` a skill, and its referrers fallback tag holding ``{"manifests": descriptors}``."""
    digest = reg.put_manifest(repo, "1.0.0", skill_image(repo.rsplit("/", 1)[-1]))
    tag = digest.replace(":", "-")
    reg.put_manifest(repo, tag, json.dumps({"schemaVersion": 2, "manifests": descriptors}).encode(), OCI_INDEX)
    return digest, tag


def test_hostile_referrers_indexes_never_break_the_sync(reg: HostileRegistry) -> None:
    """Malformed indexes are skipped; a descriptor digest that is not a digest is never put into a URL."""
    _fallback(reg, "ns/not-a-list", 5)
    _fallback(reg, "ns/bad-annotations", [{"artifactType": BUNDLE_V03, "digest": "sha256:" + "a" * 64,
                                           "annotations": 7}])  # fmt: skip
    _fallback(reg, "ns/traversal", [{"artifactType": BUNDLE_V03, "digest": "../../other/private/manifests/latest"}])
    _fallback(reg, "ns/number", [{"artifactType": BUNDLE_V03, "digest": 12}])
    cat, _ = sync(reg.host, RegistryOptions(tls_verify=False, timeout=10))
    try:
        report = cat.syncer.last_report
        assert report is not None and report.sources[reg.host].failed == 0
        names = ("not-a-list", "bad-annotations", "traversal", "number")
        assert {n: cat.resolve("ns", n, "1.0.0").signed for n in names} == dict.fromkeys(names, False)
        assert not [s for s in reg.requests() if "other" in s.path or "private" in s.path]
    finally:
        cat.close()


def test_a_referrers_index_that_fails_once_is_read_again(reg: HostileRegistry) -> None:
    """A 503 on the fallback index keeps the old flags and the old tag list, so the next pass looks again; a
    signature added to an existing index shows once the repository's tags are due for a check."""
    signature = json.dumps({"mediaType": OCI_MANIFEST, "annotations": {}}).encode()
    sig_digest = reg.put_manifest("ns/s", None, signature)
    _, tag = _fallback(reg, "ns/s", [{"artifactType": BUNDLE_V03, "digest": sig_digest}])
    failing = [True]
    reg.route("GET", f"/v2/ns/s/manifests/{tag}",
              lambda m, s: json_reply({"errors": [{"code": "UNAVAILABLE"}]}, 503) if failing[0] else None)  # fmt: skip
    cat = Catalog(CatalogSettings([RegistrySource(reg.host)], opts=RegistryOptions(tls_verify=False, timeout=10),
                                  recheck_after=3600))  # fmt: skip
    try:
        cat.sync()
        assert not cat.resolve("ns", "s", "1.0.0").signed
        failing[0] = False
        cat.sync()
        assert cat.resolve("ns", "s", "1.0.0").signed  # read again: the tag list was not taken as seen
    finally:
        cat.close()
