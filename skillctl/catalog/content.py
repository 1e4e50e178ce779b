"""A version's files, read on demand from its layers, never trusted and never whole in memory.

Indexing reads manifests only. When someone asks for a version's files, its
layers are streamed from the registry to disk (digest checked, size capped)
and unpacked by ``image.unpack`` with every rule ``pull -o`` applies (no
escaping paths or links, no devices, no duplicates, capped size and count).
The unpacked tree is cached by manifest digest (content never changes under a
digest), the oldest trees are dropped past a disk budget, and a refusal is
remembered by digest so a hostile image costs one download. Files are served
from the tree in chunks; a requested path must be one of the listed files.
"""

from __future__ import annotations

import collections
import hashlib
import os
import posixpath
import shutil
import stat
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Final

from skillctl.catalog.index import Index
from skillctl.catalog.records import SkillVersion
from skillctl.core import oci
from skillctl.core.errors import IntegrityError, NotFoundError, UnsafeContentError
from skillctl.core.logs import get_logger
from skillctl.image.unpack import UnpackLimits, unpack_manifest
from skillctl.registry.client import RegistrySession
from skillctl.store.layout import Store

log = get_logger(__name__)

_CHUNK: Final = 64 * 1024
PROMPT: Final = "SKILL.md"


@dataclass(frozen=True)
class ContentLimits:
    """Caps for on-demand reads: compressed layer bytes, unpacked bytes and entries, and the disk cache."""

    max_layer_bytes: int = 64 * 1024 * 1024
    unpack: UnpackLimits = field(default_factory=lambda: UnpackLimits(max_bytes=256 * 1024 * 1024, max_files=10_000))
    cache_bytes: int = 512 * 1024 * 1024


@dataclass(frozen=True)
class FileEntry:
    """One entry of a version's file tree (modes as unpacked: 0755 or 0644, special bits dropped)."""

    path: str
    type: str  # "file", "dir" or "symlink"
    size: int
    mode: str
    sha256: str | None = None
    target: str | None = None

    @property
    def executable(self) -> bool:
        return self.type == "file" and int(self.mode, 8) & 0o111 != 0

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "type": self.type,
            "size": self.size,
            "mode": self.mode,
            "sha256": self.sha256,
            "target": self.target,
            "executable": self.executable,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FileEntry:
        return cls(data["path"], data["type"], data["size"], data["mode"], data.get("sha256"), data.get("target"))


def clean_path(raw: str) -> str:
    """A file path as asked for in a URL, normalised; anything that could leave the tree is refused.

    Raises:
        NotFoundError: absolute, ``..``, empty, control characters (there is no such file).
    """
    if not raw or len(raw) > 4096 or raw.startswith("/") or any(ord(c) < 32 or ord(c) == 127 for c in raw):
        raise NotFoundError(f"{raw[:80]!r}: no such file")
    path = posixpath.normpath(raw)
    if path in (".", "..") or path.startswith("../") or "/../" in f"/{raw}/":
        raise NotFoundError(f"{raw[:80]!r}: no such file")
    return path


class ContentCache:
    """Unpacked trees of versions, by manifest digest, under ``root`` (bounded by ``limits.cache_bytes``)."""

    def __init__(
        self,
        root: Path,
        index: Index,
        sessions: Mapping[str, RegistrySession],
        *,
        store_path: Path | None = None,
        limits: ContentLimits | None = None,
    ) -> None:
        self.root = Path(root)
        self.index = index
        self.sessions = sessions
        self.store_path = store_path
        self.limits = limits or ContentLimits()
        self.trees = self.root / "trees"
        self.blobs = Store(self.root / "blobs")
        # A cache from an earlier run is not trusted to be complete: start empty.
        shutil.rmtree(self.trees, ignore_errors=True)
        self.trees.mkdir(parents=True, exist_ok=True)
        self.blobs.init()
        self._sizes: collections.OrderedDict[str, int] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._building: dict[str, threading.Lock] = {}
        self.downloads = 0
        self.downloaded_bytes = 0

    # -- trees -------------------------------------------------------------------
    def _tree_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._building.setdefault(key, threading.Lock())

    def tree(self, version: SkillVersion) -> Path:
        """The version's files unpacked (cached), or the reason they were refused.

        Raises:
            UnsafeContentError: the layers break an unpack rule (remembered for this digest).
            IntegrityError: a blob does not match its digest, or is larger than allowed.
            NetworkError / AuthError: the registry could not be read (not remembered).
        """
        key = version.digest.split(":", 1)[1]
        dest = self.trees / key
        with self._tree_lock(key):
            with self._lock:
                if key in self._sizes and dest.is_dir():
                    self._sizes.move_to_end(key)
                    return dest
            refused = self.index.memo_get(f"refused:{version.digest}")
            if refused:
                raise UnsafeContentError(refused)
            try:
                size = self._build(version, dest)
            except (UnsafeContentError, IntegrityError) as exc:
                log.warning("content of %s refused: %s", version.pinned, exc)
                if version.registry:  # a store may still get the missing blob; a registry's content is what it is
                    self.index.memo_put(f"refused:{version.digest}", str(exc))
                raise
            with self._lock:
                self._sizes[key] = size
            self._evict(keep=key)
            return dest

    def _build(self, version: SkillVersion, dest: Path) -> int:
        manifest = oci.Manifest.parse(version.manifest, digest=version.digest, source=version.pinned)
        total = sum(layer.size for layer in manifest.layers)
        if total > self.limits.max_layer_bytes:
            raise UnsafeContentError(
                f"{version.pinned}: layers of {total} bytes, more than the {self.limits.max_layer_bytes} allowed"
            )
        if not version.registry:
            store = Store(self.store_path)
            result = unpack_manifest(store, manifest, dest, limits=self.limits.unpack)
            return result.bytes
        session = self.sessions.get(version.registry)
        if session is None:
            raise NotFoundError(f"{version.registry}: not a registry this catalog reads")
        fetched: list[str] = []
        try:
            for layer in manifest.layers:
                if self.blobs.has_blob(layer.digest):
                    continue
                with self.blobs.new_blob() as writer:
                    session.blob(version.repository, layer.digest, writer.write, max_size=layer.size)
                    if writer.digest != layer.digest or writer.size != layer.size:
                        raise IntegrityError(f"{version.pinned}: layer {layer.digest} does not match its descriptor")
                    writer.commit()
                fetched.append(layer.digest)
                self.downloads += 1
                self.downloaded_bytes += layer.size
            result = unpack_manifest(self.blobs, manifest, dest, limits=self.limits.unpack)
        finally:
            for digest in fetched:  # the tree is what is kept; the compressed layer is not needed again
                self.blobs.blob_path(digest).unlink(missing_ok=True)
        return result.bytes

    def _evict(self, *, keep: str) -> None:
        with self._lock:
            victims = []
            total = sum(self._sizes.values())
            for key in list(self._sizes):
                if total <= self.limits.cache_bytes:
                    break
                if key == keep:
                    continue
                total -= self._sizes.pop(key)
                victims.append(key)
        for key in victims:
            shutil.rmtree(self.trees / key, ignore_errors=True)

    # -- listings and files -------------------------------------------------------------
    def files(self, version: SkillVersion) -> list[FileEntry]:
        """Every entry of the version (path, type, size, mode, sha256 of files, link targets), sorted by path."""
        memo = self.index.memo_get(f"files:{version.digest}")
        if memo is not None:
            return [FileEntry.from_json(e) for e in memo]
        tree = self.tree(version)
        entries = sorted(_walk(tree), key=lambda e: e.path.split("/"))
        self.index.memo_put(f"files:{version.digest}", [e.to_json() for e in entries])
        return entries

    def open(self, version: SkillVersion, path: str) -> tuple[BinaryIO, FileEntry]:
        """An open regular file of the version (the caller closes it) and its entry.

        Raises:
            NotFoundError: no such file (including anything not a regular file, or a path leaving the tree).
        """
        wanted = clean_path(path)
        entry = next((e for e in self.files(version) if e.path == wanted), None)
        if entry is None or entry.type != "file":
            raise NotFoundError(f"{path[:200]}: no such file in {version.ref}")
        for _ in range(2):  # the tree may have been evicted between the listing and the open
            tree = self.tree(version)
            try:
                return _open_inside(tree, wanted), entry
            except FileNotFoundError:
                continue
        raise NotFoundError(f"{path[:200]}: no such file in {version.ref}")

    def read_text(self, version: SkillVersion, path: str, *, limit: int = 1024 * 1024) -> str | None:
        """A file's text (at most ``limit`` bytes read), or None when it is not UTF-8 text."""
        handle, _ = self.open(version, path)
        with handle:
            data = handle.read(limit)
        if b"\0" in data:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def prompt_path(self, version: SkillVersion) -> str | None:
        """Where the version's SKILL.md is: at the root, else the first one below it."""
        files = [e.path for e in self.files(version) if e.type == "file"]
        if PROMPT in files:
            return PROMPT
        nested = sorted((p for p in files if p.endswith("/" + PROMPT)), key=lambda p: (p.count("/"), p))
        return nested[0] if nested else None


def _walk(tree: Path) -> Iterator[FileEntry]:
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames.sort()
        base = Path(dirpath)
        for name in sorted(dirnames + filenames):
            full = base / name
            rel = full.relative_to(tree).as_posix()
            info = full.lstat()
            if stat.S_ISLNK(info.st_mode):
                yield FileEntry(rel, "symlink", 0, "0777", target=os.readlink(full))
            elif stat.S_ISDIR(info.st_mode):
                yield FileEntry(rel, "dir", 0, "0755")
            elif stat.S_ISREG(info.st_mode):
                mode = "0755" if info.st_mode & 0o111 else "0644"
                yield FileEntry(rel, "file", info.st_size, mode, sha256=_sha256(full))
    return


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _open_inside(tree: Path, rel: str) -> BinaryIO:
    """Open ``tree/rel`` for reading without following any symlink on the way."""
    fd = os.open(tree, os.O_RDONLY | os.O_DIRECTORY)
    try:
        parts = rel.split("/")
        for part in parts[:-1]:
            next_fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = next_fd
        file_fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW, dir_fd=fd)
    finally:
        os.close(fd)
    if not stat.S_ISREG(os.fstat(file_fd).st_mode):
        os.close(file_fd)
        raise FileNotFoundError(rel)
    return os.fdopen(file_fd, "rb")
