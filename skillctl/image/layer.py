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

import contextlib
import gzip
import hashlib
import os
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final, Literal

from skillctl.card.content import IGNORE_FILE, content_rules
from skillctl.core.errors import UnsafeContentError

GZIP_LEVEL: Final = 6
_CHUNK: Final = 1024 * 1024

EntryKind = Literal["dir", "file", "symlink"]


@dataclass(frozen=True)
class Entry:
    rel: str
    kind: EntryKind
    path: Path
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

    def walk(directory: Path, prefix: str) -> None:
        try:
            names = sorted(os.listdir(directory))
        except OSError as exc:
            problems.append(f"{directory}: cannot read directory ({exc.strerror})")
            return
        for name in names:
            path = directory / name
            rel = prefix + name
            st = path.lstat()
            is_dir = stat.S_ISDIR(st.st_mode)
            reason = rules.excluded(rel, is_dir=is_dir)
            if reason:
                if left_out is not None and reason.startswith("hidden") and rel != IGNORE_FILE:
                    left_out.append(rel + ("/" if is_dir else ""))
                continue
            if is_dir:
                entries.append(Entry(rel, "dir", path, 0o755))
                walk(path, rel + "/")
            elif stat.S_ISREG(st.st_mode):
                if not os.access(path, os.R_OK):
                    problems.append(f"{path}: file is not readable")
                entries.append(Entry(rel, "file", path, _normalise_mode(st.st_mode), st.st_size))
            elif stat.S_ISLNK(st.st_mode):
                _check_link(path, rel, real_root, entries, problems)
            else:
                problems.append(f"{path}: is a {_special_kind(st.st_mode)}; only files, folders and links are packed")

    walk(root, "")
    packed = {e.rel for e in entries}
    for entry in entries:
        if entry.kind == "symlink":
            resolved = (entry.path.parent / entry.target).resolve()
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


class _TarSink:
    """Hashes the uncompressed tar stream and feeds it to gzip."""

    def __init__(self, gz: gzip.GzipFile) -> None:
        self.gz = gz
        self.hash = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        return self.gz.write(data)


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


def write_layer(entries: list[Entry], out: BinaryIO, *, mtime: int = 0) -> LayerInfo:
    """Write the layer to ``out``; return its digest, diff_id and compressed size.

    Raises:
        UnsafeContentError: a file changed size or vanished while it was packed.
    """
    compressed = _HashingWriter(out)
    gz = gzip.GzipFile(filename="", mode="wb", fileobj=compressed, compresslevel=GZIP_LEVEL, mtime=0)  # type: ignore[arg-type]
    sink = _TarSink(gz)
    with gz, tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT, encoding="utf-8") as tar:  # type: ignore[call-overload]
        for entry in entries:
            info = _tarinfo(entry, mtime)
            if entry.kind != "file":
                tar.addfile(info)
                continue
            with _open_exact(entry) as fh:
                tar.addfile(info, fh)
    return LayerInfo(
        digest="sha256:" + compressed.hash.hexdigest(),
        diff_id="sha256:" + sink.hash.hexdigest(),
        size=compressed.size,
    )


@contextlib.contextmanager
def _open_exact(entry: Entry) -> Iterator[BinaryIO]:
    """Open a file for packing; fail if it no longer has the size we recorded."""
    try:
        fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise UnsafeContentError(f"{entry.path}: cannot read ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as fh:
        if os.fstat(fd).st_size != entry.size:
            raise UnsafeContentError(f"{entry.path}: changed while packing; run pack again")
        yield fh
