"""MCP at ``/mcp`` of a real ``skillctl serve``: the SDK's streamable-HTTP client, the catalog's auth, and several
hosts at once, each served independently."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import anyio
import pytest
from catalog_helpers import Server, annotations, put_skill, serving, skill_entries
from mcp_helpers import EXTENSION, error_code, http_skills, layer_files
from registry import Registry

pytestmark = pytest.mark.integration
TOKEN = "mcp-test-token-0123456789"


@pytest.fixture(scope="module")
def served(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Registry, str]]:
    ns = registry.repo("x").split("/")[1]
    for i in range(12):
        name = f"tool-{i:02d}"
        put_skill(
            registry,
            f"{ns}/{name}",
            "1.0.0",
            entries=skill_entries(name, "1.0.0", body=f"Skill number {i}.\n" * (i + 1)),
            ann=annotations(namespace=ns, version="1.0.0"),
        )
    tokens = tmp_path_factory.mktemp("auth") / "tokens"
    tokens.write_text(TOKEN + "\n")
    with serving("--registry", f"{registry.host}/{ns}", "--tls-verify=false", "--token-file", str(tokens)) as srv:
        srv.wait_ready()
        yield srv, registry, ns


def test_mcp_needs_the_catalogs_credentials(served) -> None:
    srv, _, _ = served
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {}}).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    status, got, _ = srv.request("/mcp", method="POST", data=body, headers=headers)
    assert status == 401 and got["www-authenticate"].startswith("Bearer")
    status, _, _ = srv.request(
        "/mcp", method="POST", data=body, headers={**headers, "Authorization": "Bearer wrong-token-0123456789"}
    )
    assert status == 401

    async def main() -> None:
        with pytest.raises(Exception):  # noqa: B017 - the SDK raises its own transport error on a 401
            async with http_skills(srv.url + "/mcp") as host:
                await host.page()

    anyio.run(main)


def test_several_hosts_at_once_list_and_read_independently(served) -> None:
    srv, reg, ns = served
    results: dict[int, dict[str, bytes]] = {}

    async def host_session(number: int) -> None:
        async with http_skills(srv.url + "/mcp", token=TOKEN) as host:
            assert host.extensions == {EXTENSION: {}}
            skills, pages = await host.list_all()
            assert pages[0]["cacheScope"] == "private"  # behind auth: no shared caches
            assert sorted(s["frontmatter"]["name"] for s in skills) == [f"tool-{i:02d}" for i in range(12)]
            files: dict[str, bytes] = {}
            for skill in skills:
                for resource in skill["resources"]:
                    data = await host.read(resource["uri"])
                    assert (len(data), "sha256:" + hashlib.sha256(data).hexdigest()) == (
                        resource["size"],
                        resource["digest"],
                    )
                    files[resource["uri"]] = data
            assert await error_code(host.read(f"skill://{ns}/tool-00/missing.md")) == -32602
            results[number] = files

    async def main() -> None:
        async with anyio.create_task_group() as group:
            for number in range(4):
                group.start_soon(host_session, number)

    anyio.run(main)
    assert len(results) == 4 and all(r == results[0] for r in results.values())
    name = "tool-07"
    manifest = reg.manifest_json(f"{reg.host}/{ns}/{name}:1.0.0")
    layer = reg.blob(f"{reg.host}/{ns}/{name}", manifest["layers"][0]["digest"])
    expected = {f"skill://{ns}/{name}/{p}": d for p, d in layer_files(layer).items()}
    assert {u: d for u, d in results[0].items() if u.startswith(f"skill://{ns}/{name}/")} == expected
