"""Local-store operations: list, inspect, tag, remove, prune."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from skillctl.core import oci
from skillctl.core.errors import IntegrityError, NotFoundError, UsageError
from skillctl.core.refs import is_attachment_tag, is_digest, parse_reference
from skillctl.core.states import RANK
from skillctl.store.layout import IndexEntry, Store


@dataclass(frozen=True)
class ImageSummary:
    """One tag of the local store, as ``list`` shows it."""

    ref: str
    name: str
    tag: str
    digest: str
    status: str
    version: str
    size: int
    created: str
    signed: bool = False  # the store holds a cosign signature (``sha256-<digest>.sig``) of it in its repository

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _split_ref_name(ref_name: str) -> tuple[str, str]:
    if "@" in ref_name:  # pulled by digest: a name and no tag
        return ref_name.split("@", 1)[0], ""
    name, sep, tag = ref_name.rpartition(":")
    if not sep or "/" in tag:
        return ref_name, ""
    return name, tag


def _summary(
    store: Store, entry: IndexEntry, cache: dict[str, oci.Manifest | None], signatures: set[tuple[str, str]]
) -> ImageSummary | None:
    if entry.digest not in cache:
        try:
            cache[entry.digest] = store.manifest(entry.digest)
        except (NotFoundError, IntegrityError):
            cache[entry.digest] = None
    manifest = cache[entry.digest]
    annotations = manifest.annotations if manifest else entry.annotations
    name, tag = _split_ref_name(entry.ref_name) if entry.ref_name else (entry.annotations.get(oci.REPOSITORY, ""), "")
    return ImageSummary(
        ref=entry.ref_name or entry.digest,
        name=name,
        tag=tag,
        digest=entry.digest,
        status=annotations.get(oci.STATUS, ""),
        version=annotations.get(oci.VERSION, ""),
        size=sum(layer.size for layer in manifest.layers) if manifest else 0,
        created=annotations.get(oci.CREATED) or entry.annotations.get(oci.PACKED_AT, ""),
        signed=(name, entry.digest.replace(":", "-") + ".sig") in signatures,
    )


def list_images(store: Store | None = None, *, include_untagged: bool = False) -> list[ImageSummary]:
    """Every tag in the store, sorted by reference (untagged digest-only entries on request)."""
    store = store or Store()
    cache: dict[str, oci.Manifest | None] = {}
    entries = store.entries()
    # Signatures are attachments, not images: hidden, and shown as the SIGNED state of what they sign.
    signatures = {
        (name, tag)
        for name, tag in (_split_ref_name(e.ref_name) for e in entries if e.ref_name)
        if is_attachment_tag(tag)
    }
    rows = [
        summary
        for entry in entries
        if (entry.ref_name or include_untagged)
        and not (entry.ref_name and is_attachment_tag(_split_ref_name(entry.ref_name)[1]))
        and (summary := _summary(store, entry, cache, signatures)) is not None
    ]
    return sorted(rows, key=lambda r: (r.ref.startswith("sha256:"), r.ref))


@dataclass
class ImageDetails:
    """Everything ``inspect`` shows about one image."""

    ref: str
    manifest: oci.Manifest
    config: dict[str, Any]
    local: bool = True
    store_annotations: dict[str, str] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        return self.manifest.digest

    @property
    def annotations(self) -> dict[str, str]:
        return self.manifest.annotations

    @property
    def size(self) -> int:
        return sum(layer.size for layer in self.manifest.layers)

    def to_json(self) -> dict[str, Any]:
        a = self.annotations
        return {
            "ref": self.ref,
            "digest": self.digest,
            "mediaType": self.manifest.media_type,
            "source": "local" if self.local else "remote",
            "skill": {
                "name": _split_ref_name(self.ref)[0].rsplit("/", 1)[-1],
                "title": a.get(oci.TITLE, ""),
                "version": a.get(oci.VERSION, ""),
                "status": a.get(oci.STATUS, ""),
                "description": a.get(oci.DESCRIPTION, ""),
                "vendor": a.get(oci.VENDOR, ""),
            },
            "config": {
                **self.manifest.config.to_json(),
                "architecture": self.config.get("architecture", ""),
                "os": self.config.get("os", ""),
            },
            "layers": [layer.to_json() for layer in self.manifest.layers],
            "size": self.size,
            "annotations": dict(self.annotations),
            "packedAt": self.store_annotations.get(oci.PACKED_AT, ""),
        }


def inspect_image(ref: str, *, store: Store | None = None) -> ImageDetails:
    """Manifest, config and annotations of a local image (tag or digest).

    Raises:
        NotFoundError: the reference is not in the store.
    """
    import json

    store = store or Store()
    entry = store.resolve(ref)
    manifest = store.manifest(entry.digest)
    store.check_complete(manifest, what=entry.ref_name or ref)
    try:
        config = json.loads(store.read_blob(manifest.config.digest))
    except ValueError:
        config = None
    if not isinstance(config, dict):
        raise IntegrityError(f"{entry.ref_name or ref}: the image config is not a JSON object")
    return ImageDetails(
        ref=entry.ref_name or ref, manifest=manifest, config=config, store_annotations=entry.annotations
    )


def tag_image(source: str, target: str, *, store: Store | None = None) -> tuple[str, str]:
    """Give a local image another name; returns (target reference, digest)."""
    store = store or Store()
    entry = store.resolve(source)
    store.check_complete(store.manifest(entry.digest), what=entry.ref_name or source)
    dest = parse_reference(target, what="target reference")
    if dest.digest:
        raise UsageError(f"{target}: a tag target cannot be a digest", hint="give a name and tag, e.g. ns/name:1.0.0")
    annotations = {k: v for k, v in entry.annotations.items() if k != oci.REF_NAME}
    with store.writing():
        store.set_tag(dest.store_name, entry.descriptor, annotations)
    return dest.store_name, entry.digest


@dataclass
class RemoveResult:
    removed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def _matches(entry: IndexEntry, wanted: str) -> bool:
    if is_digest(wanted):
        return entry.digest == wanted
    ref = parse_reference(wanted)
    if ref.digest:
        return entry.digest == ref.digest and (entry.ref_name or "").startswith(ref.repository + ":")
    return entry.ref_name == ref.store_name


def remove_images(refs: list[str], *, store: Store | None = None) -> RemoveResult:
    """Untag references (a digest removes every tag on it). Blobs go at the next prune."""
    store = store or Store()
    result = RemoveResult()
    for ref in refs:
        parse_reference(ref) if not is_digest(ref) else None  # reject malformed input before touching the index

    def mutate(entries: list[IndexEntry]) -> list[IndexEntry]:
        keep = entries
        for ref in refs:
            gone = [e for e in keep if _matches(e, ref)]
            if not gone:
                result.missing.append(ref)
            result.removed.extend(e.ref_name or e.digest for e in gone)
            keep = [e for e in keep if e not in gone]
        return keep

    if store.exists():
        store.update_index(mutate)
    else:
        result.missing.extend(refs)
    return result


@dataclass
class PruneResult:
    untagged: list[tuple[str, str]] = field(default_factory=list)
    dropped: int = 0
    blobs_removed: int = 0
    bytes_freed: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "untagged": [{"ref": r, "status": s} for r, s in self.untagged],
            "droppedUntaggedManifests": self.dropped,
            "blobsRemoved": self.blobs_removed,
            "bytesFreed": self.bytes_freed,
        }


def _superseded(store: Store, entries: list[IndexEntry]) -> list[tuple[IndexEntry, str]]:
    groups: dict[tuple[str, str], list[tuple[IndexEntry, str, int]]] = defaultdict(list)
    for entry in entries:
        # An archived version is kept untagged; it still supersedes that version's older lifecycle tags.
        name = _split_ref_name(entry.ref_name)[0] if entry.ref_name else entry.annotations.get(oci.REPOSITORY)
        if not name:
            continue
        try:
            annotations = store.manifest(entry.digest).annotations
        except (NotFoundError, IntegrityError):
            continue
        status, version = annotations.get(oci.STATUS, ""), annotations.get(oci.VERSION, "")
        if status in RANK and version and (entry.ref_name or status == "archived"):
            groups[(name, version)].append((entry, status, RANK[status]))
    out = []
    for members in groups.values():
        top = max(rank for _, _, rank in members)
        out.extend((entry, status) for entry, status, rank in members if rank < top and entry.ref_name)
    return out


def prune(*, store: Store | None = None, dry_run: bool = False) -> PruneResult:
    """Drop superseded lifecycle tags (as the Go tool does), then delete unreferenced blobs.

    For each (name, version) only the tags of the most advanced state are kept;
    untagged manifests are dropped unless archived (kept by digest on purpose).
    """
    store = store or Store()
    result = PruneResult()
    if not store.exists():
        return result

    def mutate(entries: list[IndexEntry]) -> list[IndexEntry] | None:
        superseded = _superseded(store, entries)
        result.untagged = sorted((e.ref_name or "", status) for e, status in superseded)
        drop = {id(e) for e, _ in superseded}
        keep = []
        for entry in entries:
            if id(entry) in drop:
                continue
            if entry.ref_name is None and not _is_archived(store, entry):
                result.dropped += 1
                continue
            keep.append(entry)
        if dry_run:
            garbage = store.unreferenced_blobs(keep)
            result.blobs_removed, result.bytes_freed = len(garbage), sum(p.stat().st_size for p in garbage)
            return None
        return keep

    store.update_index(mutate)
    if not dry_run:
        gc = store.gc()
        result.blobs_removed, result.bytes_freed = gc.blobs_removed, gc.bytes_freed
    return result


def _is_archived(store: Store, entry: IndexEntry) -> bool:
    try:
        return store.manifest(entry.digest).annotations.get(oci.STATUS) == "archived"
    except (NotFoundError, IntegrityError):
        return False
