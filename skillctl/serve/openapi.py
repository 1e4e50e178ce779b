"""The OpenAPI 3.1 document of the catalog's API (``GET /api/v1/openapi.json``)."""

from __future__ import annotations

from typing import Any

from skillctl.catalog.records import EXTRA_SKILL_FIELDS, GO_COLLECTION_FIELDS, GO_SKILL_FIELDS
from skillctl.core.states import STATES


def _string_props(names: tuple[str, ...], integers: tuple[str, ...] = ()) -> dict[str, Any]:
    return {n: {"type": "integer"} if n in integers else {"type": "string"} for n in names}


def _ok(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _param(name: str, description: str, *, where: str = "query", schema: dict[str, Any] | None = None) -> dict:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "description": description,
        "schema": schema or {"type": "string"},
    }


def openapi_document() -> dict[str, Any]:
    skill = {
        "type": "object",
        "description": "One tag of a skill repository. The first sixteen fields are the Go skillctl's.",
        "properties": {
            **_string_props(GO_SKILL_FIELDS, integers=("word_count",)),
            "registry": {"type": "string", "description": "Registry host; empty for the local store."},
            "ref": {"type": "string"},
            "signed": {"type": "boolean", "description": "A cosign signature tag is attached."},
            "size": {"type": "integer", "description": "Compressed layer bytes."},
        },
        "required": [*GO_SKILL_FIELDS, *EXTRA_SKILL_FIELDS],
    }
    collection = {
        "type": "object",
        "properties": {**_string_props(GO_COLLECTION_FIELDS), "registry": {"type": "string"}},
    }
    problem = {
        "description": "An RFC 9457 problem document",
        "content": {
            "application/problem+json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                    },
                }
            }
        },
    }
    file_entry = {
        "type": "object",
        "properties": {
            "path": {"type": "string"},
            "type": {"enum": ["file", "dir", "symlink"]},
            "size": {"type": "integer"},
            "mode": {"type": "string", "examples": ["0644", "0755"]},
            "sha256": {"type": ["string", "null"]},
            "target": {"type": ["string", "null"]},
            "executable": {"type": "boolean"},
        },
    }
    ns, name = _param("ns", "Namespace", where="path"), _param("name", "Skill name", where="path")
    ver = _param("ver", "A tag, a digest, or a version number (then its furthest state)", where="path")
    envelope = {"type": "object", "properties": {"data": {}}}

    def data(schema: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object", "properties": {"data": schema}}

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "skillctl catalog",
            "version": "1",
            "description": "The Go skillctl's catalog API, and more: files, signatures, diffs.",
        },
        "paths": {
            "/api/v1/skills": {
                "get": {
                    "summary": "Search skill versions (one entry per tag)",
                    "parameters": [
                        _param("q", "Substring of the name, title or description (case-insensitive)"),
                        _param("status", "Lifecycle state", schema={"enum": list(STATES)}),
                        _param("namespace", "Exact namespace"),
                        _param("compatibility", "Exact compatibility string"),
                        _param("tags", "Comma-separated skill tags; all must match"),
                        _param("page", "Page, from 1", schema={"type": "integer", "minimum": 1}),
                        _param(
                            "per_page",
                            "1 to 100 (default 20)",
                            schema={"type": "integer", "minimum": 1, "maximum": 100},
                        ),
                        _param(
                            "sort",
                            "name (the default, the Go tool's order), or relevance (best match of q first)",
                            schema={"enum": ["name", "relevance"]},
                        ),
                    ],
                    "responses": {
                        "200": _ok(
                            {
                                "type": "object",
                                "properties": {
                                    "data": {"type": "array", "items": skill},
                                    "pagination": {
                                        "type": "object",
                                        "properties": {
                                            "total": {"type": "integer"},
                                            "page": {"type": "integer"},
                                            "per_page": {"type": "integer"},
                                        },
                                    },
                                },
                            }
                        ),
                        "400": problem,
                    },
                }
            },
            "/api/v1/skills/{ns}/{name}": {
                "get": {
                    "summary": "The current version: the latest tag, else the newest published release",
                    "parameters": [ns, name],
                    "responses": {"200": _ok(data(skill)), "404": problem},
                }
            },
            "/api/v1/skills/{ns}/{name}/versions": {
                "get": {
                    "summary": "Every tag of the skill",
                    "parameters": [ns, name],
                    "responses": {"200": _ok(data({"type": "array", "items": skill})), "404": problem},
                }
            },
            "/api/v1/skills/{ns}/{name}/versions/{ver}/content": {
                "get": {
                    "summary": "The version's SKILL.md",
                    "parameters": [ns, name, ver],
                    "responses": {
                        "200": {"description": "SKILL.md", "content": {"text/markdown": {}}},
                        "404": problem,
                        "422": problem,
                        "502": problem,
                    },
                }
            },
            "/api/v1/skills/{ns}/{name}/versions/{ver}/files": {
                "get": {
                    "summary": "Every file of the version: path, type, size, mode, sha256",
                    "parameters": [ns, name, ver],
                    "responses": {
                        "200": _ok(data({"type": "array", "items": file_entry})),
                        "404": problem,
                        "422": problem,
                        "502": problem,
                    },
                }
            },
            "/api/v1/skills/{ns}/{name}/versions/{ver}/files/{path}": {
                "get": {
                    "summary": "One file's bytes: text/plain for text, images as images, else a download",
                    "parameters": [
                        ns,
                        name,
                        ver,
                        _param("path", "File path in the skill", where="path"),
                        _param("download", "1: always as an attachment"),
                    ],
                    "responses": {"200": {"description": "The bytes"}, "404": problem, "422": problem},
                }
            },
            "/api/v1/skills/{ns}/{name}/versions/{ver}/signature": {
                "get": {
                    "summary": "Signature status, verified against the catalog's public keys",
                    "parameters": [ns, name, ver],
                    "responses": {
                        "200": _ok(
                            data(
                                {
                                    "type": "object",
                                    "properties": {
                                        "status": {
                                            "enum": ["verified", "invalid", "unsigned", "signed", "unknown", "error"]
                                        },
                                        "digest": {"type": "string"},
                                        "verified_by": {"type": "array", "items": {"type": "string"}},
                                        "detail": {"type": "string"},
                                    },
                                }
                            )
                        ),
                        "404": problem,
                    },
                }
            },
            "/api/v1/skills/{ns}/{name}/diff": {
                "get": {
                    "summary": "What changed between two versions: metadata, files, text diffs",
                    "parameters": [
                        ns,
                        name,
                        _param("from", "Tag, digest or version"),
                        _param("to", "Tag, digest or version"),
                    ],
                    "responses": {"200": _ok(envelope), "400": problem, "404": problem, "422": problem},
                }
            },
            "/api/v1/sync": {
                "post": {
                    "summary": "Start a sync now (needs auth whenever auth is configured)",
                    "responses": {
                        "202": _ok(data({"type": "object"}), "Started"),
                        "409": _ok(data({"type": "object"}), "Already running"),
                        "401": problem,
                    },
                }
            },
            "/api/v1/collections": {
                "get": {
                    "summary": "Every collection",
                    "responses": {"200": _ok(data({"type": "array", "items": collection}))},
                }
            },
            "/api/v1/collections/{name}": {
                "get": {
                    "summary": "A collection by name (not wrapped in data, as in the Go tool)",
                    "parameters": [_param("name", "Collection name", where="path")],
                    "responses": {"200": _ok(collection), "404": problem},
                }
            },
            "/api/v1/export/agent-registry": {
                "get": {
                    "summary": "agent-registry RegistryArtifact documents, one per published version",
                    "responses": {"200": _ok({"type": "object"})},
                }
            },
            "/.well-known/ai-catalog.json": {
                "get": {
                    "summary": "The AI Catalog (application/ai-catalog+json) of the published versions",
                    "responses": {"200": {"description": "OK", "content": {"application/ai-catalog+json": {}}}},
                }
            },
            "/mcp": {
                "post": {
                    "summary": "MCP (streamable HTTP) with the Skills extension, io.modelcontextprotocol/skills",
                    "responses": {"200": {"description": "a JSON-RPC response or an event stream"}},
                }
            },
            "/healthz": {"get": {"summary": "Liveness", "responses": {"200": _ok({"type": "object"})}}},
            "/readyz": {
                "get": {
                    "summary": "Readiness: 503 until the first sync; stale sources are reported (503 with ?strict=1)",
                    "responses": {"200": _ok({"type": "object"}), "503": _ok({"type": "object"}, "Not ready")},
                }
            },
            "/metrics": {
                "get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "Text format 0.0.4"}}}
            },
        },
    }
