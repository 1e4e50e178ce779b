"""The catalog's SQLite index: search semantics (the Go tool's, through FTS5), filters, pages, updates."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path

import pytest

from skillctl.catalog.index import SCHEMA_VERSION, Index, RepositoryUpdate
from skillctl.catalog.query import Query
from skillctl.catalog.records import CollectionRecord, SkillVersion
from skillctl.core.errors import UsageError


def version(
    repo: str,
    tag: str,
    *,
    namespace: str = "team",
    status: str = "published",
    description: str = "A test skill.",
    title: str = "",
    tags: list[str] | None = None,
    compatibility: str = "",
    registry: str = "reg.example",
    digest: str | None = None,
) -> SkillVersion:
    return SkillVersion(
        registry=registry,
        repository=repo,
        tag=tag,
        digest=digest or "sha256:" + hashlib.sha256(f"{registry}/{repo}:{tag}".encode()).hexdigest(),
        name=repo.rsplit("/", 1)[-1],
        namespace=namespace,
        version=tag.split("-", 1)[0],
        status=status,
        display_name=title,
        description=description,
        tags_json=json.dumps(tags) if tags else "",
        compatibility=compatibility,
        manifest=b"{}",
    )


def fill(index: Index, *versions: SkillVersion) -> None:
    by_repo: dict[tuple[str, str], RepositoryUpdate] = {}
    for v in versions:
        by_repo.setdefault((v.registry, v.repository), RepositoryUpdate(v.registry, v.repository)).skills.append(v)
    for update in by_repo.values():
        index.apply(update)


@pytest.fixture(params=["memory", "file"])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Index:
    idx = Index(":memory:" if request.param == "memory" else tmp_path / "catalog.sqlite")
    fill(
        idx,
        version("team/doc-reviewer", "1.0.0", title="Document Reviewer", description="Reviews docs for style."),
        version("team/doc-reviewer", "1.1.0-draft", status="draft", description="Reviews docs for style."),
        version("team/log-triage", "0.3.0", description="Summarises service logs", tags=["ops", "logs"]),
        version("ops/pager", "2.0.0", namespace="ops", description="Pages the on-call (50% off)", tags=["ops"]),
        version("ops/ab", "1.0.0", namespace="ops", description="Short name", compatibility="claude-code"),
    )
    yield idx
    idx.close()


def refs(result: tuple[list[SkillVersion], int]) -> list[str]:
    return [f"{v.repository}:{v.tag}" for v in result[0]]


def test_text_search_matches_substrings_case_insensitively_like_the_go_tool(index: Index) -> None:
    # Go: name LIKE %q% OR display_name LIKE %q% OR description LIKE %q% (SQLite LIKE: ASCII case-insensitive)
    assert refs(index.search(Query(q="REVIEW", sort="name"))) == [
        "team/doc-reviewer:1.0.0",
        "team/doc-reviewer:1.1.0-draft",
    ]
    assert refs(index.search(Query(q="ummaris"))) == ["team/log-triage:0.3.0"]  # inside a word
    assert refs(index.search(Query(q="document rev"))) == ["team/doc-reviewer:1.0.0"]  # the title, across words
    assert index.search(Query(q="nothing like this"))[1] == 0


def test_short_queries_scan_and_wildcards_are_literal(index: Index) -> None:
    assert refs(index.search(Query(q="ab"))) == ["ops/ab:1.0.0"]  # shorter than a trigram
    assert refs(index.search(Query(q="50%"))) == ["ops/pager:2.0.0"]
    assert index.search(Query(q="%"))[1] == 1  # '%' is a character, not "anything"
    assert index.search(Query(q='"'))[1] == 0
    assert index.search(Query(q='doc" OR "x'))[1] == 0  # quotes cannot inject FTS syntax


def test_filters_combine(index: Index) -> None:
    assert refs(index.search(Query(status="draft"))) == ["team/doc-reviewer:1.1.0-draft"]
    assert refs(index.search(Query(namespace="ops"))) == ["ops/ab:1.0.0", "ops/pager:2.0.0"]
    assert refs(index.search(Query(tags=("ops",)))) == ["ops/pager:2.0.0", "team/log-triage:0.3.0"]
    assert refs(index.search(Query(tags=("ops", "logs")))) == ["team/log-triage:0.3.0"]
    assert refs(index.search(Query(tags=("op",)))) == []  # tags match exactly
    assert refs(index.search(Query(compatibility="claude-code"))) == ["ops/ab:1.0.0"]
    assert refs(index.search(Query(q="docs", status="published"))) == ["team/doc-reviewer:1.0.0"]


@pytest.mark.parametrize(
    "query",
    [Query(), Query(q="docs"), Query(q="docs", sort="relevance"), Query(tags=("ops",)), Query(per_page=2, page=2),
     Query(q="nothing at all"), Query(status="draft")],
)  # fmt: skip
def test_the_api_json_is_what_the_records_say(index: Index, query: Query) -> None:
    fill(index, version("x/unicode", "1.0.0", namespace="x", description='Ünïcode "quotes" <tags> & \\ slash'))
    index.apply(RepositoryUpdate("reg.example", "x/unicode", signed_digests={index.versions("x", "unicode")[0].digest}))
    fill(index, version("local/thing", "0.1.0", namespace="x", registry=""))
    versions, total = index.search(query)
    data, total_json = index.search_json(query)
    assert json.loads(data) == [v.to_json() for v in versions]
    assert total_json == total
    assert [list(d) for d in json.loads(data)] == [list(v.to_json()) for v in versions]


def test_pages_and_totals(index: Index) -> None:
    first = index.search(Query(per_page=2, page=1))
    second = index.search(Query(per_page=2, page=2))
    third = index.search(Query(per_page=2, page=3))
    assert first[1] == second[1] == third[1] == 5
    assert len(first[0]) == 2 and len(second[0]) == 2 and len(third[0]) == 1
    assert len(set(refs(first) + refs(second) + refs(third))) == 5
    assert index.search(Query(per_page=2, page=9)) == ([], 5)


def test_relevance_puts_the_better_match_first(index: Index) -> None:
    fill(index, version("x/review", "1.0.0", namespace="x", description="review review review"))
    ranked = refs(index.search(Query(q="review", sort="relevance")))
    assert ranked[0] == "x/review:1.0.0"
    assert set(ranked) == {"x/review:1.0.0", "team/doc-reviewer:1.0.0", "team/doc-reviewer:1.1.0-draft"}
    skills, total = index.search_skills(Query(q="review", sort="relevance"))
    assert (skills, total) == ([("x", "review"), ("team", "doc-reviewer")], 2)


def test_skills_group_their_versions(index: Index) -> None:
    keys, total = index.search_skills(Query(q="docs"))
    assert (keys, total) == ([("team", "doc-reviewer")], 1)
    keys, total = index.search_skills(Query(per_page=2))
    assert total == 4 and len(keys) == 2
    versions = index.versions_of(keys)
    assert all(v.namespace == k[0] and v.name == k[1] for k, vs in versions.items() for v in vs)


def test_updates_replace_remove_and_touch(index: Index) -> None:
    moved = version("team/doc-reviewer", "1.0.0", description="Now about manuals.", digest="sha256:" + "a" * 64)
    index.apply(RepositoryUpdate("reg.example", "team/doc-reviewer", skills=[moved], removed=["1.1.0-draft"]))
    got = index.versions("team", "doc-reviewer")
    assert [(v.tag, v.digest, v.description) for v in got] == [("1.0.0", "sha256:" + "a" * 64, "Now about manuals.")]
    assert index.search(Query(q="for style"))[1] == 0  # the full-text index follows updates
    assert index.search(Query(q="manuals"))[1] == 1
    # A tag that now holds something else is no longer a skill.
    index.apply(RepositoryUpdate("reg.example", "team/doc-reviewer", others=[("1.0.0", "sha256:" + "b" * 64, "x")]))
    assert index.versions("team", "doc-reviewer") == []
    assert index.known_tags("reg.example", "team/doc-reviewer")["1.0.0"].kind == "other"


def test_signed_flags_follow_the_signature_tags(index: Index) -> None:
    target = index.versions("team", "log-triage")[0]
    index.apply(RepositoryUpdate("reg.example", "team/log-triage", signed_digests={target.digest}, tags=["0.3.0"]))
    assert index.versions("team", "log-triage")[0].signed
    index.apply(RepositoryUpdate("reg.example", "team/log-triage", signed_digests=set(), tags=["0.3.0"]))
    assert not index.versions("team", "log-triage")[0].signed
    assert index.remembered_tags("reg.example", "team/log-triage") == ["0.3.0"]


def test_collections_pick_the_latest_synced(index: Index) -> None:
    for tag in ("1.0.0", "2.0.0"):
        col = CollectionRecord("reg.example", "cols/ops", tag, "sha256:" + tag[0] * 64, "ops", tag, "d", "[]")
        index.apply(RepositoryUpdate("reg.example", "cols/ops", collections=[col]))
    assert [c.tag for c in index.collections()] == ["1.0.0", "2.0.0"]
    assert index.collection("ops").tag == "2.0.0"  # type: ignore[union-attr]
    assert index.collection("none") is None


def test_drop_repository_and_registry(index: Index) -> None:
    index.drop_repository("reg.example", "team/log-triage")
    assert index.versions("team", "log-triage") == []
    assert index.counts()["versions"] == 4
    index.drop_registry("reg.example")
    assert index.counts() == {"versions": 0, "skills": 0, "collections": 0, "repositories": 0}


@pytest.mark.parametrize("how", ["search", "search_json"])  # SQLite's ordered query, and the snapshot's pages
def test_readers_and_a_writer_at_once(index: Index, how: str) -> None:
    errors: list[BaseException] = []
    stop = threading.Event()
    search = getattr(index, how)

    def read() -> None:
        while not stop.is_set():
            try:
                found, total = search(Query(q="docs", per_page=100))
                assert total >= 1 and len(json.loads(found) if how == "search_json" else found) == min(total, 100)
            except BaseException as exc:
                errors.append(exc)
                return

    readers = [threading.Thread(target=read) for _ in range(4)]
    for t in readers:
        t.start()
    for i in range(200):
        fill(index, version(f"load/s{i}", "1.0.0", namespace="load", description=f"docs number {i}"))
    stop.set()
    for t in readers:
        t.join()
    assert errors == []
    assert search(Query(namespace="load"))[1] == 200


def test_an_index_from_another_version_is_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE versions (whatever TEXT)")
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 100}")
    idx = Index(path)
    fill(idx, version("a/b", "1.0.0", namespace="a"))
    assert idx.counts()["versions"] == 1
    idx.close()
    again = Index(path)  # the same version: kept
    assert again.counts()["versions"] == 1
    again.close()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"page": "x"}, "page: 'x' is not a whole number"),
        ({"page": "0"}, "page: 0 is outside 1..1000000"),
        ({"per_page": "101"}, "per_page: 101 is outside 1..100"),
        ({"per_page": "-5"}, "per_page: '-5' is not a whole number"),
        ({"status": "gone"}, "status: 'gone' is not a lifecycle state"),
        ({"q": "x" * 201}, "q: longer than 200 characters"),
        ({"sort": "size"}, "sort: 'size' is not one of name, relevance"),
        ({"tags": ",".join(f"t{i}" for i in range(21))}, "tags: at most 20 tags"),
    ],
)
def test_bad_parameters_are_usage_errors(params: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError) as err:
        Query.from_params(params)
    assert message in str(err.value)


def test_parameters_as_the_go_tool_names_them() -> None:
    query = Query.from_params({"q": " doc ", "status": "draft", "tags": "a, b,,", "page": "2", "per_page": "5"})
    assert query == Query(q="doc", status="draft", tags=("a", "b"), page=2, per_page=5, sort="name")  # Go's order
    assert Query.from_params({"q": "doc"}, text_sort="relevance").sort == "relevance"  # the web UI's
    assert Query.from_params({"q": "doc", "sort": "name"}, text_sort="relevance").sort == "name"
    assert Query.from_params({}, text_sort="relevance").sort == "name"  # nothing to rank
    assert Query.from_params({}) == Query(page=1, per_page=20, sort="name")
    assert Query.from_params({"page": "", "per_page": ""}).per_page == 20
