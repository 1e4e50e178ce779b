"""validate_skill: locating the skill, the prompt file (spec.prompt) and how problems are reported."""

from __future__ import annotations

import os

import pytest
from helpers import make_skill

from skillctl import validate_skill
from skillctl.core.errors import InvalidSkillError, NotFoundError


def set_prompt(root, prompt):
    card = root / "skill.yaml"
    card.write_text(card.read_text().replace("prompt: SKILL.md", f"prompt: {prompt}"))


def test_valid_skill(hello):
    report = validate_skill(hello)
    assert report.ok
    assert report.findings == []
    assert report.card is not None and report.card.repository == "examples/hello-world"
    assert report.root == hello
    assert report.card_path == hello / "skill.yaml"


def test_skill_yaml_path_is_accepted(hello):
    report = validate_skill(hello / "skill.yaml")
    assert report.ok
    assert report.root == hello


def test_directory_without_skill_yaml(tmp_path):
    (tmp_path / "SKILL.md").write_text("---\nname: x\ndescription: d\n---\n")
    with pytest.raises(NotFoundError) as info:
        validate_skill(tmp_path)
    assert info.value.message == f"{tmp_path}: no skill.yaml in this directory"
    assert info.value.hint == f"run 'skillctl init {tmp_path}' to generate skill.yaml from its SKILL.md"


def test_empty_directory_hint_suggests_a_new_skill(tmp_path):
    with pytest.raises(NotFoundError) as info:
        validate_skill(tmp_path)
    assert info.value.hint == f"run 'skillctl init {tmp_path}' to create a new skill"


def test_missing_path(tmp_path):
    with pytest.raises(NotFoundError, match="no such file or directory"):
        validate_skill(tmp_path / "nope")


def test_missing_prompt_file(tmp_path):
    root = make_skill(tmp_path / "s", name="s")
    (root / "SKILL.md").unlink()
    report = validate_skill(root)
    assert [str(f) for f in report.errors] == [
        f"{root / 'SKILL.md'}: prompt file is missing (spec.prompt, default SKILL.md)"
    ]


def test_missing_custom_prompt_file(tmp_path):
    root = make_skill(tmp_path / "s", name="s")
    set_prompt(root, "docs/PROMPT.md")
    report = validate_skill(root)
    assert [(f.file, f.message) for f in report.errors] == [
        (str(root / "docs/PROMPT.md"), "prompt file is missing (spec.prompt, default SKILL.md)")
    ]


@pytest.mark.parametrize("prompt", ["../outside.md", "/etc/passwd", "sub/../../outside.md"])
def test_prompt_pointing_outside_the_skill(tmp_path, prompt):
    root = make_skill(tmp_path / "s", name="s")
    (tmp_path / "outside.md").write_text("---\nname: s\ndescription: d\n---\n")
    set_prompt(root, prompt)
    report = validate_skill(root)
    assert [(f.field, f.message) for f in report.errors] == [("spec.prompt", f"{prompt!r} points outside the skill")]
    assert report.errors[0].file == str(root / "skill.yaml")


def test_prompt_symlink_leaving_the_skill(tmp_path):
    root = make_skill(tmp_path / "s", name="s")
    (tmp_path / "outside.md").write_text("---\nname: s\ndescription: d\n---\n")
    (root / "SKILL.md").unlink()
    os.symlink(tmp_path / "outside.md", root / "SKILL.md")
    report = validate_skill(root)
    assert [(f.field, f.message) for f in report.errors] == [("spec.prompt", "'SKILL.md' points outside the skill")]


def test_prompt_symlink_loop_is_a_finding_not_a_crash(tmp_path):
    root = make_skill(tmp_path / "s", name="s")
    (root / "SKILL.md").unlink()
    os.symlink("SKILL.md", root / "SKILL.md")
    report = validate_skill(root)
    assert [(f.file, f.message) for f in report.errors] == [(str(root / "SKILL.md"), "prompt file is a symlink loop")]


def test_other_prompt_file_is_a_warning(tmp_path):
    root = make_skill(tmp_path / "s", name="s", files={"docs/PROMPT.md": "---\nname: s\ndescription: d\n---\n"})
    set_prompt(root, "docs/PROMPT.md")
    report = validate_skill(root)
    assert report.ok
    assert [(f.field, f.severity) for f in report.warnings] == [("spec.prompt", "warning")]
    assert not validate_skill(root, strict=True).ok


def test_prompt_that_would_not_be_packaged(tmp_path):
    root = make_skill(
        tmp_path / "s",
        name="s",
        files={
            ".hidden.md": "---\nname: s\ndescription: d\n---\n",
            "drafts/p.md": "---\nname: s\ndescription: d\n---\n",
            ".skillignore": "drafts/\n",
        },
    )
    set_prompt(root, ".hidden.md")
    assert [f.message for f in validate_skill(root).errors] == ["would not be packaged: hidden file '.hidden.md'"]
    card = root / "skill.yaml"
    card.write_text(card.read_text().replace("prompt: .hidden.md", "prompt: drafts/p.md"))
    assert [f.message for f in validate_skill(root).errors] == ["would not be packaged: matched by .skillignore"]


def test_prompt_frontmatter_name_is_checked_against_the_card_and_the_directory(tmp_path):
    root = make_skill(tmp_path / "card-name", name="card-name")
    report = validate_skill(root)
    assert report.ok and report.warnings == []
    # The frontmatter matches the card (the installed directory) but not the directory the skill is in.
    moved = root.rename(tmp_path / "dir-name")
    assert [f.message for f in validate_skill(moved).warnings] == [
        "'card-name' differs from the directory 'dir-name' it is in "
        "(the Agent Skills format wants them equal; agents loading it from there may skip it)"
    ]
    # Matches the directory, not the card: installed as card-name/, which agents will see.
    (moved / "SKILL.md").write_text("---\nname: dir-name\ndescription: d\n---\n")
    assert [f.message for f in validate_skill(moved).warnings] == [
        "'dir-name' differs from the directory name 'card-name' agents will see"
    ]
    assert not validate_skill(moved, strict=True).ok


def test_non_utf8_prompt_is_an_error_naming_the_byte(tmp_path):
    root = make_skill(tmp_path / "s", name="s")
    (root / "SKILL.md").write_bytes(b"---\nname: s\ndescription: d\n---\n\ncaf\xe9\n")
    report = validate_skill(root)
    assert [(f.file, f.message) for f in report.errors] == [
        (str(root / "SKILL.md"), "not valid UTF-8 (byte 0xe9 on line 6); save the file as UTF-8")
    ]


def test_raise_for_errors_lists_every_problem(tmp_path):
    root = make_skill(tmp_path / "s", name="S", version="x")
    (root / "SKILL.md").write_text("---\nname: s\n")  # no closing fence
    report = validate_skill(root)
    with pytest.raises(InvalidSkillError) as info:
        report.raise_for_errors()
    assert info.value.message == f"{root / 'skill.yaml'}: 3 validation errors"
    assert info.value.problems == [str(f) for f in report.errors]
    assert len(info.value.problems) == 3
    assert info.value.hint == f"run 'skillctl validate {root}' to see every problem"


def test_skills_over_the_mcp_limits_warn_and_fail_under_strict(tmp_path):
    from skillctl import pack
    from skillctl.store.layout import Store

    many = make_skill(tmp_path / "a", "many-files")
    (many / "refs").mkdir()
    for i in range(510):  # with SKILL.md and skill.yaml: 512, the limit
        (many / "refs" / f"{i}.md").write_text("x\n")
    assert not [w for w in validate_skill(many).warnings if "SEP-2640" in w.message]
    (many / "refs" / "one-more.md").write_text("x\n")
    (many / ".hidden").write_text("left out of the image, not counted\n")
    (warning,) = [w for w in validate_skill(many).warnings if "SEP-2640" in w.message]
    assert warning.message.startswith("513 files: Skills over MCP (SEP-2640) allows at most 512 per skill")
    strict = validate_skill(many, strict=True)
    assert not strict.ok and any("513 files" in e.message for e in strict.errors)
    result = pack(many, store=Store(tmp_path / "store"))
    assert any("513 files" in str(w) for w in result.warnings)

    big = make_skill(tmp_path / "b", "big-files")
    (big / "data.bin").write_bytes(b"\0" * (16 * 1024 * 1024 - 1000))
    assert not [w for w in validate_skill(big).warnings if "SEP-2640" in w.message]
    (big / "more.bin").write_bytes(b"\0" * 2000)
    (warning,) = [w for w in validate_skill(big).warnings if "SEP-2640" in w.message]
    assert "bytes of files: Skills over MCP (SEP-2640) allows at most 16777216 (16 MiB)" in warning.message
