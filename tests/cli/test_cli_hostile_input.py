"""Hostile local input: file names, special files, references with a newline, bundles, damaged stores.

What a user, a pull request or a bundle from elsewhere can hand skillctl on this machine. Each case ends
with one ``Error:`` line and a documented exit code (or works, saying what it did), never a hang, a crash
(exit 70) or a write that should not happen.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cli_helpers import assert_error, ok_json, tags
from helpers import make_skill

from skillctl import Store
from skillctl.image.unpack import unpack_manifest

# -- 13: one set of name rules for pack and unpack ------------------------------------------------------

BAD_NAMES = {
    "escape": "colour-\x1b[31mred.txt",
    "newline": "two\nlines.txt",
    "c1-control": "csi-\x9b2J.txt",
    "invalid-utf8": os.fsdecode(b"latin1-\xe9.txt"),
}


@pytest.mark.parametrize("kind", sorted(BAD_NAMES))
def test_validate_and_pack_refuse_names_no_unpack_accepts(kind: str, run, tmp_path: Path) -> None:
    skill = make_skill(tmp_path / "skill", name="skill")
    name = BAD_NAMES[kind]
    (skill / "docs").mkdir()
    (skill / "docs" / name).write_bytes(b"x")
    for args in (["validate", skill], ["validate", "--strict", skill], ["pack", skill]):
        result = run(*args)
        line = assert_error(result, 3)
        assert "docs/" in result.stderr, result.stderr
        assert "\x1b" not in result.stderr and "\x9b" not in result.stderr and "\udce9" not in result.stderr
        assert line.startswith("Error:")
    assert tags(run) == []


def test_names_pack_accepts_unpack_accepts(run, tmp_path: Path, store_path: Path) -> None:
    """The other direction: what packs (non-ASCII letters, spaces, brackets) unpacks unchanged."""
    names = ["café.txt", "with space.md", "[brackets].txt", "日本語.txt", "ümlaut-ß.txt"]
    skill = make_skill(tmp_path / "skill", name="skill", files={f"docs/{n}": n for n in names})
    result = run("pack", skill, "--format", "json")
    packed = ok_json(result)
    store = Store(store_path)
    unpack_manifest(store, store.manifest(packed["digest"]), tmp_path / "out" / "skill")
    assert sorted(p.name for p in (tmp_path / "out" / "skill" / "docs").iterdir()) == sorted(names)


def test_an_ignored_file_with_a_bad_name_does_not_matter(run, tmp_path: Path) -> None:
    skill = make_skill(tmp_path / "skill", name="skill", files={".skillignore": "scratch/\n"})
    (skill / "scratch").mkdir()
    (skill / "scratch" / "bad\x1bname").write_text("x")
    (skill / ".hidden\nname").write_text("x")
    assert run("validate", "--strict", skill).exit_code == 0
    assert run("pack", skill).exit_code == 0


# -- 18: a reference with a trailing newline --------------------------------------------------------------


@pytest.mark.parametrize(
    "bad", ["ns/evil\n:1", "ns/evil:1\n0", "reg.example/ns/x\n:1.0.0", "ns/x:1.0.0\n@sha256:" + "a" * 64]
)
def test_references_with_a_newline_are_refused(bad: str, run, packed, tmp_path: Path) -> None:
    assert_error(run("tag", packed["ref"], bad), 2, "invalid")
    assert_error(run("install", bad, "-o", tmp_path / "skills"), 2, "invalid")
    assert_error(run("kube", "reg.example/" + bad.split("/", 1)[-1], "--no-pin", "--kind", "patch"), 2, "invalid")
    assert not (tmp_path / "skills").exists() or list((tmp_path / "skills").iterdir()) in (
        [],
        [tmp_path / "skills" / ".skillimage"],
    )
    assert not any("\n" in t for t in tags(run))


def test_a_skill_name_with_a_trailing_newline_is_invalid(run, tmp_path: Path) -> None:
    skill = make_skill(tmp_path / "skill", name="skill")
    card = (skill / "skill.yaml").read_text().replace("  name: skill\n", '  name: "skill\\n"\n')
    (skill / "skill.yaml").write_text(card)
    result = run("validate", skill)
    assert_error(result, 3, "metadata.name")
