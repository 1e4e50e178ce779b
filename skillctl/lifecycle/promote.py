"""Promotion: rewrite ``io.skillimage.status`` and retag, moving no content.

The new manifest differs from the old one only in that annotation; config and
layers are the same descriptors, so no blob is uploaded. The same rules run on
a registry (through a backend that can write a manifest without its blobs)
and on the local store (``--local``), behind one small ``Repo`` interface.

Tags after promotion: testing ``<ver>-testing``; published ``<ver>`` (and
``latest`` if it is the highest published release); deprecated ``<ver>``;
archived: digest only, ``<ver>`` removed. ``latest`` always points at the
highest published release of the repository, or is removed when none is left.
Every promotion is idempotent: running it again finishes an interrupted one.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from skillctl.backends.base import Capability, RegistryOptions, write_layout
from skillctl.core import oci
from skillctl.core.errors import IntegrityError, LifecycleError, NotFoundError, ToolError
from skillctl.core.fsutil import file_lock
from skillctl.core.logs import get_logger
from skillctl.core.parallel import map_all
from skillctl.core.refs import Reference, is_attachment_tag, parse_reference, version_tag
from skillctl.core.states import (
    RANK,
    best_published,
    check_transition,
    parse_state,
    release_version,
    tag_for_state,
    with_status,
)
from skillctl.registry.client import NoPlatformImage, kept_connections, read_config, read_image, read_tags
from skillctl.registry.remote import usable_tags
from skillctl.registry.selection import Selection, capable, select
from skillctl.registry.tags import remove_tag
from skillctl.store.layout import PRIVATE_DIR, IndexEntry, Store

log = get_logger(__name__)
LATEST = "latest"
T = TypeVar("T")
_TRANSIENT = re.compile(
    r"unexpected HTTP status: 5\d\d|\b50[0234] (Internal Server Error|Bad Gateway|Service Unavailable)"
)


def _retrying(call: Callable[[], T], attempts: int = 4) -> T:
    """``call()``, again after a transient registry error (HTTP 5xx).

    Distribution's filesystem storage rewrites link files in place, so a read that
    races a concurrent promotion's write can get a 500 ("invalid checksum digest
    format"). crane retries those itself; skopeo 1.9 does not.
    """
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except ToolError as exc:
            if attempt == attempts or not _TRANSIENT.search(f"{exc} {exc.stderr}"):
                raise
            log.info("transient registry error, retrying: %s", exc)
            time.sleep(0.05 * attempt)
    raise AssertionError("unreachable")


class Repo(Protocol):
    """One repository, on a registry or in the local store."""

    location: str
    repository: str

    def manifest(self, ref: Reference) -> oci.Manifest | None: ...
    def snapshot(self, only: Callable[[str], bool] | None = None) -> dict[str, oci.Manifest]: ...
    def put(self, new: oci.Manifest, base: oci.Manifest, tag: str | None) -> None: ...
    def retag(self, manifest: oci.Manifest, tag: str) -> None: ...
    def untag(self, tag: str, manifest: oci.Manifest, snapshot: dict[str, oci.Manifest]) -> str | None: ...
    def archived(self, version: str) -> oci.Manifest | None: ...


class LocalRepo:
    def __init__(self, store: Store, repository: str) -> None:
        self.store = store
        self.repository = repository
        self.location = f"the local store ({store.root})"

    def manifest(self, ref: Reference) -> oci.Manifest | None:
        try:
            return self.store.manifest(self.store.resolve(ref).digest)
        except NotFoundError:
            return None

    def snapshot(self, only: Callable[[str], bool] | None = None) -> dict[str, oci.Manifest]:
        prefix = self.repository + ":"
        return {
            name[len(prefix) :]: self.store.manifest(entry.digest)
            for name, entry in self.store.tagged().items()
            if name.startswith(prefix) and (only is None or only(name[len(prefix) :]))
        }

    def put(self, new: oci.Manifest, base: oci.Manifest, tag: str | None) -> None:
        self.store.check_complete(base, what=f"{self.repository}@{base.digest}")
        with self.store.writing():
            self.store.put_blob(new.raw)
            if tag:
                self.store.set_tag(f"{self.repository}:{tag}", new.descriptor, dict(new.annotations))
                return

            def keep_untagged(entries: list[IndexEntry]) -> list[IndexEntry] | None:
                if any(e.digest == new.digest for e in entries):
                    return None
                annotations = {**new.annotations, oci.REPOSITORY: self.repository}
                return [*entries, IndexEntry(new.descriptor, annotations)]

            self.store.update_index(keep_untagged)

    def archived(self, version: str) -> oci.Manifest | None:
        """The archived manifest of ``version`` kept by digest in this repository, if any."""
        for entry in self.store.entries():
            a = entry.annotations
            if entry.ref_name is None and a.get(oci.REPOSITORY) == self.repository and a.get(oci.VERSION) == version:
                manifest = self.store.manifest(entry.digest)
                if manifest.annotations.get(oci.STATUS) == "archived":
                    return manifest
        return None

    def retag(self, manifest: oci.Manifest, tag: str) -> None:
        self.store.check_complete(manifest, what=f"{self.repository}@{manifest.digest}")
        with self.store.writing():
            self.store.set_tag(f"{self.repository}:{tag}", manifest.descriptor, dict(manifest.annotations))

    def untag(self, tag: str, manifest: oci.Manifest, snapshot: dict[str, oci.Manifest]) -> str | None:
        name = f"{self.repository}:{tag}"
        self.store.update_index(lambda entries: [e for e in entries if e.ref_name != name])
        return None


class RemoteRepo:
    """A registry repository, reached through backends that can each do their part safely."""

    def __init__(self, repository: str, selection: Selection, opts: RegistryOptions) -> None:
        self.repository = repository
        self.opts = opts
        self.location = repository
        self.reader = capable(selection, Capability.MANIFEST, operation="read manifests")
        self.lister = capable(selection, Capability.TAGS, operation="list tags")
        self.writer = capable(selection, Capability.ANNOTATE, operation="write a manifest without its blobs")
        self.copier = capable(selection, Capability.COPY, operation="retag on the registry")
        self.notes = [f"using {s.reason}" for s in (self.reader, self.writer) if s.backend is not selection.backend]

    def _ref(self, tag: str | None = None, digest: str | None = None) -> Reference:
        return Reference(self.repository, tag, digest)

    def manifest(self, ref: Reference, *, strict: bool = True) -> oci.Manifest | None:
        """``ref``'s image manifest, None when there is none; an index without our platform is an error
        unless not ``strict`` (a snapshot skips it)."""
        try:
            raw = _retrying(lambda: read_image(ref, self.reader.backend, self.opts))
            return oci.Manifest.parse(raw, source=str(ref)) if oci.is_image_manifest(raw) else None
        except NoPlatformImage:
            if strict:
                raise
            return None
        except NotFoundError:
            return None

    def snapshot(self, only: Callable[[str], bool] | None = None) -> dict[str, oci.Manifest]:
        """Tags and their manifests; ``only`` limits which tags are read (one manifest read per tag)."""
        try:
            listed = usable_tags(
                self.repository, _retrying(lambda: read_tags(self._ref(), self.lister.backend, self.opts))
            )
            tags = [t for t in listed if not is_attachment_tag(t) and (only is None or only(t))]
        except NotFoundError:
            return {}
        found = dict(zip(tags, map_all(lambda t: self.manifest(self._ref(t), strict=False), tags, 4), strict=True))
        return {t: m for t, m in found.items() if m is not None}

    @contextlib.contextmanager
    def _sparse_layout(self, new: oci.Manifest, base: oci.Manifest) -> Iterator[Path]:
        config = _retrying(
            lambda: read_config(self._ref(digest=base.digest), base.config.digest, self.reader.backend, self.opts)
        )
        if oci.sha256_digest(config) != new.config.digest:
            raise IntegrityError(f"{self.repository}: the registry's config does not match {new.config.digest}")
        with tempfile.TemporaryDirectory(prefix="skillctl-promote-") as tmp:
            # Sparse: the layers are already in the repository, only the manifest and config travel.
            yield write_layout(Path(tmp), new.raw, {new.config.digest: config})

    def put(self, new: oci.Manifest, base: oci.Manifest, tag: str | None) -> None:
        dest = self._ref(tag) if tag else self._ref(digest=new.digest)
        with self._sparse_layout(new, base) as layout:
            digest = _retrying(lambda: self.writer.backend.push(layout, dest, self.opts))
        if digest and digest != new.digest:
            raise IntegrityError(f"{dest}: the registry stored {digest}, expected {new.digest}")

    def archived(self, version: str) -> oci.Manifest | None:
        """The archived manifest of ``version``, if the registry holds it (by digest only).

        A registry cannot list untagged manifests, but the archived manifest differs from
        every other manifest of its version only in the status, so any remaining tag of
        that version (``-draft``, ``-testing``) names its digest.
        """
        for manifest in self.snapshot(lambda t: t.startswith(version_tag(version))).values():
            if manifest.annotations.get(oci.VERSION) == version:
                found = self.manifest(self._ref(digest=with_status(manifest, "archived").digest))
                if found is not None:
                    return found
        return None

    def retag(self, manifest: oci.Manifest, tag: str) -> None:
        digest = _retrying(
            lambda: self.copier.backend.copy(self._ref(digest=manifest.digest), self._ref(tag), self.opts)
        )
        if digest and digest != manifest.digest:
            raise IntegrityError(f"{self._ref(tag)}: the registry stored {digest}, expected {manifest.digest}")

    def untag(self, tag: str, manifest: oci.Manifest, snapshot: dict[str, oci.Manifest]) -> str | None:
        """Remove ``tag``; return why it was kept when that cannot be done safely."""
        # Any tag may share the manifest (also ones skillctl did not write), so read them all when asked.
        return remove_tag(
            self._ref(tag),
            manifest.digest,
            candidates=(self.writer, self.copier, self.reader),
            sharing=lambda: sorted(t for t, m in self.snapshot().items() if t != tag and m.digest == manifest.digest),
            opts=self.opts,
        )


@dataclass
class PromoteResult:
    ref: str
    source_state: str
    state: str
    digest: str
    previous_digest: str
    changed: bool
    location: str
    wrote: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "ref": self.ref, "from": self.source_state, "to": self.state, "digest": self.digest,
            "previousDigest": self.previous_digest, "changed": self.changed, "wrote": self.wrote,
            "location": self.location,
            "tags": self.tags, "removed": self.removed, "warnings": self.warnings, "notes": self.notes,
        }  # fmt: skip


def _release_or_latest(tag: str) -> bool:
    return tag == LATEST or release_version(tag) is not None


def _relevant(version: str) -> Callable[[str], bool]:
    """The tags a promotion of ``version`` reads: that version's, the releases and latest."""
    own = version_tag(version)
    return lambda tag: tag.startswith(own) or _release_or_latest(tag)


def _settle_latest(repo: Repo, result: PromoteResult, *, rounds: int = 5) -> None:
    """Point ``latest`` at the highest published release; re-check until stable (concurrent promotions)."""
    for _ in range(rounds):
        snapshot = repo.snapshot(_release_or_latest)
        best = best_published(snapshot)
        current = snapshot.get(LATEST)
        if best and (current is None or current.digest != best[1].digest):
            repo.retag(best[1], LATEST)
            result.tags[LATEST] = best[1].digest
            result.wrote = True
            continue
        if best is None and current is not None:
            kept = repo.untag(LATEST, current, snapshot)
            if kept:
                result.warnings.append(kept)
                return
            result.removed.append(LATEST)
            result.wrote = True
            continue
        return
    result.warnings.append("latest kept changing while promoting (another promotion running?); run it again")


def promote(
    ref: str,
    to: str,
    *,
    local: bool = False,
    store: Store | None = None,
    backend: str | None = None,
    opts: RegistryOptions | None = None,
) -> PromoteResult:
    """Promote ``ref`` one lifecycle step to ``to`` on its registry, or in the store with ``local``.

    Raises:
        LifecycleError: not the next state (the message names it).
        NotFoundError: ``ref`` does not exist.
    """
    state = parse_state(to)
    parsed = parse_reference(ref)
    store = store or Store()
    opts = (opts or RegistryOptions()).started()
    if local:
        store.init()
        with file_lock(store.root / PRIVATE_DIR / "promote.lock"):
            return _promote(LocalRepo(store, parsed.repository), parsed, state)
    if not parsed.is_remote:
        raise LifecycleError(
            f"{parsed}: not a registry reference; promotion is remote unless --local is given",
            hint=f"skillctl promote {parsed} --to {state} --local",
        )
    repo = RemoteRepo(parsed.repository, select(backend, env=opts.env), opts)
    with kept_connections(opts):
        result = _promote(repo, parsed, state)
    result.notes[:0] = repo.notes
    return result


def _promote(repo: Repo, ref: Reference, state: str) -> PromoteResult:
    source = repo.manifest(ref)
    if source is None and state == "archived" and ref.tag:
        source = repo.archived(ref.tag.replace("_", "+"))
    if source is None:
        raise NotFoundError(
            f"{ref}: not found in {repo.location}",
            hint="an archived version is kept by digest only: promote REPO@sha256:..." if ref.tag else None,
        )
    current = source.annotations.get(oci.STATUS, "")
    version = source.annotations.get(oci.VERSION)
    if not version:
        raise LifecycleError(f"{ref}: the manifest has no {oci.VERSION} annotation; cannot name its tags")
    changed = check_transition(current, state, ref=str(ref))
    new = with_status(source, state) if changed else source
    result = PromoteResult(str(ref), current, state, new.digest, source.digest, changed, repo.location)
    tag = tag_for_state(version, state)
    snapshot = repo.snapshot(_relevant(version))
    if tag:
        if tag not in snapshot or snapshot[tag].digest != new.digest:
            later = _already_past(repo, source, state, version, snapshot)
            if later is not None:
                # A retried step after later ones (publish after deprecate) must not undo them.
                result.digest = later.digest
                result.warnings.append(
                    f"{version} is already {later.annotations.get(oci.STATUS)} ({later.digest}); nothing changed"
                )
                return result
            repo.put(new, source, tag)
            result.wrote = True
        result.tags[tag] = new.digest
    else:
        if changed or repo.manifest(Reference(repo.repository, None, new.digest)) is None:
            repo.put(new, source, None)
            result.wrote = True
        release = tag_for_state(version, "published")
        assert release is not None
        if release in snapshot and snapshot[release].digest != new.digest:
            kept = repo.untag(release, snapshot[release], snapshot)
            if kept:
                result.warnings.append(kept)
            else:
                result.removed.append(release)
                result.wrote = True
    if state in ("published", "deprecated", "archived"):
        _settle_latest(repo, result)
    _verify(repo, result, tag, new, version)
    return result


def _already_past(
    repo: Repo, source: oci.Manifest, state: str, version: str, snapshot: dict[str, oci.Manifest]
) -> oci.Manifest | None:
    """The same content in a state after ``state`` (tagged, or archived by digest), if the version is there."""
    for tag in dict.fromkeys([tag_for_state(version, state), tag_for_state(version, "published")]):
        found = snapshot.get(tag) if tag else None
        if (
            found is not None
            and (found.config, found.layers) == (source.config, source.layers)
            and RANK.get(found.annotations.get(oci.STATUS, ""), -1) > RANK[state]
        ):
            return found
    return repo.manifest(Reference(repo.repository, None, with_status(source, "archived").digest))


def _verify(repo: Repo, result: PromoteResult, tag: str | None, new: oci.Manifest, version: str) -> None:
    snapshot = repo.snapshot(_relevant(version))
    if tag and (tag not in snapshot or snapshot[tag].digest != new.digest):
        raise IntegrityError(f"{repo.location}: after promotion {tag} does not point at {new.digest}")
    if not tag and repo.manifest(Reference(repo.repository, None, new.digest)) is None:
        raise IntegrityError(f"{repo.location}: the archived manifest {new.digest} is not there")
    best = best_published(snapshot)
    latest = snapshot.get(LATEST)
    if best and latest and latest.digest != best[1].digest:
        result.warnings.append(f"latest points at {latest.digest}, not the highest published {best[0]}")
