"""Skill collections (``kind: SkillCollection``): a named list of skill images handled together.

Stored in registries as an OCI artifact, as the Go tool does: artifactType and
layer ``application/vnd.skillimage.collection.v1+yaml`` (the YAML bytes), the
empty config. Entries resolve as the Go tool resolves them: an image reference
without a registry host is a local-store image; a Git ``source:`` installs
under the name of the skill found there (unless the entry has ``name:``).
Unlike the Go tool, every image reference is parsed, ``volume`` and
``generate`` accept a registry reference as well as a file, ``generate``
prints a complete manifest (the ``kube`` generator), and ``install`` is atomic
per skill and reports each outcome. An image entry may leave out ``name:``
here, but ``push`` refuses that: the Go tool's ``collection install`` would.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from skillctl.backends.base import Capability, RegistryOptions
from skillctl.card.skillcard import load_schema, schema_message
from skillctl.consume.gitsource import parse_source
from skillctl.core import oci
from skillctl.core.errors import DeadlineExceeded, InvalidSkillError, SkillctlError, UsageError
from skillctl.core.findings import Finding
from skillctl.core.progress import SILENT, Progress, running
from skillctl.core.refs import parse_reference
from skillctl.core.yamlsafe import TextLoader, decode_utf8, load_yaml, read_text
from skillctl.registry.selection import capable, select
from skillctl.store.layout import Store

ARTIFACT_TYPE: Final = "application/vnd.skillimage.collection.v1+yaml"
EMPTY_CONFIG: Final = "application/vnd.oci.empty.v1+json"
COLLECTION_NAME: Final = "io.skillimage.collection.name"
SCHEMA_FILE: Final = "skillcollection-v1.json"


@dataclass(frozen=True)
class CollectionSkill:
    name: str  # "" for a Git source without name: (the skill found there names it)
    image: str
    source: str | None = None  # a Git URL instead of an image (``image`` is then "")
    named: bool = True  # whether the entry says name: (the Go tool requires it for images)

    @property
    def label(self) -> str:
        """How the entry is shown before it is installed."""
        if self.name:
            return self.name
        git = parse_source(self.source or "")
        return git.subpath.rstrip("/").rsplit("/", 1)[-1] or git.repo_name


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

    doc = load_yaml(decode_utf8(raw, source=source), source=source, loader=TextLoader)
    validator = Draft202012Validator(load_schema(SCHEMA_FILE))
    problems = [Finding(source, *schema_message(e)) for e in validator.iter_errors(doc)]
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
                parse_source(entry["source"])
            except UsageError as exc:
                problems.append(Finding(source, f"{field_name}.source", exc.message))
                continue
            name = entry.get("name")
            if isinstance(name, str) and name:
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
        CollectionSkill(e.get("name") or "", "", e["source"], named=bool(e.get("name")))
        if "source" in e
        else CollectionSkill(e.get("name") or parse_reference(e["image"]).name, e["image"], named=bool(e.get("name")))
        for e in doc["skills"]
    ]
    return Collection(meta["name"], str(meta["version"]), meta.get("description", ""), skills, raw)


def images_only(collection: Collection, *, what: str) -> list[CollectionSkill]:
    """The skills of a collection that have images; Git sources cannot be mounted or pulled by reference."""
    sources = [s.label for s in collection.skills if s.source]
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
    unnamed = [f"skills.{i}" for i, s in enumerate(collection.skills) if s.image and not s.named]
    if unnamed:
        raise InvalidSkillError(
            f"{path}: image entries without name: ({', '.join(unnamed)}); "
            "the Go skillctl refuses to install such a collection",
            hint="add name: to each image entry (the name of the directory it installs into)",
        )
    build_artifact(store, collection, ref)
    chosen = capable(select(backend, env=opts.env), Capability.EXACT, operation="push OCI artifacts unchanged")
    result = push_image(ref, store=store, backend=chosen.name, opts=opts)
    return collection, result.digest


def load_git(url: str, *, ref: str | None = None) -> Collection:
    """A collection file in a Git repository: ``https://HOST/ORG/REPO/-/tree/REF/path/collection.yaml``
    (or the GitHub form); ``ref`` overrides the URL's.

    Raises:
        UsageError: the URL names a directory, not a collection file.
    """
    from skillctl.consume.gitsource import checkout
    from skillctl.core.git import redact_url

    git = parse_source(url, ref=ref)
    with checkout(git) as co:
        if not co.root.is_file():
            raise UsageError(
                f"{redact_url(url)}: the URL must point to a collection file, not a directory",
                hint="e.g. https://HOST/ORG/REPO/-/tree/main/collection.yaml",
            )
        return parse_collection(read_text(co.root, source=redact_url(url)).encode("utf-8"), source=redact_url(url))


def load(
    source: str | Path,
    *,
    is_file: bool,
    store: Store | None = None,
    backend: str | None = None,
    opts: RegistryOptions | None = None,
    git_ref: str | None = None,
) -> Collection:
    """A collection from a file, a Git URL, its registry, or (a reference without registry host) the local store."""
    from skillctl.consume.gitsource import is_git_url

    if is_file:
        if git_ref:
            raise UsageError("--ref applies to a collection in a Git repository, not to -f FILE")
        return load_file(source)
    if is_git_url(str(source)):
        return load_git(str(source), ref=git_ref)
    if git_ref:
        raise UsageError("--ref applies to a collection in a Git repository (an https:// URL to its file)")
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
    verifier: Callable[[str, str], str] | None = None,
    verify_key: str | Path | None = None,
    no_verify: bool = False,
    progress: Progress = SILENT,
) -> list[SkillOutcome]:
    """Install every skill (each atomically); one failure does not stop the others.

    ``verifier`` (``trust.verifiers``) checks each registry image before it is installed. A skill whose
    receipt records a verification is verified the same way again (see ``install``), unless ``verify_key``
    names the key for every image or ``no_verify`` is given.
    """
    store = store or Store()
    opts = (opts or RegistryOptions()).started()
    outcomes: list[SkillOutcome] = []
    with running(progress, f"Installing {collection.name}", items=len(collection.skills), unit="skills"):
        for skill in collection.skills:
            outcomes.append(_install_entry(skill, dest, store=store, backend=backend, opts=opts, force=force,
                                           allow_archived=allow_archived, verifier=verifier, verify_key=verify_key,
                                           no_verify=no_verify))  # fmt: skip
            progress.advance(items=1)
    return outcomes


def _install_entry(
    skill: CollectionSkill, dest: Any, *, store: Store, backend: str | None, opts: RegistryOptions, force: bool,
    allow_archived: bool, verifier: Callable[[str, str], str] | None, verify_key: str | Path | None, no_verify: bool,
) -> SkillOutcome:  # fmt: skip
    """One entry of a collection, installed or reported: a failure is an outcome, the deadline is not."""
    from skillctl.consume.install import install as install_skill
    from skillctl.consume.install import read_receipt

    try:
        if skill.source:
            return _install_source(skill, dest, store=store, force=force, no_verify=no_verify)
        if not force:
            receipt = read_receipt(dest.path, skill.name)
            if receipt and (dest.path / skill.name).is_dir():
                if parse_reference(skill.image).is_remote:
                    from skillctl.registry.remote import inspect_remote

                    current = inspect_remote(skill.image, backend=backend, opts=opts).digest
                else:  # no registry host: an image of the local store, as in the Go tool
                    current = store.resolve(skill.image).digest
                if receipt.digest == current:
                    return SkillOutcome(skill.name, skill.image, "up-to-date", current)
        result = install_skill(
            skill.image,
            dest,
            store=store,
            backend=backend,
            opts=opts,
            allow_archived=allow_archived,
            name=skill.name,
            verifier=verifier,
            verify_key=verify_key,
            no_verify=no_verify,
        )
        return SkillOutcome(skill.name, skill.image, "installed", result.digest)
    except DeadlineExceeded:
        raise  # the command is out of time, not this skill
    except SkillctlError as exc:
        return SkillOutcome(skill.label, skill.image or skill.source or "", "failed", str(exc))


def _install_source(skill: CollectionSkill, dest: Any, *, store: Store, force: bool, no_verify: bool) -> SkillOutcome:
    """Clone, pack (reproducibly) and install the first skill of a Git source, as the Go tool does.

    It lands in ``<dir>/<name>`` (the entry's ``name:``, else the skill's own name). The same
    commit packs to the same digest; an install of the same commit by either tool is up to date.
    """
    from skillctl.consume.gitsource import pack_git
    from skillctl.consume.install import install as install_skill
    from skillctl.consume.install import read_receipt

    assert skill.source is not None
    result = pack_git(skill.source, store=store, first_only=True)
    (packed,) = result.skills
    if packed.error is not None:
        raise packed.error
    name = skill.name or str(packed.card["metadata"]["name"])
    receipt = read_receipt(dest.path, name)
    # Our receipt names the digest; the Go tool's skill.yaml names the commit.
    if not force and receipt and receipt.digest in (packed.digest, result.commit) and (dest.path / name).is_dir():
        return SkillOutcome(name, skill.source, "up-to-date", packed.digest)
    install_skill(
        packed.ref,
        dest,
        store=store,
        refresh=False,
        name=name,
        source=f"{skill.source}@{result.commit}",
        no_verify=no_verify,
    )
    return SkillOutcome(name, skill.source, "installed", packed.digest)
