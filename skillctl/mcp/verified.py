"""The files of verified layers, kept by their sha256 for as long as a listing may name them.

A skill's files are copied here from the tree the hardened unpack wrote (after the layer's digest was checked), and
hashed on the way: what is served is exactly what the listing's digests say, read from here, so a registry that goes
away (or a cache that evicts the tree) does not stop a listed skill from being read.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from skillctl.core.errors import IntegrityError

_CHUNK: Final = 256 * 1024


class VerifiedFiles:
    """A content-addressed directory: ``<root>/<sha256 hex>``, read-only files."""

    def __init__(self, root: Path | None = None) -> None:
        self._own = root is None
        self.root = Path(tempfile.mkdtemp(prefix="skillctl-mcp-")) if root is None else Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def path(self, digest: str) -> Path:
        algorithm, _, hexdigest = digest.partition(":")
        if algorithm != "sha256" or len(hexdigest) != 64 or not all(c in "0123456789abcdef" for c in hexdigest):
            raise IntegrityError(f"{digest[:80]!r} is not a sha256 digest")
        return self.root / hexdigest

    def add(self, source: Path, digest: str, size: int) -> None:
        """Copy ``source`` in under ``digest`` (once), refusing bytes that do not match it.

        Raises:
            IntegrityError: the file's bytes are not ``digest`` / ``size``.
        """
        dest = self.path(digest)
        if dest.is_file():
            return
        h = hashlib.sha256()
        total = 0
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".in-")
        try:
            with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
                while chunk := src.read(_CHUNK):
                    h.update(chunk)
                    total += len(chunk)
                    out.write(chunk)
            if "sha256:" + h.hexdigest() != digest or total != size:
                raise IntegrityError(f"{source.name}: its bytes do not match the digest listed for it")
            os.chmod(tmp, 0o444)
            os.replace(tmp, dest)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def read(self, digest: str, size: int) -> bytes:
        """The bytes of a file, checked again against its digest and size (they are served as they are read).

        Raises:
            IntegrityError: missing or changed on disk.
        """
        try:
            data = self.path(digest).read_bytes()
        except FileNotFoundError:
            raise IntegrityError(f"{digest}: no longer held") from None
        if len(data) != size or "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise IntegrityError(f"{digest}: the held copy does not match its digest")
        return data

    def keep_only(self, digests: Iterable[str]) -> int:
        """Drop every file no live listing names; returns how many were dropped."""
        keep = {d.partition(":")[2] for d in digests}
        dropped = 0
        with self._lock:
            for entry in os.scandir(self.root):
                if entry.name not in keep and not entry.name.startswith(".in-"):
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)
                        dropped += 1
        return dropped

    def close(self) -> None:
        if self._own:
            shutil.rmtree(self.root, ignore_errors=True)
