"""Consuming skills: install, re-install, upgrade, list --installed and uninstall against a real registry.

Every test runs under the isolated HOME of tests/conftest.py; registry content is published once per
module (pack, push, then ``skillctl.lifecycle.promote.promote`` through the lifecycle on the real registry):

* ``hello-world``: 1.0.0, 1.2.0 and 1.10.0 published, 1.11.0 deprecated, 2.0.0 testing (so the newest
  published release by semver is 1.10.0: not 1.2.0 by string order, not the deprecated 1.11.0, not the
  unreleased 2.0.0);
* ``other-skill``: 0.9.0 archived (digest only), 1.0.0 and 1.1.0 published.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result
from helpers import make_skill
from registry import Registry

from skillctl import Store, pack
from skillctl.backends.base import RegistryOptions
from skillctl.card.skillcard import validate_card_data
from skillctl.cli.app import cli
from skillctl.consume.install import (
    Destination,
    check_upgrades,
    destinations,
    install,
    list_installed,
    newest_published,
    read_receipt,
    uninstall,
)
from skillctl.core.errors import ExitCode, LifecycleError, NotFoundError, UsageError
from skillctl.lifecycle.promote import promote
from skillctl.registry.transfer import pull, push

pytestmark = pytest.mark.integration

OPTS = RegistryOptions(tls_verify=False, timeout=120)
NO_TLS = "--tls-verify=false"
NAME = "hello-world"
LIFECYCLE = ("draft", "testing", "published", "deprecated", "archived")

# Where each agent's skills live: (under the isolated HOME, under the working directory with --scope project).
AGENT_DIRS = {
    "claude": (".claude/skills", ".claude/skills"),
    "cursor": (".cursor/skills", ".cursor/skills"),
    "windsurf": (".codeium/windsurf/skills", ".windsurf/skills"),
    "opencode": (".config/opencode/skills", ".opencode/skills"),
    "openclaw": (".openclaw/skills", ".openclaw/skills"),
    "agents": (".agents/skills", ".agents/skills"),
}


# -- helpers -------------------------------------------------------------------------------------


def skillctl(store_path: Path, *args: object) -> Result:
    """``skillctl --store STORE ARGS...`` in-process; unexpected exceptions propagate."""
    argv = ["--store", str(store_path), *(str(a) for a in args)]
    return CliRunner().invoke(cli, argv, catch_exceptions=False, prog_name="skillctl")


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def failed(result: Result, code: int, *fragments: str) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)
    return result.stderr


def files_of(root: Path) -> dict[str, object]:
    """Every regular file under ``root`` (relative posix path -> bytes); links and odd entries fail.

    skill.yaml is compared as a SkillCard without ``provenance`` and with the version of the image
    (not the tag, ``1.0.0-draft``): install records there what the Go skillctl reads (checked on its
    own in test_receipt_and_files_are_exact).
    """
    out: dict[str, object] = {}
    for path in sorted(root.rglob("*")):
        assert not path.is_symlink(), path
        if path.is_file():
            rel = path.relative_to(root).as_posix()
            out[rel] = path.read_bytes()
            if rel == "skill.yaml":
                card = yaml.safe_load(path.read_bytes())
                card.pop("provenance", None)
                card["metadata"]["version"] = str(card["metadata"]["version"]).removesuffix("-draft")
                out[rel] = card
        else:
            assert path.is_dir(), path
    return out


def modes_of(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): stat.S_IMODE(p.lstat().st_mode) for p in root.rglob("*")}


def receipt_json(root: Path, name: str = NAME) -> dict:
    return json.loads((root / ".skillimage" / "receipts" / f"{name}.json").read_text())


def temp_leftovers(root: Path, name: str = NAME) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith(f".{name}.")) if root.is_dir() else []


def warnings_in(stderr: str, word: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning:") and word in line]


def installed_json(store_path: Path, *args: object) -> list[dict]:
    result = ok(skillctl(store_path, "list", "--installed", *args, "--format", "json"))
    return json.loads(result.stdout)


# -- published content ------------------------------------------------------------------------


@dataclass
class Released:
    """What the module published: repositories, source directories and digests per version."""

    repo: str
    other: str
    sources: dict[str, Path] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)
    other_sources: dict[str, Path] = field(default_factory=dict)
    archived: str = ""

    def ref(self, version: str) -> str:
        return f"{self.repo}:{version}"


def _skill_files(version: str) -> dict[str, str | bytes]:
    files: dict[str, str | bytes] = {
        "scripts/run.sh": f"#!/bin/sh\necho hello from {version}\n",
        "data/nonce.txt": secrets.token_hex(16) + "\n",
        # Bytes that a text rewrite would change: CRLF, no final newline, not UTF-8.
        "data/blob.bin": b"\x00\xff\xfe\r\n" + os.urandom(64) + b"\r\nend",
        "references/notes.md": f"# Notes for {version}\n\nTrailing spaces   \n\n\n",
    }
    if version in ("0.9.0", "1.0.0"):
        files["old-only.txt"] = "only in the old versions\n"
    else:
        files["new-only.txt"] = "only in the new versions\n"
    return files


def _write_source(root: Path, name: str, version: str) -> Path:
    skill = make_skill(root / version / name, name, version=version, files=_skill_files(version))
    (skill / "scripts" / "run.sh").chmod(0o755)
    return skill


def _publish(store: Store, repo: str, source: Path, version: str, state: str) -> str:
    """Pack, push as ``<version>-draft``, then promote step by step to ``state``; the final manifest digest."""
    pack(source, store=store, tag=f"{repo}:{version}-draft")
    current = f"{repo}:{version}-draft"
    digest = push(current, store=store, opts=OPTS).digest
    for step in LIFECYCLE[1 : LIFECYCLE.index(state) + 1]:
        result = promote(current, step, store=store, opts=OPTS)
        assert result.state == step, result
        digest = result.digest
        names = {"testing": f"{repo}:{version}-testing", "archived": f"{repo}@{digest}"}
        current = names.get(step, f"{repo}:{version}")
    return digest


@pytest.fixture(scope="module")
def released(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Released]:
    root = tmp_path_factory.mktemp("released")
    with pytest.MonkeyPatch.context() as mp:  # the publishing tools see a private HOME too
        home = root / "home"
        home.mkdir()
        mp.setenv("HOME", str(home))
        for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR", "REGISTRY_AUTH_FILE", "DOCKER_CONFIG"):
            mp.delenv(var, raising=False)
        rel = Released(registry.repo(NAME), registry.repo("other-skill"))

        def publish_other() -> None:
            other_store = Store(root / "other-store")
            for version, state in (("0.9.0", "archived"), ("1.0.0", "published"), ("1.1.0", "published")):
                rel.other_sources[version] = _write_source(root / "other", "other-skill", version)
                digest = _publish(other_store, rel.other, rel.other_sources[version], version, state)
                rel.archived = rel.archived or digest

        with ThreadPoolExecutor(max_workers=1) as pool:  # the two repositories side by side
            other = pool.submit(publish_other)
            store = Store(root / "publisher-store")
            # Versions with the most promotions first, while the repository has few tags to scan.
            for version, state in (
                ("1.11.0", "deprecated"),
                ("1.0.0", "published"),
                ("1.2.0", "published"),
                ("1.10.0", "published"),
                ("2.0.0", "testing"),
            ):
                rel.sources[version] = _write_source(root / "src", NAME, version)
                rel.digests[version] = _publish(store, rel.repo, rel.sources[version], version, state)
            other.result()
        # The states really are what the tests rely on.
        tags = set(registry.tags(rel.repo))
        assert {"1.0.0", "1.2.0", "1.10.0", "1.11.0", "2.0.0-testing"} <= tags
        assert "2.0.0" not in tags
        assert "0.9.0" not in registry.tags(rel.other)
        status = "io.skillimage.status"
        assert registry.manifest_json(rel.ref("1.11.0"))["annotations"][status] == "deprecated"
        assert registry.manifest_json(rel.ref("1.10.0"))["annotations"][status] == "published"
        assert registry.manifest_json(f"{rel.other}@{rel.archived}")["annotations"][status] == "archived"
        yield rel


# -- where skills go ------------------------------------------------------------------------------


@pytest.mark.parametrize("agent", sorted(AGENT_DIRS))
def test_destinations_are_the_agents_directories(agent: str, isolated_env: Path, tmp_path: Path, monkeypatch) -> None:
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    user_dir, project_dir = AGENT_DIRS[agent]
    assert destinations(agent, None) == [Destination(isolated_env / user_dir, agent)]
    assert destinations(agent.upper(), None, scope="user") == [Destination(isolated_env / user_dir, agent)]
    assert destinations(agent, None, scope="project") == [Destination(project / project_dir, agent)]
    assert destinations(None, tmp_path / "mine") == [Destination(tmp_path / "mine", str(tmp_path / "mine"))]
    everywhere = destinations(None, None, require=False)
    assert Destination(isolated_env / user_dir, agent) in everywhere
    assert len(everywhere) == len(AGENT_DIRS)


def test_destination_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not both"):
        destinations("claude", tmp_path)
    with pytest.raises(UsageError):
        destinations(None, None)
    with pytest.raises(UsageError, match="unknown target"):
        destinations("emacs", None)


@pytest.mark.parametrize("scope", ["user", "project"])
@pytest.mark.parametrize("agent", sorted(AGENT_DIRS))
def test_round_trip_per_agent_and_scope(
    agent: str, scope: str, released: Released, isolated_env: Path, store_path: Path, tmp_path: Path, monkeypatch
) -> None:
    """install, re-install, upgrade, uninstall through the CLI, in the agent's exact directory."""
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    user_dir, project_dir = AGENT_DIRS[agent]
    skills_dir = isolated_env / user_dir if scope == "user" else project / project_dir
    other_scope = project / project_dir if scope == "user" else isolated_env / user_dir
    where = ["--target", agent, "--scope", scope]
    skill = skills_dir / NAME

    result = ok(skillctl(store_path, "install", released.ref("1.0.0"), *where, NO_TLS))
    assert str(skill) in result.stdout
    assert files_of(skill) == files_of(released.sources["1.0.0"])
    assert receipt_json(skills_dir)["version"] == "1.0.0"
    assert not other_scope.exists(), f"{scope} install wrote into {other_scope}"

    (skill / "stray.txt").write_text("added after install\n")
    result = ok(skillctl(store_path, "install", released.ref("1.0.0"), *where, NO_TLS))
    assert "replaced 1.0.0" in result.stdout
    assert files_of(skill) == files_of(released.sources["1.0.0"])

    rows = installed_json(store_path, *where, "--offline")
    assert [(r["name"], r["version"], r["source"], r["target"], r["path"]) for r in rows] == [
        (NAME, "1.0.0", released.ref("1.0.0"), agent, str(skill))
    ]
    everywhere = installed_json(store_path, "--scope", scope, "--offline")  # no --target: every agent's directory
    assert [(r["name"], r["target"], r["path"]) for r in everywhere] == [(NAME, agent, str(skill))]

    result = ok(skillctl(store_path, "upgrade", NAME, *where, NO_TLS))
    assert "1.0.0 -> 1.10.0" in result.stdout
    assert files_of(skill) == files_of(released.sources["1.10.0"])
    assert not (skill / "old-only.txt").exists()
    assert receipt_json(skills_dir)["version"] == "1.10.0"

    result = ok(skillctl(store_path, "uninstall", NAME, *where))
    assert not skill.exists()
    assert not (skills_dir / ".skillimage" / "receipts" / f"{NAME}.json").exists()
    assert installed_json(store_path, *where, "--offline") == []
    assert temp_leftovers(skills_dir) == []
    assert not other_scope.exists()


# -- what an install writes ----------------------------------------------------------------------


def test_receipt_and_files_are_exact(released: Released, store_path: Path, tmp_path: Path, registry: Registry) -> None:
    out = tmp_path / "skills"
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    result = ok(skillctl(store_path, "install", released.ref("1.0.0"), "-o", out, NO_TLS, "--format", "json"))
    after = dt.datetime.now(dt.UTC)
    report = json.loads(result.stdout)
    skill = out / NAME
    source = released.sources["1.0.0"]

    # The packaged files, byte for byte, but skill.yaml: it records the install as the Go skillctl does,
    # so that tool lists and upgrades it too (its only record of an install).
    assert files_of(skill) == files_of(source)
    card = yaml.safe_load((skill / "skill.yaml").read_bytes())
    assert card["provenance"] == {"source": released.ref("1.0.0"), "commit": report["digest"]}
    assert card["metadata"] == yaml.safe_load((source / "skill.yaml").read_bytes())["metadata"]
    modes = modes_of(skill)
    assert modes["scripts/run.sh"] == 0o755
    assert modes["SKILL.md"] == modes["data/blob.bin"] == modes["skill.yaml"] == 0o644
    assert modes["scripts"] == modes["data"] == 0o755

    # The receipt lives outside the skill's own files.
    assert sorted(p.name for p in out.iterdir()) == [".skillimage", NAME]
    receipt = receipt_json(out)
    registry_digest = registry.digest(released.ref("1.0.0"))
    assert registry_digest == released.digests["1.0.0"]
    assert receipt["name"] == NAME
    assert receipt["source"] == released.ref("1.0.0")
    assert receipt["digest"] == registry_digest
    assert receipt["version"] == "1.0.0"
    assert receipt["state"] == "published"
    when = dt.datetime.strptime(receipt["installedAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    assert before <= when <= after
    assert report["digest"] == registry_digest and report["path"] == str(skill) and report["replacedVersion"] is None

    got = read_receipt(out, NAME)
    assert got is not None and (got.source, got.digest, got.version) == (
        released.ref("1.0.0"),
        registry_digest,
        "1.0.0",
    )


def test_reinstall_replaces_every_file(released: Released, store: Store, store_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "skills"
    dest = destinations(None, out)[0]
    skill = out / NAME
    first = install(released.ref("1.0.0"), dest, store=store, opts=OPTS)
    assert first.replaced is None and first.version == "1.0.0"

    # Local edits and additions do not survive a re-install of the same version.
    (skill / "SKILL.md").write_text("edited by hand\n")
    (skill / "extra").mkdir()
    (skill / "extra" / "stray.txt").write_text("stray\n")
    (skill / "scripts" / "run.sh").chmod(0o644)
    again = install(released.ref("1.0.0"), dest, store=store, opts=OPTS)
    assert again.replaced == "1.0.0"
    assert files_of(skill) == files_of(released.sources["1.0.0"])
    assert modes_of(skill)["scripts/run.sh"] == 0o755

    # A file of the old version that the new one lacks is gone, and back again on downgrade.
    result = ok(skillctl(store_path, "install", released.ref("1.10.0"), "-o", out, NO_TLS))
    assert "replaced 1.0.0" in result.stdout
    assert files_of(skill) == files_of(released.sources["1.10.0"])
    assert not (skill / "old-only.txt").exists()
    ok(skillctl(store_path, "install", released.ref("1.2.0"), "-o", out, NO_TLS))
    assert files_of(skill) == files_of(released.sources["1.2.0"])
    install(released.ref("1.0.0"), dest, store=store, opts=OPTS)
    assert files_of(skill) == files_of(released.sources["1.0.0"])
    assert not (skill / "new-only.txt").exists()
    assert receipt_json(out)["version"] == "1.0.0"
    assert temp_leftovers(out) == []


def test_install_from_the_local_store_without_a_registry(store: Store, store_path: Path, tmp_path: Path) -> None:
    source = _write_source(tmp_path / "src", NAME, "3.1.0")
    ref = pack(source, store=store).ref
    assert ref == f"test/{NAME}:3.1.0-draft"
    out = tmp_path / "skills"
    result = ok(skillctl(store_path, "install", ref, "-o", out))
    assert "Installed" in result.stdout
    assert files_of(out / NAME) == files_of(source)
    receipt = receipt_json(out)
    assert (receipt["source"], receipt["version"], receipt["state"]) == (ref, "3.1.0", "draft")
    assert receipt["digest"] == store.resolve(ref).digest


# -- skills installed by the Go tool --------------------------------------------------------------

GO_CARD = """\
apiVersion: skillimage.io/v1alpha1
kind: SkillCard
metadata:
  name: {name}
  namespace: test
  version: {version}
  description: Installed by the Go skillctl.
spec:
  prompt: SKILL.md
provenance:
  source: {source}
  commit: {commit}
"""


def _go_installed(root: Path, name: str, version: str, source: str, commit: str) -> Path:
    """A skill directory as the Go skillctl leaves it: provenance inside skill.yaml, no receipt."""
    skill = root / name
    skill.mkdir(parents=True)
    (skill / "skill.yaml").write_text(GO_CARD.format(name=name, version=version, source=source, commit=commit))
    (skill / "SKILL.md").write_text(f"---\nname: {name}\ndescription: Go-installed.\n---\n\n# {name}\n")
    (skill / "go-era-file.txt").write_text("left by the Go tool\n")
    return skill


def test_go_tool_install_is_recognised_and_upgraded(released: Released, store_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "skills"
    source = released.ref("1.0.0")
    _go_installed(out, NAME, "1.0.0", source, released.digests["1.0.0"])
    local = out / "my-local-skill"
    local.mkdir()
    (local / "SKILL.md").write_text("---\nname: my-local-skill\ndescription: Mine.\n---\n")
    assert not (out / ".skillimage").exists()

    receipt = read_receipt(out, NAME)
    assert receipt is not None
    assert (receipt.source, receipt.digest, receipt.version) == (source, released.digests["1.0.0"], "1.0.0")

    rows = {r["name"]: r for r in installed_json(store_path, "-o", out, "--offline")}
    assert rows[NAME]["source"] == source and rows[NAME]["version"] == "1.0.0"
    assert rows[NAME]["digest"] == released.digests["1.0.0"]
    assert rows["my-local-skill"]["source"] == ""
    text = ok(skillctl(store_path, "list", "--installed", "-o", out, NO_TLS)).stdout
    line = next(line for line in text.splitlines() if line.startswith(NAME))
    assert source in line and "1.0.0" in line
    assert "(local)" in next(line for line in text.splitlines() if line.startswith("my-local-skill"))

    upgradable = installed_json(store_path, "-o", out, "--upgradable", NO_TLS)
    assert [(r["name"], r["latest"], r["latestRef"]) for r in upgradable] == [(NAME, "1.10.0", released.ref("1.10.0"))]

    result = ok(skillctl(store_path, "upgrade", NAME, "-o", out, NO_TLS))
    assert "1.0.0 -> 1.10.0" in result.stdout
    assert files_of(out / NAME) == files_of(released.sources["1.10.0"])  # the Go-era file is gone
    receipt_now = receipt_json(out)
    assert (receipt_now["source"], receipt_now["version"]) == (released.ref("1.10.0"), "1.10.0")
    assert (local / "SKILL.md").is_file()  # a local skill is left alone


def test_go_tool_install_upgraded_with_all(released: Released, store_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "skills"
    _go_installed(out, NAME, "1.2.0", released.ref("1.2.0"), released.digests["1.2.0"])
    result = ok(skillctl(store_path, "upgrade", "--all", "-o", out, NO_TLS))
    assert "1.2.0 -> 1.10.0" in result.stdout
    assert files_of(out / NAME) == files_of(released.sources["1.10.0"])


def test_an_install_by_the_go_tool_over_ours_wins_over_our_receipt(
    released: Released, store_path: Path, tmp_path: Path
) -> None:
    """The Go tool rewrites skill.yaml's provenance when it installs over a skill; our stale receipt yields."""
    out = tmp_path / "skills"
    ok(skillctl(store_path, "install", released.ref("1.0.0"), "-o", out, NO_TLS))
    card = out / NAME / "skill.yaml"
    doc = yaml.safe_load(card.read_text())
    assert doc["provenance"] == {"source": released.ref("1.0.0"), "commit": released.digests["1.0.0"]}
    assert receipt_json(out)["digest"] == released.digests["1.0.0"]
    doc["provenance"] = {"source": released.ref("1.2.0"), "commit": released.digests["1.2.0"]}
    doc["metadata"]["version"] = "1.2.0"
    card.write_text(yaml.safe_dump(doc))  # what the Go tool's install or upgrade leaves
    (row,) = installed_json(store_path, "-o", out)
    assert (row["version"], row["source"], row["digest"]) == ("1.2.0", released.ref("1.2.0"), released.digests["1.2.0"])
    ok(skillctl(store_path, "install", released.ref("1.0.0"), "-o", out, NO_TLS))  # ours again: ours again
    (row,) = installed_json(store_path, "-o", out)
    assert (row["version"], row["digest"]) == ("1.0.0", released.digests["1.0.0"])


def test_the_go_record_of_an_install(released: Released, store: Store, store_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "skills"
    # A draft by its tag: the Go tool writes the tag as the version, and semver orders it before the release.
    ok(skillctl(store_path, "install", released.ref("1.2.0-draft"), "-o", out, NO_TLS))
    doc = yaml.safe_load((out / NAME / "skill.yaml").read_text())
    assert doc["metadata"]["version"] == "1.2.0-draft"
    # By digest: no tag, so the image's version and state.
    pinned = f"{released.repo}@{released.digests['1.2.0']}"
    ok(skillctl(store_path, "install", pinned, "-o", out, NO_TLS))
    doc = yaml.safe_load((out / NAME / "skill.yaml").read_text())
    assert (doc["metadata"]["version"], doc["provenance"]["source"]) == ("1.2.0", pinned)

    # An image without skill.yaml gets a minimal one, so the Go tool sees the install at all.
    bare = tmp_path / "bare"
    shutil.copytree(released.sources["1.0.0"], bare)
    (bare / "skill.yaml").rename(tmp_path / "card.yaml")
    raw = _image_without_card(store, bare, tmp_path / "card.yaml")
    ok(skillctl(store_path, "install", raw, "-o", out))
    doc = yaml.safe_load((out / NAME / "skill.yaml").read_text())
    assert doc["metadata"]["name"] == NAME and doc["provenance"]["source"] == raw
    assert validate_card_data(doc) == []

    # skill.yaml as a symlink: never written through; a warning says the Go tool will not see the source.
    linked = tmp_path / "linked"
    shutil.copytree(released.sources["1.0.0"], linked)
    (linked / "card.yaml").write_bytes((linked / "skill.yaml").read_bytes())
    (linked / "skill.yaml").unlink()
    (linked / "skill.yaml").symlink_to("card.yaml")
    ref = pack(linked, store=store).ref
    result = ok(skillctl(store_path, "install", ref, "-o", tmp_path / "linked-out"))
    assert "skill.yaml is a symlink" in result.stderr
    assert b"provenance" not in (tmp_path / "linked-out" / NAME / "card.yaml").read_bytes()


def _image_without_card(store: Store, skill: Path, card: Path) -> str:
    """Pack ``skill`` with ``card`` as its SkillCard, then drop skill.yaml from the layer: an image as others build."""
    from skillctl.core import oci
    from skillctl.image.layer import collect_entries, write_layer

    (skill / "skill.yaml").write_bytes(card.read_bytes())
    base = pack(skill, store=store)
    (skill / "skill.yaml").unlink()
    with store.writing():
        with store.new_blob() as blob:
            layer = write_layer(collect_entries(skill), blob)
            blob.commit()
        config = oci.build_config(layer.diff_id)
        config_desc = oci.Descriptor(oci.CONFIG_V1, store.put_blob(config), len(config))
        raw = oci.build_manifest(
            config_desc, [oci.Descriptor(oci.LAYER_TAR_GZIP, layer.digest, layer.size)], base.manifest.annotations
        )
        store.put_blob(raw)
        manifest = oci.Manifest.parse(raw)
        store.set_tag(f"other/{NAME}:1.0.0", manifest.descriptor, {})
    return f"other/{NAME}:1.0.0"


# -- choosing the newest published release ---------------------------------------------------------


def test_newest_published_is_by_semver_and_state(released: Released) -> None:
    assert newest_published(released.ref("1.0.0"), opts=OPTS) == ("1.10.0", released.ref("1.10.0"))
    assert newest_published(f"{released.other}:1.0.0", opts=OPTS) == ("1.1.0", f"{released.other}:1.1.0")
    assert newest_published(f"{released.other}@{released.archived}", opts=OPTS) == ("1.1.0", f"{released.other}:1.1.0")
    assert newest_published("test/hello-world:1.0.0", opts=OPTS) is None


def test_list_upgradable_and_upgrade_all(released: Released, store_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "skills"
    ok(skillctl(store_path, "install", released.ref("1.0.0"), "-o", out, NO_TLS))
    ok(skillctl(store_path, "install", f"{released.other}:1.0.0", "-o", out, NO_TLS))

    rows = installed_json(store_path, "-o", out, "--upgradable", NO_TLS)
    assert sorted((r["name"], r["version"], r["latest"], r["latestRef"]) for r in rows) == [
        (NAME, "1.0.0", "1.10.0", released.ref("1.10.0")),
        ("other-skill", "1.0.0", "1.1.0", f"{released.other}:1.1.0"),
    ]
    text = ok(skillctl(store_path, "list", "--installed", "-o", out, "--upgradable", NO_TLS)).stdout
    header, *lines = text.splitlines()
    assert header.split() == ["NAME", "VERSION", "STATE", "LATEST", "SOURCE", "TARGET"]
    hello = next(line.split() for line in lines if line.startswith(NAME))
    assert hello[:5] == [NAME, "1.0.0", "published", "1.10.0", released.ref("1.0.0")]  # SOURCE: what is installed
    assert "2.0.0" not in text and "1.11.0" not in text

    result = ok(skillctl(store_path, "upgrade", "--all", "-o", out, NO_TLS))
    assert f"Upgraded {NAME} 1.0.0 -> 1.10.0" in result.stdout
    assert "Upgraded other-skill 1.0.0 -> 1.1.0" in result.stdout
    assert files_of(out / NAME) == files_of(released.sources["1.10.0"])
    assert files_of(out / "other-skill") == files_of(released.other_sources["1.1.0"])
    assert receipt_json(out)["digest"] == released.digests["1.10.0"]
    assert receipt_json(out, "other-skill")["version"] == "1.1.0"

    assert installed_json(store_path, "-o", out, "--upgradable", NO_TLS) == []
    text = ok(skillctl(store_path, "list", "--installed", "-o", out, "--upgradable", NO_TLS)).stdout
    assert "All installed skills are up to date." in text
    assert "All skills are up to date." in ok(skillctl(store_path, "upgrade", "--all", "-o", out, NO_TLS)).stdout
    result = ok(skillctl(store_path, "upgrade", NAME, "-o", out, NO_TLS))
    assert "already at the newest published version" in result.stdout


def test_upgrade_one_leaves_the_others(released: Released, store: Store, store_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "skills"
    dest = destinations(None, out)[0]
    install(released.ref("1.2.0"), dest, store=store, opts=OPTS)
    install(f"{released.other}:1.0.0", dest, store=store, opts=OPTS)
    skills = list_installed([dest])
    assert [s.name for s in check_upgrades(skills, opts=OPTS)] == [NAME, "other-skill"]
    result = ok(skillctl(store_path, "upgrade", NAME, "-o", out, NO_TLS))
    assert "1.2.0 -> 1.10.0" in result.stdout and "other-skill" not in result.stdout
    assert receipt_json(out, "other-skill")["version"] == "1.0.0"
    assert receipt_json(out)["version"] == "1.10.0"
    failed(skillctl(store_path, "upgrade", "not-installed", "-o", out, NO_TLS), ExitCode.NOT_FOUND, "not-installed")


# -- lifecycle on the consuming side ----------------------------------------------------------------


def test_deprecated_version_warns_on_pull_and_install_and_is_flagged(
    released: Released, store_path: Path, tmp_path: Path
) -> None:
    ref = released.ref("1.11.0")
    result = ok(skillctl(store_path, "pull", ref, "-o", tmp_path / "pulled", NO_TLS))
    assert len(warnings_in(result.stderr, "deprecated")) == 1, result.stderr
    assert files_of(tmp_path / "pulled" / NAME) == files_of(released.sources["1.11.0"])

    out = tmp_path / "skills"
    result = ok(skillctl(store_path, "install", ref, "-o", out, NO_TLS))
    assert len(warnings_in(result.stderr, "deprecated")) == 1, result.stderr
    assert ref in warnings_in(result.stderr, "deprecated")[0]
    assert receipt_json(out)["state"] == "deprecated"

    (row,) = installed_json(store_path, "-o", out, NO_TLS)
    assert (row["version"], row["state"]) == ("1.11.0", "deprecated")
    result = ok(skillctl(store_path, "list", "--installed", "-o", out, NO_TLS))
    line = next(line for line in result.stdout.splitlines() if line.startswith(NAME))
    assert "deprecated (!)" in line
    assert warnings_in(result.stderr, "deprecated"), result.stderr

    # The newest published release (1.10.0) is lower: nothing to upgrade to, nothing changed.
    ok(skillctl(store_path, "upgrade", "--all", "-o", out, NO_TLS))
    assert receipt_json(out)["version"] == "1.11.0"

    # The library returns the warning (once) instead of raising.
    assert any("deprecated" in note for note in pull(ref, store=Store(store_path), opts=OPTS).notes)
    lib = install(ref, destinations(None, tmp_path / "lib")[0], store=Store(store_path), opts=OPTS)
    assert len([w for w in lib.warnings if "deprecated" in w]) == 1, lib.warnings


def test_version_deprecated_after_install_is_flagged(registry: Registry, store_path: Path, tmp_path: Path) -> None:
    """The receipt says published; the registry has deprecated it since: list --upgradable shows it."""
    publisher = Store(tmp_path / "publisher")
    repo = registry.repo(NAME)
    _publish(publisher, repo, _write_source(tmp_path / "src", NAME, "1.0.0"), "1.0.0", "published")
    out = tmp_path / "skills"
    ok(skillctl(store_path, "install", f"{repo}:1.0.0", "-o", out, NO_TLS))
    assert receipt_json(out)["state"] == "published"
    _publish(publisher, repo, _write_source(tmp_path / "src", NAME, "1.1.0"), "1.1.0", "published")
    promote(f"{repo}:1.0.0", "deprecated", store=publisher, opts=OPTS)

    (row,) = installed_json(store_path, "-o", out, "--upgradable", NO_TLS)
    assert (row["version"], row["latest"], row["state"]) == ("1.0.0", "1.1.0", "deprecated")
    result = ok(skillctl(store_path, "list", "--installed", "-o", out, "--upgradable", NO_TLS))
    assert "deprecated (!)" in result.stdout


def test_list_installed_shows_the_state_the_registry_gives_it_now(
    registry: Registry, store_path: Path, tmp_path: Path
) -> None:
    publisher = Store(tmp_path / "publisher")
    repo = registry.repo(NAME)
    _publish(publisher, repo, _write_source(tmp_path / "src", NAME, "1.0.0"), "1.0.0", "published")
    out = tmp_path / "skills"
    ok(skillctl(store_path, "install", f"{repo}:1.0.0", "-o", out, NO_TLS))

    def row(*args: object) -> dict:
        (found,) = installed_json(store_path, "-o", out, NO_TLS, *args)
        return found

    assert (row()["state"], row()["recordedState"], row()["stateChecked"]) == ("published", "published", True)
    promote(f"{repo}:1.0.0", "deprecated", store=publisher, opts=OPTS)
    assert (row()["state"], row()["recordedState"]) == ("deprecated", "published")
    result = ok(skillctl(store_path, "list", "--installed", "-o", out, NO_TLS))
    assert "deprecated (!)" in next(line for line in result.stdout.splitlines() if line.startswith(NAME))
    assert (row("--offline")["state"], row("--offline")["stateChecked"]) == ("published", False)
    offline = ok(skillctl(store_path, "list", "--installed", "-o", out, "--offline"))
    assert "recorded at install time" in offline.stderr
    # Archived since: the release tag is gone, the archived manifest is found by digest.
    promote(f"{repo}:1.0.0", "archived", store=publisher, opts=OPTS)
    assert row()["state"] == "archived"
    # A store that never saw the image: the manifest is read from the registry (by digest) instead.
    (fresh,) = installed_json(tmp_path / "other-store", "-o", out, NO_TLS)
    assert fresh["state"] == "archived"


def test_list_installed_says_unknown_when_the_registry_is_unreachable(tmp_path: Path, store_path: Path) -> None:
    import socket

    from registry import start_registry

    private = start_registry(tmp_path / "private-registry")
    try:
        repo = private.repo(NAME)
        publisher = Store(tmp_path / "publisher")
        for version in ("1.0.0", "1.1.0"):
            _publish(publisher, repo, _write_source(tmp_path / "src", NAME, version), version, "published")
        ok(skillctl(store_path, "install", f"{repo}:1.0.0", "-o", tmp_path / "a", NO_TLS))
        ok(skillctl(store_path, "install", f"{repo}:1.1.0", "-o", tmp_path / "b", NO_TLS))
    finally:
        private.stop()
    result = ok(skillctl(store_path, "list", "--installed", "-o", tmp_path / "a", NO_TLS, "--format", "json"))
    (found,) = json.loads(result.stdout)
    assert (found["state"], found["recordedState"], found["stateChecked"]) == ("unknown", "published", True)
    assert warnings_in(result.stderr, "state unknown (recorded: published)"), result.stderr

    # A registry that accepts connections and never answers: --timeout bounds the wait, the state is unknown.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        host = f"127.0.0.1:{silent.getsockname()[1]}"
        receipt = tmp_path / "b" / ".skillimage" / "receipts" / f"{NAME}.json"
        data = json.loads(receipt.read_text())
        data["source"] = data["source"].replace(private.host, host)
        receipt.write_text(json.dumps(data))
        result = skillctl(store_path, "list", "--installed", "-o", tmp_path / "b", NO_TLS, "--timeout", "2")
        ok(result)
    line = next(line for line in result.stdout.splitlines() if line.startswith(NAME))
    assert line.split()[:3] == [NAME, "1.1.0", "unknown"]


def test_archived_version_is_refused_unless_allowed(
    released: Released, store: Store, store_path: Path, tmp_path: Path
) -> None:
    name = "other-skill"
    ref = f"{released.other}@{released.archived}"
    out = tmp_path / "skills"
    pulled = tmp_path / "pulled"

    err = failed(skillctl(store_path, "pull", ref, "-o", pulled, NO_TLS), ExitCode.LIFECYCLE, "archived")
    assert "--allow-archived" in err
    assert not pulled.exists()
    err = failed(skillctl(store_path, "install", ref, "-o", out, NO_TLS), ExitCode.LIFECYCLE, "archived")
    assert "--allow-archived" in err
    assert not (out / name).exists()
    with pytest.raises(LifecycleError):
        install(ref, destinations(None, out)[0], store=store, opts=OPTS)
    assert not (out / name).exists() and temp_leftovers(out, name) == []

    ok(skillctl(store_path, "pull", ref, "-o", pulled, NO_TLS, "--allow-archived"))
    assert files_of(pulled / name) == files_of(released.other_sources["0.9.0"])

    ok(skillctl(store_path, "install", ref, "-o", out, NO_TLS, "--allow-archived"))
    assert files_of(out / name) == files_of(released.other_sources["0.9.0"])
    receipt = receipt_json(out, name)
    assert (receipt["source"], receipt["digest"], receipt["state"], receipt["version"]) == (
        ref,
        released.archived,
        "archived",
        "0.9.0",
    )
    # An archived install upgrades to the newest published release like any other.
    result = ok(skillctl(store_path, "upgrade", name, "-o", out, NO_TLS))
    assert "0.9.0 -> 1.1.0" in result.stdout
    assert files_of(out / name) == files_of(released.other_sources["1.1.0"])


def test_draft_and_testing_tags_of_an_archived_version_are_refused(
    released: Released, store_path: Path, tmp_path: Path
) -> None:
    """0.9.0 of other-skill is archived; its -draft and -testing tags are still in the repository."""
    name = "other-skill"
    out = tmp_path / "skills"
    for tag in ("0.9.0-draft", "0.9.0-testing"):
        ref = f"{released.other}:{tag}"
        err = failed(skillctl(store_path, "install", ref, "-o", out, NO_TLS), ExitCode.LIFECYCLE, "which is archived")
        assert released.archived in err and "--allow-archived" in err
        failed(skillctl(store_path, "pull", ref, NO_TLS), ExitCode.LIFECYCLE, "which is archived")
        assert not (out / name).exists()
    ok(skillctl(store_path, "install", f"{released.other}:0.9.0-draft", "-o", out, NO_TLS, "--allow-archived"))
    assert receipt_json(out, name)["state"] == "draft"
    # The tags of a deprecated version warn like the release; a current release's tags stay quiet.
    result = ok(skillctl(store_path, "install", released.ref("1.11.0-testing"), "-o", tmp_path / "dep", NO_TLS))
    assert warnings_in(result.stderr, "which is deprecated"), result.stderr
    result = ok(skillctl(store_path, "install", released.ref("1.10.0-testing"), "-o", tmp_path / "cur", NO_TLS))
    assert not warnings_in(result.stderr, "which is"), result.stderr


def test_repository_whose_only_version_is_deprecated_says_what_to_do(
    registry: Registry, store_path: Path, tmp_path: Path
) -> None:
    publisher = Store(tmp_path / "publisher")
    repo = registry.repo(NAME)
    _publish(publisher, repo, _write_source(tmp_path / "src", NAME, "1.0.0"), "1.0.0", "deprecated")
    assert "latest" not in registry.tags(repo)
    out = tmp_path / "skills"
    result = skillctl(store_path, "install", repo, "-o", out, NO_TLS)
    err = failed(result, ExitCode.NOT_FOUND, f"{repo} has no tag latest because no published release is left")
    assert "1.0.0 (deprecated)" in err and "1.0.0-draft (draft)" not in err
    assert f"hint: name the version you want: {repo}:1.0.0 (a deprecated version is installed with a warning)" in err
    assert "manifest unknown" not in err
    result = ok(skillctl(store_path, "install", f"{repo}:1.0.0", "-o", out, NO_TLS))
    assert warnings_in(result.stderr, "deprecated")
    missing_tag = skillctl(store_path, "pull", f"{repo}:2.0.0", NO_TLS)
    failed(missing_tag, ExitCode.NOT_FOUND, "has no tag 2.0.0; it holds 1.0.0")
    missing = registry.repo("never-pushed")
    failed(skillctl(store_path, "install", missing, "-o", out, NO_TLS), ExitCode.NOT_FOUND, "no such repository")


def test_list_repo_shows_archived_versions_when_asked(released: Released, store_path: Path) -> None:
    rows = json.loads(ok(skillctl(store_path, "list", released.other, NO_TLS, "--format", "json")).stdout)
    assert released.archived not in {r["digest"] for r in rows}
    rows = json.loads(ok(skillctl(store_path, "list", released.other, "-a", NO_TLS, "--format", "json")).stdout)
    (archived,) = [r for r in rows if r["tag"] is None]
    assert archived == {
        "ref": f"{released.other}@{released.archived}",
        "repository": released.other,
        "tag": None,
        "digest": released.archived,
        "status": "archived",
        "version": "0.9.0",
        "size": archived["size"],
        "signed": False,
    }
    assert archived["size"] > 0
    text = ok(skillctl(store_path, "list", released.other, "-a", NO_TLS, "--no-trunc")).stdout
    line = next(line for line in text.splitlines() if released.archived in line)
    assert line.split()[:3] == ["<none>", "archived", "0.9.0"]
    assert (
        f"{released.other}@{released.archived}"
        in ok(skillctl(store_path, "list", released.other, "-aq", NO_TLS)).stdout
    )


def test_local_draft_of_an_archived_version_is_refused(tmp_path: Path, store: Store, store_path: Path) -> None:
    source = _write_source(tmp_path / "src", NAME, "3.0.0")
    draft = pack(source, store=store, tag="acme/hello-world:3.0.0-draft").ref
    promote(draft, "testing", local=True, store=store)
    promote("acme/hello-world:3.0.0-testing", "published", local=True, store=store)
    promote("acme/hello-world:3.0.0", "deprecated", local=True, store=store)
    promote("acme/hello-world:3.0.0", "archived", local=True, store=store)
    failed(skillctl(store_path, "install", draft, "-o", tmp_path / "out"), ExitCode.LIFECYCLE, "which is archived")


# -- uninstall and usage errors --------------------------------------------------------------------


def test_uninstall_removes_skill_and_receipt(
    released: Released, store: Store, store_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "skills"
    dest = destinations(None, out)[0]
    install(released.ref("1.0.0"), dest, store=store, opts=OPTS)
    install(f"{released.other}:1.0.0", dest, store=store, opts=OPTS)
    result = ok(skillctl(store_path, "uninstall", NAME, "-o", out))
    assert f"Uninstalled {NAME}" in result.stdout
    assert not (out / NAME).exists()
    assert not (out / ".skillimage" / "receipts" / f"{NAME}.json").exists()
    assert (out / "other-skill").is_dir() and receipt_json(out, "other-skill")["version"] == "1.0.0"
    assert [r["name"] for r in installed_json(store_path, "-o", out, "--offline")] == ["other-skill"]
    assert temp_leftovers(out) == []

    failed(skillctl(store_path, "uninstall", NAME, "-o", out), ExitCode.NOT_FOUND, NAME)
    outside = tmp_path / "outside"
    outside.mkdir()
    for name in ("../outside", ".skillimage", "."):
        with pytest.raises(NotFoundError):
            uninstall(name, dest)
    assert outside.is_dir() and (out / ".skillimage").is_dir()
    uninstall("other-skill", dest)
    # The last skill gone: its receipts folder and the lock file go too.
    assert list(out.iterdir()) == []


def test_uninstall_takes_several_names(store: Store, store_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "skills"
    for name in ("one", "two", "three"):
        pack(make_skill(tmp_path / "src" / name, name), store=store)
        ok(skillctl(store_path, "install", f"test/{name}:1.0.0-draft", "-o", out))
    result = skillctl(store_path, "uninstall", "one", "missing", "two", "-o", out)
    assert result.exit_code == ExitCode.NOT_FOUND
    assert "error: missing: missing: not installed" in result.stderr and "1 of 3 uninstalls failed" in result.stderr
    assert result.stdout.count("Uninstalled ") == 2
    assert sorted(p.name for p in out.iterdir()) == [".skillimage", "three"]
    data = json.loads(ok(skillctl(store_path, "uninstall", "three", "-o", out, "--format", "json")).stdout)
    assert data == {"name": "three", "path": str(out / "three")}


def test_receipts_folder_comes_and_goes_with_concurrent_installs(store: Store, tmp_path: Path) -> None:
    """Installs and uninstalls racing in threads (each its own lock file descriptor, as processes have):
    the receipts folder may be removed under a waiting locker, which must then lock the new one."""
    names = [f"skill-{i}" for i in range(6)]
    for name in names:
        pack(make_skill(tmp_path / "src" / name, name), store=store)
    out = tmp_path / "skills"
    dest = destinations(None, out)[0]

    def cycle(name: str) -> None:
        for _ in range(5):
            install(f"test/{name}:1.0.0-draft", dest, store=store)
            assert read_receipt(out, name) is not None
            uninstall(name, dest)

    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        list(pool.map(cycle, names))
    assert list(out.iterdir()) == []


@pytest.mark.parametrize(
    "args",
    [
        ["install", "127.0.0.1:1/x/hello-world:1.0.0", "--target", "claude", "-o", "OUT"],
        ["install", "127.0.0.1:1/x/hello-world:1.0.0"],
        ["install", "127.0.0.1:1/x/hello-world:1.0.0", "--target", "emacs"],
        ["install", "127.0.0.1:1/x/hello-world:1.0.0", "--target", "claude", "--scope", "system"],
        ["upgrade", "--all", "--target", "claude", "-o", "OUT"],
        ["upgrade", "--all"],
        ["upgrade", "--target", "claude"],
        ["upgrade", NAME, "--all", "--target", "claude"],
        ["uninstall", NAME, "--target", "claude", "-o", "OUT"],
        ["uninstall", NAME],
        ["uninstall", NAME, "--target", "emacs"],
        ["list", "--upgradable"],
        ["list", "--installed", "--target", "claude", "-o", "OUT"],
    ],
    ids=lambda a: " ".join(a).replace("127.0.0.1:1/x/", ""),
)
def test_usage_errors_exit_2(args: list[str], isolated_env: Path, store_path: Path, tmp_path: Path) -> None:
    home_before = sorted(p.relative_to(isolated_env).as_posix() for p in isolated_env.rglob("*"))
    out = tmp_path / "out"
    result = skillctl(store_path, *[str(out) if a == "OUT" else a for a in args])
    assert result.exit_code == ExitCode.USAGE, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert not out.exists()
    assert sorted(p.relative_to(isolated_env).as_posix() for p in isolated_env.rglob("*")) == home_before


# -- an install killed midway -------------------------------------------------------------------


def _state_of(skill: Path) -> dict[str, str]:
    """Relative file -> sha256 of its content (directories as 'dir'; skill.yaml as in files_of)."""
    out = {}
    for path in sorted(skill.rglob("*")):
        rel = path.relative_to(skill).as_posix()
        if path.is_dir() and not path.is_symlink():
            out[rel] = "dir"
        elif rel == "skill.yaml":
            out[rel] = repr(files_of(skill)[rel])
        else:
            h = hashlib.sha256()
            with path.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
            out[rel] = h.hexdigest()
    return out


def test_install_killed_midway_leaves_a_whole_skill(store: Store, store_path: Path, tmp_path: Path) -> None:
    """SIGKILL ``skillctl install`` of a 100 MB v2 over v1 at many moments: v1 or v2, never a mix.

    Kills land before the unpack starts, at several points while the layer is being unpacked (timed
    from the moment its temporary directory appears), at the first change seen in the skill directory
    and right after the new files are in place.
    Observed: a kill during the unpack leaves v1 whole plus a hidden ``.hello-world.unpack-*``
    directory beside it (it is never listed as a skill, and the next install of the skill removes
    it); a kill after the swap leaves v2 whole, at most with a hidden directory holding the old
    files, and skillctl reports v2 even when the kill came before the receipt was renamed.
    """
    exe = Path(sys.executable).parent / "skillctl"
    assert exe.is_file(), f"the console script is not installed next to {sys.executable}"
    v1_src = _write_source(tmp_path / "src", NAME, "1.0.0")
    for i in range(400):  # many top-level files: a non-atomic replacement would take a while to delete them
        (v1_src / f"pad-{i:03d}.txt").write_text(f"{i}\n")
    v2_src = _write_source(tmp_path / "src", NAME, "2.0.0")
    (v2_src / "data" / "big.bin").write_bytes(os.urandom(100 * 1024 * 1024))
    v1_ref = pack(v1_src, store=store).ref
    v2_ref = pack(v2_src, store=store).ref
    out = tmp_path / "skills"
    skill = out / NAME
    argv = [str(exe), "--store", str(store_path), "install"]

    def run_install(ref: str) -> None:
        done = subprocess.run([*argv, ref, "-o", str(out)], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr

    def start_v2() -> tuple[subprocess.Popen[bytes], float]:
        proc = subprocess.Popen([*argv, v2_ref, "-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return proc, time.monotonic()

    def wait_for(condition, proc: subprocess.Popen[bytes]) -> float:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + 60
        while not condition() and proc.poll() is None:
            assert time.monotonic() < deadline, "the install neither progressed nor finished"
            time.sleep(0.0005)
        return time.monotonic()

    run_install(v1_ref)
    v1 = _state_of(skill)
    assert v1 == _state_of(v1_src)
    v1_top = sorted(os.listdir(skill))

    def replacing() -> bool:
        try:
            return sorted(os.listdir(skill)) != v1_top
        except FileNotFoundError:
            return True

    # One undisturbed v2 install, to learn when its unpack starts and how long it lasts.
    before = set(temp_leftovers(out))
    proc, t0 = start_v2()
    t_unpack = wait_for(lambda: bool(set(temp_leftovers(out)) - before), proc)
    _, err = proc.communicate(timeout=120)
    t_end = time.monotonic()
    assert proc.returncode == 0, err
    v2 = _state_of(skill)
    assert v2 == _state_of(v2_src) and v2 != v1
    assert temp_leftovers(out) == []
    unpack = max(t_end - t_unpack, 0.05)

    plans: list[tuple[str, float]] = [("start", 0.02), ("start", min(0.3, (t_unpack - t0) / 2))]
    plans += [("unpack", unpack * f) for f in (0.0, 0.2, 0.45, 0.7, 0.9)]
    plans += [("replacing", 0.0), ("replacing", 0.0), ("swapped", 0.0)]
    outcomes = []
    for how, delay in plans:
        if _state_of(skill) != v1:
            run_install(v1_ref)
            assert _state_of(skill) == v1
        before = set(temp_leftovers(out))
        proc, _ = start_v2()
        try:
            if how == "unpack":
                wait_for(lambda seen=before: bool(set(temp_leftovers(out)) - seen), proc)
            elif how == "replacing":  # the first sign of change in the skill directory
                wait_for(replacing, proc)
            elif how == "swapped":
                wait_for(lambda: (skill / "data" / "big.bin").exists(), proc)
            time.sleep(delay)
            proc.kill()
        finally:
            code = proc.wait(timeout=60)
        assert skill.is_dir(), f"killed at {how}+{delay:.2f}s: the skill directory is missing"
        state = _state_of(skill)
        assert state in (v1, v2), f"killed at {how}+{delay:.2f}s: a mix of v1 and v2: {sorted(set(state) ^ set(v1))}"
        assert receipt_json(out)["version"] in ("1.0.0", "2.0.0")  # always a whole JSON document
        # What skillctl reports is what is on disk, even when the kill fell between the swap and the receipt.
        (listed,) = installed_json(store_path, "-o", out, "--offline")
        receipt = listed["version"]
        assert receipt == ("1.0.0" if state == v1 else "2.0.0"), f"killed at {how}+{delay:.2f}s: receipt {receipt}"
        left = set(temp_leftovers(out)) - before
        assert all(name.startswith(f".{NAME}.") for name in left)  # hidden, beside the skill
        assert [p.name for p in out.iterdir() if not p.name.startswith(".")] == [NAME]
        outcomes.append((how, round(delay, 2), code, "v1" if state == v1 else "v2", len(left), receipt))

    # At least one kill really landed in the middle of an unpack, with v1 still whole.
    assert any(c == -signal.SIGKILL and v == "v1" and n for _, _, c, v, n, _ in outcomes), outcomes
    assert [row["name"] for row in installed_json(store_path, "-o", out, "--offline")] == [NAME]

    run_install(v2_ref)
    assert _state_of(skill) == v2
    assert receipt_json(out)["version"] == "2.0.0"
    assert temp_leftovers(out) == []  # the next install cleans up what killed ones left
    run_install(v1_ref)
    assert _state_of(skill) == v1
    assert receipt_json(out)["version"] == "1.0.0"
    assert temp_leftovers(out) == []
