"""podman: push and pull through a private containers-storage; tag listing via ``podman search``."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import ClassVar

from skillctl.backends._storage import StorageBackend, parse_search_tags
from skillctl.backends.base import Capability, RegistryOptions, write_ca_bundle
from skillctl.core.refs import Reference


class PodmanBackend(StorageBackend):
    name: ClassVar[str] = "podman"
    tool: ClassVar[str] = "podman"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.PUSH, Capability.PULL, Capability.TAGS})

    def list_tags(self, repo: Reference, opts: RegistryOptions) -> list[str]:
        # The default limit is 25 tags. podman 4.3 search has no --cert-dir: a private CA goes in SSL_CERT_FILE.
        with self._helper_credentials(opts, repo) as opts, tempfile.TemporaryDirectory(prefix="skillctl-") as tmp:
            flags = [f for f in self._flags(opts, repo) if not f.startswith("--cert-dir=")]
            argv = [self.tool, "search", "--list-tags", "--limit=100000", "--format=json", *flags, repo.repository]
            env = opts.environ()
            cert_dir = opts.cert_dir_for(repo.registry)
            if cert_dir:
                env["SSL_CERT_FILE"] = str(write_ca_bundle(cert_dir, Path(tmp) / "ca-bundle.crt"))
            out = self._run(argv, opts, what=f"list tags of {repo.repository}", env=env).stdout
        return parse_search_tags(out)
