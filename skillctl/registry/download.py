"""Pulling an image's blobs over the registry API straight into the store.

A backend pulls into a temporary OCI layout that skillctl then hashes again and moves into the store: a tool
process, and every byte written and read twice. Here each blob streams from one kept-alive connection into a
store blob file, hashed as it arrives and bounded by the size the manifest declares; it becomes a blob only
when its digest and size match. Blobs the store already has are not downloaded again. A second thread hashes
and writes while the first receives (both release the GIL), so the disk and the network overlap.

Used only where the result is what skopeo would give (see :mod:`skillctl.registry.registries_conf`); the
caller has checked the manifest, the lifecycle state and the signature policy before anything arrives.
"""

from __future__ import annotations

import queue
import threading
from typing import Final

from skillctl.core import oci
from skillctl.core.errors import IntegrityError
from skillctl.core.progress import Progress
from skillctl.core.refs import Reference
from skillctl.core.registry_options import RegistryOptions
from skillctl.registry.client import RegistrySession, pooled_session
from skillctl.store.layout import BlobWriter, Store

NAME: Final = "registry-api"
"""How a pull done here is named where a backend's name would be (``pull -v``, ``--format json``)."""
BATCH: Final = 1024 * 1024
"""Bytes received before they go to the writing thread (a hand-over per TLS record would cost more)."""
SYNC_EVERY: Final = 16 * 1024 * 1024
"""Bytes written between two syncs to the disk, in the writing thread: the commit's fsync then finds little left."""


def download_image(
    store: Store, src: Reference, manifest: oci.Manifest, opts: RegistryOptions, progress: Progress
) -> None:
    """Store ``manifest`` (already read and checked) and every blob it names, fetched from ``src``'s repository.

    Call inside ``store.writing()``. A blob is committed only whole and matching its descriptor; the manifest
    is stored after its blobs, so an interrupted pull leaves only unreferenced blobs (``prune`` removes them).

    Raises:
        IntegrityError: a blob that does not match its digest or size (nothing of it is kept).
        NotFoundError / AuthError / NetworkError / DeadlineExceeded: as any registry read.
    """
    assert src.registry is not None
    pooled = pooled_session(src.registry, opts)
    session = pooled or RegistrySession(src.registry, opts, timeout=opts.time_left(f"pull {src}"))
    try:
        for desc in (manifest.config, *manifest.layers):
            if not store.has_blob(desc.digest):
                _fetch(store, session, src, desc, progress)
            progress.advance(items=1)
    finally:
        if pooled is None:
            session.close()
    store.put_blob(manifest.raw)


class _Spool:
    """Hands the received bytes, in batches, to a thread that hashes and writes them into ``blob``."""

    def __init__(self, blob: BlobWriter, progress: Progress) -> None:
        self.blob, self.progress = blob, progress
        self.error: BaseException | None = None
        self._batch: list[bytes] = []
        self._size = 0
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        self._thread = threading.Thread(target=self._drain, name="skillctl-blob-writer", daemon=True)
        self._thread.start()

    def put(self, chunk: bytes) -> None:
        if self.error is not None:
            raise self.error
        self._batch.append(chunk)
        self._size += len(chunk)
        self.progress.advance(size=len(chunk))
        if self._size >= BATCH:
            self._hand_over()

    def _hand_over(self) -> None:
        if self._batch:
            self._queue.put(b"".join(self._batch))
            self._batch, self._size = [], 0

    def _drain(self) -> None:
        unsynced = 0
        while (data := self._queue.get()) is not None:
            if self.error is None:  # after a failure, only drain: the receiving side stops at its next put
                try:
                    self.blob.write(data)
                    unsynced += len(data)
                    if unsynced >= SYNC_EVERY:
                        self.blob.sync()
                        unsynced = 0
                except BaseException as exc:  # re-raised in the receiving thread
                    self.error = exc

    def close(self, *, raising: bool = True) -> None:
        """Write what is left and wait for the thread; raise what failed there (unless not ``raising``)."""
        try:
            if raising:
                self._hand_over()
        finally:
            self._queue.put(None)
            self._thread.join()
        if raising and self.error is not None:
            raise self.error


def _fetch(store: Store, session: RegistrySession, src: Reference, desc: oci.Descriptor, progress: Progress) -> None:
    with store.new_blob() as blob:
        spool = _Spool(blob, progress)
        try:
            session.blob(src.path, desc.digest, spool.put, max_size=desc.size)
        except BaseException:
            spool.close(raising=False)  # the receiving side's error is the one to report
            raise
        spool.close()
        where = f"{src.repository}@{desc.digest}"
        hint = "the registry's storage may be damaged; nothing of the blob was kept"
        if blob.size != desc.size:
            raise IntegrityError(
                f"{where}: the registry sent {blob.size} bytes; the manifest declares {desc.size}", hint=hint
            )
        if blob.digest != desc.digest:
            raise IntegrityError(
                f"{where}: the blob the registry sent did not match its digest (it is {blob.digest})", hint=hint
            )
        blob.commit()
