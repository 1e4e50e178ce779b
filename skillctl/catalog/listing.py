"""Pages of the catalog's skill list, from a snapshot in memory instead of a sort in SQLite.

A search with 50 clients at once spends its time ordering and rendering thousands of rows per request. The
snapshot does that once per index change: every version in list order with its JSON already made, and for each
status, namespace, compatibility and skill tag the positions that have it, in order. A page is then a slice of the
shortest of those lists, filtered by the others; a text search only asks SQLite which rows match (and their rank).
What matches is still decided by SQLite (the trigram index, ``LIKE``): this module never judges text.
"""

from __future__ import annotations

import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Final

# (id, status, namespace, compatibility, skill tags, the API's JSON for the row), in the list's order.
ListingRow = tuple[int, str, str, str, Sequence[str], str]

Matches = list[tuple[int, float]]  # (version id, rank) from the text index

_FIELDS: Final = ("status", "namespace", "compatibility")

MATCHES_KEPT: Final = 1_000_000
"""Positions of text matches remembered per snapshot (4 bytes each): 4 MB at most."""


class Listing:
    """Every indexed version as of one index generation, ready to be paged."""

    def __init__(self, generation: int, rows: Iterable[ListingRow]) -> None:
        self.generation = generation
        self.docs: list[str] = []
        self.position: dict[int, int] = {}
        self._values: dict[str, list[str]] = {name: [] for name in _FIELDS}
        self._tags: list[frozenset[str]] = []
        self._by: dict[tuple[str, str], list[int]] = {}
        self._texts: OrderedDict[tuple[str, bool], array[int]] = OrderedDict()
        self._texts_kept = 0
        self._texts_lock = threading.Lock()
        for pos, (vid, status, namespace, compatibility, tags, doc) in enumerate(rows):
            self.position[vid] = pos
            self.docs.append(doc)
            self._tags.append(frozenset(tags))
            for name, value in zip(_FIELDS, (status, namespace, compatibility), strict=True):
                self._values[name].append(value)
                self._by.setdefault((name, value), []).append(pos)
            for tag in self._tags[-1]:
                self._by.setdefault(("tag", tag), []).append(pos)

    def remembers(self, q: str, ranked: bool) -> bool:
        return (q, ranked) in self._texts

    def text(self, q: str, ranked: bool, find: Callable[[], Matches]) -> tuple[Sequence[int], bool]:
        """The positions holding ``q``, by rank (then list order) when ``ranked``, else in list order, from what
        the text index says (``find()``). Asked once per snapshot: the pages of one search, or the same words
        under other filters, share it (least recently used forgotten beyond MATCHES_KEPT). Ids the snapshot
        does not know (written after it) are left out. The flag says whether it was remembered."""
        key = (q, ranked)
        with self._texts_lock:
            found = self._texts.get(key)
            if found is not None:
                self._texts.move_to_end(key)
                return found, True
        known = self.position
        if ranked:
            order = [p for _, p in sorted((rank, known[i]) for i, rank in find() if i in known)]
        else:
            order = sorted(known[i] for i, _ in find() if i in known)
        found = array("i", order)
        with self._texts_lock:
            if key not in self._texts:
                self._texts[key] = found
                self._texts_kept += len(found)
            while self._texts_kept > MATCHES_KEPT and len(self._texts) > 1:
                _, dropped = self._texts.popitem(last=False)
                self._texts_kept -= len(dropped)
        return found, False

    def select(self, criteria: Sequence[tuple[str, str]], text: Sequence[int] | None = None) -> Sequence[int]:
        """Positions that meet every ``(field, value)`` criterion (``field`` one of status, namespace,
        compatibility, or ``tag``), in list order; or, when ``text`` positions are given, those of them that do,
        in their order."""
        checks = list(criteria)
        base: Sequence[int]
        if text is not None:
            base = text
        elif checks:
            lists = [self._by.get(c, []) for c in checks]
            shortest = min(range(len(lists)), key=lambda k: len(lists[k]))
            base = lists[shortest]
            del checks[shortest]
        else:
            base = range(len(self.docs))
        for name, value in checks:
            if name == "tag":
                tags = self._tags
                base = [p for p in base if value in tags[p]]
            else:
                values = self._values[name]
                base = [p for p in base if values[p] == value]
        return base

    def page_json(self, positions: Sequence[int], offset: int, limit: int) -> str:
        """The JSON array of one page of ``positions``."""
        return "[" + ",".join(self.docs[p] for p in positions[offset : offset + limit]) + "]"
