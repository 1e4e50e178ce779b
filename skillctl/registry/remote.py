"""Reading registries without downloading layers: inspect a reference, list a repository's versions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from skillctl.backends.base import Backend, Capability, RegistryOptions
from skillctl.core import oci
from skillctl.core.errors import IntegrityError, NotFoundError, SkillctlError, UsageError
from skillctl.core.logs import get_logger
from skillctl.core.parallel import map_all
from skillctl.core.refs import Reference, is_attachment_tag, is_digest, is_tag, parse_reference
from skillctl.core.states import RANK, checked_states, release_version, with_status
from skillctl.registry.client import MAX_MANIFEST, read_image, read_manifest
from skillctl.registry.selection import capable, select
from skillctl.store.images import ImageDetails

log = get_logger(__name__)


def later_state(repository: str, manifest: oci.Manifest, reader: Backend, opts: RegistryOptions) -> oci.Manifest | None:
    """The archived or deprecated manifest of ``manifest``'s content, if ``repository`` holds one (by digest).

    Promotion is deterministic, so the digests are computed, not searched for: at most two manifest reads,
    made side by side (this runs on every pull of a ``-draft`` or ``-testing`` tag).
    """
    candidates = [later for _, later in checked_states(manifest)]  # most advanced first

    def held(later: oci.Manifest) -> bool:
        try:
            read_manifest(Reference(repository, None, later.digest), reader, opts)
        except NotFoundError:
            return False
        return True

    found = map_all(held, candidates, len(candidates))
    return next((c for c, yes in zip(candidates, found, strict=True) if yes), None)


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
    tag: str  # "" for a digest-only (archived) manifest
    digest: str
    status: str
    version: str
    size: int
    signed: bool = False

    @property
    def ref(self) -> str:
        return f"{self.repository}:{self.tag}" if self.tag else f"{self.repository}@{self.digest}"

    def to_json(self) -> dict[str, Any]:
        return {"ref": self.ref, **self.__dict__, "tag": self.tag or None}


def list_remote(
    repo: str,
    *,
    backend: str | None = None,
    opts: RegistryOptions | None = None,
    workers: int = 4,
    archived: bool = False,
) -> list[RemoteTag]:
    """Every tag of a repository with its lifecycle state, version and digest, from manifests only.

    With ``archived``, also the archived manifests the repository keeps by digest only: found from the
    content of the remaining tags (an archived manifest's digest is computable) and from signature tags.
    """
    opts = (opts or RegistryOptions()).started()
    parsed = parse_reference(repo)
    _require_remote(parsed)
    chosen = select(backend, env=opts.env)
    lister = capable(chosen, Capability.TAGS, operation="list tags")
    reader = capable(chosen, Capability.MANIFEST, operation="read manifests")
    all_tags = usable_tags(parsed.repository, lister.backend.list_tags(parsed, opts))
    signature_tags = {t for t in all_tags if is_attachment_tag(t)}
    tags = [t for t in all_tags if t not in signature_tags]

    def row(tag: str, digest: str | None = None) -> tuple[RemoteTag, oci.Manifest] | None:
        ref = Reference(parsed.repository, tag or None, digest)
        try:
            raw = read_image(ref, reader.backend, opts)
        except NotFoundError:
            return None  # deleted between listing and reading (or never there), or an index without our platform
        if not oci.is_image_manifest(raw):
            return None  # a referrers tag or another artifact: not a skill version
        m = oci.Manifest.parse(raw, source=str(ref))
        found = RemoteTag(
            parsed.repository,
            tag,
            m.digest,
            m.annotations.get(oci.STATUS, ""),
            m.annotations.get(oci.VERSION, ""),
            sum(layer.size for layer in m.layers),
            m.digest.replace(":", "-") + ".sig" in signature_tags,
        )
        return found, m

    found = [r for r in map_all(row, sorted(tags), workers) if r is not None]
    rows = [r for r, _ in found]
    if archived:
        tagged = {r.digest for r in rows}
        candidates = {with_status(m, "archived").digest for _, m in found if m.annotations.get(oci.STATUS)}
        candidates |= {d for t in signature_tags if is_digest(d := t.split(".", 1)[0].replace("-", ":", 1))}
        extra = map_all(lambda d: row("", d), sorted(candidates - tagged), workers)
        rows += sorted((r for r, _ in filter(None, extra) if r.status == "archived"), key=lambda r: r.version)
    return rows


def usable_tags(repository: str, tags: list[str]) -> list[str]:
    """The tags a client can name; a registry may list others (control characters, 500 characters):
    those are skipped with a warning rather than sent back in a URL."""
    good = [t for t in tags if isinstance(t, str) and is_tag(t)]
    for tag in tags:
        if not (isinstance(tag, str) and is_tag(tag)):
            log.warning("%s: skipping the tag %r, which is not a valid tag", repository, tag)
    return good


def explain_missing(ref: Reference, *, backend: str | None, opts: RegistryOptions) -> NotFoundError:
    """A not-found error for ``ref`` that says what the repository does hold and how to take it deliberately."""
    try:
        rows = list_remote(ref.repository, backend=backend, opts=opts)
    except NotFoundError:
        rows = []
    except SkillctlError:
        return NotFoundError(f"{ref}: not found in the registry")
    if not rows:
        return NotFoundError(
            f"{ref}: the registry has no such repository (or it has no tags)",
            hint="check the name; 'skillctl list REPOSITORY' shows what a repository holds",
        )
    releases = [r for r in rows if release_version(r.tag) is not None]
    shown = releases or rows
    listing = ", ".join(f"{r.tag} ({r.status or 'no state'})" for r in shown[:8]) + (", …" if len(shown) > 8 else "")
    what = f"{ref.repository} has no tag {ref.tag_or_default}"
    if ref.tag_or_default == "latest" and releases and not any(r.status == "published" for r in releases):
        what += " because no published release is left"
    example = max(releases, key=lambda r: release_version(r.tag)) if releases else shown[0]
    return NotFoundError(
        f"{what}; it holds {listing}",
        hint=f"name the version you want: {example.repository}:{example.tag}"
        + (" (a deprecated version is installed with a warning)" if example.status == "deprecated" else ""),
    )


@dataclass(frozen=True)
class StateCheck:
    """The lifecycle state an image has in its repository now (``unknown`` when the registry could not say)."""

    state: str
    digest: str  # the manifest of that state (the image's own, or its deprecated or archived successor)
    detail: str = ""


def state_now(
    repository: str,
    digest: str,
    *,
    version: str = "",
    known: oci.Manifest | None = None,
    backend: str | None = None,
    opts: RegistryOptions | None = None,
) -> StateCheck:
    """The current state of the image ``repository@digest``: its own, or the deprecated or archived manifest
    of the same content when the repository holds one; ``missing`` when the registry holds none of them.

    ``known`` is the image's manifest when the caller has it (the local store), saving a read; without it,
    an image gone from the registry (promotion deletes superseded manifests) is judged by ``version``. Network,
    TLS and auth failures give ``unknown`` with the reason, never an exception: this is for reports.
    """
    opts = opts or RegistryOptions()
    try:
        reader = capable(select(backend, env=opts.env), Capability.MANIFEST, operation="read manifests").backend
        ref = Reference(repository, None, digest)
        held = True
        manifest = known
        if manifest is None:
            try:
                manifest = oci.Manifest.parse(read_manifest(ref, reader, opts), digest=digest, source=str(ref))
            except NotFoundError:
                return _state_by_version(repository, digest, version, backend=backend, opts=opts)
        later = later_state(repository, manifest, reader, opts)
        if later is not None:
            return StateCheck(later.annotations.get(oci.STATUS, ""), later.digest)
        if known is not None:
            try:
                read_manifest(ref, reader, opts)
            except NotFoundError:
                held = False
        if not held:
            return StateCheck("missing", digest, f"{ref} is no longer in the registry")
        return StateCheck(manifest.annotations.get(oci.STATUS, ""), digest)
    except (SkillctlError, OSError, ValueError) as exc:
        return StateCheck("unknown", digest, str(exc))


def _state_by_version(
    repository: str, digest: str, version: str, *, backend: str | None, opts: RegistryOptions
) -> StateCheck:
    """The most advanced state of ``version`` in the repository, for an image whose manifest is gone."""
    rows = [r for r in list_remote(repository, backend=backend, opts=opts, archived=True) if r.version == version]
    if not version or not rows:
        return StateCheck("missing", digest, f"{repository}@{digest} is no longer in the registry")
    best = max(rows, key=lambda r: RANK.get(r.status, -1))
    return StateCheck(best.status, best.digest, f"judged by version {version}: the installed manifest is gone")
