"""The mirror's rules: what a destination repository should look like after mirroring its source.

Decisions are made here from what both registries hold (tags, their manifests, and whether a manifest
exists by digest); ``mirror`` reads the registries and carries the decisions out. The rules:

* **The source is authoritative for what it holds.** A tag the source has is copied when the
  destination's differs, and a destination tag the source removed is removed (a tag is "removed by the
  source" when the source still holds, or held, that tag's content: its manifest or a later lifecycle
  state of it; tags with content the source never had are the destination's own and are left alone).
* **A destination change newer than the source's is reported, not overwritten**, unless ``force``: the
  destination holds the same content in a later lifecycle state (deprecated or archived there while the
  source still publishes it), or a signature image with signatures the source lacks.
* **``latest`` follows the lifecycle rule, not a copy:** after the copies it points at the highest
  published release the destination holds (the source's ``latest`` when nothing was kept), and is removed
  when there is none. Repositories without lifecycle annotations have ``latest`` copied like any tag.
* Signatures are added and updated, never removed; a signature whose manifest the source deleted
  (promotion deletes superseded manifests) is skipped with a note.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from skillctl.core import oci
from skillctl.core.refs import is_attachment_tag
from skillctl.core.states import RANK, best_published, later_states, same_content

LATEST = "latest"
Action = Literal["copy", "skip", "keep", "remove"]
Lookup = Callable[[str], bool]
"""Whether one side's repository holds a manifest with this digest (tagged or not)."""


@dataclass(frozen=True)
class Tagged:
    """One tag on one side: the digest it points at, and the manifest when it is a single image."""

    digest: str
    raw: bytes
    manifest: oci.Manifest | None

    @classmethod
    def parse(cls, raw: bytes, source: str = "") -> Tagged:
        manifest = oci.Manifest.parse(raw, source=source) if oci.is_image_manifest(raw) else None
        return cls(oci.sha256_digest(raw), raw, manifest)


@dataclass(frozen=True)
class Decision:
    tag: str | None  # None: a digest-only (archived) manifest
    action: Action
    digest: str  # copy: what to copy; remove, keep: what the destination tag points at
    detail: str = ""
    fallback: str | None = None  # remove: the digest to point the tag at when the registry refuses the removal


def status(manifest: oci.Manifest | None) -> str:
    return manifest.annotations.get(oci.STATUS, "") if manifest is not None else ""


def _rank(manifest: oci.Manifest | None) -> int:
    return RANK.get(status(manifest), -1)


def subject_of(tag: str) -> str:
    """``sha256-<hex>.sig`` -> ``sha256:<hex>``, the manifest a signature (or attestation) belongs to."""
    return tag.split(".", 1)[0].replace("-", ":", 1)


def lifecycle_managed(tags: Iterable[Tagged]) -> bool:
    return any(status(t.manifest) for t in tags)


def _most_advanced(candidates: Iterable[oci.Manifest]) -> oci.Manifest | None:
    best = None
    for manifest in candidates:
        if best is None or _rank(manifest) > _rank(best):
            best = manifest
    return best


def current_state(content: oci.Manifest, tagged: Iterable[Tagged], has: Lookup) -> oci.Manifest | None:
    """The most advanced manifest of ``content`` a side holds: among its tags, then later states by digest.

    None when the side holds nothing with that content. Archived manifests have no tag, so they are
    found by digest (promotion is deterministic: a state's manifest digest is computable).
    """
    best = _most_advanced(t.manifest for t in tagged if t.manifest is not None and same_content(t.manifest, content))
    base = best if best is not None and _rank(best) >= _rank(content) else content
    for _, later in later_states(base):  # most advanced first
        if has(later.digest):
            return later
    return best


def _destination_newer(source: oci.Manifest | None, dest: oci.Manifest | None, dst_has: Lookup) -> str | None:
    """Why the destination is further along in the lifecycle of a release the source still publishes."""
    if source is None or status(source) not in ("published", "deprecated"):
        return None  # draft and testing tags stay valid whatever happens to the release
    if dest is not None and same_content(dest, source) and _rank(dest) > _rank(source):
        return f"the destination has it {status(dest)}, the source {status(source)}"
    for state, later in later_states(source):
        if dst_has(later.digest):
            return f"the destination has it {state} ({later.digest}), the source {status(source)}"
    return None


def _signature_layers(raw: bytes) -> set[tuple[str, str]]:
    try:
        layers = json.loads(raw).get("layers") or []
        return {(str(x.get("digest")), json.dumps(x.get("annotations") or {}, sort_keys=True)) for x in layers}
    except (ValueError, AttributeError):
        return set()


FORCE_HINT = "--force overwrites it"


def plan(
    src: dict[str, Tagged],
    dst: dict[str, Tagged],
    *,
    src_has: Lookup,
    dst_has: Lookup,
    force: bool = False,
) -> list[Decision]:
    """Every decision for one repository except ``latest`` (see :func:`plan_latest`), in the order to carry out:
    version tags, removals, then signatures."""
    managed = lifecycle_managed(src.values())
    special = {LATEST} if managed else set()
    copies: list[Decision] = []
    removals: list[Decision] = []
    signatures: list[Decision] = []
    src_digests = {t.digest for t in src.values()}
    for tag in sorted(src):
        s, d = src[tag], dst.get(tag)
        if tag in special:
            continue
        if is_attachment_tag(tag):
            signatures.append(_plan_signature(tag, s, d, src_digests=src_digests, src_has=src_has, force=force))
            continue
        if d is not None and d.digest == s.digest:
            copies.append(Decision(tag, "skip", s.digest, "already there"))
            continue
        why = None if force else _destination_newer(s.manifest, d.manifest if d else None, dst_has)
        if why:
            copies.append(Decision(tag, "keep", d.digest if d else "", f"{why}; {FORCE_HINT}"))
        else:
            copies.append(Decision(tag, "copy", s.digest))
    for tag in sorted(set(dst) - set(src) - special):
        d = dst[tag]
        if is_attachment_tag(tag):
            continue  # the destination's own signatures: never removed
        source_now = current_state(d.manifest, src.values(), src_has) if d.manifest is not None else None
        if source_now is None:
            removals.append(Decision(tag, "skip", d.digest, "only on the destination"))
        elif not force and _rank(d.manifest) > _rank(source_now):
            why = f"the destination has it {status(d.manifest)}, the source {status(source_now)}"
            removals.append(Decision(tag, "keep", d.digest, f"{why}; {FORCE_HINT}"))
        else:
            fallback = source_now.digest if source_now.digest != d.digest else None
            removals.append(Decision(tag, "remove", d.digest, "the source removed it", fallback))
    return copies + removals + signatures


def _plan_signature(
    tag: str, s: Tagged, d: Tagged | None, *, src_digests: set[str], src_has: Lookup, force: bool
) -> Decision:
    subject = subject_of(tag)
    if subject not in src_digests and not src_has(subject):
        return Decision(tag, "skip", s.digest, f"signature of {subject}, which the source deleted")
    if d is not None and d.digest == s.digest:
        return Decision(tag, "skip", s.digest, "already there")
    if d is not None and not force and _signature_layers(d.raw) - _signature_layers(s.raw):
        return Decision(tag, "keep", d.digest, f"the destination has signatures the source lacks; {FORCE_HINT}")
    return Decision(tag, "copy", s.digest)


def planned_view(dst: dict[str, Tagged], src: dict[str, Tagged], done: Iterable[Decision]) -> dict[str, Tagged]:
    """The destination's tags once ``done`` decisions (that succeeded) are carried out."""
    view = {t: v for t, v in dst.items() if t != LATEST}
    for decision in done:
        if decision.tag is None or decision.tag == LATEST:
            continue
        if decision.action == "copy" and decision.tag in src:
            view[decision.tag] = src[decision.tag]
        elif decision.action == "remove":
            view.pop(decision.tag, None)
    return view


def plan_latest(view: dict[str, Tagged], current: Tagged | None) -> Decision | None:
    """``latest`` on the destination: the highest published release in ``view``, or removed when none is left."""
    best = best_published({t: v.manifest for t, v in view.items() if v.manifest is not None})
    if best is not None:
        digest = best[1].digest
        if current is not None and current.digest == digest:
            return Decision(LATEST, "skip", digest, "already there")
        return Decision(LATEST, "copy", digest, f"the highest published release, {best[0]}")
    if current is None:
        return None
    return Decision(LATEST, "remove", current.digest, "no published release is left")
