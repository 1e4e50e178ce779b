"""The pure parts of Skills over MCP: which version is served, skill:// URIs, limits, states."""

from __future__ import annotations

import pytest

from skillctl.catalog.records import SkillVersion
from skillctl.catalog.selection import in_states, select
from skillctl.core.errors import UsageError
from skillctl.mcp.entries import FileRef, check_limits, file_uri, parse_states, skill_path, split_uri


def v(name: str, version: str, status: str, tag: str | None = None, ns: str = "acme") -> SkillVersion:
    return SkillVersion(
        "r.example", f"{ns}/{name}", tag or version, f"sha256:{name}{version}{status}", name, ns, version, status
    )


def test_the_highest_published_version_per_skill_and_a_version_is_in_its_furthest_state() -> None:
    rows = [
        v("a", "1.0.0", "published"),
        v("a", "1.2.0", "published"),
        v("a", "1.2.0", "published", tag="latest"),
        v("a", "2.0.0", "draft", tag="2.0.0-draft"),
        v("a", "1.10.0", "testing", tag="1.10.0-testing"),
        v("b", "1.0.0", "draft", tag="1.0.0-draft"),  # left behind when 1.0.0 was deprecated
        v("b", "1.0.0", "deprecated"),
        v("c", "0.1.0", "archived"),
    ]
    assert [(x.name, x.version, x.tag) for x in select(rows)] == [("a", "1.2.0", "1.2.0")]
    assert [(x.name, x.version) for x in select(rows, frozenset({"draft", "testing"}))] == [("a", "2.0.0")]
    wide = select(rows, frozenset({"published", "deprecated", "testing"}))
    assert [(x.name, x.version, x.status) for x in wide] == [("a", "1.10.0", "testing"), ("b", "1.0.0", "deprecated")]
    assert [(x.name, x.version) for x in in_states(rows)] == [("a", "1.2.0"), ("a", "1.0.0")]


def test_states() -> None:
    assert parse_states([]) == frozenset({"published"})
    assert parse_states(["published,deprecated", "testing"]) == frozenset({"published", "deprecated", "testing"})
    with pytest.raises(UsageError, match="never served"):
        parse_states(["archived"])
    with pytest.raises(UsageError, match="not a lifecycle state"):
        parse_states(["gone"])


def test_uris() -> None:
    assert file_uri("acme/team/x", "docs/with space.md") == "skill://acme/team/x/docs/with%20space.md"
    assert split_uri("skill://acme/team/x/docs/with%20space.md") == ["acme", "team", "x", "docs", "with space.md"]
    for bad in ("skill://x", "skill://a/../b", "skill://a//b", "http://a/b", "skill://a/b?c", "skill://a/%2e%2e/b"):
        assert split_uri(bad) is None, bad
    version = v("x", "1.0.0", "published", ns="acme/team")
    assert skill_path(version, {"name": "x"}) == "acme/team/x"
    with pytest.raises(ValueError, match="not an Agent Skills name"):
        skill_path(version, {"name": "Not Valid"})
    with pytest.raises(ValueError, match="cannot be part of a skill:// URI"):
        skill_path(v("x", "1.0.0", "published", ns="a b"), {"name": "x"})


def test_limits() -> None:
    check_limits([FileRef(f"{i}", "sha256:" + "0" * 64, 1) for i in range(512)])
    with pytest.raises(ValueError, match="513 files"):
        check_limits([FileRef(f"{i}", "sha256:" + "0" * 64, 1) for i in range(513)])
    check_limits([FileRef("big", "sha256:" + "0" * 64, 16 * 1024 * 1024)])
    with pytest.raises(ValueError, match="16777217 bytes"):
        check_limits([FileRef("big", "sha256:" + "0" * 64, 16 * 1024 * 1024 + 1)])
