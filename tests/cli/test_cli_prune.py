"""skillctl prune."""

from __future__ import annotations

import pytest
from cli_helpers import ok_json, tags
from oci_helpers import file, put_image, tar_bytes

from skillctl import Store
from skillctl.core import oci


@pytest.fixture
def lifecycle(store_path):
    store = Store(store_path)
    images = {}
    for status, tag in [("draft", "1.0.0-draft"), ("testing", "1.0.0-testing"), ("published", "1.0.0")]:
        annotations = {oci.STATUS: status, oci.VERSION: "1.0.0"}
        images[status] = put_image(
            store, tar_bytes([file("SKILL.md", status.encode() * 100)]), tag=f"ns/x:{tag}", annotations=annotations
        )
    return store, images


def blob_files(store_path):
    return sorted(p.name for p in (store_path / "blobs/sha256").iterdir())


def test_prune_nothing(run, packed):
    result = run("prune")
    assert (result.exit_code, result.stdout) == (0, "Nothing to prune.\n")


def test_prune(run, lifecycle, store_path):
    _, images = lifecycle
    doomed = [images[s] for s in ("draft", "testing")]
    freed = sum(
        (store_path / "blobs/sha256" / d[7:]).stat().st_size
        for m in doomed
        for d in (m.digest, m.config.digest, m.layers[0].digest)
    )
    result = run("prune")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[:2] == ["Removed ns/x:1.0.0-draft (draft)", "Removed ns/x:1.0.0-testing (testing)"]
    assert lines[2].startswith("Freed ") and lines[2].endswith("(6 unreferenced blobs, 0 untagged manifests).")
    assert tags(run) == ["ns/x:1.0.0"]
    assert len(blob_files(store_path)) == 3
    assert freed > 0


def test_prune_dry_run_json(run, lifecycle, store_path):
    _, images = lifecycle
    index_before = (store_path / "index.json").read_bytes()
    blobs_before = blob_files(store_path)
    data = ok_json(run("prune", "--dry-run", "--format", "json"))
    assert set(data) == {"untagged", "droppedUntaggedManifests", "blobsRemoved", "bytesFreed", "dryRun"}
    assert data["untagged"] == [
        {"ref": "ns/x:1.0.0-draft", "status": "draft"},
        {"ref": "ns/x:1.0.0-testing", "status": "testing"},
    ]
    assert (data["blobsRemoved"], data["droppedUntaggedManifests"], data["dryRun"]) == (6, 0, True)
    assert data["bytesFreed"] == sum(
        (store_path / "blobs/sha256" / d[7:]).stat().st_size
        for s in ("draft", "testing")
        for d in (images[s].digest, images[s].config.digest, images[s].layers[0].digest)
    )
    text = run("prune", "--dry-run")
    assert text.stdout.splitlines()[0] == "Would remove ns/x:1.0.0-draft (draft)"
    assert text.stdout.splitlines()[-1].startswith("Would free ")
    assert (store_path / "index.json").read_bytes() == index_before
    assert blob_files(store_path) == blobs_before


def test_prune_quiet(run, lifecycle):
    result = run("prune", "-q")
    assert result.stdout == "ns/x:1.0.0-draft\nns/x:1.0.0-testing\n"


def test_prune_bad_option(run):
    result = run("prune", "--all")
    assert result.exit_code == 2 and "No such option" in result.stderr
