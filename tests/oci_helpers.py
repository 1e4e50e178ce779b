"""Helpers for crafting OCI content by hand: hostile layers, manifests with chosen annotations."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from skillctl import Store
from skillctl.core import oci


@dataclass
class TarEntry:
    """One entry of a hand-made layer."""

    name: str
    type: bytes = tarfile.REGTYPE
    data: bytes = b""
    mode: int = 0o644
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    extra: dict[str, str] = field(default_factory=dict)


def file(name: str, data: bytes = b"x", mode: int = 0o644) -> TarEntry:
    return TarEntry(name, tarfile.REGTYPE, data, mode)


def directory(name: str) -> TarEntry:
    return TarEntry(name, tarfile.DIRTYPE, mode=0o755)


def symlink(name: str, target: str) -> TarEntry:
    return TarEntry(name, tarfile.SYMTYPE, mode=0o777, linkname=target)


def hardlink(name: str, target: str) -> TarEntry:
    return TarEntry(name, tarfile.LNKTYPE, linkname=target)


def tar_bytes(entries: Iterable[TarEntry], *, fmt: int = tarfile.PAX_FORMAT, encoding: str = "utf-8") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt, encoding=encoding) as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.type = entry.type
            info.mode = entry.mode
            info.linkname = entry.linkname
            info.devmajor, info.devminor = entry.devmajor, entry.devminor
            info.pax_headers = dict(entry.extra)
            if entry.type == tarfile.REGTYPE:
                info.size = len(entry.data)
                tar.addfile(info, io.BytesIO(entry.data))
            else:
                tar.addfile(info)
    return buf.getvalue()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def put_image(
    store: Store,
    raw_tar: bytes,
    *,
    tag: str | None = None,
    annotations: dict[str, str] | None = None,
    layer_bytes: bytes | None = None,
) -> oci.Manifest:
    """Store a one-layer image made of ``raw_tar`` (gzipped), optionally tagged.

    ``layer_bytes`` overrides the gzip bytes written as the layer blob (the manifest keeps
    the digest of the real gzip), to simulate a layer whose bytes do not match its digest.
    """
    gz = gzip.compress(raw_tar, mtime=0)
    with store.writing():
        layer_digest = store.put_blob(gz)
        if layer_bytes is not None:
            path = store.blob_path(layer_digest)
            os.chmod(path, 0o644)
            path.write_bytes(layer_bytes)
        config = oci.build_config(sha256(raw_tar))
        config_desc = oci.Descriptor(oci.CONFIG_V1, store.put_blob(config), len(config))
        layer_desc = oci.Descriptor(oci.LAYER_TAR_GZIP, layer_digest, len(gz))
        raw = oci.build_manifest(config_desc, [layer_desc], annotations or {})
        store.put_blob(raw)
        manifest = oci.Manifest.parse(raw)
        if tag:
            store.set_tag(tag, manifest.descriptor)
    return manifest


def layer_members(store: Store, manifest: oci.Manifest) -> list[tarfile.TarInfo]:
    with tarfile.open(store.blob_path(manifest.layers[0].digest), mode="r:gz") as tar:
        return tar.getmembers()


def read_json_blob(store: Store, digest: str) -> dict:
    return json.loads(store.blob_path(digest).read_bytes())


def tree(root: Path) -> dict[str, str]:
    """Every path under ``root`` (relative) -> 'dir', 'link:<target>' or the file's mode in octal."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                out[rel] = "link:" + os.readlink(path)
            elif path.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = oct(path.stat().st_mode & 0o7777)
    return out
