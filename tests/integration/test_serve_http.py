"""A real ``skillctl serve`` process over the real registry: the REST API, problem documents, headers, files,
auth, TLS, readiness and staleness, and registry credentials that never show."""

from __future__ import annotations

import base64
import http.server
import json
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from catalog_helpers import Server, annotations, put_skill, serving, skill_entries
from conftest import require_tool
from oci_helpers import file
from registry import Registry, free_port, make_ca, make_server_cert, start_registry

from skillctl.catalog.records import EXTRA_SKILL_FIELDS, GO_SKILL_FIELDS

pytestmark = pytest.mark.integration
NO_TLS = "--tls-verify=false"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32


@pytest.fixture(scope="module")
def seeded(registry: Registry) -> tuple[Registry, str]:
    """A namespace with two skills: doc-reviewer 1.0.0 (draft and published, latest) and 1.1.0 (draft, changed)."""
    ns = registry.repo("x").split("/")[1]
    v1 = skill_entries(
        "doc-reviewer", "1.0.0", body="Review the document.\n", extra=[file("logo.png", PNG), file("data.bin", b"\0\1")]
    )
    v2 = skill_entries("doc-reviewer", "1.1.0", body="Review the document twice.\n", extra=[file("logo.png", PNG)])
    path = f"{ns}/doc-reviewer"
    common = {"namespace": ns, "tags": ["docs", "review"], "description": "Reviews documents for style"}
    put_skill(registry, path, "1.0.0-draft", entries=v1, ann=annotations(version="1.0.0", status="draft", **common))
    put_skill(registry, path, "1.0.0", entries=v1, ann=annotations(version="1.0.0", status="published", **common))
    put_skill(registry, path, "latest", entries=v1, ann=annotations(version="1.0.0", status="published", **common))
    put_skill(registry, path, "1.1.0-draft", entries=v2, ann=annotations(version="1.1.0", status="draft", **common))
    put_skill(
        registry,
        f"{ns}/log-triage",
        "0.3.0",
        entries=skill_entries("log-triage", "0.3.0"),
        ann=annotations(namespace=ns, version="0.3.0", description="Summarises logs", tags=["ops"]),
    )
    return registry, ns


@pytest.fixture(scope="module")
def server(seeded: tuple[Registry, str]) -> Iterator[Server]:
    registry, ns = seeded
    with serving("--registry", f"{registry.host}/{ns}", NO_TLS) as srv:
        srv.wait_ready()
        yield srv


def test_the_go_api_shapes(server: Server, seeded: tuple[Registry, str]) -> None:
    _, ns = seeded
    status, body = server.json("/api/v1/skills")
    assert status == 200
    assert body["pagination"] == {"total": 5, "page": 1, "per_page": 20}
    assert all(list(item) == [*GO_SKILL_FIELDS, *EXTRA_SKILL_FIELDS] for item in body["data"])
    assert {(d["repository"], d["tag"]) for d in body["data"]} == {
        (f"{ns}/doc-reviewer", "1.0.0-draft"),
        (f"{ns}/doc-reviewer", "1.0.0"),
        (f"{ns}/doc-reviewer", "latest"),
        (f"{ns}/doc-reviewer", "1.1.0-draft"),
        (f"{ns}/log-triage", "0.3.0"),
    }
    _, page = server.json("/api/v1/skills?per_page=2&page=3")
    assert page["pagination"] == {"total": 5, "page": 3, "per_page": 2} and len(page["data"]) == 1
    _, drafts = server.json("/api/v1/skills?status=draft")
    assert sorted(d["tag"] for d in drafts["data"]) == ["1.0.0-draft", "1.1.0-draft"]
    _, found = server.json("/api/v1/skills?q=SUMMARIS")
    assert [d["name"] for d in found["data"]] == ["log-triage"]
    _, tagged = server.json("/api/v1/skills?tags=ops")
    assert [d["name"] for d in tagged["data"]] == ["log-triage"]
    status, skill = server.json(f"/api/v1/skills/{ns}/doc-reviewer")
    assert status == 200 and (skill["data"]["tag"], skill["data"]["status"]) == ("latest", "published")
    status, versions = server.json(f"/api/v1/skills/{ns}/doc-reviewer/versions")
    assert status == 200 and len(versions["data"]) == 4
    status, headers, text = server.request(f"/api/v1/skills/{ns}/doc-reviewer/versions/1.1.0/content")
    assert status == 200 and headers["content-type"] == "text/markdown; charset=utf-8"
    assert b"Review the document twice." in text
    status, body = server.json("/healthz")
    assert (status, body) == (200, {"status": "ok"})
    status, body = server.json("/api/v1/collections")
    assert (status, body) == (200, {"data": []})


@pytest.mark.parametrize(
    ("path", "status", "title"),
    [
        ("/api/v1/skills?page=abc", 400, "bad request"),
        ("/api/v1/skills?per_page=1000", 400, "bad request"),
        ("/api/v1/skills?status=unknown", 400, "bad request"),
        ("/api/v1/skills/nobody/nothing", 404, "skill not found"),
        ("/api/v1/skills/nobody/nothing/versions", 404, "skill not found"),
        ("/api/v1/skills/{ns}/doc-reviewer/versions/9.9.9/content", 404, "version not found"),
        ("/api/v1/skills/{ns}/doc-reviewer/versions/1.0.0/files/../../etc/passwd", 404, "file not found"),
        ("/api/v1/skills/{ns}/doc-reviewer/versions/1.0.0/files/%2e%2e/skill.yaml", 404, "file not found"),
        ("/api/v1/skills/{ns}/doc-reviewer/diff?from=1.0.0", 400, "bad request"),
        ("/api/v1/collections/none", 404, "collection not found"),
        ("/api/v1/no-such-route", 404, "not found"),
    ],
)
def test_problem_documents(server: Server, seeded: tuple[Registry, str], path: str, status: int, title: str) -> None:
    got, headers, body = server.request(path.format(ns=seeded[1]))
    assert got == status
    assert headers["content-type"] == "application/problem+json"
    doc = json.loads(body)
    assert list(doc) == ["detail", "status", "title", "type"]
    assert (doc["type"], doc["title"], doc["status"]) == ("about:blank", title, status)
    assert doc["detail"]


def test_every_response_carries_the_security_headers(server: Server, seeded: tuple[Registry, str]) -> None:
    ns = seeded[1]
    for path in [
        "/",
        f"/skills/{ns}/doc-reviewer",
        "/api/v1/skills",
        "/api/v1/skills?page=x",
        f"/api/v1/skills/{ns}/doc-reviewer/versions/1.0.0/files/SKILL.md",
        "/static/style.css",
        "/nowhere",
        "/healthz",
        "/metrics",
    ]:
        _, headers, _ = server.request(path)
        assert "default-src 'none'" in headers["content-security-policy"], path
        assert (
            "script-src" not in headers["content-security-policy"]
            or "'unsafe" not in headers["content-security-policy"]
        )
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["x-frame-options"] == "DENY", path


def test_the_skill_list_as_http_clients_use_it(server: Server) -> None:
    status, headers, body = server.request("/api/v1/skills?per_page=2")
    assert status == 200 and headers["content-type"] == "application/json"
    assert headers["content-length"] == str(len(body)) and headers["cache-control"] == "no-store"
    status, head_headers, head_body = server.request("/api/v1/skills?per_page=2", method="HEAD")
    assert status == 200 and head_body == b"" and head_headers["content-length"] == str(len(body))
    # A repeated parameter: the first counts, as in the Go tool (URL.Query().Get).
    assert (
        server.json("/api/v1/skills?status=published&status=draft")[1]
        == server.json("/api/v1/skills?status=published")[1]
    )
    assert server.json("/api/v1/skills?q=&status=")[1] == server.json("/api/v1/skills")[1]  # blank: not a filter
    assert server.request("/api/v1/skills", method="POST")[0] == 405


def test_files_and_their_bytes(server: Server, seeded: tuple[Registry, str]) -> None:
    ns = seeded[1]
    base = f"/api/v1/skills/{ns}/doc-reviewer/versions/1.0.0"
    status, listing = server.json(f"{base}/files")
    assert status == 200
    entries = {e["path"]: e for e in listing["data"]}
    assert entries["scripts/run.sh"]["mode"] == "0755" and entries["scripts/run.sh"]["executable"]
    assert listing["totals"]["files"] == 5
    status, headers, body = server.request(f"{base}/files/scripts/run.sh")
    assert (status, headers["content-type"], body) == (200, "text/plain; charset=utf-8", b"#!/bin/sh\necho hi\n")
    assert "sandbox" in headers["content-security-policy"]
    status, headers, body = server.request(f"{base}/files/data.bin")
    assert status == 200 and headers["content-disposition"] == 'attachment; filename="data.bin"' and body == b"\0\1"
    assert headers["content-type"] == "application/octet-stream"
    status, headers, body = server.request(f"{base}/files/logo.png")
    assert (status, headers["content-type"], body) == (200, "image/png", PNG)
    status, headers, _ = server.request(f"{base}/files/SKILL.md?download=1")
    assert status == 200 and headers["content-disposition"].startswith("attachment")
    status, headers, _ = server.request(f"{base}/files/SKILL.md", method="HEAD")
    assert status == 200 and headers["content-length"] == str(entries["SKILL.md"]["size"])


def test_diff_signature_openapi_metrics(server: Server, seeded: tuple[Registry, str]) -> None:
    ns = seeded[1]
    status, diff = server.json(f"/api/v1/skills/{ns}/doc-reviewer/diff?from=1.0.0&to=1.1.0-draft")
    assert status == 200
    changes = {c["path"]: c for c in diff["data"]["files"]}
    assert changes["data.bin"]["change"] == "removed"
    assert "-Review the document." in changes["SKILL.md"]["diff"]
    assert "+Review the document twice." in changes["SKILL.md"]["diff"]
    assert {m["field"] for m in diff["data"]["metadata"]} >= {"version", "status", "digest"}
    status, same = server.json(f"/api/v1/skills/{ns}/doc-reviewer/diff?from=1.0.0-draft&to=latest")
    assert status == 200 and same["data"]["same_content"] and same["data"]["files"] == []
    status, sig = server.json(f"/api/v1/skills/{ns}/doc-reviewer/versions/1.0.0/signature")
    assert status == 200 and sig["data"]["status"] == "unsigned"
    status, spec = server.json("/api/v1/openapi.json")
    assert status == 200 and spec["openapi"].startswith("3.1")
    assert "/api/v1/skills/{ns}/{name}/versions/{ver}/files/{path}" in spec["paths"]
    assert server.json("/api/v1/skills")[0] == 200  # counted below, whatever ran before this test

    def text_matches() -> dict[str, int]:
        found = re.findall(
            r'skillctl_catalog_text_matches_total\{result="(\w+)"\} (\d+)', server.request("/metrics")[2].decode()
        )
        return {k: int(v) for k, v in found}

    before = text_matches()
    first = server.json("/api/v1/skills?q=review&per_page=1&page=1")[1]
    second = server.json("/api/v1/skills?q=review&per_page=1&page=2")[1]  # another page: the same text matches
    assert first["pagination"]["total"] == second["pagination"]["total"] >= 2
    assert first["data"] != second["data"]
    after = text_matches()
    assert after["hit"] - before["hit"] == 1 and after["miss"] - before["miss"] <= 1
    status, headers, metrics = server.request("/metrics")
    text = metrics.decode()
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'skillctl_catalog_entries{kind="versions"} 5' in text
    assert 'skillctl_catalog_registry_requests_total{registry="' in text and 'kind="tags"}' in text
    assert 'skillctl_catalog_http_requests_total{handler="list_skills",method="GET",status="200"}' in text
    assert "process_resident_memory_bytes" in text


def test_the_ui_pages(server: Server, seeded: tuple[Registry, str]) -> None:
    ns = seeded[1]
    status, headers, body = server.request("/?q=review")
    html = body.decode()
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert f'href="/skills/{ns}/doc-reviewer"' in html and "log-triage" not in html
    status, _, body = server.request(f"/skills/{ns}/doc-reviewer")
    html = body.decode()
    assert status == 200
    assert "Review the document." in html
    assert '/files/scripts/run.sh">run.sh</a> <span class="exec"' in html  # the tree shows names and exec bits
    pinned = server.json(f"/api/v1/skills/{ns}/doc-reviewer")[1]["data"]
    assert f"skillctl install {seeded[0].host}/{pinned['repository']}@{pinned['digest']} -t claude" in html
    assert server.request("/?page=0")[0] == 400
    assert server.request("/skills/nobody/nothing")[0] == 404
    assert server.request(f"/skills/{ns}/doc-reviewer/diff?from=1.0.0&to=1.1.0-draft")[0] == 200


def test_posting_from_another_origin_is_refused(server: Server) -> None:
    status, body = server.json("/api/v1/sync", method="POST", headers={"Origin": "https://evil.example"})
    assert status == 403 and body["title"] == "forbidden"


# -- sync trigger while a sync runs --------------------------------------------------------------------------


class Slow(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/v2/_catalog"):
            body = b'{"repositories":["slow/skill"]}'
        elif self.path.startswith("/v2/slow/skill/tags/list"):
            time.sleep(1.5)
            body = b'{"tags":[]}'
        else:
            body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_sync_is_202_then_409_while_it_runs() -> None:
    slow = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=slow.serve_forever, daemon=True).start()
    try:
        with serving("--registry", f"127.0.0.1:{slow.server_address[1]}", NO_TLS) as srv:
            srv.wait_ready()
            first = srv.json("/api/v1/sync", method="POST")
            second = srv.json("/api/v1/sync", method="POST")
            assert first == (202, {"data": {"message": "sync triggered"}})
            assert second == (409, {"data": {"message": "sync already in progress"}})
    finally:
        slow.shutdown()
        slow.server_close()


# -- readiness and a registry that goes away --------------------------------------------------------------------


def test_not_ready_then_ready_then_stale(tmp_path: Path) -> None:
    reg = start_registry(tmp_path / "reg")
    down = f"127.0.0.1:{free_port()}"
    try:
        put_skill(
            reg,
            "team/keeper",
            "1.0.0",
            entries=skill_entries("keeper", "1.0.0"),
            ann=annotations(namespace="team", version="1.0.0"),
        )
        with serving("--registry", down, NO_TLS, "--sync-interval", "1h") as never:
            never.wait_for(lambda body: body["syncs"] > 0)
            status, body = never.json("/readyz")
            assert status == 503 and body["status"] == "not ready" and down in body["sources"][0]["error"]
        with serving("--registry", reg.host, NO_TLS, "--sync-interval", "1h") as srv:
            ready = srv.wait_ready()
            assert ready["status"] == "ready" and not ready["stale"]
            reg.stop()
            after = srv.sync()
            assert after["stale"] and reg.host in after["sources"][0]["error"]
            status, body = srv.json("/readyz")
            assert (status, body["status"]) == (200, "stale")  # still serving the last index
            assert srv.json("/readyz?strict=1")[0] == 503
            assert srv.json("/api/v1/skills/team/keeper")[0] == 200
            assert "Some sources failed their last sync" in srv.request("/")[2].decode()
        log = "".join(srv.log)
        assert f"sync: {reg.host}:" in log and "serving its last index" in log
    finally:
        reg.stop()


# -- auth and TLS ------------------------------------------------------------------------------------------------


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    require_tool("openssl")
    ca_crt, ca_key = make_ca(tmp_path / "ca")
    cert, key = make_server_cert(tmp_path / "server", ca_crt, ca_key)
    return ca_crt, cert, key


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_auth_and_tls(seeded: tuple[Registry, str], tls_files: tuple[Path, Path, Path], tmp_path: Path) -> None:
    require_tool("htpasswd")
    registry, ns = seeded
    ca, cert, key = tls_files
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(
        subprocess.run(
            ["htpasswd", "-niB", "-C", "5", "alice"],
            input="wonderland-pw\n",
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    tokens = tmp_path / "tokens"
    tokens.write_text("ci-token-0123456789abcdef\n")
    args = ["--registry", f"{registry.host}/{ns}", NO_TLS, "--tls-cert", str(cert), "--tls-key", str(key)]
    with serving(*args, "--htpasswd", str(htpasswd), "--token-file", str(tokens), ca=ca) as srv:
        assert srv.url.startswith("https://")
        srv.wait_ready()  # /readyz and /healthz need no credentials (probes)
        assert srv.json("/healthz")[0] == 200
        status, headers, _ = srv.request("/api/v1/skills")
        assert status == 401 and headers["www-authenticate"].startswith("Basic realm=")
        assert srv.request("/")[0] == 401
        assert srv.request("/metrics")[0] == 401
        assert srv.request("/api/v1/skills", headers=basic("alice", "wrong"))[0] == 401
        assert srv.request("/api/v1/skills", headers=basic("mallory", "wonderland-pw"))[0] == 401
        assert srv.request("/api/v1/skills", headers=basic("alice", "wonderland-pw"))[0] == 200
        assert srv.request("/", headers=basic("alice", "wonderland-pw"))[0] == 200
        bearer = {"Authorization": "Bearer ci-token-0123456789abcdef"}
        assert srv.request("/api/v1/skills", headers=bearer)[0] == 200
        assert srv.request("/api/v1/sync", method="POST")[0] == 401
        assert srv.request("/api/v1/sync", method="POST", headers=bearer)[0] in (202, 409)
        plain = Server(srv.process, srv.url.replace("https://", "http://"))
        with pytest.raises(OSError):
            plain.request("/healthz", timeout=5)


def test_loopback_by_default_and_a_warning_elsewhere(seeded: tuple[Registry, str]) -> None:
    registry, ns = seeded
    with serving("--registry", f"{registry.host}/{ns}", NO_TLS) as srv:
        assert srv.url.startswith("http://127.0.0.1:")
    with serving("--registry", f"{registry.host}/{ns}", NO_TLS, "--address", "0.0.0.0") as srv:
        srv.wait_ready()
    assert "without --htpasswd or --token-file: anyone who reaches it reads the catalog" in "".join(srv.log)


def test_registry_credentials_come_from_the_auth_file_and_never_show(tls_registry: Registry, tmp_path: Path) -> None:
    ns = tls_registry.repo("x").split("/")[1]
    put_skill(tls_registry, f"{ns}/secret-skill", "1.0.0", entries=skill_entries("secret-skill", "1.0.0"),
              ann=annotations(namespace=ns, version="1.0.0"))  # fmt: skip
    token = base64.b64encode(f"{tls_registry.username}:{tls_registry.password}".encode()).decode()
    authfile = tmp_path / "auth.json"
    authfile.write_text(json.dumps({"auths": {tls_registry.host: {"auth": token}}}))
    args = ["--registry", f"{tls_registry.host}/{ns}", "--cert-dir", str(tls_registry.cert_dir)]
    with serving(*args, "--authfile", str(authfile), "--access-log", global_args=("-vv",)) as srv:
        srv.wait_ready()
        bodies = [
            srv.request(path)[2]
            for path in (
                "/api/v1/skills",
                f"/api/v1/skills/{ns}/secret-skill/versions/1.0.0/files",
                f"/api/v1/skills/{ns}/secret-skill/versions/1.0.0/content",
                f"/skills/{ns}/secret-skill",
                "/readyz",
                "/metrics",
            )
        ]
        assert json.loads(bodies[0])["pagination"]["total"] == 1
        assert b"Do the thing." in bodies[2]
    everything = b"".join(bodies).decode(errors="replace") + "".join(srv.log)
    assert tls_registry.password not in everything and token not in everything
    with serving("--registry", f"{tls_registry.host}/{ns}", "--cert-dir", str(tls_registry.cert_dir)) as anonymous:
        anonymous.wait_for(lambda body: body["syncs"] > 0)
        status, body = anonymous.json("/readyz")
        assert status == 503 and "authentication required" in body["sources"][0]["error"]
