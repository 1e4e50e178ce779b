"""Unpacking: exec bits survive a round trip; hostile layers are refused and leave nothing behind."""

from __future__ import annotations

import gzip
import os
import tarfile

import pytest
from helpers import make_skill
from oci_helpers import TarEntry, directory, file, hardlink, put_image, symlink, tar_bytes, tree

import skillctl
from skillctl import UnpackLimits, unpack_image
from skillctl.core import oci
from skillctl.core.errors import IntegrityError, UnsafeContentError
from skillctl.image.unpack import unpack_manifest


@pytest.fixture
def out(tmp_path):
    path = tmp_path / "out"
    path.mkdir()
    return path


# -- round trip ------------------------------------------------------------------------------------


def test_pack_then_unpack_keeps_exec_bits_links_and_content(tmp_path, store, out):
    root = make_skill(
        tmp_path / "tool",
        name="tool",
        files={
            "scripts/run.sh": "#!/bin/sh\necho run\n",
            "scripts/data.txt": "data\n",
            "references/REF.md": "# Ref\n",
        },
    )
    os.chmod(root / "scripts/run.sh", 0o750)
    os.chmod(root / "scripts/data.txt", 0o600)
    (root / "empty").mkdir()
    os.symlink("references/REF.md", root / "ref.md")
    result = skillctl.pack(root, store=store)
    unpacked = unpack_image(result.ref, out, store=store)
    dest = out / "tool"
    assert unpacked.path == dest
    assert unpacked.digest == result.digest
    assert unpacked.files == 9  # every entry: 3 directories, 5 files, 1 link
    assert tree(dest) == {
        "SKILL.md": "0o644",
        "skill.yaml": "0o644",
        "empty": "dir",
        "ref.md": "link:references/REF.md",
        "references": "dir",
        "references/REF.md": "0o644",
        "scripts": "dir",
        "scripts/run.sh": "0o755",
        "scripts/data.txt": "0o644",
    }
    assert os.access(dest / "scripts/run.sh", os.X_OK)
    for rel in ("SKILL.md", "skill.yaml", "scripts/run.sh", "references/REF.md"):
        assert (dest / rel).read_bytes() == (root / rel).read_bytes()
    assert (dest / "ref.md").read_text() == "# Ref\n"
    assert sorted(p.name for p in out.iterdir()) == ["tool"]


def test_unpack_by_digest(hello, store, out):
    result = skillctl.pack(hello, store=store)
    tagged = unpack_image(result.digest, out, store=store)
    assert tagged.path == out / "hello-world"  # the name of a tag on that digest
    assert (tagged.path / "SKILL.md").read_bytes() == (hello / "SKILL.md").read_bytes()
    loose = put_image(store, tar_bytes([file("SKILL.md", b"loose")]))
    untagged = unpack_image(loose.digest, out, store=store)
    assert untagged.path == out / loose.digest[7:19]
    assert (untagged.path / "SKILL.md").read_bytes() == b"loose"


def test_unpack_replaces_an_existing_directory(hello, store, out):
    result = skillctl.pack(hello, store=store)
    stale = out / "hello-world"
    stale.mkdir()
    (stale / "stale.txt").write_text("old")
    unpack_image(result.ref, out, store=store)
    assert sorted(p.name for p in stale.iterdir()) == ["SKILL.md", "skill.yaml"]
    assert sorted(p.name for p in out.iterdir()) == ["hello-world"]


# -- hostile layers -------------------------------------------------------------------------------

HOSTILE = {
    "parent-path": ([file("../x")], "'../x'", "escapes the target directory"),
    "nested-parent-path": ([directory("a"), file("a/../../x")], "'a/../../x'", "escapes the target directory"),
    "absolute-path": ([file("/etc/cron.d/x")], "'/etc/cron.d/x'", "absolute path"),
    "symlink-absolute": ([symlink("evil", "/etc")], "'evil'", "points outside the skill"),
    "symlink-outside-then-write-through": (
        [symlink("evil", "../../.."), file("evil/pwned")],
        "'evil'",
        "points outside the skill",
    ),
    "write-through-inside-symlink": (
        [directory("d"), symlink("link", "d"), file("link/x")],
        "'link/x'",
        "goes through the symlink 'link'",
    ),
    "symlink-via-symlink": (
        [directory("d"), symlink("d/up", ".."), symlink("escape", "d/up/..")],
        "'escape'",
        "points outside the skill",
    ),
    "hardlink-absolute": ([hardlink("h", "/etc/passwd")], "'h'", "hard link to '/etc/passwd' points outside"),
    "hardlink-parent": ([hardlink("h", "../../etc/passwd")], "'h'", "hard link to '../../etc/passwd' points outside"),
    "hardlink-unknown": ([hardlink("h", "not-in-layer")], "'h'", "hard link to 'not-in-layer' is not a file"),
    "hardlink-to-symlink": (
        [symlink("s", "SKILL.md"), file("SKILL.md"), hardlink("h", "s")],
        "'h'",
        "is not a file of this skill",
    ),
    "char-device": ([TarEntry("null", tarfile.CHRTYPE, devmajor=1, devminor=3)], "'null'", "is a device"),
    "block-device": ([TarEntry("sda", tarfile.BLKTYPE, devmajor=8, devminor=0)], "'sda'", "is a device"),
    "fifo": ([TarEntry("pipe", tarfile.FIFOTYPE)], "'pipe'", "is a fifo"),
    "duplicate": ([file("SKILL.md", b"one"), file("SKILL.md", b"two")], "'SKILL.md'", "appears twice"),
    "duplicate-dir-and-file": ([directory("a"), file("a/")], "'a'", "appears twice"),
    "newline-in-name": ([file("evil\nname.md")], "'evil\\nname.md'", "control characters"),
    "escape-in-name": ([file("evil\x1b[31m.md")], "'evil\\x1b[31m.md'", "control characters"),
    "del-in-name": ([file("evil\x7f.md")], "'evil\\x7f.md'", "control characters"),
}


def assert_nothing_left(out):
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_layers_are_refused_and_leave_nothing(store, out, case):
    entries, named, reason = HOSTILE[case]
    manifest = put_image(store, tar_bytes([file("ok.md", b"fine"), *entries]), tag="ns/evil:1")
    with pytest.raises(UnsafeContentError) as info:
        unpack_image("ns/evil:1", out, store=store)
    assert named in info.value.message
    assert reason in info.value.message
    assert_nothing_left(out)
    with pytest.raises(UnsafeContentError):
        unpack_manifest(store, manifest, out / "direct")
    assert_nothing_left(out)
    assert not list(out.parent.parent.rglob("pwned"))


def test_non_utf8_name_is_refused(store, out):
    raw = tar_bytes([file("caf\xe9.md")], fmt=tarfile.GNU_FORMAT, encoding="latin-1")
    put_image(store, raw, tag="ns/evil:1")
    with pytest.raises(UnsafeContentError, match="not valid UTF-8"):
        unpack_image("ns/evil:1", out, store=store)
    assert_nothing_left(out)


def test_setuid_setgid_and_sticky_bits_are_stripped(store, out):
    raw = tar_bytes(
        [
            file("suid.sh", b"#!/bin/sh\n", mode=0o4755),
            file("sgid.txt", b"x", mode=0o2644),
            file("sticky.sh", b"x", mode=0o1777),
            file("world.txt", b"x", mode=0o666),
            file("none.txt", b"x", mode=0o000),
        ]
    )
    put_image(store, raw, tag="ns/modes:1")
    unpack_image("ns/modes:1", out, store=store)
    assert tree(out / "modes") == {
        "suid.sh": "0o755",
        "sgid.txt": "0o644",
        "sticky.sh": "0o755",
        "world.txt": "0o644",
        "none.txt": "0o644",
    }


def test_links_inside_the_skill_are_fine(store, out):
    raw = tar_bytes(
        [
            directory("d"),
            file("d/a.txt", b"a"),
            symlink("d/up", ".."),
            symlink("rel", "d/a.txt"),
            hardlink("hard", "d/a.txt"),
            symlink("dangling-inside", "later.txt"),
        ]
    )
    put_image(store, raw, tag="ns/links:1")
    unpack_image("ns/links:1", out, store=store)
    dest = out / "links"
    assert (dest / "rel").read_text() == "a"
    assert os.stat(dest / "hard").st_ino == os.stat(dest / "d/a.txt").st_ino
    assert os.readlink(dest / "d/up") == ".."
    assert os.readlink(dest / "dangling-inside") == "later.txt"


def test_too_many_files(store, out):
    put_image(store, tar_bytes([file(f"f{i}.txt") for i in range(6)]), tag="ns/many:1")
    with pytest.raises(UnsafeContentError) as info:
        unpack_image("ns/many:1", out, store=store, limits=UnpackLimits(max_files=5))
    assert info.value.message == "entry 'f5.txt': more than 5 entries"
    assert_nothing_left(out)
    assert unpack_image("ns/many:1", out, store=store, limits=UnpackLimits(max_files=6)).files == 6


def test_too_many_bytes(store, out):
    put_image(store, tar_bytes([file("a.bin", b"a" * 600), file("b.bin", b"b" * 600)]), tag="ns/big:1")
    with pytest.raises(UnsafeContentError) as info:
        unpack_image("ns/big:1", out, store=store, limits=UnpackLimits(max_bytes=1000))
    assert info.value.message == "entry 'b.bin': unpacked size exceeds 1000 bytes"
    assert_nothing_left(out)
    assert unpack_image("ns/big:1", out, store=store, limits=UnpackLimits(max_bytes=1200)).bytes == 1200


def test_layer_not_matching_its_digest_is_refused_and_nothing_is_left(store, out):
    real = tar_bytes([file("SKILL.md", b"real")])
    evil = gzip.compress(tar_bytes([file("SKILL.md", b"evil")]), mtime=0)
    manifest = put_image(store, real, tag="ns/swap:1", layer_bytes=evil)
    with pytest.raises(IntegrityError) as info:
        unpack_image("ns/swap:1", out, store=store)
    assert manifest.layers[0].digest in info.value.message
    assert "does not match its digest" in info.value.message
    assert_nothing_left(out)


@pytest.mark.parametrize(
    "damage",
    [
        lambda layer: layer[:-1] + bytes([layer[-1] ^ 1]),  # the gzip trailer: the tree unpacks, the digest fails
        lambda layer: layer[: len(layer) // 2] + bytes(len(layer) - len(layer) // 2),  # not gzip any more
        lambda layer: gzip.compress(tar_bytes([file("../escape", b"x")]), mtime=0),  # hostile, and not the layer
    ],
    ids=["trailer", "truncated", "hostile"],
)
def test_a_damaged_layer_is_an_integrity_error_and_the_target_stays(store, out, damage):
    """The digest is checked in the pass that unpacks: whatever the damaged bytes would unpack to, the answer is
    the digest, and an existing target is not touched."""
    put_image(store, tar_bytes([file("SKILL.md", b"first")]), tag="ns/kept:1")
    unpack_image("ns/kept:1", out, store=store)
    real = gzip.compress(tar_bytes([file("SKILL.md", b"second")]), mtime=0)
    manifest = put_image(store, tar_bytes([file("SKILL.md", b"second")]), tag="ns/kept:2", layer_bytes=real)
    store.blob_path(manifest.layers[0].digest).write_bytes(damage(real))
    with pytest.raises(IntegrityError, match="does not match its digest"):
        unpack_image("ns/kept:2", out, store=store)
    assert (out / "kept" / "SKILL.md").read_bytes() == b"first"
    assert sorted(p.name for p in out.iterdir()) == ["kept"]


def test_missing_layer_blob(store, out):
    manifest = put_image(store, tar_bytes([file("a")]), tag="ns/gone:1")
    store.blob_path(manifest.layers[0].digest).unlink()
    with pytest.raises(IntegrityError, match="missing from the store"):
        unpack_image("ns/gone:1", out, store=store)
    assert_nothing_left(out)


def test_not_a_tar_gzip(store, out):
    manifest = put_image(store, tar_bytes([file("a")]), tag="ns/junk:1")
    # a blob whose digest is right but whose content is not gzip: rewrite the manifest around it
    with store.writing():
        junk = store.put_blob(b"this is not gzip")
        raw = oci.build_manifest(manifest.config, [oci.Descriptor(oci.LAYER_TAR_GZIP, junk, 16)], {})
        store.put_blob(raw)
        store.set_tag("ns/junk:1", oci.Manifest.parse(raw).descriptor)
    with pytest.raises(UnsafeContentError, match="not a valid tar\\+gzip stream"):
        unpack_image("ns/junk:1", out, store=store)
    assert_nothing_left(out)


def test_failed_unpack_keeps_the_previous_directory(hello, store, out):
    good = skillctl.pack(hello, store=store)
    unpack_image(good.ref, out, store=store)
    before = tree(out / "hello-world")
    put_image(store, tar_bytes([file("SKILL.md"), file("../x")]), tag="ns/hello-world:evil")
    with pytest.raises(UnsafeContentError):
        unpack_image("ns/hello-world:evil", out, store=store)
    assert tree(out / "hello-world") == before
    assert sorted(p.name for p in out.iterdir()) == ["hello-world"]
