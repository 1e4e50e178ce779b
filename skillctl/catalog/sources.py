"""Where the catalog finds skills: registries (discovered through their catalog, or listed) and the local store."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from skillctl.core.errors import UsageError
from skillctl.core.refs import parse_reference

STORE: Final = "store"
"""The name the local store goes by in statuses and logs (its rows have registry "")."""

_HOST_RE: Final = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$")


@dataclass(frozen=True)
class RegistrySource:
    """A registry to index: every repository under ``namespace`` in its catalog, or exactly ``repositories``."""

    host: str
    namespace: str = ""
    repositories: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.host

    def describe(self) -> str:
        if self.repositories:
            return f"{self.host} ({len(self.repositories)} listed repositories)"
        return f"{self.host}/{self.namespace}" if self.namespace else self.host


@dataclass(frozen=True)
class StoreSource:
    """The local store (an OCI layout); ``path`` None means the default store."""

    path: Path | None = None

    @property
    def name(self) -> str:
        return STORE

    def describe(self) -> str:
        return f"the local store ({self.path})" if self.path else "the local store"


Source = RegistrySource | StoreSource


def parse_registry(spec: str) -> RegistrySource:
    """``HOST[:PORT][/NAMESPACE]`` (a scheme is tolerated and dropped).

    Raises:
        UsageError: not a registry host, or a namespace that is not a repository path.
    """
    text = re.sub(r"^[a-z]+://", "", spec.strip()).strip("/")
    host, _, namespace = text.partition("/")
    if not host or not _HOST_RE.match(host) or ("." not in host and ":" not in host and host != "localhost"):
        raise UsageError(
            f"--registry {spec!r}: not a registry host", hint="write it as HOST[:PORT][/NAMESPACE], e.g. quay.io/myorg"
        )
    if namespace:
        parse_reference(f"{host}/{namespace}", what=f"--registry {spec!r}")
    return RegistrySource(host=host, namespace=namespace)


def with_repositories(sources: Sequence[RegistrySource], repositories: Sequence[str]) -> list[RegistrySource]:
    """Attach ``--repositories`` entries (``HOST/path``, or ``path`` when one registry is given) to their registry.

    Raises:
        UsageError: an entry that names no known registry, or is ambiguous.
    """
    if not repositories:
        return list(sources)
    listed: dict[str, list[str]] = {s.host: [] for s in sources}
    for entry in repositories:
        text = entry.strip().strip("/")
        if not text:
            continue
        first, _, rest = text.partition("/")
        if first in listed and rest:
            host, path = first, rest
        elif len(sources) == 1:
            host, path = sources[0].host, text
        else:
            raise UsageError(
                f"--repositories {entry!r}: name the registry (HOST/path) when several --registry are given"
            )
        parse_reference(f"{host}/{path}", what=f"--repositories entry {entry!r}")
        listed.setdefault(host, []).append(path)
    unknown = [h for h in listed if h not in {s.host for s in sources}]
    if unknown:
        raise UsageError(f"--repositories names {unknown[0]!r}, which is not one of the --registry hosts")
    out = []
    for source in sources:
        paths = tuple(dict.fromkeys(listed[source.host]))
        out.append(RegistrySource(source.host, source.namespace, paths) if paths else source)
    return out
