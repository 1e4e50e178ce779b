"""The ASGI app: API, UI and probes around one catalog, behind security headers, auth and metrics.

``create_app(catalog, settings)`` is the one way to build it; ``extra_routes``
lets another front end (an MCP endpoint, say) be mounted beside the catalog's
own routes in the same process.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Final

import anyio.to_thread
from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from skillctl.catalog.service import Catalog
from skillctl.serve.api import api_routes, probe_routes, problem
from skillctl.serve.auth import Authenticator
from skillctl.serve.exports import export_routes
from skillctl.serve.metrics import Metrics
from skillctl.serve.settings import ServeSettings
from skillctl.serve.ui import ui_routes

CSP: Final = (
    "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS: Final = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
OPEN_PATHS: Final = frozenset({"/healthz", "/readyz"})
WORKER_THREADS: Final = 8


class NamespaceConvertor(Convertor[str]):
    """A namespace may have several segments (``acme/platform``): the shortest that lets the rest match."""

    regex = r"[^/]+(?:/[^/]+)*?"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("ns", NamespaceConvertor())


class Guard:
    """Pure ASGI middleware: security headers on every response, auth when configured, a same-origin
    check for POST (so another site cannot make a browser trigger a sync), and request metrics."""

    def __init__(self, app: ASGIApp, *, auth: Authenticator | None, metrics: Metrics) -> None:
        self.app = app
        self.auth = auth
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        api = scope["path"].startswith("/api/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                raw = list(message.get("headers") or [])
                present = {name.lower() for name, _ in raw}
                raw.extend(h for h in SECURITY_HEADERS if h[0] not in present)
                if api and b"cache-control" not in present:
                    raw.append((b"cache-control", b"no-store"))
                message["headers"] = raw
            await send(message)

        refusal = await self._refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send_with_headers)
            handler = "refused"
        else:
            try:
                await self.app(scope, receive, send_with_headers)
            finally:
                endpoint = scope.get("endpoint")
                handler = getattr(endpoint, "__name__", None) or (
                    "static" if scope["path"].startswith("/static/") else "none"
                )
        self.metrics.observe(handler, scope["method"], status[0], time.perf_counter() - started)

    async def _refusal(self, scope: Scope) -> Response | None:
        safe = scope["method"] in ("GET", "HEAD", "OPTIONS")
        if self.auth is None and safe:
            return None
        headers = Headers(scope=scope)
        # bcrypt takes milliseconds on purpose: never on the event loop.
        if (
            self.auth is not None
            and scope["path"] not in OPEN_PATHS
            and await anyio.to_thread.run_sync(self.auth.check, headers.get("authorization")) is None
        ):
            response = problem(401, "unauthorized", "this catalog needs credentials")
            response.headers["WWW-Authenticate"] = self.auth.challenge
            return response
        if not safe:
            origin = headers.get("origin")
            if origin and not _same_origin(origin, headers.get("host", "")):
                return problem(403, "forbidden", f"requests from {origin} may not change anything here")
        return None


def _same_origin(origin: str, host: str) -> bool:
    return re.sub(r"^[a-z]+://", "", origin.lower()).rstrip("/") == host.lower()


def create_app(
    catalog: Catalog,
    settings: ServeSettings | None = None,
    *,
    auth: Authenticator | None = None,
    metrics: Metrics | None = None,
    extra_routes: Sequence[BaseRoute] = (),
    lifespans: Sequence[Callable[[], contextlib.AbstractAsyncContextManager[None]]] = (),
) -> Starlette:
    """The catalog's web app. Nothing starts or stops the catalog here: the caller owns it.

    ``lifespans`` run while the app serves (what a mounted front end needs running, e.g. MCP's session manager).
    """
    settings = settings or ServeSettings()
    metrics = metrics or Metrics()

    async def not_found(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/api/"):
            return problem(404, "not found", f"no route {request.url.path}")
        return Response("Not found\n", status_code=404, media_type="text/plain; charset=utf-8")

    async def method_not_allowed(request: Request, exc: Exception) -> Response:
        return problem(405, "method not allowed", request.method)

    routes: list[Any] = [
        *extra_routes,
        *probe_routes(catalog, metrics),
        *api_routes(catalog, metrics),
        *export_routes(catalog),
        *ui_routes(catalog, settings),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Requests wait on SQLite and the GIL, not on I/O: a few threads serve them better than anyio's 40.
        anyio.to_thread.current_default_thread_limiter().total_tokens = WORKER_THREADS
        async with contextlib.AsyncExitStack() as stack:
            for running in lifespans:
                await stack.enter_async_context(running())
            yield

    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: method_not_allowed}, lifespan=lifespan)
    app.add_middleware(Guard, auth=auth, metrics=metrics)  # type: ignore[arg-type]
    app.state.catalog = catalog
    app.state.settings = settings
    app.state.metrics = metrics
    return app
