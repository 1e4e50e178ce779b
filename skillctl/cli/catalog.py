"""``skillctl catalog export``: the skills of registries or the store as AI Catalog, Claude Code marketplace or
agent-registry documents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from skillctl.cli.context import Settings
from skillctl.cli.options import registry_options
from skillctl.cli.output import warn
from skillctl.core.errors import UsageError


@click.group("catalog", short_help="Catalogs of skills in registries and the local store.")
def catalog() -> None:
    """Catalogs of the skills in registries and the store (see also: skillctl serve)."""


@catalog.command("export", short_help="Export the catalog in other catalogs' formats.")
@click.option(
    "--format",
    "fmt",
    required=True,
    type=click.Choice(["ai-catalog", "claude-marketplace", "agent-registry"]),
    help="ai-catalog: application/ai-catalog+json (v0.9); claude-marketplace: a Claude Code plugin marketplace "
    "directory (-o DIR); agent-registry: RegistryArtifact documents for its POST /api/v1/skills.",
)
@click.option("--registry", "registries", multiple=True, metavar="HOST[/NAMESPACE]", help="A registry (repeatable).")
@click.option("--repositories", multiple=True, metavar="LIST", help="Exactly these repositories (as for serve).")
@click.option("--store", "include_store", is_flag=True, help="The local store (the default without --registry).")
@click.option(
    "--state",
    "states",
    multiple=True,
    metavar="STATE",
    help="Versions in these states (repeatable or comma-separated; default: published; never archived).",
)
@click.option("--publisher", metavar="DOMAIN", help="ai-catalog: identifiers urn:air:DOMAIN:skill:NS:NAME.")
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), help="Write here (a file; a directory for a marketplace)."
)
@click.option("--force", is_flag=True, help="claude-marketplace: replace a non-empty -o directory.")
@registry_options
@click.pass_obj
def export(settings: Settings, **o: Any) -> None:
    """Export the catalog for the registries next door; every entry points at its image pinned to a digest.

    \b
    skillctl catalog export --format ai-catalog --registry quay.io/myorg > ai-catalog.json
    skillctl catalog export --format agent-registry --store -o artifacts.json
    skillctl catalog export --format claude-marketplace --registry quay.io/myorg -o ./marketplace
    """
    from skillctl.catalog.exports import export_sources
    from skillctl.catalog.sources import StoreSource, parse_registry, with_repositories
    from skillctl.mcp.entries import parse_states

    states = parse_states(o["states"])
    registries = [parse_registry(spec) for spec in o["registries"]]
    repositories = [p.strip() for v in o["repositories"] for p in v.split(",") if p.strip()]
    if repositories and not registries:
        raise UsageError("--repositories needs --registry (the host to read them from)")
    sources: list[Any] = with_repositories(registries, repositories)
    if o["include_store"] or not sources:
        sources.append(StoreSource(settings.store_path))
    result = export_sources(
        sources,
        o["fmt"],
        opts=o["registry"],
        backend=o["backend"],
        states=states,
        publisher=o["publisher"],
        output=o["output"],
        force=o["force"],
    )
    for item in result.skipped:
        warn(f"{item['ref']}: left out: {item['reason']}")
    if o["output"] is None:
        click.echo(json.dumps(result.document, indent=2))


COMMANDS = [catalog]
