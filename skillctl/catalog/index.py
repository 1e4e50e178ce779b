"""The catalog's index: SQLite (Python's ``sqlite3``) with an FTS5 trigram index for search.

The index is a cache: the registries are the source of truth, and every row can
be rebuilt from manifests. A file (WAL: readers never wait for the sync) or
``:memory:`` (one connection behind a lock). Search matches substrings of the
name, title and description, case-insensitively, as the Go tool's ``LIKE``
does, but through the trigram index instead of a table scan.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from skillctl.catalog.listing import Listing
from skillctl.catalog.query import Query
from skillctl.catalog.records import GO_COLLECTION_FIELDS, GO_SKILL_FIELDS, CollectionRecord, SkillVersion, parse_tags

SCHEMA_VERSION: Final = 5
_VERSION_COLUMNS: Final = ("registry", *GO_SKILL_FIELDS, "signed", "size", "manifest")
_COLLECTION_COLUMNS: Final = ("registry", *GO_COLLECTION_FIELDS)

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS versions (
    id            INTEGER PRIMARY KEY,
    registry      TEXT NOT NULL,
    repository    TEXT NOT NULL,
    tag           TEXT NOT NULL,
    digest        TEXT NOT NULL,
    name          TEXT NOT NULL,
    namespace     TEXT NOT NULL,
    version       TEXT NOT NULL,
    status        TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    description   TEXT NOT NULL,
    authors       TEXT NOT NULL,
    license       TEXT NOT NULL,
    tags_json     TEXT NOT NULL,
    tags_list     TEXT NOT NULL,
    compatibility TEXT NOT NULL,
    word_count    INTEGER NOT NULL,
    created       TEXT NOT NULL,
    synced_at     TEXT NOT NULL,
    signed        INTEGER NOT NULL,
    size          INTEGER NOT NULL,
    manifest      BLOB NOT NULL,
    checked_at    REAL NOT NULL,
    UNIQUE (registry, repository, tag)
);
CREATE INDEX IF NOT EXISTS versions_skill ON versions (namespace, name, created DESC, registry, repository, tag);
CREATE INDEX IF NOT EXISTS versions_status
    ON versions (status, namespace, name, created DESC, registry, repository, tag);
CREATE INDEX IF NOT EXISTS versions_digest ON versions (digest);
-- Skill tags, one row each, for exact filtering through an index.
CREATE TABLE IF NOT EXISTS version_tags (
    version_id INTEGER NOT NULL,
    tag        TEXT NOT NULL,
    PRIMARY KEY (tag, version_id)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS versions_tags_ai AFTER INSERT ON versions BEGIN
    INSERT OR IGNORE INTO version_tags (version_id, tag) SELECT new.id, value FROM json_each(new.tags_list);
END;
CREATE TRIGGER IF NOT EXISTS versions_tags_ad AFTER DELETE ON versions BEGIN
    DELETE FROM version_tags WHERE version_id = old.id;
END;
CREATE TRIGGER IF NOT EXISTS versions_tags_au AFTER UPDATE OF tags_list ON versions BEGIN
    DELETE FROM version_tags WHERE version_id = old.id;
    INSERT OR IGNORE INTO version_tags (version_id, tag) SELECT new.id, value FROM json_each(new.tags_list);
END;
CREATE VIRTUAL TABLE IF NOT EXISTS versions_fts USING fts5(
    name, display_name, description, content='versions', content_rowid='id', tokenize='trigram'
);
CREATE TRIGGER IF NOT EXISTS versions_ai AFTER INSERT ON versions BEGIN
    INSERT INTO versions_fts (rowid, name, display_name, description)
    VALUES (new.id, new.name, new.display_name, new.description);
END;
CREATE TRIGGER IF NOT EXISTS versions_ad AFTER DELETE ON versions BEGIN
    INSERT INTO versions_fts (versions_fts, rowid, name, display_name, description)
    VALUES ('delete', old.id, old.name, old.display_name, old.description);
END;
CREATE TRIGGER IF NOT EXISTS versions_au AFTER UPDATE ON versions BEGIN
    INSERT INTO versions_fts (versions_fts, rowid, name, display_name, description)
    VALUES ('delete', old.id, old.name, old.display_name, old.description);
    INSERT INTO versions_fts (rowid, name, display_name, description)
    VALUES (new.id, new.name, new.display_name, new.description);
END;
CREATE TABLE IF NOT EXISTS collections (
    id          INTEGER PRIMARY KEY,
    registry    TEXT NOT NULL,
    repository  TEXT NOT NULL,
    tag         TEXT NOT NULL,
    digest      TEXT NOT NULL,
    name        TEXT NOT NULL,
    version     TEXT NOT NULL,
    description TEXT NOT NULL,
    skills_json TEXT NOT NULL,
    created     TEXT NOT NULL,
    synced_at   TEXT NOT NULL,
    checked_at  REAL NOT NULL,
    UNIQUE (registry, repository, tag)
);
CREATE INDEX IF NOT EXISTS collections_name ON collections (name);
-- Tags that hold no skill (other images, signatures' targets, refused manifests), so they are not read again.
CREATE TABLE IF NOT EXISTS others (
    registry   TEXT NOT NULL,
    repository TEXT NOT NULL,
    tag        TEXT NOT NULL,
    digest     TEXT NOT NULL,
    reason     TEXT NOT NULL,
    checked_at REAL NOT NULL,
    PRIMARY KEY (registry, repository, tag)
);
CREATE TABLE IF NOT EXISTS repositories (
    registry   TEXT NOT NULL,
    repository TEXT NOT NULL,
    tags       TEXT NOT NULL,
    PRIMARY KEY (registry, repository)
);
-- Results computed on demand and keyed by content (file listings by digest, signature checks).
CREATE TABLE IF NOT EXISTS memo (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    at    REAL NOT NULL
);
"""

# SkillVersion.to_json(), in SQL: Go's fields in Go's order, then ours.
_SKILL_JSON: Final = (
    "json_object("
    + ", ".join(f"'{name}', v.{name}" for name in (*GO_SKILL_FIELDS, "registry"))
    + ", 'ref', CASE v.registry WHEN '' THEN '' ELSE v.registry || '/' END || v.repository || ':' || v.tag"
    + ", 'signed', json(CASE WHEN v.signed THEN 'true' ELSE 'false' END), 'size', v.size)"
)

QUICK_SECONDS: Final = 0.004
"""How long a text search may run on the server's event loop before it is handed to a thread."""


class _Busy(Exception):
    """The index cannot answer at once (a writer holds it, or the search would take longer)."""


_LIST_ORDER: Final = "v.namespace, v.name, v.created DESC, v.registry, v.repository, v.tag"

# bm25() works only in a query on the FTS table itself: rank there, once, before joining or grouping.
_RANKED: Final = (
    "WITH r AS MATERIALIZED (SELECT rowid, bm25(versions_fts) AS rank FROM versions_fts WHERE versions_fts MATCH ?)"
)


@dataclass(frozen=True)
class KnownTag:
    digest: str
    checked_at: float
    kind: str  # "skill", "collection" or "other"


@dataclass
class RepositoryUpdate:
    """What one sync pass learnt about one repository; applied in one transaction."""

    registry: str
    repository: str
    tags: list[str] | None = None  # the full tag list, to remember (None: leave as it was)
    skills: list[SkillVersion] = field(default_factory=list)
    collections: list[CollectionRecord] = field(default_factory=list)
    others: list[tuple[str, str, str]] = field(default_factory=list)  # (tag, digest, reason)
    removed: list[str] = field(default_factory=list)  # tags that are gone
    checked: list[str] = field(default_factory=list)  # tags re-checked and unchanged
    signed_digests: set[str] | None = None  # digests with a signature tag (None: leave as it was)

    @property
    def empty(self) -> bool:
        return not (
            self.tags is not None
            or self.skills
            or self.collections
            or self.others
            or self.removed
            or self.checked
            or self.signed_digests is not None
        )


def _row_to_version(row: sqlite3.Row) -> SkillVersion:
    return SkillVersion(
        registry=row["registry"],
        repository=row["repository"],
        tag=row["tag"],
        digest=row["digest"],
        name=row["name"],
        namespace=row["namespace"],
        version=row["version"],
        status=row["status"],
        display_name=row["display_name"],
        description=row["description"],
        authors=row["authors"],
        license=row["license"],
        tags_json=row["tags_json"],
        compatibility=row["compatibility"],
        word_count=row["word_count"],
        created=row["created"],
        synced_at=row["synced_at"],
        signed=bool(row["signed"]),
        size=row["size"],
        manifest=bytes(row["manifest"]),
    )


def _row_to_collection(row: sqlite3.Row) -> CollectionRecord:
    return CollectionRecord(*(row[c] for c in _COLLECTION_COLUMNS))


def _like_pattern(text: str) -> str:
    """``%text%`` for ``LIKE ... ESCAPE '\\'``, with the wildcards in ``text`` taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _ranked(query: Query) -> bool:
    """Whether text matches are ordered by rank: asked for, and the text long enough for the trigram index."""
    return query.sort == "relevance" and len(query.q) >= 3


def _now_text() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Index:
    """The catalog's SQLite database; safe to share between the sync thread and request threads."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        self.memory = self.path == ":memory:"
        self._lock = threading.RLock()  # writers always; readers too in memory mode (one connection)
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self.generation = 0  # goes up with every committed write: what caches of query results compare
        self._listing: Listing | None = None
        self._listing_lock = threading.Lock()  # one snapshot is built at a time; the others wait for it
        self.text_hits = self.text_misses = 0  # text searches answered from the snapshot's memory, or by SQLite
        if not self.memory:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._writer = self._connect()
        self._migrate()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        conn.row_factory = sqlite3.Row
        if not self.memory:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _migrate(self) -> None:
        with self._lock:
            version = self._writer.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                # A cache from another skillctl version: rebuild it from the registries.
                tables = self._writer.execute(
                    "SELECT name FROM sqlite_master WHERE type IN ('table') AND name NOT LIKE 'sqlite_%'"
                ).fetchall()
                for (name,) in tables:
                    if not name.startswith("versions_fts_"):
                        self._writer.execute(f'DROP TABLE IF EXISTS "{name}"')
            self._writer.executescript(_SCHEMA)
            self._writer.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
            self._writer.close()

    @contextlib.contextmanager
    def _read(self, *, wait: bool = True) -> Iterator[sqlite3.Connection]:
        """A connection to read with. ``wait=False``: raise :class:`_Busy` instead of waiting for a writer (memory
        mode has one connection behind a lock)."""
        if self.memory:
            if not self._lock.acquire(blocking=wait):
                raise _Busy
            try:
                yield self._writer
            finally:
                self._lock.release()
            return
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._readers.append(conn)
        if conn.in_transaction:  # a read inside a read: the outer one holds the snapshot
            yield conn
            return
        # One read transaction: the statements of one answer (a page, its total) see the same commit of the sync.
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    @contextlib.contextmanager
    def _write(self, *, indexed: bool = True) -> Iterator[sqlite3.Connection]:
        """A write transaction. ``indexed``: it changes what searches find, so the generation goes up (memo rows,
        which no search reads, leave the snapshot and the answer caches as they are)."""
        with self._lock:
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._writer
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
            self._writer.execute("COMMIT")
            if indexed:
                self.generation += 1

    # -- what sync needs -------------------------------------------------------------
    def known_tags(self, registry: str, repository: str) -> dict[str, KnownTag]:
        """Every tag of a repository the index has seen, with its digest and when it was last checked."""
        known: dict[str, KnownTag] = {}
        with self._read() as db:
            for table, kind in (("versions", "skill"), ("collections", "collection"), ("others", "other")):
                for row in db.execute(
                    f"SELECT tag, digest, checked_at FROM {table} WHERE registry = ? AND repository = ?",
                    (registry, repository),
                ):
                    known[row[0]] = KnownTag(row[1], row[2], kind)
        return known

    def remembered_tags(self, registry: str, repository: str) -> list[str] | None:
        """The tag list the last sync saw (None: never listed)."""
        with self._read() as db:
            row = db.execute(
                "SELECT tags FROM repositories WHERE registry = ? AND repository = ?", (registry, repository)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def repositories(self, registry: str) -> set[str]:
        with self._read() as db:
            rows = db.execute(
                "SELECT repository FROM repositories WHERE registry = ? UNION "
                "SELECT repository FROM versions WHERE registry = ? UNION "
                "SELECT repository FROM collections WHERE registry = ?",
                (registry, registry, registry),
            ).fetchall()
        return {r[0] for r in rows}

    def drop_repository(self, registry: str, repository: str) -> None:
        with self._write() as db:
            for table in ("versions", "collections", "others", "repositories"):
                db.execute(f"DELETE FROM {table} WHERE registry = ? AND repository = ?", (registry, repository))

    def drop_registry(self, registry: str) -> None:
        with self._write() as db:
            for table in ("versions", "collections", "others", "repositories"):
                db.execute(f"DELETE FROM {table} WHERE registry = ?", (registry,))

    def registries(self) -> set[str]:
        with self._read() as db:
            rows = db.execute(
                "SELECT registry FROM repositories UNION SELECT registry FROM versions "
                "UNION SELECT registry FROM collections"
            ).fetchall()
        return {r[0] for r in rows}

    def apply(self, update: RepositoryUpdate) -> None:
        """Write what a sync pass found for one repository, all of it or nothing."""
        if update.empty:
            return
        now, stamp = time.time(), _now_text()
        key = (update.registry, update.repository)
        with self._write() as db:
            for tag in update.removed:
                for table in ("versions", "collections", "others"):
                    db.execute(f"DELETE FROM {table} WHERE registry = ? AND repository = ? AND tag = ?", (*key, tag))
            for skill in update.skills:
                # A tag that held something else before holds a skill now.
                db.execute(
                    "DELETE FROM collections WHERE registry = ? AND repository = ? AND tag = ?", (*key, skill.tag)
                )
                db.execute("DELETE FROM others WHERE registry = ? AND repository = ? AND tag = ?", (*key, skill.tag))
                values = [getattr(skill, c) for c in _VERSION_COLUMNS]
                values[_VERSION_COLUMNS.index("synced_at")] = stamp
                values[_VERSION_COLUMNS.index("signed")] = int(
                    skill.signed if update.signed_digests is None else skill.digest in update.signed_digests
                )
                columns = ", ".join(_VERSION_COLUMNS)
                db.execute(
                    f"INSERT INTO versions ({columns}, tags_list, checked_at) "
                    f"VALUES ({', '.join('?' * len(_VERSION_COLUMNS))}, ?, ?) "
                    "ON CONFLICT (registry, repository, tag) DO UPDATE SET "
                    + ", ".join(f"{c} = excluded.{c}" for c in (*_VERSION_COLUMNS[3:], "tags_list", "checked_at")),
                    (*values, json.dumps(parse_tags(skill.tags_json)), now),
                )
            for col in update.collections:
                db.execute("DELETE FROM versions WHERE registry = ? AND repository = ? AND tag = ?", (*key, col.tag))
                db.execute("DELETE FROM others WHERE registry = ? AND repository = ? AND tag = ?", (*key, col.tag))
                values = [getattr(col, c) for c in _COLLECTION_COLUMNS]
                values[_COLLECTION_COLUMNS.index("synced_at")] = stamp
                db.execute(
                    f"INSERT INTO collections ({', '.join(_COLLECTION_COLUMNS)}, checked_at) "
                    f"VALUES ({', '.join('?' * len(_COLLECTION_COLUMNS))}, ?) "
                    "ON CONFLICT (registry, repository, tag) DO UPDATE SET "
                    + ", ".join(f"{c} = excluded.{c}" for c in (*_COLLECTION_COLUMNS[3:], "checked_at")),
                    (*values, now),
                )
            for tag, digest, reason in update.others:
                db.execute("DELETE FROM versions WHERE registry = ? AND repository = ? AND tag = ?", (*key, tag))
                db.execute("DELETE FROM collections WHERE registry = ? AND repository = ? AND tag = ?", (*key, tag))
                db.execute(
                    "INSERT OR REPLACE INTO others (registry, repository, tag, digest, reason, checked_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (*key, tag, digest, reason, now),
                )
            for tag in update.checked:
                for table in ("versions", "collections", "others"):
                    db.execute(
                        f"UPDATE {table} SET checked_at = ? WHERE registry = ? AND repository = ? AND tag = ?",
                        (now, *key, tag),
                    )
            if update.signed_digests is not None:
                rows = db.execute(
                    "SELECT id, digest, signed FROM versions WHERE registry = ? AND repository = ?", key
                ).fetchall()
                for row in rows:
                    signed = int(row["digest"] in update.signed_digests)
                    if signed != row["signed"]:
                        db.execute("UPDATE versions SET signed = ? WHERE id = ?", (signed, row["id"]))
            if update.tags is not None:
                db.execute(
                    "INSERT OR REPLACE INTO repositories (registry, repository, tags) VALUES (?, ?, ?)",
                    (*key, json.dumps(sorted(update.tags))),
                )

    # -- search ------------------------------------------------------------------------
    @staticmethod
    def _filters(query: Query) -> tuple[str, list[Any], str | None]:
        """WHERE clause (on ``v``), its arguments, and the FTS MATCH expression when the text search uses it."""
        clauses: list[str] = []
        args: list[Any] = []
        for column in ("status", "namespace", "compatibility"):
            value = getattr(query, column)
            if value:
                clauses.append(f"v.{column} = ?")
                args.append(value)
        for tag in query.tags:
            clauses.append("v.id IN (SELECT version_id FROM version_tags WHERE tag = ?)")
            args.append(tag)
        match = None
        if query.q:
            if len(query.q) >= 3:
                match = '"' + query.q.replace('"', '""') + '"'
                clauses.append("v.id IN (SELECT rowid FROM versions_fts WHERE versions_fts MATCH ?)")
                args.append(match)
            else:  # shorter than a trigram: scan, as the Go tool always does
                pattern = _like_pattern(query.q)
                clauses.append(
                    "(v.name LIKE ? ESCAPE '\\' OR v.display_name LIKE ? ESCAPE '\\' "
                    "OR v.description LIKE ? ESCAPE '\\')"
                )
                args.extend([pattern] * 3)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args, match

    def search(self, query: Query) -> tuple[list[SkillVersion], int]:
        """One page of matching versions (one per tag, as the Go tool lists them) and the total."""
        where, args, match = self._filters(query)
        order = _LIST_ORDER
        # Ids first, whole rows after: a sort then carries the sort keys, not every column of every match.
        if query.sort == "relevance" and match:
            select = f"{_RANKED} SELECT v.id FROM versions v JOIN r ON r.rowid = v.id"
            sql = f"{select}{where} ORDER BY r.rank, {order} LIMIT ? OFFSET ?"
            params = [match, *args, query.per_page, query.offset]
        else:
            sql = f"SELECT v.id FROM versions v{where} ORDER BY {order} LIMIT ? OFFSET ?"
            params = [*args, query.per_page, query.offset]
        with self._read() as db:
            ids = [r[0] for r in db.execute(sql, params)]
            total = db.execute(f"SELECT COUNT(*) FROM versions v{where}", args).fetchone()[0]
            rows = db.execute(f"SELECT * FROM versions WHERE id IN ({', '.join('?' * len(ids))})", ids).fetchall()
        by_id = {r["id"]: r for r in rows}
        return [_row_to_version(by_id[i]) for i in ids if i in by_id], total

    def listing(self) -> Listing:
        """The snapshot every list page is cut from, rebuilt on first use after the index changed."""
        current = self._listing
        if current is not None and current.generation == self.generation:
            return current
        with self._listing_lock:
            generation = self.generation
            current = self._listing
            if current is not None and current.generation == generation:
                return current
            with self._read() as db:
                rows = db.execute(
                    f"SELECT v.id, v.status, v.namespace, v.compatibility, v.tags_list, {_SKILL_JSON} "
                    f"FROM versions v ORDER BY {_LIST_ORDER}"
                ).fetchall()
            self._listing = current = Listing(generation, ((*r[:4], json.loads(r[4]), r[5]) for r in rows))
            return current

    def _text_matches(self, q: str, *, ranked: bool, quick: bool = False) -> list[tuple[int, float]]:
        """The ids of versions whose name, title or description holds ``q`` (case-insensitively), with their
        bm25 rank when ``ranked`` (only the trigram index ranks: ``q`` of three characters or more).
        ``quick``: raise :class:`_Busy` rather than wait for a writer or run longer than ``QUICK_SECONDS``."""
        if len(q) >= 3:
            rank = "bm25(versions_fts)" if ranked else "0"
            sql = f"SELECT rowid, {rank} FROM versions_fts WHERE versions_fts MATCH ?"
            args: list[str] = ['"' + q.replace('"', '""') + '"']
        else:  # shorter than a trigram: scan, as the Go tool always does
            if quick:
                raise _Busy
            sql = (
                "SELECT id, 0 FROM versions WHERE name LIKE ? ESCAPE '\\' OR display_name LIKE ? ESCAPE '\\' "
                "OR description LIKE ? ESCAPE '\\'"
            )
            args = [_like_pattern(q)] * 3
        with self._read(wait=not quick) as db:
            if not quick:
                return db.execute(sql, args).fetchall()
            deadline = time.perf_counter() + QUICK_SECONDS
            db.set_progress_handler(lambda: time.perf_counter() > deadline, 1000)  # non-zero: SQLite interrupts
            try:
                return db.execute(sql, args).fetchall()
            except sqlite3.OperationalError as exc:
                if "interrupt" in str(exc):
                    raise _Busy from None
                raise
            finally:
                db.set_progress_handler(None, 0)

    def search_json(self, query: Query) -> tuple[str, int]:
        """What :meth:`search` finds, as the JSON array the API sends: a page of :meth:`listing`, with SQLite
        asked only which rows hold the text (rows written since the snapshot wait for the next one)."""
        return self._page(self.listing(), query, quick=False)

    def search_json_now(self, query: Query) -> tuple[str, int] | None:
        """:meth:`search_json` if it can answer at once, for an event loop: None when the snapshot needs a rebuild,
        a writer holds the index (memory mode), or the text needs a scan or more than ``QUICK_SECONDS`` of
        SQLite; the caller then asks :meth:`search_json` in a thread. Most searches qualify: a thread under load
        waits for the GIL behind the loop, longer than the answer takes."""
        listing = self._listing
        if listing is None or listing.generation != self.generation:
            return None
        try:
            return self._page(listing, query, quick=True)
        except _Busy:
            return None

    def _page(self, listing: Listing, query: Query, *, quick: bool) -> tuple[str, int]:
        criteria = [(name, getattr(query, name)) for name in ("status", "namespace", "compatibility")]
        criteria = [c for c in criteria if c[1]] + [("tag", tag) for tag in query.tags]
        ranked = _ranked(query)
        text = None
        if query.q:
            text, remembered = listing.text(
                query.q, ranked, lambda: self._text_matches(query.q, ranked=ranked, quick=quick)
            )
            if remembered:
                self.text_hits += 1
            else:
                self.text_misses += 1
        positions = listing.select(criteria, text)
        return listing.page_json(positions, query.offset, query.per_page), len(positions)

    def search_skills(self, query: Query) -> tuple[list[tuple[str, str]], int]:
        """One page of matching skills ``(namespace, name)`` (all their versions together) and the total."""
        where, args, match = self._filters(query)
        if query.sort == "relevance" and match:
            sql = (
                f"{_RANKED} SELECT v.namespace, v.name FROM versions v JOIN r ON r.rowid = v.id{where} "
                "GROUP BY v.namespace, v.name ORDER BY MIN(r.rank), v.namespace, v.name LIMIT ? OFFSET ?"
            )
            params = [match, *args, query.per_page, query.offset]
        else:
            sql = (
                f"SELECT v.namespace, v.name FROM versions v{where} GROUP BY v.namespace, v.name "
                "ORDER BY v.namespace, v.name LIMIT ? OFFSET ?"
            )
            params = [*args, query.per_page, query.offset]
        with self._read() as db:
            rows = db.execute(sql, params).fetchall()
            total = db.execute(
                f"SELECT COUNT(*) FROM (SELECT 1 FROM versions v{where} GROUP BY v.namespace, v.name)", args
            ).fetchone()[0]
        return [(r[0], r[1]) for r in rows], total

    def versions(self, namespace: str, name: str) -> list[SkillVersion]:
        """Every indexed tag of one skill, newest ``created`` first (as the Go tool orders them)."""
        with self._read() as db:
            rows = db.execute(
                "SELECT * FROM versions WHERE namespace = ? AND name = ? "
                "ORDER BY created DESC, registry, repository, tag",
                (namespace, name),
            ).fetchall()
        return [_row_to_version(r) for r in rows]

    def versions_of(self, skills: Sequence[tuple[str, str]]) -> dict[tuple[str, str], list[SkillVersion]]:
        """The versions of several skills at once (one query)."""
        found: dict[tuple[str, str], list[SkillVersion]] = {key: [] for key in skills}
        if not skills:
            return found
        values = ", ".join("(?, ?)" for _ in skills)
        args = [part for key in skills for part in key]
        with self._read() as db:
            rows = db.execute(
                f"SELECT * FROM versions WHERE (namespace, name) IN (VALUES {values}) "
                "ORDER BY created DESC, registry, repository, tag",
                args,
            ).fetchall()
        for row in rows:
            found[(row["namespace"], row["name"])].append(_row_to_version(row))
        return found

    def all_versions(self) -> list[SkillVersion]:
        """Every indexed tag (what an MCP listing or an export chooses from)."""
        with self._read() as db:
            rows = db.execute("SELECT * FROM versions ORDER BY namespace, name, registry, repository, tag").fetchall()
        return [_row_to_version(r) for r in rows]

    def by_digest(self, digest: str) -> list[SkillVersion]:
        with self._read() as db:
            rows = db.execute("SELECT * FROM versions WHERE digest = ? ORDER BY registry, repository, tag", (digest,))
            return [_row_to_version(r) for r in rows.fetchall()]

    def facets(self) -> dict[str, list[str]]:
        """Values to offer in filters: namespaces, compatibility strings, skill tags, states present."""
        with self._read() as db:
            namespaces = [r[0] for r in db.execute("SELECT DISTINCT namespace FROM versions ORDER BY 1")]
            compat = [
                r[0]
                for r in db.execute("SELECT DISTINCT compatibility FROM versions WHERE compatibility != '' ORDER BY 1")
            ]
            tags = [r[0] for r in db.execute("SELECT DISTINCT tag FROM version_tags ORDER BY 1 LIMIT 500")]
            states = [r[0] for r in db.execute("SELECT DISTINCT status FROM versions ORDER BY 1")]
        return {"namespaces": namespaces, "compatibility": compat, "tags": tags, "states": states}

    def counts(self) -> dict[str, int]:
        with self._read() as db:
            versions = db.execute("SELECT COUNT(*) FROM versions").fetchone()[0]
            skills = db.execute("SELECT COUNT(*) FROM (SELECT 1 FROM versions GROUP BY namespace, name)").fetchone()[0]
            collections = db.execute("SELECT COUNT(*) FROM collections").fetchone()[0]
            repositories = db.execute(
                "SELECT COUNT(*) FROM (SELECT registry, repository FROM versions "
                "UNION SELECT registry, repository FROM collections)"
            ).fetchone()[0]
        return {"versions": versions, "skills": skills, "collections": collections, "repositories": repositories}

    # -- collections --------------------------------------------------------------------
    def collections(self) -> list[CollectionRecord]:
        with self._read() as db:
            rows = db.execute("SELECT * FROM collections ORDER BY name, registry, repository, tag").fetchall()
        return [_row_to_collection(r) for r in rows]

    def collection(self, name: str) -> CollectionRecord | None:
        """The most recently synced collection of that name (as the Go tool picks it)."""
        with self._read() as db:
            row = db.execute(
                "SELECT * FROM collections WHERE name = ? ORDER BY synced_at DESC, id DESC LIMIT 1", (name,)
            ).fetchone()
        return _row_to_collection(row) if row else None

    # -- memo: results keyed by content --------------------------------------------------
    def memo_get(self, key: str, *, max_age: float | None = None) -> Any | None:
        with self._read() as db:
            row = db.execute("SELECT value, at FROM memo WHERE key = ?", (key,)).fetchone()
        if row is None or (max_age is not None and time.time() - row[1] > max_age):
            return None
        return json.loads(row[0])

    def memo_put(self, key: str, value: Any) -> None:
        with self._write(indexed=False) as db:
            db.execute(
                "INSERT OR REPLACE INTO memo (key, value, at) VALUES (?, ?, ?)", (key, json.dumps(value), time.time())
            )

    def memo_forget(self, prefixes: Iterable[str]) -> None:
        with self._write(indexed=False) as db:
            for prefix in prefixes:
                db.execute("DELETE FROM memo WHERE substr(key, 1, ?) = ?", (len(prefix), prefix))
