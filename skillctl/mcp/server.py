"""The protocol side: an MCP server declaring the ``io.modelcontextprotocol/skills`` extension, over stdio
(``skillctl mcp``) or streamable HTTP (``/mcp`` under ``skillctl serve``).

The only module that imports the MCP SDK (the ``mcp`` extra, which ``serve`` includes): its low-level server takes
extra request methods and extension capabilities as they are, so ``skills/list`` and ``skills/get`` are two handlers
around ``skills.SkillsService``; blocking work (registry reads, unpacking, hashing) runs in worker threads.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import importlib
from collections.abc import AsyncIterator, Callable
from typing import Any, Final

from skillctl import __version__
from skillctl.core.errors import SkillctlError, ToolNotFoundError
from skillctl.mcp.entries import EXTENSION
from skillctl.mcp.skills import InvalidParams, SkillsService

SDK_MODULES: Final = ("mcp", "mcp_types", "pydantic", "anyio")
INSTALL_HINT: Final = "install the MCP server with: pip install 'skillctl[mcp]'"
INSTRUCTIONS: Final = (
    "Agent skills packaged as OCI images. List them with skills/list (io.modelcontextprotocol/skills); each entry "
    "lists every file with its sha256 digest and size, computed from the verified image layer."
)


def require_sdk(command: str) -> None:
    """The MCP SDK, imported only now (never on another command's path).

    Raises:
        ToolNotFoundError: it is not installed (exit 8).
    """
    for name in SDK_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            raise ToolNotFoundError(f"{command} needs {name!r}, which is not installed", hint=INSTALL_HINT) from None


def build_server(service: SkillsService) -> Any:
    """A low-level MCP server answering ``skills/list``, ``skills/get``, ``resources/list`` and ``resources/read``."""
    import anyio.to_thread
    import mcp_types as types
    from mcp.server.lowlevel import Server
    from mcp.shared.exceptions import MCPError

    class ListSkillsParams(types.PaginatedRequestParams):
        pass

    class GetSkillParams(types.RequestParams):
        uri: str

    async def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))
        except InvalidParams as exc:
            raise MCPError(InvalidParams.code, exc.message) from None
        except SkillctlError as exc:
            raise MCPError(types.INTERNAL_ERROR, exc.message) from None

    async def list_skills(ctx: Any, params: ListSkillsParams) -> dict[str, Any]:
        return await call(service.list, params.cursor, holder=ctx.session)  # type: ignore[no-any-return]

    async def get_skill(ctx: Any, params: GetSkillParams) -> dict[str, Any]:
        return await call(service.get, params.uri, holder=ctx.session)  # type: ignore[no-any-return]

    async def list_resources(ctx: Any, params: types.PaginatedRequestParams | None) -> dict[str, Any]:
        return await call(service.resources, params.cursor if params else None)  # type: ignore[no-any-return]

    async def read_resource(ctx: Any, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        read = await call(service.read, params.uri, holder=ctx.session)
        contents: types.TextResourceContents | types.BlobResourceContents
        if read.text is not None:
            contents = types.TextResourceContents(uri=read.uri, mime_type=read.mime_type, text=read.text)
        else:
            blob = base64.b64encode(read.data).decode("ascii")
            contents = types.BlobResourceContents(uri=read.uri, mime_type=read.mime_type, blob=blob)
        return types.ReadResourceResult(
            contents=[contents],
            ttl_ms=service.ttl_ms,
            cache_scope=service.cache_scope,  # type: ignore[arg-type]
        )

    server: Any = Server(
        "skillctl",
        version=__version__,
        title="skillctl skills",
        instructions=INSTRUCTIONS,
        on_list_resources=list_resources,
        on_read_resource=read_resource,
    )
    server.add_request_handler("skills/list", ListSkillsParams, list_skills)
    server.add_request_handler("skills/get", GetSkillParams, get_skill)
    server.extensions[EXTENSION] = {}  # no directoryRead: every entry lists its files already
    return server


def run_stdio(service: SkillsService) -> None:
    """Serve one host over stdin/stdout until it closes them."""
    import anyio
    from mcp.server.stdio import stdio_server

    server = build_server(service)

    async def main() -> None:
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())

    anyio.run(main)


def http_endpoint(
    service: SkillsService, *, allowed_hosts: list[str] | None = None
) -> tuple[Any, Callable[[], contextlib.AbstractAsyncContextManager[None]]]:
    """The streamable-HTTP ASGI endpoint to mount at ``/mcp``, and the lifespan it needs running.

    ``allowed_hosts`` (``host:port`` patterns) turns on the SDK's DNS-rebinding protection (for a loopback server).
    """
    from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
    from mcp.server.transport_security import TransportSecuritySettings

    security = None
    if allowed_hosts:
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=allowed_hosts,
            allowed_origins=[f"{scheme}://{host}" for host in allowed_hosts for scheme in ("http", "https")],
        )
    manager = StreamableHTTPSessionManager(app=build_server(service), security_settings=security)

    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        async with manager.run():
            yield

    return StreamableHTTPASGIApp(manager), lifespan
