"""SKILL.md frontmatter: what agents reject is an error, what they tolerate a warning; --strict."""

from __future__ import annotations

import pytest
from helpers import make_skill

from skillctl import validate_skill
from skillctl.card.skillmd import check_document, parse_skill_document, split_frontmatter


def findings_of(text: str, expected_name: str | None = "my-skill") -> list[tuple[str, str]]:
    doc = parse_skill_document(text, file="SKILL.md")
    return [(f.field, f.severity) for f in check_document(doc, expected_name=expected_name)]


def test_split_frontmatter():
    assert split_frontmatter("---\nname: a\n---\nbody\n") == ("name: a\n", "body\n")
    assert split_frontmatter("---\r\nname: a\r\n---\r\nbody\r\n") == ("name: a\r\n", "body\r\n")
    assert split_frontmatter("---\nname: a\n---") == ("name: a\n", "")
    assert split_frontmatter("# no frontmatter\n") == (None, "# no frontmatter\n")
    assert split_frontmatter("text\n---\nx: 1\n---\n") == (None, "text\n---\nx: 1\n---\n")
    with pytest.raises(ValueError, match="no closing '---' line"):
        split_frontmatter("---\nname: a\nbody\n")


def test_conforming_document_has_no_findings():
    assert (
        findings_of(
            "---\nname: my-skill\ndescription: Does things.\nlicense: MIT\n"
            "compatibility: claude\nallowed-tools: Bash\nmetadata:\n  version: '1.0'\n---\n# Hi\n"
        )
        == []
    )


def test_word_count_excludes_frontmatter():
    doc = parse_skill_document("---\nname: a\ndescription: many words here\n---\n\none two\nthree\n")
    assert doc.word_count == 3
    assert doc.frontmatter == {"name": "a", "description": "many words here"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("---\nname: my-skill\ndescription: [unclosed\n---\n", [("frontmatter", "error")]),
        ("---\nname: my-skill\ndescription: d\n", [("frontmatter", "error")]),
        ("---\n- a list\n---\n", [("frontmatter", "error")]),
        ("---\nname: a\nname: b\ndescription: d\n---\n", [("frontmatter", "error")]),
    ],
    ids=[
        "bad-yaml",
        "unclosed",
        "list",
        "duplicate-key",
    ],
)
def test_errors(text, expected):
    assert findings_of(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Agents following the spec skip these; Claude Code loads them (directory name, first paragraph).
        ("# no frontmatter\n", [("frontmatter", "warning")]),
        ("", [("frontmatter", "warning")]),
        ("---\nname: my-skill\n---\nbody\n", [("frontmatter.description", "warning")]),
        ("---\nname: my-skill\ndescription: '  '\n---\n", [("frontmatter.description", "warning")]),
        ("---\nname: my-skill\ndescription: [a]\n---\n", [("frontmatter.description", "warning")]),
        ("---\ndescription: d\n---\n", [("frontmatter.name", "warning")]),
        ("---\nname: other-name\ndescription: d\n---\n", [("frontmatter.name", "warning")]),
        ("---\nname: My_Skill\ndescription: d\n---\n", [("frontmatter.name", "warning")] * 2),
        ("---\nname: 12\ndescription: d\n---\n", [("frontmatter.name", "warning")]),
        ("---\nname: my-skill\ndescription: d\nversion: 1\n---\n", [("frontmatter.version", "warning")]),
        ("---\nname: my-skill\ndescription: " + "x" * 1025 + "\n---\n", [("frontmatter.description", "warning")]),
        (
            "---\nname: my-skill\ndescription: d\ncompatibility: " + "c" * 501 + "\n---\n",
            [("frontmatter.compatibility", "warning")],
        ),
        ("---\nname: my-skill\ndescription: d\ncompatibility: ''\n---\n", [("frontmatter.compatibility", "warning")]),
        ("---\nname: my-skill\ndescription: d\nlicense: [MIT]\n---\n", [("frontmatter.license", "warning")]),
        (
            "---\nname: my-skill\ndescription: d\nallowed-tools: [Bash]\n---\n",
            [("frontmatter.allowed-tools", "warning")],
        ),
        ("---\nname: my-skill\ndescription: d\nmetadata:\n  version: 2\n---\n", [("frontmatter.metadata", "warning")]),
        ("---\nname: my-skill\ndescription: d\n---\n" + "line\n" * 600, [("", "warning")]),
    ],
    ids=[
        "no-frontmatter",
        "empty-file",
        "no-description",
        "blank-description",
        "list-description",
        "no-name",
        "name-mismatch",
        "bad-name",
        "name-not-string",
        "unknown-key",
        "long-description",
        "long-compatibility",
        "empty-compatibility",
        "license-type",
        "allowed-tools-type",
        "metadata-values",
        "long-body",
    ],
)
def test_warnings(text, expected):
    assert findings_of(text) == expected


def test_name_is_compared_with_the_expected_directory_name_only_when_given():
    assert findings_of("---\nname: other\ndescription: d\n---\n", expected_name=None) == []


def test_errors_and_warnings_are_reported_together():
    assert findings_of("---\nname: Other\nx-extra: 1\n---\n") == [
        ("frontmatter.description", "warning"),
        ("frontmatter.name", "warning"),
        ("frontmatter.name", "warning"),
        ("frontmatter.x-extra", "warning"),
    ]


def test_warning_messages_name_the_problem():
    doc = parse_skill_document("---\nname: other\ndescription: d\nx-claude: 1\n---\n", file="s/SKILL.md")
    messages = [str(f) for f in check_document(doc, expected_name="my-skill")]
    assert messages == [
        "s/SKILL.md: frontmatter.name: 'other' differs from the directory name 'my-skill' agents will see",
        "s/SKILL.md: frontmatter.x-claude: not an Agent Skills field "
        "(client-specific; other agents ignore or reject it)",
    ]


def _skill_with_warnings(tmp_path):
    root = make_skill(tmp_path / "my-skill", name="my-skill")
    (root / "SKILL.md").write_text("---\nname: other-name\ndescription: d\nx-extra: 1\n---\n# Body\n")
    return root


def test_warnings_do_not_fail_validation(tmp_path):
    report = validate_skill(_skill_with_warnings(tmp_path))
    assert report.ok
    assert report.errors == []
    assert [(f.field, f.severity) for f in report.warnings] == [
        ("frontmatter.name", "warning"),
        ("frontmatter.x-extra", "warning"),
    ]


def test_strict_turns_warnings_into_errors(tmp_path):
    root = _skill_with_warnings(tmp_path)
    lax = validate_skill(root)
    strict = validate_skill(root, strict=True)
    assert not strict.ok
    assert strict.warnings == []
    assert strict.errors == lax.warnings


def test_strict_on_a_clean_skill_passes(tmp_path):
    assert validate_skill(make_skill(tmp_path / "clean", name="clean"), strict=True).ok


def test_frontmatter_and_card_errors_are_reported_at_once(tmp_path):
    root = make_skill(tmp_path / "s", name="s", version="1.0")
    (root / "SKILL.md").write_text("---\nname: s\ndescription: [unclosed\n---\nbody\n")
    report = validate_skill(root)
    assert [(f.file, f.field) for f in report.errors] == [
        (str(root / "skill.yaml"), "metadata.version"),
        (str(root / "SKILL.md"), "frontmatter"),
    ]
