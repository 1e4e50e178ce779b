"""The skill's files as one reproducible ``tar+gzip`` layer.

Same files, same bytes, on any machine: entries sorted, directories included,
uid/gid 0 with no owner names, modes normalised to 0755/0644, every mtime
``SOURCE_DATE_EPOCH`` (or 0) and a gzip header with mtime 0 and no file name.
Hidden files (unless ``.skillignore`` re-includes them), VCS folders and
``.skillignore`` matches stay out; anything that could not be reproduced safely
elsewhere (links leaving the skill, devices, sockets, fifos) is refused with
the offending path.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final, Literal

from skillctl.card.content import IGNORE_FILE, content_rules, name_problem
from skillctl.core.errors import UnsafeContentError
from skillctl.core.handoff import Handoff

GZIP_LEVEL: Final = 6
_CHUNK: Final = 1024 * 1024

EntryKind = Literal["dir", "file", "symlink"]


@dataclass(frozen=True)
class Entry:
    rel: str
    kind: EntryKind
    path: str | Path  # where it is read from: a str as collected
    mode: int
    size: int = 0
    target: str = ""


@dataclass(frozen=True)
class LayerInfo:
    digest: str
    diff_id: str
    size: int


def _normalise_mode(st_mode: int) -> int:
    return 0o755 if st_mode & 0o111 else 0o644


def collect_entries(root: Path, left_out: list[str] | None = None) -> list[Entry]:
    """Walk the skill in sorted order; raise naming every unsafe path found.

    ``left_out``, when given, receives the hidden files and folders left out by default (not those
    ``.skillignore`` names, the ``.skillignore`` itself, or version-control folders): ``pack`` reports them.

    Raises:
        UnsafeContentError: symlinks leaving the skill or dangling, devices, sockets, fifos.
    """
    root = Path(root)
    real_root = root.resolve()
    rules = content_rules(root)
    entries: list[Entry] = []
    problems: list[str] = []

    euid = os.geteuid()
    excluded = rules.excluded_child

    def walk(directory: str, prefix: str) -> None:
        try:
            names = sorted(os.listdir(directory))
        except OSError as exc:
            problems.append(f"{directory}: cannot read directory ({exc.strerror})")
            return
        base = directory if directory.endswith("/") else directory + "/"
        for name in names:
            path = base + name  # a str: a Path (or os.path.join) per file costs more than its tar header
            rel = prefix + name
            st = os.lstat(path)
            mode = st.st_mode
            is_dir = stat.S_ISDIR(mode)
            reason = excluded(rel, name, is_dir)
            if reason:
                if left_out is not None and reason.startswith("hidden") and rel != IGNORE_FILE:
                    left_out.append(rel + ("/" if is_dir else ""))
                continue
            problem = name_problem(name)
            if problem:
                problems.append(f"{str(path)!r}: {problem}")
                continue
            if is_dir:
                entries.append(Entry(rel, "dir", path, 0o755))
                walk(path, rel + "/")
            elif stat.S_ISREG(mode):
                # The owner's read bit settles it without a system call (ACLs do not apply to the owner); else ask.
                if not (st.st_uid == euid and mode & stat.S_IRUSR) and not os.access(path, os.R_OK):
                    problems.append(f"{path}: file is not readable")
                entries.append(Entry(rel, "file", path, _normalise_mode(mode), st.st_size))
            elif stat.S_ISLNK(mode):
                _check_link(Path(path), rel, real_root, entries, problems)
            else:
                problems.append(f"{path}: is a {_special_kind(mode)}; only files, folders and links are packed")

    walk(str(root), "")
    packed = {e.rel for e in entries}
    for entry in entries:
        if entry.kind == "symlink":
            resolved = (Path(entry.path).parent / entry.target).resolve()
            rel_target = resolved.relative_to(real_root).as_posix()
            if rel_target not in packed and rel_target != ".":
                problems.append(f"{entry.path}: points to {rel_target!r}, which is not packaged (hidden or ignored)")
    if problems:
        raise UnsafeContentError(
            f"{root}: {len(problems)} path{'s' if len(problems) != 1 else ''} cannot be packed: {problems[0]}",
            problems=problems,
            hint=f"remove them or list them in {root / IGNORE_FILE}",
        )
    return entries


def content_totals_of(entries: list[Entry]) -> tuple[int, int]:
    """``(files, bytes)`` of collected entries, counted as :func:`skillctl.card.content.content_totals` counts the
    tree (files, and links that lead to a file), without walking it again."""
    files = size = 0
    for entry in entries:
        if entry.kind == "file":
            files, size = files + 1, size + entry.size
        elif entry.kind == "symlink":
            try:
                target = os.stat(entry.path)
            except OSError:
                continue
            if stat.S_ISREG(target.st_mode):
                files, size = files + 1, size + target.st_size
    return files, size


def _special_kind(mode: int) -> str:
    if stat.S_ISBLK(mode) or stat.S_ISCHR(mode):
        return "device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "fifo" if stat.S_ISFIFO(mode) else "special file"


def _check_link(path: Path, rel: str, real_root: Path, entries: list[Entry], problems: list[str]) -> None:
    target = os.readlink(path)
    try:
        resolved = (path.parent / target).resolve()
    except (RuntimeError, OSError):  # Python < 3.13 raises RuntimeError on a symlink loop
        problems.append(f"{path}: symlink to {target!r} is a loop")
        return
    try:
        resolved.relative_to(real_root)
    except ValueError:
        problems.append(f"{path}: symlink to {target!r} leaves the skill")
        return
    if not resolved.exists():
        problems.append(f"{path}: symlink to {target!r} is dangling")
        return
    # Store links relative, so the layer does not depend on where the skill was packed.
    relative = os.path.relpath(resolved, path.parent.resolve())
    entries.append(Entry(rel, "symlink", path, 0o777, target=Path(relative).as_posix()))


class _HashingWriter:
    """A write-only file object that hashes what passes through it."""

    def __init__(self, sink: BinaryIO | None) -> None:
        self.sink = sink
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        if self.sink is not None:
            self.sink.write(data)
        return len(data)

    def flush(self) -> None:
        if self.sink is not None:
            self.sink.flush()


def _tarinfo(entry: Entry, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(entry.rel)
    info.mtime = mtime
    info.mode = entry.mode
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if entry.kind == "dir":
        info.type = tarfile.DIRTYPE
    elif entry.kind == "symlink":
        info.type = tarfile.SYMTYPE
        info.linkname = entry.target
    else:
        info.size = entry.size
    return info


_BLOCK: Final = tarfile.BLOCKSIZE
_RECORD: Final = tarfile.RECORDSIZE
_TYPES: Final = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "file": tarfile.REGTYPE}
_COPY: Final = 1024 * 1024


_TAIL: Final = tarfile.POSIX_MAGIC + b"\0" * (_BLOCK - 265)  # magic, version; empty owner names, devices, prefix
_TAIL_SUM: Final = sum(_TAIL)


@functools.lru_cache(maxsize=64)
def _header_parts(kind: EntryKind, mode: int, mtime: int) -> tuple[bytes, bytes, bytes, int]:
    """What every header of one (kind, mode, mtime) shares: mode/uid/gid, mtime, type flag, and the checksum of
    those plus the constant fields (the checksum field itself counted as spaces)."""
    ids = b"%07o\0%07o\0%07o\0" % (mode & 0o7777, 0, 0)
    when = b"%011o\0" % mtime
    kind_flag = _TYPES[kind]
    return ids, when, kind_flag, sum(ids) + sum(when) + 8 * ord(" ") + kind_flag[0] + _TAIL_SUM


def _fast_header(entry: Entry, mtime: int) -> bytes | None:
    """The header block tarfile writes for ``entry`` in PAX format when it needs no extended header (ASCII names of
    at most 100 characters, numbers that fit), built directly from a per-(kind, mode, mtime) template, its checksum
    the template's plus that of the name, size and link: tarfile takes ten times as long per entry, which a skill
    of 10,000 files feels. None when an extended header is needed; tarfile writes those."""
    kind = entry.kind
    name, size, link = entry.rel, 0, b""
    if kind == "file":
        size = entry.size
        if not 0 <= size < 8**11:
            return None
    elif kind == "dir":
        name += "/"
    else:
        if not entry.target.isascii() or len(entry.target) > 100:
            return None
        link = entry.target.encode("ascii")
    if not (name.isascii() and len(name) <= 100 and 0 <= mtime < 8**11):
        return None
    raw = name.encode("ascii")
    ids, when, kind_flag, constant = _header_parts(kind, entry.mode, mtime)
    size_field = b"%011o\0" % size
    checksum = constant + sum(raw) + sum(size_field) + sum(link)
    return b"%s%s%s%s%06o\0 %s%s%s" % (
        raw.ljust(100, b"\0"),
        ids,
        size_field,
        when,
        checksum,
        kind_flag,
        link.ljust(100, b"\0"),
        _TAIL,
    )


def _tarfile_header(entry: Entry, mtime: int) -> bytes:
    return _tarinfo(entry, mtime).tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


@functools.cache
def _fast_headers_match() -> bool:
    """Whether this Python's tarfile writes the headers ``_fast_header`` builds (checked once per process, so a
    tarfile that changes its format changes nothing: every header then comes from tarfile)."""
    probes = [
        Entry("a", "dir", "a", 0o755),
        Entry("a/b.md", "file", "b", 0o644, 1234567),
        Entry("a/" + "r" * 98, "file", "r", 0o755, 8**11 - 1),
        Entry("a/x", "symlink", "x", 0o777, target="b.md"),
    ]
    return all(_fast_header(e, t) == _tarfile_header(e, t) for e in probes for t in (0, 1_700_000_000))


def write_layer(entries: list[Entry], out: BinaryIO, *, mtime: int = 0) -> LayerInfo:
    """Write the layer to ``out``; return its digest, diff_id and compressed size.

    The bytes are exactly what ``tarfile`` writes in PAX format (stream mode) for these entries: headers of plain
    entries are built here (see ``_fast_header``), the others come from tarfile. Compression, hashing and the writes
    to ``out`` run in a worker thread (:class:`~skillctl.core.handoff.Handoff`); ``out`` is done with when this returns
    or raises.

    Raises:
        UnsafeContentError: a file changed size or vanished while it was packed.
    """
    compressed = _HashingWriter(out)
    tar_hash = hashlib.sha256()

    def compress(pieces: Iterator[bytearray]) -> None:
        with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, compresslevel=GZIP_LEVEL, mtime=0) as gz:  # type: ignore[arg-type]
            for piece in pieces:
                tar_hash.update(piece)
                gz.write(piece)

    # Hashing, gzip and the writes to ``out`` run on another core while this thread builds headers and reads files.
    sink: Handoff[bytearray] = Handoff(compress, name="skillctl-layer-gzip", depth=4)  # at most ~4 MiB waiting
    fast = _fast_headers_match()
    pending = bytearray()  # handed over in large pieces: one call per small file costs more than it compresses
    offset = 0
    try:
        for entry in entries:
            header = (fast and _fast_header(entry, mtime)) or _tarfile_header(entry, mtime)
            pending += header
            offset += len(header)
            if entry.kind == "file":
                pending = _add_file(entry, pending, sink)
                padding = -entry.size % _BLOCK
                pending += bytes(padding)
                offset += entry.size + padding
            if len(pending) >= _COPY:
                sink.put(pending)
                pending = bytearray()
        pending += bytes(2 * _BLOCK)  # the end-of-archive blocks, then padding to a whole record, as tarfile
        offset += 2 * _BLOCK
        pending += bytes(-offset % _RECORD)
        sink.put(pending)
    except BaseException:
        sink.close(abandon=True)  # nothing may write to ``out`` once the caller discards it
        raise
    sink.close()
    return LayerInfo(
        digest="sha256:" + compressed.hash.hexdigest(),
        diff_id="sha256:" + tar_hash.hexdigest(),
        size=compressed.size,
    )


def _add_file(entry: Entry, pending: bytearray, sink: Handoff[bytearray]) -> bytearray:
    """Append the file's bytes to ``pending``, handing full pieces to ``sink``; return what is still pending.

    One byte more than is left is asked for: a file that grew shows without an fstat per file, and a short read
    (the end of a regular file) one that shrank.
    """
    fd = _open(entry)
    try:
        left = entry.size
        while True:
            want = min(left + 1, _COPY)
            try:
                chunk = os.read(fd, want)
            except OSError as exc:
                raise UnsafeContentError(f"{entry.path}: cannot read ({exc.strerror})") from None
            if len(chunk) > left:
                break
            pending += chunk
            left -= len(chunk)
            if len(chunk) < want:
                if not left:
                    return pending
                break
            if len(pending) >= _COPY:
                sink.put(pending)
                pending = bytearray()
    finally:
        os.close(fd)
    raise UnsafeContentError(f"{entry.path}: changed while packing; run pack again")


def _open(entry: Entry) -> int:
    """Open a file for packing: a bare descriptor (no buffered file object per small file), not following a link
    and not waiting should a fifo have taken the file's place."""
    try:
        return os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise UnsafeContentError(f"{entry.path}: cannot read ({exc.strerror})") from None
