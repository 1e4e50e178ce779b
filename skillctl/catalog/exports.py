"""The catalog's skills as the documents of the registries next door: an AI Catalog (``application/ai-catalog+json``,
spec v0.9), a Claude Code plugin marketplace (``.claude-plugin/marketplace.json`` and its plugin directories), and
agent-registry ``RegistryArtifact`` documents (one per version, for its ``POST /api/v1/skills``).

Every entry points at the image pinned to its digest. Which versions go in is ``selection``'s rule (published by
default); content (SKILL.md frontmatter, a marketplace's files) is read through the catalog's verified unpack.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from skillctl.card.skillmd import frontmatter_json
from skillctl.catalog.records import SkillVersion
from skillctl.catalog.selection import in_states, select
from skillctl.core import oci
from skillctl.core.errors import ConflictError, SkillctlError, UsageError
from skillctl.core.logs import get_logger

log = get_logger(__name__)

FORMATS: Final = ("ai-catalog", "claude-marketplace", "agent-registry")
AI_CATALOG_VERSION: Final = "0.9"
AI_CATALOG_MEDIA_TYPE: Final = "application/ai-catalog+json"
EXTENSION_KEY: Final = "io.skillimage"
AGENT_REGISTRY_STATES: Final = {
    "draft": "draft",
    "testing": "evaluated",
    "published": "published",
    "deprecated": "deprecated",
    "archived": "archived",
}
"""Our five lifecycle states in agent-registry's six (draft, evaluated, approved, published, deprecated, archived):
testing is what agent-registry calls evaluated; nothing of ours is only "approved" (published implies it)."""
_TAG_RE: Final = re.compile(r"^[a-z0-9][a-z0-9-]*[a-z0-9]$")
_SEMVER_RE: Final = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
    r"(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
_DOMAIN_RE: Final = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


@dataclass
class Export:
    """A document (or, for a marketplace, the marketplace file) and the versions left out, with why."""

    format: str
    document: Any
    skipped: list[dict[str, str]] = field(default_factory=list)
    versions: list[SkillVersion] = field(default_factory=list)  # a marketplace's, in the order of its plugins


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: not one of {', '.join(FORMATS)}")
    return fmt


def _authors(text: str) -> list[dict[str, str]]:
    """``Name <email>, Other`` (the authors annotation) as ``[{name, email}]``."""
    out = []
    for part in (p.strip() for p in text.split(",")):
        match = re.match(r"^(.*?)\s*<([^<>\s]+@[^<>\s]+)>$", part)
        if match and match.group(1):
            out.append({"name": match.group(1), "email": match.group(2)})
        elif part:
            out.append({"name": part})
    return out


def _manifest_url(version: SkillVersion, plain_http: bool) -> str:
    scheme = "http" if plain_http else "https"
    return f"{scheme}://{version.registry}/v2/{version.repository}/manifests/{version.digest}"


def _identifier(version: SkillVersion, publisher: str | None) -> str:
    if publisher:
        segments = [s for s in version.namespace.split("/") if s]
        return ":".join(["urn:air", publisher, "skill", *segments, version.name])
    if version.registry:
        return f"oci://{version.image}"
    return f"oci-layout:{version.repository}"


def ai_catalog(
    versions: Sequence[SkillVersion],
    *,
    states: frozenset[str] = frozenset({"published"}),
    publisher: str | None = None,
    plain_http: bool = False,
    host: str = "skillctl",
) -> Export:
    """One entry per version in ``states`` (an artifact's versions share its identifier), each pointing at its
    manifest by digest: the registry's manifest URL, or the manifest itself for the local store."""
    if publisher is not None and not _DOMAIN_RE.match(publisher):
        raise UsageError(f"--publisher {publisher!r}: a domain name is expected (urn:air:{{publisher}}:...)")
    entries = []
    skipped = []
    for v in in_states(versions, states):
        entry: dict[str, Any] = {"identifier": _identifier(v, publisher), "type": oci.MANIFEST_V1}
        if v.registry:
            entry["url"] = _manifest_url(v, plain_http)
        elif v.manifest:
            entry["data"] = json.loads(v.manifest)
        else:
            skipped.append({"ref": v.ref, "reason": "its manifest is not at hand"})
            continue
        entry["displayName"] = v.display_name or v.name
        if v.description:
            entry["description"] = v.description
        if v.skill_tags:
            entry["tags"] = v.skill_tags
        if v.version:
            entry["version"] = v.version
        if v.created:
            entry["updatedAt"] = v.created
        if publisher:
            entry["publisher"] = {"identifier": publisher, "displayName": publisher, "identityType": "dns"}
        entry["extensions"] = {
            EXTENSION_KEY: {
                "reference": v.pinned,
                "digest": v.digest,
                "tag": v.tag,
                "state": v.status,
                "namespace": v.namespace,
                "name": v.name,
            }
        }
        entries.append(entry)
    return Export(
        "ai-catalog", {"specVersion": AI_CATALOG_VERSION, "host": {"displayName": host}, "entries": entries}, skipped
    )


def agent_registry(
    versions: Sequence[SkillVersion],
    skill_md: Callable[[SkillVersion], str | None],
    *,
    states: frozenset[str] = frozenset({"published"}),
) -> Export:
    """One ``RegistryArtifact`` per version in ``states``: identity, the OCI reference and digest, the SKILL.md
    frontmatter as JSON (``skill_md`` reads it from the verified layer), metadata, and the mapped ``status``."""
    docs = []
    skipped = []
    for v in in_states(versions, states):
        if not _SEMVER_RE.match(v.version):
            skipped.append({"ref": v.ref, "reason": f"version {v.version!r} is not semver, which agent-registry needs"})
            continue
        try:
            text = skill_md(v)
        except SkillctlError as exc:
            skipped.append({"ref": v.ref, "reason": f"its SKILL.md could not be read: {exc.message}"})
            continue
        frontmatter = frontmatter_json(text) if text is not None else None
        if frontmatter is None:
            skipped.append({"ref": v.ref, "reason": "no SKILL.md frontmatter"})
            continue
        description = v.description or str(frontmatter.get("description") or "") or v.name
        metadata: dict[str, Any] = {
            "labels": {"io.skillimage.status": v.status, "io.skillimage.tag": v.tag[:256]},
        }
        tags = [t for t in dict.fromkeys(v.skill_tags) if len(t) <= 64 and _TAG_RE.match(t)][:32]
        if tags:
            metadata["tags"] = tags
        authors = _authors(v.authors)[:16]
        if authors:
            metadata["authors"] = authors
        if v.license:
            metadata["license"] = v.license
        if v.created:
            metadata["createdAt"] = v.created
        doc: dict[str, Any] = {
            "identity": {
                "name": f"{v.namespace or 'local'}/{v.name}",
                "version": v.version,
                "title": (v.display_name or v.name)[:128],
                "description": description[:512],
            },
            "kind": "skill",
            "artifacts": [
                {
                    "oci": v.pinned,
                    "mediaType": oci.MANIFEST_V1,
                    "digest": v.digest,
                    "platform": {"os": "linux", "architecture": "amd64"},
                }
            ],
            "skillMd": frontmatter,
            "metadata": metadata,
            "status": AGENT_REGISTRY_STATES[v.status],
            "content": {"entrypoint": "SKILL.md"},
        }
        if v.status == "deprecated":
            doc["deprecation"] = {"reason": f"deprecated in its OCI repository ({v.image}, io.skillimage.status)"}
        docs.append(doc)
    return Export("agent-registry", docs, skipped)


def claude_marketplace(
    versions: Sequence[SkillVersion],
    *,
    states: frozenset[str] = frozenset({"published"}),
    name: str = "skillctl-skills",
    owner: str = "skillctl",
) -> Export:
    """A ``marketplace.json`` with one plugin per skill (its highest version in ``states``), each a directory
    ``./plugins/<plugin>/skills/<name>/`` holding the image's files (``write_marketplace`` writes them): Claude Code
    takes plugins from Git, npm or relative paths, not from OCI registries, so the files travel with the file."""
    plugins = []
    chosen = select(versions, states)
    counts: dict[str, int] = {}
    for v in chosen:
        counts[v.name] = counts.get(v.name, 0) + 1
    for v in chosen:
        plugin = v.name if counts[v.name] == 1 else "-".join([*v.namespace.split("/"), v.name]).strip("-")
        entry: dict[str, Any] = {
            "name": plugin,
            "source": f"./plugins/{plugin}",
            "description": v.description or v.display_name or v.name,
            "version": v.version,
            "strict": False,
        }
        authors = _authors(v.authors)
        if authors:
            entry["author"] = authors[0]
        if v.license:
            entry["license"] = v.license
        if v.skill_tags:
            entry["keywords"] = v.skill_tags
        entry["tags"] = [f"oci:{v.pinned}"]  # where the files came from, pinned, for people reading the marketplace
        plugins.append(entry)
    doc = {
        "name": name,
        "owner": {"name": owner},
        "metadata": {"description": "Agent skills from OCI images, exported by skillctl (each pinned to its digest)"},
        "plugins": plugins,
    }
    return Export("claude-marketplace", doc, [], list(chosen))


def write_marketplace(
    export: Export,
    tree: Callable[[SkillVersion], Path],
    dest: Path,
    *,
    force: bool = False,
) -> list[dict[str, str]]:
    """Write ``dest/.claude-plugin/marketplace.json`` and every plugin's skill files (from ``tree``: the version
    unpacked from its verified layers), all at once: built beside ``dest`` and renamed into place.

    Raises:
        ConflictError: ``dest`` exists and is not empty (without ``force``).
    """
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()) and not force:
        raise ConflictError(f"{dest}: exists and is not empty", hint="choose another directory, or pass --force")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    skipped = []
    try:
        kept = []
        for plugin, version in zip(export.document["plugins"], export.versions, strict=True):
            try:
                source = tree(version)
            except SkillctlError as exc:
                skipped.append({"ref": version.ref, "reason": exc.message})
                continue
            shutil.copytree(source, tmp / "plugins" / plugin["name"] / "skills" / version.name, symlinks=True)
            kept.append(plugin)
        export.document["plugins"] = kept
        (tmp / ".claude-plugin").mkdir()
        (tmp / ".claude-plugin" / "marketplace.json").write_text(json.dumps(export.document, indent=2) + "\n")
        os.chmod(tmp, 0o755)
        if dest.exists():
            shutil.rmtree(dest)
        os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return skipped


def export_sources(
    sources: Sequence[Any],
    fmt: str,
    *,
    opts: Any = None,
    backend: str | None = None,
    states: frozenset[str] = frozenset({"published"}),
    publisher: str | None = None,
    output: Path | None = None,
    force: bool = False,
) -> Export:
    """Index ``sources`` once (registries and/or the store) and export them in ``fmt``.

    ``output`` is required for ``claude-marketplace`` (the marketplace is a directory); for the others it is written
    atomically when given. A source that cannot be read fails the export rather than leave it out silently.

    Raises:
        NetworkError / AuthError: a source could not be read.
        UsageError: a bad format, publisher, or a marketplace without ``output``.
    """
    from skillctl.backends.base import RegistryOptions
    from skillctl.catalog.service import Catalog, CatalogSettings
    from skillctl.core.errors import NetworkError
    from skillctl.core.fsutil import atomic_write

    check_format(fmt)
    if fmt == "claude-marketplace" and output is None:
        raise UsageError("--format claude-marketplace writes a directory: give -o DIR")
    opts = opts or RegistryOptions()
    catalog = Catalog(CatalogSettings(sources=list(sources), opts=opts, backend=backend))
    try:
        report = catalog.sync()
        if not report.ok:
            name, error = next(iter(report.errors.items()))
            raise NetworkError(f"{name}: {error}", hint="the export would miss its skills; fix the source and retry")
        versions = catalog.index.all_versions()
        if fmt == "ai-catalog":
            export = ai_catalog(versions, states=states, publisher=publisher, plain_http=not opts.tls_verify)
        elif fmt == "agent-registry":
            export = agent_registry(versions, _skill_md(catalog), states=states)
        else:
            export = claude_marketplace(versions, states=states)
            assert output is not None
            export.skipped += write_marketplace(export, catalog.content.tree, output, force=force)
            return export
        if output is not None:
            atomic_write(Path(output), (json.dumps(export.document, indent=2) + "\n").encode())
        return export
    finally:
        catalog.close()


def _skill_md(catalog: Any) -> Callable[[SkillVersion], str | None]:
    def read(version: SkillVersion) -> str | None:
        found = catalog.skill_md(version)
        return found[1] if found else None

    return read
