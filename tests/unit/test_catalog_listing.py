"""The API's list pages come from a snapshot in memory (``catalog/listing.py``); SQLite's own ordered query
(``Index.search``) is the reference they must agree with, page by page, for every kind of filter."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from skillctl.catalog.index import Index, RepositoryUpdate
from skillctl.catalog.listing import Listing
from skillctl.catalog.query import Query
from skillctl.core.states import STATES

from .test_catalog_index import fill, version

WORDS = ["review", "docs", "triage", "Pager", "ünïcode", "50%", "a_b", "log", "ops", "REVIEWER", "x"]
TOPICS = ["ops", "docs", "security", "ml"]


def _populate(index: Index, rng: random.Random, count: int) -> None:
    versions = []
    for i in range(count):
        repo = f"{rng.choice(['team', 'ops', 'ml'])}/skill-{i % 37}"
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 6)))
        versions.append(
            version(
                repo,
                f"{i // 37}.{i % 5}.0",
                namespace=repo.split("/")[0],
                status=rng.choice(STATES),
                description=words,
                title=rng.choice(["", "Doc Reviewer", "Ops helper", words[:10]]),
                tags=rng.sample(TOPICS, rng.randint(0, 3)) or None,
                compatibility=rng.choice(["", "", "claude-code", "cursor"]),
                registry=rng.choice(["reg.example", "other.example", ""]),
            )
        )
    fill(index, *versions)


def _random_query(rng: random.Random) -> Query:
    q = rng.choice(["", "", rng.choice(WORDS), rng.choice(WORDS)[:2], rng.choice(WORDS)[1:4], "nothing at all"])
    return Query(
        q=q,
        status=rng.choice(["", "", *STATES]),
        namespace=rng.choice(["", "", "team", "ops", "nobody"]),
        compatibility=rng.choice(["", "", "", "claude-code", "cursor"]),
        tags=tuple(rng.sample(TOPICS, rng.choice([0, 0, 1, 1, 2]))),
        page=rng.choice([1, 1, 2, 3, 40]),
        per_page=rng.choice([1, 5, 20, 100]),
        sort=rng.choice(["name", "relevance"]) if q else "name",
    )


@pytest.fixture(params=["memory", "file"])
def big_index(request: pytest.FixtureRequest, tmp_path: Path) -> Index:
    idx = Index(":memory:" if request.param == "memory" else tmp_path / "catalog.sqlite")
    _populate(idx, random.Random(15), 400)
    yield idx
    idx.close()


def test_every_page_agrees_with_the_ordered_sql_query(big_index: Index) -> None:
    rng = random.Random(19)
    seen_nonempty = 0
    for _ in range(400):
        query = _random_query(rng)
        versions, total = big_index.search(query)
        data, total_json = big_index.search_json(query)
        assert (total_json, json.loads(data)) == (total, [v.to_json() for v in versions]), query
        seen_nonempty += bool(versions)
    assert seen_nonempty > 100  # the queries are not all empty pages


def test_the_snapshot_follows_every_write(big_index: Index) -> None:
    before = big_index.listing()
    assert big_index.listing() is before  # no change, no rebuild
    fill(big_index, version("new/fresh", "1.0.0", namespace="new", description="brand new words"))
    data, total = big_index.search_json(Query(q="brand new"))
    assert total == 1 and json.loads(data)[0]["repository"] == "new/fresh"
    assert big_index.listing() is not before
    big_index.apply(RepositoryUpdate("reg.example", "new/fresh", removed=["1.0.0"]))
    assert big_index.search_json(Query(q="brand new")) == ("[]", 0)


def test_select_takes_the_shortest_list_and_filters_by_the_rest() -> None:
    rows = [
        (10, "published", "a", "", ["x"], '{"id":10}'),
        (11, "draft", "a", "", ["x", "y"], '{"id":11}'),
        (12, "published", "b", "c", ["y"], '{"id":12}'),
        (13, "published", "a", "c", [], '{"id":13}'),
    ]
    listing = Listing(7, rows)
    assert list(listing.select([])) == [0, 1, 2, 3]
    assert listing.select([("status", "published"), ("namespace", "a")]) == [0, 3]
    assert listing.select([("tag", "y"), ("tag", "x")]) == [1]
    text, _ = listing.text("q", False, lambda: [(13, 0.0), (12, 0.0), (99, 0.0)])  # 99: written after the snapshot
    assert list(text) == [2, 3]
    assert listing.select([("compatibility", "c"), ("namespace", "b")], text) == [2]
    ranked, _ = listing.text("q", True, lambda: [(13, -5.0), (10, -1.0), (12, -5.0)])
    assert list(ranked) == [2, 3, 0]  # by rank, then list order
    assert listing.select([("status", "published")], ranked) == [2, 3, 0]
    assert listing.select([("status", "archived")]) == []
    assert listing.page_json([0, 3], 1, 20) == '[{"id":13}]'
    assert listing.page_json([], 0, 20) == "[]"


def test_text_matches_are_remembered_within_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    import skillctl.catalog.listing as listing_module

    monkeypatch.setattr(listing_module, "MATCHES_KEPT", 5)
    listing = Listing(1, [(i, "published", "a", "", [], "{}") for i in range(10)])
    asked: list[str] = []

    def finder(q: str, n: int) -> Callable[[], list[tuple[int, float]]]:
        return lambda: asked.append(q) or [(i, 0.0) for i in range(n)]

    found, remembered = listing.text("abc", True, finder("abc", 3))
    assert (list(found), remembered) == ([0, 1, 2], False)
    assert listing.text("abc", True, finder("abc", 3))[1] is True and listing.remembers("abc", True)
    assert listing.text("abc", False, finder("abc", 3))[1] is False  # ranked or not: two answers
    assert listing.text("xyz", True, finder("xyz", 4))[1] is False  # 10 kept > 5: the oldest go
    assert listing.text("xyz", True, finder("xyz", 4))[1] is True
    assert not listing.remembers("abc", True)
    assert listing.text("abc", True, finder("abc", 3))[1] is False
    assert asked == ["abc", "abc", "xyz", "abc"]


def test_answers_now_only_when_nothing_has_to_wait(big_index: Index, monkeypatch: pytest.MonkeyPatch) -> None:
    """``search_json_now`` runs on the server's event loop: it must never rebuild, scan, wait or run long."""
    import skillctl.catalog.index as index_module

    query = Query(q="review", status="published")
    fill(big_index, version("new/one", "1.0.0", namespace="new"))
    assert big_index.search_json_now(query) is None  # the snapshot is stale: a rebuild is a thread's work
    expected = big_index.search_json(query)
    assert big_index.search_json_now(query) == expected
    assert big_index.search_json_now(Query(status="draft")) == big_index.search_json(Query(status="draft"))
    assert big_index.search_json_now(Query(q="ps")) is None  # shorter than a trigram: a table scan
    big_index.search_json(Query(q="ps"))
    assert big_index.search_json_now(Query(q="ps")) == big_index.search_json(Query(q="ps"))  # remembered now

    monkeypatch.setattr(index_module, "QUICK_SECONDS", 0.0)  # every text search is "too long"
    assert big_index.search_json_now(Query(q="triage")) is None
    assert not big_index.listing().remembers("triage", False)  # an interrupted search leaves nothing behind
    assert big_index.search_json_now(query) == expected  # remembered text needs no SQLite
    assert big_index.search_json(Query(q="triage"))[1] > 0

    big_index.memo_put("sig:x", {"status": "verified"})  # a memo row changes no search
    assert big_index.search_json_now(query) == expected


def test_answers_now_never_waits_for_a_writer_in_memory() -> None:
    idx = Index(":memory:")
    _populate(idx, random.Random(3), 50)
    idx.search_json(Query(q="docs"))
    held, release = threading.Event(), threading.Event()

    def writer() -> None:
        with idx._lock:
            held.set()
            release.wait(10)

    t = threading.Thread(target=writer)
    t.start()
    try:
        held.wait(10)
        assert idx.search_json_now(Query(q="docs")) is not None  # remembered: no SQLite, no lock
        assert idx.search_json_now(Query(q="log")) is None  # needs SQLite, which the writer holds
    finally:
        release.set()
        t.join()
    assert idx.search_json_now(Query(q="log")) is not None
    idx.close()
