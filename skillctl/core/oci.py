"""OCI media types, descriptors and the byte form we serialise JSON in.

Manifests are written the way Go's encoding/json writes the containers/image
structs (compact; ``schemaVersion, mediaType, config, layers, annotations``;
descriptor keys ``mediaType, digest, size``; annotation keys sorted; ``<``,
``>``, ``&``, U+2028 and U+2029 escaped). podman and buildah re-serialise
manifests in exactly that form, so a round trip through them keeps the digest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

MANIFEST_V1: Final = "application/vnd.oci.image.manifest.v1+json"
INDEX_V1: Final = "application/vnd.oci.image.index.v1+json"
CONFIG_V1: Final = "application/vnd.oci.image.config.v1+json"
LAYER_TAR_GZIP: Final = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST_V2: Final = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LAYER_TAR_GZIP: Final = "application/vnd.docker.image.rootfs.diff.tar.gzip"
# The Go skillctl's "redhat" profile (for oc-mirror): same manifest type, config and layer types of its own.
REDHAT_CONFIG: Final = "application/vnd.redhat.agentskill.config.v1+json"
REDHAT_LAYER_TAR_GZIP: Final = "application/vnd.redhat.agentskill.layer.v1.tar+gzip"
GZIP_LAYERS: Final = frozenset({LAYER_TAR_GZIP, DOCKER_LAYER_TAR_GZIP, REDHAT_LAYER_TAR_GZIP})
"""Layer media types that hold a gzip-compressed tar of the skill's files."""
MEDIA_PROFILES: Final = {"standard": (CONFIG_V1, LAYER_TAR_GZIP), "redhat": (REDHAT_CONFIG, REDHAT_LAYER_TAR_GZIP)}
"""(config, layer) media types per profile, as the Go tool's ``--media-type`` names them."""

REF_NAME: Final = "org.opencontainers.image.ref.name"
TITLE: Final = "org.opencontainers.image.title"
DESCRIPTION: Final = "org.opencontainers.image.description"
VERSION: Final = "org.opencontainers.image.version"
AUTHORS: Final = "org.opencontainers.image.authors"
LICENSES: Final = "org.opencontainers.image.licenses"
VENDOR: Final = "org.opencontainers.image.vendor"
CREATED: Final = "org.opencontainers.image.created"
SOURCE: Final = "org.opencontainers.image.source"
REVISION: Final = "org.opencontainers.image.revision"
STATUS: Final = "io.skillimage.status"
SKILL_TAGS: Final = "io.skillimage.tags"
COMPATIBILITY: Final = "io.skillimage.compatibility"
WORDCOUNT: Final = "io.skillimage.wordcount"
DEPENDENCIES: Final = "io.skillimage.dependencies"
"""``spec.dependencies`` as compact JSON, only on skills that have some (the Go tool writes none)."""
REPOSITORY: Final = "io.skillctl.repository"
"""Local-only: the repository of an untagged (archived, digest-only) store entry."""
PACKED_AT: Final = "io.skillctl.packed-at"
"""Local-only: when this store entry was packed. Kept in index.json, outside every digest."""

_GO_ESCAPES: Final = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
    "\b": "\\u0008",
    "\f": "\\u000c",
}


def media_profile(name: str | None) -> tuple[str, str]:
    """(config, layer) media types of a profile; the name is trimmed and case-insensitive, as in the Go tool."""
    from skillctl.core.errors import UsageError

    key = (name or "standard").strip().lower() or "standard"
    if key not in MEDIA_PROFILES:
        raise UsageError(f"unknown media type profile {name!r} (valid: {', '.join(MEDIA_PROFILES)})")
    return MEDIA_PROFILES[key]


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _go_string(value: str) -> str:
    encoded = json.dumps(value, ensure_ascii=False)
    if not any(ch in value for ch in _GO_ESCAPES):
        return encoded
    # Re-encode character by character so escapes are never applied inside an
    # existing escape sequence.
    parts = ['"']
    for ch in value:
        parts.append(_GO_ESCAPES.get(ch) or json.dumps(ch, ensure_ascii=False)[1:-1])
    parts.append('"')
    return "".join(parts)


def go_json(value: Any) -> bytes:
    """Serialise like Go's encoding/json: compact, insertion order, Go's string escapes."""
    return _go_encode(value).encode("utf-8")


def _go_encode(value: Any) -> str:
    if isinstance(value, str):
        return _go_string(value)
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{_go_string(str(k))}:{_go_encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_go_encode(v) for v in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__}")


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Descriptor:
        return cls(str(data["mediaType"]), str(data["digest"]), int(data["size"]))


def build_config(diff_id: str, *, created: str | None = None) -> bytes:
    """The standard OCI image config (Go ``ocispec.Image`` field order)."""
    config: dict[str, Any] = {}
    if created:
        config["created"] = created
    config.update(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
    )
    return go_json(config)


def build_manifest(config: Descriptor, layers: list[Descriptor], annotations: Mapping[str, str]) -> bytes:
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_V1,
        "config": config.to_json(),
        "layers": [layer.to_json() for layer in layers],
    }
    if annotations:
        manifest["annotations"] = dict(sorted(annotations.items()))
    return go_json(manifest)


def is_image_manifest(raw: bytes) -> bool:
    """Whether ``raw`` is a single-image manifest (not an index, a list or something else)."""
    try:
        data = json.loads(raw)
    except ValueError:
        return False
    media_type = data.get("mediaType") if isinstance(data, dict) else None
    return isinstance(data, dict) and media_type in (MANIFEST_V1, DOCKER_MANIFEST_V2, None) and "config" in data


@dataclass(frozen=True)
class Manifest:
    """A parsed image manifest, with the exact bytes it came from."""

    raw: bytes
    digest: str
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: dict[str, str]

    @classmethod
    def parse(cls, raw: bytes, *, digest: str | None = None, source: str = "manifest") -> Manifest:
        from skillctl.core.errors import IntegrityError

        actual = sha256_digest(raw)
        if digest and digest != actual:
            raise IntegrityError(f"{source}: content digest {actual} does not match {digest}")
        try:
            data = json.loads(raw)
            media_type = data.get("mediaType") or MANIFEST_V1
            if media_type not in (MANIFEST_V1, DOCKER_MANIFEST_V2):
                raise ValueError(f"unsupported manifest media type {media_type!r}")
            return cls(
                raw=raw,
                digest=actual,
                media_type=media_type,
                config=Descriptor.from_json(data["config"]),
                layers=tuple(Descriptor.from_json(layer) for layer in data.get("layers") or []),
                annotations={str(k): str(v) for k, v in (data.get("annotations") or {}).items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise IntegrityError(f"{source}: not a valid image manifest ({exc})") from None

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(self.media_type, self.digest, len(self.raw))
