"""The catalog's sync against the real CNCF registry: what it indexes, how little it reads again, what it skips,
and what happens when a registry goes away. Request counts come from the session the catalog itself uses, so
they count every HTTP request it sends."""

from __future__ import annotations

import contextlib
import http.server
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from catalog_helpers import annotations, put_raw_manifest, put_skill, skill_entries, upload_blob
from oci_helpers import sha256
from registry import Registry, start_registry

from skillctl.backends.base import RegistryOptions
from skillctl.catalog.query import Query
from skillctl.catalog.service import Catalog, CatalogSettings
from skillctl.catalog.sources import RegistrySource, StoreSource
from skillctl.core import oci
from skillctl.store.layout import Store

pytestmark = pytest.mark.integration
OPTS = RegistryOptions(tls_verify=False, timeout=30)
COLLECTION = "application/vnd.skillimage.collection.v1+yaml"


def namespace(reg: Registry) -> str:
    return reg.repo("x").split("/")[1]  # a fresh top-level namespace no other test uses


def catalog_for(reg: Registry, ns: str, **kwargs) -> Catalog:
    return Catalog(CatalogSettings([RegistrySource(reg.host, ns)], opts=OPTS, **kwargs))


def put_version(reg: Registry, ns: str, name: str, version: str, status: str, **ann) -> str:
    tag = {"draft": f"{version}-draft", "testing": f"{version}-testing"}.get(status, version)
    return put_skill(
        reg,
        f"{ns}/{name}",
        tag,
        entries=skill_entries(name, version),
        ann=annotations(namespace=ns, version=version, status=status, **ann),
    )


def put_collection(reg: Registry, path: str, tag: str, yaml_text: str) -> str:
    body = yaml_text.encode()
    layer = upload_blob(reg, path, body)
    empty = upload_blob(reg, path, b"{}")
    raw = oci.go_json(
        {
            "schemaVersion": 2,
            "mediaType": oci.MANIFEST_V1,
            "artifactType": COLLECTION,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
            "layers": [{"mediaType": COLLECTION, "digest": layer, "size": len(body)}],
            "annotations": {"io.skillimage.collection.name": "ops-skills"},
        }
    )
    return reg.put_manifest(f"{reg.host}/{path}", tag, raw)


def test_sync_indexes_skills_and_collections_and_remembers_the_rest(registry: Registry) -> None:
    ns = namespace(registry)
    draft = put_version(registry, ns, "doc-reviewer", "1.0.0", "draft", tags=["docs"], compatibility="claude-code")
    published = put_version(registry, ns, "doc-reviewer", "1.0.0", "published", tags=["docs"], words=42)
    registry.put_manifest(
        f"{registry.host}/{ns}/doc-reviewer", "latest", registry.manifest(f"{registry.host}/{ns}/doc-reviewer:1.0.0")
    )
    put_version(registry, ns, "log-triage", "0.3.0", "testing", description="Summarises logs")
    plain = put_skill(registry, f"{ns}/not-a-skill", "1.0", entries=skill_entries("x", "1.0.0"), ann={})
    put_collection(
        registry,
        f"{ns}/collections/ops",
        "1.0.0",
        f"apiVersion: skillimage.io/v1alpha1\nkind: SkillCollection\nmetadata:\n  name: ops-skills\n  version: 1.0.0\n"
        f"  description: For on-call\nskills:\n  - image: {registry.host}/{ns}/log-triage:0.3.0-testing\n",
    )
    cat = catalog_for(registry, ns)
    try:
        report = cat.sync()
        assert report.ok and report.sources[registry.host].repositories == 4
        versions = {(v.tag, v.status, v.digest) for v in cat.versions(ns, "doc-reviewer")}
        assert versions == {
            ("1.0.0-draft", "draft", draft),
            ("1.0.0", "published", published),
            ("latest", "published", published),
        }
        current = cat.skill(ns, "doc-reviewer")
        assert (current.tag, current.word_count, current.skill_tags) == ("latest", 42, ["docs"])
        assert cat.search(Query(q="summarises", namespace=ns))[1] == 1
        assert cat.search(Query(namespace=ns, compatibility="claude-code"))[1] == 1
        col = cat.collection("ops-skills")
        assert (col.repository, col.version, col.description) == (f"{ns}/collections/ops", "1.0.0", "For on-call")
        assert json.loads(col.skills_json) == [
            {"name": "log-triage", "image": f"{registry.host}/{ns}/log-triage:0.3.0-testing"}
        ]
        other = cat.index.known_tags(registry.host, f"{ns}/not-a-skill")["1.0"]
        assert (other.kind, other.digest) == ("other", plain)
        assert cat.search(Query(q="not-a-skill"))[1] == 0
    finally:
        cat.close()


def test_an_unchanged_registry_costs_one_tag_list_per_repository(registry: Registry) -> None:
    ns = namespace(registry)
    for i in range(5):
        put_version(registry, ns, f"skill-{i}", "1.0.0", "published")
        put_version(registry, ns, f"skill-{i}", "1.1.0", "draft")
    cat = catalog_for(registry, ns)
    try:
        cat.sync()
        session = cat.syncer.sessions[registry.host]
        first = session.requests
        assert first.get("manifest") == 10 and first.get("tags") == 5
        cat.sync()
        second = session.requests
        new = {k: second.get(k, 0) - first.get(k, 0) for k in second}
        assert {k: v for k, v in new.items() if v} == {"catalog": 1, "tags": 5}  # nothing else at all
    finally:
        cat.close()


def test_a_moved_tag_is_found_by_the_recheck_and_only_then_read(registry: Registry) -> None:
    ns = namespace(registry)
    put_version(registry, ns, "mover", "2.0.0", "published")
    lazy = catalog_for(registry, ns)  # the default: re-check after 15 minutes
    eager = catalog_for(registry, ns, recheck_after=0)
    try:
        lazy.sync()
        eager.sync()
        before = eager.syncer.sessions[registry.host].requests
        eager.sync()
        after = eager.syncer.sessions[registry.host].requests
        assert after["head"] - before.get("head", 0) == 1 and after["manifest"] == before["manifest"]
        deprecated = put_version(registry, ns, "mover", "2.0.0", "deprecated")  # same tag, new digest
        lazy.sync()
        eager.sync()
        assert [(v.tag, v.status) for v in lazy.versions(ns, "mover")] == [("2.0.0", "published")]  # not yet due
        assert [(v.tag, v.status, v.digest) for v in eager.versions(ns, "mover")] == [
            ("2.0.0", "deprecated", deprecated)
        ]
        assert eager.syncer.sessions[registry.host].requests["manifest"] == after["manifest"] + 1
        lazy.sync(full=True)  # POST /api/v1/sync?full=1 and a full pass re-check everything
        assert [v.status for v in lazy.versions(ns, "mover")] == ["deprecated"]
    finally:
        lazy.close()
        eager.close()


def test_new_removed_and_signed_tags(registry: Registry) -> None:
    ns = namespace(registry)
    path = f"{ns}/tagged"
    first = put_version(registry, ns, "tagged", "1.0.0", "published")
    cat = catalog_for(registry, ns)
    try:
        cat.sync()
        second = put_version(registry, ns, "tagged", "1.1.0", "published")
        # A cosign signature tag for the first version (its content does not matter to the index).
        sig = put_skill(registry, path, "sha256-" + first[7:] + ".sig", entries=[], ann={})
        assert sig
        cat.sync()
        rows = {v.tag: v for v in cat.versions(ns, "tagged")}
        assert set(rows) == {"1.0.0", "1.1.0"}  # the signature tag is not a version
        assert rows["1.0.0"].signed and not rows["1.1.0"].signed
        status, _, _ = registry.request("DELETE", f"/v2/{path}/manifests/{second}")
        assert status == 202
        cat.sync()
        assert [v.tag for v in cat.versions(ns, "tagged")] == ["1.0.0"]
    finally:
        cat.close()


def test_listed_repositories_need_no_catalog(registry: Registry) -> None:
    ns = namespace(registry)
    put_version(registry, ns, "listed", "1.0.0", "published")
    put_version(registry, ns, "unlisted", "1.0.0", "published")
    cat = Catalog(CatalogSettings([RegistrySource(registry.host, "", (f"{ns}/listed", f"{ns}/missing"))], opts=OPTS))
    try:
        report = cat.sync()
        assert report.ok
        assert [v.name for v in cat.search(Query(namespace=ns))[0]] == ["listed"]
        assert "catalog" not in cat.syncer.sessions[registry.host].requests
    finally:
        cat.close()


def test_hostile_content_in_a_real_registry_is_indexed_but_never_unpacked(registry: Registry) -> None:
    """A traversal entry or a bomb is in the layer, not in the manifest: sync indexes it (nothing was read), and
    the files are refused when someone asks (see test_catalog_content)."""
    ns = namespace(registry)
    put_version(registry, ns, "good", "1.0.0", "published")
    bad_annotations = annotations(namespace=ns, version="1.0.0")
    bad_annotations[oci.WORDCOUNT] = "not a number"
    put_skill(registry, f"{ns}/odd", "1.0.0", entries=skill_entries("odd", "1.0.0"), ann=bad_annotations)
    # An image index and a manifest whose config is missing: not skill images.
    index = json.dumps({"schemaVersion": 2, "mediaType": oci.INDEX_V1, "manifests": []}).encode()
    assert put_raw_manifest(registry, f"{ns}/good", "an-index", index, oci.INDEX_V1) == 201
    cat = catalog_for(registry, ns)
    try:
        report = cat.sync()
        assert report.ok
        assert cat.skill(ns, "odd").word_count == 0
        assert cat.index.known_tags(registry.host, f"{ns}/good")["an-index"].kind == "other"
    finally:
        cat.close()


# -- a hostile registry: what the CNCF registry would never serve -------------------------------------------


class Hostile(http.server.BaseHTTPRequestHandler):
    """Speaks just enough of the distribution API to serve crafted manifests."""

    manifests: ClassVar[dict[str, tuple[bytes, dict[str, str]]]] = {}

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/v2/":
            return self._send(200, b"{}")
        if self.path.startswith("/v2/_catalog"):
            return self._send(200, json.dumps({"repositories": ["evil/skill"]}).encode())
        if self.path == "/v2/evil/skill/tags/list":
            return self._send(200, json.dumps({"tags": sorted(self.manifests)}).encode())
        tag = self.path.rsplit("/", 1)[-1]
        if "/manifests/" in self.path and tag in self.manifests:
            body, headers = self.manifests[tag]
            return self._send(200, body, headers)
        return self._send(404, b"{}")

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)


@pytest.fixture
def hostile_registry() -> Iterator[str]:
    good = oci.build_manifest(
        oci.Descriptor(oci.CONFIG_V1, sha256(b"{}"), 2),
        [oci.Descriptor(oci.LAYER_TAR_GZIP, sha256(b"x"), 1)],
        annotations(namespace="evil", version="1.0.0"),
    )
    huge = good[:-2] + b',"padding":"' + b"x" * (5 * 1024 * 1024) + b'"}}'
    Hostile.manifests = {
        "1.0.0": (good, {}),
        "huge": (huge, {}),
        "lying": (good, {"Docker-Content-Digest": "sha256:" + "0" * 64}),
        "not-json": (b"\x00\xff not json", {}),
    }
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_hostile_manifests_are_skipped_with_a_reason_and_never_break_sync(
    hostile_registry: str, caplog: pytest.LogCaptureFixture
) -> None:
    cat = Catalog(CatalogSettings([RegistrySource(hostile_registry)], opts=OPTS))
    try:
        with caplog.at_level(logging.WARNING, logger="skillctl"):
            report = cat.sync()
        stats = report.sources[hostile_registry]
        assert report.ok and stats.failed == 0
        assert [v.tag for v in cat.versions("evil", "skill")] == ["1.0.0"]
        skipped = "\n".join(stats.skipped)
        assert f"{hostile_registry}/evil/skill:huge: manifest: the registry announced" in skipped
        assert "more than the 4194304 allowed" in skipped
        assert "lying" in skipped and "does not match its digest" in skipped
        known = cat.index.known_tags(hostile_registry, "evil/skill")
        assert known["not-json"].kind == "other"
        assert f"skipping {hostile_registry}/evil/skill:huge" in caplog.text
        assert cat.status()["sources"][0]["skipped"] == 2
    finally:
        cat.close()


def test_a_registry_that_goes_down_keeps_its_last_index(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    reg = start_registry(tmp_path / "reg")
    try:
        put_version(reg, "team", "survivor", "1.0.0", "published")
        cat = Catalog(CatalogSettings([RegistrySource(reg.host, "team")], opts=OPTS, sync_interval=60))
        assert cat.sync().ok
        assert cat.status()["ready"] and not cat.status()["stale"]
    finally:
        reg.stop()
    try:
        with caplog.at_level(logging.WARNING, logger="skillctl"):
            report = cat.sync()
        assert not report.ok and reg.host in report.errors
        assert [v.tag for v in cat.versions("team", "survivor")] == ["1.0.0"]  # still served
        status = cat.status()
        assert status["stale"] and reg.host in status["sources"][0]["error"]
        assert f"sync: {reg.host}/team:" in caplog.text and "serving its last index" in caplog.text
    finally:
        cat.close()


def test_the_local_store(tmp_path: Path, store: Store, hello: Path) -> None:
    from skillctl import pack

    pack(hello, store=store)
    cat = Catalog(CatalogSettings([StoreSource(store.root)]))
    try:
        cat.sync()
        (v,) = cat.versions("examples", "hello-world")
        assert (v.registry, v.repository, v.tag, v.status) == ("", "examples/hello-world", "1.0.0-draft", "draft")
        assert {e.path for e in cat.files(v)} >= {"SKILL.md", "skill.yaml"}
        (hello / "SKILL.md").write_text((hello / "SKILL.md").read_text() + "\nMore.\n")
        repacked = pack(hello, store=store)
        report = cat.sync()
        assert report.sources["store"].read == 1
        assert cat.versions("examples", "hello-world")[0].digest == repacked.digest
    finally:
        cat.close()
