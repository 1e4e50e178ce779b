"""skillctl rm (alias delete)."""

from __future__ import annotations

import types

import pytest
from cli_helpers import assert_error, ok_json, tags


def test_rm_without_force_and_no_terminal_is_refused(run, packed):
    assert_error(run("rm", packed["ref"]), 2, "refusing to remove without confirmation", "--force")
    assert tags(run) == [packed["ref"]]


@pytest.mark.parametrize("command", ["rm", "delete"])
def test_rm_force(run, packed, command):
    run("tag", packed["ref"], "ns/copy:1")
    result = run(command, "-f", packed["ref"])
    assert result.exit_code == 0
    assert result.stdout == f"Removed {packed['ref']}\n"
    assert tags(run) == ["ns/copy:1"]


def test_rm_by_digest_json_and_quiet(run, packed):
    run("tag", packed["ref"], "ns/copy:1")
    data = ok_json(run("rm", "-f", packed["digest"], "--format", "json"))
    assert sorted(data["removed"]) == ["examples/hello-world:1.0.0-draft", "ns/copy:1"]
    assert data["missing"] == []
    assert tags(run) == []
    run("tag", packed["digest"], "ns/again:1")
    assert run("rm", "-f", "-q", "ns/again:1").stdout == "ns/again:1\n"


def test_rm_missing_is_not_found(run, packed):
    result = run("rm", "-f", "ns/nope:1", packed["ref"])
    assert result.exit_code == 4
    assert result.stdout == f"Removed {packed['ref']}\n"
    assert "Error: not in the local store: ns/nope:1" in result.stderr
    assert "hint:" in result.stderr
    assert tags(run) == []


def test_rm_bad_reference(run, packed):
    assert_error(run("rm", "-f", "Bad Ref"), 2, "invalid reference")
    assert tags(run) == [packed["ref"]]


def test_rm_needs_an_argument(run):
    result = run("rm", "-f")
    assert result.exit_code == 2 and "Missing argument" in result.stderr


@pytest.fixture
def tty(monkeypatch):
    """Pretend stdin is a terminal so rm asks for confirmation (CliRunner feeds the answer)."""
    import skillctl.cli.store as store_cli

    monkeypatch.setattr(store_cli, "sys", types.SimpleNamespace(stdin=types.SimpleNamespace(isatty=lambda: True)))


def test_rm_asks_and_aborts(run, packed, tty):
    result = run("rm", packed["ref"], input="n\n")
    assert result.exit_code == 0
    assert result.stdout == f"Remove {packed['ref']}? [y/N]: n\nAborted.\n"
    assert tags(run) == [packed["ref"]]


def test_rm_asks_and_removes(run, packed, tty):
    run("tag", packed["ref"], "ns/copy:1")
    result = run("rm", packed["ref"], "ns/copy:1", input="y\n")
    assert result.exit_code == 0
    assert result.stdout.startswith("Remove 2 images? [y/N]: y\n")
    assert tags(run) == []
