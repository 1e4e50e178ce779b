"""skillctl validate."""

from __future__ import annotations

import json

import pytest
from cli_helpers import assert_error
from helpers import make_skill

BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{c}: &{c} [{','.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)


def test_valid_skill(run, hello):
    result = run("validate", hello)
    assert result.exit_code == 0
    assert result.stdout == f"✓ {hello / 'skill.yaml'} is valid\n"
    assert result.stderr == ""


def test_skill_yaml_path(run, hello):
    assert run("validate", hello / "skill.yaml").exit_code == 0


def test_quiet_prints_nothing_on_success(run, hello):
    result = run("validate", "--quiet", hello)
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")


def test_json_keys(run, hello):
    result = run("validate", "--format", "json", hello)
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "path": str(hello / "skill.yaml"),
        "valid": True,
        "errors": [],
        "warnings": [],
    }


def test_every_error_at_once(run, tmp_path):
    root = make_skill(tmp_path / "s", name="Bad_Name", version="1.0.0.0")
    card = root / "skill.yaml"
    card.write_text(
        card.read_text().replace("metadata:\n", "metadata:\n  foo: 1\n").replace("spec:\n", "spec:\n  tools: []\n")
    )
    (root / "SKILL.md").write_text("---\nname: s\n  description: d\n---\nbody\n")
    result = run("validate", root)
    line = assert_error(result, 3)
    assert line == f"Error: {card} has 5 errors"
    problems = [x.strip() for x in result.stderr.splitlines() if x.startswith("  ")]
    assert problems == [
        f"{card}: metadata.foo: unknown field",
        f"{card}: metadata.name: 'Bad_Name' must be lowercase letters, digits and single hyphens (e.g. hello-world)",
        f"{card}: metadata.version: invalid semantic version '1.0.0.0' (want MAJOR.MINOR.PATCH, e.g. 1.0.0)",
        f"{card}: spec.tools: unknown field",
        f"{root / 'SKILL.md'}: frontmatter: invalid YAML (line 2, column 14): mapping values are not allowed here",
    ]


def test_errors_as_json(run, tmp_path):
    root = make_skill(tmp_path / "s", name="s", version="x")
    result = run("validate", "--format", "json", root)
    assert result.exit_code == 3
    data = json.loads(result.stdout)
    assert data["valid"] is False
    assert data["errors"] == [
        {
            "file": str(root / "skill.yaml"),
            "field": "metadata.version",
            "message": "invalid semantic version 'x' (want MAJOR.MINOR.PATCH, e.g. 1.0.0)",
            "severity": "error",
        }
    ]
    assert result.stderr == ""


def test_warnings_go_to_stderr_and_strict_fails(run, tmp_path):
    root = make_skill(tmp_path / "s", name="s")
    (root / "SKILL.md").write_text("---\nname: s\ndescription: d\nx-extra: 1\n---\n")
    lax = run("validate", root)
    assert lax.exit_code == 0
    assert lax.stderr == (
        f"warning: {root / 'SKILL.md'}: frontmatter.x-extra: not an Agent Skills field "
        "(client-specific; other agents ignore or reject it)\n"
    )
    strict = run("validate", "--strict", root)
    assert_error(strict, 3, "has 1 error", "frontmatter.x-extra", "--strict")
    as_json = json.loads(run("validate", "--format", "json", "--strict", root).stdout)
    assert [e["field"] for e in as_json["errors"]] == ["frontmatter.x-extra"]
    assert as_json["warnings"] == []


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (BOMB.encode(), "aliases (*a) are not allowed"),
        (b"apiVersion: a\nkind: b\napiVersion: c\n", "duplicate key 'apiVersion'"),
        (b"# " + b"x" * (1024 * 1024 + 1), "larger than 1024 KiB"),
        (b"apiVersion: skillimage.io/v1alpha1\nkind: Skill\xe9Card\n", "not valid UTF-8 (byte 0xe9 on line 2)"),
        ("apiVersion: x\n".encode("utf-16"), "file is UTF-16; save it as UTF-8"),
        (("a: " + "[" * 5000 + "]" * 5000).encode(), "nesting deeper than 64 levels"),
        (b"a: !!python/object/apply:os.system ['echo pwned']\n", "python/object/apply:os.system"),
    ],
    ids=["alias-bomb", "duplicate-keys", "too-big", "non-utf8", "utf16", "deep", "python-tag"],
)
def test_hostile_yaml_gives_one_error_line_and_no_traceback(run, tmp_path, content, fragment):
    root = make_skill(tmp_path / "s", name="s")
    (root / "skill.yaml").write_bytes(content)
    result = run("validate", root)
    assert_error(result, 3, fragment)
    assert "pwned" not in result.stderr.replace("echo pwned", "")


def test_hostile_yaml_in_skill_md_frontmatter(run, tmp_path):
    root = make_skill(tmp_path / "s", name="s")
    (root / "SKILL.md").write_text("---\n" + BOMB + "---\nbody\n")
    assert_error(run("validate", root), 3, "SKILL.md: frontmatter: invalid YAML", "aliases")


def test_missing_skill(run, tmp_path):
    assert_error(run("validate", tmp_path / "nope"), 4, "no such file or directory")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_error(run("validate", empty), 4, "no skill.yaml", "skillctl init")


def test_bad_option_is_a_usage_error(run, hello):
    result = run("validate", "--no-such-option", hello)
    assert result.exit_code == 2
    assert "No such option" in result.stderr
