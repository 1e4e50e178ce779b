"""Building images, side by side with the Go skillctl: from Git, its media types, the date an image carries."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from conftest import EXAMPLES
from gitserver import git, publish
from peerkit import Peers, files, manifest, table

pytestmark = pytest.mark.peer

SOURCE = "org.opencontainers.image.source"
REVISION = "org.opencontainers.image.revision"
CREATED = "org.opencontainers.image.created"
COMPARED = (
    "org.opencontainers.image.title",
    "org.opencontainers.image.version",
    "org.opencontainers.image.vendor",
    "org.opencontainers.image.description",
    "org.opencontainers.image.authors",
    "org.opencontainers.image.licenses",
    SOURCE,
    REVISION,
    "io.skillimage.status",
)
REDHAT_CONFIG = "application/vnd.redhat.agentskill.config.v1+json"
REDHAT_LAYER = "application/vnd.redhat.agentskill.layer.v1.tar+gzip"

LINT_CARD = """\
apiVersion: skillimage.io/v1alpha1
kind: SkillCard
metadata:
  name: lint
  namespace: acme
  version: 1.0.0
  description: Lint the repository.
  license: MIT
spec:
  prompt: SKILL.md
"""


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture
def repo(peers: Peers) -> dict[str, str]:
    """acme/skills on the Git server: four skills (three SKILL.md-only), a hidden one, tag v1 and a later commit."""
    work = peers.tmp / "work"
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    write(
        work,
        {
            "skills/pdf-tools/SKILL.md": "---\nname: pdf-tools\ndescription: Fill PDF forms.\n"
            "license: Apache-2.0\nmetadata:\n  version: '2.1'\n---\n\nUse scripts/fill.sh.\n",
            "skills/pdf-tools/scripts/fill.sh": "#!/bin/sh\necho filled\n",
            "skills/docx/SKILL.md": "---\nname: docx\ndescription: Edit Word files.\n"
            "metadata:\n  author: Jane Doe\n---\n\nOpen the file.\n",
            "tools/lint/skill.yaml": LINT_CARD,
            "tools/lint/SKILL.md": "---\nname: lint\ndescription: Lint the repository.\n---\n\nRun the linter.\n",
            # The Go tool's TestBuildWithPrebuiltSkillCard skill: no skill.yaml, no frontmatter.
            "prebuilt/SKILL.md": "You are a test skill.",
            ".hidden/ghost/SKILL.md": "---\nname: ghost\ndescription: Never packed.\n---\n",
        },
    )
    (work / "skills/pdf-tools/scripts/fill.sh").chmod(0o755)
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "first", cwd=work)
    git("tag", "v1", cwd=work)
    v1 = git("rev-parse", "HEAD", cwd=work)
    (work / "skills/pdf-tools/SKILL.md").write_text(
        "---\nname: pdf-tools\ndescription: Fill and merge PDF forms.\nmetadata:\n  version: '2.2'\n---\n\nMore.\n"
    )
    git("commit", "-q", "-am", "second", cwd=work)
    url = publish(work, peers.git, "acme/skills.git")
    return {"url": url, "v1": v1, "head": git("rev-parse", "HEAD", cwd=work), "work": str(work)}


def built(peers: Peers, *args: str) -> tuple[dict[str, str], dict[str, str]]:
    """Build with both tools (Go ``build``, ours ``pack``); the tags each store then has."""
    peers.go.ok("build", *args)
    peers.ours.ok("pack", *args)
    return peers.go.refs(), peers.ours.refs()


def same_metadata(peers: Peers, ref: str) -> dict:
    ours, go = manifest(peers.ours, ref), manifest(peers.go, ref)
    for key in COMPARED:
        assert ours.get("annotations", {}).get(key) == go.get("annotations", {}).get(key), (ref, key)
    return ours["annotations"]


@pytest.mark.parametrize(
    ("form", "flags", "expected"),
    [
        ("clone-url", [], ["acme/docx:0.1.0-draft", "acme/lint:1.0.0-draft", "acme/pdf-tools:2.2.0-draft",
                           "acme/prebuilt:0.1.0-draft"]),
        ("tree-url", [], ["acme/docx:0.1.0-draft", "acme/pdf-tools:2.1.0-draft"]),
        ("clone-url", ["--ref", "v1", "--filter", "p*"], ["acme/pdf-tools:2.1.0-draft", "acme/prebuilt:0.1.0-draft"]),
    ],
    ids=["every-skill", "ref-and-path-in-url", "ref-and-filter"],
)  # fmt: skip
def test_build_from_git_gives_the_same_images_as_the_go_tool(peers, repo, form, flags, expected):
    url = repo["url"] if form == "clone-url" else repo["url"].removesuffix(".git") + "/-/tree/v1/skills"
    go_refs, our_refs = built(peers, url, *flags)
    assert sorted(go_refs) == sorted(our_refs) == expected
    commit = repo["v1"] if "v1" in (url + " ".join(flags)) else repo["head"]
    for ref in expected:
        annotations = same_metadata(peers, ref)
        assert annotations[SOURCE] == repo["url"] and annotations[REVISION] == commit
    assert "ghost" not in json.dumps(sorted(our_refs))


def test_images_built_from_git_install_across_the_tools(peers, repo):
    """Go's image of a SKILL.md-only skill installs with ours, and ours with Go, with the same files."""
    reg = peers.registry
    peers.go.ok("build", repo["url"], "--filter", "pdf-tools")
    peers.ours.ok("build", repo["url"], "--filter", "pdf-tools")  # the Go tool's command name works here too
    go_ref, our_ref = f"{reg.repo('pdf-tools')}:2.2.0-draft", f"{reg.repo('pdf-tools')}:2.2.0-draft"
    peers.go.ok("tag", "acme/pdf-tools:2.2.0-draft", go_ref)
    peers.go.ok("push", go_ref)
    peers.ours.ok("push", "acme/pdf-tools:2.2.0-draft", our_ref)
    source = Path(repo["work"]) / "skills/pdf-tools"
    for writer_ref, reader in ((go_ref, peers.ours), (our_ref, peers.go)):
        out = peers.tmp / f"{reader.name}-installs"
        reader.ok("install", writer_ref, "-o", out)
        assert files(out / "pdf-tools") == files(source), reader.name
    # Exec bits: ours keeps them, from either tool's image; the Go tool drops every one on unpack (as it does).
    assert (peers.tmp / "ours-installs/pdf-tools/scripts/fill.sh").stat().st_mode & 0o777 == 0o755
    assert (peers.tmp / "go-installs/pdf-tools/scripts/fill.sh").stat().st_mode & 0o777 == 0o644


def commit_time(work: str, ref: str = "HEAD") -> str:
    epoch = int(git("log", "-1", "--format=%ct", ref, cwd=Path(work)))
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_images_are_dated_by_their_commit_and_the_go_tool_shows_the_date(peers, repo):
    # Packed twice into two stores from the same commit: the same digest, dated by the commit.
    first = json.loads(peers.ours.ok("pack", repo["url"], "--filter", "docx", "--format", "json"))
    again = json.loads(
        peers.ours.ok(
            "--store", peers.tmp / "second-store", "pack", repo["url"], "--filter", "docx", "--format", "json"
        )
    )
    assert first["skills"][0]["digest"] == again["skills"][0]["digest"]
    assert manifest(peers.ours, "acme/docx:0.1.0-draft")["annotations"][CREATED] == commit_time(repo["work"])

    # A clean checkout is dated by its HEAD commit too; the Go tool's list shows the date.
    checkout = peers.tmp / "checkout"
    git("clone", "-q", repo["url"], checkout, cwd=peers.tmp, ca=peers.ca)
    peers.ours.ok("pack", checkout / "tools/lint")
    ref = f"{peers.registry.repo('lint')}:1.0.0-draft"
    peers.ours.ok("push", "acme/lint:1.0.0-draft", ref)
    peers.go.ok("pull", ref)
    rows = table(peers.go.ok("list", "--no-trunc"))
    assert [r["CREATED"] for r in rows if r["TAG"] == "1.0.0-draft"] == [commit_time(repo["work"])]

    # A changed file: no honest date from Git, so none (never the wall clock).
    (checkout / "tools/lint/SKILL.md").write_text("---\nname: lint\ndescription: Changed.\n---\n")
    peers.ours.ok("pack", checkout / "tools/lint")
    assert CREATED not in manifest(peers.ours, "acme/lint:1.0.0-draft")["annotations"]

    # The other way: the Go tool dates its images by the wall clock; ours reads and shows that date.
    peers.go.ok("build", checkout / "tools/lint")
    go_created = manifest(peers.go, "acme/lint:1.0.0-draft")["annotations"][CREATED]
    go_ref = f"{peers.registry.repo('lint')}:1.0.0-draft"
    peers.go.ok("tag", "acme/lint:1.0.0-draft", go_ref)
    peers.go.ok("push", go_ref)
    inspected = json.loads(peers.ours.ok("inspect", go_ref, "--format", "json"))
    assert inspected["annotations"][CREATED] == go_created


def test_red_hat_media_types_both_ways(peers):
    """The Go tool's --media-type redhat images pull and install with ours, and ours' with it."""
    reg = peers.registry
    skill = peers.tmp / "hello-world"
    shutil.copytree(EXAMPLES / "hello-world", skill)
    peers.go.ok("build", skill, "--media-type", "redhat")
    peers.ours.ok("pack", skill, "--media-type", "RedHat ")  # trimmed, any case, as the Go tool reads it
    refs = {"go": f"{reg.repo('hello-world')}:1.0.0-draft", "ours": f"{reg.repo('hello-world')}:1.0.0-draft"}
    peers.go.ok("tag", "examples/hello-world:1.0.0-draft", refs["go"])
    peers.go.ok("push", refs["go"])
    peers.ours.ok("push", "examples/hello-world:1.0.0-draft", refs["ours"])
    for writer, ref in refs.items():
        pushed = reg.manifest_json(ref)
        assert pushed["mediaType"] == "application/vnd.oci.image.manifest.v1+json", writer
        assert (pushed["config"]["mediaType"], pushed["layers"][0]["mediaType"]) == (REDHAT_CONFIG, REDHAT_LAYER)
    for writer, reader in (("go", peers.ours), ("ours", peers.go)):
        pulled, installed = peers.tmp / f"{reader.name}-pulled", peers.tmp / f"{reader.name}-installed"
        reader.ok("pull", refs[writer], "-o", pulled)
        reader.ok("install", refs[writer], "-o", installed)
        assert files(pulled / "hello-world") == files(skill), f"{reader.name} pulling {writer}'s image"
        assert files(installed / "hello-world") == files(skill), f"{reader.name} installing {writer}'s image"
    bad = peers.ours("pack", skill, "--media-type", "bogus")
    assert bad.returncode == 2 and "unknown media type profile 'bogus' (valid: standard, redhat)" in bad.stderr
