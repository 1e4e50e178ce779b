"""Keeping the index in step with the registries and the store, reading as little as possible.

A sync lists each repository's tags (one request per repository) and reads
only what is new: a manifest for each tag the index has not seen, nothing for
the tags it knows. A known tag can move (promotion to deprecated keeps the tag
name and changes the digest), so a tag not checked for ``recheck_after``
seconds gets a ``HEAD`` (its digest, no body) and is read again only when the
digest changed. Layers are never downloaded to index; a collection's YAML
(one small blob) is the only blob read.

Faults stay local: a registry that is down keeps its last index (the status
says stale and the log names it), a repository that fails keeps its rows, and
a hostile manifest (too big, not JSON, wrong digest) is recorded as skipped
with its reason and never stops the others.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Final

from skillctl.backends.base import RegistryOptions
from skillctl.catalog.index import Index, KnownTag, RepositoryUpdate
from skillctl.catalog.records import CollectionRecord, is_collection, skill_from_manifest
from skillctl.catalog.sources import STORE, RegistrySource, Source, StoreSource
from skillctl.consume.collection import parse_collection
from skillctl.core import oci
from skillctl.core.errors import IntegrityError, NotFoundError, SkillctlError
from skillctl.core.logs import get_logger
from skillctl.core.refs import is_attachment_tag, is_digest, parse_reference
from skillctl.registry.client import RegistrySession
from skillctl.store.layout import Store
from skillctl.trust import bundle as bundles

log = get_logger(__name__)

MAX_COLLECTION_YAML: Final = 1024 * 1024


@dataclass
class SourceStatus:
    """How the last sync of one source went (what ``/readyz`` and the UI show)."""

    name: str
    description: str
    last_attempt: float | None = None
    last_success: float | None = None
    error: str | None = None
    repositories: int = 0
    failed_repositories: int = 0
    skipped: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, object]:
        return dataclasses.asdict(self)


@dataclass
class SyncStats:
    """Counts of one sync pass over one source."""

    repositories: int = 0
    failed: int = 0
    read: int = 0
    rechecked: int = 0
    removed: int = 0
    skipped: list[str] = field(default_factory=list)

    def add(self, other: SyncStats) -> None:
        self.repositories += other.repositories
        self.failed += other.failed
        self.read += other.read
        self.rechecked += other.rechecked
        self.removed += other.removed
        self.skipped.extend(other.skipped)


@dataclass
class SyncReport:
    seconds: float
    sources: dict[str, SyncStats]
    errors: dict[str, str]

    @property
    def ok(self) -> bool:
        return not self.errors


class Syncer:
    """Runs syncs of a fixed set of sources into an index; one at a time."""

    def __init__(
        self,
        index: Index,
        sources: Sequence[Source],
        *,
        opts: RegistryOptions | None = None,
        workers: int = 8,
        recheck_after: float = 900.0,
    ) -> None:
        self.index = index
        self.sources = list(sources)
        self.opts = opts or RegistryOptions()
        self.workers = max(1, workers)
        self.recheck_after = recheck_after
        self.sessions = {
            s.host: RegistrySession(s.host, self.opts) for s in self.sources if isinstance(s, RegistrySource)
        }
        self.status = {s.name: SourceStatus(s.name, s.describe()) for s in self.sources}
        self.completed = 0  # finished sync passes
        self.last_report: SyncReport | None = None
        self._running = threading.Lock()

    @property
    def running(self) -> bool:
        return self._running.locked()

    def close(self) -> None:
        for session in self.sessions.values():
            session.close()

    def registry_requests(self) -> dict[str, dict[str, int]]:
        """HTTP requests made to each registry so far, by kind."""
        return {host: session.requests for host, session in self.sessions.items()}

    def sync(self, *, full: bool = False) -> SyncReport:
        """One pass over every source (waits for a running one to finish first).

        ``full`` re-checks every known tag now, whatever ``recheck_after`` says.
        """
        with self._running:
            return self._sync(full=full)

    def try_sync(self, *, full: bool = False) -> SyncReport | None:
        """Sync unless one is already running (then None at once)."""
        if not self._running.acquire(blocking=False):
            return None
        try:
            return self._sync(full=full)
        finally:
            self._running.release()

    def _sync(self, *, full: bool) -> SyncReport:
        start = time.monotonic()
        stats: dict[str, SyncStats] = {}
        errors: dict[str, str] = {}
        for source in self.sources:
            status = self.status[source.name]
            status.last_attempt = time.time()
            began = time.monotonic()
            try:
                if isinstance(source, RegistrySource):
                    result = self._sync_registry(source, full=full)
                else:
                    result = self._sync_store(source)
            except (SkillctlError, OSError) as exc:
                message = str(exc)
                log.warning("sync: %s: %s; serving its last index", source.describe(), message)
                status.error = message
                errors[source.name] = message
                continue
            finally:
                status.seconds = round(time.monotonic() - began, 3)
            stats[source.name] = result
            status.repositories = result.repositories
            status.failed_repositories = result.failed
            status.skipped = len(result.skipped)
            if result.failed:
                status.error = f"{result.failed} of {result.repositories} repositories could not be read"
                errors[source.name] = status.error
            else:
                status.error = None
                status.last_success = time.time()
        report = SyncReport(round(time.monotonic() - start, 3), stats, errors)
        self.last_report = report
        self.completed += 1
        return report

    # -- registries ------------------------------------------------------------------
    def _sync_registry(self, source: RegistrySource, *, full: bool) -> SyncStats:
        session = self.sessions[source.host]
        repos = list(source.repositories) if source.repositories else session.catalog(source.namespace)
        wanted = set(repos)
        for gone in sorted(self.index.repositories(source.host) - wanted):
            log.info("sync: %s/%s is no longer listed; dropping it", source.host, gone)
            self.index.drop_repository(source.host, gone)
        total = SyncStats(repositories=len(repos))
        with ThreadPoolExecutor(max_workers=min(self.workers, max(1, len(repos)))) as pool:
            for result in pool.map(lambda repo: self._sync_repository(session, repo, full=full), repos):
                total.add(result)
        return total

    def _sync_repository(self, session: RegistrySession, repo: str, *, full: bool) -> SyncStats:
        host = session.registry
        stats = SyncStats()
        try:
            tags = session.tags(repo)
        except NotFoundError:
            self.index.drop_repository(host, repo)
            return stats
        except (SkillctlError, OSError) as exc:
            log.warning("sync: %s/%s: %s; keeping what was indexed", host, repo, exc)
            stats.failed = 1
            return stats
        try:
            return self._update_repository(session, repo, tags, full=full)
        except (SkillctlError, OSError) as exc:
            log.warning("sync: %s/%s: %s; keeping what was indexed", host, repo, exc)
            stats.failed = 1
            return stats

    def _update_repository(self, session: RegistrySession, repo: str, tags: list[str], *, full: bool) -> SyncStats:
        host = session.registry
        stats = SyncStats()
        signature_tags = {t for t in tags if is_attachment_tag(t)}
        signed = _Signatures(session, repo, signature_tags)
        version_tags = sorted(t for t in tags if t not in signature_tags)
        known = self.index.known_tags(host, repo)
        remembered = self.index.remembered_tags(host, repo)
        tags_changed = remembered != sorted(tags)
        update = RepositoryUpdate(host, repo, tags=list(tags) if tags_changed else None)
        now = time.time()
        due = [t for t in version_tags if t in known and (full or now - known[t].checked_at >= self.recheck_after)]
        # Signatures can arrive without the tag list changing (a bundle added to an existing referrers index):
        # they are looked at again whenever the repository's tags are.
        if tags_changed or due:
            update.signed_digests = signed.all()
        update.removed = sorted(set(known) - set(version_tags))
        stats.removed = len(update.removed)
        for tag in version_tags:
            seen = known.get(tag)
            if seen is None:
                self._read_tag(session, repo, tag, update, signed, stats)
            elif tag in due:
                self._recheck_tag(session, repo, tag, seen, update, signed, stats)
        if signed.failed:  # a referrers index could not be read: keep the old flags, and try again next pass
            update.signed_digests = None
            update.tags = None
        self.index.apply(update)
        return stats

    def _recheck_tag(
        self,
        session: RegistrySession,
        repo: str,
        tag: str,
        seen: KnownTag,
        update: RepositoryUpdate,
        signed: _Signatures,
        stats: SyncStats,
    ) -> None:
        stats.rechecked += 1
        try:
            digest = session.head(repo, tag)
        except NotFoundError:
            update.removed.append(tag)
            stats.removed += 1
            return
        if digest == seen.digest and seen.digest:
            update.checked.append(tag)
            return
        self._read_tag(session, repo, tag, update, signed, stats)

    def _read_tag(
        self,
        session: RegistrySession,
        repo: str,
        tag: str,
        update: RepositoryUpdate,
        signed: _Signatures,
        stats: SyncStats,
    ) -> None:
        host = session.registry
        where = f"{host}/{repo}:{tag}"
        try:
            digest, raw = session.manifest(repo, tag)
        except NotFoundError:
            return  # deleted between the listing and the read
        except IntegrityError as exc:  # the content itself is refused (too big, wrong digest); a fault raises
            log.warning("sync: skipping %s", exc)  # the message names the reference
            update.others.append((tag, "", f"refused: {exc}"))
            stats.skipped.append(str(exc))
            return
        stats.read += 1
        reason = self._classify(session, repo, tag, digest, raw, update, signed)
        if reason:
            update.others.append((tag, digest, reason))
            if reason.startswith("refused"):
                log.warning("sync: skipping %s: %s", where, reason)
                stats.skipped.append(f"{where}: {reason}")

    def _classify(
        self,
        session: RegistrySession,
        repo: str,
        tag: str,
        digest: str,
        raw: bytes,
        update: RepositoryUpdate,
        signed: _Signatures,
    ) -> str | None:
        """Put the manifest where it belongs in ``update``; a reason when it is not indexed."""
        host = session.registry
        if is_collection(raw):
            try:
                update.collections.append(self._collection(session, repo, tag, digest, raw))
                return None
            except (SkillctlError, OSError, ValueError) as exc:
                return f"refused: collection: {exc}"
        if not oci.is_image_manifest(raw):
            return "not an image manifest (an index or another artifact)"
        try:
            manifest = oci.Manifest.parse(raw, digest=digest, source=f"{host}/{repo}:{tag}")
        except SkillctlError as exc:
            return f"refused: {exc}"
        skill = skill_from_manifest(host, repo, tag, manifest)
        if skill is None:
            return "not a skill image (no io.skillimage.status annotation)"
        update.skills.append(dataclasses.replace(skill, signed=digest in signed))
        return None

    def _collection(self, session: RegistrySession, repo: str, tag: str, digest: str, raw: bytes) -> CollectionRecord:

        data = json.loads(raw)
        layer = (data.get("layers") or [{}])[0]
        layer_digest = str(layer.get("digest", ""))
        if int(layer.get("size") or 0) > MAX_COLLECTION_YAML:
            raise ValueError(f"its YAML is {layer.get('size')} bytes, more than {MAX_COLLECTION_YAML}")
        chunks: list[bytes] = []
        session.blob(repo, layer_digest, chunks.append, max_size=MAX_COLLECTION_YAML)
        body = b"".join(chunks)
        if oci.sha256_digest(body) != layer_digest:
            raise ValueError(f"layer {layer_digest} does not match its digest")
        collection = parse_collection(body, source=f"{session.registry}/{repo}:{tag}")
        skills = [
            {"name": s.name, "source": s.source} if s.source else {"name": s.name, "image": s.image}
            for s in collection.skills
        ]
        annotations = data.get("annotations") or {}
        return CollectionRecord(
            registry=session.registry,
            repository=repo,
            tag=tag,
            digest=digest,
            name=collection.name,
            version=collection.version,
            description=collection.description,
            skills_json=json.dumps(skills, separators=(",", ":")),
            created=str(annotations.get(oci.CREATED, "")),
        )

    # -- the local store -----------------------------------------------------------------
    def _sync_store(self, source: StoreSource) -> SyncStats:
        store = Store(source.path)
        by_repo: dict[str, dict[str, str]] = {}
        for entry in store.entries():
            name = entry.ref_name
            if not name:
                continue
            try:
                ref = parse_reference(name)
            except SkillctlError:
                continue
            by_repo.setdefault(ref.repository, {})[ref.tag_or_default] = entry.digest
        for gone in sorted(self.index.repositories("") - set(by_repo)):
            self.index.drop_repository("", gone)
        stats = SyncStats(repositories=len(by_repo))
        for repo, tags in sorted(by_repo.items()):
            known = self.index.known_tags("", repo)
            update = RepositoryUpdate("", repo)
            update.removed = sorted(set(known) - set(tags))
            stats.removed += len(update.removed)
            for tag, digest in sorted(tags.items()):
                if tag in known and known[tag].digest == digest:
                    continue
                stats.read += 1
                try:
                    manifest = store.manifest(digest)
                except SkillctlError as exc:
                    update.others.append((tag, digest, f"refused: {exc}"))
                    stats.skipped.append(f"{STORE} {repo}:{tag}: {exc}")
                    continue
                skill = skill_from_manifest("", repo, tag, manifest)
                if skill is None:
                    update.others.append((tag, digest, "not a skill image"))
                else:
                    update.skills.append(skill)
            self.index.apply(update)
        return stats


MAX_SIGNATURE_REFERRERS: Final = 16
"""Bundle referrers of one image looked at to tell whether one is a signature."""


class _Signatures:
    """Which digests of one repository carry a signature: a cosign ``.sig`` tag, or a Sigstore bundle in the OCI
    referrers fallback tag ``sha256-<hex>`` (cosign v3's default where the registry has no referrers API). A
    fallback index is read only when its digest is asked about, once per pass: an unchanged repository costs
    nothing. Not verified here (that needs keys: ``catalog.signatures``)."""

    def __init__(self, session: RegistrySession, repo: str, attachment_tags: set[str]) -> None:
        self.session = session
        self.repo = repo
        self.legacy = {"sha256:" + t[7:71] for t in attachment_tags if t.endswith(".sig")}
        self.fallback = {"sha256:" + t[7:]: t for t in attachment_tags if len(t) == len("sha256-") + 64}
        self._bundles: dict[str, bool] = {}
        self.failed = False  # a referrers index (or an entry of it) could not be read

    def __contains__(self, digest: object) -> bool:
        if digest in self.legacy:
            return True
        if not isinstance(digest, str) or digest not in self.fallback:
            return False
        if digest not in self._bundles:
            self._bundles[digest] = self._lists_signature(self.fallback[digest])
        return self._bundles[digest]

    def all(self) -> set[str]:
        return self.legacy | {d for d in self.fallback if d in self}

    def _lists_signature(self, tag: str) -> bool:
        where = f"{self.session.registry}/{self.repo}:{tag}"
        try:
            _, raw = self.session.manifest(self.repo, tag)
            index = json.loads(raw)
        except (SkillctlError, OSError, ValueError) as exc:
            log.warning("sync: %s: cannot read the referrers index (%s); its signatures are not shown", where, exc)
            self.failed = True
            return False
        descriptors = index.get("manifests") if isinstance(index, dict) else None
        if not isinstance(descriptors, list):
            log.warning("sync: %s: not a referrers index; its signatures are not shown", where)
            return False
        candidates = [
            d for d in descriptors
            if isinstance(d, dict) and d.get("artifactType") == bundles.BUNDLE_V03
            and isinstance(d.get("digest"), str) and is_digest(d["digest"])
        ]  # fmt: skip
        for desc in candidates[:MAX_SIGNATURE_REFERRERS]:
            annotations = desc.get("annotations") or {}
            if isinstance(annotations, dict) and bundles.PREDICATE_ANNOTATION not in annotations:
                # cosign names its attestations only in their own manifest
                try:
                    _, manifest = self.session.manifest(self.repo, desc["digest"])
                    annotations = json.loads(manifest)
                    annotations = annotations.get("annotations") if isinstance(annotations, dict) else None
                except (SkillctlError, OSError, ValueError) as exc:
                    log.warning("sync: %s: cannot read referrer %s (%s)", where, desc["digest"], exc)
                    self.failed = True
                    continue
            if isinstance(annotations, dict) and not bundles.names_attestation(annotations):
                return True
        return False
