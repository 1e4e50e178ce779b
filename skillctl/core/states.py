"""The lifecycle: draft -> testing -> published -> deprecated -> archived, one step at a time."""

from __future__ import annotations

import itertools
import json
from typing import TYPE_CHECKING, Any, Final

from skillctl.core import oci
from skillctl.core.errors import IntegrityError, LifecycleError, UsageError
from skillctl.core.refs import version_tag

if TYPE_CHECKING:
    import semver

STATES: Final = ("draft", "testing", "published", "deprecated", "archived")
RANK: Final = {state: i for i, state in enumerate(STATES)}
NEXT: Final = dict(itertools.pairwise(STATES))


def parse_state(value: str) -> str:
    if value not in RANK:
        raise UsageError(f"invalid lifecycle state {value!r}", hint=f"choose one of: {', '.join(STATES)}")
    return value


def check_transition(current: str, target: str, *, ref: str = "") -> bool:
    """True when ``current -> target`` is the next step, False when already there.

    Raises:
        LifecycleError: any other transition, naming the allowed next state.
    """
    parse_state(target)
    where = f"{ref}: " if ref else ""
    if current not in RANK:
        raise LifecycleError(f"{where}has no valid {'io.skillimage.status'} annotation ({current!r})")
    if current == target:
        return False
    if NEXT.get(current) == target:
        return True
    if current == "archived":
        raise LifecycleError(f"{where}is archived; nothing follows archived")
    raise LifecycleError(
        f"{where}cannot go from {current} to {target}; the next state is {NEXT[current]}",
        hint="promotion moves one step at a time: draft, testing, published, deprecated, archived",
    )


def tag_for_state(version: str, state: str) -> str | None:
    """The tag a manifest in ``state`` carries; None for archived (digest only)."""
    if state == "draft":
        return version_tag(version, "-draft")
    if state == "testing":
        return version_tag(version, "-testing")
    if state in ("published", "deprecated"):
        return version_tag(version)
    return None


def check_state(
    ref: str,
    manifest: oci.Manifest,
    *,
    allow_archived: bool,
    warnings: list[str],
    later: oci.Manifest | None = None,
) -> None:
    """Deprecated: warn. Archived: refuse unless allowed.

    ``later`` is a later lifecycle state of the same content that its repository holds (see
    ``later_states``): a ``-draft`` or ``-testing`` tag of a version archived since is refused like the
    archived release, and one of a deprecated version warns like it.
    """
    state = manifest.annotations.get(oci.STATUS, "")
    version = manifest.annotations.get(oci.VERSION, "")
    later_state = later.annotations.get(oci.STATUS, "") if later is not None else ""
    if later is not None and later_state == "archived" and state != "archived" and not allow_archived:
        raise LifecycleError(
            f"{ref} is {state or 'a tag'} of {version}, which is archived ({later.digest})",
            hint="pass --allow-archived to use it anyway",
        )
    if state == "archived" and not allow_archived:
        raise LifecycleError(f"{ref} is archived", hint="pass --allow-archived to use it anyway")
    if state == "deprecated":
        warnings.append(f"{ref} is deprecated; look for a newer version (skillctl list --installed --upgradable)")
    elif later_state in ("deprecated", "archived"):
        warnings.append(f"{ref} is {state or 'a tag'} of {version}, which is {later_state}; look for a newer version")


def canonical_tag(tag: str | None, manifest: oci.Manifest) -> bool:
    """Whether ``tag`` is where promotion keeps ``manifest``'s current state (so no later state can exist).

    ``<ver>`` on a published or deprecated manifest and ``latest`` on a published one are moved by every
    later promotion; ``-draft`` and ``-testing`` tags and digests stay behind.
    """
    state = manifest.annotations.get(oci.STATUS, "")
    version = manifest.annotations.get(oci.VERSION, "")
    if not tag or not version:
        return False
    if tag == "latest":
        return state == "published"
    return state in ("published", "deprecated") and tag == tag_for_state(version, state)


def checked_states(manifest: oci.Manifest) -> list[tuple[str, oci.Manifest]]:
    """The later states a consumer must hear about (archived, deprecated), most advanced first."""
    return [(s, m) for s, m in later_states(manifest) if s in ("archived", "deprecated")]


def release_version(tag: str) -> semver.Version | None:
    """The version of a release tag (``1.2.0``, ``1.2.0_build``); None for prereleases and other tags."""
    import semver

    try:
        version = semver.Version.parse(tag.replace("_", "+"))
    except ValueError:
        return None
    return None if version.prerelease else version


def with_status(manifest: oci.Manifest, state: str) -> oci.Manifest:
    """The same manifest with ``io.skillimage.status`` set, in the byte form podman and buildah keep.

    Promotion changes nothing else, so the digest of a version's manifest in any state can be computed
    from any other: this is how a registry's archived (digest-only) manifests are found.
    """
    data: dict[str, Any] = json.loads(manifest.raw)
    annotations = dict(data.get("annotations") or {})
    annotations[oci.STATUS] = state
    data["annotations"] = dict(sorted(annotations.items()))
    new = oci.Manifest.parse(oci.go_json(data))
    if new.config != manifest.config or new.layers != manifest.layers:
        raise IntegrityError("re-annotating the manifest changed its content descriptors")
    return new


def later_states(manifest: oci.Manifest) -> list[tuple[str, oci.Manifest]]:
    """(state, manifest) for every state after ``manifest``'s, most advanced first (empty for unknown states)."""
    rank = RANK.get(manifest.annotations.get(oci.STATUS, ""))
    if rank is None:
        return []
    return [(state, with_status(manifest, state)) for state in reversed(STATES[rank + 1 :])]


def same_content(a: oci.Manifest, b: oci.Manifest) -> bool:
    """The same files and config: the manifests differ at most in their annotations (a lifecycle step)."""
    return (a.config, a.layers) == (b.config, b.layers)


def best_published(snapshot: dict[str, oci.Manifest]) -> tuple[str, oci.Manifest] | None:
    """(tag, manifest) of the highest published release among release tags: what ``latest`` points at."""
    best: tuple[semver.Version, str, oci.Manifest] | None = None
    for tag, manifest in snapshot.items():
        version = release_version(tag)
        if version is None or manifest.annotations.get(oci.STATUS) != "published":
            continue
        if best is None or version > best[0]:
            best = (version, tag, manifest)
    return (best[1], best[2]) if best else None
