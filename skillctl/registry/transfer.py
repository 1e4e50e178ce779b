"""Moving images between the local store and registries, through a backend.

Push exports a one-image OCI layout (hard links into the store), hands it to
the backend, then reads the remote manifest back: a byte-exact backend must
have stored our digest; any other must have stored the same config and
annotations, and the changed digest is reported and recorded. Pull writes the
backend's layout into the store only after every blob is verified.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from skillctl.backends.base import Capability, RegistryOptions, write_layout
from skillctl.core import oci
from skillctl.core.errors import ConflictError, IntegrityError, NotFoundError, SkillctlError, StoreError, UsageError
from skillctl.core.fsutil import fsync_dir
from skillctl.core.logs import get_logger
from skillctl.core.progress import SILENT, Progress, running
from skillctl.core.refs import Reference, parse_reference
from skillctl.core.states import canonical_tag, check_state
from skillctl.image.unpack import UnpackLimits, UnpackResult, unpack_manifest, verify_blob
from skillctl.registry.client import FINAL, NoPlatformImage, kept_connections, proxied, read_image, read_manifest
from skillctl.registry.download import NAME as DIRECT
from skillctl.registry.download import download_image
from skillctl.registry.registries_conf import what_applies
from skillctl.registry.remote import explain_missing, later_state
from skillctl.registry.selection import Selection, capable, select
from skillctl.store.layout import IndexEntry, Store

log = get_logger(__name__)


@contextlib.contextmanager
def exported_layout(store: Store, manifest: oci.Manifest) -> Iterator[Path]:
    """A temporary one-image OCI layout of ``manifest`` (blobs hard-linked from the store).

    Held as a writer the whole time, so a concurrent ``prune`` neither removes it nor the blobs.
    """
    with store.writing():
        tmp = Path(tempfile.mkdtemp(prefix="export-", dir=store.tmp_dir))
        try:
            yield _fill_layout(store, manifest, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _fill_layout(store: Store, manifest: oci.Manifest, tmp: Path) -> Path:
    blobs = {d.digest: store.blob_path(d.digest) for d in (manifest.config, *manifest.layers)}
    return write_layout(tmp, manifest.raw, blobs)


def _fsync_path(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _move_blob(store: Store, src: Path, digest: str, *, synced: bool = False) -> bool:
    """Move a verified blob file from a private temporary layout into the store; False if it cannot be moved.

    The same end state as copying it through ``store.new_blob()`` (same bytes, path and
    mode; file and directory fsynced before and after the rename), without reading and
    writing it a second time. Only a regular file with a single link is moved: a
    symlink, or a file shared with a tool's cache, is left to the caller to copy.
    """
    try:
        fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            return False
        if not synced:
            os.fsync(fd)
    finally:
        os.close(fd)
    target = store.blob_path(digest)
    try:
        os.chmod(src, 0o644)
        os.replace(src, target)  # fails across file systems; the caller then copies
    except OSError:
        return False
    fsync_dir(target.parent)
    return True


def layout_manifest(layout: Path) -> oci.Manifest:
    """The one manifest of a one-image layout a backend wrote, checked against its digest."""
    try:
        index = json.loads((layout / "index.json").read_bytes())
        entries = index.get("manifests") or []
    except (OSError, ValueError) as exc:
        raise IntegrityError(f"the backend wrote no readable OCI layout ({exc})") from None
    if len(entries) != 1:
        raise IntegrityError(f"the backend wrote {len(entries)} images into the layout, expected 1")
    digest = entries[0]["digest"]
    try:
        raw = (layout / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes()
    except OSError as exc:
        raise IntegrityError(f"the backend's layout lacks its manifest ({exc})") from None
    return oci.Manifest.parse(raw, digest=digest, source="pulled manifest")


def import_layout(store: Store, layout: Path, ref_name: str | None, *, move_blobs: bool = False) -> oci.Manifest:
    """Copy a one-image layout into the store, verifying every blob; tag it ``ref_name``.

    With ``move_blobs`` (for a temporary layout that is deleted afterwards) each verified
    blob file is moved into the store instead of copied, where the file system allows it.
    """
    manifest = layout_manifest(layout)
    raw = manifest.raw
    src_blobs = layout / "blobs" / "sha256"
    blobs = [(desc, src_blobs / desc.digest.split(":", 1)[1]) for desc in (manifest.config, *manifest.layers)]
    with store.writing(), ThreadPoolExecutor(max_workers=1) as pool:
        # Flush the files to disk while they are being hashed: both only read them.
        flushed = pool.submit(lambda: [_fsync_path(src) for _, src in blobs]) if move_blobs else None
        for desc, src in blobs:
            verify_blob(src, desc.digest, desc.size)
        if flushed is not None:
            flushed.result()
        for desc, src in blobs:
            if not store.has_blob(desc.digest) and not (
                move_blobs and _move_blob(store, src, desc.digest, synced=True)
            ):
                with store.new_blob() as blob, src.open("rb") as fh:
                    shutil.copyfileobj(fh, blob, 1024 * 1024)
                    blob.commit()
        store.put_blob(raw)
        if ref_name:
            store.set_tag(ref_name, manifest.descriptor, dict(manifest.annotations))
    return manifest


@dataclass
class PushResult:
    source: str
    dest: str
    local_digest: str
    digest: str
    backend: str
    reason: str
    notes: list[str] = field(default_factory=list)

    @property
    def digest_changed(self) -> bool:
        return self.digest != self.local_digest


def resolve_push_source(store: Store, ref: Reference) -> IndexEntry:
    """The local image to push to ``ref``: the same reference, else the one image with the same name and tag."""
    with contextlib.suppress(NotFoundError):
        return store.resolve(ref)
    wanted_tag = ref.tag_or_default
    candidates = sorted(
        (
            e
            for name, e in store.tagged().items()
            if name.rsplit(":", 1)[-1] == wanted_tag and name.rsplit(":", 1)[0].rsplit("/", 1)[-1] == ref.name
        ),
        key=lambda e: e.ref_name or "",
    )
    if len({e.digest for e in candidates}) == 1:
        # The same image under several names (a pushed copy is recorded too): prefer a name without a registry.
        return sorted(candidates, key=lambda e: parse_reference(e.ref_name or "").is_remote)[0]
    if not candidates:
        raise NotFoundError(
            f"{ref}: no local image with this reference or the name {ref.name}:{wanted_tag}",
            hint="pack the skill first, or name the local image: skillctl push LOCAL_REF " + str(ref),
        )
    names = ", ".join(e.ref_name or e.digest for e in candidates)
    raise ConflictError(
        f"{ref}: several local images are named {ref.name}:{wanted_tag}: {names}",
        hint=f"name the one to push: skillctl push LOCAL_REF {ref}",
    )


def _same_content(local: oci.Manifest, remote: oci.Manifest) -> list[str]:
    problems = []
    if remote.config.digest != local.config.digest:
        problems.append(f"config {remote.config.digest} instead of {local.config.digest}")
    if remote.annotations != local.annotations:
        problems.append("different annotations")
    if len(remote.layers) != len(local.layers):
        problems.append(f"{len(remote.layers)} layers instead of {len(local.layers)}")
    if remote.media_type != local.media_type:
        problems.append(f"manifest type {remote.media_type}")
    return problems


def push(
    ref: str,
    dest: str | None = None,
    *,
    store: Store | None = None,
    backend: str | None = None,
    opts: RegistryOptions | None = None,
    progress: Progress = SILENT,
) -> PushResult:
    """Push a local image to a registry and verify what the registry holds afterwards.

    Raises:
        NotFoundError / ConflictError: no (or more than one) matching local image.
        IntegrityError: the registry holds different content than was pushed.
    """
    store = store or Store()
    opts = (opts or RegistryOptions()).started()
    src_ref = parse_reference(ref)
    dest_ref = parse_reference(dest) if dest else src_ref
    if not dest_ref.is_remote:
        raise UsageError(
            f"{dest_ref}: not a registry reference (it needs a registry host such as quay.io/ or localhost:5000/)",
            hint=f"name the destination: skillctl push {src_ref} REGISTRY/NAMESPACE/{dest_ref.name}:"
            f"{dest_ref.tag_or_default}",
        )
    if dest_ref.digest:
        raise UsageError(f"{dest_ref}: push to a tag, not a digest")
    entry = resolve_push_source(store, src_ref)
    local = store.manifest(entry.digest)
    notes = []
    if dest is None and entry.ref_name and entry.ref_name != dest_ref.store_name:
        notes.append(f"pushing local {entry.ref_name}")
    chosen = capable(select(backend, env=opts.env), Capability.PUSH, operation="push")
    # Known before anything is written: a push that cannot be read back is not attempted.
    reader = capable(chosen, Capability.MANIFEST, operation="read manifests back")
    blobs = (local.config, *local.layers)
    size = sum(b.size for b in blobs)
    with running(progress, f"Pushing {dest_ref}", items=len(blobs), unit="blobs", size=size):
        with exported_layout(store, local) as layout:
            reported = chosen.backend.push(layout, dest_ref, opts)
        progress.advance(items=len(blobs), size=size)
    how: list[str] = []
    raw = read_manifest(dest_ref, reader.backend, opts, how=how)
    if reader.backend is not chosen.backend:
        notes.append(f"read back {how[0]}")
    remote = oci.Manifest.parse(raw, source=f"{dest_ref} in the registry")
    if reported and reported != remote.digest:
        raise IntegrityError(f"{dest_ref}: the registry holds {remote.digest}, but {chosen.name} reported {reported}")
    if remote.digest != local.digest:
        problems = _same_content(local, remote)
        if Capability.EXACT in chosen.backend.capabilities or problems:
            raise IntegrityError(
                f"{dest_ref}: the registry holds different content than was pushed ({'; '.join(problems) or 'digest'})"
            )
        notes.append(
            f"{chosen.name} re-compressed the layer: the registry's digest is {remote.digest}, not {local.digest} "
            "(same config and annotations)"
        )
        # Keep the store's record of the remote reference true to what the registry holds.
        pull(str(dest_ref), store=store, backend=reader.name, opts=opts, allow_archived=True)
    else:
        with store.writing():
            store.set_tag(dest_ref.store_name, local.descriptor, dict(local.annotations))
    return PushResult(
        entry.ref_name or str(src_ref), str(dest_ref), local.digest, remote.digest, chosen.name, chosen.reason, notes
    )


Verifier = Callable[[str, str], str]
"""Checks a registry image (reference, manifest digest) before anything is stored: returns what verified it
(a key, an identity), raises an IntegrityError otherwise. The trust package makes them."""


@dataclass
class PullResult:
    ref: str
    digest: str
    remote_digest: str
    backend: str
    reason: str
    unpacked: UnpackResult | None = None
    notes: list[str] = field(default_factory=list)
    verified_by: str | None = None


DOWNLOAD_SLACK: Final = 1024 * 1024


def download_cap(manifest: oci.Manifest, limits: UnpackLimits | None, *, exact: bool) -> int:
    """The most a backend may write to one file while downloading ``manifest``: its largest declared blob.

    A backend that keeps layers unpacked in its own storage (podman, buildah) writes the skill's files
    there, so for it the unpack cap applies as well.
    """
    declared = max([manifest.config.size, *(layer.size for layer in manifest.layers), 0])
    cap = declared + DOWNLOAD_SLACK
    return cap if exact else max(cap, (limits or UnpackLimits()).max_bytes + DOWNLOAD_SLACK)


def pull(
    ref: str,
    *,
    output: str | Path | None = None,
    store: Store | None = None,
    backend: str | None = None,
    opts: RegistryOptions | None = None,
    limits: UnpackLimits | None = None,
    allow_archived: bool = False,
    verify: Verifier | None = None,
    progress: Progress = SILENT,
) -> PullResult:
    """Pull a registry reference into the store (under the full reference) and optionally unpack it.

    Raises:
        UsageError: ``ref`` has no registry host.
        IntegrityError: what arrived does not match the registry's manifest.
    """
    store = store or Store()
    opts = (opts or RegistryOptions()).started()
    src = parse_reference(ref)
    if not src.is_remote:
        raise UsageError(
            f"{ref} looks like a local reference, not a registry one",
            hint=f"unpack a local image with 'skillctl pull' from its registry, or use 'skillctl inspect {ref}'",
        )
    chosen = capable(select(backend, env=opts.env), Capability.PULL, operation="pull")
    with kept_connections(opts):
        return _pull(
            src, chosen, output=output, store=store, backend=backend, opts=opts, limits=limits,
            allow_archived=allow_archived, verify=verify, progress=progress,
        )  # fmt: skip


def _pull(
    src: Reference,
    chosen: Selection,
    *,
    output: str | Path | None,
    store: Store,
    backend: str | None,
    opts: RegistryOptions,
    limits: UnpackLimits | None,
    allow_archived: bool,
    verify: Verifier | None,
    progress: Progress,
) -> PullResult:
    notes: list[str] = []
    # The registry's manifest first, for every backend: the download is pinned to its digest (an index
    # resolves to its linux/amd64 image, the same for every backend), and its sizes bound what the
    # backend may write to the disk.
    reader = capable(chosen, Capability.MANIFEST, operation="read manifests")
    try:
        remote = oci.Manifest.parse(read_image(src, reader.backend, opts), source=f"{src}")
    except NotFoundError as exc:
        if src.digest or isinstance(exc, NoPlatformImage):
            raise
        raise explain_missing(src, backend=backend, opts=opts) from None
    # Archived or badly signed images are refused before anything is downloaded.
    later = None
    if not canonical_tag(src.tag, remote):  # a -draft/-testing tag or a digest: the version may have moved on
        later = later_state(src.repository, remote, reader.backend, opts)
    check_state(str(src), remote, allow_archived=allow_archived, warnings=notes, later=later)
    verified_by = verify(str(src), remote.digest) if verify is not None else None
    store.init()
    pulled = None
    direct = _direct_pull(src, chosen, opts)
    if direct is not None:
        try:
            pulled = (_pull_over_api(src, remote, store, opts, progress), DIRECT, direct)
        except (*FINAL, StoreError):
            raise  # the registry's answer, or the disk: the backend would meet the same
        except (SkillctlError, OSError, ValueError) as exc:
            log.info("pulling %s over the registry API failed (%s); using %s", src, exc, chosen.name)
    if pulled is None:
        exact = Capability.EXACT in chosen.backend.capabilities
        download = dataclasses.replace(opts, max_file_bytes=download_cap(remote, limits, exact=exact))
        pulled = (_pull_with(chosen, src, remote, store, download, notes, progress), chosen.name, chosen.reason)
    manifest, used, reason = pulled
    unpacked = None
    if output is not None:
        unpacked = unpack_manifest(store, manifest, Path(output) / src.name, limits=limits)
    return PullResult(
        str(src),
        manifest.digest,
        remote.digest,
        used,
        reason,
        unpacked,
        notes,
        verified_by,
    )


def _direct_pull(src: Reference, chosen: Selection, opts: RegistryOptions) -> str | None:
    """Why ``src`` may be pulled over the registry API (shown with -v), or None when the backend must pull it:
    the user named a backend, a proxy applies, or registries.conf says something about the registry that only
    the tools apply."""
    if chosen.named:
        return None
    assert src.registry is not None
    if proxied(src.registry):
        log.info("pulling %s with %s: a proxy from the environment applies to %s", src, chosen.name, src.registry)
        return None
    applies = what_applies(src.registry, opts.environ())
    if applies is not None:
        log.info("pulling %s with %s: %s", src, chosen.name, applies)
        return None
    return f"{DIRECT}: no backend named and no registries.conf entry for {src.registry}"


def _pull_over_api(
    src: Reference, remote: oci.Manifest, store: Store, opts: RegistryOptions, progress: Progress
) -> oci.Manifest:
    """Fetch ``remote``'s blobs over the registry API straight into the store, and tag it."""
    blobs = (remote.config, *remote.layers)
    moving = running(progress, f"Pulling {src}", items=len(blobs), unit="blobs", size=sum(b.size for b in blobs))
    # As a writer from the download to the tag: a concurrent prune removes neither the download nor its blobs.
    with moving, store.writing():
        download_image(store, src, remote, opts, progress)
        store.set_tag(src.store_name, remote.descriptor, dict(remote.annotations))
    return remote


def _pull_with(
    chosen: Selection,
    src: Reference,
    remote: oci.Manifest,
    store: Store,
    download: RegistryOptions,
    notes: list[str],
    progress: Progress,
) -> oci.Manifest:
    """Pull ``remote`` with the backend into a temporary layout, then verify and move it into the store."""
    exact = Capability.EXACT in chosen.backend.capabilities
    blobs = (remote.config, *remote.layers)
    moving = running(progress, f"Pulling {src}", items=len(blobs), unit="blobs", size=sum(b.size for b in blobs))
    # As a writer from the download to the tag: a concurrent prune removes neither the download nor its blobs.
    with moving, store.writing(), tempfile.TemporaryDirectory(prefix="pull-", dir=store.tmp_dir) as tmp:
        layout = Path(tmp) / "layout"
        progress.watch(layout)  # the tool writes the blobs there: its bytes are what is moving
        try:
            chosen.backend.pull(src.with_digest(remote.digest), layout, download)
        except NotFoundError:
            if src.digest:
                raise
            raise IntegrityError(
                f"{src}: the registry serves {remote.digest} for this tag but not by that digest "
                "(its storage was changed or damaged, or the tag moved just now)",
            ) from None
        progress.watch(None)
        progress.advance(items=len(blobs))
        arrived = layout_manifest(layout)
        if exact and arrived.digest != remote.digest:
            raise IntegrityError(f"{src}: the registry sent {arrived.digest}, not {remote.digest}")
        manifest = import_layout(store, layout, None, move_blobs=True)
        if manifest.digest != remote.digest:
            problems = _same_content(remote, manifest)
            if exact or problems:
                raise IntegrityError(f"{src}: pulled content differs from the registry's ({'; '.join(problems)})")
            notes.append(
                f"{chosen.name} re-compressed the layer: local digest {manifest.digest}, registry {remote.digest}"
            )
        store.set_tag(src.store_name, manifest.descriptor, dict(manifest.annotations))
    return manifest
