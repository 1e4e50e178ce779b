"""pack: reproducible images, the upstream annotations, tag movement, refusal leaves the store alone."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import socket
import tarfile
from pathlib import Path

import pytest
from helpers import make_skill
from oci_helpers import read_json_blob

import skillctl
from skillctl.core import oci
from skillctl.core.errors import InvalidSkillError, UnsafeContentError, UsageError
from skillctl.image.pack import rfc3339, source_date_epoch

FILES = {
    "SKILL.md": "---\nname: repro\ndescription: Reproducible skill.\n---\n\n# Repro\n\nOne two three four.\n",
    "skill.yaml": (
        "apiVersion: skillimage.io/v1alpha1\nkind: SkillCard\nmetadata:\n  name: repro\n  namespace: test\n"
        "  version: 1.0.0\n  description: Reproducible skill.\nspec:\n  prompt: SKILL.md\n"
    ),
    "scripts/run.sh": "#!/bin/sh\necho run\n",
    "scripts/lib/helper.py": "print('help')\n",
    "references/REFERENCE.md": "# Reference\n",
    "assets/template.txt": "template\n",
}
EXECUTABLE = {"scripts/run.sh"}


def populate(root: Path, *, order: list[str], umask: int, file_mode: int, exec_mode: int, mtime: int | None) -> Path:
    """Write FILES into ``root`` in ``order`` under ``umask``; then set modes and (optionally) mtimes."""
    old = os.umask(umask)
    try:
        for rel in order:
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(FILES[rel])
        (root / "empty-dir").mkdir()
    finally:
        os.umask(old)
    for rel in order:
        os.chmod(root / rel, exec_mode if rel in EXECUTABLE else file_mode)
    if mtime is not None:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                os.utime(Path(dirpath, name), (mtime, mtime))
        os.utime(root, (mtime, mtime))
    return root


@pytest.fixture
def twins(tmp_path):
    """The same skill twice: other parent dir, creation order, umask, permission bits and mtimes."""
    a = populate(
        tmp_path / "one" / "repro", order=sorted(FILES), umask=0o022, file_mode=0o644, exec_mode=0o755, mtime=None
    )
    b = populate(
        tmp_path / "two" / "checkout" / "repro",
        order=sorted(FILES, reverse=True),
        umask=0o077,
        file_mode=0o600,
        exec_mode=0o700,
        mtime=946_684_800,
    )
    assert (a / "SKILL.md").stat().st_mtime != (b / "SKILL.md").stat().st_mtime
    assert (a / "SKILL.md").stat().st_mode != (b / "SKILL.md").stat().st_mode
    return a, b


def config_bytes(store, result) -> bytes:
    return store.read_blob(result.manifest.config.digest)


def test_same_skill_in_two_places_packs_to_the_same_digests(twins, tmp_path):
    a, b = twins
    store_a, store_b = skillctl.Store(tmp_path / "sa"), skillctl.Store(tmp_path / "sb")
    ra = skillctl.pack(a, store=store_a)
    rb = skillctl.pack(b, store=store_b)
    assert ra.digest == rb.digest
    assert ra.layer.digest == rb.layer.digest
    assert ra.layer.diff_id == rb.layer.diff_id
    assert config_bytes(store_a, ra) == config_bytes(store_b, rb)
    assert ra.manifest.raw == rb.manifest.raw
    assert store_a.blob_path(ra.layer.digest).read_bytes() == store_b.blob_path(rb.layer.digest).read_bytes()


def test_different_content_gives_a_different_digest(twins, tmp_path):
    a, b = twins
    (b / "assets/template.txt").write_text("changed\n")
    store = skillctl.Store(tmp_path / "s")
    assert skillctl.pack(a, store=store, tag="a").layer.digest != skillctl.pack(b, store=store, tag="b").layer.digest


def test_exec_bit_change_changes_the_digest(twins, tmp_path):
    a, b = twins
    os.chmod(b / "scripts/run.sh", 0o644)
    store = skillctl.Store(tmp_path / "s")
    assert skillctl.pack(a, store=store, tag="a").digest != skillctl.pack(b, store=store, tag="b").digest


def test_source_date_epoch_changes_the_digest_but_is_stable(twins, tmp_path):
    a, b = twins
    store = skillctl.Store(tmp_path / "s")
    plain = skillctl.pack(a, store=store, tag="plain")
    dated_a = skillctl.pack(a, store=store, tag="dated-a", env={"SOURCE_DATE_EPOCH": "1700000000"})
    dated_b = skillctl.pack(b, store=store, tag="dated-b", env={"SOURCE_DATE_EPOCH": "1700000000"})
    other = skillctl.pack(a, store=store, tag="other", env={"SOURCE_DATE_EPOCH": "1700000001"})
    assert dated_a.digest == dated_b.digest
    assert len({plain.digest, dated_a.digest, other.digest}) == 3
    assert plain.layer.digest != dated_a.layer.digest
    assert dated_a.manifest.annotations[oci.CREATED] == "2023-11-14T22:13:20Z"
    config = json.loads(config_bytes(store, dated_a))
    assert config["created"] == "2023-11-14T22:13:20Z"
    assert list(config) == ["created", "architecture", "os", "config", "rootfs"]
    with tarfile.open(store.blob_path(dated_a.layer.digest), mode="r:gz") as tar:
        assert {m.mtime for m in tar.getmembers()} == {1_700_000_000}


def test_source_date_epoch_is_read_from_the_environment(hello, store, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "86400")
    result = skillctl.pack(hello, store=store)
    assert result.manifest.annotations[oci.CREATED] == "1970-01-02T00:00:00Z"


def test_without_source_date_epoch_no_wall_clock_time_is_in_the_image(hello, store):
    result = skillctl.pack(hello, store=store)
    assert oci.CREATED not in result.manifest.annotations
    config = config_bytes(store, result)
    assert b"created" not in config
    assert not re.search(rb"\d{4}-\d\d-\d\dT\d\d:\d\d", result.manifest.raw)
    with tarfile.open(store.blob_path(result.layer.digest), mode="r:gz") as tar:
        assert {m.mtime for m in tar.getmembers()} == {0}
    # The local "packed at" time lives in index.json only, outside every digest.
    entry = store.resolve(result.ref)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry.annotations[oci.PACKED_AT])


@pytest.mark.parametrize("value", ["yesterday", "-1", "1.5", "0x10"])
def test_bad_source_date_epoch(hello, store, value):
    with pytest.raises(UsageError, match="SOURCE_DATE_EPOCH"):
        skillctl.pack(hello, store=store, env={"SOURCE_DATE_EPOCH": value})
    assert not store.exists()


def test_source_date_epoch_helpers():
    assert source_date_epoch({}) is None
    assert source_date_epoch({"SOURCE_DATE_EPOCH": " "}) is None
    assert source_date_epoch({"SOURCE_DATE_EPOCH": "42"}) == 42
    assert rfc3339(0) == "1970-01-01T00:00:00Z"


def test_image_structure(hello, store):
    result = skillctl.pack(hello, store=store)
    raw = store.read_blob(result.digest)
    assert raw == result.manifest.raw
    assert result.digest == "sha256:" + hashlib.sha256(raw).hexdigest()
    manifest = json.loads(raw)
    assert list(manifest) == ["schemaVersion", "mediaType", "config", "layers", "annotations"]
    assert manifest["schemaVersion"] == 2
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert list(manifest["config"]) == ["mediaType", "digest", "size"]
    assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    assert len(manifest["layers"]) == 1
    layer = manifest["layers"][0]
    assert list(layer) == ["mediaType", "digest", "size"]
    assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    assert list(manifest["annotations"]) == sorted(manifest["annotations"])
    # compact, in exactly this field order (what podman and buildah re-serialise to)
    assert raw == json.dumps(manifest, separators=(",", ":"), ensure_ascii=False).encode()
    layer_bytes = store.blob_path(layer["digest"]).read_bytes()
    assert layer["digest"] == "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    assert layer["size"] == len(layer_bytes)
    diff_id = "sha256:" + hashlib.sha256(gzip.decompress(layer_bytes)).hexdigest()
    config = store.read_blob(manifest["config"]["digest"])
    assert manifest["config"]["size"] == len(config)
    assert config == (
        b'{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["'
        + diff_id.encode()
        + b'"]}}'
    )
    with tarfile.open(fileobj=io.BytesIO(layer_bytes), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == ["SKILL.md", "skill.yaml"]  # files at the image root
        assert tar.extractfile("skill.yaml").read() == (hello / "skill.yaml").read_bytes()


def test_annotations_follow_the_upstream_table(hello, store):
    annotations = skillctl.pack(hello, store=store).manifest.annotations
    skill_md_body = (hello / "SKILL.md").read_text().split("---\n", 2)[2]
    assert annotations == {
        "org.opencontainers.image.title": "Hello World",
        "org.opencontainers.image.description": (
            "A simple example skill that greets the user. Use this as a template for creating new skills.\n"
        ),
        "org.opencontainers.image.version": "1.0.0",
        "org.opencontainers.image.vendor": "examples",
        "org.opencontainers.image.licenses": "Apache-2.0",
        "org.opencontainers.image.authors": "skillctl developers",
        "io.skillimage.status": "draft",
        "io.skillimage.tags": '["example","getting-started"]',
        "io.skillimage.compatibility": "claude-3.5-sonnet",
        "io.skillimage.wordcount": str(len(skill_md_body.split())),
    }


def test_optional_annotations_and_go_escaping(tmp_path, store):
    long = "Ünïcode & <angle> " * 30
    root = make_skill(tmp_path / "s", name="s", description=f'"{long}"')
    card = root / "skill.yaml"
    card.write_text(
        card.read_text().replace(
            "spec:",
            "  authors:\n    - name: Jane\n      email: jane@example.com\n    - name: Bob\n"
            "provenance:\n  source: https://example.com/repo\n  commit: abc123\nspec:",
        )
    )
    (root / "SKILL.md").write_text("---\nname: s\ndescription: d\n---\n")
    result = skillctl.pack(root, store=store)
    a = result.manifest.annotations
    assert a[oci.AUTHORS] == "Jane <jane@example.com>, Bob"
    assert a[oci.SOURCE] == "https://example.com/repo"
    assert a[oci.REVISION] == "abc123"
    assert a[oci.TITLE] == "s"
    assert oci.WORDCOUNT not in a  # empty body
    assert oci.SKILL_TAGS not in a and oci.LICENSES not in a and oci.COMPATIBILITY not in a
    # description: at most 256 bytes, cut on a character boundary
    assert len(a[oci.DESCRIPTION].encode()) <= 256
    assert long.startswith(a[oci.DESCRIPTION])
    assert len(a[oci.DESCRIPTION].encode()) > 250
    # Go's encoding/json escapes <, > and & (podman and buildah re-serialise that way)
    assert b"\\u003cangle\\u003e" in result.manifest.raw and b"\\u0026" in result.manifest.raw
    assert b"<" not in result.manifest.raw and b"&" not in result.manifest.raw
    assert json.loads(result.manifest.raw)["annotations"][oci.DESCRIPTION] == a[oci.DESCRIPTION]


def test_pack_result_and_index_entry(hello, store):
    result = skillctl.pack(hello, store=store)
    assert result.ref == "examples/hello-world:1.0.0-draft"
    assert result.status == "created" and result.previous is None
    assert result.files == 2
    entry = store.resolve(result.ref)
    assert entry.digest == result.digest
    assert entry.annotations[oci.REF_NAME] == "examples/hello-world:1.0.0-draft"
    assert entry.descriptor == result.manifest.descriptor


def test_repack_identical_is_unchanged_and_leaves_index_json_alone(hello, store):
    first = skillctl.pack(hello, store=store)
    index = store.root / "index.json"
    before = index.read_bytes()
    stat_before = index.stat()
    os.utime(hello / "SKILL.md", (12345, 12345))
    again = skillctl.pack(hello, store=store)
    assert again.status == "unchanged"
    assert again.digest == first.digest and again.previous == first.digest
    assert index.read_bytes() == before
    assert index.stat().st_ino == stat_before.st_ino


def test_changed_content_moves_the_tag(hello, store):
    first = skillctl.pack(hello, store=store)
    with (hello / "SKILL.md").open("a") as fh:
        fh.write("\nMore words.\n")
    second = skillctl.pack(hello, store=store)
    assert second.status == "moved"
    assert second.previous == first.digest
    assert second.digest != first.digest
    assert store.resolve("examples/hello-world:1.0.0-draft").digest == second.digest
    assert [e.digest for e in store.entries()] == [second.digest]


def test_tag_option(hello, store):
    assert skillctl.pack(hello, store=store, tag="1.0.0-rc").ref == "examples/hello-world:1.0.0-rc"
    full = skillctl.pack(hello, store=store, tag="quay.io/org/hello:1.0.0-draft")
    assert full.ref == "quay.io/org/hello:1.0.0-draft"
    assert full.manifest.annotations[oci.STATUS] == "draft"
    assert sorted(store.tagged()) == ["examples/hello-world:1.0.0-rc", "quay.io/org/hello:1.0.0-draft"]
    with pytest.raises(UsageError, match="--tag"):
        skillctl.pack(hello, store=store, tag="bad tag")


def test_build_metadata_version_gets_a_valid_tag(tmp_path, store):
    root = make_skill(tmp_path / "s", name="s", version="1.0.0+build.7")
    result = skillctl.pack(root, store=store)
    assert result.ref == "test/s:1.0.0_build.7-draft"
    assert result.manifest.annotations[oci.VERSION] == "1.0.0+build.7"


def test_invalid_skill_is_refused_with_every_problem(tmp_path, store):
    root = make_skill(tmp_path / "s", name="Bad", version="1.0")
    (root / "SKILL.md").write_text("---\nname: [unclosed\n---\n")
    with pytest.raises(InvalidSkillError) as info:
        skillctl.pack(root, store=store)
    assert len(info.value.problems) == 3
    assert not store.root.exists()


def test_strict_refuses_warnings(tmp_path, store):
    root = make_skill(tmp_path / "s", name="s")
    (root / "SKILL.md").write_text("---\nname: s\ndescription: d\nx-extra: 1\n---\n")
    result = skillctl.pack(root, store=store)
    assert [w.field for w in result.warnings] == ["frontmatter.x-extra"]
    with pytest.raises(InvalidSkillError):
        skillctl.pack(root, store=store, strict=True, tag="strict")
    assert "test/s:strict" not in store.tagged()


def store_snapshot(store) -> tuple[bytes, list[str], list[str]]:
    return (
        (store.root / "index.json").read_bytes(),
        sorted(p.name for p in store.blobs_dir.iterdir()),
        sorted(p.name for p in store.tmp_dir.iterdir()),
    )


@pytest.mark.parametrize("case", ["escape", "dangling", "fifo", "socket"])
def test_refusal_adds_nothing_to_the_store(hello, store, tmp_path, monkeypatch, case):
    skillctl.pack(hello, store=store)
    before = store_snapshot(store)
    bad = make_skill(tmp_path / "bad", name="bad", files={"ok.txt": "ok"})
    target = bad / "naughty"
    if case == "escape":
        os.symlink(tmp_path, target)
    elif case == "dangling":
        os.symlink("nowhere", target)
    elif case == "fifo":
        os.mkfifo(target)
    else:
        monkeypatch.chdir(bad)  # unix socket paths are limited to ~100 bytes: bind a relative name
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.bind("naughty")
    with pytest.raises(UnsafeContentError) as info:
        skillctl.pack(bad, store=store)
    assert str(target) in info.value.message
    assert store_snapshot(store) == before
    assert before[2] == []


def test_refusal_does_not_create_a_store(tmp_path, store):
    bad = make_skill(tmp_path / "bad", name="bad")
    os.symlink("/etc/passwd", bad / "evil")
    with pytest.raises(UnsafeContentError):
        skillctl.pack(bad, store=store)
    assert not store.root.exists()


def test_layer_and_config_blobs_are_shared_between_tags(hello, store):
    a = skillctl.pack(hello, store=store)
    b = skillctl.pack(hello, store=store, tag="other")
    assert a.digest == b.digest
    assert read_json_blob(store, a.digest)["layers"][0]["digest"] == a.layer.digest
    assert len(list(store.blobs_dir.iterdir())) == 3


def test_sizes_past_the_consumers_default_limits_are_warned_about(tmp_path):
    from skillctl.image.layer import collect_entries
    from skillctl.image.pack import _content_warnings
    from skillctl.image.unpack import UnpackLimits

    root = make_skill(tmp_path / "s", name="s", files={"a.bin": b"x" * 2000, "b/c.txt": "c"})
    entries = collect_entries(root)
    assert _content_warnings(root, entries, []) == []
    found = _content_warnings(root, entries, [], UnpackLimits(max_bytes=1000, max_files=3))
    assert [f.severity for f in found] == ["warning", "warning"]
    assert "5 entries: pull and install refuse more than 3 unless given --max-files" in found[0].message
    assert "refuse more than 1000 unless given --max-size" in found[1].message
