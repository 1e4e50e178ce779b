"""Files read on demand from layers in the real registry: listings with modes and sha256, bytes, and every unpack
rule applied to hostile layers, with bounded memory."""

from __future__ import annotations

import hashlib
import os
import tarfile
import tracemalloc

import pytest
from catalog_helpers import annotations, put_skill, skill_entries
from oci_helpers import TarEntry, directory, file, hardlink, symlink
from registry import Registry

from skillctl.backends.base import RegistryOptions
from skillctl.catalog.content import ContentLimits, clean_path
from skillctl.catalog.service import Catalog, CatalogSettings
from skillctl.catalog.sources import RegistrySource
from skillctl.core.errors import IntegrityError, NotFoundError, UnsafeContentError
from skillctl.image.unpack import UnpackLimits

pytestmark = pytest.mark.integration
OPTS = RegistryOptions(tls_verify=False, timeout=60)
MiB = 1024 * 1024


@pytest.fixture
def ns(registry: Registry) -> str:
    return registry.repo("x").split("/")[1]


def catalog(registry: Registry, ns: str, **limits) -> Catalog:
    settings = CatalogSettings([RegistrySource(registry.host, ns)], opts=OPTS, limits=ContentLimits(**limits))
    cat = Catalog(settings)
    cat.sync()
    return cat


def put(registry: Registry, ns: str, name: str, entries: list[TarEntry] | None = None, **kwargs) -> str:
    return put_skill(
        registry,
        f"{ns}/{name}",
        "1.0.0",
        entries=entries if entries is not None else skill_entries(name, "1.0.0"),
        ann=annotations(namespace=ns, version="1.0.0"),
        **kwargs,
    )


def test_files_are_listed_with_sizes_modes_and_hashes(registry: Registry, ns: str) -> None:
    extra = [
        directory("references"),
        file("references/guide.md", b"# Guide\n" * 10),
        symlink("references/latest.md", "guide.md"),
        file("bin.dat", bytes(range(256)), 0o644),
    ]
    put(registry, ns, "lister", skill_entries("lister", "1.0.0", extra=extra))
    cat = catalog(registry, ns)
    try:
        version = cat.resolve(ns, "lister", "1.0.0")
        entries = {e.path: e for e in cat.files(version)}
        assert [e.path for e in cat.files(version)] == [
            "SKILL.md", "bin.dat", "references", "references/guide.md", "references/latest.md", "scripts",
            "scripts/run.sh", "skill.yaml",
        ]  # fmt: skip
        run = entries["scripts/run.sh"]
        assert (run.type, run.mode, run.executable, run.size) == ("file", "0755", True, 18)
        assert run.sha256 == hashlib.sha256(b"#!/bin/sh\necho hi\n").hexdigest()
        assert (entries["references/latest.md"].type, entries["references/latest.md"].target) == ("symlink", "guide.md")
        assert entries["bin.dat"].mode == "0644" and not entries["bin.dat"].executable
        handle, _entry = cat.open_file(version, "references/guide.md")
        with handle:
            assert handle.read() == b"# Guide\n" * 10
        assert cat.content.read_text(version, "bin.dat") is None  # not text
        assert cat.skill_md(version)[0] == "SKILL.md"  # type: ignore[index]
        downloads = cat.content.downloads
        cat.files(version)
        cat.open_file(version, "SKILL.md")[0].close()
        assert cat.content.downloads == downloads == 1  # the tree is cached by digest
    finally:
        cat.close()


@pytest.mark.parametrize(
    "path",
    [
        "../skill.yaml",
        "/etc/passwd",
        "scripts/../../etc/passwd",
        "",
        "references/latest.md",
        "scripts",
        "nope",
        "a\x00b",
    ],
)
def test_a_crafted_path_cannot_leave_the_tree(registry: Registry, ns: str, path: str) -> None:
    extra = [directory("references"), file("references/guide.md", b"x"), symlink("references/latest.md", "guide.md")]
    put(registry, ns, "paths", skill_entries("paths", "1.0.0", extra=extra))
    cat = catalog(registry, ns)
    try:
        with pytest.raises(NotFoundError):
            cat.open_file(cat.resolve(ns, "paths", "1.0.0"), path)
    finally:
        cat.close()


def test_clean_path() -> None:
    assert clean_path("a/./b//c") == "a/b/c"
    for bad in ("..", "../x", "/x", "x/../../y", "", "x\ny"):
        with pytest.raises(NotFoundError):
            clean_path(bad)


HOSTILE = {
    "traversal": ([file("../evil.sh", b"x")], "escapes the target directory"),
    "absolute": ([file("/etc/cron.d/evil", b"x")], "absolute path"),
    "device": ([TarEntry("dev", tarfile.CHRTYPE, devmajor=1, devminor=3)], "is a device"),
    "symlink-escape": ([symlink("link", "../../etc/passwd")], "points outside the skill"),
    "hardlink-escape": ([hardlink("hard", "/etc/passwd")], "points outside the skill"),
    "duplicate": ([file("SKILL.md", b"a"), file("SKILL.md", b"b")], "appears twice"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_layers_are_refused_and_remembered(registry: Registry, ns: str, kind: str) -> None:
    entries, reason = HOSTILE[kind]
    put(registry, ns, "hostile", entries)
    cat = catalog(registry, ns)
    try:
        version = cat.resolve(ns, "hostile", "1.0.0")
        with pytest.raises(UnsafeContentError, match=reason):
            cat.files(version)
        downloads = cat.content.downloads
        with pytest.raises(UnsafeContentError, match=reason):
            cat.skill_md(version)
        assert cat.content.downloads == downloads  # refused once, remembered by digest
        assert not any(cat.content.trees.iterdir())  # nothing unpacked is left
        assert cat.sync().ok  # and sync is not bothered
    finally:
        cat.close()


def test_a_decompression_bomb_stops_at_the_limit(registry: Registry, ns: str) -> None:
    zeros = TarEntry("zeros.bin", tarfile.REGTYPE, b"\0" * (24 * MiB))
    put(registry, ns, "bomb", [zeros])
    cat = catalog(registry, ns, unpack=UnpackLimits(max_bytes=8 * MiB, max_files=100))
    try:
        version = cat.resolve(ns, "bomb", "1.0.0")
        assert version.size < 100 * 1024  # 24 MiB of zeros is a small download
        with pytest.raises(UnsafeContentError, match="exceeds 8388608 bytes"):
            cat.files(version)
    finally:
        cat.close()


def test_layers_over_the_download_limit_are_not_downloaded(registry: Registry, ns: str) -> None:
    big = TarEntry("random.bin", tarfile.REGTYPE, os.urandom(3 * MiB))
    put(registry, ns, "big", [big])
    cat = catalog(registry, ns, max_layer_bytes=2 * MiB)
    try:
        with pytest.raises(UnsafeContentError, match="more than the 2097152 allowed"):
            cat.files(cat.resolve(ns, "big", "1.0.0"))
        assert cat.content.downloads == 0
    finally:
        cat.close()


def test_a_layer_that_is_not_gzip_is_refused(registry: Registry, ns: str) -> None:
    put(registry, ns, "notgzip", layer=b"this is not gzip at all")
    cat = catalog(registry, ns)
    try:
        with pytest.raises((UnsafeContentError, IntegrityError), match="not a valid tar"):
            cat.files(cat.resolve(ns, "notgzip", "1.0.0"))
    finally:
        cat.close()


def test_layer_data_is_never_held_whole_in_memory(registry: Registry, ns: str) -> None:
    payload = os.urandom(24 * MiB)  # incompressible: 24 MiB go over the wire and to disk
    put(
        registry, ns, "large", [file("SKILL.md", b"---\nname: large\ndescription: x\n---\n"), file("blob.bin", payload)]
    )
    cat = catalog(registry, ns)
    try:
        version = cat.resolve(ns, "large", "1.0.0")
        del payload
        tracemalloc.start()
        try:
            entries = cat.files(version)
            handle, _ = cat.open_file(version, "blob.bin")
            with handle:
                while handle.read(64 * 1024):
                    pass
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert {e.path for e in entries} == {"SKILL.md", "blob.bin"}
        assert cat.content.downloaded_bytes > 24 * MiB
        # Chunks of at most 1 MiB (the hash, the gzip stream, the copy) whatever the layer size: a third of it here.
        assert peak < 8 * MiB, f"peak Python allocation {peak / MiB:.1f} MiB while reading a 24 MiB layer"
    finally:
        cat.close()


def test_the_disk_cache_keeps_its_budget(registry: Registry, ns: str) -> None:
    for i in range(3):
        put(registry, ns, f"cached-{i}", [file("SKILL.md", b"x"), file("data.bin", os.urandom(MiB))])
    cat = catalog(registry, ns, cache_bytes=int(2.5 * MiB))
    try:
        for i in range(3):
            cat.files(cat.resolve(ns, f"cached-{i}", "1.0.0"))
        trees = list(cat.content.trees.iterdir())
        assert len(trees) == 2  # the oldest was dropped
        first = cat.resolve(ns, "cached-0", "1.0.0")
        handle, _ = cat.open_file(first, "data.bin")  # and comes back when asked for
        handle.close()
    finally:
        cat.close()
