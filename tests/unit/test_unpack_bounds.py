"""The unpack caps hold for every byte tarfile reads: root entries, skipped members, extended headers.

Each layer is written straight into the store as a gzip stream (the test never holds a big layer in
memory), then unpacked with the library. The checks that could hang or exhaust memory before the fix run
with a time limit (a thread) or under tracemalloc.
"""

from __future__ import annotations

import gzip
import hashlib
import tarfile
import threading
import tracemalloc
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from skillctl import Store, UnpackLimits
from skillctl.core import oci
from skillctl.core.errors import UnsafeContentError
from skillctl.image.unpack import unpack_manifest

BLOCK = 512


def header(name: str, *, type: bytes = tarfile.REGTYPE, size: int = 0, mode: int = 0o644) -> bytes:
    """One ustar header block declaring ``size`` bytes (base-256 for sizes ustar cannot hold)."""
    info = tarfile.TarInfo(name)
    info.type, info.size, info.mode = type, size, mode
    return info.tobuf(format=tarfile.GNU_FORMAT)


def padded(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % BLOCK)


def pax_record(key: str, value: str) -> bytes:
    """``LENGTH key=value\\n``, where LENGTH counts its own digits."""
    body = f" {key}={value}\n".encode()
    length = len(body) + len(str(len(body)))
    length += len(str(length)) - len(str(len(body)))
    return str(length).encode() + body


def skill_members() -> list[bytes]:
    card = b"apiVersion: skillimage.io/v1alpha1\nkind: SkillCard\n"
    return [header("skill.yaml", size=len(card)) + padded(card)]


def zeros(n: int, chunk: int = 1 << 20) -> Iterable[bytes]:
    while n > 0:
        yield b"\0" * min(chunk, n)
        n -= chunk


def put_layer(store: Store, chunks: Iterable[bytes], *, end: bool = True) -> oci.Manifest:
    """Gzip ``chunks`` (raw tar bytes) into a blob and store a one-layer image around it."""
    raw_hash = hashlib.sha256()
    with store.writing(), store.new_blob() as blob:
        with gzip.GzipFile(fileobj=blob, mode="wb", compresslevel=1, mtime=0) as gz:  # type: ignore[arg-type]
            for chunk in [*chunks, *([b"\0" * (2 * BLOCK)] if end else [])]:
                raw_hash.update(chunk)
                gz.write(chunk)
        blob.flush()
        size = blob.size
        layer_digest = blob.commit()
        config = oci.build_config("sha256:" + raw_hash.hexdigest())
        config_desc = oci.Descriptor(oci.CONFIG_V1, store.put_blob(config), len(config))
        raw = oci.build_manifest(config_desc, [oci.Descriptor(oci.LAYER_TAR_GZIP, layer_digest, size)], {})
        store.put_blob(raw)
    return oci.Manifest.parse(raw)


def within(seconds: float, call: Callable[[], object]) -> BaseException | None:
    """Run ``call`` in a thread; the exception it raised, or fail the test if it is still running."""
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"still unpacking after {seconds}s", pytrace=False)
    return outcome[0]


def test_a_root_entry_that_is_a_file_is_refused_at_once(store: Store, tmp_path: Path) -> None:
    """``./`` as a regular file of 2^60 bytes in a 200-byte layer: tarfile would read forever to skip it."""
    manifest = put_layer(store, [*skill_members(), header("./", size=2**60)], end=False)
    assert manifest.layers[0].size < 1024
    error = within(20, lambda: unpack_manifest(store, manifest, tmp_path / "out" / "s"))
    assert isinstance(error, UnsafeContentError), error
    assert "root" in str(error)
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("name", [".", "./", ""])
def test_a_root_entry_with_data_is_refused(name: str, store: Store, tmp_path: Path) -> None:
    """The root as a file holding data, even data that is really there (8 GiB in the field)."""
    data = b"x" * 4096
    manifest = put_layer(store, [*skill_members(), header(name or "./", size=len(data)), padded(data)])
    with pytest.raises(UnsafeContentError, match="root"):
        unpack_manifest(store, manifest, tmp_path / "out" / "s")


def test_root_directory_entries_count_against_the_file_cap(store: Store, tmp_path: Path) -> None:
    roots = [header("./", type=tarfile.DIRTYPE, mode=0o755) for _ in range(30)]
    manifest = put_layer(store, [*roots, *skill_members()])
    with pytest.raises(UnsafeContentError, match="more than 10 entries"):
        unpack_manifest(store, manifest, tmp_path / "out" / "s", limits=UnpackLimits(max_files=10))
    # The same layer is fine when the cap allows its entries.
    unpack_manifest(store, manifest, tmp_path / "ok" / "s", limits=UnpackLimits(max_files=40))
    assert (tmp_path / "ok" / "s" / "skill.yaml").is_file()


@pytest.mark.parametrize("kind", [tarfile.XHDTYPE, tarfile.GNUTYPE_LONGNAME])
def test_a_huge_extended_header_is_refused_before_it_is_read(kind: bytes, store: Store, tmp_path: Path) -> None:
    """A 128 MiB PAX (or GNU long-name) header: tarfile reads such a header whole into memory."""
    size = 128 * 1024 * 1024
    manifest = put_layer(store, [*skill_members(), header("././@Extended", type=kind, size=size), *zeros(size)])
    assert manifest.layers[0].size < 2 * 1024 * 1024
    tracemalloc.start()
    try:
        with pytest.raises(UnsafeContentError, match="extended tar header"):
            unpack_manifest(store, manifest, tmp_path / "out" / "s")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024, f"peak {peak} bytes"


def test_the_decompressed_stream_is_bounded_headers_included(store: Store, tmp_path: Path) -> None:
    """Directories cost no content bytes, but 80 of them with 64 KiB extended headers each are 5 MB of tar."""
    limits = UnpackLimits(max_bytes=1024 * 1024, max_files=100)
    members = []
    for i in range(80):
        record = pax_record("comment", "x" * (64 * 1024))
        members.append(header(f"d{i}.pax", type=tarfile.XHDTYPE, size=len(record)) + padded(record))
        members.append(header(f"d{i}", type=tarfile.DIRTYPE, mode=0o755))
    manifest = put_layer(store, [*skill_members(), *members])
    with pytest.raises(UnsafeContentError, match="longer than"):
        unpack_manifest(store, manifest, tmp_path / "out" / "s", limits=limits)


def test_a_directory_that_declares_data_is_refused(store: Store, tmp_path: Path) -> None:
    docs = header("docs", type=tarfile.DIRTYPE, size=1024)
    manifest = put_layer(store, [*skill_members(), docs, padded(b"y" * 1024)])
    with pytest.raises(UnsafeContentError, match="not a file"):
        unpack_manifest(store, manifest, tmp_path / "out" / "s")
