"""Air gaps: mirror registry to registry, and save/load bundles that carry skills across.

``mirror`` copies every tag of each repository (lifecycle tags and cosign
signature tags alike), by digest, skipping what the destination already holds,
in parallel; with ``archived`` it also copies the digest-only manifests that
signatures reveal. ``save`` writes one OCI archive (an image layout in a tar,
references as the store writes them); ``load`` restores it into the store, or
pushes it to a registry under the same repository paths.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import tarfile
import tempfile
import threading
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from skillctl.backends.base import Capability, RegistryOptions, write_layout
from skillctl.core import oci
from skillctl.core.errors import (
    DeadlineExceeded,
    IntegrityError,
    NotFoundError,
    SkillctlError,
    UnsafeContentError,
    UsageError,
)
from skillctl.core.fsutil import open_regular
from skillctl.core.parallel import map_all
from skillctl.core.refs import Reference, is_attachment_tag, parse_reference
from skillctl.registry.client import read_manifest
from skillctl.registry.remote import usable_tags
from skillctl.registry.selection import Selection, capable, select
from skillctl.store.layout import Store

log = logging.getLogger(__name__)

MAX_BUNDLE_ENTRY: Final = 2 * 1024 * 1024 * 1024
_SHA256: Final = re.compile(r"sha256:[0-9a-f]{64}")


def rebase(ref: Reference, destination: str) -> Reference:
    """``quay.io/org/x:1.0.0`` under ``mirror:5000`` is ``mirror:5000/org/x:1.0.0`` (a path prefix is kept)."""
    base = destination.rstrip("/")
    probe = parse_reference(base + "/x")
    if not probe.is_remote:
        raise UsageError(f"{destination}: not a registry (host[:port][/path])")
    return Reference(f"{base}/{ref.path}", ref.tag, ref.digest)


@dataclass
class Copied:
    source: str
    dest: str
    digest: str
    action: str  # copied, skipped, failed
    detail: str = ""

    def to_json(self) -> dict[str, str]:
        return dict(self.__dict__)


@dataclass
class MirrorResult:
    items: list[Copied] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for i in self.items if i.action == action)


def _blobs_of(raw: bytes) -> frozenset[str]:
    """The digests a manifest (or index) refers to."""
    try:
        data = json.loads(raw)
        refs = [data.get("config") or {}, *(data.get("layers") or []), *(data.get("manifests") or [])]
        return frozenset(d["digest"] for d in refs if isinstance(d, dict) and isinstance(d.get("digest"), str))
    except (ValueError, AttributeError, TypeError):
        return frozenset()


def _tags_with_digests(
    reader: Selection,
    lister: Selection,
    repo: str,
    opts: RegistryOptions,
    workers: int,
    blobs: dict[str, frozenset[str]] | None = None,
) -> dict[str, str]:
    """Each tag's manifest digest; ``blobs`` (when given) collects what each digest refers to."""
    try:
        tags = usable_tags(repo, lister.backend.list_tags(Reference(repo), opts))
    except NotFoundError:
        return {}

    def digest(tag: str) -> str | None:
        try:
            raw = read_manifest(Reference(repo, tag), reader.backend, opts)
        except NotFoundError:
            return None
        found = oci.sha256_digest(raw)
        if blobs is not None:
            blobs[found] = _blobs_of(raw)
        return found

    found = dict(zip(tags, map_all(digest, tags, workers), strict=True))
    return {t: d for t, d in found.items() if d}


class _BlobLocks:
    """One lock per (destination repository, digest): copies sharing a blob run one after the other.

    CNCF distribution writes a repository's blob link files in place, so a copy that checks a blob while a
    parallel copy of another tag links the same blob can read a half-written link and fail with HTTP 500
    ("invalid checksum digest format"). Lifecycle tags of one version share their config and layer, so
    parallel mirroring of one repository hits this. Locks are taken in sorted order: no deadlock.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[tuple[str, str], threading.Lock] = {}

    @contextlib.contextmanager
    def held(self, repository: str, digests: Iterable[str]) -> Iterator[None]:
        with self._guard:
            locks = [self._locks.setdefault((repository, d), threading.Lock()) for d in sorted(set(digests))]
        with contextlib.ExitStack() as stack:
            for lock in locks:
                stack.enter_context(lock)
            yield


def expand_sources(sources: Iterable[str], opts: RegistryOptions) -> list[str]:
    """Repositories to mirror: ``HOST/ns/*`` (or ``HOST/ns/``) stands for every repository under ``ns``."""
    from skillctl.registry.client import list_repositories

    repos: list[str] = []
    for text in sources:
        if not text.endswith(("/*", "/")):
            repos.append(text)
            continue
        host, _, prefix = text.rstrip("*").rstrip("/").partition("/")
        if not parse_reference(host + "/x").is_remote:
            raise UsageError(f"{text}: a namespace needs a registry host (HOST/ns/*)")
        found = []
        for repo in list_repositories(host, opts, prefix=prefix):
            try:
                found.append(str(parse_reference(f"{host}/{repo}", what="repository")))
            except UsageError:
                log.warning("%s: skipping the catalog entry %r, which is not a repository name", host, repo)
        if not found:
            raise NotFoundError(f"{text}: the registry lists no repositories there")
        repos.extend(found)
    return list(dict.fromkeys(repos))


def mirror(
    sources: Iterable[str],
    destination: str,
    *,
    archived: bool = False,
    backend: str | None = None,
    opts: RegistryOptions | None = None,
    workers: int = 4,
) -> MirrorResult:
    """Copy each source repository (``reg/ns/name``) to ``destination``, keeping digests."""
    opts = (opts or RegistryOptions()).started()
    chosen = select(backend, env=opts.env)
    copier = capable(chosen, Capability.COPY, operation="copy between registries keeping digests")
    reader = capable(chosen, Capability.MANIFEST, operation="read manifests")
    lister = capable(chosen, Capability.TAGS, operation="list tags")
    jobs: list[tuple[Reference, Reference, str]] = []
    blobs: dict[str, frozenset[str]] = {}
    for text in expand_sources(sources, opts):
        src_repo = parse_reference(text)
        if src_repo.tag or src_repo.digest:
            raise UsageError(
                f"{text}: mirror copies whole repositories; name one without a tag",
                hint=f"skillctl mirror {src_repo.repository} DST",
            )
        if not src_repo.is_remote:
            raise UsageError(f"{text}: not a registry repository")
        dst_repo = rebase(Reference(src_repo.repository), destination)
        src_tags = _tags_with_digests(reader, lister, src_repo.repository, opts, workers, blobs)
        if not src_tags:
            raise NotFoundError(f"{src_repo.repository}: no tags to mirror")
        dst_tags = _tags_with_digests(reader, lister, dst_repo.repository, opts, workers)
        # Versions first, signatures after, so a reader never sees a signature for a missing manifest.
        for tag in sorted(src_tags, key=lambda t: (is_attachment_tag(t), t)):
            jobs.append(
                (
                    Reference(src_repo.repository, tag, src_tags[tag]),
                    Reference(dst_repo.repository, tag),
                    "skip" if dst_tags.get(tag) == src_tags[tag] else "copy",
                )
            )
        if archived:
            tagged = set(src_tags.values())
            for tag in src_tags:
                if is_attachment_tag(tag):
                    digest = tag.split(".", 1)[0].replace("-", ":", 1)
                    if digest not in tagged:
                        jobs.append(
                            (
                                Reference(src_repo.repository, None, digest),
                                Reference(dst_repo.repository, None, digest),
                                "copy-digest",
                            )
                        )

    locks = _BlobLocks()

    def run(job: tuple[Reference, Reference, str]) -> Copied:
        src, dst, kind = job
        digest = src.digest or ""
        if kind == "skip":
            return Copied(str(Reference(src.repository, src.tag)), str(dst), digest, "skipped", "already there")
        try:
            source = Reference(src.repository, None, src.digest)
            shared = blobs.get(digest)
            if kind == "copy-digest":
                # Archived manifests are found by digest only: skip one the destination already holds.
                with contextlib.suppress(NotFoundError):
                    if oci.sha256_digest(read_manifest(dst, reader.backend, opts)) == digest:
                        return Copied(str(source), str(dst), digest, "skipped", "already there")
                shared = _blobs_of(read_manifest(source, reader.backend, opts))
            with locks.held(dst.repository, {digest, *(shared or ())}):
                got = copier.backend.copy(source, dst, opts)
            if got and digest and got != digest:
                raise IntegrityError(f"{dst}: arrived as {got}, not {digest}")
            label = str(Reference(src.repository, src.tag)) if src.tag else str(source)
            return Copied(label, str(dst), digest, "copied")
        except DeadlineExceeded:
            raise  # the whole mirror is out of time, not this copy
        except SkillctlError as exc:
            return Copied(str(src), str(dst), digest, "failed", str(exc))

    result = MirrorResult()
    versions = [j for j in jobs if not (j[0].tag and is_attachment_tag(j[0].tag))]
    attachments = [j for j in jobs if j not in versions]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        result.items.extend(pool.map(run, versions))
        result.items.extend(pool.map(run, attachments))
    return result


# -- save / load -------------------------------------------------------------------------------


def _entries_for(
    ref: str, store: Store, *, all_tags: bool, signatures: bool, backend: str | None, opts: RegistryOptions
) -> list[str]:
    """Store reference names to save for one argument (pulling registry references first)."""
    from skillctl.registry.transfer import pull

    parsed = parse_reference(ref)
    names: list[str] = []
    if parsed.is_remote:
        chosen = select(backend, env=opts.env)
        tags = (
            [parsed.tag_or_default]
            if not all_tags
            else usable_tags(
                parsed.repository,
                capable(chosen, Capability.TAGS, operation="list tags").backend.list_tags(
                    Reference(parsed.repository), opts
                ),
            )
        )
        refs = [str(parsed)] if parsed.digest else [f"{parsed.repository}:{t}" for t in tags]
        for one in refs:
            if is_attachment_tag(one.rsplit(":", 1)[-1]):
                continue
            result = pull(one, store=store, backend=backend, opts=opts, allow_archived=True)
            names.append(parse_reference(one).store_name)
            if signatures:
                sig = Reference(parsed.repository, result.remote_digest.replace(":", "-") + ".sig")
                with contextlib.suppress(NotFoundError):
                    pull(str(sig), store=store, backend=backend, opts=opts, allow_archived=True)
                    names.append(sig.store_name)
        return names
    entry = store.resolve(parsed)
    return [entry.ref_name or str(parsed)]


def _tar_add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    import io

    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 0
    tar.addfile(info, io.BytesIO(data))


def save(
    refs: Iterable[str],
    output: str | Path,
    *,
    store: Store | None = None,
    all_tags: bool = False,
    signatures: bool = True,
    backend: str | None = None,
    opts: RegistryOptions | None = None,
) -> list[str]:
    """Write one OCI archive holding every image (and signature) named; returns the references saved."""
    store = store or Store()
    opts = (opts or RegistryOptions()).started()
    out = Path(output)
    if not str(output) or out.is_dir():
        raise UsageError(f"{str(output)!r}: -o names the bundle file to write, not a directory")
    if not out.parent.is_dir():
        raise NotFoundError(f"{out.parent}: no such directory for the bundle", hint="create it first, or choose -o")
    names: list[str] = []
    for ref in refs:
        names.extend(_entries_for(ref, store, all_tags=all_tags, signatures=signatures, backend=backend, opts=opts))
    names = list(dict.fromkeys(names))
    entries = []
    blobs: set[str] = set()
    for name in names:
        entry = store.resolve(name)
        manifest = store.manifest(entry.digest)
        store.check_complete(manifest, what=name)
        blobs.update(d.digest for d in (manifest.descriptor, manifest.config, *manifest.layers))
        entries.append({**entry.descriptor.to_json(), "annotations": {oci.REF_NAME: name}})
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
            _tar_add_bytes(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
            index = {"schemaVersion": 2, "mediaType": oci.INDEX_V1, "manifests": entries}
            _tar_add_bytes(tar, "index.json", json.dumps(index, separators=(",", ":")).encode())
            for digest in sorted(blobs):
                info = tar.gettarinfo(store.blob_path(digest), arcname=f"blobs/sha256/{digest[7:]}")
                info.mtime, info.uid, info.gid, info.uname, info.gname, info.mode = 0, 0, 0, "", "", 0o644
                with store.blob_path(digest).open("rb") as fh:
                    tar.addfile(info, fh)
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return names


@contextlib.contextmanager
def _opened_bundle(path: str | Path, store: Store) -> Iterator[Path]:
    """Extract a bundle into a temporary layout, accepting only layout files and verified blobs.

    The extraction lives in the store's temporary directory, held as a writer: what a killed load
    leaves there is removed by the next ``prune``.
    """
    from skillctl.image.unpack import verify_blob

    with store.writing(), tempfile.TemporaryDirectory(prefix="load-", dir=store.tmp_dir) as tmp:
        root = Path(tmp)
        (root / "blobs" / "sha256").mkdir(parents=True)
        try:
            with open_regular(path) as fh, tarfile.open(fileobj=fh, mode="r:*") as tar:
                for member in tar:
                    name = member.name.removeprefix("./")
                    allowed = name in ("oci-layout", "index.json") or (
                        name.startswith("blobs/sha256/") and _SHA256.fullmatch("sha256:" + name[13:]) is not None
                    )
                    if member.isdir() and name.rstrip("/") in ("", "blobs", "blobs/sha256"):
                        continue
                    if not allowed or not member.isreg():
                        raise UnsafeContentError(f"{path}: unexpected entry {member.name!r} in the bundle")
                    if member.size > MAX_BUNDLE_ENTRY:
                        raise UnsafeContentError(f"{path}: entry {member.name!r} is too large")
                    src = tar.extractfile(member)
                    assert src is not None
                    with (root / name).open("wb") as out:
                        shutil.copyfileobj(src, out, 1024 * 1024)
        except (tarfile.TarError, EOFError, zlib.error) as exc:
            raise UnsafeContentError(f"{path}: not a readable bundle ({exc})") from None
        except OSError as exc:
            if exc.errno is None or exc.filename is None:
                raise UnsafeContentError(f"{path}: not a readable bundle ({exc})") from None
            raise
        for blob in (root / "blobs" / "sha256").iterdir():
            verify_blob(blob, "sha256:" + blob.name)
        yield root


def _bundle_images(root: Path, bundle: str | Path) -> list[tuple[str, oci.Manifest]]:
    """The bundle's tagged images: each ``index.json`` entry's name parsed as a reference, each image complete.

    Raises:
        UnsafeContentError: index.json is missing or malformed, or an entry's name is not a reference
            (named by its position); nothing has been loaded then.
        IntegrityError: a manifest or blob the index names is missing.
    """
    try:
        index = json.loads((root / "index.json").read_bytes())
    except FileNotFoundError:
        raise UnsafeContentError(f"{bundle}: no index.json; not a bundle written by 'skillctl save'") from None
    except ValueError:
        raise UnsafeContentError(f"{bundle}: index.json is not JSON") from None
    entries = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(entries, list):
        raise UnsafeContentError(f"{bundle}: index.json has no list of manifests")
    images: list[tuple[str, oci.Manifest]] = []
    for i, entry in enumerate(entries):
        where = f"{bundle}: index.json entry {i}"
        annotations = entry.get("annotations") if isinstance(entry, dict) else None
        if not isinstance(entry, dict) or not isinstance({} if annotations is None else annotations, dict):
            raise UnsafeContentError(f"{where} is not an OCI descriptor")
        name = (annotations or {}).get(oci.REF_NAME)
        if name is None:
            continue
        try:
            if not isinstance(name, str) or parse_reference(name).store_name != name:
                raise UsageError(f"{name!r} is not a full reference (REPOSITORY:TAG or REPOSITORY@DIGEST)")
        except UsageError as exc:
            raise UnsafeContentError(f"{where}: {exc.message}", hint="nothing was loaded") from None
        digest = entry.get("digest")
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            raise UnsafeContentError(f"{where} ({name}): {digest!r} is not a sha256 digest")
        blob = root / "blobs/sha256" / digest[7:]
        if not blob.is_file():
            raise IntegrityError(f"{bundle}: {name}: manifest {digest} is missing from the bundle")
        manifest = oci.Manifest.parse(blob.read_bytes(), digest=digest, source=name)
        for desc in (manifest.config, *manifest.layers):
            if not _SHA256.fullmatch(desc.digest):
                raise UnsafeContentError(f"{bundle}: {name}: {desc.digest!r} is not a sha256 digest")
            if not (root / "blobs/sha256" / desc.digest[7:]).is_file():
                raise IntegrityError(f"{bundle}: {name}: blob {desc.digest} is missing from the bundle")
        images.append((name, manifest))
    return images


@dataclass
class Loaded:
    ref: str
    digest: str
    dest: str
    replaced: str | None = None  # the digest a local tag of the same name pointed at before


def load(
    bundle: str | Path,
    *,
    push: str | None = None,
    store: Store | None = None,
    backend: str | None = None,
    opts: RegistryOptions | None = None,
) -> list[Loaded]:
    """Restore a bundle into the store, or push it to ``push`` under the same repository paths.

    Every image is checked before the first one is loaded: a bad bundle loads nothing. A local tag the
    bundle names again is moved to the bundle's image, and the result says what it pointed at before.
    """
    from skillctl.registry.transfer import exported_layout, import_layout

    store = store or Store()
    opts = (opts or RegistryOptions()).started()
    loaded: list[Loaded] = []
    with _opened_bundle(bundle, store) as root:
        images = _bundle_images(root, bundle)
        for name, manifest in images:
            one = root / ".one"
            shutil.rmtree(one, ignore_errors=True)
            blobs = {d.digest: root / "blobs/sha256" / d.digest[7:] for d in (manifest.config, *manifest.layers)}
            write_layout(one, manifest.raw, blobs)
            if push is None:
                before = store.tagged().get(name)
                import_layout(store, one, name)
                replaced = before.digest if before is not None and before.digest != manifest.digest else None
                loaded.append(Loaded(name, manifest.digest, name, replaced))
                continue
            dest = rebase(parse_reference(name), push)
            pusher = capable(select(backend, env=opts.env), Capability.EXACT, operation="push unchanged")
            import_layout(store, one, None)
            with exported_layout(store, manifest) as layout:
                digest = pusher.backend.push(layout, dest, opts)
            if digest and digest != manifest.digest:
                raise IntegrityError(f"{dest}: arrived as {digest}, not {manifest.digest}")
            loaded.append(Loaded(name, manifest.digest, str(dest)))
    return loaded
