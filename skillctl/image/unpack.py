"""Hardened unpacking of skill images.

The layer digest is verified before anything is written; entries are checked
one by one (no escaping paths or links, no devices or fifos, no duplicates,
UTF-8 names without control characters, capped size and count) and written to
a temporary directory beside the target, which is renamed into place only when
everything passed. On refusal nothing is left behind and the error names the
entry.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import os
import posixpath
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from skillctl.core.errors import IntegrityError, UnsafeContentError
from skillctl.core.oci import GZIP_LAYERS, Manifest
from skillctl.core.refs import parse_reference
from skillctl.store.layout import Store

_CHUNK: Final = 1024 * 1024
_GZIP_LAYERS: Final = GZIP_LAYERS


@dataclass(frozen=True)
class UnpackLimits:
    """Caps against decompression bombs; configurable per call."""

    max_bytes: int = 512 * 1024 * 1024
    max_files: int = 20_000


@dataclass(frozen=True)
class UnpackResult:
    path: Path
    digest: str
    files: int
    bytes: int


def verify_blob(path: Path, digest: str, size: int | None = None) -> None:
    """Hash a blob file completely and compare with its descriptor."""
    h = hashlib.sha256()
    total = 0
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
                total += len(chunk)
    except FileNotFoundError:
        raise IntegrityError(f"layer {digest} is missing from the store") from None
    if "sha256:" + h.hexdigest() != digest or (size is not None and total != size):
        raise IntegrityError(f"layer {digest}: content does not match its digest; refusing to unpack")


def _check_name(raw: str) -> str:
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        raise UnsafeContentError(f"entry {raw!r}: name is not valid UTF-8") from None
    if any(ord(c) < 32 or ord(c) == 127 for c in raw):
        raise UnsafeContentError(f"entry {raw!r}: name contains control characters")
    if raw.startswith("/"):
        raise UnsafeContentError(f"entry {raw!r}: absolute path")
    name = posixpath.normpath(raw)
    if name == "." or raw in ("", "./"):
        return ""
    if name.startswith("../") or name == ".." or "/../" in f"/{raw}/":
        raise UnsafeContentError(f"entry {raw!r}: escapes the target directory")
    return name


class _Extractor:
    def __init__(self, root: Path, limits: UnpackLimits) -> None:
        self.root = root
        self.limits = limits
        self.seen: set[str] = set()
        self.symlinks: list[str] = []
        self.files = 0
        self.bytes = 0

    def _parent_ok(self, name: str) -> Path:
        target = self.root / name
        parent = self.root
        for part in Path(name).parts[:-1]:
            parent = parent / part
            if parent.is_symlink():
                raise UnsafeContentError(f"entry {name!r}: path goes through the symlink {part!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def add(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        name = _check_name(member.name)
        if not name:
            return
        if name in self.seen:
            raise UnsafeContentError(f"entry {name!r}: appears twice in the layer")
        self.seen.add(name)
        self.files += 1
        if self.files > self.limits.max_files:
            raise UnsafeContentError(
                f"entry {name!r}: more than {self.limits.max_files} entries",
                hint="a skill this big is refused against decompression bombs; if you trust it, "
                "raise the limit with --max-files N (UnpackLimits.max_files in the library)",
            )
        if member.isdir():
            self._parent_ok(name + "/x")
            return
        target = self._parent_ok(name)
        if member.issym() or member.islnk():
            self._link(member, name, target)
        elif member.isreg():
            self._file(tar, member, name, target)
        else:
            kind = (
                "device" if member.isdev() and not member.isfifo() else "fifo" if member.isfifo() else "special entry"
            )
            raise UnsafeContentError(f"entry {name!r}: is a {kind}; skills hold only files, folders and links")

    def _file(self, tar: tarfile.TarFile, member: tarfile.TarInfo, name: str, target: Path) -> None:
        self.bytes += member.size
        if self.bytes > self.limits.max_bytes:
            raise UnsafeContentError(
                f"entry {name!r}: unpacked size exceeds {self.limits.max_bytes} bytes",
                hint="a skill this big is refused against decompression bombs; if you trust it, "
                "raise the limit with --max-size SIZE such as 2G (UnpackLimits.max_bytes in the library)",
            )
        src = tar.extractfile(member)
        assert src is not None
        mode = 0o755 if member.mode & 0o111 else 0o644  # setuid, setgid and sticky bits are dropped
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(src, out, _CHUNK)
        os.chmod(target, mode)

    def _link(self, member: tarfile.TarInfo, name: str, target: Path) -> None:
        link = member.linkname
        if member.issym():
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), link))
            if link.startswith("/") or resolved == ".." or resolved.startswith("../"):
                raise UnsafeContentError(f"entry {name!r}: symlink to {link!r} points outside the skill")
            os.symlink(link, target)
            self.symlinks.append(name)
            return
        try:
            source = _check_name(link)
        except UnsafeContentError:  # name the entry, not just its link target
            raise UnsafeContentError(f"entry {name!r}: hard link to {link!r} points outside the skill") from None
        if source not in self.seen or not (self.root / source).is_file() or (self.root / source).is_symlink():
            raise UnsafeContentError(f"entry {name!r}: hard link to {link!r} is not a file of this skill")
        os.link(self.root / source, target)

    def check_symlinks(self) -> None:
        """Each target was checked lexically; links through other links can still escape."""
        real_root = os.path.realpath(self.root)
        for name in self.symlinks:
            resolved = os.path.realpath(self.root / name)
            if resolved != real_root and not resolved.startswith(real_root + os.sep):
                link = os.readlink(self.root / name)
                raise UnsafeContentError(f"entry {name!r}: symlink to {link!r} points outside the skill")


def unpack_manifest(
    store: Store,
    manifest: Manifest,
    dest: Path,
    *,
    limits: UnpackLimits | None = None,
    before_swap: Callable[[Path], None] | None = None,
) -> UnpackResult:
    """Unpack an image's layers into ``dest`` (replaced atomically if it exists).

    ``before_swap`` gets the finished temporary directory just before it becomes ``dest``.
    """
    limits = limits or UnpackLimits()
    for layer in manifest.layers:
        if layer.media_type not in _GZIP_LAYERS:
            raise UnsafeContentError(f"layer {layer.digest}: unsupported media type {layer.media_type!r}")
        verify_blob(store.blob_path(layer.digest), layer.digest, layer.size)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.unpack-", dir=dest.parent))
    try:
        extractor = _Extractor(tmp, limits)
        for layer in manifest.layers:
            try:
                with tarfile.open(store.blob_path(layer.digest), mode="r|gz") as tar:
                    for member in tar:
                        extractor.add(tar, member)
            except (tarfile.TarError, EOFError, OSError) as exc:
                if isinstance(exc, UnsafeContentError):
                    raise
                raise UnsafeContentError(f"layer {layer.digest}: not a valid tar+gzip stream ({exc})") from None
        extractor.check_symlinks()
        os.chmod(tmp, 0o755)
        if before_swap is not None:
            before_swap(tmp)
        _replace_dir(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return UnpackResult(dest, manifest.digest, extractor.files, extractor.bytes)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically with renameat2(RENAME_EXCHANGE); False where the system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _replace_dir(new: Path, dest: Path) -> None:
    """Put ``new`` at ``dest``. An existing ``dest`` is swapped out in one step where Linux allows it,
    so a process killed at any moment leaves either the old or the new skill, never neither."""
    if not dest.exists() and not dest.is_symlink():
        os.rename(new, dest)
        return
    if _exchange(new, dest):
        shutil.rmtree(new, ignore_errors=True)  # ``new`` now holds the old files
        return
    old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
    os.rename(dest, old / "d")
    try:
        os.rename(new, dest)
    except BaseException:
        os.rename(old / "d", dest)
        raise
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(old)


def unpack_image(
    ref: str, output: str | Path, *, store: Store | None = None, limits: UnpackLimits | None = None
) -> UnpackResult:
    """Unpack a local image into ``output/<name>/`` (name = last repository segment)."""
    store = store or Store()
    entry = store.resolve(ref)
    manifest = store.manifest(entry.digest)
    label = entry.ref_name or ref
    name = parse_reference(label).name if not label.startswith("sha256:") else manifest.digest[7:19]
    return unpack_manifest(store, manifest, Path(output) / name, limits=limits)
