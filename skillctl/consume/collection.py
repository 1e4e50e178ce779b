"""Skill collections (``kind: SkillCollection``): a named list of skill images handled together.

Stored in registries as an OCI artifact, as the Go tool does: artifactType and
layer ``application/vnd.skillimage.collection.v1+yaml`` (the YAML bytes), the
empty config. Unlike the Go tool, every image reference is validated (it must
name a registry), ``volume`` and ``generate`` accept a registry reference as
well as a file, ``generate`` prints a complete manifest (the ``kube``
generator), and ``install`` is atomic per skill and reports each outcome.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from skillctl.backends.base import Capability, RegistryOptions
from skillctl.card.skillcard import load_schema
from skillctl.card.skillmd import NAME_RE
from skillctl.consume.gitsource import GitSource, parse_source
from skillctl.core import oci
from skillctl.core.errors import DeadlineExceeded, InvalidSkillError, SkillctlError, UsageError
from skillctl.core.findings import Finding
from skillctl.core.refs import parse_reference
from skillctl.core.yamlsafe import decode_utf8, load_yaml, read_text
from skillctl.registry.selection import capable, select
from skillctl.store.layout import Store

ARTIFACT_TYPE: Final = "application/vnd.skillimage.collection.v1+yaml"
EMPTY_CONFIG: Final = "application/vnd.oci.empty.v1+json"
COLLECTION_NAME: Final = "io.skillimage.collection.name"
SCHEMA_FILE: Final = "skillcollection-v1.json"


@dataclass(frozen=True)
class CollectionSkill:
    name: str
    image: str
    source: str | None = None  # a Git URL instead of an image (``image`` is then "")


@dataclass
class Collection:
    name: str
    version: str
    description: str
    skills: list[CollectionSkill]
    raw: bytes = field(repr=False, default=b"")


def parse_collection(raw: bytes, *, source: str) -> Collection:
    """Parse and validate collection YAML; every problem is reported at once."""
    from jsonschema import Draft202012Validator

    doc = load_yaml(decode_utf8(raw, source=source), source=source)
    validator = Draft202012Validator(load_schema(SCHEMA_FILE))
    problems = [
        Finding(source, ".".join(map(str, e.absolute_path)) or "(root)", e.message) for e in validator.iter_errors(doc)
    ]
    # The entries are checked even when the schema found problems elsewhere: every problem at once.
    entries = doc.get("skills") if isinstance(doc, dict) else None
    seen: set[str] = set()
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        field_name = f"skills.{i}"
        if not isinstance(entry, dict):
            continue  # reported by the schema
        if "source" in entry and "image" in entry:
            problems.append(Finding(source, field_name, "'image' and 'source' are mutually exclusive"))
            continue
        if "source" in entry:
            if not isinstance(entry["source"], str):
                continue  # reported by the schema
            try:
                git = parse_source(entry["source"])
            except UsageError as exc:
                problems.append(Finding(source, f"{field_name}.source", exc.message))
                continue
            name = entry.get("name") or _source_name(git)
            if not NAME_RE.fullmatch(name):
                problems.append(
                    Finding(source, field_name, f"cannot take a skill name from the URL ({name!r}); add name:")
                )
                continue
            if name in seen:
                problems.append(Finding(source, f"{field_name}.name", f"duplicate skill name {name!r}"))
            seen.add(name)
            continue
        if "image" not in entry:
            problems.append(Finding(source, field_name, "'image' or 'source' is required"))
            continue
        if not isinstance(entry["image"], str):
            continue  # reported by the schema
        try:
            ref = parse_reference(entry["image"], what="image reference")
        except UsageError as exc:
            problems.append(Finding(source, f"{field_name}.image", exc.message))
            continue
        if not ref.is_remote:
            problems.append(Finding(source, f"{field_name}.image", f"{entry['image']!r} must name a registry"))
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            name = ref.name
        if name in seen:
            problems.append(Finding(source, f"{field_name}.name", f"duplicate skill name {name!r}"))
        seen.add(name)
    if problems:
        raise InvalidSkillError(
            f"{source}: invalid collection ({len(problems)} problem{'s' if len(problems) != 1 else ''})",
            problems=[str(p) for p in problems],
        )
    meta = doc["metadata"]
    skills = [
        CollectionSkill(e.get("name") or _source_name(parse_source(e["source"])), "", e["source"])
        if "source" in e
        else CollectionSkill(e.get("name") or parse_reference(e["image"]).name, e["image"])
        for e in doc["skills"]
    ]
    return Collection(meta["name"], str(meta["version"]), meta.get("description", ""), skills, raw)


def _source_name(git: GitSource) -> str:
    """A skill's default name from its Git source: the last folder of the path, else the repository name."""
    last = git.subpath.rstrip("/").rsplit("/", 1)[-1] or git.clone_url.rstrip("/").rsplit("/", 1)[-1]
    return last.removesuffix(".git").lower()


def images_only(collection: Collection, *, what: str) -> list[CollectionSkill]:
    """The skills of a collection that have images; Git sources cannot be mounted or pulled by reference."""
    sources = [s.name for s in collection.skills if s.source]
    if sources:
        raise UsageError(
            f"{what} needs images; these entries are Git sources: {', '.join(sources)}",
            hint="install the collection instead, or publish those skills as images",
        )
    return collection.skills


def load_file(path: str | Path) -> Collection:
    p = Path(path)
    return parse_collection(read_text(p).encode("utf-8"), source=str(p))


def build_artifact(store: Store, collection: Collection, ref: str) -> oci.Manifest:
    """Write the collection as an OCI artifact into the store, tagged ``ref``."""
    created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with store.writing():
        config = b"{}"
        config_desc = oci.Descriptor(EMPTY_CONFIG, store.put_blob(config), len(config))
        layer_desc = oci.Descriptor(ARTIFACT_TYPE, store.put_blob(collection.raw), len(collection.raw))
        annotations = {
            oci.TITLE: collection.name,
            oci.VERSION: collection.version,
            oci.CREATED: created,
            COLLECTION_NAME: collection.name,
        }
        if collection.description:
            annotations[oci.DESCRIPTION] = collection.description
        data: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": oci.MANIFEST_V1,
            "artifactType": ARTIFACT_TYPE,
            "config": config_desc.to_json(),
            "layers": [layer_desc.to_json()],
            "annotations": dict(sorted(annotations.items())),
        }
        raw = oci.go_json(data)
        store.put_blob(raw)
        manifest = oci.Manifest.parse(raw)
        store.set_tag(parse_reference(ref).store_name, manifest.descriptor, annotations)
    return manifest


def read_artifact(store: Store, manifest: oci.Manifest, *, source: str) -> Collection:
    if len(manifest.layers) != 1 or manifest.layers[0].media_type != ARTIFACT_TYPE:
        raise InvalidSkillError(f"{source}: not a skill collection (no {ARTIFACT_TYPE} layer)")
    return parse_collection(store.read_blob(manifest.layers[0].digest), source=source)


def push(
    ref: str,
    path: str | Path,
    *,
    store: Store | None = None,
    backend: str | None = None,
    opts: RegistryOptions | None = None,
) -> tuple[Collection, str]:
    """Validate a collection file, store it as an artifact and push it; returns (collection, digest)."""
    from skillctl.registry.transfer import push as push_image

    store = store or Store()
    opts = (opts or RegistryOptions()).started()
    collection = load_file(path)
    target = parse_reference(ref)
    if not target.is_remote:
        raise UsageError(f"{ref}: not a registry reference")
    build_artifact(store, collection, ref)
    chosen = capable(select(backend, env=opts.env), Capability.EXACT, operation="push OCI artifacts unchanged")
    result = push_image(ref, store=store, backend=chosen.name, opts=opts)
    return collection, result.digest


def load(
    source: str | Path,
    *,
    is_file: bool,
    store: Store | None = None,
    backend: str | None = None,
    opts: RegistryOptions | None = None,
) -> Collection:
    """A collection from a file, its registry, or (a reference without registry host) the local store."""
    if is_file:
        return load_file(source)
    from skillctl.core.errors import NotFoundError

    store = store or Store()
    opts = (opts or RegistryOptions()).started()
    ref = str(source)
    if not parse_reference(ref).is_remote:  # a registry reference is always re-read: its tag may have moved
        with contextlib.suppress(NotFoundError):
            entry = store.resolve(ref)
            return read_artifact(store, store.manifest(entry.digest), source=ref)
    from skillctl.registry.transfer import pull

    chosen = capable(select(backend, env=opts.env), Capability.EXACT, operation="pull OCI artifacts unchanged")
    result = pull(ref, store=store, backend=chosen.name, opts=opts)
    return read_artifact(store, store.manifest(result.digest), source=ref)


def volume_script(collection: Collection, *, mount_root: str = "/skills") -> str:
    """podman commands creating one image volume per skill, and a run line mounting them read-only."""
    images_only(collection, what="collection volume")
    from skillctl.consume.kube import check_mount_root

    root = check_mount_root(mount_root)
    lines = [f"# collection {collection.name} {collection.version}"]
    mounts = []
    for skill in collection.skills:
        image = shlex.quote(skill.image)
        volume = f"skill-{skill.name}"
        lines += [f"podman pull {image}", f"podman volume create --driver image --opt image={image} {volume}"]
        mounts.append(f"  -v {shlex.quote(f'{volume}:{root}/{skill.name}:ro')} \\")
    lines += [
        "",
        "# then run your agent with every skill mounted read-only:",
        "podman run --rm \\",
        *mounts,
        "  AGENT_IMAGE",
    ]
    return "\n".join(lines) + "\n"


@dataclass
class SkillOutcome:
    name: str
    image: str
    status: str  # installed, up-to-date, failed
    detail: str = ""

    def to_json(self) -> dict[str, str]:
        return dict(self.__dict__)


def install(
    collection: Collection,
    dest: Any,
    *,
    store: Store | None = None,
    backend: str | None = None,
    opts: RegistryOptions | None = None,
    force: bool = False,
    allow_archived: bool = False,
) -> list[SkillOutcome]:
    """Install every skill (each atomically); one failure does not stop the others."""
    from skillctl.consume.install import install as install_skill
    from skillctl.consume.install import read_receipt

    store = store or Store()
    opts = (opts or RegistryOptions()).started()
    outcomes = []
    for skill in collection.skills:
        try:
            if skill.source:
                outcomes.append(_install_source(skill, dest, store=store, force=force))
                continue
            if not force:
                receipt = read_receipt(dest.path, skill.name)
                if receipt and (dest.path / skill.name).is_dir():
                    from skillctl.registry.remote import inspect_remote

                    current = inspect_remote(skill.image, backend=backend, opts=opts).digest
                    if receipt.digest == current:
                        outcomes.append(SkillOutcome(skill.name, skill.image, "up-to-date", current))
                        continue
            result = install_skill(
                skill.image,
                dest,
                store=store,
                backend=backend,
                opts=opts,
                allow_archived=allow_archived,
                name=skill.name,
            )
            outcomes.append(SkillOutcome(skill.name, skill.image, "installed", result.digest))
        except DeadlineExceeded:
            raise  # the command is out of time, not this skill
        except SkillctlError as exc:
            outcomes.append(SkillOutcome(skill.name, skill.image or skill.source or "", "failed", str(exc)))
    return outcomes


def _install_source(skill: CollectionSkill, dest: Any, *, store: Store, force: bool) -> SkillOutcome:
    """Clone, pack (reproducibly) and install a Git source; the same commit gives the same digest."""
    from skillctl.consume.gitsource import pack_source
    from skillctl.consume.install import install as install_skill
    from skillctl.consume.install import read_receipt

    assert skill.source is not None
    ref, digest, commit = pack_source(parse_source(skill.source), name=skill.name, store=store)
    receipt = read_receipt(dest.path, skill.name)
    if not force and receipt and receipt.digest == digest and (dest.path / skill.name).is_dir():
        return SkillOutcome(skill.name, skill.source, "up-to-date", digest)
    install_skill(ref, dest, store=store, refresh=False, name=skill.name, source=f"{skill.source}@{commit}")
    return SkillOutcome(skill.name, skill.source, "installed", digest)
