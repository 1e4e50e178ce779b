"""skillctl list (alias ls)."""

from __future__ import annotations

import json

import pytest
from cli_helpers import assert_error, ok_json
from helpers import make_skill
from oci_helpers import file, put_image, tar_bytes

from skillctl import Store
from skillctl.store.layout import IndexEntry


@pytest.fixture
def two_packed(run, hello, tmp_path):
    first = ok_json(run("pack", hello, "--format", "json"))
    second = ok_json(
        run(
            "pack",
            make_skill(tmp_path / "b", name="b", version="2.0.0"),
            "--format",
            "json",
            env={"SOURCE_DATE_EPOCH": "0"},
        )
    )
    return first, second


def test_empty_store(run, store_path):
    result = run("list")
    assert result.exit_code == 0
    assert result.stdout == f"No images in the local store ({store_path}).\n"
    assert ok_json(run("list", "--format", "json")) == []
    assert run("list", "-q").stdout == ""


@pytest.mark.parametrize("command", ["list", "ls"])
def test_table(run, two_packed, command):
    first, second = two_packed
    result = run(command)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "TAG", "STATUS", "VERSION", "DIGEST", "SIZE", "SIGNED", "CREATED"]
    assert lines[1].split()[:5] == ["examples/hello-world", "1.0.0-draft", "draft", "1.0.0", first["digest"][7:19]]
    assert lines[1].endswith("just now")
    assert lines[2].split()[:5] == ["test/b", "2.0.0-draft", "draft", "2.0.0", second["digest"][7:19]]
    assert "years ago" in lines[2]
    assert len(lines) == 3


def test_no_trunc(run, two_packed):
    first, _ = two_packed
    lines = run("list", "--no-trunc").stdout.splitlines()
    assert first["digest"] in lines[1]
    assert lines[2].split()[-1] == "1970-01-01T00:00:00Z"


def test_quiet_prints_refs(run, two_packed):
    assert run("list", "-q").stdout == "examples/hello-world:1.0.0-draft\ntest/b:2.0.0-draft\n"


def test_json_keys(run, two_packed):
    first, _ = two_packed
    rows = ok_json(run("list", "--format", "json"))
    assert [r["ref"] for r in rows] == ["examples/hello-world:1.0.0-draft", "test/b:2.0.0-draft"]
    assert set(rows[0]) == {"ref", "name", "tag", "digest", "status", "version", "size", "created", "signed"}
    assert rows[0]["digest"] == first["digest"]
    assert rows[0]["size"] == first["layer"]["size"]
    assert rows[1]["created"] == "1970-01-01T00:00:00Z"


def test_all_shows_untagged(run, store_path):
    store = Store(store_path)
    loose = put_image(store, tar_bytes([file("a")]))
    store.update_index(lambda entries: [*entries, IndexEntry(loose.descriptor)])
    assert run("list", "-q").stdout == ""
    assert run("list", "-q", "--all").stdout == f"{loose.digest}\n"
    table = run("list", "-a").stdout.splitlines()
    assert table[1].split()[:2] == ["<none>", "<none>"]


def test_bad_option(run):
    result = run("list", "--bogus")
    assert result.exit_code == 2
    assert "Error: No such option '--bogus'" in result.stderr
    assert result.stdout == ""


def test_damaged_index_is_a_store_error(run, store_path, hello):
    run("pack", hello)
    (store_path / "index.json").write_text("{oops")
    assert_error(run("list"), 1, "not a valid OCI index")
    assert json.loads((store_path / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}


def test_signatures_are_hidden_and_shown_as_signed(run, two_packed, store_path):
    """A signature pulled into the store (``sha256-<digest>.sig``) is an attachment, not an image."""
    first, _ = two_packed
    sig = "examples/hello-world:" + first["digest"].replace(":", "-") + ".sig"
    assert run("tag", "test/b:2.0.0-draft", sig).exit_code == 0  # any manifest will do as the signature image
    assert run("list", "-q").stdout == "examples/hello-world:1.0.0-draft\ntest/b:2.0.0-draft\n"
    rows = {r["ref"]: r["signed"] for r in ok_json(run("list", "--format", "json"))}
    assert rows == {"examples/hello-world:1.0.0-draft": True, "test/b:2.0.0-draft": False}
    lines = run("list").stdout.splitlines()
    assert lines[1].split()[7] == "yes" and lines[2].split()[7] == "-"  # SIZE is "N B": two words
    assert sig not in run("list", "-a", "-q").stdout
