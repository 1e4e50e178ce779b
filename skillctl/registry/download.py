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

import functools
from collections.abc import Iterator
from typing import Final

from skillctl.core import oci
from skillctl.core.errors import IntegrityError
from skillctl.core.handoff import Handoff
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


def _write_synced(blob: BlobWriter, pieces: Iterator[bytes]) -> None:
    """The writing thread: hash and write each piece, and sync as it goes (a failure is a StoreError, which the
    receiving side raises: the disk, not the registry, and no reason to try the backend)."""
    unsynced = 0
    for piece in pieces:
        blob.write(piece)
        unsynced += len(piece)
        if unsynced >= SYNC_EVERY:
            blob.sync()
            unsynced = 0


def _fetch(store: Store, session: RegistrySession, src: Reference, desc: oci.Descriptor, progress: Progress) -> None:
    with store.new_blob() as blob:
        writer: Handoff[bytes] = Handoff(functools.partial(_write_synced, blob), name="skillctl-blob-writer", depth=8)
        batch: list[bytes] = []
        batched = 0

        def receive(chunk: bytes) -> None:
            nonlocal batch, batched
            batch.append(chunk)
            batched += len(chunk)
            progress.advance(size=len(chunk))
            if batched >= BATCH:
                writer.put(b"".join(batch))
                batch, batched = [], 0

        try:
            session.blob(src.path, desc.digest, receive, max_size=desc.size)
            writer.put(b"".join(batch))
        except BaseException:
            writer.close(abandon=True)  # the receiving side's error is the one to report; the blob is discarded
            raise
        writer.close()
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
