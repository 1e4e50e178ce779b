"""``skillctl catalog export`` and the exports ``skillctl serve`` publishes, each validated against its schema (kept
in tests/data/schemas with its source, nothing fetched): AI Catalog, Claude Code marketplace, agent-registry."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
import referencing
import yaml
from catalog_helpers import Server, annotations, put_skill, serving, skill_entries
from mcp_helpers import SKILLCTL, layer_files
from registry import Registry

pytestmark = pytest.mark.integration
NO_TLS = "--tls-verify=false"
SCHEMAS = Path(__file__).resolve().parent.parent / "data" / "schemas"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _schema(name: str) -> dict:
    return json.loads((SCHEMAS / name).read_text())


def _validate_ai_catalog(doc: dict) -> None:
    jsonschema.Draft202012Validator(_schema("ai-catalog-0.9.schema.json")).validate(doc)
    keys = [(e["identifier"], e.get("version")) for e in doc["entries"]]
    assert len(keys) == len(set(keys)), "identifier and version must be unique together"


def _validate_agent_registry(doc: dict) -> None:
    empty = referencing.Resource.from_contents({"$schema": "https://json-schema.org/draft/2020-12/schema"})
    base = "https://agentregistry.dev/schemas/"
    resources = [(base + name, referencing.Resource.from_contents(_schema(name))) for name in ("skill.schema.json",)]
    resources += [(base + "agent.schema.json", empty), (base + "mcp-server.schema.json", empty)]
    registry = referencing.Registry().with_resources(resources)
    jsonschema.Draft202012Validator(_schema("registry-artifact.schema.json"), registry=registry).validate(doc)


def _tamper(reg: Registry, path: str, tag: str) -> None:
    digest = reg.manifest_json(f"{reg.host}/{path}:{tag}")["layers"][0]["digest"].split(":")[1]
    data = reg.root / "data" / "docker/registry/v2/blobs/sha256" / digest[:2] / digest / "data"
    raw = bytearray(data.read_bytes())
    raw[-20] ^= 0xFF
    data.write_bytes(bytes(raw))


@pytest.fixture(scope="module")
def seeded(registry: Registry) -> tuple[Registry, str]:
    ns = registry.repo("x").split("/")[1]

    def put(name: str, tag: str, version: str, status: str, **extra: object) -> None:
        entries = skill_entries(name, version, description=f"The {name} skill")
        ann = annotations(namespace=ns, version=version, status=status, description=f"The {name} skill", **extra)
        put_skill(registry, f"{ns}/{name}", tag, entries=entries, ann=ann)

    put("alpha", "1.0.0", "1.0.0", "published", tags=["docs", "Not A Tag"], authors="Ann <ann@example.com>, Bob")
    put("alpha", "1.1.0", "1.1.0", "published", tags=["docs"], license="MIT")
    put("alpha", "latest", "1.1.0", "published", tags=["docs"], license="MIT")
    put("alpha", "2.0.0-draft", "2.0.0", "draft")
    put("beta", "0.9.0", "0.9.0", "deprecated")
    put("broken", "1.0.0", "1.0.0", "published")
    _tamper(registry, f"{ns}/broken", "1.0.0")
    return registry, ns


def _export(reg: Registry, ns: str, fmt: str, *extra: str, store: Path) -> subprocess.CompletedProcess[str]:
    argv = [
        str(SKILLCTL),
        "--store",
        str(store),
        "catalog",
        "export",
        "--format",
        fmt,
        "--registry",
        f"{reg.host}/{ns}",
    ]
    return subprocess.run([*argv, NO_TLS, *extra], capture_output=True, text=True, timeout=300)


def test_ai_catalog(seeded, tmp_path: Path) -> None:
    reg, ns = seeded
    result = _export(reg, ns, "ai-catalog", store=tmp_path / "store")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    _validate_ai_catalog(doc)
    assert doc["specVersion"] == "0.9"
    got = {(e["identifier"], e["version"]) for e in doc["entries"]}
    # Published versions only (every one of them: an artifact's versions share its identifier); broken is listed
    # too: an AI Catalog entry points at the manifest, which is intact.
    assert got == {
        (f"oci://{reg.host}/{ns}/alpha", "1.0.0"),
        (f"oci://{reg.host}/{ns}/alpha", "1.1.0"),
        (f"oci://{reg.host}/{ns}/broken", "1.0.0"),
    }
    for entry in doc["entries"]:
        assert entry["type"] == MANIFEST
        name = entry["identifier"].rsplit("/", 1)[1]
        digest = reg.digest(f"{reg.host}/{ns}/{name}:{entry['version']}")
        assert entry["url"] == f"http://{reg.host}/v2/{ns}/{name}/manifests/{digest}"
        assert entry["extensions"]["io.skillimage"]["reference"] == f"{reg.host}/{ns}/{name}@{digest}"
    out = tmp_path / "catalog.json"
    result = _export(reg, ns, "ai-catalog", "--publisher", "example.com", "-o", str(out), store=tmp_path / "store")
    assert result.returncode == 0 and result.stdout == "", result.stderr
    published = json.loads(out.read_text())
    _validate_ai_catalog(published)
    assert {e["identifier"] for e in published["entries"]} == {
        f"urn:air:example.com:skill:{ns}:alpha",
        f"urn:air:example.com:skill:{ns}:broken",
    }
    assert _export(reg, ns, "ai-catalog", "--publisher", "not a domain", store=tmp_path / "s").returncode == 2


def test_agent_registry_documents(seeded, tmp_path: Path) -> None:
    reg, ns = seeded
    result = _export(reg, ns, "agent-registry", "--state", "published,deprecated,draft", store=tmp_path / "store")
    assert result.returncode == 0, result.stderr
    docs = json.loads(result.stdout)
    for doc in docs:
        _validate_agent_registry(doc)
    by_key = {(d["identity"]["name"], d["identity"]["version"]): d for d in docs}
    assert set(by_key) == {
        (f"{ns}/alpha", "1.0.0"),
        (f"{ns}/alpha", "1.1.0"),
        (f"{ns}/alpha", "2.0.0"),
        (f"{ns}/beta", "0.9.0"),
    }
    assert f"{reg.host}/{ns}/broken:1.0.0: left out: its SKILL.md could not be read" in result.stderr
    assert {k: d["status"] for k, d in by_key.items()} == {
        (f"{ns}/alpha", "1.0.0"): "published",
        (f"{ns}/alpha", "1.1.0"): "published",
        (f"{ns}/alpha", "2.0.0"): "draft",
        (f"{ns}/beta", "0.9.0"): "deprecated",
    }
    beta = by_key[(f"{ns}/beta", "0.9.0")]
    assert beta["deprecation"]["reason"]
    alpha = by_key[(f"{ns}/alpha", "1.0.0")]
    digest = reg.digest(f"{reg.host}/{ns}/alpha:1.0.0")
    assert alpha["artifacts"] == [
        {
            "oci": f"{reg.host}/{ns}/alpha@{digest}",
            "mediaType": MANIFEST,
            "digest": digest,
            "platform": {"os": "linux", "architecture": "amd64"},
        }
    ]
    layer = reg.blob(f"{reg.host}/{ns}/alpha", reg.manifest_json(f"{reg.host}/{ns}/alpha:1.0.0")["layers"][0]["digest"])
    skill_md = layer_files(layer)["SKILL.md"].decode()
    assert alpha["skillMd"] == yaml.safe_load(skill_md.split("---")[1])
    assert alpha["metadata"]["tags"] == ["docs"]  # "Not A Tag" is not an agent-registry tag
    assert alpha["metadata"]["authors"] == [{"name": "Ann", "email": "ann@example.com"}, {"name": "Bob"}]


def test_claude_marketplace_directory(seeded, tmp_path: Path) -> None:
    reg, ns = seeded
    dest = tmp_path / "marketplace"
    assert _export(reg, ns, "claude-marketplace", store=tmp_path / "store").returncode == 2  # needs -o DIR
    result = _export(reg, ns, "claude-marketplace", "-o", str(dest), store=tmp_path / "store")
    assert result.returncode == 0, result.stderr
    doc = json.loads((dest / ".claude-plugin" / "marketplace.json").read_text())
    jsonschema.Draft7Validator(_schema("claude-code-marketplace.schema.json")).validate(doc)
    assert [(p["name"], p["version"], p["source"]) for p in doc["plugins"]] == [("alpha", "1.1.0", "./plugins/alpha")]
    assert "broken" in result.stderr  # its files cannot be read: left out, said so
    layer = reg.blob(f"{reg.host}/{ns}/alpha", reg.manifest_json(f"{reg.host}/{ns}/alpha:1.1.0")["layers"][0]["digest"])
    skill_dir = dest / "plugins" / "alpha" / "skills" / "alpha"
    written = {p.relative_to(skill_dir).as_posix(): p.read_bytes() for p in skill_dir.rglob("*") if p.is_file()}
    assert written == layer_files(layer)
    again = _export(reg, ns, "claude-marketplace", "-o", str(dest), store=tmp_path / "store")
    assert again.returncode == 9 and "exists and is not empty" in again.stderr


@pytest.fixture(scope="module")
def server(seeded) -> Iterator[Server]:
    reg, ns = seeded
    with serving("--registry", f"{reg.host}/{ns}", NO_TLS) as srv:
        srv.wait_ready()
        yield srv


def test_serve_publishes_the_exports(server: Server, seeded) -> None:
    reg, ns = seeded
    status, headers, body = server.request("/.well-known/ai-catalog.json")
    assert status == 200 and headers["content-type"] == "application/ai-catalog+json"
    doc = json.loads(body)
    _validate_ai_catalog(doc)
    assert {e["version"] for e in doc["entries"] if e["identifier"].endswith("/alpha")} == {"1.0.0", "1.1.0"}
    status, body = server.json("/api/v1/export/agent-registry")
    assert status == 200
    for item in body["data"]:
        _validate_agent_registry(item)
    assert sorted(d["identity"]["version"] for d in body["data"]) == ["1.0.0", "1.1.0"]
    assert [s["ref"] for s in body["skipped"]] == [f"{reg.host}/{ns}/broken:1.0.0"]
    _, spec = server.json("/api/v1/openapi.json")
    assert {"/.well-known/ai-catalog.json", "/api/v1/export/agent-registry", "/mcp"} <= set(spec["paths"])
