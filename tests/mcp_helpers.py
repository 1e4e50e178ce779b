"""A real MCP client (the SDK's) for the Skills extension tests: ``skills/list`` through every page, ``skills/get``,
``resources/read``, over stdio (``skillctl mcp``) or streamable HTTP (``skillctl serve``'s ``/mcp``)."""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import io
import os
import sys
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

SKILLCTL = Path(sys.executable).parent / "skillctl"
EXTENSION = "io.modelcontextprotocol/skills"


class _Result(types.Result):
    model_config = {"extra": "allow"}  # noqa: RUF012


class _GetParams(types.RequestParams):
    uri: str


class SkillsClient:
    """The three calls a host makes, on one connected SDK client."""

    def __init__(self, client: Client) -> None:
        self.client = client

    @property
    def extensions(self) -> dict[str, Any]:
        return dict(self.client.server_capabilities.extensions or {})

    async def request(self, method: str, params: types.RequestParams) -> dict[str, Any]:
        request = types.Request[Any, str](method=method, params=params)
        result = await self.client.session.send_request(request, _Result)
        return result.model_dump(by_alias=True, mode="json", exclude_none=True)

    async def page(self, cursor: str | None = None) -> dict[str, Any]:
        return await self.request("skills/list", types.PaginatedRequestParams(cursor=cursor))

    async def list_all(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Every entry, and every page as it came."""
        pages = [await self.page()]
        while "nextCursor" in pages[-1]:
            pages.append(await self.page(pages[-1]["nextCursor"]))
        return [s for p in pages for s in p["skills"]], pages

    async def get(self, uri: str) -> dict[str, Any]:
        return await self.request("skills/get", _GetParams(uri=uri))

    async def read(self, uri: str) -> bytes:
        result = await self.client.read_resource(uri)
        (content,) = result.contents
        assert content.uri == uri
        if isinstance(content, types.TextResourceContents):
            return content.text.encode("utf-8")
        return base64.b64decode(content.blob)


async def error_code(call: Any) -> int:
    """The JSON-RPC error code an awaited call fails with (fails the test when it succeeds)."""
    try:
        await call
    except MCPError as exc:
        return exc.code
    raise AssertionError("the call succeeded; an error was expected")


@contextlib.asynccontextmanager
async def stdio_skills(*args: str, env: dict[str, str] | None = None) -> AsyncIterator[SkillsClient]:
    """``skillctl ARGS`` (global options, then ``mcp ...``) as an agent host starts it, over stdio."""
    params = StdioServerParameters(command=str(SKILLCTL), args=list(args), env={**os.environ, **(env or {})})
    async with Client(params, read_timeout_seconds=120) as client:
        yield SkillsClient(client)


@contextlib.asynccontextmanager
async def http_skills(url: str, *, token: str | None = None) -> AsyncIterator[SkillsClient]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=120) as http,
        Client(streamable_http_client(url, http_client=http), read_timeout_seconds=120) as client,
    ):
        yield SkillsClient(client)


def layer_files(layer: bytes) -> dict[str, bytes]:
    """The regular files of a tar+gzip layer (links to files resolved), by path: what an entry must list."""
    out: dict[str, bytes] = {}
    links: dict[str, str] = {}
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer))) as tar:
        for member in tar:
            name = member.name.removeprefix("./")
            if member.isfile():
                out[name] = tar.extractfile(member).read()  # type: ignore[union-attr]
            elif member.issym():
                links[name] = os.path.normpath(os.path.join(os.path.dirname(name), member.linkname))
    for name, target in links.items():
        if target in out:
            out[name] = out[target]
    return out


def manifest_of(files: dict[str, bytes]) -> dict[str, tuple[str, int]]:
    return {path: ("sha256:" + hashlib.sha256(data).hexdigest(), len(data)) for path, data in files.items()}
