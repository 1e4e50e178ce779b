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
import gzip
import hashlib
import io
import os
import posixpath
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Final

from skillctl.card.content import name_problem
from skillctl.core.errors import FileSystemError, IntegrityError, UnsafeContentError
from skillctl.core.fsutil import owned_temp_dir
from skillctl.core.oci import GZIP_LAYERS, Manifest
from skillctl.core.refs import parse_reference
from skillctl.store.layout import Store

_CHUNK: Final = 1024 * 1024
MAX_HEADER: Final = 1024 * 1024
"""The largest PAX or GNU long-name header accepted (real ones hold a path: a few hundred bytes)."""
_EXTENDED: Final = frozenset(
    {tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE, tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK}
)
_ENTRY_OVERHEAD: Final = 4096  # a header block, an extended header and the padding of the data
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


class _Hashed:
    """A blob file read through its sha256: the unpack checks the digest in the same pass that decompresses it."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.hash = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        self.hash.update(data)
        self.size += len(data)
        return data

    def check(self, digest: str, size: int) -> None:
        """Read what decompressing left unread, then compare with the descriptor."""
        while self.read(_CHUNK):
            pass
        if "sha256:" + self.hash.hexdigest() != digest or self.size != size:
            raise IntegrityError(f"layer {digest}: content does not match its digest; refusing to unpack")


def _open_layer(store: Store, digest: str) -> BinaryIO:
    try:
        return store.blob_path(digest).open("rb")
    except FileNotFoundError:
        raise IntegrityError(f"layer {digest} is missing from the store") from None


def _check_name(raw: str) -> str:
    """The normalised name of an entry ("" for the root itself), after the rules ``pack`` applies too."""
    problem = name_problem(raw)
    if problem:
        raise UnsafeContentError(f"entry {raw!r}: {problem}")
    if raw.startswith("/"):
        raise UnsafeContentError(f"entry {raw!r}: absolute path")
    name = posixpath.normpath(raw)
    if name == "." or raw in ("", "./"):
        return ""
    if name.startswith("../") or name == ".." or "/../" in f"/{raw}/":
        raise UnsafeContentError(f"entry {raw!r}: escapes the target directory")
    return name


class _BoundedTarInfo(tarfile.TarInfo):
    """Refuses an extended header (PAX, GNU long name or link) larger than ``MAX_HEADER`` before tarfile
    reads it into memory whole."""

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in _EXTENDED and self.size > MAX_HEADER:
            raise UnsafeContentError(f"an extended tar header of {self.size} bytes (at most {MAX_HEADER} are accepted)")
        return super()._proc_member(tarfile_)  # type: ignore[misc,no-any-return]


class _Bounded(io.RawIOBase):
    """The decompressed layer stream, cut off after ``limit`` bytes: whatever tarfile reads or skips
    (headers, data of entries it passes over) counts."""

    def __init__(self, raw: BinaryIO, limit: int, what: str) -> None:
        self.raw, self.limit, self.what, self.total = raw, limit, what, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.raw.readinto(buffer)  # type: ignore[attr-defined]
        self.total += n
        if self.total > self.limit:
            raise UnsafeContentError(
                f"{self.what}: the tar stream is longer than {self.limit} bytes",
                hint="a skill this big is refused against decompression bombs; if you trust it, "
                "raise the limits with --max-size and --max-files",
            )
        return int(n)


def stream_limit(limits: UnpackLimits) -> int:
    """What a layer may decompress to: the content cap, and room for every entry's headers and padding."""
    return limits.max_bytes + limits.max_files * _ENTRY_OVERHEAD + 1024 * 1024


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
        # Every member counts, also those that create nothing (the root): tarfile reads past each one.
        self.files += 1
        if self.files > self.limits.max_files:
            raise UnsafeContentError(
                f"entry {member.name!r}: more than {self.limits.max_files} entries",
                hint="a skill this big is refused against decompression bombs; if you trust it, "
                "raise the limit with --max-files N (UnpackLimits.max_files in the library)",
            )
        name = _check_name(member.name)
        if member.size and not member.isreg():
            raise UnsafeContentError(f"entry {member.name!r}: declares {member.size} bytes but is not a file")
        if not name:
            if not member.isdir():
                raise UnsafeContentError(f"entry {member.name!r}: names the skill's root but is not a directory")
            return
        if name in self.seen:
            raise UnsafeContentError(f"entry {name!r}: appears twice in the layer")
        self.seen.add(name)
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
        if not store.has_blob(layer.digest):
            raise IntegrityError(f"layer {layer.digest} is missing from the store")
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        # Named after this process: the next unpack into the same directory removes what a killed one left.
        tmp = owned_temp_dir(dest.parent, f".{dest.name}.unpack-")
    except OSError as exc:
        raise _write_error(dest, exc) from None
    try:
        extractor = _Extractor(tmp, limits)
        budget = stream_limit(limits)
        for layer in manifest.layers:
            # The digest is checked in the pass that decompresses, before the tree replaces anything: what a
            # damaged blob got written is in the temporary directory, removed below.
            with _open_layer(store, layer.digest) as blob:
                hashed = _Hashed(blob)
                try:
                    with (
                        gzip.GzipFile(fileobj=hashed, mode="rb") as gz,  # type: ignore[arg-type]
                        tarfile.open(
                            fileobj=_Bounded(gz, budget, f"layer {layer.digest}"),  # type: ignore[arg-type]
                            mode="r|",
                            tarinfo=_BoundedTarInfo,
                        ) as tar,
                    ):
                        for member in tar:
                            extractor.add(tar, member)
                        budget -= tar.fileobj.tell()  # type: ignore[union-attr]
                except UnsafeContentError:
                    hashed.check(layer.digest, layer.size)  # a damaged blob is that, not hostile content
                    raise
                except OSError as exc:
                    if exc.errno is not None:  # the disk, not the layer (gzip's own errors carry no errno)
                        raise _write_error(dest, exc) from None
                    hashed.check(layer.digest, layer.size)
                    raise UnsafeContentError(f"layer {layer.digest}: not a valid tar+gzip stream ({exc})") from None
                except (tarfile.TarError, EOFError, zlib.error) as exc:
                    hashed.check(layer.digest, layer.size)
                    raise UnsafeContentError(f"layer {layer.digest}: not a valid tar+gzip stream ({exc})") from None
                hashed.check(layer.digest, layer.size)
        extractor.check_symlinks()
        try:
            os.chmod(tmp, 0o755)
            if before_swap is not None:
                before_swap(tmp)
            _replace_dir(tmp, dest)
        except OSError as exc:
            raise _write_error(dest, exc) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return UnpackResult(dest, manifest.digest, extractor.files, extractor.bytes)


def _write_error(dest: Path, exc: OSError) -> FileSystemError:
    where = exc.filename or dest.parent
    return FileSystemError(
        f"{dest.parent}: cannot write the skill ({exc.strerror or exc}: {where})",
        hint="free space or fix the permissions of the target directory, then run the command again",
    )


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
