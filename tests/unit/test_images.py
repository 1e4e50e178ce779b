"""list, inspect, tag, rm and prune on the local store."""

from __future__ import annotations

import json

import pytest
from helpers import make_skill
from oci_helpers import file, put_image, tar_bytes

import skillctl
from skillctl import inspect_image, list_images, prune, remove_images, tag_image
from skillctl.core import oci
from skillctl.core.errors import IntegrityError, NotFoundError, UsageError
from skillctl.store.layout import IndexEntry


def blob_names(store) -> set[str]:
    return {"sha256:" + p.name for p in store.blobs_dir.iterdir()}


def image_blobs(manifest: oci.Manifest) -> set[str]:
    return {manifest.digest, manifest.config.digest, *(layer.digest for layer in manifest.layers)}


def blob_bytes(store, digests) -> int:
    return sum(store.blob_path(d).stat().st_size for d in digests)


def lifecycle_image(store, status: str, *, version: str = "1.0.0", payload: bytes = b"", tag: str | None = None):
    annotations = {oci.STATUS: status, oci.VERSION: version, oci.TITLE: "x"}
    return put_image(store, tar_bytes([file("SKILL.md", payload or status.encode())]), tag=tag, annotations=annotations)


# -- list ----------------------------------------------------------------------------------------


def test_list_rows(hello, tmp_path, store):
    first = skillctl.pack(hello, store=store)
    other = skillctl.pack(
        make_skill(tmp_path / "b", name="b", version="2.0.0"), store=store, env={"SOURCE_DATE_EPOCH": "0"}
    )
    rows = list_images(store)
    assert [r.ref for r in rows] == ["examples/hello-world:1.0.0-draft", "test/b:2.0.0-draft"]
    hello_row, b_row = rows
    assert hello_row.name == "examples/hello-world" and hello_row.tag == "1.0.0-draft"
    assert hello_row.digest == first.digest
    assert (hello_row.status, hello_row.version) == ("draft", "1.0.0")
    assert hello_row.size == first.layer.size
    assert hello_row.created == store.resolve(first.ref).annotations[oci.PACKED_AT]
    assert b_row.created == "1970-01-01T00:00:00Z"
    assert b_row.digest == other.digest
    assert set(hello_row.to_json()) == {
        "ref",
        "name",
        "tag",
        "digest",
        "status",
        "version",
        "size",
        "created",
        "signed",
    }


def test_list_empty_and_missing_store(store):
    assert list_images(store) == []
    assert not store.root.exists()


def test_list_untagged_on_request(store):
    tagged = put_image(store, tar_bytes([file("a")]), tag="ns/x:1")
    loose = put_image(store, tar_bytes([file("b")]))
    store.update_index(lambda entries: [*entries, IndexEntry(loose.descriptor)])
    assert [r.ref for r in list_images(store)] == ["ns/x:1"]
    rows = list_images(store, include_untagged=True)
    assert [r.ref for r in rows] == ["ns/x:1", loose.digest]
    assert rows[1].name == "" and rows[1].tag == ""
    assert rows[0].digest == tagged.digest


def test_list_survives_a_damaged_manifest(store):
    m = put_image(store, tar_bytes([file("a")]), tag="ns/x:1")
    store.blob_path(m.digest).write_bytes(b"garbage")
    [row] = list_images(store)
    assert row.ref == "ns/x:1" and row.size == 0


# -- inspect -------------------------------------------------------------------------------------


def test_inspect(hello, store):
    result = skillctl.pack(hello, store=store)
    details = inspect_image("examples/hello-world:1.0.0-draft", store=store)
    assert details.digest == result.digest
    assert details.ref == "examples/hello-world:1.0.0-draft"
    assert details.config["architecture"] == "amd64" and details.config["os"] == "linux"
    assert details.size == result.layer.size
    data = details.to_json()
    assert set(data) == {
        "ref",
        "digest",
        "mediaType",
        "source",
        "skill",
        "config",
        "layers",
        "size",
        "annotations",
        "packedAt",
    }
    assert data["skill"] == {
        "name": "hello-world",
        "title": "Hello World",
        "version": "1.0.0",
        "status": "draft",
        "description": result.manifest.annotations[oci.DESCRIPTION],
        "vendor": "examples",
    }
    assert data["config"] == {
        "mediaType": oci.CONFIG_V1,
        "digest": result.manifest.config.digest,
        "size": result.manifest.config.size,
        "architecture": "amd64",
        "os": "linux",
    }
    assert data["layers"] == [
        {"mediaType": oci.LAYER_TAR_GZIP, "digest": result.layer.digest, "size": result.layer.size}
    ]
    assert data["annotations"] == result.manifest.annotations
    assert data["source"] == "local" and data["mediaType"] == oci.MANIFEST_V1
    json.dumps(data)
    by_digest = inspect_image(result.digest, store=store)
    assert by_digest.digest == result.digest and by_digest.ref == "examples/hello-world:1.0.0-draft"


def test_inspect_missing(store):
    with pytest.raises(NotFoundError):
        inspect_image("ns/nothing:1", store=store)


@pytest.mark.parametrize("which", ["manifest", "config"])
def test_inspect_damaged_blob_is_an_integrity_error(hello, store, which):
    result = skillctl.pack(hello, store=store)
    digest = result.digest if which == "manifest" else result.manifest.config.digest
    path = store.blob_path(digest)
    path.write_bytes(path.read_bytes().replace(b"amd64", b"arm64").replace(b"draft", b"drafT"))
    with pytest.raises(IntegrityError) as info:
        inspect_image(result.ref, store=store)
    assert digest in info.value.message
    assert info.value.exit_code == 10


# -- tag -----------------------------------------------------------------------------------------


def test_tag(hello, store):
    result = skillctl.pack(hello, store=store)
    assert tag_image(result.ref, "quay.io/org/hello:1.0.0-draft", store=store) == (
        "quay.io/org/hello:1.0.0-draft",
        result.digest,
    )
    assert tag_image(result.ref, "mirror/hello", store=store) == ("mirror/hello:latest", result.digest)
    assert sorted(store.tagged()) == [
        "examples/hello-world:1.0.0-draft",
        "mirror/hello:latest",
        "quay.io/org/hello:1.0.0-draft",
    ]
    copied = store.resolve("quay.io/org/hello:1.0.0-draft").annotations
    assert copied[oci.REF_NAME] == "quay.io/org/hello:1.0.0-draft"
    assert copied[oci.TITLE] == "Hello World"


def test_tag_errors(hello, store):
    result = skillctl.pack(hello, store=store)
    with pytest.raises(UsageError, match="cannot be a digest"):
        tag_image(result.ref, f"ns/x@{result.digest}", store=store)
    with pytest.raises(UsageError, match="invalid target reference"):
        tag_image(result.ref, "Not Valid", store=store)
    with pytest.raises(NotFoundError):
        tag_image("ns/missing:1", "ns/x:1", store=store)
    assert list(store.tagged()) == [result.ref]


# -- rm ------------------------------------------------------------------------------------------


def test_rm_by_tag_keeps_other_tags(hello, store):
    result = skillctl.pack(hello, store=store)
    tag_image(result.ref, "ns/copy:1", store=store)
    removed = remove_images([result.ref], store=store)
    assert removed.removed == [result.ref] and removed.missing == []
    assert list(store.tagged()) == ["ns/copy:1"]
    assert store.has_blob(result.digest)  # blobs go at the next prune


def test_rm_by_digest_removes_every_tag(hello, store):
    result = skillctl.pack(hello, store=store)
    tag_image(result.ref, "ns/copy:1", store=store)
    other = put_image(store, tar_bytes([file("x")]), tag="ns/other:1")
    removed = remove_images([result.digest], store=store)
    assert sorted(removed.removed) == ["examples/hello-world:1.0.0-draft", "ns/copy:1"]
    assert [e.digest for e in store.entries()] == [other.digest]


def test_rm_repo_at_digest_only_removes_that_repository(hello, store):
    result = skillctl.pack(hello, store=store)
    tag_image(result.ref, "ns/copy:1", store=store)
    removed = remove_images([f"ns/copy@{result.digest}"], store=store)
    assert removed.removed == ["ns/copy:1"]
    assert list(store.tagged()) == [result.ref]


def test_rm_reports_missing_refs(hello, store):
    result = skillctl.pack(hello, store=store)
    removed = remove_images(["ns/nope:1", result.ref], store=store)
    assert removed.removed == [result.ref]
    assert removed.missing == ["ns/nope:1"]


def test_rm_malformed_ref_changes_nothing(hello, store):
    result = skillctl.pack(hello, store=store)
    before = (store.root / "index.json").read_bytes()
    with pytest.raises(UsageError):
        remove_images([result.ref, "Bad Ref"], store=store)
    assert (store.root / "index.json").read_bytes() == before


def test_rm_on_a_missing_store(store):
    assert remove_images(["ns/x:1"], store=store).missing == ["ns/x:1"]
    assert not store.root.exists()


# -- prune ---------------------------------------------------------------------------------------


@pytest.fixture
def lifecycle_store(store):
    """ns/x 1.0.0 as draft, testing and published (+latest), 2.0.0 as draft, an archived and a loose manifest."""
    images = {
        "draft": lifecycle_image(store, "draft", tag="ns/x:1.0.0-draft"),
        "testing": lifecycle_image(store, "testing", tag="ns/x:1.0.0-testing"),
        "published": lifecycle_image(store, "published", tag="ns/x:1.0.0"),
        "draft2": lifecycle_image(store, "draft", version="2.0.0", payload=b"two", tag="ns/x:2.0.0-draft"),
        "other": lifecycle_image(store, "draft", payload=b"other", tag="ns/other:1.0.0-draft"),
        "archived": lifecycle_image(store, "archived", payload=b"archived"),
        "loose": lifecycle_image(store, "draft", payload=b"loose"),
        "orphan": lifecycle_image(store, "draft", payload=b"orphan"),  # blobs only, no index entry
    }
    store.set_tag("ns/x:latest", images["published"].descriptor)
    store.update_index(
        lambda entries: [*entries, IndexEntry(images["archived"].descriptor), IndexEntry(images["loose"].descriptor)]
    )
    return store, images


def test_prune_drops_superseded_tags_and_unreferenced_blobs(lifecycle_store):
    store, images = lifecycle_store
    gone = image_blobs(images["draft"]) | image_blobs(images["testing"]) | image_blobs(images["loose"])
    gone |= image_blobs(images["orphan"])
    kept = set().union(*(image_blobs(images[k]) for k in ("published", "draft2", "other", "archived")))
    assert not gone & kept
    expected_bytes = blob_bytes(store, gone)
    result = prune(store=store)
    assert result.untagged == [("ns/x:1.0.0-draft", "draft"), ("ns/x:1.0.0-testing", "testing")]
    assert result.dropped == 1
    assert result.blobs_removed == len(gone) == 12
    assert result.bytes_freed == expected_bytes
    assert blob_names(store) == kept
    assert sorted(store.tagged()) == ["ns/other:1.0.0-draft", "ns/x:1.0.0", "ns/x:2.0.0-draft", "ns/x:latest"]
    untagged = [e.digest for e in store.entries() if e.ref_name is None]
    assert untagged == [images["archived"].digest]  # archived = digest only, kept on purpose
    assert result.to_json() == {
        "untagged": [
            {"ref": "ns/x:1.0.0-draft", "status": "draft"},
            {"ref": "ns/x:1.0.0-testing", "status": "testing"},
        ],
        "droppedUntaggedManifests": 1,
        "blobsRemoved": 12,
        "bytesFreed": expected_bytes,
    }


def test_prune_dry_run_changes_nothing(lifecycle_store):
    store, images = lifecycle_store
    index_before = (store.root / "index.json").read_bytes()
    blobs_before = blob_names(store)
    real_total = blob_bytes(
        store,
        image_blobs(images["draft"])
        | image_blobs(images["testing"])
        | image_blobs(images["loose"])
        | image_blobs(images["orphan"]),
    )
    result = prune(store=store, dry_run=True)
    assert result.untagged == [("ns/x:1.0.0-draft", "draft"), ("ns/x:1.0.0-testing", "testing")]
    assert result.dropped == 1
    assert result.blobs_removed == 12
    assert result.bytes_freed == real_total
    assert (store.root / "index.json").read_bytes() == index_before
    assert blob_names(store) == blobs_before


def test_prune_twice_finds_nothing(lifecycle_store):
    store, _ = lifecycle_store
    prune(store=store)
    again = prune(store=store)
    assert (again.untagged, again.dropped, again.blobs_removed, again.bytes_freed) == ([], 0, 0, 0)


def test_deprecated_supersedes_published_and_latest(store):
    published = lifecycle_image(store, "published", tag="ns/x:1.0.0")
    store.set_tag("ns/x:latest", published.descriptor)
    lifecycle_image(store, "deprecated", tag="ns/x:1.0.0")  # re-points 1.0.0, as upstream promotion does
    lifecycle_image(store, "draft", tag="ns/x:1.0.0-draft")
    result = prune(store=store)
    assert result.untagged == [("ns/x:1.0.0-draft", "draft"), ("ns/x:latest", "published")]
    assert list(store.tagged()) == ["ns/x:1.0.0"]


def test_prune_groups_by_name_and_version_only(store):
    lifecycle_image(store, "draft", tag="ns/x:1.0.0-draft")
    lifecycle_image(store, "published", version="0.9.0", tag="ns/x:0.9.0")
    lifecycle_image(store, "published", payload=b"y", tag="ns/y:1.0.0")
    lifecycle_image(store, "bogus-status", payload=b"z", tag="ns/x:1.0.0-weird")
    result = prune(store=store)
    assert result.untagged == []
    assert len(store.tagged()) == 4


def test_prune_missing_store(store):
    result = prune(store=store)
    assert (result.untagged, result.blobs_removed) == ([], 0)
    assert not store.root.exists()


def test_prune_removes_what_rm_left(hello, store):
    result = skillctl.pack(hello, store=store)
    remove_images([result.ref], store=store)
    pruned = prune(store=store)
    assert pruned.blobs_removed == 3
    assert pruned.bytes_freed == len(result.manifest.raw) + result.manifest.config.size + result.layer.size
    assert list(store.blobs_dir.iterdir()) == []
