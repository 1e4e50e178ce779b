"""The Skills extension's logic, without the protocol library: listings pinned to digests, pages, ``skills/get`` and
reads of ``skill://`` resources from verified bytes.

A listing is a snapshot: the version chosen per skill (``entries.select``), each verified (its layers downloaded
and checked, unpacked by the hardened unpack, its files hashed into ``VerifiedFiles``) before it is listed, so a
tampered image is never listed. A snapshot is rebuilt only when a new listing starts and the versions chosen have
changed; the pages of one listing come from its snapshot whatever happens meanwhile. Each connected host holds the
entries it last listed or got, and its reads are served from them: a registry that goes down mid-session leaves what
was listed readable, and a skill changed since is served as listed until the host asks again.
"""

from __future__ import annotations

import base64
import binascii
import collections
import concurrent.futures
import mimetypes
import secrets
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from skillctl.card.skillmd import json_value, parse_skill_document
from skillctl.catalog.records import SkillVersion
from skillctl.catalog.selection import select
from skillctl.core.errors import IntegrityError, SkillctlError, UnsafeContentError
from skillctl.core.logs import get_logger
from skillctl.mcp.entries import (
    DEFAULT_STATES,
    PROMPT,
    FileRef,
    SkillEntry,
    check_limits,
    resolve_links,
    skill_path,
    split_uri,
)
from skillctl.mcp.sources import SkillSource
from skillctl.mcp.verified import VerifiedFiles

log = get_logger(__name__)

INVALID_PARAMS: Final = -32602
PAGE_SIZE: Final = 100
SNAPSHOTS_KEPT: Final = 16


class InvalidParams(SkillctlError):
    """What the protocol answers with JSON-RPC error -32602: an unknown skill, an unlisted file, a stale cursor."""

    code = INVALID_PARAMS


@dataclass(frozen=True)
class Snapshot:
    id: str
    entries: tuple[SkillEntry[SkillSource], ...]
    key: tuple[tuple[str, str], ...]  # (skill, digest) pairs chosen: equal keys, equal listing
    created: float = field(default_factory=time.time)

    def by_path(self) -> dict[str, SkillEntry[SkillSource]]:
        return {e.skill_path: e for e in self.entries}


@dataclass(frozen=True)
class Read:
    uri: str
    data: bytes
    mime_type: str
    text: str | None  # the bytes as text when they are UTF-8 text, else None (sent as base64)


class SkillsService:
    """Skills from one or more sources, as SEP-2640 serves them."""

    def __init__(
        self,
        sources: Sequence[SkillSource],
        *,
        states: frozenset[str] = DEFAULT_STATES,
        verified: VerifiedFiles | None = None,
        page_size: int = PAGE_SIZE,
        ttl_ms: int = 60_000,
        cache_scope: str = "private",
        workers: int = 8,
    ) -> None:
        self.sources = list(sources)
        self.states = states
        self.verified = verified or VerifiedFiles()
        self.page_size = page_size
        self.ttl_ms = ttl_ms
        self.cache_scope = cache_scope
        self.workers = workers
        self._lock = threading.RLock()
        self._build_lock = threading.Lock()
        self._prepared = False
        self._snapshots: collections.OrderedDict[str, Snapshot] = collections.OrderedDict()
        self._current: Snapshot | None = None
        self._entries: dict[tuple[int, str], SkillEntry[SkillSource]] = {}  # (source, digest) -> verified entry
        self._refused: dict[str, str] = {}  # digest -> why it is never listed
        self._held: weakref.WeakKeyDictionary[Any, dict[str, SkillEntry[SkillSource]]] = weakref.WeakKeyDictionary()
        self._held_plain: dict[Any, dict[str, SkillEntry[SkillSource]]] = {}

    # -- verification ------------------------------------------------------------------------
    def refused(self) -> dict[str, str]:
        """Digests refused for good (verification failed, over a limit, not servable), with the reason."""
        with self._lock:
            return dict(self._refused)

    def _entry(self, source: SkillSource, version: SkillVersion) -> SkillEntry[SkillSource] | None:
        key = (id(source), version.digest)
        with self._lock:
            if key in self._entries:
                return self._entries[key]
            if version.digest in self._refused:
                return None
        try:
            entry = self._verify(source, version)
        except (UnsafeContentError, IntegrityError, ValueError) as exc:
            reason = getattr(exc, "message", None) or str(exc)
            log.warning("%s: not served: %s", version.pinned, reason)
            with self._lock:
                self._refused[version.digest] = reason
            return None
        except SkillctlError as exc:  # the registry is down or refuses us: try again at the next listing
            log.warning("%s: not served now: %s", version.pinned, exc)
            return None
        with self._lock:
            self._entries[key] = entry
        return entry

    def _verify(self, source: SkillSource, version: SkillVersion) -> SkillEntry[SkillSource]:
        for attempt in range(2):  # the unpacked tree may be evicted while it is copied: unpack again once
            tree, listing = source.tree(version)
            try:
                return self._ingest(source, version, tree, listing)
            except FileNotFoundError:
                if attempt:
                    raise IntegrityError(f"{version.pinned}: its unpacked files went away while being read") from None
        raise AssertionError("unreachable")

    def _ingest(self, source: SkillSource, version: SkillVersion, tree: Any, listing: list[Any]) -> SkillEntry[Any]:
        by_path = {e.path: e for e in listing}
        files: list[FileRef] = []
        copies: list[tuple[Any, FileRef]] = []
        for item in listing:
            if item.type == "dir":
                continue
            real = item.path if item.type == "file" else resolve_links(by_path, item.path)
            target = by_path.get(real) if real else None
            if target is None or target.type != "file" or not target.sha256:
                log.info("%s: %s is a link to no file in the skill; not listed", version.pinned, item.path)
                continue
            ref = FileRef(item.path, "sha256:" + target.sha256, target.size)
            files.append(ref)
            copies.append((tree / real, ref))
        if PROMPT not in {f.path for f in files}:
            raise ValueError(f"no {PROMPT} at the root of the image")
        check_limits(files)
        for path, ref in copies:
            self.verified.add(path, ref.digest, ref.size)
        prompt = next(f for f in files if f.path == PROMPT)
        text = self.verified.read(prompt.digest, prompt.size).decode("utf-8", errors="strict")
        doc = parse_skill_document(text, file=PROMPT)
        if doc.frontmatter is None:
            raise ValueError(
                f"its {PROMPT} has no frontmatter" + (f" ({doc.findings[0].message})" if doc.findings else "")
            )
        frontmatter = json_value(doc.frontmatter)
        if not isinstance(frontmatter.get("description"), str) or not frontmatter["description"].strip():
            raise ValueError(f"its {PROMPT} frontmatter has no description")
        return SkillEntry(skill_path(version, frontmatter), frontmatter, tuple(files), version, source)

    # -- snapshots ----------------------------------------------------------------------------
    def _prepare(self) -> None:
        if self._prepared:
            return
        for source in self.sources:
            try:
                source.prepare()
            except SkillctlError as exc:
                log.warning("%s: %s", source.name, exc)
        self._prepared = True

    def snapshot(self, *, fresh: bool = True) -> Snapshot:
        """The current listing; with ``fresh``, rebuilt first when the versions to serve have changed."""
        with self._build_lock:
            if self._current is not None and not fresh:
                return self._current
            self._prepare()
            chosen: list[tuple[SkillSource, SkillVersion]] = []
            for source in self.sources:
                try:
                    candidates = source.candidates()
                except SkillctlError as exc:
                    log.warning("%s: %s", source.name, exc)
                    continue
                chosen.extend((source, v) for v in select(candidates, self.states))
            key = tuple(sorted((f"{v.namespace}/{v.name}", v.digest) for _, v in chosen))
            current = self._current
            if current is not None and current.key == key and not self._retry_pending(chosen):
                return current
            with concurrent.futures.ThreadPoolExecutor(max_workers=self.workers) as pool:
                results = list(pool.map(lambda pair: self._entry(*pair), chosen))
            entries: dict[str, SkillEntry[SkillSource]] = {}
            for entry in results:
                if entry is None:
                    continue
                held = entries.get(entry.skill_path)
                if held is not None:
                    log.warning(
                        "%s and %s both serve skill://%s; only the first is listed",
                        held.version.pinned,
                        entry.version.pinned,
                        entry.skill_path,
                    )
                    continue
                entries[entry.skill_path] = entry
            snap = Snapshot(secrets.token_hex(8), tuple(entries[k] for k in sorted(entries)), key)
            with self._lock:
                self._current = snap
                self._snapshots[snap.id] = snap
                while len(self._snapshots) > SNAPSHOTS_KEPT:
                    self._snapshots.popitem(last=False)
            self._collect()
            return snap

    def _retry_pending(self, chosen: list[tuple[SkillSource, SkillVersion]]) -> bool:
        """A chosen version neither verified nor refused (its registry was down): try it again."""
        with self._lock:
            return any((id(s), v.digest) not in self._entries and v.digest not in self._refused for s, v in chosen)

    def _collect(self) -> None:
        """Forget verified entries and files that no kept listing and no host's held entries name."""
        with self._lock:
            live = {id(e): e for snap in self._snapshots.values() for e in snap.entries}
            for held in self._held_maps():
                live.update((id(e), e) for e in held.values())
            self._entries = {k: e for k, e in self._entries.items() if id(e) in live}
            digests = {f.digest for e in live.values() for f in e.files}
        self.verified.keep_only(digests)

    def _held_maps(self) -> list[dict[str, SkillEntry[SkillSource]]]:
        return list(self._held.values()) + list(self._held_plain.values())

    def _holding(self, holder: Any) -> dict[str, SkillEntry[SkillSource]] | None:
        if holder is None:
            return None
        with self._lock:
            try:
                return self._held.setdefault(holder, {})
            except TypeError:  # not weakly referable: kept until close
                return self._held_plain.setdefault(holder, {})

    # -- the protocol's three reads -------------------------------------------------------------
    def list(self, cursor: str | None = None, *, holder: Any = None) -> dict[str, Any]:
        """One page of ``skills/list``. A listing starts without a cursor; its pages all come from one snapshot.

        Raises:
            InvalidParams: a cursor this server did not give, or whose listing has expired.
        """
        if cursor:
            snap, offset = self._page(cursor)
        else:
            snap, offset = self.snapshot(fresh=True), 0
            held = self._holding(holder)
            if held is not None:
                with self._lock:
                    held.clear()
                    held.update(snap.by_path())
        page = snap.entries[offset : offset + self.page_size]
        result: dict[str, Any] = {
            "skills": [e.to_json() for e in page],
            "ttlMs": self.ttl_ms,
            "cacheScope": self.cache_scope,
        }
        if offset + self.page_size < len(snap.entries):
            result["nextCursor"] = _cursor(snap.id, offset + self.page_size)
        return result

    def _page(self, cursor: str) -> tuple[Snapshot, int]:
        try:
            raw = base64.urlsafe_b64decode(cursor.encode("ascii") + b"==").decode("ascii")
            snap_id, _, offset_text = raw.partition(":")
            offset = int(offset_text)
        except (ValueError, UnicodeError, binascii.Error):
            raise InvalidParams(f"cursor {cursor[:40]!r} was not given by this server") from None
        with self._lock:
            snap = self._snapshots.get(snap_id)
        if snap is None or offset < 0 or offset > len(snap.entries):
            raise InvalidParams("this listing has expired; start it again without a cursor")
        return snap, offset

    def get(self, uri: str, *, holder: Any = None) -> dict[str, Any]:
        """``skills/get``: the current entry of the skill whose SKILL.md ``uri`` names (the host now holds it).

        Raises:
            InvalidParams: no skill is served there.
        """
        parts = split_uri(uri)
        if parts is None or parts[-1] != PROMPT:
            raise InvalidParams(f"{uri[:200]}: not the skill:// URI of a SKILL.md")
        entry = self.snapshot(fresh=True).by_path().get("/".join(parts[:-1]))
        if entry is None:
            raise InvalidParams(f"No skill is served at {uri[:200]}")
        held = self._holding(holder)
        if held is not None:
            with self._lock:
                held[entry.skill_path] = entry
        return {"skill": entry.to_json(), "ttlMs": self.ttl_ms, "cacheScope": self.cache_scope}

    def read(self, uri: str, *, holder: Any = None) -> Read:
        """``resources/read`` of a skill file: the bytes the host's entry lists, verified again as they are read.

        Raises:
            InvalidParams: not a file of a served skill (unknown skill, unlisted path).
        """
        parts = split_uri(uri)
        if parts is None:
            raise InvalidParams(f"Resource not found: {uri[:200]}")
        held = self._holding(holder)
        entry = None
        if held:
            entry = _owner(held, parts)
        if entry is None:
            entry = _owner(self.snapshot(fresh=False).by_path(), parts)
            if entry is not None and held is not None:
                with self._lock:
                    held[entry.skill_path] = entry
        if entry is None:
            raise InvalidParams(f"Resource not found: {uri[:200]} (no skill is served there)")
        path = "/".join(parts[len(entry.skill_path.split("/")) :])
        ref = entry.file(path)
        if ref is None:
            raise InvalidParams(f"Resource not found: {uri[:200]} is not a file of skill://{entry.skill_path}")
        data = self.verified.read(ref.digest, ref.size)
        mime = (
            "text/markdown" if path.endswith(".md") else (mimetypes.guess_type(path)[0] or "application/octet-stream")
        )
        text = None
        if b"\0" not in data:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        if text is None and mime.startswith("text/"):
            mime = "application/octet-stream"
        return Read(uri, data, mime, text)

    def resources(self, cursor: str | None = None) -> dict[str, Any]:
        """``resources/list``: each served skill's SKILL.md (a host reads the rest through the skill's entry)."""
        snap, offset = self._page(cursor) if cursor else (self.snapshot(fresh=True), 0)
        page = snap.entries[offset : offset + self.page_size]
        result: dict[str, Any] = {
            "resources": [
                {
                    "uri": e.uri,
                    "name": e.frontmatter.get("name", ""),
                    "description": e.frontmatter.get("description", ""),
                    "mimeType": "text/markdown",
                    "size": e.file(PROMPT).size,  # type: ignore[union-attr]
                }
                for e in page
            ],
            "ttlMs": self.ttl_ms,
            "cacheScope": self.cache_scope,
        }
        if offset + self.page_size < len(snap.entries):
            result["nextCursor"] = _cursor(snap.id, offset + self.page_size)
        return result

    def close(self) -> None:
        for source in self.sources:
            try:
                source.close()
            except Exception:  # closing must finish for every source
                log.exception("closing %s", source.name)
        self.verified.close()


def _cursor(snap_id: str, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{snap_id}:{offset}".encode()).decode("ascii").rstrip("=")


def _owner(entries: dict[str, SkillEntry[SkillSource]], parts: list[str]) -> SkillEntry[SkillSource] | None:
    """The served skill a file URI lies in: the longest skill path that is a prefix of it."""
    for i in range(len(parts) - 1, 0, -1):
        entry = entries.get("/".join(parts[:i]))
        if entry is not None:
            return entry
    return None
