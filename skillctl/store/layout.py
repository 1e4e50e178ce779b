"""The local store: an OCI image layout, shared with the Go skillctl, skopeo and umoci.

Tags live in ``index.json`` as descriptors annotated with
``org.opencontainers.image.ref.name`` = the full reference string, as the Go
tool writes them. Crash safety: blobs and ``index.json`` are written to a
temporary file, fsynced and renamed, so a killed process leaves a readable
store. Concurrency: writers hold a shared lock from their first blob to their
index update, and index updates are serialised by an exclusive lock; garbage
collection takes the first lock exclusively so it never deletes a blob that a
running pack has written but not yet tagged.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Final

from skillctl.core import oci
from skillctl.core.errors import IntegrityError, NotFoundError, StoreError
from skillctl.core.fsutil import atomic_write, file_lock, fsync_dir
from skillctl.core.refs import DIGEST_RE, Reference, is_digest, parse_reference

LAYOUT_FILE: Final = "oci-layout"
INDEX_FILE: Final = "index.json"
PRIVATE_DIR: Final = ".skillctl"
MAX_METADATA_BLOB: Final = 4 * 1024 * 1024


def default_store_path(env: dict[str, str] | None = None) -> Path:
    """``$SKILLCTL_STORE``, else ``$XDG_DATA_HOME/skillctl/store``, else ``~/.local/share/skillctl/store``."""
    env = dict(os.environ) if env is None else env
    if env.get("SKILLCTL_STORE"):
        return Path(env["SKILLCTL_STORE"]).expanduser()
    data_home = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local" / "share")
    return Path(data_home).expanduser() / "skillctl" / "store"


@dataclass(frozen=True)
class IndexEntry:
    """One descriptor of ``index.json``; ``ref_name`` is None for untagged (digest-only) entries."""

    descriptor: oci.Descriptor
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def ref_name(self) -> str | None:
        return self.annotations.get(oci.REF_NAME)

    @property
    def digest(self) -> str:
        return self.descriptor.digest

    def to_json(self) -> dict[str, Any]:
        data = self.descriptor.to_json()
        if self.annotations:
            data["annotations"] = dict(sorted(self.annotations.items()))
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IndexEntry:
        annotations = {str(k): str(v) for k, v in (data.get("annotations") or {}).items()}
        return cls(oci.Descriptor.from_json(data), annotations)


class BlobWriter:
    """A temporary blob file that becomes ``blobs/sha256/<digest>`` on :meth:`commit`."""

    def __init__(self, store: Store) -> None:
        import tempfile  # not on the path of reading commands (list, inspect)

        fd, name = tempfile.mkstemp(prefix="blob-", dir=store.tmp_dir)
        self._store = store
        self._path = Path(name)
        self._fh: BinaryIO = os.fdopen(fd, "wb")
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        """Hash and write ``data``; a failed write (a full disk) is a StoreError, whatever thread it happens in."""
        self._hash.update(data)
        self.size += len(data)
        try:
            return self._fh.write(data)
        except OSError as exc:
            raise self._store._write_error(exc) from None

    def flush(self) -> None:
        self._fh.flush()

    def sync(self) -> None:
        """Put what is written so far on the disk: a writer with a thread to spare calls this as it goes, so
        that :meth:`commit` does not wait for all of it at the end."""
        try:
            self._fh.flush()
            os.fdatasync(self._fh.fileno())
        except OSError as exc:
            raise self._store._write_error(exc) from None

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()

    def commit(self) -> str:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        digest = self.digest
        target = self._store.blob_path(digest)
        os.chmod(self._path, 0o644)
        os.replace(self._path, target)
        fsync_dir(target.parent)
        return digest

    def discard(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()


@dataclass
class GCResult:
    blobs_removed: int = 0
    bytes_freed: int = 0
    temp_removed: int = 0


class Store:
    """An OCI image layout directory used as skillctl's local store."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_store_path()

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    # -- paths ---------------------------------------------------------------
    @property
    def blobs_dir(self) -> Path:
        return self.root / "blobs" / "sha256"

    @property
    def tmp_dir(self) -> Path:
        return self.root / PRIVATE_DIR / "tmp"

    def blob_path(self, digest: str) -> Path:
        return Path(self._blob_file(digest))

    def _blob_file(self, digest: str) -> str:
        """:meth:`blob_path` as a str: reading 1,000 manifests should not build 3,000 Path objects."""
        if not DIGEST_RE.fullmatch(digest):
            raise IntegrityError(f"unsupported or malformed digest {digest!r}")
        return os.path.join(self.root, "blobs", "sha256", digest.split(":", 1)[1])

    def exists(self) -> bool:
        return (self.root / INDEX_FILE).is_file()

    # -- setup and locks -------------------------------------------------------
    def init(self) -> None:
        """Create the layout if it is missing (safe to call concurrently)."""
        try:
            self.blobs_dir.mkdir(parents=True, exist_ok=True)
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.root}: cannot create the store ({exc.strerror}: {exc.filename})") from None
        if self.exists() and (self.root / LAYOUT_FILE).is_file():
            return
        try:
            with file_lock(self.root / PRIVATE_DIR / "index.lock"):
                if not (self.root / LAYOUT_FILE).is_file():
                    atomic_write(self.root / LAYOUT_FILE, b'{"imageLayoutVersion":"1.0.0"}')
                if not self.exists():
                    self._write_index([])
        except OSError as exc:
            raise StoreError(
                f"{self.root}: not a usable store ({exc.strerror}: {exc.filename})",
                hint="the store was changed by hand or by another tool; restore it, or use another --store",
            ) from None

    @contextlib.contextmanager
    def writing(self) -> Iterator[Store]:
        """Hold off garbage collection while blobs are written and tagged.

        Raises:
            StoreError: the store cannot be written (read-only, full, permissions), naming the file.
        """
        self.init()
        try:
            with file_lock(self.root / PRIVATE_DIR / "gc.lock", shared=True):
                yield self
        except OSError as exc:
            raise self._write_error(exc) from None

    def _write_error(self, exc: OSError) -> StoreError:
        return StoreError(
            f"{self.root}: cannot write the store ({exc.strerror or exc}: {exc.filename or self.root})",
            hint="free space or fix the permissions of the store (--store), then run the command again",
        )

    # -- blobs -----------------------------------------------------------------
    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def read_blob(self, digest: str, *, limit: int = MAX_METADATA_BLOB) -> bytes:
        """Read a small blob (manifest, config) and verify its digest."""
        try:
            fd = os.open(self._blob_file(digest), os.O_RDONLY)
        except FileNotFoundError:
            raise IntegrityError(
                f"{self.root}: blob {digest} is missing from the store",
                hint="the store is damaged; remove the image ('skillctl rm'), then pack or pull it again",
            ) from None
        try:
            # Sized by the file, not by the limit: a read of limit + 1 bytes allocates that much for every manifest.
            size = os.fstat(fd).st_size
            chunks: list[bytes] = []
            left = 0 if size > limit else size + 1
            while left > 0 and (chunk := os.read(fd, left)):
                chunks.append(chunk)
                left -= len(chunk)
            data = b"".join(chunks)
        finally:
            os.close(fd)
        if size > limit or len(data) > limit:
            raise IntegrityError(f"{self.root}: blob {digest} is larger than {limit} bytes")
        if oci.sha256_digest(data) != digest:
            raise IntegrityError(
                f"{self.root}: blob {digest} does not match its digest; the store is damaged",
                hint="remove the damaged images with 'skillctl rm', run 'skillctl prune', then pack or pull again",
            )
        return data

    def put_blob(self, data: bytes) -> str:
        """Store bytes under their digest (idempotent). Call inside :meth:`writing`."""
        digest = oci.sha256_digest(data)
        if self.has_blob(digest):
            return digest
        writer = BlobWriter(self)
        try:
            writer.write(data)
            return writer.commit()
        except BaseException:
            writer.discard()
            raise

    @contextlib.contextmanager
    def new_blob(self) -> Iterator[BlobWriter]:
        """Stream a blob into the store; it is discarded unless committed."""
        writer = BlobWriter(self)
        try:
            yield writer
        finally:
            writer.discard()

    def manifest(self, digest: str) -> oci.Manifest:
        return oci.Manifest.parse(self.read_blob(digest), digest=digest, source=f"{self.root}: {digest}")

    def check_complete(self, manifest: oci.Manifest, *, what: str = "") -> None:
        """Every blob ``manifest`` names is in the store: operations on a damaged entry must not spread it.

        Raises:
            IntegrityError: a config or layer blob is missing.
        """
        missing = [d.digest for d in (manifest.config, *manifest.layers) if not self.has_blob(d.digest)]
        if missing:
            raise IntegrityError(
                f"{what or manifest.digest}: the store is damaged: {', '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} missing",
                hint="remove the image ('skillctl rm'), then pack or pull it again",
            )

    # -- index -----------------------------------------------------------------
    def entries(self) -> list[IndexEntry]:
        path = self.root / INDEX_FILE
        try:
            data = json.loads(path.read_bytes())
            return [IndexEntry.from_json(m) for m in data.get("manifests") or []]
        except FileNotFoundError:
            return []
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StoreError(
                f"{path}: not a valid OCI index ({exc})",
                hint="the store was changed by hand or by a tool that crashed; restore it or remove it",
            ) from None

    def _write_index(self, entries: list[IndexEntry]) -> None:
        ordered = sorted(entries, key=lambda e: (e.ref_name is None, e.ref_name or "", e.digest))
        index = {
            "schemaVersion": 2,
            "mediaType": oci.INDEX_V1,
            "manifests": [e.to_json() for e in ordered],
        }
        atomic_write(self.root / INDEX_FILE, json.dumps(index, separators=(",", ":")).encode())

    def update_index(self, mutate: Callable[[list[IndexEntry]], list[IndexEntry] | None]) -> list[IndexEntry]:
        """Read-modify-write ``index.json`` under the exclusive index lock.

        ``mutate`` gets the current entries and returns the new list, or None to leave the index untouched.
        """
        self.init()
        try:
            with file_lock(self.root / PRIVATE_DIR / "index.lock"):
                current = self.entries()
                updated = mutate(list(current))
                if updated is not None:
                    self._write_index(updated)
                    return updated
                return current
        except OSError as exc:
            raise self._write_error(exc) from None

    def tagged(self) -> dict[str, IndexEntry]:
        return {e.ref_name: e for e in self.entries() if e.ref_name}

    def set_tag(self, name: str, descriptor: oci.Descriptor, annotations: dict[str, str] | None = None) -> str | None:
        """Point tag ``name`` at ``descriptor``; return the digest it pointed at before (or None)."""
        previous: list[str | None] = [None]

        def mutate(entries: list[IndexEntry]) -> list[IndexEntry] | None:
            old = next((e for e in entries if e.ref_name == name), None)
            previous[0] = old.digest if old else None
            if old and old.digest == descriptor.digest:
                return None
            keep = [e for e in entries if e.ref_name != name]
            keep.append(IndexEntry(descriptor, {**(annotations or {}), oci.REF_NAME: name}))
            return keep

        self.update_index(mutate)
        return previous[0]

    def resolve(self, ref: str | Reference) -> IndexEntry:
        """Find a tag (``repo:tag``, ``repo`` meaning ``repo:latest``) or a digest in the store.

        Raises:
            NotFoundError: nothing matches; the hint names the tags the repository has.
        """
        entries = self.entries()
        text = str(ref)
        if is_digest(text):
            parsed = None
            digest: str | None = text
        else:
            parsed = ref if isinstance(ref, Reference) else parse_reference(text)
            digest = parsed.digest
        if digest:
            matches = [e for e in entries if e.digest == digest]
            if parsed:
                matches.sort(key=lambda e: not (e.ref_name or "").startswith(parsed.repository + ":"))
            if matches:
                return matches[0]
            if self.has_blob(digest):
                return IndexEntry(self.manifest(digest).descriptor)
            raise NotFoundError(
                f"{text}: no image with this digest in the local store ({self.root})",
                hint="run 'skillctl list --all --no-trunc' to see the local digests",
            )
        assert parsed is not None
        name = parsed.store_name
        for entry in entries:
            if entry.ref_name == name:
                return entry
        siblings = sorted(
            (e.ref_name or "").rsplit(":", 1)[1]
            for e in entries
            if (e.ref_name or "").startswith(parsed.repository + ":")
        )
        hint = (
            f"{parsed.repository} has tags: {', '.join(siblings)}"
            if siblings
            else "run 'skillctl list' to see the local images"
        )
        raise NotFoundError(f"{name}: not found in the local store ({self.root})", hint=hint)

    # -- garbage collection ------------------------------------------------------
    def referenced_blobs(self, entries: list[IndexEntry]) -> set[str]:
        """Every blob an entry reaches: manifests, configs, layers, and the children of image indexes."""
        keep: set[str] = set()
        pending = [e.digest for e in entries]
        seen: set[str] = set()
        while pending:
            digest = pending.pop()
            if digest in seen:
                continue
            seen.add(digest)
            keep.add(digest)
            try:
                data = json.loads(self.read_blob(digest))
            except (NotFoundError, IntegrityError, ValueError):
                continue  # missing or not JSON: nothing more to follow, and the blob itself is kept
            if not isinstance(data, dict):
                continue
            # Index children are manifests to read in turn; a manifest's config and layers are kept unread.
            pending.extend(
                str(c["digest"]) for c in data.get("manifests") or [] if isinstance(c, dict) and "digest" in c
            )
            blobs = [*(data.get("layers") or []), data.get("config")]
            keep.update(str(b["digest"]) for b in blobs if isinstance(b, dict) and "digest" in b)
        return keep

    def unreferenced_blobs(self, entries: list[IndexEntry]) -> list[Path]:
        keep = {d.split(":", 1)[1] for d in self.referenced_blobs(entries)}
        return [p for p in sorted(self.blobs_dir.iterdir()) if p.name not in keep and p.is_file()]

    def gc(self) -> GCResult:
        """Delete blobs no index entry reaches, and temporary files of killed processes."""
        import shutil

        result = GCResult()
        if not self.exists():
            return result
        self.init()
        with (
            file_lock(self.root / PRIVATE_DIR / "gc.lock"),
            file_lock(self.root / PRIVATE_DIR / "index.lock"),
        ):
            for path in self.unreferenced_blobs(self.entries()):
                result.blobs_removed += 1
                result.bytes_freed += path.stat().st_size
                path.unlink()
            # No writer holds the shared lock now, so every temporary file is a leftover.
            for path in self.tmp_dir.iterdir():
                result.temp_removed += 1
                result.bytes_freed += path.stat().st_size if path.is_file() else 0
                shutil.rmtree(path) if path.is_dir() else path.unlink()
            # atomic_write's temporary files of index.json and oci-layout (written under the index lock).
            for pattern in (f".{INDEX_FILE}.*.tmp", f".{LAYOUT_FILE}.*.tmp"):
                for path in self.root.glob(pattern):
                    result.temp_removed += 1
                    result.bytes_freed += path.stat().st_size
                    path.unlink()
        return result
