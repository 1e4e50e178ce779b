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
from lock_helpers import NO_TLS, OPTS, failed, files_of, ok, packaged_files_of, publish, run, skill_source, snapshot
from registry import Registry

from skillctl import Store
from skillctl.consume.install import read_receipt
from skillctl.consume.lock import tree_digest
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
        assert packaged_files_of(skills / name) == packaged_files_of(universe.sources[name, version])
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


# -- sync -----------------------------------------------------------------------------------------


@pytest.fixture
def evolving(universe: Universe) -> tuple[Universe, str]:
    """A repository of this test's own: ``evo`` 1.0.0 published (tests publish more)."""
    name = f"evo{secrets.token_hex(2)}"
    universe.publish(name, "1.0.0")
    return universe, name


def test_sync_on_another_machine_installs_exactly_the_lock(
    universe: Universe, store_path: Path, project: Path, tmp_path: Path
) -> None:
    ok(skillctl(store_path, project, "add", universe.repo("top"), "-t", "claude"))
    clone = tmp_path / "clone"
    clone.mkdir()
    for name in ("skills.yaml", "skills.lock.yaml"):
        shutil.copy(project / name, clone / name)
    lock_bytes = (clone / "skills.lock.yaml").read_bytes()
    result = ok(skillctl(tmp_path / "other-store", clone, "sync", "--frozen"))
    assert result.stdout.count("Installed ") == 4
    assert (clone / "skills.lock.yaml").read_bytes() == lock_bytes
    for name in ("top", "mid", "base", "lib"):
        assert files_of(clone / ".claude" / "skills" / name) == files_of(project / ".claude" / "skills" / name)
    ok(skillctl(tmp_path / "other-store", clone, "sync", "--check"))


def test_sync_after_a_new_release_keeps_the_lock_until_update(
    evolving: tuple[Universe, str], store_path: Path, project: Path
) -> None:
    universe, name = evolving
    ok(skillctl(store_path, project, "add", universe.repo(name), "-t", "claude"))
    assert locked(project)[name][0] == "1.0.0"
    universe.publish(name, "1.1.0")
    universe.publish(name, "2.0.0")

    before = snapshot(project)
    ok(skillctl(store_path, project, "sync"))
    assert snapshot(project) == before  # the lock pins 1.0.0: a release changes nothing by itself

    rows = json.loads(ok(skillctl(store_path, project, "outdated", "--format", "json")).stdout)
    assert rows == [
        {"name": name, "current": "1.0.0", "wanted": "1.1.0", "latest": "2.0.0", "state": "published",
         "lockedState": "published"}
    ]  # fmt: skip

    result = ok(skillctl(store_path, project, "update", name))
    assert f"Upgraded {name} 1.0.0 -> 1.1.0" in result.stdout
    assert locked(project)[name] == ("1.1.0", universe.digests[name, "1.1.0"])
    assert installed(project) == {name: "1.1.0"}
    ok(skillctl(store_path, project, "sync", "--check"))

    # Widening the range in skills.yaml: --frozen refuses to re-lock, a plain sync re-locks and upgrades.
    manifest = project / "skills.yaml"
    manifest.write_text(manifest.read_text().replace("^1.0.0", "^2"))
    lock_before = (project / "skills.lock.yaml").read_bytes()
    failed(skillctl(store_path, project, "sync", "--frozen"), ExitCode.DRIFT, "asks for ^2")
    assert (project / "skills.lock.yaml").read_bytes() == lock_before
    assert installed(project) == {name: "1.1.0"}
    result = ok(skillctl(store_path, project, "sync"))
    assert f"Upgraded {name} 1.1.0 -> 2.0.0" in result.stdout and "Wrote" in result.stdout
    assert locked(project)[name] == ("2.0.0", universe.digests[name, "2.0.0"])


def test_outdated_shows_a_version_deprecated_since_it_was_locked(
    evolving: tuple[Universe, str], store_path: Path, project: Path
) -> None:
    universe, name = evolving
    ok(skillctl(store_path, project, "add", universe.repo(name), "-t", "claude"))
    universe.publish(name, "1.0.0", "deprecated")  # the same files, the tag moved to a deprecated manifest
    result = ok(skillctl(store_path, project, "outdated"))
    row = result.stdout.splitlines()[1].split()
    assert row == [name, "1.0.0", "-", "-", "deprecated"]
    ok(skillctl(store_path, project, "sync", "--check"))  # the lock still pins the digest it resolved


CHECK_SCRIPT = """#!/bin/bash
# What a CI job runs: fail the build when the installed skills or the lock drifted from skills.yaml.
set -euo pipefail
cd "$1"
skillctl --store "$2" sync --check --tls-verify=false
echo "skills in sync"
"""


def ci_check(project: Path, store_path: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "ci-check.sh"
    script.write_text(CHECK_SCRIPT)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run(
        ["bash", str(script), str(project), str(store_path)], capture_output=True, text=True, env=env, timeout=120
    )


def test_sync_check_in_a_ci_script_fails_on_drift(
    universe: Universe, store_path: Path, project: Path, tmp_path: Path
) -> None:
    ok(skillctl(store_path, project, "add", universe.repo("app"), "-t", "claude"))
    clean = ci_check(project, store_path, tmp_path)
    assert clean.returncode == 0, clean.stderr
    assert clean.stdout.endswith("skills in sync\n")

    skills = project / ".claude" / "skills"
    lock_path = project / "skills.lock.yaml"
    manifest = project / "skills.yaml"
    drifts = {
        "edited file": (lambda: (skills / "lib" / "VERSION").write_text("tampered\n"), "lib 1.1.0: installed files"),
        "removed skill": (lambda: shutil.rmtree(skills / "app"), "install app 1.0.0"),
        "wider range": (
            lambda: manifest.write_text(manifest.read_text().replace("^1.0.0", "^1.0.0 || ^2")),
            "app: skills.yaml:",
        ),
        "new skill": (
            lambda: manifest.write_text(
                manifest.read_text() + f"- repository: {universe.repo('base')}\n  version: ^1\n"
            ),
            "base: wanted in skills.yaml:",
        ),
        "lock lost an entry": (
            lambda: lock_path.write_text(
                yaml.safe_dump(
                    {**lock_of(project), "skills": [s for s in lock_of(project)["skills"] if s["name"] != "app"]}
                )
            ),
            "app: wanted in skills.yaml",
        ),
    }
    pristine = {p: p.read_bytes() for p in (lock_path, manifest)}
    for what, (damage, expected) in drifts.items():
        for p, data in pristine.items():
            p.write_bytes(data)
        ok(skillctl(store_path, project, "sync", "--frozen"))
        assert ci_check(project, store_path, tmp_path).returncode == 0
        damage()
        done = ci_check(project, store_path, tmp_path)
        assert done.returncode == ExitCode.DRIFT == 11, (what, done.stdout, done.stderr)
        assert expected in done.stdout, (what, done.stdout)
        assert "skills in sync" not in done.stdout
        assert "Error: " in done.stderr and "Traceback" not in done.stderr
    for p, data in pristine.items():
        p.write_bytes(data)


def test_sync_repairs_edited_and_removed_skills(universe: Universe, store_path: Path, project: Path) -> None:
    ok(skillctl(store_path, project, "add", universe.repo("app"), "-t", "claude"))
    skills = project / ".claude" / "skills"
    (skills / "lib" / "VERSION").write_text("tampered\n")
    (skills / "lib" / "extra.txt").write_text("added\n")
    shutil.rmtree(skills / "app")
    result = ok(skillctl(store_path, project, "sync", "--frozen"))
    assert "Repaired lib" in result.stdout and "Installed app" in result.stdout
    assert packaged_files_of(skills / "lib") == packaged_files_of(universe.sources["lib", "1.1.0"])
    ok(skillctl(store_path, project, "sync", "--check"))


def test_prune_removes_skills_the_lock_did_not_install(universe: Universe, store_path: Path, project: Path) -> None:
    ok(skillctl(store_path, project, "add", universe.repo("base"), "-t", "claude"))
    skills = project / ".claude" / "skills"
    ok(run(store_path, "install", f"{universe.repo('lib')}:1.0.0", "-o", skills, NO_TLS))
    ok(skillctl(store_path, project, "sync", "--check"))  # a skill installed by hand is left alone
    failed(skillctl(store_path, project, "sync", "--check", "--prune"), ExitCode.DRIFT)
    result = ok(skillctl(store_path, project, "sync", "--prune"))
    assert "Removed lib" in result.stdout
    assert installed(project) == {"base": "1.0.0"}


# -- integrity of the lock and the manifest -------------------------------------------------------


def _edit_lock(project: Path, name: str, **changes: str) -> int:
    """Change fields of one lock entry by text; returns the line of its digest."""
    path = project / "skills.lock.yaml"
    lines = path.read_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.strip() == f"- name: {name}")
    digest_line = 0
    for i in range(start, len(lines)):
        key = lines[i].strip().split(":", 1)[0]
        if key == "digest":
            digest_line = i + 1
        if key in changes:
            indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
            lines[i] = f"{indent}{key}: {changes[key]}\n"
        if i > start and lines[i].startswith("- name:"):
            break
    path.write_text("".join(lines))
    return digest_line


def test_hand_edited_digest_is_refused(universe: Universe, store_path: Path, project: Path, tmp_path: Path) -> None:
    ok(skillctl(store_path, project, "add", universe.repo("app"), "-t", "claude"))
    shutil.rmtree(project / ".claude" / "skills" / "lib")
    before = snapshot(project)

    # A digest no registry has.
    line = _edit_lock(project, "lib", digest="sha256:" + "0" * 64)
    stderr = failed(skillctl(tmp_path / "fresh-store", project, "sync"), ExitCode.INTEGRITY)
    assert f"lib (line {line - 4} of skills.lock.yaml)" in stderr and "has no manifest" in stderr
    # The digest of another version of the same skill.
    _edit_lock(project, "lib", digest=universe.digests["lib", "1.0.0"])
    stderr = failed(skillctl(tmp_path / "fresh-store", project, "sync"), ExitCode.INTEGRITY, "is version 1.0.0")
    assert "the lock says 1.1.0" in stderr
    edited = (project / "skills.lock.yaml").read_bytes()
    assert {k: v for k, v in snapshot(project).items() if k != "skills.lock.yaml"} == {
        k: v for k, v in before.items() if k != "skills.lock.yaml"
    }
    assert (project / "skills.lock.yaml").read_bytes() == edited  # sync never rewrites a lock it cannot trust
    # kube --lock refuses it too.
    failed(
        run(store_path, "kube", "--lock", project / "skills.lock.yaml", "--kind", "patch", NO_TLS),
        ExitCode.INTEGRITY,
        "is not version 1.1.0",
    )


@pytest.mark.parametrize(
    ("edit", "line", "message"),
    [
        (lambda t: t.replace("lock-version: 1", "lock-version: 7"), 2, "lock-version must be 1"),
        (lambda t: t.replace("  state: published\n", "  state: shiny\n", 1), 9, "state 'shiny' is not one of"),
        (lambda t: t.replace("  tag: 1.0.0\n", "  tag: 1.0.0\n  colour: blue\n", 1), 8, "unknown field 'colour'"),
        (lambda t: t.replace("  digest: sha256:", "  digest: sha256:zz", 1), 8, "is not sha256: followed by"),
        (lambda t: t.replace("  version: 1.0.0\n", "  version: one\n", 1), 6, "is not a semantic version"),
        (lambda t: t.replace("  tag: 1.0.0\n", "  tag: [1.0.0\n", 1), 8, "invalid YAML"),
        (lambda t: t.replace("    lib: ^1.0", "    lob: ^1.0"), 4, "depends on 'lob', which the lock does not have"),
        (lambda t: t.replace("    lib: ^1.0", "    lib: ^^1"), 15, "invalid version range"),
    ],
)
def test_malformed_lock_names_the_line(
    universe: Universe, store_path: Path, project: Path, edit, line: int, message: str
) -> None:
    ok(skillctl(store_path, project, "add", universe.repo("app"), "-t", "claude"))
    path = project / "skills.lock.yaml"
    text = path.read_text()
    assert text.splitlines()[3:5] == ["- name: app", f"  repository: {universe.repo('app')}"], text
    path.write_text(edit(text))
    results = [skillctl(store_path, project, *args) for args in (["sync"], ["sync", "--check"], ["sync", "--frozen"])]
    results.append(run(store_path, "kube", "--lock", path, "--kind", "patch", NO_TLS))
    for result in results:
        stderr = failed(result, ExitCode.INVALID, message)
        assert f"skills.lock.yaml:{line}:" in stderr or f"skills.lock.yaml: invalid YAML (line {line}," in stderr


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("apiVersion: skillimage.io/v1alpha1\nkind: SkillProject\ntarget: emacs\n", 3, "unknown target 'emacs'"),
        ("apiVersion: skillimage.io/v1alpha1\nkind: Other\ntarget: claude\n", 2, "kind must be SkillProject"),
        (
            "apiVersion: skillimage.io/v1alpha1\nkind: SkillProject\ntarget: claude\nskills:\n"
            "- repository: localhost:5000/a/b\n  version: ^1\n- repository: localhost:5000/a/c\n  version: '>>1'\n",
            8,
            "invalid version range",
        ),
        (
            "apiVersion: skillimage.io/v1alpha1\nkind: SkillProject\ntarget: claude\nskills:\n"
            "- repository: localhost:5000/a/b:1.0.0\n",
            5,
            "without tag or digest",
        ),
        (
            "apiVersion: skillimage.io/v1alpha1\nkind: SkillProject\ntarget: claude\nskills:\n"
            "- repository: localhost:5000/a/b\n- repository: localhost:5000/x/b\n",
            6,
            "two skills are named 'b'",
        ),
        ("apiVersion: skillimage.io/v1alpha1\nkind: SkillProject\ntarget: claude\nskils: []\n", 4, "unknown field"),
        ("apiVersion: skillimage.io/v1alpha1\nkind: SkillProject\ntarget: claude\ntarget: cursor\n", 4, "duplicate"),
    ],
)
def test_malformed_manifest_names_the_line(store_path: Path, project: Path, text: str, line: int, message: str) -> None:
    (project / "skills.yaml").write_text(text)
    for args in (["sync"], ["sync", "--check"], ["add", "localhost:5000/a/z"]):
        stderr = failed(skillctl(store_path, project, *args), ExitCode.INVALID, message)
        assert f"skills.yaml:{line}:" in stderr or f"skills.yaml: invalid YAML (line {line}," in stderr


# -- signatures --------------------------------------------------------------------------------


def test_pinned_key_is_verified_on_every_sync(
    universe: Universe, store_path: Path, project: Path, tmp_path: Path
) -> None:
    name = f"signed{secrets.token_hex(2)}"
    digest = universe.publish(name, "1.0.0")
    key, pub = generate_key_pair(tmp_path / "keys", b"pw")
    _, other_pub = generate_key_pair(tmp_path / "other-keys", b"pw")
    keys = project / "keys"
    keys.mkdir()
    shutil.copy(pub, keys / "cosign.pub")
    ref = f"{universe.repo(name)}:1.0.0"

    # Unsigned: refused before anything is written.
    failed(
        skillctl(store_path, project, "add", universe.repo(name), "-t", "claude", "--verify-key", keys / "cosign.pub"),
        ExitCode.INTEGRITY,
        "not signed by the pinned key",
    )
    assert sorted(p.name for p in project.iterdir()) == ["keys"]

    sign(ref, key, b"pw", opts=OPTS)
    ok(skillctl(store_path, project, "add", universe.repo(name), "-t", "claude", "--verify-key", keys / "cosign.pub"))
    entry = lock_of(project)["skills"][0]
    from skillctl.trust.keys import fingerprint as key_fingerprint
    from skillctl.trust.signing import load_public_key

    assert entry["signers"] == [
        {"kind": "key", "fingerprint": key_fingerprint(load_public_key(pub)), "key": "keys/cosign.pub"}
    ]
    assert yaml.safe_load((project / "skills.yaml").read_text())["skills"][0]["verify-key"] == "keys/cosign.pub"
    ok(skillctl(store_path, project, "sync"))

    # The signature goes away (deleted by digest, as a registry cleanup would): the next sync fails, touching nothing.
    sig = universe.registry.digest(f"{universe.repo(name)}:{digest.replace(':', '-')}.sig")
    status, _, _ = universe.registry.request("DELETE", f"/v2/{universe.repo(name).partition('/')[2]}/manifests/{sig}")
    assert status == 202
    shutil.rmtree(project / ".claude" / "skills" / name)
    before = snapshot(project)
    failed(skillctl(store_path, project, "sync"), ExitCode.INTEGRITY, "not signed by the pinned key")
    assert snapshot(project) == before

    # Swapping the key file for another key is refused as well.
    sign(ref, key, b"pw", opts=OPTS)
    shutil.copy(other_pub, keys / "cosign.pub")
    failed(skillctl(store_path, project, "sync"), ExitCode.INTEGRITY, "is not the pinned key")
    shutil.copy(pub, keys / "cosign.pub")
    ok(skillctl(store_path, project, "sync"))
    assert installed(project) == {name: "1.0.0"}


# -- kube --lock -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["pod", "deployment", "patch"])
def test_kube_from_the_lock_mounts_exactly_the_locked_digests(
    universe: Universe, store_path: Path, project: Path, kind: str
) -> None:
    ok(skillctl(store_path, project, "add", universe.repo("top"), "-t", "claude"))
    args = ["kube", "--lock", project / "skills.lock.yaml", "--kind", kind, NO_TLS]
    if kind != "patch":
        args += ["--image", "registry.example.com/agent:2"]
    doc = yaml.safe_load(ok(run(store_path, *args)).stdout)
    spec = doc["spec"] if kind == "pod" else doc["spec"]["template"]["spec"]
    volumes = {v["name"]: v["image"]["reference"] for v in spec["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for c in spec["containers"] for m in c["volumeMounts"]}
    expected = {
        f"/skills/{n}": f"{universe.repo(n)}@{universe.digests[n, v]}"
        for n, v in (("top", "1.0.0"), ("mid", "1.0.0"), ("base", "1.0.0"), ("lib", "1.0.0"))
    }
    assert mounts == expected
    for version in ("1.35.0", "1.36.0"):
        if kind == "patch":
            pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": copy.deepcopy(spec)}
            pod["spec"]["containers"][0]["image"] = "registry.example.com/agent:2"
            kubernetes_validate.validate(pod, version, strict=True)
        else:
            kubernetes_validate.validate(copy.deepcopy(doc), version, strict=True)


def test_kube_lock_and_refs_are_exclusive(store_path: Path, project: Path) -> None:
    failed(run(store_path, "kube", "a/b:1", "--lock", project / "x.yaml", "--kind", "patch"), ExitCode.USAGE)
    failed(run(store_path, "kube", "--kind", "patch"), ExitCode.USAGE)
    failed(run(store_path, "kube", "--lock", project / "none.yaml", "--kind", "patch"), ExitCode.NOT_FOUND)


def test_dependencies_of_images_packed_without_the_annotation(
    universe: Universe, store_path: Path, project: Path
) -> None:
    """Images from the Go tool or an older skillctl carry spec.dependencies only in skill.yaml: it is read."""
    from skillctl import pack
    from skillctl.core import oci
    from skillctl.registry.transfer import push

    assert universe.store is not None
    name = f"legacy{secrets.token_hex(2)}"
    repo = universe.repo(name)
    src = skill_source(universe.root / "src", name, "1.0.0", {"base": "^1"})
    packed = pack(src, store=universe.store, tag=f"{repo}:1.0.0-draft").manifest
    data = json.loads(packed.raw)
    assert data["annotations"].pop(oci.DEPENDENCIES)
    data["annotations"][oci.STATUS] = "published"
    manifest = oci.Manifest.parse(oci.go_json(data))
    with universe.store.writing():
        universe.store.put_blob(manifest.raw)
        universe.store.set_tag(f"{repo}:1.0.0", manifest.descriptor, dict(manifest.annotations))
    push(f"{repo}:1.0.0", store=universe.store, opts=OPTS)
    assert oci.DEPENDENCIES not in universe.registry.manifest_json(f"{repo}:1.0.0")["annotations"]

    ok(skillctl(store_path, project, "add", repo, "-t", "claude"))
    assert locked(project) == {
        name: ("1.0.0", manifest.digest),
        "base": ("1.0.0", universe.digests["base", "1.0.0"]),
    }
    assert {s["name"]: s.get("dependencies") for s in lock_of(project)["skills"]}[name] == {"base": "^1"}
