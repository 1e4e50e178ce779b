"""Collection entries with ``source:``: skills straight from Git repositories, as the Go tool installs them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from skillctl.cli.app import cli
from skillctl.consume.gitsource import parse_source
from skillctl.core.errors import UsageError

SKILL_MD = "---\nname: pdf-tools\ndescription: Fill and merge PDF forms.\nmetadata:\n  version: '2.1'\n---\n\nUse it.\n"


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A bare repository ``acme/skills.git`` with a SKILL.md-only skill under skills/pdf-tools."""
    work = tmp_path / "work"
    (work / "skills" / "pdf-tools" / "scripts").mkdir(parents=True)
    (work / "skills" / "pdf-tools" / "SKILL.md").write_text(SKILL_MD)
    script = work / "skills" / "pdf-tools" / "scripts" / "fill.sh"
    script.write_text("#!/bin/sh\necho filled\n")
    script.chmod(0o755)
    git("init", "-q", cwd=work)
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "first", cwd=work)
    bare = tmp_path / "acme" / "skills.git"
    bare.parent.mkdir()
    git("clone", "-q", "--bare", str(work), str(bare), cwd=tmp_path)
    git("remote", "add", "origin", str(bare), cwd=work)
    return work


def source_url(tmp_path: Path) -> str:
    return f"file://{tmp_path}/acme/skills/-/tree/main/skills/pdf-tools"


def collection(tmp_path: Path, *entries: str) -> Path:
    path = tmp_path / "coll.yaml"
    body = "".join(f"  - {e}\n" for e in entries)
    path.write_text(
        "apiVersion: skillimage.io/v1alpha1\nkind: SkillCollection\nmetadata:\n  name: from-git\n  version: 1.0.0\n"
        f"skills:\n{body}"
    )
    return path


def run(tmp_path: Path, *args: object):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["--store", str(tmp_path / "store"), *map(str, args)])


def test_source_urls_are_split_as_the_go_tool_does() -> None:
    gh = parse_source("https://github.com/anthropics/skills/tree/main/skills/pdf")
    assert (gh.clone_url, gh.ref, gh.subpath) == ("https://github.com/anthropics/skills.git", "main", "skills/pdf")
    gl = parse_source("https://gitlab.example.com/group/sub/repo/-/tree/v1.2/path/to/skill")
    assert (gl.clone_url, gl.ref, gl.subpath) == (
        "https://gitlab.example.com/group/sub/repo.git",
        "v1.2",
        "path/to/skill",
    )
    plain = parse_source("https://git.example.com/org/skill.git")
    assert (plain.clone_url, plain.ref, plain.subpath) == ("https://git.example.com/org/skill.git", None, "")
    for bad in ("ftp://host/org/repo", "https://user:secret@github.com/org/repo", "https://github.com/only"):
        with pytest.raises(UsageError):
            parse_source(bad)


def test_install_from_git_packs_reproducibly_and_records_the_commit(repo: Path, tmp_path: Path) -> None:
    coll = collection(tmp_path, f"source: {source_url(tmp_path)}")
    out = tmp_path / "agent"
    first = run(tmp_path, "collection", "install", "-f", coll, "-o", out, "--format", "json")
    assert first.exit_code == 0, first.output
    (outcome,) = json.loads(first.stdout)["outcomes"]
    assert outcome["name"] == "pdf-tools" and outcome["status"] == "installed"
    skill = out / "pdf-tools"
    assert (skill / "SKILL.md").read_text() == SKILL_MD
    assert (skill / "scripts" / "fill.sh").stat().st_mode & 0o777 == 0o755
    commit = git("rev-parse", "HEAD", cwd=repo)
    card = (skill / "skill.yaml").read_text()  # generated from the frontmatter, with provenance
    assert "version: 2.1.0" in card and f"commit: {commit}" in card and "namespace: acme" in card
    receipt = json.loads((out / ".skillimage" / "receipts" / "pdf-tools.json").read_text())
    assert receipt["source"] == f"{source_url(tmp_path)}@{commit}" and receipt["digest"] == outcome["detail"]

    again = run(tmp_path, "collection", "install", "-f", coll, "-o", out, "--format", "json")
    assert json.loads(again.stdout)["outcomes"][0]["status"] == "up-to-date"  # same commit, same digest

    (repo / "skills" / "pdf-tools" / "SKILL.md").write_text(SKILL_MD + "More.\n")
    git("commit", "-q", "-am", "second", cwd=repo)
    git("push", "-q", "origin", "main", cwd=repo)
    third = run(tmp_path, "collection", "install", "-f", coll, "-o", out, "--format", "json")
    assert json.loads(third.stdout)["outcomes"][0]["status"] == "installed"
    assert (skill / "SKILL.md").read_text().endswith("More.\n")
    assert run(tmp_path, "list", "--installed", "-o", out, "--upgradable").exit_code == 0  # Git sources are skipped


def test_git_sources_cannot_be_mounted_and_bad_sources_are_reported(repo: Path, tmp_path: Path) -> None:
    coll = collection(tmp_path, f"source: {source_url(tmp_path)}")
    volume = run(tmp_path, "collection", "volume", "-f", coll)
    assert volume.exit_code == 2 and "Git sources: pdf-tools" in volume.stderr
    bad = collection(
        tmp_path, "source: ftp://example.com/org/repo", "image: example.com/x/y:1", "source: s\n    image: z"
    )
    result = run(tmp_path, "collection", "install", "-f", bad, "-o", tmp_path / "out")
    assert result.exit_code == 3
    assert "skills.0.source" in result.stderr and "mutually exclusive" in result.stderr


def test_a_missing_path_in_the_repository_fails_that_skill_only(repo: Path, tmp_path: Path) -> None:
    coll = collection(tmp_path, f"source: file://{tmp_path}/acme/skills/-/tree/main/skills/nope")
    result = run(tmp_path, "collection", "install", "-f", coll, "-o", tmp_path / "out", "--format", "json")
    assert result.exit_code != 0
    (outcome,) = json.loads(result.stdout)["outcomes"]
    assert outcome["status"] == "failed" and "'skills/nope' not found" in outcome["detail"]


def test_a_plain_clone_url_installs_under_the_skills_own_name(repo: Path, tmp_path: Path) -> None:
    """As the Go tool does: the directory is the name of the skill found, not the repository's."""
    coll = collection(tmp_path, f"source: file://{tmp_path}/acme/skills.git")
    out = tmp_path / "agent"
    result = run(tmp_path, "collection", "install", "-f", coll, "-o", out, "--format", "json")
    assert result.exit_code == 0, result.output
    assert [o["name"] for o in json.loads(result.stdout)["outcomes"]] == ["pdf-tools"]
    assert sorted(p.name for p in out.iterdir()) == [".skillimage", "pdf-tools"]


def test_a_go_tool_install_of_the_same_commit_is_up_to_date(repo: Path, tmp_path: Path) -> None:
    """The Go tool records a Git install as provenance.commit = the commit, in skill.yaml, without a receipt."""
    coll = collection(tmp_path, f"source: {source_url(tmp_path)}")
    out = tmp_path / "agent"
    assert run(tmp_path, "collection", "install", "-f", coll, "-o", out).exit_code == 0
    (out / ".skillimage" / "receipts" / "pdf-tools.json").unlink()  # now as the Go tool leaves it
    again = run(tmp_path, "collection", "install", "-f", coll, "-o", out, "--format", "json")
    assert json.loads(again.stdout)["outcomes"][0]["status"] == "up-to-date"


def test_a_collection_file_in_git_at_a_ref(repo: Path, tmp_path: Path) -> None:
    (repo / "collection.yaml").write_text(collection(tmp_path, f"source: {source_url(tmp_path)}").read_text())
    git("add", "collection.yaml", cwd=repo)
    git("commit", "-q", "-m", "collection", cwd=repo)
    git("tag", "c1", cwd=repo)
    (repo / "collection.yaml").write_text("not: [a collection\n")
    git("commit", "-q", "-am", "broken", cwd=repo)
    git("push", "-q", "origin", "main", "--tags", cwd=repo)
    url = f"file://{tmp_path}/acme/skills/-/tree/main/collection.yaml"
    broken = run(tmp_path, "collection", "install", url, "-o", tmp_path / "x")
    assert broken.exit_code == 3 and "invalid YAML" in broken.stderr
    at_tag = run(tmp_path, "collection", "install", url, "--ref", "c1", "-o", tmp_path / "out", "--format", "json")
    assert at_tag.exit_code == 0, at_tag.output
    assert json.loads(at_tag.stdout)["name"] == "from-git"
    assert (tmp_path / "out" / "pdf-tools" / "SKILL.md").read_text() == SKILL_MD
    misuse = run(tmp_path, "collection", "install", "-f", tmp_path / "coll.yaml", "--ref", "c1", "-o", tmp_path / "y")
    assert misuse.exit_code == 2 and "--ref applies to a collection in a Git repository" in misuse.stderr
