"""Verification follows a skill through upgrades: the key it was installed with is recorded and required again.

A skill installed with ``--verify-key`` records the key (absolute path and fingerprint) in its receipt;
``upgrade``, a plain re-``install`` and ``collection install`` of that skill then refuse any release the
same key has not signed, until the user names another key (``--verify-key``, recorded in its place) or
says ``--no-verify`` (the receipt then records none). Everything runs on the session registry with real
signatures (skillctl's cosign-format signing); the commands under test run through the CLI.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from registry import Registry, unique_skill

from skillctl import Store, pack
from skillctl.backends.base import RegistryOptions
from skillctl.cli.app import cli
from skillctl.lifecycle.promote import promote
from skillctl.registry.transfer import push
from skillctl.trust.recorded import key_fingerprint
from skillctl.trust.signing import generate_key_pair, sign

pytestmark = pytest.mark.integration

OPTS = RegistryOptions(tls_verify=False, timeout=120)
NO_TLS = "--tls-verify=false"
PASSWORD = b"upgrade-pw"
NAME = "demo"


def run(store: Path, *args: object) -> Result:
    return CliRunner().invoke(cli, ["--store", str(store), *map(str, args)], catch_exceptions=False)


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def refused(result: Result, code: int, *fragments: str) -> None:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


def receipt(out: Path) -> dict:
    return json.loads((out / ".skillimage" / "receipts" / f"{NAME}.json").read_text())


def installed_version(out: Path) -> str:
    return receipt(out)["version"]


class Repo:
    """One repository on the registry, versions published on demand, optionally signed."""

    def __init__(self, registry: Registry, work: Path) -> None:
        self.repo = registry.repo(NAME)
        self.work = work
        self.store = Store(work / "publisher")

    def publish(self, version: str, key: Path | None) -> str:
        """``version`` pushed and promoted to published; the published digest signed by ``key``."""
        source = unique_skill(self.work / f"src-{version}" / NAME, NAME, version=version)
        image = pack(source, store=self.store)
        draft = f"{self.repo}:{version}-draft"
        push(image.ref, draft, store=self.store, opts=OPTS)
        promote(draft, "testing", opts=OPTS)
        result = promote(f"{self.repo}:{version}-testing", "published", opts=OPTS)
        if key is not None:
            sign(f"{self.repo}@{result.digest}", key, PASSWORD, opts=OPTS)
        return result.digest


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, tuple[Path, Path]]:
    return {name: generate_key_pair(tmp_path / f"key-{name}", PASSWORD) for name in ("a", "b")}


def test_upgrade_requires_the_key_recorded_at_install(registry: Registry, keys: dict, tmp_path: Path) -> None:
    (key_a, pub_a), (key_b, pub_b) = keys["a"], keys["b"]
    repo = Repo(registry, tmp_path)
    repo.publish("1.0.0", key_a)
    store, out = tmp_path / "store", tmp_path / "skills"

    result = ok(run(store, "install", f"{repo.repo}:1.0.0", "-o", out, "--verify-key", pub_a, NO_TLS))
    assert f"Signature verified with {pub_a.resolve()}" in result.stdout
    assert receipt(out)["verifiedBy"] == {
        "method": "key",
        "key": str(pub_a.resolve()),
        "fingerprint": key_fingerprint(pub_a),
    }

    # An unsigned release: upgrade, a plain install and a collection install all refuse it.
    repo.publish("1.1.0", None)
    refused(run(store, "upgrade", NAME, "-o", out, NO_TLS), 10, "no signature found")
    assert installed_version(out) == "1.0.0"
    refused(run(store, "install", f"{repo.repo}:1.1.0", "-o", out, NO_TLS), 10, "no signature found")
    collection = tmp_path / "collection.yaml"
    collection.write_text(
        "apiVersion: skillimage.io/v1alpha1\nkind: SkillCollection\n"
        f"metadata:\n  name: team\n  version: 1.0.0\nskills:\n  - image: {repo.repo}:1.1.0\n"
    )
    coll = run(store, "collection", "install", "-f", collection, "-o", out, NO_TLS, "--format", "json")
    assert coll.exit_code != 0
    [outcome] = json.loads(coll.stdout)["outcomes"]
    assert outcome["status"] == "failed" and "no signature found" in outcome["detail"]
    assert installed_version(out) == "1.0.0"

    # Signed, but by another key: still refused; naming that key explicitly records it instead.
    repo.publish("1.2.0", key_b)
    refused(run(store, "upgrade", NAME, "-o", out, NO_TLS), 10, "verifies with")
    assert installed_version(out) == "1.0.0"
    result = ok(run(store, "upgrade", NAME, "-o", out, "--verify-key", pub_b, NO_TLS))
    assert f"verified with {pub_b.resolve()}" in result.stdout
    assert installed_version(out) == "1.2.0"
    assert receipt(out)["verifiedBy"]["fingerprint"] == key_fingerprint(pub_b)

    # --no-verify replaces it unverified, says so, and the receipt records no verification any more.
    repo.publish("1.3.0", None)
    result = ok(run(store, "upgrade", "--all", "-o", out, "--no-verify", NO_TLS))
    assert "--no-verify drops that" in result.stderr
    assert installed_version(out) == "1.3.0"
    assert "verifiedBy" not in receipt(out)
    repo.publish("1.4.0", None)
    ok(run(store, "upgrade", NAME, "-o", out, NO_TLS))  # nothing recorded: nothing required
    assert installed_version(out) == "1.4.0"


def test_a_changed_or_missing_recorded_key_is_refused(registry: Registry, keys: dict, tmp_path: Path) -> None:
    (key_a, pub_a), (_, pub_b) = keys["a"], keys["b"]
    repo = Repo(registry, tmp_path)
    repo.publish("1.0.0", key_a)
    repo.publish("1.1.0", key_a)
    trusted = tmp_path / "trusted" / "cosign.pub"
    trusted.parent.mkdir()
    shutil.copy(pub_a, trusted)
    store, out = tmp_path / "store", tmp_path / "skills"
    ok(run(store, "install", f"{repo.repo}:1.0.0", "-o", out, "--verify-key", trusted, NO_TLS))

    shutil.copy(pub_b, trusted)  # another key at the recorded path
    refused(run(store, "install", f"{repo.repo}:1.1.0", "-o", out, NO_TLS), 10, "is not the key it was installed with")
    trusted.unlink()
    refused(run(store, "install", f"{repo.repo}:1.1.0", "-o", out, NO_TLS), 4, "no longer exists", "--no-verify")
    assert installed_version(out) == "1.0.0"
    shutil.copy(pub_a, trusted)  # the same key back: accepted again
    ok(run(store, "upgrade", NAME, "-o", out, NO_TLS))
    assert installed_version(out) == "1.1.0"
    refused(
        run(store, "install", f"{repo.repo}:1.1.0", "-o", out, "--verify-key", trusted, "--no-verify", NO_TLS),
        2,
        "contradict",
    )
