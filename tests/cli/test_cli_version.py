"""skillctl version bump, and pack's warning when a pushed version is re-packed with other content."""

from __future__ import annotations

import json
import shutil

import pytest
from cli_helpers import assert_error, ok_json
from conftest import EXAMPLES

from skillctl.card.version import next_version


@pytest.mark.parametrize(
    ("version", "part", "expected"),
    [
        ("1.0.0", "patch", "1.0.1"),
        ("1.0.9", "minor", "1.1.0"),
        ("1.4.2", "major", "2.0.0"),
        ("1.2.0-rc.1", "patch", "1.2.0"),
        ("1.2.0-rc.1", "minor", "1.2.0"),
        ("1.2.3-rc.1", "minor", "1.3.0"),
        ("2.0.0-beta", "major", "2.0.0"),
        ("1.0.0+build.7", "patch", "1.0.1"),
    ],
)
def test_next_version(version: str, part: str, expected: str) -> None:
    assert next_version(version, part) == expected  # type: ignore[arg-type]


def test_bump_changes_only_the_version_value(run, tmp_path):
    skill = tmp_path / "hello-world"
    shutil.copytree(EXAMPLES / "hello-world", skill)
    card = skill / "skill.yaml"
    card.write_text(card.read_text().replace("version: 1.0.0", "version: '1.0.0'   # released in May") + "# end\n")
    before = card.read_text()
    result = run("version", "bump", "minor", skill)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"Bumped 1.0.0 -> 1.1.0 in {card}\n"
    assert card.read_text() == before.replace("'1.0.0'   # released", "'1.1.0'   # released")
    assert ok_json(run("version", "bump", "major", card, "--format", "json")) == {
        "path": str(card),
        "from": "1.1.0",
        "to": "2.0.0",
    }
    assert run("version", "bump", "patch", skill, "-q").stdout == "2.0.1\n"
    assert run("validate", skill).exit_code == 0
    packed = ok_json(run("pack", skill, "--format", "json"))
    assert packed["ref"] == "examples/hello-world:2.0.1-draft"


def test_bump_refuses_what_it_cannot_do_safely(run, tmp_path):
    assert_error(run("version", "bump", "patch", tmp_path), 4, "no skill.yaml")
    skill = tmp_path / "s"
    shutil.copytree(EXAMPLES / "hello-world", skill)
    card = skill / "skill.yaml"
    card.write_text(card.read_text().replace("version: 1.0.0", "version: banana"))
    assert_error(run("version", "bump", "patch", skill), 3, "not a semantic version")
    card.write_text(card.read_text().replace("version: banana", "version: 1.0.0") + "spec2:\n  version: 1.0.0\n")
    before = card.read_text()
    assert_error(run("version", "bump", "patch", skill), 3, "cannot find the one metadata.version line")
    assert card.read_text() == before
    assert run("version", "bump", "tiny", skill).exit_code == 2


def test_repacking_a_pushed_version_with_other_content_warns(run, tmp_path, store_path):
    skill = tmp_path / "hello-world"
    shutil.copytree(EXAMPLES / "hello-world", skill)
    first = ok_json(run("pack", skill, "--format", "json"))
    # What push records in the store: the registry reference, at the pushed digest.
    assert run("tag", first["ref"], "quay.example/team/hello-world:1.0.0-draft").exit_code == 0
    assert ok_json(run("pack", skill, "--format", "json"))["warnings"] == []  # unchanged: nothing to say
    (skill / "SKILL.md").write_text((skill / "SKILL.md").read_text() + "\nOne more line.\n")
    result = run("pack", skill)
    assert result.exit_code == 0
    assert "warning: " in result.stderr and "1.0.0 was already pushed with other content" in result.stderr
    assert "quay.example/team/hello-world:1.0.0-draft" in result.stderr
    assert f"skillctl version bump patch {skill}" in result.stderr
    assert run("version", "bump", "patch", skill).exit_code == 0
    bumped = json.loads(run("pack", skill, "--format", "json").stdout)
    assert bumped["warnings"] == []
