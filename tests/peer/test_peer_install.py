"""Installs and collections, side by side with the Go skillctl: either tool lists, upgrades and
re-installs what the other installed, and resolves collection entries the same way."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import EXAMPLES
from gitserver import git, publish
from peerkit import Peers, files, table

pytestmark = pytest.mark.peer

NAME = "hello-world"


@dataclass
class Released:
    repo: str  # HOST/ns/hello-world
    sources: dict[str, Path]
    digests: dict[str, str]

    def ref(self, tag: str) -> str:
        return f"{self.repo}:{tag}"


def release(peers: Peers, repo: str, version: str, name: str = NAME) -> Path:
    """Pack ``name`` at ``version`` with ours, push it as a draft and promote it to published on the registry."""
    src = peers.tmp / "src" / f"{name}-{version}"
    shutil.copytree(EXAMPLES / "hello-world", src)
    card = (src / "skill.yaml").read_text().replace("version: 1.0.0", f"version: {version}")
    (src / "skill.yaml").write_text(card.replace("name: hello-world", f"name: {name}"))
    skill_md = (src / "SKILL.md").read_text().replace("name: hello-world", f"name: {name}")
    (src / "SKILL.md").write_text(skill_md + f"\nVersion {version}.\n")
    peers.ours.ok("pack", src)
    peers.ours.ok("push", f"examples/{name}:{version}-draft", f"{repo}:{version}-draft")
    peers.ours.ok("promote", f"{repo}:{version}-draft", "--to", "testing")
    peers.ours.ok("promote", f"{repo}:{version}-testing", "--to", "published")
    return src


@pytest.fixture
def released(peers: Peers) -> Released:
    """hello-world 1.0.0 and 1.1.0, published (tags 1.0.0, 1.1.0, latest, and the lifecycle tags)."""
    repo = peers.registry.repo(NAME)
    sources = {v: release(peers, repo, v) for v in ("1.0.0", "1.1.0")}
    digests = {v: peers.registry.digest(f"{repo}:{v}") for v in sources}
    return Released(repo, sources, digests)  # type: ignore[arg-type]


def go_installed(peers: Peers, out: Path) -> list[dict[str, str]]:
    return table(peers.go.ok("list", "--installed", "-o", out))


def our_installed(peers: Peers, out: Path) -> list[dict]:
    return json.loads(peers.ours.ok("list", "--installed", "-o", out, "--format", "json"))


# -- receipts both ways ---------------------------------------------------------------------------


def test_the_go_tool_lists_and_upgrades_what_ours_installed(peers, released):
    out = peers.tmp / "skills"
    peers.ours.ok("install", released.ref("1.0.0"), "-o", out)
    (row,) = go_installed(peers, out)
    assert (row["NAME"], row["VERSION"], row["SOURCE"]) == (NAME, "1.0.0", released.ref("1.0.0"))
    (candidate,) = table(peers.go.ok("list", "--installed", "--upgradable", "-o", out))
    assert (candidate["VERSION"], candidate["LATEST"]) == ("1.0.0", "1.1.0")

    upgraded = peers.go.ok("upgrade", NAME, "-o", out)
    assert f"Upgraded {NAME} 1.0.0 → 1.1.0" in upgraded
    # Ours now reports what the Go tool installed over it, not its own older receipt.
    (mine,) = our_installed(peers, out)
    assert (mine["version"], mine["source"], mine["digest"]) == (
        "1.1.0",
        released.ref("1.1.0"),
        released.digests["1.1.0"],
    )
    assert "All skills are up to date." in peers.ours.ok("upgrade", "--all", "-o", out)
    assert files(out / NAME) == files(released.sources["1.1.0"])


def test_ours_upgrades_what_the_go_tool_installed_and_the_source_stays_visible_to_it(peers, released):
    out = peers.tmp / "skills"
    peers.go.ok("install", released.ref("1.0.0"), "-o", out)
    (mine,) = our_installed(peers, out)
    assert (mine["version"], mine["source"]) == ("1.0.0", released.ref("1.0.0"))

    upgraded = peers.ours.ok("upgrade", NAME, "-o", out)
    assert "1.0.0 -> 1.1.0" in upgraded
    (row,) = go_installed(peers, out)
    assert (row["VERSION"], row["SOURCE"]) == ("1.1.0", released.ref("1.1.0"))  # not "(local)"
    assert "All skills are up to date." in peers.go.ok("upgrade", "--all", "-o", out)
    assert "All installed skills are up to date." in peers.go.ok("list", "--installed", "--upgradable", "-o", out)
    assert files(out / NAME) == files(released.sources["1.1.0"])


def test_a_draft_installed_by_either_tool_is_upgraded_to_the_release_by_the_other(peers, released):
    """The Go tool records the tag (1.0.0-draft) as the version; by semver the release 1.0.0 is newer."""
    for installer, upgrader in peers.both():
        out = peers.tmp / f"{installer.name}-draft"
        installer.ok("install", released.ref("1.0.0-draft"), "-o", out)
        if upgrader is peers.go:
            assert go_installed(peers, out)[0]["VERSION"] == "1.0.0-draft"
        upgrader.ok("upgrade", NAME, "-o", out)
        assert go_installed(peers, out)[0]["VERSION"] == "1.1.0", (installer.name, upgrader.name)
        assert our_installed(peers, out)[0]["version"] == "1.1.0", (installer.name, upgrader.name)


# -- collections --------------------------------------------------------------------------------------


def collection(path: Path, *entries: str, name: str = "ops") -> Path:
    body = "".join(f"  - {e}\n" for e in entries)
    path.write_text(
        f"apiVersion: skillimage.io/v1alpha1\nkind: SkillCollection\nmetadata:\n  name: {name}\n"
        f"  version: 1.0.0\nskills:\n{body}"
    )
    return path


def test_collection_entries_without_name_are_refused_on_push_as_the_go_tool_refuses_them(peers, released):
    unnamed = collection(peers.tmp / "unnamed.yaml", f"image: {released.ref('1.0.0')}")
    go_refusal = peers.go("collection", "install", "-f", unnamed, "-o", peers.tmp / "go-out")
    assert go_refusal.returncode != 0 and "skills[0].name is required for image entries" in go_refusal.stderr
    coll_ref = f"{peers.registry.repo('ops')}:1.0.0"
    refused = peers.ours("collection", "push", coll_ref, "-f", unnamed)
    assert refused.returncode == 3 and "without name:" in refused.stderr
    assert peers.registry.tags(coll_ref.rsplit(":", 1)[0]) == []

    named = collection(peers.tmp / "named.yaml", f"name: {NAME}\n    image: {released.ref('1.0.0')}")
    peers.ours.ok("collection", "push", coll_ref, "-f", named)
    pulled = peers.go.ok("collection", "pull", coll_ref, "-o", peers.tmp / "go-pulled")
    assert "Pulled collection ops (1 skills)" in pulled
    assert files(peers.tmp / "go-pulled" / NAME) == files(released.sources["1.0.0"])
    peers.go.ok("collection", "install", "-f", named, "-o", peers.tmp / "go-installed")


def test_images_without_a_registry_host_are_local_images_in_both_tools(peers, released):
    """The Go tool accepts them; ours installs them from its store instead of refusing the file."""
    peers.ours.ok("pack", released.sources["1.1.0"])  # examples/hello-world:1.1.0-draft, local only
    coll = collection(peers.tmp / "local.yaml", f"name: {NAME}\n    image: examples/{NAME}:1.1.0-draft")
    result = json.loads(peers.ours.ok("collection", "install", "-f", coll, "-o", peers.tmp / "out", "--format", "json"))
    assert [(o["name"], o["status"]) for o in result["outcomes"]] == [(NAME, "installed")]
    # The Go tool pushes such a collection unchecked; ours reads it back without refusing it.
    coll_ref = f"{peers.registry.repo('local-coll')}:1.0.0"
    peers.go.ok("collection", "push", coll_ref, "-f", coll)
    listed = json.loads(peers.ours.ok("collection", "pull", coll_ref, "--format", "json"))
    assert listed["skills"] == [{"name": NAME, "image": f"examples/{NAME}:1.1.0-draft"}]


@pytest.fixture
def skill_repos(peers: Peers) -> dict[str, str]:
    """acme/hello (one skill at the repository root, SKILL.md only) and acme/skills (skills/pdf-tools)."""
    urls = {}
    for repo, rel in (("hello", "."), ("skills", "skills/pdf-tools")):
        work = peers.tmp / f"work-{repo}"
        skill = work / rel
        skill.mkdir(parents=True)
        name = "hello-world" if repo == "hello" else "pdf-tools"
        (skill / "SKILL.md").write_text(f"---\nname: {name}\ndescription: The {name} skill.\n---\n\nDo it.\n")
        git("init", "-q", "-b", "main", cwd=work)
        git("add", ".", cwd=work)
        git("commit", "-q", "-m", "first", cwd=work)
        urls[repo] = publish(work, peers.git, f"acme/{repo}.git")
    return urls


def test_a_git_source_installs_under_the_name_of_the_skill_it_holds(peers, skill_repos):
    coll = collection(peers.tmp / "git.yaml", f"source: {skill_repos['hello']}")  # a plain clone URL
    for tool in (peers.go, peers.ours):
        out = peers.tmp / f"{tool.name}-out"
        tool.ok("collection", "install", "-f", coll, "-o", out)
        assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["hello-world"], tool.name


def test_collection_install_over_the_other_tools_directory_is_up_to_date(peers, released, skill_repos):
    pdf_url = skill_repos["skills"].removesuffix(".git") + "/-/tree/main/skills/pdf-tools"
    coll = collection(
        peers.tmp / "mixed.yaml",
        f"name: {NAME}\n    image: {released.ref('1.1.0')}",
        f"source: {pdf_url}",
    )
    for first, second in peers.both():
        out = peers.tmp / f"{first.name}-first"
        first.ok("collection", "install", "-f", coll, "-o", out)
        if second is peers.ours:
            report = json.loads(second.ok("collection", "install", "-f", coll, "-o", out, "--format", "json"))
            assert [(o["name"], o["status"]) for o in report["outcomes"]] == [
                (NAME, "up-to-date"),
                ("pdf-tools", "up-to-date"),
            ]
        else:
            assert "Installed 0 skills, 2 up to date" in second.ok("collection", "install", "-f", coll, "-o", out)
        # --force reinstalls; both tools then still agree the skills are there.
        second.ok("collection", "install", "-f", coll, "-o", out, "--force")
        assert sorted(r["NAME"] for r in go_installed(peers, out)) == [NAME, "pdf-tools"]


def test_collection_install_from_a_file_in_git_at_a_ref(peers, released):
    work = peers.tmp / "work-colls"
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    collection(work / "collection.yaml", f"name: {NAME}\n    image: {released.ref('1.0.0')}")
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "v1", cwd=work)
    git("tag", "v1", cwd=work)
    collection(work / "collection.yaml", f"name: {NAME}\n    image: {released.ref('1.1.0')}")
    git("commit", "-q", "-am", "v2", cwd=work)
    url = publish(work, peers.git, "acme/colls.git").removesuffix(".git") + "/-/tree/main/collection.yaml"
    for tool in (peers.go, peers.ours):
        out = peers.tmp / f"{tool.name}-colls"
        tool.ok("collection", "install", url, "--ref", "v1", "-o", out)
        assert go_installed(peers, out)[0]["VERSION"] == "1.0.0", tool.name
        assert files(out / NAME) == files(released.sources["1.0.0"]), tool.name
        latest = peers.tmp / f"{tool.name}-colls-main"
        tool.ok("collection", "install", url, "-o", latest)
        assert go_installed(peers, latest)[0]["VERSION"] == "1.1.0", tool.name
    not_a_file = peers.ours("collection", "install", url.rsplit("/", 1)[0], "-o", peers.tmp / "x")
    assert not_a_file.returncode == 2 and "must point to a collection file" in not_a_file.stderr
