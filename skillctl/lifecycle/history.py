"""``skillctl history``: a skill's promotions across the digests they minted, and the evidence on each."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from skillctl.backends.base import Capability, RegistryOptions
from skillctl.core import oci
from skillctl.core.errors import UsageError
from skillctl.core.refs import parse_reference
from skillctl.lifecycle.records import Step, walk
from skillctl.registry.client import read_manifest
from skillctl.registry.selection import capable, select
from skillctl.trust.evidence import Trust


@dataclass
class History:
    ref: str
    repository: str
    digest: str
    steps: list[Step]  # newest first

    def to_json(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "repository": self.repository,
            "digest": self.digest,
            "steps": [s.to_json() for s in self.steps],
        }


def history(
    ref: str, trusts: Mapping[str, Trust], *, backend: str | None = None, opts: RegistryOptions | None = None
) -> History:
    """Walk back from the digest ``ref`` points at through its promotion records; verify what ``trusts`` can."""
    opts = opts or RegistryOptions()
    parsed = parse_reference(ref)
    if not parsed.is_remote:
        raise UsageError(f"{ref}: history reads attestations from a registry; name a registry reference")
    reader = capable(select(backend, env=opts.env), Capability.MANIFEST, operation="read manifests")
    digest = oci.Manifest.parse(read_manifest(parsed, reader.backend, opts), digest=parsed.digest).digest
    return History(str(parsed), parsed.repository, digest, walk(parsed, digest, trusts, backend=backend, opts=opts))
