"""Reading registries without downloading layers: inspect a reference, list a repository's versions."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from skillctl.backends.base import Backend, Capability, RegistryOptions
from skillctl.core import oci
from skillctl.core.errors import IntegrityError, NotFoundError, UsageError
from skillctl.core.parallel import map_all
from skillctl.core.refs import Reference, is_attachment_tag, is_tag, parse_reference
from skillctl.registry.client import MAX_MANIFEST, read_image
from skillctl.registry.selection import capable, select
from skillctl.store.images import ImageDetails

log = logging.getLogger(__name__)


def _require_remote(ref: Reference) -> None:
    if not ref.is_remote:
        raise UsageError(f"{ref}: not a registry reference (it needs a registry host such as quay.io/)")


def inspect_remote(ref: str, *, backend: str | None = None, opts: RegistryOptions | None = None) -> ImageDetails:
    """Manifest, config and annotations of a registry reference (no layer is downloaded)."""
    opts = (opts or RegistryOptions()).started()
    parsed = parse_reference(ref)
    _require_remote(parsed)
    reader = capable(select(backend, env=opts.env), Capability.MANIFEST, operation="read manifests")
    manifest = oci.Manifest.parse(read_image(parsed, reader.backend, opts), source=str(parsed))
    config = read_config(parsed.with_digest(manifest.digest), manifest, reader.backend, opts)
    return ImageDetails(ref=str(parsed), manifest=manifest, config=config, local=False)


def read_config(ref: Reference, manifest: oci.Manifest, backend: Backend, opts: RegistryOptions) -> dict[str, Any]:
    """The image config ``manifest`` names, checked against its digest and parsed as a JSON object.

    Raises:
        IntegrityError: the registry's config is not what the manifest names, or not an image config.
    """
    raw = backend.config(ref, opts) or b"{}"
    if len(raw) > MAX_MANIFEST:
        raise IntegrityError(f"{ref}: the registry's config is larger than {MAX_MANIFEST} bytes")
    if raw != b"{}" and oci.sha256_digest(raw) != manifest.config.digest:
        raise IntegrityError(f"{ref}: the registry's config does not match its digest {manifest.config.digest}")
    try:
        config = json.loads(raw)
    except ValueError:
        config = None
    if not isinstance(config, dict):
        raise IntegrityError(f"{ref}: the registry's image config is not a JSON object")
    return config


@dataclass(frozen=True)
class RemoteTag:
    repository: str
    tag: str
    digest: str
    status: str
    version: str
    size: int
    signed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"ref": f"{self.repository}:{self.tag}", **self.__dict__}


def list_remote(
    repo: str, *, backend: str | None = None, opts: RegistryOptions | None = None, workers: int = 4
) -> list[RemoteTag]:
    """Every tag of a repository with its lifecycle state, version and digest, from manifests only."""
    opts = (opts or RegistryOptions()).started()
    parsed = parse_reference(repo)
    _require_remote(parsed)
    chosen = select(backend, env=opts.env)
    lister = capable(chosen, Capability.TAGS, operation="list tags")
    reader = capable(chosen, Capability.MANIFEST, operation="read manifests")
    all_tags = usable_tags(parsed.repository, lister.backend.list_tags(parsed, opts))
    signature_tags = {t for t in all_tags if is_attachment_tag(t)}
    tags = [t for t in all_tags if t not in signature_tags]

    def row(tag: str) -> RemoteTag | None:
        ref = Reference(parsed.repository, tag)
        try:
            raw = read_image(ref, reader.backend, opts)
        except NotFoundError:
            return None  # deleted between listing and reading, or an index without our platform
        if not oci.is_image_manifest(raw):
            return None  # a referrers tag or another artifact: not a skill version
        m = oci.Manifest.parse(raw, source=str(ref))
        return RemoteTag(
            parsed.repository,
            tag,
            m.digest,
            m.annotations.get(oci.STATUS, ""),
            m.annotations.get(oci.VERSION, ""),
            sum(layer.size for layer in m.layers),
            m.digest.replace(":", "-") + ".sig" in signature_tags,
        )

    return [r for r in map_all(row, sorted(tags), workers) if r is not None]


def usable_tags(repository: str, tags: list[str]) -> list[str]:
    """The tags a client can name; a registry may list others (control characters, 500 characters):
    those are skipped with a warning rather than sent back in a URL."""
    good = [t for t in tags if isinstance(t, str) and is_tag(t)]
    for tag in tags:
        if not (isinstance(tag, str) and is_tag(tag)):
            log.warning("%s: skipping the tag %r, which is not a valid tag", repository, tag)
    return good
