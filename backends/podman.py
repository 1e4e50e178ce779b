"""podman: push and pull through a private containers-storage; tag listing via ``podman search``."""

from __future__ import annotations

from typing import ClassVar

from skillctl.backends._storage import StorageBackend, parse_search_tags
from skillctl.backends.base import Capability, RegistryOptions

from skillctl.refs import Reference


class PodmanBackend(StorageBackend):
    name: ClassVar[str] = "podman"
    tool: ClassVar[str] = "podman"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.PUSH, Capability.PULL, Capability.TAGS})

    def list_tags(self, repo: Reference, opts: RegistryOptions) -> list[str]:
        # The default limit is 25 tags.
        argv = [
            self.tool,
            "search",
            "--list-tags",
            "--limit=100000",
            "--format=json",
            *self._flags(opts),
            repo.repository,
        ]
        return parse_search_tags(self._run(argv, opts, what=f"list tags of {repo.repository}").stdout)
