"""Mirroring keeps lifecycle state: the rules of ``skillctl.airgap.reconcile`` on two real registries.

The near side is the session ``registry``. Every scenario runs against two far sides: ``open`` (a CNCF
registry of this module, deletes enabled) and ``gap`` (the session ``no_delete_registry``, deletes
disabled, as an air-gapped mirror often is). Lifecycles are signed on both sides (a near key signs what
the near side promotes, a far key what the far side promotes). After each change ``mirror`` runs until
it converges: a second run must change nothing (no copy, no removal), and the far side must then hold
exactly what the rules say, read over plain HTTP (``tests/registry.py``), not through skillctl.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from registry import Registry, need_tool, start_registry, unique_skill

from skillctl import Store, pack
from skillctl.backends.base import RegistryOptions
from skillctl.cli.app import cli
from skillctl.core.refs import is_attachment_tag
from skillctl.lifecycle.promote import promote
from skillctl.registry import transfer
from skillctl.trust.signing import generate_key_pair, sign

pytestmark = pytest.mark.integration

OPTS = RegistryOptions(tls_verify=False, timeout=120)
NO_TLS = "--tls-verify=false"
PASSWORD = b"lifecycle-pw"
STATUS = "io.skillimage.status"


@pytest.fixture(scope="module")
def open_far(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    need_tool("docker-registry")
    reg = start_registry(tmp_path_factory.mktemp("open-far"))
    yield reg
    reg.stop()


@pytest.fixture(params=["open", "gap"])
def far(request: pytest.FixtureRequest, open_far: Registry, no_delete_registry: Registry) -> Registry:
    return open_far if request.param == "open" else no_delete_registry


@dataclass(frozen=True)
class Keys:
    near: tuple[Path, Path]
    far: tuple[Path, Path]


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return Keys(
        generate_key_pair(tmp_path_factory.mktemp("near-key"), PASSWORD),
        generate_key_pair(tmp_path_factory.mktemp("far-key"), PASSWORD),
    )


def run(store: Path, *args: object) -> Result:
    return CliRunner().invoke(cli, ["--store", str(store), *map(str, args)])


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def snapshot(reg: Registry, repo: str) -> dict[str, str | None]:
    return {tag: reg.digest(f"{repo}:{tag}") for tag in reg.tags(repo)}


def status_of(reg: Registry, ref: str) -> str:
    return reg.manifest_json(ref)["annotations"][STATUS]


class Lifecycle:
    """One skill repository on the near side, promoted and signed step by step."""

    def __init__(self, near: Registry, work: Path, key: tuple[Path, Path]) -> None:
        self.repo = near.repo("demo")
        self.work = work
        self.key = key
        self.store = Store(work / "producer")

    def release(self, version: str) -> str:
        """``version`` pushed as a draft and promoted to published, every state signed; the published digest."""
        image = pack(unique_skill(self.work / f"src-{version}" / "demo", "demo", version=version), store=self.store)
        draft = f"{self.repo}:{version}-draft"
        digest = transfer.push(image.ref, draft, store=self.store, opts=OPTS).digest
        sign(f"{self.repo}@{digest}", self.key[0], PASSWORD, opts=OPTS)
        self.step(draft, "testing")
        return self.step(f"{self.repo}:{version}-testing", "published")

    def step(self, ref: str, state: str, repo: str | None = None, key: tuple[Path, Path] | None = None) -> str:
        result = promote(ref, state, opts=OPTS)
        sign(f"{repo or self.repo}@{result.digest}", (key or self.key)[0], PASSWORD, opts=OPTS)
        return result.digest


def converge(store: Path, src_repo: str, dest: str, *extra: str) -> list[list[dict[str, str]]]:
    """Run ``mirror`` until a run changes nothing; every run's items. Fails if that takes more than two runs."""
    runs = []
    for _ in range(3):
        items = json.loads(ok(run(store, "mirror", src_repo, dest, *extra, NO_TLS, "--format", "json")).stdout)
        runs.append(items)
        if not any(i["action"] in ("copied", "removed") for i in items):
            break
    assert len(runs) <= 2, [[(i["dest"], i["action"]) for i in r if i["action"] != "skipped"] for r in runs]
    assert not [i for r in runs for i in r if i["action"] == "failed"], runs
    return runs


def far_repo(src_repo: str, dest: str) -> str:
    return f"{dest}/{src_repo.partition('/')[2]}"


def kept(runs: list[list[dict[str, str]]]) -> dict[str, str]:
    return {i["dest"].rsplit(":", 1)[1]: i["detail"] for i in runs[-1] if i["action"] == "kept"}


def versions(snap: dict[str, str | None]) -> dict[str, str | None]:
    return {t: d for t, d in snap.items() if not is_attachment_tag(t)}


def test_source_lifecycle_reaches_the_mirror(registry: Registry, far: Registry, keys: Keys, tmp_path: Path) -> None:
    near = Lifecycle(registry, tmp_path, keys.near)
    pub_100 = near.release("1.0.0")
    pub_110 = near.release("1.1.0")
    store, consumer = tmp_path / "store", tmp_path / "consumer"
    dest = f"{far.host}/lc"
    mirrored = far_repo(near.repo, dest)

    converge(store, near.repo, dest)
    assert snapshot(far, mirrored) == snapshot(registry, near.repo)
    assert far.digest(f"{mirrored}:latest") == pub_110

    # 1.1.0 deprecated at the source: the mirror's 1.1.0 is deprecated too and latest moves back to 1.0.0.
    dep_110 = near.step(f"{near.repo}:1.1.0", "deprecated")
    converge(store, near.repo, dest)
    assert snapshot(far, mirrored) == snapshot(registry, near.repo)
    assert far.digest(f"{mirrored}:1.1.0") == dep_110
    assert far.digest(f"{mirrored}:latest") == pub_100
    result = ok(run(consumer, "install", f"{mirrored}:1.1.0", "-o", tmp_path / "out", NO_TLS))
    assert "deprecated" in result.stderr

    # Nothing published at the source any more: latest goes (or, where the registry cannot delete, shows the state).
    dep_100 = near.step(f"{near.repo}:1.0.0", "deprecated")
    assert "latest" not in registry.tags(near.repo)
    runs = converge(store, near.repo, dest)
    if far.delete_enabled:
        assert snapshot(far, mirrored) == snapshot(registry, near.repo)
        assert kept(runs) == {}
        missing = run(consumer, "install", mirrored, "-o", tmp_path / "out2", NO_TLS)
        assert missing.exit_code == 4 and "no published release is left" in missing.stderr, missing.stderr
    else:
        assert far.digest(f"{mirrored}:latest") == dep_100
        first = {i["dest"].rsplit(":", 1)[1]: i["detail"] for i in runs[0] if i["action"] == "kept"}
        assert "storage.delete.enabled" in first["latest"] and "deprecated manifest now" in first["latest"]
        assert "latest" in kept(runs)
        expected = {**snapshot(registry, near.repo), "latest": dep_100}
        assert snapshot(far, mirrored) == expected
        result = ok(run(consumer, "install", mirrored, "-o", tmp_path / "out2", NO_TLS))
        assert "deprecated" in result.stderr  # latest no longer installs a release silently

    # 1.1.0 archived at the source: its release tag leaves the mirror (or points at the archived manifest).
    arch_110 = near.step(f"{near.repo}:1.1.0", "archived")
    assert "1.1.0" not in registry.tags(near.repo)
    runs = converge(store, near.repo, dest, "--archived")
    assert far.manifest(f"{mirrored}@{arch_110}") == registry.manifest(f"{near.repo}@{arch_110}")
    skipped = [i for i in runs[0] if i["action"] == "skipped" and "deleted" in i["detail"]]
    assert skipped, "signatures of manifests the promotion deleted are skipped with a note"
    if far.delete_enabled:
        assert versions(snapshot(far, mirrored)) == versions(snapshot(registry, near.repo))
    else:
        assert far.digest(f"{mirrored}:1.1.0") == arch_110
        assert status_of(far, f"{mirrored}:1.1.0") == "archived"
    refused = run(consumer, "install", f"{mirrored}:1.1.0", "-o", tmp_path / "out3", NO_TLS)
    assert refused.exit_code == (4 if far.delete_enabled else 5), (refused.exit_code, refused.stderr)
    # The far side verifies what it mirrored with the near key.
    ok(run(consumer, "verify", f"{mirrored}@{arch_110}", "--key", keys.near[1], NO_TLS))
    ok(run(consumer, "verify", f"{mirrored}:1.0.0", "--key", keys.near[1], NO_TLS))


def test_destination_lifecycle_changes_are_kept_until_forced(
    registry: Registry, far: Registry, keys: Keys, tmp_path: Path
) -> None:
    near = Lifecycle(registry, tmp_path, keys.near)
    pub_100 = near.release("1.0.0")
    store = tmp_path / "store"
    dest = f"{far.host}/dc"
    mirrored = far_repo(near.repo, dest)
    converge(store, near.repo, dest)

    # The air-gapped side deprecates 1.0.0 itself, signed with its own key.
    far_dep = near.step(f"{mirrored}:1.0.0", "deprecated", repo=mirrored, key=keys.far)
    runs = converge(store, near.repo, dest)
    assert "the destination has it deprecated, the source published" in kept(runs)["1.0.0"]
    assert far.digest(f"{mirrored}:1.0.0") == far_dep
    ok(run(store, "verify", f"{mirrored}:1.0.0", "--key", keys.far[1], NO_TLS))
    if far.delete_enabled:
        assert "latest" not in far.tags(mirrored)  # not re-created from the source's latest
    else:
        assert far.digest(f"{mirrored}:latest") == far_dep  # cannot be deleted: shows the state
    again = json.loads(ok(run(store, "mirror", near.repo, dest, NO_TLS, "--format", "json")).stdout)
    assert {i["action"] for i in again} <= {"skipped", "kept"}
    text = ok(run(store, "mirror", near.repo, dest, NO_TLS))
    assert "warning: kept" in text.stderr and "--force" in text.stderr

    # A new release at the source still arrives, and latest follows it; the deprecation stays.
    pub_110 = near.release("1.1.0")
    converge(store, near.repo, dest)
    assert far.digest(f"{mirrored}:1.1.0") == pub_110
    assert far.digest(f"{mirrored}:latest") == pub_110
    assert far.digest(f"{mirrored}:1.0.0") == far_dep

    # --force makes the mirror the source's again.
    ok(run(store, "mirror", near.repo, dest, "--force", NO_TLS))
    converge(store, near.repo, dest)
    assert far.digest(f"{mirrored}:1.0.0") == pub_100
    assert versions(snapshot(far, mirrored)) == versions(snapshot(registry, near.repo))

    # The source deprecates too: the same manifest (promotion is deterministic), but the far side's signature
    # on it is not overwritten by the source's.
    near_dep = near.step(f"{near.repo}:1.0.0", "deprecated")
    assert near_dep == far_dep
    runs = converge(store, near.repo, dest)
    sig = far_dep.replace(":", "-") + ".sig"
    assert "signatures the source lacks" in kept(runs)[sig]
    assert far.digest(f"{mirrored}:1.0.0") == far_dep
    ok(run(store, "verify", f"{mirrored}:1.0.0", "--key", keys.far[1], NO_TLS))
