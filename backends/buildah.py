"""buildah: push and pull through a private containers-storage; no tag listing or remote metadata."""

from __future__ import annotations

from typing import ClassVar

from skillctl.backends._storage import StorageBackend


class BuildahBackend(StorageBackend):
    name: ClassVar[str] = "buildah"
    tool: ClassVar[str] = "buildah"
    # buildah pull defaults to --policy missing, which hides auth and TLS errors behind a cached copy.
    pull_policy: ClassVar[list[str]] = ["--policy=always"]
