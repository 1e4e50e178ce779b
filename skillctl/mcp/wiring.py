"""Putting a skills service together from what a command line names: registries and the store (through a catalog
that keeps itself in step), and agents' installed skills."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from skillctl.backends.base import RegistryOptions
from skillctl.catalog.content import ContentLimits
from skillctl.catalog.service import Catalog, CatalogSettings
from skillctl.consume.install import Destination
from skillctl.mcp.entries import DEFAULT_STATES
from skillctl.mcp.skills import SkillsService
from skillctl.mcp.sources import CatalogSource, InstalledSource, SkillSource
from skillctl.store.layout import Store


def open_service(
    *,
    catalog_sources: Sequence[Any] = (),
    destinations: Sequence[Destination] = (),
    store: Store | None = None,
    opts: RegistryOptions | None = None,
    backend: str | None = None,
    states: frozenset[str] = DEFAULT_STATES,
    sync_interval: float = 60.0,
    limits: ContentLimits | None = None,
    cache_dir: Path | None = None,
) -> SkillsService:
    """A service over a catalog of ``catalog_sources`` (syncing in the background) and/or installed skills."""
    sources: list[SkillSource] = []
    if catalog_sources:
        catalog = Catalog(
            CatalogSettings(
                sources=list(catalog_sources),
                opts=opts or RegistryOptions(),
                backend=backend,
                sync_interval=sync_interval,
                cache_dir=cache_dir,
                limits=limits or ContentLimits(),
            )
        )
        catalog.start()
        sources.append(CatalogSource(catalog, own=True))
    if destinations:
        sources.append(InstalledSource(list(destinations), store or Store()))
    ttl = max(1000, int(sync_interval * 1000))
    return SkillsService(sources, states=states, ttl_ms=ttl, cache_scope="private")
