"""Running the app: uvicorn on a socket we bind (so ``--port 0`` works and the URL is known before the first
request), TLS when asked, the catalog's sync loop beside it, and a clean stop on SIGINT or SIGTERM."""

from __future__ import annotations

import dataclasses
import signal
import socket
from collections.abc import Callable
from typing import Any

from skillctl.catalog.service import Catalog
from skillctl.core.errors import UsageError
from skillctl.core.logs import get_logger
from skillctl.mcp.skills import SkillsService
from skillctl.serve.app import create_app
from skillctl.serve.auth import Authenticator
from skillctl.serve.settings import ServeSettings, is_loopback

log = get_logger(__name__)


def bind(settings: ServeSettings) -> socket.socket:
    family = socket.AF_INET6 if ":" in settings.address.strip("[]") else socket.AF_INET
    # proto=IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and without it
    # every response written in two parts waits for a delayed ACK (40 ms on Linux).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((settings.address.strip("[]"), settings.port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {settings.address}:{settings.port} ({exc.strerror})") from None
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def run(
    catalog: Catalog,
    settings: ServeSettings,
    *,
    auth: Authenticator | None = None,
    on_listening: Callable[[str], None] | None = None,
    skills: SkillsService | None = None,
) -> None:
    """Serve until interrupted. ``on_listening`` gets the URL once the socket is bound. ``skills``: answer MCP
    (streamable HTTP) at ``/mcp`` too, behind the same auth."""
    import uvicorn

    settings.check()
    sock = bind(settings)
    port = sock.getsockname()[1]
    settings_bound = dataclasses.replace(settings, port=port)
    routes: list[Any] = []
    lifespans: list[Any] = []
    if skills is not None:
        from starlette.routing import Route

        from skillctl.mcp.server import http_endpoint

        hosts = [f"{h}:{port}" for h in ("127.0.0.1", "localhost", "[::1]")] if is_loopback(settings.address) else None
        endpoint, lifespan = http_endpoint(skills, allowed_hosts=hosts)
        routes.append(Route("/mcp", endpoint=endpoint))
        lifespans.append(lifespan)
    app = create_app(catalog, settings_bound, auth=auth, extra_routes=routes, lifespans=lifespans)
    config = uvicorn.Config(
        app,
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        log_config=None,
        access_log=settings.access_log,
        lifespan="on",
        server_header=False,
        proxy_headers=False,
        timeout_keep_alive=15,
        timeout_graceful_shutdown=10,
    )
    try:
        config.load()  # reads the certificate and key now, so a bad file is a clean error
    except (OSError, ValueError) as exc:
        sock.close()
        raise UsageError(f"--tls-cert/--tls-key: cannot use them ({exc})") from None
    server = uvicorn.Server(config)
    catalog.start()
    if on_listening is not None:
        on_listening(settings_bound.url)
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again: end with a return instead, so the
    # caller still closes the catalog (and removes its temporary cache).
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        server.run(sockets=[sock])
    except _Terminated:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()


class _Terminated(Exception):
    pass


def _terminated(signum: int, frame: object) -> None:
    raise _Terminated
