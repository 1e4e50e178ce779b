"""skills.yaml, skills.lock.yaml, add / remove / sync / update / outdated / kube --lock against a real registry.

The module publishes one namespace of skills (so relative dependency names resolve inside it):

* ``lib``: 1.0.0, 1.1.0, 2.0.0 published, 1.2.0 deprecated, 2.1.0-rc.1 published (a prerelease);
* ``app`` 1.0.0 needs ``lib ^1.0``; ``tool`` 1.0.0 needs ``lib ^2.0`` (so app and tool conflict);
* ``top`` 1.0.0 needs ``mid ^1.0``; ``mid`` 1.0.0 needs ``base ^1`` and ``lib ~1.0``; ``base`` 1.0.0;
* ``cyc-a`` 1.0.0 needs ``cyc-b ^1``, which needs ``cyc-a ^1``;
* ``needy`` 1.0.0 needs ``ghost ^1``, which does not exist.

Digests the tests expect are read from the registry directly (``Registry.digest``), never through skillctl.
"""

from __future__ import annotations

import copy
import json
import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from lock_helpers import NO_TLS, OPTS, failed, files_of, ok, publish, run, skill_source, snapshot
from registry import Registry

from skillctl import Store
from skillctl.consume.install import read_receipt
from skillctl.consume.lock import load_lock, tree_digest
from skillctl.core.errors import ExitCode
from skillctl.trust.signing import generate_key_pair, sign

pytestmark = pytest.mark.integration

UNIVERSE = {
    "lib": [("1.0.0", "published", None), ("1.1.0", "published", None), ("1.2.0", "deprecated", None),
            ("2.0.0", "published", None), ("2.1.0-rc.1", "published", None)],
    "app": [("1.0.0", "published", {"lib": "^1.0"})],
    "tool": [("1.0.0", "published", {"lib": "^2.0"})],
    "base": [("1.0.0", "published", None)],
    "mid": [("1.0.0", "published", {"base": "^1", "lib": "~1.0"})],
    "top": [("1.0.0", "published", {"mid": "^1.0"})],
    "cyc-a": [("1.0.0", "published", {"cyc-b": "^1"})],
    "cyc-b": [("1.0.0", "published", {"cyc-a": "^1"})],
    "needy": [("1.0.0", "published", {"ghost": "^1"})],
}  # fmt: skip


@dataclass
class Universe:
    registry: Registry
    namespace: str
    root: Path
    sources: dict[tuple[str, str], Path] = field(default_factory=dict)
    digests: dict[tuple[str, str], str] = field(default_factory=dict)
    store: Store | None = None

    def repo(self, name: str) -> str:
        return f"{self.registry.host}/{self.namespace}/{name}"

    def publish(self, name: str, version: str, state: str = "published", deps: dict[str, str] | None = None) -> str:
        assert self.store is not None
        src = skill_source(self.root / "src", name, version, deps)
        digest = publish(self.store, self.repo(name), src, version, state)
        self.sources[name, version] = src
        self.digests[name, version] = digest
        return digest


@pytest.fixture(scope="module")
def universe(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Universe:
    root = tmp_path_factory.mktemp("universe")
    uni = Universe(registry, f"lk{secrets.token_hex(3)}", root, store=Store(root / "publisher-store"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(root))
        for name, versions in UNIVERSE.items():
            for version, state, deps in versions:
                uni.publish(name, version, state, deps)
    for (name, version), digest in uni.digests.items():
        assert registry.digest(f"{uni.repo(name)}:{version}") == digest
    return uni


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    return path


def skillctl(store_path: Path, project: Path, *args: object):
    return run(store_path, *args, NO_TLS, "--project", project)


def lock_of(project: Path) -> dict:
    return yaml.safe_load((project / "skills.lock.yaml").read_text())


def locked(project: Path) -> dict[str, tuple[str, str]]:
    """name -> (version, digest)."""
    return {s["name"]: (s["version"], s["digest"]) for s in lock_of(project)["skills"]}


def installed(project: Path, agent: str = "claude") -> dict[str, str]:
    """name -> the version written in the installed files."""
    root = project / f".{agent}" / "skills"
    if not root.is_dir():
        return {}
    return {
        p.name: (p / "VERSION").read_text().split()[1] for p in sorted(root.iterdir()) if not p.name.startswith(".")
    }


# -- add ------------------------------------------------------------------------------------------


def test_add_resolves_installs_and_writes_both_files(universe: Universe, store_path: Path, project: Path) -> None:
    result = ok(skillctl(store_path, project, "add", universe.repo("app"), "-t", "claude"))
    assert "Installed app 1.0.0" in result.stdout and "Installed lib 1.1.0" in result.stdout

    manifest = yaml.safe_load((project / "skills.yaml").read_text())
    assert manifest == {
        "apiVersion": "skillimage.io/v1alpha1",
        "kind": "SkillProject",
        "target": "claude",
        "skills": [{"repository": universe.repo("app"), "version": "^1.0.0"}],
    }
    lock = lock_of(project)
    assert lock["lock-version"] == 1
    # The newest published release ^1.0 allows: 1.1.0, not the deprecated 1.2.0, not 2.x.
    assert locked(project) == {
        "app": ("1.0.0", universe.digests["app", "1.0.0"]),
        "lib": ("1.1.0", universe.digests["lib", "1.1.0"]),
    }
    app, lib = lock["skills"]
    assert list(app) == [
        "name", "repository", "version", "tag", "digest", "state", "content-digest", "requested", "targets",
        "dependencies",
    ]  # fmt: skip
    assert app["dependencies"] == {"lib": "^1.0"} and app["requested"] == "^1.0.0" and app["targets"] == ["claude"]
    assert "requested" not in lib and "dependencies" not in lib and lib["state"] == "published"
    assert lib["repository"] == universe.repo("lib") and lib["tag"] == "1.1.0"

    skills = project / ".claude" / "skills"
    for name, version in (("app", "1.0.0"), ("lib", "1.1.0")):
        assert files_of(skills / name) == files_of(universe.sources[name, version])
        receipt = read_receipt(skills, name)
        assert receipt is not None and receipt.digest == universe.digests[name, version]
        assert receipt.managed_by == str(project / "skills.lock.yaml")
        assert {s["name"]: s["content-digest"] for s in lock["skills"]}[name] == tree_digest(skills / name)

    # Diff-friendly: writing the same lock again gives the same bytes; a second sync changes nothing.
    before = snapshot(project)
    result = ok(skillctl(store_path, project, "sync"))
    assert "are installed as locked" in result.stdout
    assert snapshot(project) == before
    assert ok(skillctl(store_path, project, "sync", "--check")).stdout.startswith("In sync")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("@~1.0", "1.0.0"),
        ("@^1", "1.1.0"),
        ("@^2", "2.0.0"),  # the prerelease 2.1.0-rc.1 is not picked
        ("@>=2.1.0-rc.1", "2.1.0-rc.1"),  # unless the range asks for it
        (":1.0.0", "1.0.0"),
        ("@1.2.0", "1.2.0"),  # deprecated: only when nothing published fits, with a warning
    ],
)
def test_add_with_ranges(universe: Universe, store_path: Path, project: Path, spec: str, expected: str) -> None:
    result = ok(skillctl(store_path, project, "add", universe.repo("lib") + spec, "-o", "skills"))
    assert locked(project) == {"lib": (expected, universe.digests["lib", expected])}
    assert (project / "skills" / "lib" / "VERSION").read_text() == f"lib {expected}\n"
    deprecated = [line for line in result.stderr.splitlines() if "deprecated" in line]
    assert bool(deprecated) == (expected == "1.2.0"), result.stderr
    wanted = yaml.safe_load((project / "skills.yaml").read_text())["skills"][0]["version"]
    assert wanted == (spec[1:] if spec.startswith("@") else expected)


def test_transitive_dependencies_and_edges(universe: Universe, store_path: Path, project: Path) -> None:
    ok(skillctl(store_path, project, "add", universe.repo("top"), "-t", "claude"))
    assert locked(project) == {
        "top": ("1.0.0", universe.digests["top", "1.0.0"]),
        "mid": ("1.0.0", universe.digests["mid", "1.0.0"]),
        "base": ("1.0.0", universe.digests["base", "1.0.0"]),
        "lib": ("1.0.0", universe.digests["lib", "1.0.0"]),  # ~1.0 from mid
    }
    edges = {s["name"]: s.get("dependencies", {}) for s in lock_of(project)["skills"]}
    assert edges == {"top": {"mid": "^1.0"}, "mid": {"base": "^1", "lib": "~1.0"}, "base": {}, "lib": {}}
    assert installed(project) == {"base": "1.0.0", "lib": "1.0.0", "mid": "1.0.0", "top": "1.0.0"}

    # Adding app (lib ^1.0) keeps lib 1.0.0: it still fits both ~1.0 and ^1.0.
    ok(skillctl(store_path, project, "add", universe.repo("app")))
    assert locked(project)["lib"][0] == "1.0.0"

    # Removing top drops what only it needed; lib stays for app.
    result = ok(skillctl(store_path, project, "remove", "top"))
    assert set(locked(project)) == {"app", "lib"}
    assert installed(project) == {"app": "1.0.0", "lib": "1.0.0"}
    assert "Removed top" in result.stdout and "Removed mid" in result.stdout and "Removed base" in result.stdout


def test_conflict_names_both_chains_and_changes_nothing(universe: Universe, store_path: Path, project: Path) -> None:
    ok(skillctl(store_path, project, "add", universe.repo("app"), "-t", "claude"))
    before = snapshot(project)
    stderr = failed(skillctl(store_path, project, "add", universe.repo("tool")), ExitCode.CONFLICT)
    assert f"{universe.repo('lib')}: no release fits every requirement" in stderr
    assert "^1.0 (skills.yaml → app 1.0.0)" in stderr
    assert "^2.0 (skills.yaml → tool 1.0.0)" in stderr
    assert snapshot(project) == before


def test_cycle_is_reported(universe: Universe, store_path: Path, project: Path) -> None:
    stderr = failed(
        skillctl(store_path, project, "add", universe.repo("cyc-a"), "-t", "claude"), ExitCode.CONFLICT, "cycle"
    )
    assert "cyc-a 1.0.0 → cyc-b 1.0.0 → cyc-a" in stderr
    assert sorted(p.name for p in project.iterdir()) == []


def test_missing_dependency_names_who_needs_it(universe: Universe, store_path: Path, project: Path) -> None:
    stderr = failed(skillctl(store_path, project, "add", universe.repo("needy"), "-t", "claude"), ExitCode.NOT_FOUND)
    assert universe.repo("ghost") in stderr and "needy 1.0.0" in stderr
    assert list(project.iterdir()) == []


def test_no_release_fits(universe: Universe, store_path: Path, project: Path) -> None:
    stderr = failed(skillctl(store_path, project, "add", universe.repo("lib") + "@^3", "-t", "claude"), 4)
    assert "no release fits ^3" in stderr and "2.0.0" in stderr
