"""Crash-safe file writes: temporary file, fsync, rename, fsync the directory."""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from skillctl.core.errors import SkillctlError, StoreError, UsageError


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def link_or_copy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> str:
    """Hard-link ``src`` to ``dst`` (blobs are immutable, so sharing the inode is safe), else copy it."""
    try:
        os.link(src, dst)
    except OSError:
        import shutil

        shutil.copyfile(src, dst)
    return str(dst)


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` so readers see the old or the new file, never a mix."""
    import tempfile  # here, not at the top: reading commands (list, inspect, validate) write nothing

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


@contextlib.contextmanager
def file_lock(path: Path, *, shared: bool = False, timeout: float = 300.0, removable: bool = False) -> Iterator[None]:
    """Hold an flock on ``path``; give up with a clear error after ``timeout`` seconds.

    ``removable``: the lock file (and its directory) may be deleted by a holder that leaves nothing
    to protect. The directory is created when missing, and a lock taken on a file that was deleted
    (or replaced) meanwhile is dropped and taken again on the file now at ``path``.
    """
    deadline = time.monotonic() + timeout
    flags = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
    while True:
        if removable:
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:
            if removable and time.monotonic() < deadline:
                continue  # the directory went away between mkdir and open
            raise
        try:
            while True:
                try:
                    fcntl.flock(fd, flags)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise StoreError(
                            f"{path.parent}: still locked by another skillctl process after {timeout:.0f}s",
                            hint="wait for the other process to finish, or check for a hung skillctl",
                        ) from None
                    time.sleep(0.02)
            if removable:
                try:
                    current = os.stat(path).st_ino
                except FileNotFoundError:
                    current = None
                if current != os.fstat(fd).st_ino:
                    os.close(fd)
                    fd = -1
                    continue  # the holder before us removed it: lock the new one
            yield
            return
        finally:
            if fd >= 0:
                os.close(fd)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (a reused id counts as alive: sweeping is conservative)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owned_temp_dir(parent: Path, prefix: str, *, mode: int = 0o700) -> Path:
    """A new directory ``parent/<prefix><pid>-XXXXXXXX``, after removing those of processes that are gone.

    A process killed with SIGKILL cannot clean up; naming its directories after it lets the next run do so.
    """
    import tempfile

    sweep_owned(parent, prefix)
    path = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=parent))
    os.chmod(path, mode)
    return path


def sweep_owned(parent: Path, prefix: str) -> int:
    """Remove ``parent/<prefix><pid>-*`` directories whose process is gone; return how many."""
    import shutil

    removed = 0
    try:
        candidates = list(parent.glob(f"{glob_escape(prefix)}*-*"))
    except OSError:
        return 0
    for path in candidates:
        pid = path.name[len(prefix) :].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)) and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


def glob_escape(text: str) -> str:
    """``text`` with glob metacharacters escaped (a skill name could hold ``[``)."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "socket" if stat.S_ISSOCK(mode) else "special file"


def open_regular(path: str | os.PathLike[str], *, error: type[SkillctlError] = UsageError) -> BinaryIO:
    """Open a regular file for reading, refusing fifos, devices and sockets before they block or never end.

    Raises:
        ``error``: not a regular file.
        OSError: it cannot be opened (missing, permissions).
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a fifo would block here without O_NONBLOCK
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise error(f"{path}: is a {_kind(mode)}, not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike[str], limit: int, *, error: type[SkillctlError] = UsageError) -> bytes:
    """The bytes of a small regular file, at most ``limit`` (see :func:`open_regular`).

    Raises:
        ``error``: not a regular file, or larger than ``limit``.
        OSError: it cannot be read.
    """
    with open_regular(path, error=error) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise error(f"{path}: larger than {limit} bytes; is this the right file?")
    return data
