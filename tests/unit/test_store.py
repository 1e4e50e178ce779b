"""The local store: an OCI image layout with full-reference tags, atomic writes, locks and GC."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from oci_helpers import file, put_image, sha256, tar_bytes

import skillctl
from skillctl import Store, default_store_path
from skillctl.core import oci
from skillctl.core.errors import IntegrityError, NotFoundError, StoreError
from skillctl.core.fsutil import atomic_write, file_lock
from skillctl.store.layout import IndexEntry


def test_default_store_path(tmp_path, isolated_env):
    assert default_store_path() == isolated_env / ".local/share/skillctl/store"
    assert default_store_path({"HOME": "/h"}) == Path("/h/.local/share/skillctl/store")
    assert default_store_path({"HOME": "/h", "XDG_DATA_HOME": "/data"}) == Path("/data/skillctl/store")
    env = {"HOME": "/h", "XDG_DATA_HOME": "/data", "SKILLCTL_STORE": str(tmp_path / "s")}
    assert default_store_path(env) == tmp_path / "s"
    assert Store().root == isolated_env / ".local/share/skillctl/store"


def test_store_env_var_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv("SKILLCTL_STORE", str(tmp_path / "elsewhere"))
    assert Store().root == tmp_path / "elsewhere"


def test_init_writes_an_oci_layout(store):
    assert not store.exists()
    store.init()
    assert json.loads((store.root / "oci-layout").read_bytes()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((store.root / "index.json").read_bytes())
    assert index == {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}
    assert store.blobs_dir.is_dir()
    assert store.exists()
    before = (store.root / "index.json").stat().st_ino
    store.init()
    assert (store.root / "index.json").stat().st_ino == before


def test_index_records_the_full_reference(hello, store):
    result = skillctl.pack(hello, store=store)
    index = json.loads((store.root / "index.json").read_bytes())
    assert index["schemaVersion"] == 2
    [entry] = index["manifests"]
    assert entry["mediaType"] == oci.MANIFEST_V1
    assert entry["digest"] == result.digest
    assert entry["size"] == len(result.manifest.raw)
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == "examples/hello-world:1.0.0-draft"
    # the manifest annotations are copied into the entry, as the Go tool does
    for key, value in result.manifest.annotations.items():
        assert entry["annotations"][key] == value


def test_index_entries_are_sorted_with_untagged_last(store):
    m1 = put_image(store, tar_bytes([file("a")]))
    m2 = put_image(store, tar_bytes([file("b")]))
    store.set_tag("ns/z:1", m1.descriptor)
    store.set_tag("ns/a:1", m2.descriptor)
    store.update_index(lambda entries: [*entries, IndexEntry(m1.descriptor)])
    names = [
        e.get("annotations", {}).get(oci.REF_NAME)
        for e in json.loads((store.root / "index.json").read_bytes())["manifests"]
    ]
    assert names == ["ns/a:1", "ns/z:1", None]


def test_set_tag_returns_the_previous_digest(store):
    m1 = put_image(store, tar_bytes([file("a")]))
    m2 = put_image(store, tar_bytes([file("b")]))
    assert store.set_tag("ns/x:1", m1.descriptor) is None
    assert store.set_tag("ns/x:1", m2.descriptor) == m1.digest
    assert store.resolve("ns/x:1").digest == m2.digest
    assert [e.digest for e in store.entries()] == [m2.digest]


def test_set_tag_to_the_same_digest_does_not_rewrite_the_index(store):
    m1 = put_image(store, tar_bytes([file("a")]))
    store.set_tag("ns/x:1", m1.descriptor, {"k": "v"})
    index = store.root / "index.json"
    before, ino = index.read_bytes(), index.stat().st_ino
    assert store.set_tag("ns/x:1", m1.descriptor, {"k": "other"}) == m1.digest
    assert index.read_bytes() == before and index.stat().st_ino == ino


def test_resolve(store):
    m = put_image(store, tar_bytes([file("a")]), tag="ns/x:1.0.0")
    store.set_tag("ns/x:latest", m.descriptor)
    assert store.resolve("ns/x:1.0.0").ref_name == "ns/x:1.0.0"
    assert store.resolve("ns/x").ref_name == "ns/x:latest"
    assert store.resolve(m.digest).digest == m.digest
    assert store.resolve(f"ns/x@{m.digest}").digest == m.digest
    assert store.resolve(skillctl.parse_reference("ns/x:1.0.0")).digest == m.digest


def test_resolve_untagged_manifest_by_digest(store):
    m = put_image(store, tar_bytes([file("a")]))
    entry = store.resolve(m.digest)
    assert entry.ref_name is None and entry.digest == m.digest


def test_resolve_missing_names_the_sibling_tags(store):
    put_image(store, tar_bytes([file("a")]), tag="ns/x:1.0.0")
    put_image(store, tar_bytes([file("b")]), tag="ns/x:2.0.0")
    with pytest.raises(NotFoundError) as info:
        store.resolve("ns/x:3.0.0")
    assert info.value.message == f"ns/x:3.0.0: not found in the local store ({store.root})"
    assert info.value.hint == "ns/x has tags: 1.0.0, 2.0.0"
    with pytest.raises(NotFoundError) as info:
        store.resolve("other/y:1")
    assert info.value.hint == "run 'skillctl list' to see the local images"
    with pytest.raises(NotFoundError, match="no image with this digest"):
        store.resolve("sha256:" + "0" * 64)


def test_put_blob_is_idempotent_and_content_addressed(store):
    store.init()
    with store.writing():
        digest = store.put_blob(b"hello")
        assert store.put_blob(b"hello") == digest
    assert digest == sha256(b"hello")
    assert store.blob_path(digest).read_bytes() == b"hello"
    assert store.blob_path(digest).stat().st_mode & 0o777 == 0o644
    assert list(store.tmp_dir.iterdir()) == []


def test_uncommitted_blob_leaves_nothing(store):
    store.init()
    with store.writing(), store.new_blob() as blob:
        blob.write(b"partial")
    assert list(store.tmp_dir.iterdir()) == []
    assert list(store.blobs_dir.iterdir()) == []


def test_read_blob_checks_the_digest(store):
    store.init()
    with store.writing():
        digest = store.put_blob(b'{"a":1}')
    assert store.read_blob(digest) == b'{"a":1}'
    store.blob_path(digest).write_bytes(b'{"a":2}')
    with pytest.raises(IntegrityError) as info:
        store.read_blob(digest)
    assert "does not match its digest" in info.value.message
    assert info.value.hint
    store.blob_path(digest).unlink()
    with pytest.raises(IntegrityError, match="missing from the store"):  # a damaged store: exit 10
        store.read_blob(digest)


def test_read_blob_size_limit(store):
    store.init()
    with store.writing():
        digest = store.put_blob(b"x" * 100)
    with pytest.raises(IntegrityError, match="larger than 10 bytes"):
        store.read_blob(digest, limit=10)
    assert store.read_blob(digest, limit=100) == b"x" * 100  # exactly the limit: read whole


def test_read_blob_refuses_malformed_digests_too(store):
    store.init()
    with pytest.raises(IntegrityError, match="malformed digest"):
        store.read_blob("sha256:../../etc/passwd")


@pytest.mark.parametrize("digest", ["sha256:abc", "md5:" + "a" * 32, "sha256:" + "A" * 64, "sha256:../../etc/passwd"])
def test_malformed_digests_never_become_paths(store, digest):
    with pytest.raises(IntegrityError, match="malformed digest"):
        store.blob_path(digest)


def test_corrupt_index_is_a_store_error(store):
    store.init()
    (store.root / "index.json").write_text("{not json")
    with pytest.raises(StoreError) as info:
        store.entries()
    assert "not a valid OCI index" in info.value.message
    assert info.value.hint


def test_gc_deletes_unreferenced_blobs_and_leftover_temp_files(store):
    kept = put_image(store, tar_bytes([file("keep")]), tag="ns/keep:1")
    orphan = put_image(store, tar_bytes([file("orphan", b"o" * 1000)]))  # no index entry at all
    # what a writer killed at various points leaves behind
    (store.tmp_dir / "blob-abc123").write_bytes(b"z" * 300)
    (store.root / ".index.json.x1y2z3.tmp").write_bytes(b"{" * 40)
    kept_blobs = {kept.digest, kept.config.digest, kept.layers[0].digest}
    orphan_blobs = {orphan.digest, orphan.config.digest, orphan.layers[0].digest}
    orphan_bytes = sum(store.blob_path(d).stat().st_size for d in orphan_blobs)
    result = store.gc()
    assert result.blobs_removed == 3
    assert result.temp_removed == 2
    assert result.bytes_freed == orphan_bytes + 300 + 40
    assert {"sha256:" + p.name for p in store.blobs_dir.iterdir()} == kept_blobs
    assert list(store.tmp_dir.iterdir()) == []
    assert list(store.root.glob(".index.json.*")) == []
    assert store.resolve("ns/keep:1").digest == kept.digest
    assert store.gc().blobs_removed == 0


def test_gc_of_a_missing_store_creates_nothing(store):
    assert store.gc().blobs_removed == 0
    assert not store.root.exists()


def test_atomic_write_replaces_and_cleans_up(tmp_path):
    target = tmp_path / "f.json"
    atomic_write(target, b"one")
    atomic_write(target, b"two", mode=0o600)
    assert target.read_bytes() == b"two"
    assert target.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.json"]


def test_file_lock_times_out_with_a_clear_error(tmp_path):
    lock = tmp_path / "x.lock"
    with (
        file_lock(lock),
        pytest.raises(StoreError, match="still locked by another skillctl process") as info,
        file_lock(lock, timeout=0.1),
    ):
        pass
    assert info.value.hint
    with file_lock(lock, shared=True), file_lock(lock, shared=True, timeout=0.1):
        pass  # shared locks do not exclude each other


def test_go_written_entries_without_annotations_are_read(store):
    m = put_image(store, tar_bytes([file("a")]))
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": oci.MANIFEST_V1,
                "digest": m.digest,
                "size": len(m.raw),
                "annotations": {oci.REF_NAME: "quay.io/org/x:1.0.0"},
            },
            {"mediaType": oci.MANIFEST_V1, "digest": m.digest, "size": len(m.raw)},
        ],
    }
    (store.root / "index.json").write_text(json.dumps(index))
    entries = store.entries()
    assert [(e.ref_name, e.digest) for e in entries] == [("quay.io/org/x:1.0.0", m.digest), (None, m.digest)]
    assert store.tagged() == {"quay.io/org/x:1.0.0": entries[0]}


def test_store_files_are_plain_layout_files(hello, store):
    skillctl.pack(hello, store=store)
    top = sorted(p.name for p in store.root.iterdir())
    assert top == [".skillctl", "blobs", "index.json", "oci-layout"]
    assert all(len(p.name) == 64 for p in store.blobs_dir.iterdir())
    assert os.listdir(store.root / "blobs") == ["sha256"]


def test_gc_keeps_images_reached_only_through_an_index(hello, store):
    """A multi-platform index written by another tool (skopeo --multi-arch) keeps its children alive."""
    import json as _json

    import skillctl
    from skillctl.core import oci as _oci
    from skillctl.store.layout import IndexEntry

    packed = skillctl.pack(hello, store=store)
    manifest = store.manifest(packed.digest)
    index_raw = _json.dumps(
        {"schemaVersion": 2, "mediaType": _oci.INDEX_V1, "manifests": [manifest.descriptor.to_json()]}
    ).encode()
    with store.writing():
        index_digest = store.put_blob(index_raw)
        descriptor = _oci.Descriptor(_oci.INDEX_V1, index_digest, len(index_raw))
        store.update_index(lambda entries: [IndexEntry(descriptor, {_oci.REF_NAME: "multi/arch:1"})])
    result = store.gc()
    assert result.blobs_removed == 0
    for desc in (manifest.descriptor, manifest.config, *manifest.layers):
        assert store.has_blob(desc.digest)
