"""Air gaps: mirror registry to registry, and save/load bundles that carry skills across.

``mirror`` makes each destination repository follow its source by the rules of
``reconcile`` (copies by digest, in parallel; removals; ``latest``; destination
changes that are further along kept and reported); with ``archived`` it also
copies the digest-only manifests that signatures reveal. ``save`` writes one OCI archive (an image layout in a tar,
references as the store writes them); ``load`` restores it into the store, or
pushes it to a registry under the same repository paths.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tarfile
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from skillctl.airgap.reconcile import (
    LATEST,
    Decision,
    Tagged,
    current_state,
    lifecycle_managed,
    plan,
    plan_latest,
    planned_view,
    status,
    subject_of,
)
from skillctl.backends.base import Capability, RegistryOptions, write_layout
from skillctl.core import oci
from skillctl.core.errors import (
    DeadlineExceeded,
    IntegrityError,
    NotFoundError,
    SecurityRefusal,
    SkillctlError,
    UnsafeContentError,
    UsageError,
)
from skillctl.core.fsutil import open_regular
from skillctl.core.logs import get_logger
from skillctl.core.parallel import map_all
from skillctl.core.progress import SILENT, Progress, running
from skillctl.core.refs import Reference, is_attachment_tag, parse_reference
from skillctl.registry.client import read_manifest
from skillctl.registry.remote import usable_tags
from skillctl.registry.selection import Selection, capable, select
from skillctl.registry.tags import remove_tag
from skillctl.store.layout import Store

log = get_logger(__name__)

MAX_BUNDLE_ENTRY: Final = 2 * 1024 * 1024 * 1024
_FINAL: Final = (DeadlineExceeded, SecurityRefusal)
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
    action: str  # copied, skipped, removed, kept, failed
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


class _Side:
    """One repository on one registry: its tags read once, manifests by digest looked up once each."""

    def __init__(self, repository: str, reader: Selection, opts: RegistryOptions) -> None:
        self.repository = repository
        self.reader = reader
        self.opts = opts
        self.tags: dict[str, Tagged] = {}
        self._known: dict[str, bool] = {}
        self._guard = threading.Lock()

    def read(self, lister: Selection, workers: int) -> _Side:
        try:
            names = usable_tags(self.repository, lister.backend.list_tags(Reference(self.repository), self.opts))
        except NotFoundError:
            return self

        def one(tag: str) -> Tagged | None:
            ref = Reference(self.repository, tag)
            try:
                return Tagged.parse(read_manifest(ref, self.reader.backend, self.opts), source=str(ref))
            except NotFoundError:
                return None  # deleted between listing and reading

        found = dict(zip(names, map_all(one, names, workers), strict=True))
        self.tags = {t: v for t, v in found.items() if v is not None}
        with self._guard:
            self._known.update({v.digest: True for v in self.tags.values()})
        return self

    def live_tags(self, lister: Selection) -> dict[str, str]:
        """Tags and digests as the registry holds them now (re-read: earlier steps changed them)."""
        try:
            names = usable_tags(self.repository, lister.backend.list_tags(Reference(self.repository), self.opts))
        except NotFoundError:
            return {}
        live = {}
        for tag in names:
            with contextlib.suppress(NotFoundError):
                live[tag] = oci.sha256_digest(
                    read_manifest(Reference(self.repository, tag), self.reader.backend, self.opts)
                )
        return live

    def has(self, digest: str) -> bool:
        with self._guard:
            if digest in self._known:
                return self._known[digest]
        try:
            read_manifest(Reference(self.repository, None, digest), self.reader.backend, self.opts)
            found = True
        except NotFoundError:
            found = False
        with self._guard:
            self._known[digest] = found
        return found

    def holds(self, digest: str) -> None:
        """Record that the repository holds ``digest`` now (after a copy)."""
        with self._guard:
            self._known[digest] = True

    def manifest(self, digest: str) -> oci.Manifest | None:
        ref = Reference(self.repository, None, digest)
        try:
            raw = read_manifest(ref, self.reader.backend, self.opts)
        except NotFoundError:
            return None
        return oci.Manifest.parse(raw, digest=digest, source=str(ref)) if oci.is_image_manifest(raw) else None


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


@dataclass
class _Pair:
    """One source repository, its destination, and what the rules decided for it."""

    src: _Side
    dst: _Side
    decisions: list[Decision] = field(default_factory=list)
    archived: list[str] = field(default_factory=list)  # digest-only manifests to copy (--archived)


def mirror(
    sources: Iterable[str],
    destination: str,
    *,
    archived: bool = False,
    force: bool = False,
    backend: str | None = None,
    opts: RegistryOptions | None = None,
    workers: int = 4,
    verify: Callable[[str, str], str] | None = None,
    progress: Progress = SILENT,
) -> MirrorResult:
    """Make each destination repository follow its source (``reg/ns/name``), keeping digests.

    The rules are in :mod:`skillctl.airgap.reconcile`: tags the source holds are copied, tags it removed
    are removed, ``latest`` follows the lifecycle rule, and a destination that is further along in a
    version's lifecycle is kept and reported unless ``force``. Running it again changes nothing more.

    ``verify`` (a ``trust.verifiers`` verifier: a signature policy, a key) checks each version before it is
    copied; a refused version is reported as failed and its signatures and referrers are not copied.
    ``opts``' deadline (``--timeout``) bounds the whole mirror: when it passes, the mirror stops with it.
    """
    opts = (opts or RegistryOptions()).started()
    chosen = select(backend, env=opts.env)
    copier = capable(chosen, Capability.COPY, operation="copy between registries keeping digests")
    reader = capable(chosen, Capability.MANIFEST, operation="read manifests")
    lister = capable(chosen, Capability.TAGS, operation="list tags")
    pairs: list[_Pair] = []
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
        src = _Side(src_repo.repository, reader, opts).read(lister, workers)
        if not src.tags:
            raise NotFoundError(f"{src_repo.repository}: no tags to mirror")
        dst = _Side(dst_repo.repository, reader, opts).read(lister, workers)
        pair = _Pair(src, dst, plan(src.tags, dst.tags, src_has=src.has, dst_has=dst.has, force=force))
        if archived:
            tagged = {t.digest for t in src.tags.values()}
            for tag in src.tags:
                subject = subject_of(tag)
                if is_attachment_tag(tag) and subject not in tagged and src.has(subject):
                    pair.archived.append(subject)
            pair.archived = list(dict.fromkeys(pair.archived))
        pairs.append(pair)

    locks = _BlobLocks()
    result = MirrorResult()
    refused: set[str] = set()  # digests the signature check refused: their signatures and referrers stay behind

    def copy(pair: _Pair, digest: str, tag: str | None) -> None:
        """``digest`` (from the source, else the destination repository itself) to ``tag``, or by digest."""
        origin = pair.src if pair.src.has(digest) else pair.dst
        source = Reference(origin.repository, None, digest)
        dest = Reference(pair.dst.repository, tag, None if tag else digest)
        known = next((t.raw for t in origin.tags.values() if t.digest == digest), None)
        shared = _blobs_of(known if known is not None else read_manifest(source, reader.backend, opts))
        # A referrers fallback tag is an OCI 1.1 index: only some backends copy one unchanged.
        how = copier
        if tag and _is_referrers_tag(tag):
            how = capable(chosen, Capability.REFERRERS, operation="copy a referrers index unchanged")
        with locks.held(pair.dst.repository, {digest, *shared}):
            got = how.backend.copy(source, dest, opts)
        if got and got != digest:
            raise IntegrityError(f"{dest}: arrived as {got}, not {digest}")
        pair.dst.holds(digest)

    def item(pair: _Pair, decision: Decision, action: str, detail: str | None = None) -> Copied:
        tag = decision.tag
        src = f"{pair.src.repository}:{tag}" if tag else f"{pair.src.repository}@{decision.digest}"
        dst = f"{pair.dst.repository}:{tag}" if tag else f"{pair.dst.repository}@{decision.digest}"
        return Copied(src, dst, decision.digest, action, decision.detail if detail is None else detail)

    def carry_out_copy(job: tuple[_Pair, Decision]) -> Copied:
        done = _carry_out_copy(job)
        progress.advance(items=1)
        return done

    def _carry_out_copy(job: tuple[_Pair, Decision]) -> Copied:
        pair, decision = job
        if decision.action != "copy":
            return item(pair, decision, {"skip": "skipped", "keep": "kept"}[decision.action])
        if _is_signature(decision) and subject_of(decision.tag or "") in refused:
            return item(pair, decision, "skipped", "its image was refused by the signature check")
        try:
            if verify is not None and not _is_signature(decision) and pair.src.has(decision.digest):
                label = f"{pair.src.repository}:{decision.tag}" if decision.tag else pair.src.repository
                try:
                    verify(label if decision.tag else f"{label}@{decision.digest}", decision.digest)
                except SkillctlError:
                    refused.add(decision.digest)
                    raise
            copy(pair, decision.digest, decision.tag)
            return item(pair, decision, "copied")
        except _FINAL:
            raise  # the whole mirror is out of time, or refused the registry: not this copy
        except SkillctlError as exc:
            return item(pair, decision, "failed", str(exc))

    def remove(pair: _Pair, decision: Decision, moving: set[str]) -> Copied:
        done = _remove(pair, decision, moving)
        progress.advance(items=1)
        return done

    def _remove(pair: _Pair, decision: Decision, moving: set[str]) -> Copied:
        """Remove a destination tag; when the registry refuses, point it at the source's state of that content."""
        assert decision.tag is not None
        live = pair.dst.live_tags(lister)
        if live.get(decision.tag) != decision.digest:
            if decision.tag not in live:
                return item(pair, decision, "removed")  # went with a manifest deleted just before
            return item(pair, decision, "failed", "the tag changed on the destination while mirroring; run again")
        why = remove_tag(
            Reference(pair.dst.repository, decision.tag),
            decision.digest,
            candidates=(copier, reader, lister),
            sharing=lambda: sorted(t for t, d in live.items() if d == decision.digest and t not in moving),
            opts=opts,
        )
        if why is None:
            return item(pair, decision, "removed")
        if decision.fallback:
            try:
                copy(pair, decision.fallback, decision.tag)
            except _FINAL:
                raise
            except SkillctlError as exc:
                return item(pair, decision, "failed", f"{why}; pointing it at {decision.fallback} failed: {exc}")
            state = status(pair.src.manifest(decision.fallback) or pair.dst.manifest(decision.fallback))
            return item(pair, decision, "kept", f"{why}; it points at the {state or 'current'} manifest now")
        return item(pair, decision, "kept", why)

    def reconcile_rest(pair: _Pair, done: list[Decision]) -> list[Copied]:
        """Removals and ``latest`` of one repository, one after the other (they can share manifests)."""
        out: list[Copied] = []
        removals = [d for d in pair.decisions if d.action == "remove"]
        latest = None
        if lifecycle_managed(pair.src.tags.values()):
            view = planned_view(pair.dst.tags, pair.src.tags, [*done, *removals])
            latest = plan_latest(view, pair.dst.tags.get(LATEST))
            if latest is not None and latest.action == "remove":
                current = pair.dst.tags[LATEST].manifest
                if current is not None:
                    both = [*view.values(), *pair.src.tags.values()]
                    now = current_state(current, both, lambda d: pair.dst.has(d) or pair.src.has(d))
                    if now is not None and now.digest != latest.digest:
                        latest = Decision(LATEST, "remove", latest.digest, latest.detail, now.digest)
        moving = {d.tag for d in removals if d.tag} | ({LATEST} if latest and latest.action != "skip" else set())
        for decision in removals + ([latest] if latest and latest.action == "remove" else []):
            out.append(remove(pair, decision, moving))
        if latest is not None and latest.action != "remove":
            out.append(carry_out_copy((pair, latest)))
        return out

    versions = [(p, d) for p in pairs for d in p.decisions if d.action != "remove" and not _is_signature(d)]
    signatures = [(p, d) for p in pairs for d in p.decisions if _is_signature(d)]
    archived_jobs = [
        (p, Decision(None, "skip" if p.dst.has(d) else "copy", d, "already there")) for p in pairs for d in p.archived
    ]
    tags = sum(len(p.decisions) for p in pairs) + len(archived_jobs)  # latest may add one: a count, not a bound
    with running(progress, f"Mirroring to {destination}", items=tags, unit="tags"):
        # Each phase in parallel; the first error that ends the mirror (the deadline) stops what is queued.
        copied = map_all(carry_out_copy, versions, workers)
        result.items.extend(copied)
        succeeded: dict[int, list[Decision]] = {}
        for (pair, decision), outcome in zip(versions, copied, strict=True):
            if outcome.action == "copied":
                succeeded.setdefault(id(pair), []).append(decision)
        for items in map_all(lambda p: reconcile_rest(p, succeeded.get(id(p), [])), pairs, workers):
            result.items.extend(items)
        result.items.extend(map_all(carry_out_copy, signatures, workers))
        result.items.extend(map_all(carry_out_copy, archived_jobs, workers))
    return result


def _is_signature(decision: Decision) -> bool:
    return decision.tag is not None and is_attachment_tag(decision.tag)


def _is_referrers_tag(tag: str) -> bool:
    return bool(re.fullmatch(r"sha256-[0-9a-f]{64}", tag))


# -- save / load -------------------------------------------------------------------------------


@dataclass
class _Referrers:
    """An image's referrers index as saved: the index bytes, and every manifest and blob it needs."""

    name: str
    index: bytes
    blobs: dict[str, bytes]


def _referrers_of(repo: Reference, digest: str, *, backend: str | None, opts: RegistryOptions) -> _Referrers | None:
    """The referrers (bundles, attestations, other tools' artifacts) of ``digest``, to carry along."""
    from skillctl.trust import referrers

    listed = referrers.list_referrers(repo, digest, backend=backend, opts=opts)
    if not listed.descriptors:
        return None
    index = (
        listed.index
        or json.dumps(
            {"schemaVersion": 2, "mediaType": oci.INDEX_V1, "manifests": listed.descriptors}, separators=(",", ":")
        ).encode()
    )
    blobs: dict[str, bytes] = {}
    for desc in listed.descriptors:
        _, found = referrers.fetch_artifact(repo, desc["digest"], backend=backend, opts=opts)
        blobs.update(found)
    tag = Reference(repo.repository, referrers.fallback_tag(digest))
    return _Referrers(tag.store_name, index, blobs)


def _entries_for(
    ref: str,
    store: Store,
    *,
    all_tags: bool,
    signatures: bool,
    backend: str | None,
    opts: RegistryOptions,
    archived: bool = False,
    verify: Callable[[str, str], str] | None = None,
) -> tuple[list[str], list[_Referrers]]:
    """Store reference names to save for one argument (pulling registry references first), and referrers."""
    from skillctl.registry.remote import list_remote
    from skillctl.registry.transfer import pull

    parsed = parse_reference(ref)
    names: list[str] = []
    found: list[_Referrers] = []
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
        if archived:  # the archived versions, kept by digest only, travel too
            refs += [
                r.ref for r in list_remote(parsed.repository, backend=backend, opts=opts, archived=True) if not r.tag
            ]
        for one in refs:
            if is_attachment_tag(one.rsplit(":", 1)[-1]):
                continue
            result = pull(one, store=store, backend=backend, opts=opts, allow_archived=True, verify=verify)
            names.append(parse_reference(one).store_name)
            if signatures:
                # cosign's .sig (signatures) and .att (attestations) images travel as store images.
                for suffix in (".sig", ".att"):
                    sig = Reference(parsed.repository, result.remote_digest.replace(":", "-") + suffix)
                    with contextlib.suppress(NotFoundError):
                        pull(str(sig), store=store, backend=backend, opts=opts, allow_archived=True)
                        names.append(sig.store_name)
                extra = _referrers_of(parsed, result.remote_digest, backend=backend, opts=opts)
                if extra is not None:
                    found.append(extra)
        return names, found
    entry = store.resolve(parsed)
    return [entry.ref_name or str(parsed)], found


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
    archived: bool = False,
    verify: Callable[[str, str], str] | None = None,
    progress: Progress = SILENT,
) -> list[str]:
    """Write one OCI archive holding every image (and signature) named; returns the references saved.

    ``archived`` adds each named repository's archived manifests (kept by digest only) and their signatures.
    ``verify`` (``trust.verifiers``) checks each registry image before it is pulled into the store.
    """
    store = store or Store()
    opts = (opts or RegistryOptions()).started()
    out = Path(output)
    if not str(output) or out.is_dir():
        raise UsageError(f"{str(output)!r}: -o names the bundle file to write, not a directory")
    if not out.parent.is_dir():
        raise NotFoundError(f"{out.parent}: no such directory for the bundle", hint="create it first, or choose -o")
    names: list[str] = []
    extras: dict[str, _Referrers] = {}
    for ref in refs:
        more, found = _entries_for(
            ref,
            store,
            all_tags=all_tags,
            signatures=signatures,
            backend=backend,
            opts=opts,
            archived=archived,
            verify=verify,
        )
        names.extend(more)
        extras.update((r.name, r) for r in found)
    names = list(dict.fromkeys(names))
    entries = []
    blobs: set[str] = set()
    for name in names:
        entry = store.resolve(name)
        manifest = store.manifest(entry.digest)
        store.check_complete(manifest, what=name)
        blobs.update(d.digest for d in (manifest.descriptor, manifest.config, *manifest.layers))
        entries.append({**entry.descriptor.to_json(), "annotations": {oci.REF_NAME: name}})
    # Referrers indexes (Sigstore bundles, attestations) are not store images: they go from memory to the archive.
    loose: dict[str, bytes] = {}
    for extra in extras.values():
        digest = oci.sha256_digest(extra.index)
        loose[digest] = extra.index
        loose.update(extra.blobs)
        entries.append(
            {
                "mediaType": oci.INDEX_V1,
                "digest": digest,
                "size": len(extra.index),
                "annotations": {oci.REF_NAME: extra.name},
            }
        )
        names.append(extra.name)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    size = sum(store.blob_path(d).stat().st_size for d in blobs)
    try:
        with (
            running(progress, f"Saving {out.name}", items=len(blobs), unit="blobs", size=size),
            tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar,
        ):
            _tar_add_bytes(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
            index = {"schemaVersion": 2, "mediaType": oci.INDEX_V1, "manifests": entries}
            _tar_add_bytes(tar, "index.json", json.dumps(index, separators=(",", ":")).encode())
            for digest in sorted(blobs):
                info = tar.gettarinfo(store.blob_path(digest), arcname=f"blobs/sha256/{digest[7:]}")
                info.mtime, info.uid, info.gid, info.uname, info.gname, info.mode = 0, 0, 0, "", "", 0o644
                with store.blob_path(digest).open("rb") as fh:
                    tar.addfile(info, fh)
                progress.advance(items=1, size=info.size)
            for digest in sorted(set(loose) - blobs):
                _tar_add_bytes(tar, f"blobs/sha256/{digest[7:]}", loose[digest])
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


_Indexes = list[tuple[str, str, dict[str, Path]]]
"""Referrers fallback tags in a bundle: (name, digest of the index, every blob it needs)."""


def _bundle_images(root: Path, bundle: str | Path) -> tuple[list[tuple[str, oci.Manifest]], _Indexes]:
    """The bundle's tagged images and referrers indexes: each ``index.json`` entry's name parsed as a reference,
    each image complete.

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
    indexes: _Indexes = []
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
        if entry.get("mediaType") == oci.INDEX_V1:
            indexes.append((name, digest, _referrers_layout_blobs(root, blob, name, bundle)))
            continue
        manifest = oci.Manifest.parse(blob.read_bytes(), digest=digest, source=name)
        for desc in (manifest.config, *manifest.layers):
            if not _SHA256.fullmatch(desc.digest):
                raise UnsafeContentError(f"{bundle}: {name}: {desc.digest!r} is not a sha256 digest")
            if not (root / "blobs/sha256" / desc.digest[7:]).is_file():
                raise IntegrityError(f"{bundle}: {name}: blob {desc.digest} is missing from the bundle")
        images.append((name, manifest))
    return images, indexes


@dataclass
class Loaded:
    ref: str
    digest: str
    dest: str
    note: str = ""
    replaced: str | None = None  # the digest a local tag of the same name pointed at before


def _load_one(
    name: str, manifest: oci.Manifest, root: Path, *, push: str | None, store: Store, backend: str | None,
    opts: RegistryOptions,
) -> Loaded:  # fmt: skip
    """One image of an opened bundle into the store, or pushed to ``push``."""
    from skillctl.registry.transfer import exported_layout, import_layout

    one = root / ".one"
    shutil.rmtree(one, ignore_errors=True)
    blobs = {d.digest: root / "blobs/sha256" / d.digest[7:] for d in (manifest.config, *manifest.layers)}
    write_layout(one, manifest.raw, blobs)
    if push is None:
        before = store.tagged().get(name)
        import_layout(store, one, name)
        replaced = before.digest if before is not None and before.digest != manifest.digest else None
        return Loaded(name, manifest.digest, name, replaced=replaced)
    dest = rebase(parse_reference(name), push)
    pusher = capable(select(backend, env=opts.env), Capability.EXACT, operation="push unchanged")
    import_layout(store, one, None)
    with exported_layout(store, manifest) as layout:
        digest = pusher.backend.push(layout, dest, opts)
    if digest and digest != manifest.digest:
        raise IntegrityError(f"{dest}: arrived as {digest}, not {manifest.digest}")
    return Loaded(name, manifest.digest, str(dest))


def load(
    bundle: str | Path,
    *,
    push: str | None = None,
    store: Store | None = None,
    backend: str | None = None,
    opts: RegistryOptions | None = None,
    progress: Progress = SILENT,
) -> list[Loaded]:
    """Restore a bundle into the store, or push it to ``push`` under the same repository paths.

    Every image is checked before the first one is loaded: a bad bundle loads nothing. A local tag the
    bundle names again is moved to the bundle's image, and the result says what it pointed at before.
    """
    store = store or Store()
    opts = (opts or RegistryOptions()).started()
    loaded: list[Loaded] = []
    with _opened_bundle(bundle, store) as root:
        images, indexes = _bundle_images(root, bundle)
        size = sum(d.size for _, m in images for d in (m.config, *m.layers))
        where = f"to {push}" if push else "into the store"
        with running(progress, f"Loading {Path(bundle).name} {where}", items=len(images), unit="images", size=size):
            for name, manifest in images:
                loaded.append(_load_one(name, manifest, root, push=push, store=store, backend=backend, opts=opts))
                progress.advance(items=1, size=sum(d.size for d in (manifest.config, *manifest.layers)))
        for name, digest, blobs in indexes:
            if push is None:
                # The store holds images; a referrers index only means something next to its image in a registry.
                loaded.append(Loaded(name, digest, "", note="not loaded: referrers go to a registry (load --push)"))
                continue
            dest = rebase(parse_reference(name), push)
            indexer = capable(select(backend, env=opts.env), Capability.REFERRERS, operation="push a referrers index")
            one = root / ".one"
            shutil.rmtree(one, ignore_errors=True)
            write_layout(one, blobs.pop(digest).read_bytes(), blobs, media_type=oci.INDEX_V1)
            got = indexer.backend.push(one, dest, opts)
            if got and got != digest:
                raise IntegrityError(f"{dest}: arrived as {got}, not {digest}")
            loaded.append(Loaded(name, digest, str(dest)))
    return loaded


def _referrers_layout_blobs(root: Path, index_blob: Path, name: str, bundle: str | Path) -> dict[str, Path]:
    """Every blob a referrers index needs (its manifests and theirs), all present and well named."""
    blobs = {oci.sha256_digest(index_blob.read_bytes()): index_blob}
    try:
        children = json.loads(index_blob.read_bytes()).get("manifests") or []
        for child in children if isinstance(children, list) else [None]:
            digest = str(child["digest"])
            path = root / "blobs/sha256" / digest[7:]
            if not _SHA256.fullmatch(digest) or not path.is_file():
                raise IntegrityError(f"{bundle}: {name}: manifest {digest} is missing from the bundle")
            blobs[digest] = path
            manifest = json.loads(path.read_bytes())
            for desc in [manifest.get("config") or {}, *(manifest.get("layers") or [])]:
                blob = str(desc.get("digest", ""))
                if not _SHA256.fullmatch(blob) or not (root / "blobs/sha256" / blob[7:]).is_file():
                    raise IntegrityError(f"{bundle}: {name}: blob {blob} is missing from the bundle")
                blobs[blob] = root / "blobs/sha256" / blob[7:]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise UnsafeContentError(f"{bundle}: {name}: not a readable referrers index") from None
    return blobs
