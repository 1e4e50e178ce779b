"""Promotion in the local store (``--local``): the whole lifecycle, latest, no-op reruns, invalid steps, concurrency."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import make_skill

from skillctl import Store, inspect_image, list_images, pack, prune
from skillctl.cli.app import cli
from skillctl.core import oci
from skillctl.core.errors import LifecycleError
from skillctl.lifecycle.promote import promote

REPO = "test/demo-skill"
STATES = ["draft", "testing", "published", "deprecated", "archived"]


# -- helpers -------------------------------------------------------------------------------------
def packed(tmp_path: Path, store: Store, version: str, *, name: str = "demo-skill", payload: str = "") -> str:
    """Pack a fresh skill of ``version``; return its local draft reference."""
    skill = make_skill(
        tmp_path / f"src-{name}-{version}", name, version=version, files={"notes.txt": f"{name} {version} {payload}"}
    )
    return pack(skill, store=store).ref


def tags(store: Store, repo: str = REPO) -> dict[str, str]:
    prefix = repo + ":"
    return {name[len(prefix) :]: e.digest for name, e in store.tagged().items() if name.startswith(prefix)}


def status(store: Store, digest: str) -> str:
    return store.manifest(digest).annotations[oci.STATUS]


def untagged(store: Store) -> dict[str, dict[str, str]]:
    return {e.digest: e.annotations for e in store.entries() if e.ref_name is None}


def blobs(store: Store) -> set[str]:
    return {"sha256:" + p.name for p in store.blobs_dir.iterdir()}


def index_bytes(store: Store) -> bytes:
    return (store.root / "index.json").read_bytes()


def run_cli(store: Store, *args: str):
    return CliRunner().invoke(cli, ["--store", str(store.root), *args], catch_exceptions=False)


def console_script() -> Path:
    script = Path(sys.executable).parent / "skillctl"
    assert script.is_file(), f"{script}: the skillctl console script is not installed next to {sys.executable}"
    return script


def assert_same_content(store: Store, digests: list[str]) -> None:
    """Every manifest has the same config and layers; annotations differ only in the status."""
    first = store.manifest(digests[0])
    for digest in digests[1:]:
        other = store.manifest(digest)
        assert other.config == first.config
        assert other.layers == first.layers
        strip = lambda a: {k: v for k, v in a.items() if k != oci.STATUS}  # noqa: E731
        assert strip(other.annotations) == strip(first.annotations)


# -- the whole lifecycle -------------------------------------------------------------------------
def test_whole_lifecycle_moves_only_the_status(tmp_path, store):
    ref = packed(tmp_path, store, "1.0.0")
    assert ref == f"{REPO}:1.0.0-draft"
    d = {"draft": tags(store)["1.0.0-draft"]}
    before = blobs(store)

    r = promote(ref, "testing", local=True, store=store)
    assert (r.source_state, r.state, r.changed, r.wrote) == ("draft", "testing", True, True)
    assert r.previous_digest == d["draft"] and r.location.startswith("the local store")
    d["testing"] = r.digest
    assert tags(store) == {"1.0.0-draft": d["draft"], "1.0.0-testing": d["testing"]}

    r = promote(f"{REPO}:1.0.0-testing", "published", local=True, store=store)
    d["published"] = r.digest
    assert r.tags == {"1.0.0": d["published"], "latest": d["published"]}
    assert tags(store) == {
        "1.0.0-draft": d["draft"],
        "1.0.0-testing": d["testing"],
        "1.0.0": d["published"],
        "latest": d["published"],
    }

    r = promote(f"{REPO}:1.0.0", "deprecated", local=True, store=store)
    d["deprecated"] = r.digest
    # The only published version is gone, so latest goes too.
    assert r.removed == ["latest"]
    assert tags(store) == {"1.0.0-draft": d["draft"], "1.0.0-testing": d["testing"], "1.0.0": d["deprecated"]}

    r = promote(f"{REPO}:1.0.0", "archived", local=True, store=store)
    d["archived"] = r.digest
    assert r.removed == ["1.0.0"] and r.tags == {}
    assert tags(store) == {"1.0.0-draft": d["draft"], "1.0.0-testing": d["testing"]}
    kept = untagged(store)
    assert d["archived"] in kept and kept[d["archived"]][oci.REPOSITORY] == REPO

    digests = [d[s] for s in STATES]
    assert len(set(digests)) == 5
    assert [status(store, x) for x in digests] == STATES
    assert_same_content(store, digests)
    # Promotion wrote the four new manifests and nothing else: no config, no layer.
    assert blobs(store) - before == set(digests[1:])

    rows = {row.ref: row.status for row in list_images(store, include_untagged=True)}
    assert rows == {
        f"{REPO}:1.0.0-draft": "draft",
        f"{REPO}:1.0.0-testing": "testing",
        d["archived"]: "archived",
    }


def test_archived_is_untagged_but_kept_by_prune(tmp_path, store):
    ref = packed(tmp_path, store, "1.0.0")
    for source, state in [(ref, "testing"), ("1.0.0-testing", "published"), ("1.0.0", "deprecated")]:
        promote(source if "/" in source else f"{REPO}:{source}", state, local=True, store=store)
    archived = promote(f"{REPO}:1.0.0", "archived", local=True, store=store).digest
    manifest = store.manifest(archived)

    result = prune(store=store)
    assert result.dropped == 0
    assert archived in untagged(store)
    for desc in (manifest.descriptor, manifest.config, *manifest.layers):
        assert store.has_blob(desc.digest), desc
    assert inspect_image(archived, store=store).annotations[oci.STATUS] == "archived"
    assert inspect_image(f"{REPO}@{archived}", store=store).digest == archived
    # The archived version is still known by its old tag name: archiving again is a no-op.
    again = promote(f"{REPO}:1.0.0", "archived", local=True, store=store)
    assert (again.wrote, again.changed, again.digest) == (False, False, archived)


# -- the command ---------------------------------------------------------------------------------
def test_cli_lifecycle_exit_codes_and_output(tmp_path, store):
    ref = packed(tmp_path, store, "1.0.0")
    steps = [(ref, "draft", "testing"), (f"{REPO}:1.0.0-testing", "testing", "published"),
             (f"{REPO}:1.0.0", "published", "deprecated"), (f"{REPO}:1.0.0", "deprecated", "archived")]  # fmt: skip
    for source, old, new in steps:
        res = run_cli(store, "promote", source, "--to", new, "--local")
        assert res.exit_code == 0, res.output
        assert f"Promoted {source}: {old} -> {new}" in res.stdout
        digest = next(line.split()[1] for line in res.stdout.splitlines() if line.startswith("Digest: "))
        assert status(store, digest) == new
        if new == "archived":
            assert f"kept by digest only: {REPO}@{digest}" in res.stdout
            assert "removed tag 1.0.0" in res.stdout
        else:
            assert tags(store)[f"1.0.0-{new}" if new == "testing" else "1.0.0"] == digest

        again = run_cli(store, "promote", source, "--to", new, "--local")
        assert again.exit_code == 0, again.output
        assert f"Already {new}: {source}" in again.stdout
        assert f"Digest: {digest}" in again.stdout


def test_cli_json_and_quiet(tmp_path, store):
    ref = packed(tmp_path, store, "1.0.0")
    res = run_cli(store, "promote", ref, "--to", "testing", "--local", "--format", "json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    testing = tags(store)["1.0.0-testing"]
    assert data["from"] == "draft" and data["to"] == "testing"
    assert data["digest"] == testing and data["previousDigest"] == tags(store)["1.0.0-draft"]
    assert data["changed"] is True and data["wrote"] is True
    assert data["tags"] == {"1.0.0-testing": testing}
    assert data["removed"] == [] and data["warnings"] == []

    res = run_cli(store, "promote", f"{REPO}:1.0.0-testing", "--to", "published", "--local", "-q")
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == tags(store)["1.0.0"]


def test_cli_archive_by_digest_names_the_archived_digest(tmp_path, store):
    ref = packed(tmp_path, store, "1.0.0")
    promote(ref, "testing", local=True, store=store)
    promote(f"{REPO}:1.0.0-testing", "published", local=True, store=store)
    deprecated = promote(f"{REPO}:1.0.0", "deprecated", local=True, store=store).digest
    res = run_cli(store, "promote", f"{REPO}@{deprecated}", "--to", "archived", "--local")
    assert res.exit_code == 0, res.output
    archived = next(d for d, a in untagged(store).items() if a.get(oci.STATUS) == "archived")
    assert f"Digest: {archived}" in res.stdout
    assert f"kept by digest only: {REPO}@{archived}" in res.stdout
    assert "1.0.0" not in tags(store)


def test_cli_local_reference_without_local_flag_is_refused(tmp_path, store):
    ref = packed(tmp_path, store, "1.0.0")
    before = index_bytes(store)
    res = run_cli(store, "promote", ref, "--to", "testing")
    assert res.exit_code == 5, res.output
    assert "not a registry reference" in res.stderr
    assert "--local" in res.stderr
    assert index_bytes(store) == before


def _store_in_every_state(tmp_path: Path, store: Store) -> dict[str, str]:
    """One version per state; returns state -> the reference a user promotes it from."""
    refs = {}
    for i, state in enumerate(STATES):
        version = f"1.{i}.0"
        where = {
            "draft": packed(tmp_path, store, version),
            "testing": f"{REPO}:{version}-testing",
            "published": f"{REPO}:{version}",
            "deprecated": f"{REPO}:{version}",
        }
        for k in range(i):
            result = promote(where[STATES[k]], STATES[k + 1], local=True, store=store)
            where["archived"] = f"{REPO}@{result.digest}"
        refs[state] = where[state]
    return refs


def test_invalid_transitions_exit_5_and_change_nothing(tmp_path, store):
    refs = _store_in_every_state(tmp_path, store)
    for state, ref in refs.items():
        assert status(store, store.resolve(ref).digest) == state
    before = index_bytes(store)
    checked = 0
    for i, current in enumerate(STATES):
        for j, target in enumerate(STATES):
            if j in (i, i + 1):
                continue
            res = run_cli(store, "promote", refs[current], "--to", target, "--local")
            assert res.exit_code == 5, (current, target, res.output)
            assert res.stdout == ""
            if current == "archived":
                assert "nothing follows archived" in res.stderr
            else:
                assert f"the next state is {STATES[i + 1]}" in res.stderr, res.stderr
            with pytest.raises(LifecycleError):
                promote(refs[current], target, local=True, store=store)
            checked += 1
    assert checked == 16
    assert index_bytes(store) == before


def test_unknown_state_is_a_usage_error(tmp_path, store):
    ref = packed(tmp_path, store, "1.0.0")
    res = run_cli(store, "promote", ref, "--to", "released", "--local")
    assert res.exit_code == 2
    assert "released" in res.stderr


# -- rerunning -----------------------------------------------------------------------------------
def test_rerunning_each_promotion_is_a_no_op(tmp_path, store):
    ref = packed(tmp_path, store, "1.0.0")
    steps = [(ref, "testing"), (f"{REPO}:1.0.0-testing", "published"), (f"{REPO}:1.0.0", "deprecated"),
             (f"{REPO}:1.0.0", "archived")]  # fmt: skip
    for source, target in steps:
        first = promote(source, target, local=True, store=store)
        assert first.wrote
        snapshot, index = dict(tags(store)), index_bytes(store)
        for _ in range(2):
            again = promote(source, target, local=True, store=store)
            assert again.wrote is False
            assert again.digest == first.digest
            assert again.removed == [] and again.warnings == []
            assert tags(store) == snapshot
            assert index_bytes(store) == index  # not even rewritten


def test_retrying_an_earlier_step_never_undoes_a_later_one(tmp_path, store):
    ref = packed(tmp_path, store, "1.0.0")
    promote(ref, "testing", local=True, store=store)
    published = promote(f"{REPO}:1.0.0-testing", "published", local=True, store=store).digest
    deprecated = promote(f"{REPO}:1.0.0", "deprecated", local=True, store=store).digest
    index = index_bytes(store)
    stale = promote(f"{REPO}:1.0.0-testing", "published", local=True, store=store)
    assert stale.wrote is False and stale.digest == deprecated != published
    assert any("already deprecated" in w for w in stale.warnings), stale.warnings
    assert index_bytes(store) == index
    assert tags(store)["1.0.0"] == deprecated and "latest" not in tags(store)

    archived = promote(f"{REPO}:1.0.0", "archived", local=True, store=store).digest
    index = index_bytes(store)
    for source, target in [(f"{REPO}:1.0.0-testing", "published"), (f"{REPO}@{published}", "deprecated")]:
        stale = promote(source, target, local=True, store=store)
        assert stale.wrote is False and stale.digest == archived, (source, target)
        assert any("already archived" in w for w in stale.warnings), stale.warnings
        assert index_bytes(store) == index
    res = run_cli(store, "promote", f"{REPO}:1.0.0-testing", "--to", "published", "--local")
    assert res.exit_code == 0, res.output
    assert "already archived" in res.stderr
    assert "1.0.0" not in tags(store) and "latest" not in tags(store)
    # The archived version supersedes its draft and testing tags; prune drops them and keeps the archive.
    pruned = prune(store=store)
    assert sorted(ref for ref, _ in pruned.untagged) == [f"{REPO}:1.0.0-draft", f"{REPO}:1.0.0-testing"]
    assert tags(store) == {}
    assert store.manifest(archived).annotations["io.skillimage.status"] == "archived"


# -- latest --------------------------------------------------------------------------------------
def _publish(tmp_path: Path, store: Store, version: str) -> str:
    ref = packed(tmp_path, store, version)
    promote(ref, "testing", local=True, store=store)
    return promote(f"{REPO}:{version}-testing", "published", local=True, store=store).digest


def test_latest_follows_the_highest_published_release(tmp_path, store):
    v2 = _publish(tmp_path, store, "2.0.0")
    assert tags(store)["latest"] == v2

    v101 = _publish(tmp_path, store, "1.0.1")  # an older release published later
    assert tags(store)["latest"] == v2
    v110 = _publish(tmp_path, store, "1.10.0")  # semver order, not text order
    assert tags(store)["latest"] == v2
    rc = _publish(tmp_path, store, "3.0.0-rc.1")  # a prerelease, higher than everything: never latest
    assert tags(store)["3.0.0-rc.1"] == rc and status(store, rc) == "published"
    assert tags(store)["latest"] == v2

    r = promote(f"{REPO}:2.0.0", "deprecated", local=True, store=store)
    assert r.tags["latest"] == v110
    assert tags(store)["latest"] == v110

    r = promote(f"{REPO}:2.0.0", "archived", local=True, store=store)
    assert tags(store)["latest"] == v110 and "latest" not in r.removed

    promote(f"{REPO}:1.10.0", "deprecated", local=True, store=store)
    assert tags(store)["latest"] == v101

    r = promote(f"{REPO}:1.0.1", "deprecated", local=True, store=store)
    assert r.removed == ["latest"]
    assert "latest" not in tags(store)  # only the prerelease is published now
    promote(f"{REPO}:1.0.1", "archived", local=True, store=store)
    assert "latest" not in tags(store)


def test_a_published_prerelease_never_becomes_latest(tmp_path, store):
    digest = _publish(tmp_path, store, "1.0.0-rc.1")
    assert tags(store) == {"1.0.0-rc.1-draft": tags(store)["1.0.0-rc.1-draft"],
                           "1.0.0-rc.1-testing": tags(store)["1.0.0-rc.1-testing"], "1.0.0-rc.1": digest}  # fmt: skip
    assert "latest" not in tags(store)


def test_latest_is_per_repository(tmp_path, store):
    mine = _publish(tmp_path, store, "1.0.0")
    other = packed(tmp_path, store, "9.0.0", name="other-skill")
    promote(other, "testing", local=True, store=store)
    promote("test/other-skill:9.0.0-testing", "published", local=True, store=store)
    assert tags(store)["latest"] == mine
    assert tags(store, "test/other-skill")["latest"] == tags(store, "test/other-skill")["9.0.0"]


# -- concurrency ---------------------------------------------------------------------------------
def test_concurrent_local_promotions_leave_latest_on_the_highest(tmp_path, store):
    versions = ["1.0.0", "2.0.0", "1.5.0"]
    for version in versions:
        promote(packed(tmp_path, store, version), "testing", local=True, store=store)
    script = console_script()
    procs = [
        subprocess.Popen(
            [str(script), "--store", str(store.root), "promote", f"{REPO}:{v}-testing", "--to", "published", "--local"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for v in versions
    ]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        outputs.append((proc.returncode, out, err))
    assert [rc for rc, _, _ in outputs] == [0, 0, 0], outputs
    final = tags(store)
    for version in versions:
        assert status(store, final[version]) == "published"
    assert final["latest"] == final["2.0.0"]
    assert not any("warning" in err for _, _, err in outputs), outputs
