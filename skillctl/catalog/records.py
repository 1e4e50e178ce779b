"""What the catalog knows about a skill version or a collection, and how it reads that from a manifest.

The fields and their JSON names are the Go skillctl's catalog (``skills`` and
``collections`` rows), so its REST clients keep working; ours add a few fields
(``registry``, ``ref``, ``signed``, ``size``) that Go's clients ignore.
Everything comes from the manifest and its annotations: indexing never
downloads a layer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final

from skillctl.consume.collection import ARTIFACT_TYPE as COLLECTION_ARTIFACT
from skillctl.core import oci

GO_SKILL_FIELDS: Final = (
    "repository",
    "tag",
    "digest",
    "name",
    "namespace",
    "version",
    "status",
    "display_name",
    "description",
    "authors",
    "license",
    "tags_json",
    "compatibility",
    "word_count",
    "created",
    "synced_at",
)
"""The Go tool's ``store.Skill`` JSON fields, in its order."""

GO_COLLECTION_FIELDS: Final = (
    "repository",
    "tag",
    "digest",
    "name",
    "version",
    "description",
    "skills_json",
    "created",
    "synced_at",
)
"""The Go tool's ``store.Collection`` JSON fields, in its order."""

EXTRA_SKILL_FIELDS: Final = ("registry", "ref", "signed", "size")
"""Ours, after Go's: where the version lives, its full reference, whether a signature is attached, layer bytes."""


@dataclass(frozen=True)
class SkillVersion:
    """One tag of one repository that holds a skill image."""

    registry: str  # the registry host; "" for the local store
    repository: str  # the path on the registry (Go's ``repository``); the full store name for the store
    tag: str
    digest: str
    name: str
    namespace: str
    version: str
    status: str
    display_name: str = ""
    description: str = ""
    authors: str = ""
    license: str = ""
    tags_json: str = ""
    compatibility: str = ""
    word_count: int = 0
    created: str = ""
    synced_at: str = ""
    signed: bool = False
    size: int = 0
    manifest: bytes = field(default=b"", repr=False, compare=False)

    @property
    def image(self) -> str:
        """The repository as a reference (``HOST/path``, or the store name)."""
        return f"{self.registry}/{self.repository}" if self.registry else self.repository

    @property
    def ref(self) -> str:
        return f"{self.image}:{self.tag}"

    @property
    def pinned(self) -> str:
        """The reference pinned to its digest: what install, pull and kube commands should use."""
        return f"{self.image}@{self.digest}"

    @property
    def skill_tags(self) -> list[str]:
        return parse_tags(self.tags_json)

    def to_json(self) -> dict[str, Any]:
        """Go's field names and order, then ours."""
        data: dict[str, Any] = {name: getattr(self, name) for name in GO_SKILL_FIELDS}
        data.update(registry=self.registry, ref=self.ref, signed=self.signed, size=self.size)
        return data


@dataclass(frozen=True)
class CollectionRecord:
    registry: str
    repository: str
    tag: str
    digest: str
    name: str
    version: str
    description: str
    skills_json: str
    created: str = ""
    synced_at: str = ""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {name: getattr(self, name) for name in GO_COLLECTION_FIELDS}
        data["registry"] = self.registry
        return data


def parse_tags(tags_json: str) -> list[str]:
    """The ``io.skillimage.tags`` annotation (a JSON list of strings); anything else gives no tags."""
    try:
        value = json.loads(tags_json) if tags_json else []
    except ValueError:
        return []
    return [t for t in value if isinstance(t, str) and t] if isinstance(value, list) else []


def skill_from_manifest(registry: str, repository: str, tag: str, manifest: oci.Manifest) -> SkillVersion | None:
    """A catalog entry from a manifest's annotations; None when it is not a skill image.

    As in the Go tool, a skill image is one with an ``io.skillimage.status`` annotation; the
    name is the repository's last segment and the namespace the vendor annotation.
    """
    ann = manifest.annotations
    status = ann.get(oci.STATUS)
    if status is None:
        return None
    try:
        words = int(ann.get(oci.WORDCOUNT) or 0)
    except ValueError:
        words = 0
    return SkillVersion(
        registry=registry,
        repository=repository,
        tag=tag,
        digest=manifest.digest,
        name=repository.rsplit("/", 1)[-1],
        namespace=ann.get(oci.VENDOR, ""),
        version=ann.get(oci.VERSION, ""),
        status=status,
        display_name=ann.get(oci.TITLE, ""),
        description=ann.get(oci.DESCRIPTION, ""),
        authors=ann.get(oci.AUTHORS, ""),
        license=ann.get(oci.LICENSES, ""),
        tags_json=ann.get(oci.SKILL_TAGS, ""),
        compatibility=ann.get(oci.COMPATIBILITY, ""),
        word_count=max(0, words),
        created=ann.get(oci.CREATED, ""),
        size=sum(layer.size for layer in manifest.layers),
        manifest=manifest.raw,
    )


def is_collection(raw: bytes) -> bool:
    """A SkillCollection artifact (artifactType, or its one YAML layer)."""
    try:
        data = json.loads(raw)
    except ValueError:
        return False
    if not isinstance(data, dict):
        return False
    if data.get("artifactType") == COLLECTION_ARTIFACT:
        return True
    layers = data.get("layers")
    return (
        isinstance(layers, list)
        and len(layers) == 1
        and isinstance(layers[0], dict)
        and layers[0].get("mediaType") == COLLECTION_ARTIFACT
    )
