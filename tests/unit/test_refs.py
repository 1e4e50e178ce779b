"""Image references, split the way the Go skillctl splits them."""

from __future__ import annotations

import pytest

from skillctl import parse_reference
from skillctl.core.errors import UsageError
from skillctl.core.refs import Reference, is_digest, version_tag
from skillctl.core.states import tag_for_state

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "repository", "tag", "digest", "registry", "path", "name", "store_name"),
    [
        (
            "examples/hello-world:1.0.0-draft",
            "examples/hello-world",
            "1.0.0-draft",
            None,
            None,
            "examples/hello-world",
            "hello-world",
            "examples/hello-world:1.0.0-draft",
        ),
        (
            "localhost:5000/ns/n:1.0.0",
            "localhost:5000/ns/n",
            "1.0.0",
            None,
            "localhost:5000",
            "ns/n",
            "n",
            "localhost:5000/ns/n:1.0.0",
        ),
        ("quay.io/org/x", "quay.io/org/x", None, None, "quay.io", "org/x", "x", "quay.io/org/x:latest"),
        ("localhost/x", "localhost/x", None, None, "localhost", "x", "x", "localhost/x:latest"),
        ("[::1]:5000/x:y", "[::1]:5000/x", "y", None, "[::1]:5000", "x", "x", "[::1]:5000/x:y"),
        ("x", "x", None, None, None, "x", "x", "x:latest"),
        ("a/b/c/d:e", "a/b/c/d", "e", None, None, "a/b/c/d", "d", "a/b/c/d:e"),
        (
            "foo_bar/a__b/c-d.e",
            "foo_bar/a__b/c-d.e",
            None,
            None,
            None,
            "foo_bar/a__b/c-d.e",
            "c-d.e",
            "foo_bar/a__b/c-d.e:latest",
        ),
        (f"ns/x@{DIGEST}", "ns/x", None, DIGEST, None, "ns/x", "x", f"ns/x@{DIGEST}"),
        (f"ns/x:1@{DIGEST}", "ns/x", "1", DIGEST, None, "ns/x", "x", f"ns/x:1@{DIGEST}"),
        ("  ns/x:1  ", "ns/x", "1", None, None, "ns/x", "x", "ns/x:1"),
    ],
)
def test_parse(text, repository, tag, digest, registry, path, name, store_name):
    ref = parse_reference(text)
    assert (ref.repository, ref.tag, ref.digest) == (repository, tag, digest)
    assert ref.registry == registry
    assert ref.is_remote == (registry is not None)
    assert ref.path == path
    assert ref.name == name
    assert ref.store_name == store_name


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty reference"),
        ("   ", "empty reference"),
        ("MyRepo/x", "repository path must be lowercase"),
        ("ns//x", "repository path must be lowercase"),
        (":tag", "repository path must be lowercase"),
        ("ns/x:bad tag", "tag 'bad tag' must be 1-128"),
        ("ns/x:-bad", "tag '-bad' must be 1-128"),
        ("ns/x:" + "t" * 129, "must be 1-128"),
        ("ns/x:1.0.0+build", "tag '1.0.0+build' must be 1-128"),
        ("ns/x@sha256:abc", "digest must be sha256: followed by 64"),
        ("ns/x@md5:" + "a" * 32, "digest must be sha256:"),
        ("bad.host!/x", "bad registry host 'bad.host!'"),
        ("a/" + "b" * 260, "longer than 255 characters"),
    ],
)
def test_invalid_references_are_usage_errors_with_a_hint(text, message):
    with pytest.raises(UsageError) as info:
        parse_reference(text)
    assert message in info.value.message
    assert info.value.hint
    assert info.value.exit_code == 2


def test_what_names_the_argument():
    with pytest.raises(UsageError, match=r"^invalid --tag 'Bad'"):
        parse_reference("Bad", what="--tag")


def test_str_round_trips():
    for text in ["ns/x", "ns/x:1", f"ns/x@{DIGEST}", f"reg.io:443/ns/x:1@{DIGEST}"]:
        assert str(parse_reference(text)) == text


def test_with_tag_and_digest():
    ref = parse_reference(f"ns/x:1@{DIGEST}")
    assert ref.with_tag("2") == Reference("ns/x", "2", None)
    assert ref.with_digest(DIGEST) == Reference("ns/x", None, DIGEST)
    assert parse_reference("ns/x").tag_or_default == "latest"


def test_is_digest():
    assert is_digest(DIGEST)
    assert not is_digest(DIGEST.upper())
    assert not is_digest("sha256:" + "a" * 63)
    assert not is_digest("ns/x:1")


@pytest.mark.parametrize(
    ("version", "suffix", "tag"),
    [
        ("1.0.0", "", "1.0.0"),
        ("1.0.0", "-draft", "1.0.0-draft"),
        ("1.0.0+build.5", "-draft", "1.0.0_build.5-draft"),
        ("2.0.0-rc.1", "-testing", "2.0.0-rc.1-testing"),
    ],
)
def test_version_tag(version, suffix, tag):
    assert version_tag(version, suffix) == tag
    assert parse_reference(f"ns/x:{tag}").tag == tag


def test_version_tag_too_long():
    with pytest.raises(UsageError, match="gives the invalid tag"):
        version_tag("1.0.0-" + "a" * 130)


@pytest.mark.parametrize(
    ("state", "tag"),
    [
        ("draft", "1.2.0-draft"),
        ("testing", "1.2.0-testing"),
        ("published", "1.2.0"),
        ("deprecated", "1.2.0"),
        ("archived", None),
    ],
)
def test_lifecycle_tags(state, tag):
    assert tag_for_state("1.2.0", state) == tag
