"""The catalog's exports over HTTP: ``/.well-known/ai-catalog.json`` (the AI Catalog discovery URL) and
``/api/v1/export/agent-registry`` (RegistryArtifact documents to POST to an agent-registry)."""

from __future__ import annotations

import json
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from skillctl.catalog.exports import AI_CATALOG_MEDIA_TYPE, agent_registry, ai_catalog
from skillctl.catalog.service import Catalog


def export_routes(catalog: Catalog) -> list[Any]:
    plain_http = not catalog.settings.opts.tls_verify

    async def well_known_ai_catalog(request: Request) -> Response:
        export = await anyio.to_thread.run_sync(lambda: ai_catalog(catalog.index.all_versions(), plain_http=plain_http))
        return Response(json.dumps(export.document, indent=2) + "\n", media_type=AI_CATALOG_MEDIA_TYPE)

    def read_skill_md(version: Any) -> str | None:
        found = catalog.skill_md(version)
        return found[1] if found else None

    async def agent_registry_export(request: Request) -> Response:
        export = await anyio.to_thread.run_sync(lambda: agent_registry(catalog.index.all_versions(), read_skill_md))
        body = {"data": export.document, "skipped": export.skipped}
        return Response(json.dumps(body, indent=2) + "\n", media_type="application/json")

    return [
        Route("/.well-known/ai-catalog.json", well_known_ai_catalog, methods=["GET", "HEAD"]),
        Route("/api/v1/export/agent-registry", agent_registry_export, methods=["GET", "HEAD"]),
    ]
