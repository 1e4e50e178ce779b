"""The REST API under ``/api/v1``: the Go tool's routes, parameters and JSON shapes, then more.

Go's: ``GET /skills`` (``q``, ``status``, ``namespace``, ``compatibility``,
``tags``, ``page``, ``per_page``), ``GET /skills/{ns}/{name}``,
``.../versions``, ``.../versions/{ver}/content``, ``POST /sync``,
``GET /collections``, ``GET /collections/{name}``, ``GET /healthz``, with its
envelope (``data``, ``pagination``) and its problem documents (``type``,
``title``, ``status``, ``detail``). Ours: a version's files, one file's bytes,
its signature status, a diff of two versions, ``/readyz``, ``/metrics`` and the
OpenAPI document. Unlike Go, a malformed parameter is a 400, not a silent default.
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
import urllib.parse
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, BinaryIO, Final

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from skillctl.catalog.query import Query
from skillctl.catalog.records import SkillVersion
from skillctl.catalog.service import Catalog
from skillctl.core.errors import (
    AuthError,
    IntegrityError,
    InvalidSkillError,
    NetworkError,
    NotFoundError,
    SkillctlError,
    UsageError,
)
from skillctl.serve.metrics import Metrics
from skillctl.serve.openapi import openapi_document

PROBLEM: Final = "application/problem+json"
ANSWER_BYTES: Final = 16 * 1024 * 1024
_CHUNK: Final = 64 * 1024
_IMAGES: Final = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
FILE_CSP: Final = "default-src 'none'; img-src 'self'; style-src 'none'; sandbox; frame-ancestors 'none'"


def problem(status: int, title: str, detail: str = "") -> JSONResponse:
    """An RFC 9457 problem document, as the Go tool writes them (its keys sorted, as Go encodes a map)."""
    return JSONResponse(
        {"detail": detail or title, "status": status, "title": title, "type": "about:blank"},
        status_code=status,
        media_type=PROBLEM,
    )


class _Asgi:
    """A plain ASGI endpoint for a Route (Starlette wraps a bare function as request/response); named after it,
    as the request metrics label handlers."""

    def __init__(self, endpoint: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.endpoint = endpoint
        self.__name__ = endpoint.__name__

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.endpoint(scope, receive, send)


def status_for(exc: SkillctlError) -> int:
    if isinstance(exc, UsageError):
        return 400
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, InvalidSkillError | IntegrityError):
        return 422  # the content is refused (hostile or broken), whoever asks
    if isinstance(exc, NetworkError | AuthError):
        return 502  # the registry behind the catalog failed
    return 500


class _Titled(Exception):
    """A problem with a title of its own (where one endpoint has several kinds of 404)."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail


def _envelope(data: Any, **extra: Any) -> JSONResponse:
    return JSONResponse({"data": data, **extra})


def _errors(not_found: str) -> Callable[[Callable[..., Response]], Callable[[Request], Response]]:
    """Turn library errors into problem documents; ``not_found`` is Go's title for a 404."""

    def wrap(endpoint: Callable[..., Response]) -> Callable[[Request], Response]:
        def handler(request: Request) -> Response:
            try:
                return endpoint(request)
            except _Titled as exc:
                return problem(exc.status, exc.title, exc.detail)
            except SkillctlError as exc:
                status = status_for(exc)
                titles = {400: "bad request", 404: not_found, 422: "content refused", 502: "registry unavailable"}
                return problem(status, titles.get(status, "internal error"), exc.message)

        handler.__name__ = endpoint.__name__
        return handler

    return wrap


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(_CHUNK):
            yield chunk


def _looks_like_text(handle: BinaryIO) -> bool:
    head = handle.read(8192)
    handle.seek(0)
    if b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3  # a character cut at the end of the sample
    return True


def api_routes(catalog: Catalog, metrics: Metrics) -> list[Route]:
    """The routes, bound to one catalog (so several apps can share nothing)."""

    def _params(request: Request) -> tuple[str, str]:
        return request.path_params["ns"], request.path_params["name"]

    def _version(request: Request) -> SkillVersion:
        """The version named in the path; a 404 says "skill not found" or "version not found", as Go's does."""
        ns, name = _params(request)
        try:
            catalog.versions(ns, name)
        except NotFoundError as exc:
            raise _Titled(404, "skill not found", exc.message) from None
        return catalog.resolve(ns, name, request.path_params["ver"])

    # The busiest endpoint: answers are kept as bytes until the index changes (within ANSWER_BYTES), a repeated
    # search is answered on the event loop without a thread or a query, and searches for the same thing at the
    # same moment share one query.
    answers: OrderedDict[Query, tuple[int, bytes]] = OrderedDict()
    kept = [0]
    running: dict[tuple[Query, int], asyncio.Future[bytes]] = {}

    def render(query: Query, found: tuple[str, int]) -> bytes:
        data, total = found
        pagination = json.dumps({"total": total, "page": query.page, "per_page": query.per_page})
        return f'{{"data":{data},"pagination":{pagination}}}'.encode()

    def render_list(query: Query) -> bytes:
        return render(query, catalog.index.search_json(query))

    def keep(query: Query, generation: int, body: bytes) -> None:
        old = answers.pop(query, None)
        kept[0] += len(body) - (len(old[1]) if old else 0)
        answers[query] = (generation, body)
        while kept[0] > ANSWER_BYTES and answers:
            _, (_, dropped) = answers.popitem(last=False)
            kept[0] -= len(dropped)

    async def answer_list(params: Mapping[str, str]) -> Response | bytes:
        """The answer to ``GET /api/v1/skills``: the JSON body, or a problem document."""
        try:
            query = Query.from_params(params)
        except UsageError as exc:
            return problem(400, "bad request", exc.message)
        generation = catalog.index.generation
        hit = answers.get(query)
        if hit is not None and hit[0] == generation:
            answers.move_to_end(query)
            catalog.cache_hits += 1
            return hit[1]
        key = (query, generation)
        shared = running.get(key)
        if shared is not None:
            catalog.cache_hits += 1
            try:
                return await asyncio.shield(shared)
            except SkillctlError as exc:
                return problem(status_for(exc), "listing skills", exc.message)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        running[key] = future
        catalog.cache_misses += 1
        try:
            # Most searches are answered here on the event loop, from memory or in a few milliseconds of SQLite:
            # a thread would cost more (under load it waits for the GIL behind the loop). The rest go to a thread.
            found = catalog.index.search_json_now(query)
            if found is not None:
                body = render(query, found)
            else:
                body = await anyio.to_thread.run_sync(render_list, query)
        except SkillctlError as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waited
            return problem(status_for(exc), "listing skills", exc.message)
        finally:
            running.pop(key, None)
        future.set_result(body)
        keep(query, generation, body)
        return body

    async def list_skills(scope: Scope, receive: Receive, send: Send) -> None:
        # Plain ASGI: the busiest route builds no Request and no Response object (a tenth of its time under load).
        # Of a repeated parameter the first counts, as Go's URL.Query().Get reads it.
        params: dict[str, str] = {}
        for name, value in urllib.parse.parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True):
            params.setdefault(name, value)
        answer = await answer_list(params)
        if isinstance(answer, bytes):
            headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(answer))]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": answer})
        else:
            await answer(scope, receive, send)

    @_errors("skill not found")
    def get_skill(request: Request) -> Response:
        return _envelope(catalog.skill(*_params(request)).to_json())

    @_errors("skill not found")
    def versions(request: Request) -> Response:
        return _envelope([v.to_json() for v in catalog.versions(*_params(request))])

    @_errors("version not found")
    def content(request: Request) -> Response:
        version = _version(request)
        found = catalog.skill_md(version)
        if found is None:
            return problem(404, "SKILL.md not found", f"{version.ref} has no SKILL.md")
        return PlainTextResponse(
            found[1], media_type="text/markdown; charset=utf-8", headers={"Content-Security-Policy": FILE_CSP}
        )

    @_errors("version not found")
    def files(request: Request) -> Response:
        version = _version(request)
        entries = catalog.files(version)
        return _envelope(
            [e.to_json() for e in entries],
            version=version.to_json(),
            totals={"files": sum(e.type == "file" for e in entries), "bytes": sum(e.size for e in entries)},
        )

    @_errors("file not found")
    def file(request: Request) -> Response:
        version = _version(request)
        handle, entry = catalog.open_file(version, request.path_params["path"])
        suffix = "." + entry.path.rsplit(".", 1)[-1].lower() if "." in entry.path else ""
        download = request.query_params.get("download") not in (None, "", "0", "false")
        headers = {"Content-Security-Policy": FILE_CSP, "Content-Length": str(entry.size), "ETag": f'"{entry.sha256}"'}
        name = entry.path.rsplit("/", 1)[-1]
        if not download and suffix in _IMAGES:
            media = _IMAGES[suffix]
        elif not download and _looks_like_text(handle):
            media = "text/plain; charset=utf-8"
        else:
            media = mimetypes.guess_type(name)[0] if download else None
            media = "application/octet-stream" if not media or media.startswith("text/html") else media
            quoted = name.replace("\\", "_").replace('"', "_")
            headers["Content-Disposition"] = f'attachment; filename="{quoted}"'
        return StreamingResponse(_chunks(handle), media_type=media, headers=headers)

    @_errors("version not found")
    def signature(request: Request) -> Response:
        version = _version(request)
        return _envelope(catalog.signature(version).to_json())

    @_errors("version not found")
    def diff(request: Request) -> Response:
        old = request.query_params.get("from", "")
        new = request.query_params.get("to", "")
        ns, name = _params(request)
        return _envelope(catalog.diff(ns, name, old, new).to_json())

    def sync(request: Request) -> Response:
        full = request.query_params.get("full") not in (None, "", "0", "false")
        if catalog.trigger(full=full):
            return JSONResponse({"data": {"message": "sync triggered"}}, status_code=202)
        return JSONResponse({"data": {"message": "sync already in progress"}}, status_code=409)

    @_errors("listing collections")
    def collections(request: Request) -> Response:
        return _envelope([c.to_json() for c in catalog.collections()])

    @_errors("collection not found")
    def collection(request: Request) -> Response:
        return JSONResponse(catalog.collection(request.path_params["name"]).to_json())

    def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document())

    prefix = "/api/v1/skills/{ns:ns}/{name}"
    return [
        Route("/api/v1/skills", _Asgi(list_skills), methods=["GET"]),
        Route(prefix + "/versions/{ver}/content", content, methods=["GET"]),
        Route(prefix + "/versions/{ver}/files/{path:path}", file, methods=["GET"]),
        Route(prefix + "/versions/{ver}/files", files, methods=["GET"]),
        Route(prefix + "/versions/{ver}/signature", signature, methods=["GET"]),
        Route(prefix + "/versions", versions, methods=["GET"]),
        Route(prefix + "/diff", diff, methods=["GET"]),
        Route(prefix, get_skill, methods=["GET"]),
        Route("/api/v1/sync", sync, methods=["POST"]),
        Route("/api/v1/collections", collections, methods=["GET"]),
        Route("/api/v1/collections/{name}", collection, methods=["GET"]),
        Route("/api/v1/openapi.json", openapi, methods=["GET"]),
    ]


def probe_routes(catalog: Catalog, metrics: Metrics) -> list[Route]:
    def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    def readyz(request: Request) -> Response:
        """503 until the first sync finished; then 200, saying ``stale`` while a source fails
        (the last index is still served: taking every replica out of a Service would serve nothing).
        ``?strict=1`` makes stale a 503 too."""
        status = catalog.status()
        strict = request.query_params.get("strict") not in (None, "", "0", "false")
        if not status["ready"]:
            word, code = "not ready", 503
        elif status["stale"]:
            word, code = "stale", 503 if strict else 200
        else:
            word, code = "ready", 200
        return JSONResponse({"status": word, **status}, status_code=code)

    def metrics_endpoint(request: Request) -> Response:
        return PlainTextResponse(metrics.render(catalog), media_type="text/plain; version=0.0.4; charset=utf-8")

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"], name="metrics"),
    ]
