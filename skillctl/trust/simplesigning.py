"""cosign's legacy layout: "simple signing" payloads as layers of an image tagged ``sha256-<digest>.sig``.

The layout cosign v2 writes by default (v3 with ``--registry-referrers-mode=legacy``), and the only one that
podman, skopeo and CRI-O read (``registries.d`` ``use-sigstore-attachments``). Each layer is one signature:
the payload names the signed manifest digest and repository; annotations hold the signature and, for keyless
signatures, the certificate, its chain and the transparency log's signed entry timestamp (the "Rekor bundle").
"""

from __future__ import annotations

import base64
import contextlib
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from skillctl.backends.base import Capability, RegistryOptions, write_layout
from skillctl.core import oci
from skillctl.core.errors import IntegrityError, NotFoundError
from skillctl.core.refs import Reference
from skillctl.registry.client import read_manifest
from skillctl.registry.selection import capable, select
from skillctl.trust.bundle import TlogEntry

SIMPLE_SIGNING: Final = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION: Final = "dev.cosignproject.cosign/signature"
CERTIFICATE_ANNOTATION: Final = "dev.sigstore.cosign/certificate"
CHAIN_ANNOTATION: Final = "dev.sigstore.cosign/chain"
REKOR_BUNDLE_ANNOTATION: Final = "dev.sigstore.cosign/bundle"
MAX_LAYERS: Final = 1024  # one per signature or attestation; a hostile registry could declare any number


def signature_tag(digest: str) -> str:
    return digest.replace(":", "-") + ".sig"


def cosign_identity(repository: str) -> str:
    """The repository as cosign names it (go-containerregistry): Docker Hub is ``index.docker.io/library/...``."""
    host, _, path = repository.partition("/")
    if host not in ("docker.io", "index.docker.io") or not path:
        return repository
    return f"index.docker.io/{path if '/' in path else 'library/' + path}"


def payload(repository: str, digest: str) -> bytes:
    """cosign's payload, byte for byte as it writes it."""
    return oci.go_json(
        {
            "critical": {
                "identity": {"docker-reference": cosign_identity(repository)},
                "image": {"docker-manifest-digest": digest},
                "type": "cosign container image signature",
            },
            "optional": None,
        }
    )


def rekor_entry(annotation: str) -> TlogEntry | None:
    """The transparency-log entry of a keyless ``.sig`` layer (cosign's "Rekor bundle" annotation)."""
    try:
        data = json.loads(annotation)
        body = data["Payload"]
        return TlogEntry(
            log_index=int(body["logIndex"]),
            log_id=bytes.fromhex(body["logID"]),
            kind="",
            version="",
            integrated_time=int(body["integratedTime"]),
            body=base64.b64decode(body["body"], validate=True),
            signed_entry_timestamp=base64.b64decode(data["SignedEntryTimestamp"], validate=True),
        )
    except (ValueError, KeyError, TypeError):
        return None


@dataclass
class SignatureImage:
    """The ``sha256-<digest>.sig`` image: its layers and their payload bytes."""

    manifest: oci.Manifest | None
    layers: list[tuple[dict[str, Any], bytes]] = field(default_factory=list)


@contextlib.contextmanager
def _pulled(ref: Reference, *, backend: str | None, opts: RegistryOptions) -> Iterator[Path | None]:
    puller = capable(select(backend, env=opts.env), Capability.EXACT, operation="pull signatures unchanged")
    with tempfile.TemporaryDirectory(prefix="skillctl-sig-") as tmp:
        layout = Path(tmp) / "layout"
        try:
            puller.backend.pull(ref, layout, opts)
        except NotFoundError:
            yield None
            return
        yield layout


def fetch(repo: Reference, digest: str, *, backend: str | None, opts: RegistryOptions) -> SignatureImage:
    """Every signature layer attached to ``digest`` (an empty list when none), blobs verified."""
    return fetch_tag(Reference(repo.repository, signature_tag(digest)), backend=backend, opts=opts)


def fetch_tag(
    ref: Reference, *, backend: str | None, opts: RegistryOptions, max_layer: int | None = None
) -> SignatureImage:
    """The layers of one of cosign's attachment images (``.sig``, ``.att``), blobs verified.

    With ``max_layer``, a layer declared larger is refused before anything is downloaded.
    """
    from skillctl.image.unpack import verify_blob

    # One registry request says whether the image is there (most digests carry none) before a tool is started.
    reader = capable(select(backend, env=opts.env), Capability.MANIFEST, operation="read manifests")
    try:
        declared = json.loads(read_manifest(ref, reader.backend, opts))
    except NotFoundError:
        return SignatureImage(None)
    except ValueError:
        declared = {}
    if max_layer is not None:
        if len(declared.get("layers") or []) > MAX_LAYERS:
            raise IntegrityError(f"{ref}: {len(declared['layers'])} layers; more than {MAX_LAYERS} are not read")
        for layer in declared.get("layers") or []:
            if not isinstance(layer.get("size"), int) or layer["size"] > max_layer:
                raise IntegrityError(f"{ref}: a layer of {layer.get('size')} bytes is larger than {max_layer}")
    with _pulled(ref, backend=backend, opts=opts) as layout:
        if layout is None:
            return SignatureImage(None)
        index = json.loads((layout / "index.json").read_bytes())
        entry = index["manifests"][0]
        blobs = layout / "blobs" / "sha256"
        manifest = oci.Manifest.parse((blobs / entry["digest"][7:]).read_bytes(), digest=entry["digest"])
        raw = json.loads(manifest.raw)
        image = SignatureImage(manifest)
        for layer in raw.get("layers") or []:
            path = blobs / layer["digest"][7:]
            verify_blob(path, layer["digest"], layer["size"])
            image.layers.append((layer, path.read_bytes()))
        return image


def attach(
    repo: Reference, digest: str, signature: bytes, *, backend: str | None, opts: RegistryOptions
) -> tuple[Reference, int]:
    """Add one key signature of ``digest`` to its ``.sig`` image, keeping the signatures already there.

    Returns the ``.sig`` reference and how many signatures it now holds.
    """
    data = payload(repo.repository, digest)
    layer = {
        "mediaType": SIMPLE_SIGNING,
        "digest": oci.sha256_digest(data),
        "size": len(data),
        "annotations": {SIGNATURE_ANNOTATION: base64.b64encode(signature).decode()},
    }
    existing = fetch(repo, digest, backend=backend, opts=opts)
    # Signatures by several keys share the payload (same digest); they differ in their annotation. Keep them all.
    layers = [*existing.layers, (layer, data)]
    sig_ref = Reference(repo.repository, signature_tag(digest))
    push_image(sig_ref, layers, backend=backend, opts=opts)
    return sig_ref, len(layers)


def push_image(
    ref: Reference, layers: list[tuple[dict[str, Any], bytes]], *, backend: str | None, opts: RegistryOptions
) -> None:
    """Push one of cosign's attachment images (``.sig``, ``.att``) holding ``layers``, as cosign writes it."""
    blobs = {meta["digest"]: blob for meta, blob in layers}
    config = oci.go_json(
        {
            "architecture": "",
            "created": "0001-01-01T00:00:00Z",
            "history": [{"created": "0001-01-01T00:00:00Z"}],
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": [m["digest"] for m, _ in layers]},
            "config": {},
        }
    )
    manifest = oci.go_json(
        {
            "schemaVersion": 2,
            "mediaType": oci.MANIFEST_V1,
            "config": {"mediaType": oci.CONFIG_V1, "digest": oci.sha256_digest(config), "size": len(config)},
            "layers": [meta for meta, _ in layers],
        }
    )
    pusher = capable(select(backend, env=opts.env), Capability.EXACT, operation="push signatures unchanged")
    with tempfile.TemporaryDirectory(prefix="skillctl-sig-") as tmp:
        root = write_layout(Path(tmp), manifest, {**blobs, oci.sha256_digest(config): config})
        pusher.backend.push(root, ref, opts)
