"""skillctl init."""

from __future__ import annotations

import yaml
from cli_helpers import assert_error, ok_json

SKILL_MD = (
    b"---\nname: acme:pdf-tools\ndescription: Work with PDFs.\n"
    b"metadata:\n  version: '2.0'\n  author: Jane\n---\n# PDF\n"
)


def test_new_skill(run, tmp_path):
    root = tmp_path / "my-skill"
    result = run("init", root)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        f"Initialised local/my-skill 0.1.0 in {root} (new skill)\n"
        f"  wrote {root / '.skillignore'}\n  wrote {root / 'SKILL.md'}\n  wrote {root / 'skill.yaml'}\n"
    )
    assert run("validate", "--strict", root).exit_code == 0


def test_new_skill_options_and_json(run, tmp_path):
    root = tmp_path / "x"
    data = ok_json(
        run(
            "init",
            root,
            "--name",
            "tool",
            "--namespace",
            "acme",
            "--version",
            "1.2.3",
            "--description",
            "Does X.",
            "--format",
            "json",
        )
    )
    assert set(data) == {"directory", "written", "fromSkillMd", "skillcard", "warnings"}
    assert data["directory"] == str(root)
    assert data["written"] == [str(root / ".skillignore"), str(root / "SKILL.md"), str(root / "skill.yaml")]
    assert data["fromSkillMd"] is False
    assert data["skillcard"]["metadata"] == {
        "name": "tool",
        "namespace": "acme",
        "version": "1.2.3",
        "description": "Does X.",
    }
    assert data["warnings"] == []
    assert yaml.safe_load((root / "skill.yaml").read_text()) == data["skillcard"]


def test_quiet_prints_the_written_paths(run, tmp_path):
    root = tmp_path / "q"
    result = run("init", "--quiet", root)
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [str(root / ".skillignore"), str(root / "SKILL.md"), str(root / "skill.yaml")]


def test_existing_skill_md(run, tmp_path):
    root = tmp_path / "pdf-tools"
    root.mkdir()
    (root / "SKILL.md").write_bytes(SKILL_MD)
    result = run("init", root)
    assert result.exit_code == 0
    assert (
        result.stdout == f"Initialised acme/pdf-tools 2.0.0 in {root} (from SKILL.md)\n  wrote {root / 'skill.yaml'}\n"
    )
    assert (root / "SKILL.md").read_bytes() == SKILL_MD
    card = yaml.safe_load((root / "skill.yaml").read_text())
    assert card["metadata"]["authors"] == [{"name": "Jane"}]
    assert run("validate", root).exit_code == 0
    pack = ok_json(run("pack", root, "--format", "json"))
    assert pack["ref"] == "acme/pdf-tools:2.0.0-draft"


def test_namespace_and_version_options_override_the_frontmatter(run, tmp_path):
    root = tmp_path / "pdf-tools"
    root.mkdir()
    (root / "SKILL.md").write_bytes(SKILL_MD)
    data = ok_json(run("init", root, "--namespace", "corp/docs", "--version", "2.1.0", "--format", "json"))
    assert data["fromSkillMd"] is True
    assert (data["skillcard"]["metadata"]["namespace"], data["skillcard"]["metadata"]["version"]) == (
        "corp/docs",
        "2.1.0",
    )


def test_refuses_to_overwrite(run, tmp_path):
    root = tmp_path / "s"
    root.mkdir()
    (root / "skill.yaml").write_text("mine\n")
    (root / ".skillignore").write_text("mine\n")
    result = run("init", root)
    line = assert_error(result, 9, "pass --force")
    assert line == f"Error: {root}: would overwrite {root / '.skillignore'}, {root / 'skill.yaml'}"
    assert (root / "skill.yaml").read_text() == "mine\n"
    assert not (root / "SKILL.md").exists()
    assert run("init", "--force", root).exit_code == 0
    assert run("validate", root).exit_code == 0


def test_invalid_generated_card_writes_nothing(run, tmp_path):
    root = tmp_path / "s"
    root.mkdir()
    (root / "SKILL.md").write_text("---\nname: Not Valid\ndescription: d\n---\n")
    assert_error(run("init", root), 3, "metadata.name", "--name")
    assert sorted(p.name for p in root.iterdir()) == ["SKILL.md"]
    assert_error(run("init", tmp_path / "new", "--version", "1.0"), 3, "metadata.version")
    assert not (tmp_path / "new").exists()
