"""skillctl tag."""

from __future__ import annotations

from cli_helpers import assert_error, ok_json, tags


def test_tag(run, packed):
    result = run("tag", packed["ref"], "quay.io/org/hello:1.0.0-draft")
    assert result.exit_code == 0
    assert result.stdout == f"Tagged {packed['ref']} as quay.io/org/hello:1.0.0-draft\n"
    assert tags(run) == ["examples/hello-world:1.0.0-draft", "quay.io/org/hello:1.0.0-draft"]
    assert ok_json(run("inspect", "quay.io/org/hello:1.0.0-draft", "--format", "json"))["digest"] == packed["digest"]


def test_tag_json_and_quiet(run, packed):
    assert ok_json(run("tag", packed["ref"], "mirror/hello", "--format", "json")) == {
        "source": packed["ref"],
        "ref": "mirror/hello:latest",
        "digest": packed["digest"],
    }
    assert run("tag", "-q", packed["digest"], "mirror/hello:2").stdout == "mirror/hello:2\n"


def test_tag_errors(run, packed):
    assert_error(run("tag", "ns/missing:1", "ns/x:1"), 4, "not found")
    assert_error(run("tag", packed["ref"], "Bad Target"), 2, "invalid target reference")
    assert_error(run("tag", packed["ref"], f"ns/x@{packed['digest']}"), 2, "cannot be a digest")
    result = run("tag", packed["ref"])
    assert result.exit_code == 2 and "Missing argument 'TARGET'" in result.stderr
