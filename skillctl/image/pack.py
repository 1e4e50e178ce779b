"""Pack a skill directory into a reproducible FROM-scratch OCI image in the local store."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from skillctl.card.content import IGNORE_FILE, content_totals, unusable_names
from skillctl.card.dependencies import annotation_value
from skillctl.card.skillcard import SkillCard
from skillctl.card.validate import validate_skill
from skillctl.core import oci
from skillctl.core.errors import IntegrityError, SkillctlError, UnsafeContentError, UsageError
from skillctl.core.findings import Finding
from skillctl.core.refs import Reference, parse_reference, version_tag
from skillctl.image.layer import Entry, LayerInfo, collect_entries, content_totals_of, write_layer
from skillctl.image.unpack import UnpackLimits
from skillctl.store.layout import Store

MAX_DESCRIPTION_BYTES = 256

PackStatus = Literal["created", "unchanged", "moved"]


@dataclass
class PackResult:
    """What ``pack`` did: the tag, the new digest and the digest the tag had before."""

    ref: str
    digest: str
    status: PackStatus
    previous: str | None
    manifest: oci.Manifest
    layer: LayerInfo
    files: int
    warnings: list[Finding] = field(default_factory=list)


def source_date_epoch(env: Mapping[str, str] | None = None) -> int | None:
    """``SOURCE_DATE_EPOCH`` as an int, None when unset (reproducible-builds.org convention)."""
    raw = (os.environ if env is None else env).get("SOURCE_DATE_EPOCH", "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) > 253402300799:  # the last second of year 9999
        raise UsageError(
            f"SOURCE_DATE_EPOCH={raw!r} must be a whole number of seconds since 1970",
            hint="unset it, or set it to e.g. $(git log -1 --format=%ct)",
        )
    return int(raw)


def rfc3339(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _truncate_utf8(text: str, limit: int) -> str:
    return text.encode("utf-8")[:limit].decode("utf-8", errors="ignore")


def skill_annotations(card: SkillCard, *, wordcount: int, created: str | None) -> dict[str, str]:
    """Manifest annotations, as the Go skillctl writes them (its §3.3 table)."""
    meta = card.metadata
    annotations = {
        oci.TITLE: str(meta.get("display-name") or card.name),
        oci.DESCRIPTION: _truncate_utf8(card.description, MAX_DESCRIPTION_BYTES),
        oci.VERSION: card.version,
        oci.VENDOR: card.namespace,
        oci.STATUS: "draft",
    }
    authors = [f"{a['name']} <{a['email']}>" if a.get("email") else str(a["name"]) for a in meta.get("authors") or []]
    optional = {
        oci.AUTHORS: ", ".join(authors),
        oci.LICENSES: meta.get("license") or "",
        oci.CREATED: created or "",
        oci.SOURCE: card.provenance.get("source") or "",
        oci.REVISION: card.provenance.get("commit") or "",
        oci.SKILL_TAGS: json.dumps(list(meta["tags"]), separators=(",", ":")) if meta.get("tags") else "",
        oci.COMPATIBILITY: meta.get("compatibility") or "",
        oci.WORDCOUNT: str(wordcount) if wordcount > 0 else "",
        oci.DEPENDENCIES: annotation_value(card.data),
    }
    annotations.update({k: v for k, v in optional.items() if v})
    return annotations


def _content_warnings(
    root: Path, entries: list[Entry], left_out: list[str], limits: UnpackLimits | None = None
) -> list[Finding]:
    """What packing left out silently before, and sizes every consumer's default unpack limits refuse."""
    found = []
    if left_out:
        names = ", ".join(left_out[:10]) + (f", and {len(left_out) - 10} more" if len(left_out) > 10 else "")
        found.append(
            Finding(
                str(root),
                "",
                f"left out {len(left_out)} hidden file{'s' if len(left_out) != 1 else ''} or folder"
                f"{'s' if len(left_out) != 1 else ''}: {names} (re-include one with a '!PATH' line in {IGNORE_FILE})",
                "warning",
            )
        )
    limits = limits or UnpackLimits()
    size = sum(e.size for e in entries if e.kind == "file")
    if len(entries) > limits.max_files:
        found.append(
            Finding(
                str(root),
                "",
                f"{len(entries)} entries: pull and install refuse more than {limits.max_files} unless given "
                "--max-files",
                "warning",
            )
        )
    if size > limits.max_bytes:
        found.append(
            Finding(
                str(root),
                "",
                f"{size} bytes of files: pull and install refuse more than {limits.max_bytes} unless given --max-size",
                "warning",
            )
        )
    return found


def _already_pushed(store: Store, card: SkillCard, manifest: oci.Manifest, root: Path) -> list[Finding]:
    """A warning when this version of the skill went to a registry with other content (the store records pushes).

    The same version with other files means two consumers of "1.0.0" can hold different skills.
    """
    from skillctl.core.states import same_content

    pushed = []
    for name, entry in sorted(store.tagged().items()):
        ref = parse_reference(name)
        if not (ref.is_remote and ref.name == card.name and entry.annotations.get(oci.VERSION) == card.version):
            continue
        with contextlib.suppress(SkillctlError, OSError):
            if not same_content(store.manifest(entry.digest), manifest):
                pushed.append(name)
    if not pushed:
        return []
    return [
        Finding(
            str(root),
            "metadata.version",
            f"{card.version} was already pushed with other content ({', '.join(pushed[:3])}"
            f"{', …' if len(pushed) > 3 else ''}); consumers of {card.version} would get different files: "
            f"give the change a new version (skillctl version bump patch {root})",
            "warning",
        )
    ]


def _target_ref(card: SkillCard, tag: str | None) -> Reference:
    if tag and ("/" in tag or ":" in tag):
        return parse_reference(tag, what="--tag")
    return parse_reference(f"{card.repository}:{tag or version_tag(card.version, '-draft')}", what="--tag")


def created_time(root: Path, *, env: Mapping[str, str] | None = None, commit_time: int | None = None) -> int | None:
    """When the image was made, reproducibly: ``SOURCE_DATE_EPOCH``, else the Git commit time, else None.

    The commit time is ``commit_time`` when the caller knows it (a fresh clone), else
    HEAD's time when the skill's files are committed and unchanged. Never the wall
    clock: a digest must not depend on when it was computed.
    """
    epoch = source_date_epoch(env)
    if epoch is not None:
        return epoch
    if commit_time is not None:
        return commit_time
    from skillctl.core.git import clean_commit_time

    return clean_commit_time(root)


def pack(
    path: str | Path,
    *,
    store: Store | None = None,
    tag: str | None = None,
    strict: bool = False,
    env: Mapping[str, str] | None = None,
    media_type: str | None = None,
    commit_time: int | None = None,
) -> PackResult:
    """Validate and pack a skill; tag it ``<namespace>/<name>:<version>-draft`` (or ``tag``).

    ``tag`` is a tag (``1.0.0-rc``) or a whole reference (``quay.io/org/x:1.0.0-draft``).
    Re-packing identical content is a no-op; changed content moves the tag.
    ``media_type`` is a profile of the Go tool: ``standard`` (default) or ``redhat``.
    ``org.opencontainers.image.created`` comes from :func:`created_time`.

    Raises:
        InvalidSkillError: the skill does not validate, or holds paths that cannot be packed.
        UsageError: a bad ``tag``, ``media_type`` or ``SOURCE_DATE_EPOCH``.
    """
    store = store or Store()
    config_type, layer_type = oci.media_profile(media_type)
    left_out: list[str] = []
    walked: list[list[Entry]] = []

    def totals(root: Path) -> tuple[int, int]:  # validation's content count, from the walk packing needs anyway
        try:
            walked.append(collect_entries(root, left_out))
        except UnsafeContentError:  # raised again below, once the validation findings are reported
            left_out.clear()
            return content_totals(root)
        return content_totals_of(walked[0])

    def names(root: Path) -> list[tuple[str, str]]:  # the walk refuses unusable names: none if it succeeded
        return [] if walked else unusable_names(root)

    report = validate_skill(path, strict=strict, totals=totals, names=names)
    report.raise_for_errors()
    assert report.card is not None
    card = report.card
    target = _target_ref(card, tag)
    mtime = source_date_epoch(env)
    epoch = created_time(report.root, env=env, commit_time=commit_time)
    created = rfc3339(epoch) if epoch is not None else None
    entries = walked[0] if walked else collect_entries(report.root, left_out)
    warnings = [*report.warnings, *_content_warnings(report.root, entries, left_out)]

    with store.writing():
        with store.new_blob() as blob:
            layer = write_layer(entries, blob, mtime=mtime or 0)
            if blob.digest != layer.digest:
                raise IntegrityError("layer bytes written differ from the bytes hashed")
            blob.commit()
        config = oci.build_config(layer.diff_id, created=created)
        config_desc = oci.Descriptor(config_type, store.put_blob(config), len(config))
        layer_desc = oci.Descriptor(layer_type, layer.digest, layer.size)
        words = report.document.word_count if report.document else 0
        annotations = skill_annotations(card, wordcount=words, created=created)
        raw = oci.build_manifest(config_desc, [layer_desc], annotations)
        store.put_blob(raw)
        manifest = oci.Manifest.parse(raw)
        packed_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        previous = store.set_tag(target.store_name, manifest.descriptor, {**annotations, oci.PACKED_AT: packed_at})
    status: PackStatus = "created" if previous is None else "unchanged" if previous == manifest.digest else "moved"
    if status != "unchanged":
        warnings += _already_pushed(store, card, manifest, report.root)
    return PackResult(
        ref=target.store_name,
        digest=manifest.digest,
        status=status,
        previous=previous,
        manifest=manifest,
        layer=layer,
        files=sum(1 for e in entries if e.kind != "dir"),
        warnings=warnings,
    )
