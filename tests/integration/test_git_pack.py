"""pack from a Git URL (every skill, --ref, --filter), images dated by their commit, the redhat media types.

The Go skillctl itself is compared in tests/peer (make interop); these run in make test with file:// URLs.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import EXAMPLES
from gitserver import git

import skillctl
from skillctl.cli.app import cli
from skillctl.consume.gitsource import discover, parse_source
from skillctl.core.errors import NotFoundError, UsageError

CREATED = "org.opencontainers.image.created"


def run(store: Path, *args: object):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["--store", str(store), *map(str, args)])


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


@pytest.fixture
def repo(tmp_path: Path) -> dict[str, str]:
    """A bare repository acme/skills.git: three skills, a hidden one, tag v1, then a second commit."""
    work = tmp_path / "work"
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    write(
        work,
        {
            "skills/pdf-tools/SKILL.md": (
                "---\nname: pdf-tools\ndescription: PDFs.\nmetadata:\n  version: '2.1'\n---\nUse.\n"
            ),
            "skills/docx/SKILL.md": "---\nname: docx\ndescription: Word.\n---\nOpen.\n",
            "skills/docx/nested/SKILL.md": "---\nname: nested\ndescription: Inside a skill: not a skill.\n---\n",
            "tools/lint/skill.yaml": (EXAMPLES / "hello-world" / "skill.yaml")
            .read_text()
            .replace("name: hello-world", "name: lint"),
            "tools/lint/SKILL.md": "---\nname: lint\ndescription: Lint.\n---\nRun.\n",
            ".github/ghost/SKILL.md": "---\nname: ghost\ndescription: Hidden.\n---\n",
        },
    )
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "first", cwd=work)
    git("tag", "v1", cwd=work)
    v1 = git("rev-parse", "HEAD", cwd=work)
    (work / "skills/pdf-tools/SKILL.md").write_text("---\nname: pdf-tools\ndescription: PDFs, v2.\n---\nMore.\n")
    git("commit", "-q", "-am", "second", cwd=work)
    bare = tmp_path / "acme" / "skills.git"
    git("clone", "-q", "--bare", work, bare, cwd=tmp_path)
    return {"url": f"file://{bare}", "v1": v1, "head": git("rev-parse", "HEAD", cwd=work), "work": str(work)}


def commit_time(work: str, ref: str) -> str:
    epoch = int(git("log", "-1", "--format=%ct", ref, cwd=Path(work)))
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_source_urls_are_split_as_the_go_tool_does() -> None:
    gl = parse_source("https://gitlab.com/group/repo")
    assert (gl.clone_url, gl.ref, gl.subpath) == ("https://gitlab.com/group/repo.git", None, "")
    dash = parse_source("https://git.example.com/g/r/-/blob/main/x")  # a "-" segment but no tree: the repo only
    assert (dash.clone_url, dash.ref, dash.subpath) == ("https://git.example.com/g/r.git", None, "")
    override = parse_source("https://github.com/o/r/tree/main/skills", ref="v2")
    assert (override.ref, override.subpath, override.org) == ("v2", "skills", "o")
    with pytest.raises(UsageError, match="inside the repository"):
        parse_source("https://github.com/o/r/tree/main/../../etc")


def test_discovery_finds_every_skill_by_name_skipping_hidden_folders(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "b/SKILL.md": "---\nname: zeta\ndescription: d\n---\n",
            "a/SKILL.md": "no frontmatter",
            "a/inner/SKILL.md": "---\nname: inner\ndescription: d\n---\n",
            ".hidden/SKILL.md": "---\nname: hidden\ndescription: d\n---\n",
        },
    )
    assert [name for name, _ in discover(tmp_path)] == ["a", "zeta"]
    assert [name for name, _ in discover(tmp_path, pattern="z*")] == ["zeta"]
    assert [name for name, _ in discover(tmp_path / "a")] == ["a"]  # the directory itself is the skill
    with pytest.raises(NotFoundError, match="no skills matching 'q\\*'"):
        discover(tmp_path, pattern="q*")


def test_pack_every_skill_of_a_repository(repo, tmp_path) -> None:
    store = tmp_path / "store"
    result = run(store, "pack", repo["url"], "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["commit"] == repo["head"]
    assert [(s["name"], s["path"], s["ref"]) for s in report["skills"]] == [
        ("docx", "skills/docx", "acme/docx:0.1.0-draft"),
        ("lint", "tools/lint", "examples/lint:1.0.0-draft"),
        ("pdf-tools", "skills/pdf-tools", "acme/pdf-tools:0.1.0-draft"),
    ]
    image = skillctl.inspect_image("acme/docx:0.1.0-draft", store=skillctl.Store(store))
    ann = image.manifest.annotations
    assert ann["org.opencontainers.image.source"] == repo["url"]
    assert ann["org.opencontainers.image.revision"] == repo["head"]
    assert ann[CREATED] == commit_time(repo["work"], "HEAD")
    assert ann["org.opencontainers.image.authors"] == "acme"  # the organisation, as the Go tool generates it

    # The same commit again, into another store: the same digests.
    again = json.loads(run(tmp_path / "other", "pack", repo["url"], "--format", "json").stdout)
    assert [s["digest"] for s in again["skills"]] == [s["digest"] for s in report["skills"]]


def test_pack_at_a_ref_with_a_filter_and_the_url_forms(repo, tmp_path) -> None:
    store = tmp_path / "store"
    result = run(store, "build", repo["url"], "--ref", "v1", "--filter", "pdf*", "--format", "json")
    assert result.exit_code == 0, result.output
    (skill,) = json.loads(result.stdout)["skills"]
    assert skill["ref"] == "acme/pdf-tools:2.1.0-draft"
    tree = repo["url"].removesuffix(".git") + "/-/tree/v1/skills"
    listed = json.loads(run(store, "pack", tree, "--format", "json").stdout)
    assert [s["name"] for s in listed["skills"]] == ["docx", "pdf-tools"]
    assert listed["commit"] == repo["v1"]
    at_sha = run(store, "pack", repo["url"], "--ref", repo["v1"][:12], "--filter", "pdf-tools", "--format", "json")
    assert at_sha.exit_code == 0, at_sha.output
    assert json.loads(at_sha.stdout)["commit"] == repo["v1"]  # a commit SHA is fetched, then checked out
    assert json.loads(at_sha.stdout)["skills"][0]["status"] == "unchanged"  # the same image as --ref v1 gave


def test_pack_from_git_errors(repo, tmp_path) -> None:
    store = tmp_path / "store"
    several = run(store, "pack", repo["url"], "--tag", "x")
    assert several.exit_code == 2 and "holds 3 skills" in several.stderr
    missing = run(store, "pack", repo["url"], "--filter", "nope*")
    assert missing.exit_code == 4 and "no skills matching 'nope*'" in missing.stderr
    local = run(store, "pack", EXAMPLES / "hello-world", "--ref", "v1")
    assert local.exit_code == 2 and "apply to Git URLs" in local.stderr
    nowhere = run(store, "pack", f"file://{tmp_path}/acme/nothing.git")
    assert nowhere.exit_code != 0 and "Traceback" not in nowhere.stderr
    assert not (store / "index.json").exists() or skillctl.list_images(store=skillctl.Store(store)) == []


def test_a_clean_checkout_is_dated_by_its_commit_and_a_changed_one_is_not(repo, tmp_path) -> None:
    checkout = tmp_path / "checkout"
    git("clone", "-q", repo["url"], checkout, cwd=tmp_path)
    store = skillctl.Store(tmp_path / "store")
    clean = skillctl.pack(checkout / "tools/lint", store=store)
    assert clean.manifest.annotations[CREATED] == commit_time(repo["work"], "HEAD")
    config = json.loads(store.read_blob(clean.manifest.config.digest))
    assert config["created"] == clean.manifest.annotations[CREATED]
    (checkout / "tools/lint/notes.txt").write_text("untracked\n")
    dirty = skillctl.pack(checkout / "tools/lint", store=store)
    assert CREATED not in dirty.manifest.annotations and "created" not in json.loads(
        store.read_blob(dirty.manifest.config.digest)
    )
    # The layer does not depend on the date: only the file added changed it.
    (checkout / "tools/lint/notes.txt").unlink()
    assert skillctl.pack(checkout / "tools/lint", store=store).layer.digest == clean.layer.digest
    # An ignored file is not the commit's either.
    (checkout / ".gitignore").write_text("*.log\n")
    (checkout / "tools/lint/run.log").write_text("output\n")
    assert CREATED not in skillctl.pack(checkout / "tools/lint", store=store).manifest.annotations
    (checkout / "tools/lint/run.log").unlink()
    assert skillctl.pack(checkout / "tools/lint", store=store).manifest.digest == clean.manifest.digest
    # Outside a work tree: no date at all, unless SOURCE_DATE_EPOCH says one.
    plain = tmp_path / "plain"
    shutil.copytree(EXAMPLES / "hello-world", plain)
    assert CREATED not in skillctl.pack(plain, store=store).manifest.annotations
    dated = skillctl.pack(plain, store=store, env={"SOURCE_DATE_EPOCH": "86400"})
    assert dated.manifest.annotations[CREATED] == "1970-01-02T00:00:00Z"


def test_redhat_media_types_pack_and_unpack(tmp_path) -> None:
    store = skillctl.Store(tmp_path / "store")
    skill = tmp_path / "hello-world"
    shutil.copytree(EXAMPLES / "hello-world", skill)
    result = run(store.root, "pack", skill, "--media-type", "redhat", "-q")
    assert result.exit_code == 0, result.output
    manifest = store.manifest(result.stdout.strip())
    assert manifest.media_type == "application/vnd.oci.image.manifest.v1+json"
    assert manifest.config.media_type == "application/vnd.redhat.agentskill.config.v1+json"
    assert manifest.layers[0].media_type == "application/vnd.redhat.agentskill.layer.v1.tar+gzip"
    out = tmp_path / "out"
    skillctl.unpack_image("examples/hello-world:1.0.0-draft", out, store=store)
    assert (out / "hello-world" / "SKILL.md").read_bytes() == (skill / "SKILL.md").read_bytes()
    standard = skillctl.pack(skill, store=store)
    assert standard.layer.digest == manifest.layers[0].digest  # the same bytes under another type
    bad = run(store.root, "pack", skill, "--media-type", "oci")
    assert bad.exit_code == 2 and "valid: standard, redhat" in bad.stderr
