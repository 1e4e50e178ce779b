"""init: a new skill, or skill.yaml generated from an existing Agent Skills SKILL.md."""

from __future__ import annotations

import pytest
import yaml

from skillctl import init_skill, validate_skill
from skillctl.card.scaffold import _normalise_version, slugify
from skillctl.core.errors import ConflictError, InvalidSkillError

PDF_SKILL_MD = b"""---
name: acme:pdf-tools
description: Extract text and tables from PDF files. Use when the user mentions PDFs.
license: MIT
compatibility: Needs python3 and pdftotext
allowed-tools: Bash Read
metadata:
  version: "2.0"
  author: Jane Doe
---

# PDF tools

Run scripts/extract.py on the file.
"""


def listing(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def test_new_skill_validates(tmp_path):
    root = tmp_path / "my-skill"
    result = init_skill(root)
    assert not result.from_skill_md
    assert result.written == [root / ".skillignore", root / "SKILL.md", root / "skill.yaml"]
    assert listing(root) == [".skillignore", "SKILL.md", "skill.yaml"]
    report = validate_skill(root, strict=True)
    assert report.ok, [str(f) for f in report.findings]
    assert report.card.repository == "local/my-skill"
    assert report.card.version == "0.1.0"
    assert yaml.safe_load((root / "skill.yaml").read_text()) == result.card
    assert "__pycache__/" in (root / ".skillignore").read_text()


def test_new_skill_options(tmp_path):
    root = tmp_path / "My Skill_v2"
    result = init_skill(root, namespace="acme/team", version="1.2.3", description="Does X.")
    meta = result.card["metadata"]
    assert (meta["name"], meta["namespace"], meta["version"], meta["description"]) == (
        "my-skill-v2",
        "acme/team",
        "1.2.3",
        "Does X.",
    )
    assert validate_skill(root).ok
    assert (root / "SKILL.md").read_text().startswith("---\nname: my-skill-v2\ndescription: Does X.\n---\n")


@pytest.mark.parametrize(
    ("text", "slug"), [("My Skill_v2", "my-skill-v2"), ("--x--", "x"), ("ÄÖÜ", ""), ("a" * 80, "a" * 64)]
)
def test_slugify(text, slug):
    assert slugify(text) == slug


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2", "2.0.0"),
        ("2.0", "2.0.0"),
        ("v1.2", "1.2.0"),
        ("1.2.3", "1.2.3"),
        ("1.0-beta.1", "1.0.0-beta.1"),
        (2.0, "2.0.0"),
        ("1.0.0+b5", "1.0.0+b5"),
    ],
)
def test_normalise_version(value, expected):
    assert _normalise_version(value) == expected


def test_existing_skill_md_generates_the_card_and_is_untouched(tmp_path):
    root = tmp_path / "pdf-tools"
    root.mkdir()
    (root / "SKILL.md").write_bytes(PDF_SKILL_MD)
    result = init_skill(root)
    assert result.from_skill_md
    assert result.written == [root / "skill.yaml"]
    assert (root / "SKILL.md").read_bytes() == PDF_SKILL_MD
    assert listing(root) == ["SKILL.md", "skill.yaml"]
    card = yaml.safe_load((root / "skill.yaml").read_text())
    assert card == {
        "apiVersion": "skillimage.io/v1alpha1",
        "kind": "SkillCard",
        "metadata": {
            "name": "pdf-tools",
            "namespace": "acme",
            "version": "2.0.0",
            "description": "Extract text and tables from PDF files. Use when the user mentions PDFs.",
            "license": "MIT",
            "compatibility": "Needs python3 and pdftotext",
            "authors": [{"name": "Jane Doe"}],
            "allowed-tools": "Bash Read",
        },
        "spec": {"prompt": "SKILL.md"},
    }
    report = validate_skill(root)
    assert report.ok
    assert report.card.repository == "acme/pdf-tools"


def test_frontmatter_namespace_beats_the_colon_prefix_and_options_beat_both(tmp_path):
    root = tmp_path / "x"
    root.mkdir()
    (root / "SKILL.md").write_text("---\nname: acme:tool\ndescription: d\nmetadata:\n  namespace: corp\n---\n")
    assert init_skill(root).card["metadata"]["namespace"] == "corp"
    result = init_skill(root, namespace="mine", name="renamed", version="3.1.4", force=True)
    meta = result.card["metadata"]
    assert (meta["namespace"], meta["name"], meta["version"]) == ("mine", "renamed", "3.1.4")


def test_skill_md_without_frontmatter_gets_a_skill_yaml_and_the_warning_pack_gives(tmp_path):
    """Without frontmatter (or a description) Claude Code still loads the skill and spec-following agents skip it:
    validate and pack warn (and --strict refuses), so init writes skill.yaml and says the same."""
    root = tmp_path / "notes"
    root.mkdir()
    (root / "SKILL.md").write_text("# Notes\n\nTakes notes for you. Then more.\n")
    result = init_skill(root)
    assert listing(root) == ["SKILL.md", "skill.yaml"]
    assert [(w.field, w.severity) for w in result.warnings] == [("frontmatter", "warning")]
    assert "skip a skill without a description" in result.warnings[0].message
    report = validate_skill(root)
    assert report.ok and [str(w) for w in report.warnings] == [str(w) for w in result.warnings]
    (root / "skill.yaml").unlink()
    (root / "SKILL.md").write_text("---\nname: notes\n---\n\nSummarises logs. Also other things.\n")
    result = init_skill(root)
    assert [w.field for w in result.warnings] == ["frontmatter.description"]


def test_skill_md_that_no_agent_can_load_gets_no_skill_yaml(tmp_path):
    """Frontmatter that does not parse is an error for validate and pack: init writes nothing."""
    root = tmp_path / "broken"
    root.mkdir()
    (root / "SKILL.md").write_text("---\nname: [broken\n---\n\nText.\n")
    with pytest.raises(InvalidSkillError) as info:
        init_skill(root)
    assert "nothing was written" in info.value.message
    assert info.value.hint and "start it with these lines" in info.value.hint
    assert listing(root) == ["SKILL.md"]


def test_a_list_of_allowed_tools_is_kept_as_one_string(tmp_path):
    root = tmp_path / "tools"
    root.mkdir()
    (root / "SKILL.md").write_text("---\nname: tools\ndescription: d\nallowed-tools:\n  - Read\n  - Bash(git:*)\n---\n")
    result = init_skill(root)
    assert result.card["metadata"]["allowed-tools"] == "Read Bash(git:*)"
    assert [(w.field, w.severity) for w in result.warnings] == [("frontmatter.allowed-tools", "warning")]
    assert "'Read Bash(git:*)'" in result.warnings[0].message
    assert validate_skill(root).ok


def test_refuses_to_overwrite_and_lists_every_file(tmp_path):
    root = tmp_path / "s"
    root.mkdir()
    (root / "skill.yaml").write_text("old card\n")
    (root / ".skillignore").write_text("old ignore\n")
    with pytest.raises(ConflictError) as info:
        init_skill(root)
    assert info.value.message == f"{root}: would overwrite {root / '.skillignore'}, {root / 'skill.yaml'}"
    assert info.value.hint == "pass --force to overwrite"
    assert info.value.exit_code == 9
    assert (root / "skill.yaml").read_text() == "old card\n"
    assert listing(root) == [".skillignore", "skill.yaml"]
    init_skill(root, force=True)
    assert validate_skill(root).ok


def test_refuses_to_overwrite_a_card_next_to_skill_md(tmp_path):
    root = tmp_path / "pdf-tools"
    root.mkdir()
    (root / "SKILL.md").write_bytes(PDF_SKILL_MD)
    (root / "skill.yaml").write_text("mine\n")
    with pytest.raises(ConflictError, match=r"would overwrite .*skill\.yaml"):
        init_skill(root)
    assert (root / "skill.yaml").read_text() == "mine\n"
    init_skill(root, force=True)
    assert (root / "SKILL.md").read_bytes() == PDF_SKILL_MD
    assert validate_skill(root).ok


@pytest.mark.parametrize(
    ("frontmatter", "field"),
    [
        ("name: Bad Name\ndescription: d\n", "metadata.name"),
        ("name: ok\ndescription: d\nmetadata:\n  version: banana\n", "metadata.version"),
        ("name: UPPER:ok\ndescription: d\n", "metadata.namespace"),
    ],
)
def test_invalid_generated_card_writes_nothing(tmp_path, frontmatter, field):
    root = tmp_path / "s"
    root.mkdir()
    (root / "SKILL.md").write_text(f"---\n{frontmatter}---\n")
    with pytest.raises(InvalidSkillError) as info:
        init_skill(root)
    assert [p.split(": ")[1] for p in info.value.problems] == [field]
    assert info.value.hint
    assert listing(root) == ["SKILL.md"]


def test_invalid_options_for_a_new_skill_create_nothing(tmp_path):
    root = tmp_path / "new"
    with pytest.raises(InvalidSkillError):
        init_skill(root, version="1.0")
    assert not root.exists()
