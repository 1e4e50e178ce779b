"""The Go skillctl's clients keep working: the same requests to its ``serve`` and ours, over the same registry,
compared status by status, content type by content type and field by field.

Part of the interop suite (marked ``peer``, deselected by default; ``make interop`` runs it). The Go binary is
``$SKILLCTL_GO``, else ``skillctl-go`` on PATH; a missing binary fails the test. It speaks HTTPS only, so both
servers read the TLS
registry fixture (htpasswd auth): Go with the CA in ``SSL_CERT_FILE`` and the credentials in
``~/.docker/config.json``, ours with ``--cert-dir`` and ``--authfile``.

Where the two differ on purpose, the test says so and checks ours: ``GET /skills/{ns}/{name}`` answers the
``latest`` published release (Go: the newest ``created``, which may be a draft), and ``/collections`` lists
collection artifacts (Go's sync never indexes them, so its list is always empty).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from catalog_helpers import Server, annotations, put_skill, serving, skill_entries, upload_blob
from registry import Registry, free_port, tls_registry

from skillctl.catalog.records import EXTRA_SKILL_FIELDS, GO_COLLECTION_FIELDS, GO_SKILL_FIELDS
from skillctl.core import oci

pytestmark = pytest.mark.peer
__all__ = ["tls_registry"]  # the TLS registry fixture (htpasswd auth), as the rest of the interop suite uses it
COLLECTION = "application/vnd.skillimage.collection.v1+yaml"


@pytest.fixture(scope="module")
def skillctl_go() -> str:
    path = os.environ.get("SKILLCTL_GO") or shutil.which("skillctl-go")
    if not path or not Path(path).is_file():
        pytest.fail(
            "skillctl-go is not built: run 'make interop', or point SKILLCTL_GO at a build of ../shared/peers",
            pytrace=False,
        )
    return path


@dataclass
class GoServer:
    url: str
    process: subprocess.Popen[bytes]

    def request(self, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
        req = urllib.request.Request(self.url + path, method=method)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


@pytest.fixture(scope="module")
def seeded(tls_registry: Registry) -> tuple[Registry, str]:
    reg = tls_registry
    ns = reg.repo("x").split("/")[1]
    common = {"namespace": ns, "tags": ["docs", "review"], "compatibility": "claude-code", "license": "MIT"}
    stamps = {
        "1.0.0-draft": "2026-01-01T00:00:00Z",
        "1.0.0": "2026-01-02T00:00:00Z",
        "1.1.0-draft": "2026-01-03T00:00:00Z",
    }
    for tag, (version, status) in {
        "1.0.0-draft": ("1.0.0", "draft"),
        "1.0.0": ("1.0.0", "published"),
        "1.1.0-draft": ("1.1.0", "draft"),
    }.items():
        ann = annotations(
            version=version, status=status, title="Doc Reviewer", description="Reviews docs", words=7, **common
        )
        ann[oci.CREATED] = stamps[tag]
        put_skill(reg, f"{ns}/doc-reviewer", tag, entries=skill_entries("doc-reviewer", version), ann=ann)
    reg.put_manifest(f"{reg.host}/{ns}/doc-reviewer", "latest", reg.manifest(f"{reg.host}/{ns}/doc-reviewer:1.0.0"))
    for name in ("alpha", "beta", "gamma"):
        ann = annotations(namespace=ns, version="0.1.0", status="testing", description=f"The {name} skill")
        ann[oci.CREATED] = "2026-02-01T00:00:00Z"
        put_skill(reg, f"{ns}/{name}", "0.1.0-testing", entries=skill_entries(name, "0.1.0"), ann=ann)
    put_skill(reg, f"{ns}/plain-image", "1.0", entries=skill_entries("x", "1.0.0"), ann={})
    body = (
        "apiVersion: skillimage.io/v1alpha1\nkind: SkillCollection\nmetadata:\n  name: review-kit\n  version: 1.0.0\n"
        f"  description: Reviews\nskills:\n  - image: {reg.host}/{ns}/doc-reviewer:1.0.0\n"
    ).encode()
    layer, empty = upload_blob(reg, f"{ns}/kits/review", body), upload_blob(reg, f"{ns}/kits/review", b"{}")
    raw = oci.go_json(
        {
            "schemaVersion": 2,
            "mediaType": oci.MANIFEST_V1,
            "artifactType": COLLECTION,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
            "layers": [{"mediaType": COLLECTION, "digest": layer, "size": len(body)}],
        }
    )
    reg.put_manifest(f"{reg.host}/{ns}/kits/review", "1.0.0", raw)
    return reg, ns


@pytest.fixture(scope="module")
def servers(
    seeded: tuple[Registry, str], skillctl_go: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[GoServer, Server]]:
    reg, ns = seeded
    home = tmp_path_factory.mktemp("go-home")
    token = base64.b64encode(f"{reg.username}:{reg.password}".encode()).decode()
    (home / ".docker").mkdir()
    (home / ".docker" / "config.json").write_text(json.dumps({"auths": {reg.host: {"auth": token}}}))
    authfile = home / "auth.json"
    authfile.write_text(json.dumps({"auths": {reg.host: {"auth": token}}}))
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "SSL_CERT_FILE": str(reg.cert_dir / "ca.crt"),  # type: ignore[operator]
        "XDG_RUNTIME_DIR": str(home / "run"),
    }
    argv = [skillctl_go, "serve", "--registry", reg.host, "--namespace", ns, "--port", str(port),
            "--db", str(home / "go.db"), "--sync-interval", "1h"]  # fmt: skip
    log = home / "go.log"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    go = GoServer(f"http://127.0.0.1:{port}", process)
    try:
        deadline = time.monotonic() + 60
        while True:  # Go listens only after its first sync
            if process.poll() is not None:
                pytest.fail(f"skillctl-go serve exited with {process.returncode}:\n{log.read_text()}")
            try:
                if go.request("/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"skillctl-go serve did not start:\n{log.read_text()}")
            time.sleep(0.2)
        with serving(
            "--registry", f"{reg.host}/{ns}", "--cert-dir", str(reg.cert_dir), "--authfile", str(authfile)
        ) as ours:
            ours.wait_ready()
            yield go, ours
    finally:
        process.terminate()
        process.wait(timeout=30)


def kind(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}.get(
        type(value), "null"
    )


def same_shape(go: Any, ours: Any, where: str = "$") -> None:
    """Every field Go sends, ours sends with the same JSON type; ours may add only its documented extras."""
    assert kind(go) == kind(ours), f"{where}: Go sends {kind(go)}, ours {kind(ours)}"
    if isinstance(go, dict):
        missing = [k for k in go if k not in ours]
        assert not missing, f"{where}: ours lacks {missing}"
        extra = [k for k in ours if k not in go]
        allowed = set(EXTRA_SKILL_FIELDS) | {"registry"} if "digest" in go else set()
        assert set(extra) <= allowed, f"{where}: ours adds {extra}"
        assert [k for k in ours if k in go] == list(go), f"{where}: field order differs"
        for key in go:
            same_shape(go[key], ours[key], f"{where}.{key}")
    elif isinstance(go, list) and go and ours:
        for item in ours:
            same_shape(go[0], item, f"{where}[]")


def both(servers: tuple[GoServer, Server], path: str, method: str = "GET") -> tuple[tuple, tuple]:
    go, ours = servers
    g = go.request(path, method=method)
    o = ours.request(path, method=method)
    assert g[0] == o[0], f"{method} {path}: Go answers {g[0]}, ours {o[0]}: {g[2][:300]!r} / {o[2][:300]!r}"
    media = lambda headers: headers.get("content-type", "").split(";")[0].strip()  # noqa: E731
    assert media(g[1]) == media(o[1]), f"{path}: content type {g[1].get('content-type')} / {o[1].get('content-type')}"
    return g, o


def rows(body: dict) -> dict[tuple[str, str], dict]:
    return {(d["repository"], d["tag"]): d for d in body["data"]}


def without(row: dict, *fields: str) -> dict:
    return {k: v for k, v in row.items() if k not in fields}


LISTS = [
    "/api/v1/skills",
    "/api/v1/skills?status=published",
    "/api/v1/skills?status=draft",
    "/api/v1/skills?q=review",
    "/api/v1/skills?q=GAMMA",
    "/api/v1/skills?tags=docs",
    "/api/v1/skills?tags=docs,review",
    "/api/v1/skills?compatibility=claude-code",
    "/api/v1/skills?namespace={ns}",
    "/api/v1/skills?namespace=nobody",
    "/api/v1/skills?per_page=100",
    "/api/v1/skills?status=published&status=draft",
    "/api/v1/skills?q=review&q=nothing",
]


@pytest.mark.parametrize("path", LISTS)
def test_skill_lists_match_field_by_field(
    servers: tuple[GoServer, Server], seeded: tuple[Registry, str], path: str
) -> None:
    (_, _, go_body), (_, _, our_body) = both(servers, path.format(ns=seeded[1]))
    go, ours = json.loads(go_body), json.loads(our_body)
    same_shape(go, ours)
    assert go["pagination"] == ours["pagination"]
    go_rows, our_rows = rows(go), rows(ours)
    assert set(go_rows) == set(our_rows)
    # Go's order (namespace, name, created newest first), with or without q; ties are ordered by ours only.
    order = lambda body: [(d["namespace"], d["name"], d["created"]) for d in body["data"]]  # noqa: E731
    assert order(go) == order(ours)
    for key, row in go_rows.items():
        assert without(row, "synced_at") == without(our_rows[key], "synced_at", *EXTRA_SKILL_FIELDS), key
        assert list(our_rows[key])[: len(GO_SKILL_FIELDS)] == list(GO_SKILL_FIELDS)


def test_pages_match(servers: tuple[GoServer, Server], seeded: tuple[Registry, str]) -> None:
    ns = seeded[1]
    seen: list[set] = [set(), set()]
    for page in (1, 2, 3, 4):
        (_, _, g), (_, _, o) = both(servers, f"/api/v1/skills?namespace={ns}&per_page=2&page={page}")
        go, ours = json.loads(g), json.loads(o)
        assert go["pagination"] == ours["pagination"] == {"total": 7, "page": page, "per_page": 2}
        assert len(go["data"]) == len(ours["data"])
        seen[0] |= set(rows(go))
        seen[1] |= set(rows(ours))
    assert seen[0] == seen[1] and len(seen[0]) == 7


def test_versions_and_content_match(servers: tuple[GoServer, Server], seeded: tuple[Registry, str]) -> None:
    ns = seeded[1]
    (_, _, g), (_, _, o) = both(servers, f"/api/v1/skills/{ns}/doc-reviewer/versions")
    go, ours = json.loads(g), json.loads(o)
    same_shape(go, ours)
    assert {k: without(v, "synced_at") for k, v in rows(go).items()} == {
        k: without(v, "synced_at", *EXTRA_SKILL_FIELDS) for k, v in rows(ours).items()
    }
    # Go orders by created, newest first; ours too (ties broken by tag).
    assert [d["created"] for d in go["data"]] == [d["created"] for d in ours["data"]]
    for version in ("1.0.0", "1.1.0"):
        (_, gh, gb), (_, oh, ob) = both(servers, f"/api/v1/skills/{ns}/doc-reviewer/versions/{version}/content")
        assert gb == ob and b"# doc-reviewer" in gb
        assert gh["content-type"] == oh["content-type"] == "text/markdown; charset=utf-8"


def test_get_skill_differs_on_purpose(servers: tuple[GoServer, Server], seeded: tuple[Registry, str]) -> None:
    ns = seeded[1]
    (_, _, g), (_, _, o) = both(servers, f"/api/v1/skills/{ns}/doc-reviewer")
    go, ours = json.loads(g), json.loads(o)
    same_shape(go, ours)
    assert go["data"]["tag"] == "1.1.0-draft"  # Go: the newest `created`, a draft
    assert (ours["data"]["tag"], ours["data"]["status"]) == ("latest", "published")  # ours: the latest release
    for field in ("repository", "name", "namespace", "display_name", "license", "tags_json"):
        assert go["data"][field] == ours["data"][field]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/skills/{ns}/nothing",
        "/api/v1/skills/{ns}/nothing/versions",
        "/api/v1/skills/{ns}/nothing/versions/1.0.0/content",
        "/api/v1/skills/{ns}/doc-reviewer/versions/9.9.9/content",
        "/api/v1/collections/no-such-collection",
    ],
)
def test_problems_match(servers: tuple[GoServer, Server], seeded: tuple[Registry, str], path: str) -> None:
    (status, _, g), (_, _, o) = both(servers, path.format(ns=seeded[1]))
    go, ours = json.loads(g), json.loads(o)
    assert status == 404
    assert list(go) == list(ours) == ["detail", "status", "title", "type"]
    assert (go["type"], go["title"], go["status"]) == (ours["type"], ours["title"], ours["status"])


def test_health_sync_and_collections(servers: tuple[GoServer, Server]) -> None:
    (_, _, g), (_, _, o) = both(servers, "/healthz")
    assert json.loads(g) == json.loads(o) == {"status": "ok"}
    (_, _, g), (_, _, o) = both(servers, "/api/v1/sync", method="POST")
    assert json.loads(g) == json.loads(o) == {"data": {"message": "sync triggered"}}
    (_, _, g), (_, _, o) = both(servers, "/api/v1/collections")
    go, ours = json.loads(g), json.loads(o)
    assert go == {"data": []}  # Go never indexes collections
    assert list(ours) == ["data"] and len(ours["data"]) == 1
    assert list(ours["data"][0]) == [*GO_COLLECTION_FIELDS, "registry"]
    assert ours["data"][0]["name"] == "review-kit"
