"""Crash-safe file writes: temporary file, fsync, rename, fsync the directory."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from skillctl.core.errors import StoreError


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
        shutil.copyfile(src, dst)
    return str(dst)


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` so readers see the old or the new file, never a mix."""
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
