"""OCI 1.1 referrers: artifacts (a Sigstore bundle, an attestation) whose manifest names the image as its
``subject``. Registries with the referrers API list them; on the others (the CNCF registry up to 3.x, most
mirrors) the list is an image index under the fallback tag ``sha256-<hex>``, as the distribution spec and
cosign v3 do. Reads go over the registry API; writes through a backend, as every registry write does.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from skillctl.backends.base import Capability, RegistryOptions, write_layout
from skillctl.core import oci
from skillctl.core.errors import ConflictError, IntegrityError, NotFoundError
from skillctl.core.refs import Reference
from skillctl.registry.client import fetch_referrers, read_manifest
from skillctl.registry.selection import capable, select

EMPTY_CONFIG: Final = "application/vnd.oci.empty.v1+json"
EMPTY: Final = b"{}"


def fallback_tag(digest: str) -> str:
    return digest.replace(":", "-")


@dataclass
class Referrers:
    """An image's referrers: the index descriptors, and whether they came from the API or the fallback tag."""

    descriptors: list[dict[str, Any]]
    api: bool
    index: bytes | None = None  # the fallback tag's index as the registry holds it


def _index(raw: bytes, source: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(raw)
    except ValueError:
        raise IntegrityError(f"{source}: not JSON") from None
    if not isinstance(data, dict) or data.get("mediaType", oci.INDEX_V1) != oci.INDEX_V1 or "manifests" not in data:
        raise ConflictError(
            f"{source}: the tag holds something other than a referrers index",
            hint="another tool uses this tag for something else; remove it or sign in the legacy format",
        )
    return [d for d in data.get("manifests") or [] if isinstance(d, dict) and isinstance(d.get("digest"), str)]


def list_referrers(
    repo: Reference, digest: str, *, backend: str | None, opts: RegistryOptions, artifact_type: str | None = None
) -> Referrers:
    """The referrers of ``digest`` (those of ``artifact_type`` when given)."""
    body = fetch_referrers(Reference(repo.repository), digest, opts)
    if body is not None:
        found = Referrers(_index(body, f"{repo.repository} referrers of {digest}"), api=True)
    else:
        tag = Reference(repo.repository, fallback_tag(digest))
        reader = capable(select(backend, env=opts.env), Capability.MANIFEST, operation="read manifests")
        try:
            raw = read_manifest(tag, reader.backend, opts)
        except NotFoundError:
            return Referrers([], api=False)
        found = Referrers(_index(raw, str(tag)), api=False, index=raw)
    if artifact_type is not None:
        found.descriptors = [d for d in found.descriptors if d.get("artifactType") == artifact_type]
    return found


def fetch_artifact(
    repo: Reference, digest: str, *, backend: str | None, opts: RegistryOptions, max_blob: int | None = None
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """A referrer's manifest and every blob it names, each checked against its digest.

    With ``max_blob``, the manifest is read first and a referrer with a larger blob is refused before any blob is
    downloaded (a signature is a few kilobytes; the registry is not trusted to say so).
    """
    from skillctl.image.unpack import verify_blob

    chosen = select(backend, env=opts.env)
    if max_blob is not None:
        reader = capable(chosen, Capability.MANIFEST, operation="read manifests")
        declared = json.loads(read_manifest(Reference(repo.repository, None, digest), reader.backend, opts))
        for desc in [declared.get("config") or {}, *(declared.get("layers") or [])]:
            if not isinstance(desc.get("size"), int) or desc["size"] > max_blob:
                raise IntegrityError(
                    f"{repo.repository}@{digest}: a blob of {desc.get('size')} bytes is not a signature"
                )
    puller = capable(chosen, Capability.EXACT, operation="pull artifacts unchanged")
    with tempfile.TemporaryDirectory(prefix="skillctl-ref-") as tmp:
        layout = Path(tmp) / "layout"
        puller.backend.pull(Reference(repo.repository, None, digest), layout, opts)
        blobs_dir = layout / "blobs" / "sha256"
        raw = (blobs_dir / digest[7:]).read_bytes()
        if oci.sha256_digest(raw) != digest:
            raise IntegrityError(f"{repo.repository}@{digest}: the registry sent another manifest")
        manifest = json.loads(raw)
        blobs = {digest: raw}
        for desc in [manifest.get("config") or {}, *(manifest.get("layers") or [])]:
            path = blobs_dir / str(desc.get("digest", ""))[7:]
            verify_blob(path, desc["digest"], desc.get("size"))
            blobs[desc["digest"]] = path.read_bytes()
        return manifest, blobs


def artifact_manifest(
    subject: oci.Descriptor, artifact_type: str, layers: list[tuple[str, bytes]], annotations: dict[str, str]
) -> tuple[bytes, dict[str, bytes]]:
    """An OCI 1.1 artifact manifest (empty config, ``subject``) as cosign v3 writes one, and its blobs."""
    blobs = {oci.sha256_digest(EMPTY): EMPTY}
    descriptors = []
    for media_type, data in layers:
        blobs[oci.sha256_digest(data)] = data
        descriptors.append({"mediaType": media_type, "digest": oci.sha256_digest(data), "size": len(data)})
    manifest = {
        "schemaVersion": 2,
        "mediaType": oci.MANIFEST_V1,
        "artifactType": artifact_type,
        "config": {"mediaType": EMPTY_CONFIG, "digest": oci.sha256_digest(EMPTY), "size": len(EMPTY)},
        "layers": descriptors,
        "subject": {"mediaType": subject.media_type, "digest": subject.digest, "size": subject.size},
        "annotations": annotations,
    }
    return json.dumps(manifest, separators=(",", ":")).encode(), blobs


def attach(
    repo: Reference,
    subject_digest: str,
    manifest: bytes,
    blobs: dict[str, bytes],
    *,
    backend: str | None,
    opts: RegistryOptions,
) -> Reference:
    """Push an artifact manifest that refers to ``subject_digest``; keep every referrer already there.

    With the referrers API the registry indexes it; without, the fallback tag's index gains its descriptor.
    Returns where it can be found (the manifest by digest, or the fallback tag).
    """
    chosen = select(backend, env=opts.env)
    pusher = capable(chosen, Capability.EXACT, operation="push artifacts unchanged")
    indexer = capable(chosen, Capability.REFERRERS, operation="push a referrers index unchanged")
    data = json.loads(manifest)
    digest = oci.sha256_digest(manifest)
    existing = list_referrers(repo, subject_digest, backend=backend, opts=opts)
    by_digest = Reference(repo.repository, None, digest)
    with tempfile.TemporaryDirectory(prefix="skillctl-ref-") as tmp:
        if existing.api:
            pusher.backend.push(write_layout(Path(tmp) / "one", manifest, blobs), by_digest, opts)
            return by_digest
        descriptors = [d for d in existing.descriptors if d["digest"] != digest]
        # The index is pushed whole (a backend copies an index with its manifests): bring the others along.
        all_blobs = dict(blobs)
        for other in descriptors:
            _, other_blobs = fetch_artifact(repo, other["digest"], backend=backend, opts=opts)
            all_blobs.update(other_blobs)
        entry: dict[str, Any] = {"mediaType": oci.MANIFEST_V1, "digest": digest, "size": len(manifest)}
        entry["artifactType"] = data.get("artifactType") or data["config"]["mediaType"]
        if data.get("annotations"):
            entry["annotations"] = data["annotations"]
        index = json.dumps(
            {"schemaVersion": 2, "mediaType": oci.INDEX_V1, "manifests": [*descriptors, entry]},
            separators=(",", ":"),
        ).encode()
        all_blobs[digest] = manifest
        tag = Reference(repo.repository, fallback_tag(subject_digest))
        indexer.backend.push(write_layout(Path(tmp) / "index", index, all_blobs, media_type=oci.INDEX_V1), tag, opts)
        return tag
