"""``skillctl mcp``: skills from OCI images over MCP (SEP-2640) on stdio, for a local agent host."""

from __future__ import annotations

from typing import Any

import click

from skillctl.cli.context import Settings
from skillctl.cli.options import registry_options, target_options
from skillctl.core.errors import UsageError


def _split(values: tuple[str, ...]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


@click.command("mcp", short_help="Serve skills over MCP on stdio, for an agent host.")
@click.option(
    "--registry",
    "registries",
    multiple=True,
    metavar="HOST[/NAMESPACE]",
    help="Serve the skills of a registry (repeatable): every repository its catalog lists under NAMESPACE.",
)
@click.option(
    "--repositories",
    multiple=True,
    metavar="LIST",
    help="Exactly these repositories (comma-separated, repeatable; HOST/path, or path with one --registry).",
)
@click.option(
    "--store",
    "include_store",
    is_flag=True,
    help="Serve the skills in the local store (the default when no other source is given).",
)
@target_options
@click.option(
    "--state",
    "states",
    multiple=True,
    metavar="STATE",
    help="Serve versions in these states (repeatable or comma-separated; default: published). Deprecated ones "
    "are flagged; archived ones are never served.",
)
@click.option(
    "--sync-interval", default="60s", show_default=True, metavar="DURATION", help="Time between registry syncs."
)
@registry_options
@click.pass_obj
def mcp(settings: Settings, **o: Any) -> None:
    """Serve skills over MCP on stdin/stdout (the Skills extension, SEP-2640), for an agent host.

    Each skill is served from its image as skill://<namespace>/<name>/SKILL.md with every file's
    sha256 digest and size, computed from the verified layer; by default the highest published
    version of each skill. Sources: registries (--registry, --repositories), the local store
    (--store, the default), or the skills installed for an agent (-t AGENT / -o DIR: the image
    each install receipt names, from the local store). Needs: pip install 'skillctl[mcp]'.

    \b
    skillctl mcp --registry quay.io/myorg
    skillctl mcp -t claude
    skillctl mcp --store --state published,deprecated
    """
    from skillctl.catalog.sources import StoreSource, parse_registry, with_repositories
    from skillctl.consume.install import destinations
    from skillctl.mcp.entries import parse_states
    from skillctl.mcp.server import require_sdk, run_stdio
    from skillctl.mcp.wiring import open_service
    from skillctl.serve.settings import parse_duration
    from skillctl.store.layout import Store

    states = parse_states(o["states"])
    interval = parse_duration(o["sync_interval"], what="--sync-interval")
    registries = [parse_registry(spec) for spec in o["registries"]]
    repositories = _split(o["repositories"])
    if repositories and not registries:
        raise UsageError("--repositories needs --registry (the host to read them from)")
    catalog_sources: list[Any] = with_repositories(registries, repositories)
    installed = o["target"] is not None or o["output"] is not None
    dests = destinations(o["target"], o["output"], scope=o["scope"]) if installed else []
    if o["include_store"] or not (catalog_sources or installed):
        catalog_sources.append(StoreSource(settings.store_path))
    require_sdk("skillctl mcp")
    service = open_service(
        catalog_sources=catalog_sources,
        destinations=dests,
        store=Store(settings.store_path),
        opts=o["registry"],
        backend=o["backend"],
        states=states,
        sync_interval=interval,
    )
    try:
        run_stdio(service)
    finally:
        service.close()


COMMANDS = [mcp]
