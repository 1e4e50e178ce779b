"""The catalog as one object: what the HTTP API, the web UI (and an MCP server) ask of it.

``Catalog`` ties the index, the sync, on-demand content and signature checks
together, and runs the periodic sync in a background thread. It knows nothing
about HTTP: a web app is built around it (``skillctl.serve.app.create_app``).
"""

from __future__ import annotations

import collections
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from skillctl.backends.base import RegistryOptions
from skillctl.catalog.content import ContentCache, ContentLimits, FileEntry
from skillctl.catalog.diff import VersionDiff, diff_versions
from skillctl.catalog.index import Index
from skillctl.catalog.query import Query
from skillctl.catalog.records import CollectionRecord, SkillVersion
from skillctl.catalog.signatures import SignatureChecker, SignatureStatus
from skillctl.catalog.sources import RegistrySource, Source, StoreSource
from skillctl.catalog.sync import Syncer, SyncReport
from skillctl.core.errors import NotFoundError, UsageError
from skillctl.core.logs import get_logger
from skillctl.core.refs import is_digest
from skillctl.core.states import RANK

log = get_logger(__name__)

SEARCH_CACHE = 256
"""Search results kept (least recently used dropped): one page each, a few MB at most."""


@dataclass(frozen=True)
class CatalogSettings:
    sources: Sequence[Source]
    db: str = ":memory:"
    cache_dir: Path | None = None  # None: a private temporary directory, removed on close
    opts: RegistryOptions = field(default_factory=RegistryOptions)
    backend: str | None = None  # for signature checks (they pull the signature image)
    verify_keys: Sequence[Path] = ()
    sync_interval: float = 60.0
    recheck_after: float = 900.0
    workers: int = 8
    limits: ContentLimits = field(default_factory=ContentLimits)


@dataclass(frozen=True)
class SkillSummary:
    """A skill for listings: its versions, best first, and the one to show."""

    namespace: str
    name: str
    versions: list[SkillVersion]

    @property
    def current(self) -> SkillVersion:
        return pick_latest(self.versions)


def _semver_key(version: SkillVersion) -> tuple[int, Any]:
    import semver

    try:
        return 1, semver.Version.parse(version.version)
    except (ValueError, TypeError):
        return 0, semver.Version(0)


def ordered(versions: Sequence[SkillVersion]) -> list[SkillVersion]:
    """For people: the newest version first; within one version the furthest state, then ``latest`` last."""
    by_tag = sorted(versions, key=lambda v: (v.tag == "latest", v.registry, v.repository, v.tag))
    return sorted(by_tag, key=lambda v: (_semver_key(v), RANK.get(v.status, -1)), reverse=True)


def pick_latest(versions: Sequence[SkillVersion]) -> SkillVersion:
    """What ``GET /skills/{ns}/{name}`` answers: the ``latest`` tag, else the newest published release,
    else the newest version in the furthest state short of deprecated."""
    if not versions:
        raise NotFoundError("no versions")
    tagged = [v for v in versions if v.tag == "latest" and v.status == "published"]
    if tagged:
        return tagged[0]
    published = [v for v in ordered(versions) if v.status == "published"]
    if published:
        return published[0]
    live = [v for v in ordered(versions) if v.status in ("draft", "testing")]
    return (live or ordered(versions))[0]


class Catalog:
    """The index of skill versions from registries and the store, with what people and programs ask of it."""

    def __init__(self, settings: CatalogSettings) -> None:
        self.settings = settings
        self._own_cache = settings.cache_dir is None
        self.cache_dir = (
            Path(tempfile.mkdtemp(prefix="skillctl-catalog-")) if settings.cache_dir is None else settings.cache_dir
        )
        self.index = Index(settings.db)
        self.syncer = Syncer(
            self.index,
            settings.sources,
            opts=settings.opts,
            workers=settings.workers,
            recheck_after=settings.recheck_after,
        )
        store = next((s for s in settings.sources if isinstance(s, StoreSource)), None)
        self.content = ContentCache(
            self.cache_dir,
            self.index,
            self.syncer.sessions,
            store_path=store.path if store else None,
            limits=settings.limits,
        )
        self.signatures = SignatureChecker(
            self.index, settings.verify_keys, opts=settings.opts, backend=settings.backend
        )
        self.started = time.time()
        self._cache: collections.OrderedDict[tuple[str, Query], tuple[int, Any]] = collections.OrderedDict()
        self._cache_lock = threading.Lock()
        self.cache_hits = self.cache_misses = 0
        self._wake = threading.Event()
        self._full = False
        self._pending = False
        self._trigger_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._drop_unconfigured()

    def _drop_unconfigured(self) -> None:
        """A persistent index may hold registries this run does not read any more."""
        wanted = {s.host for s in self.settings.sources if isinstance(s, RegistrySource)}
        if any(isinstance(s, StoreSource) for s in self.settings.sources):
            wanted.add("")
        for registry in self.index.registries() - wanted:
            self.index.drop_registry(registry)

    # -- sync -----------------------------------------------------------------------------
    def sync(self, *, full: bool = False) -> SyncReport:
        """Sync now, in this thread (waits for a running sync)."""
        return self.syncer.sync(full=full)

    def start(self) -> None:
        """Sync in a background thread: at once, then every ``sync_interval`` seconds or when triggered."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="skillctl-catalog-sync", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            full, self._full = self._full, False
            try:
                report = self.syncer.sync(full=full)
                log.info(
                    "sync: %.2fs, %s",
                    report.seconds,
                    ", ".join(f"{n}: {s.repositories} repositories, {s.read} read" for n, s in report.sources.items())
                    or "nothing synced",
                )
            except Exception:  # the loop must survive anything and keep serving the last index
                log.exception("sync failed")
            finally:
                with self._trigger_lock:
                    self._pending = False
            self._wake.wait(self.settings.sync_interval)

    def trigger(self, *, full: bool = False) -> bool:
        """Ask the background loop for a sync now (``full``: re-check every tag); False when one is running."""
        with self._trigger_lock:
            if self.syncer.running or self._pending:
                return False
            if self._thread is None:
                threading.Thread(
                    target=lambda: self.syncer.try_sync(full=full), name="skillctl-catalog-sync-once", daemon=True
                ).start()
                return True
            self._pending = True  # from now until that sync has finished, as the Go tool counts "in progress"
            self._full = self._full or full
            self._wake.set()
            return True

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.syncer.close()
        self.index.close()
        if self._own_cache:
            shutil.rmtree(self.cache_dir, ignore_errors=True)

    def status(self) -> dict[str, Any]:
        """Ready once a sync has read some source; stale when a source failed or has not synced for three intervals."""
        now = time.time()
        sources = [s.to_json() for s in self.syncer.status.values()]
        limit = 3 * self.settings.sync_interval + 60
        stale = any(
            s["error"] or not s["last_success"] or now - float(s["last_success"]) > limit  # type: ignore[arg-type]
            for s in sources
        )
        return {
            # Something to serve: a sync has finished and some source has been read at least once.
            "ready": self.syncer.completed > 0 and any(s["last_success"] for s in sources),
            "stale": stale,
            "syncing": self.syncer.running,
            "syncs": self.syncer.completed,
            "sources": sources,
            "counts": self.index.counts(),
        }

    # -- reads ----------------------------------------------------------------------------
    def _cached(self, key: tuple[str, Query], compute: Callable[[], Any]) -> Any:
        """Search results, remembered until the index changes (it changes only when a sync writes)."""
        generation = self.index.generation
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] == generation:
                self._cache.move_to_end(key)
                self.cache_hits += 1
                return hit[1]
        value = compute()
        with self._cache_lock:
            self._cache[key] = (generation, value)
            self._cache.move_to_end(key)
            while len(self._cache) > SEARCH_CACHE:
                self._cache.popitem(last=False)
            self.cache_misses += 1
        return value

    def search(self, query: Query) -> tuple[list[SkillVersion], int]:
        return self._cached(("versions", query), lambda: self.index.search(query))  # type: ignore[no-any-return]

    def search_skills(self, query: Query) -> tuple[list[SkillSummary], int]:
        def compute() -> tuple[list[SkillSummary], int]:
            keys, total = self.index.search_skills(query)
            found = self.index.versions_of(keys)
            summaries = [SkillSummary(ns, name, ordered(found[(ns, name)])) for ns, name in keys if found[(ns, name)]]
            return summaries, total

        return self._cached(("skills", query), compute)  # type: ignore[no-any-return]

    def versions(self, namespace: str, name: str) -> list[SkillVersion]:
        """Every tag of a skill in the Go tool's order (``created`` newest first).

        Raises:
            NotFoundError: no such skill.
        """
        versions = self.index.versions(namespace, name)
        if not versions:
            raise NotFoundError(f"skill {namespace}/{name} not found")
        return versions

    def skill(self, namespace: str, name: str) -> SkillVersion:
        return pick_latest(self.versions(namespace, name))

    def resolve(self, namespace: str, name: str, ver: str) -> SkillVersion:
        """One version by tag, digest, or version number (then the furthest state, as people mean it).

        Raises:
            NotFoundError: no such version.
        """
        versions = self.versions(namespace, name)
        if is_digest(ver):
            match = [v for v in versions if v.digest == ver]
        else:
            match = [v for v in versions if v.tag == ver] or [v for v in versions if v.version == ver]
        if not match:
            raise NotFoundError(f"version {ver} of {namespace}/{name} not found")
        return ordered(match)[0]

    def files(self, version: SkillVersion) -> list[FileEntry]:
        return self.content.files(version)

    def open_file(self, version: SkillVersion, path: str) -> tuple[BinaryIO, FileEntry]:
        return self.content.open(version, path)

    def skill_md(self, version: SkillVersion) -> tuple[str, str] | None:
        """``(path, text)`` of the version's SKILL.md (at most 1 MiB of it), None when it has none."""
        path = self.content.prompt_path(version)
        if path is None:
            return None
        text = self.content.read_text(version, path)
        return (path, text) if text is not None else None

    def signature(self, version: SkillVersion) -> SignatureStatus:
        return self.signatures.status(version)

    def diff(self, namespace: str, name: str, old: str, new: str) -> VersionDiff:
        if not old or not new:
            raise UsageError("from and to: both versions are needed for a diff")
        return diff_versions(self.content, self.resolve(namespace, name, old), self.resolve(namespace, name, new))

    def collections(self) -> list[CollectionRecord]:
        return self.index.collections()

    def collection(self, name: str) -> CollectionRecord:
        found = self.index.collection(name)
        if found is None:
            raise NotFoundError(f"collection {name} not found")
        return found

    def facets(self) -> dict[str, list[str]]:
        return self.index.facets()
