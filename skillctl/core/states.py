"""The lifecycle: draft -> testing -> published -> deprecated -> archived, one step at a time."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Final

from skillctl.core import oci
from skillctl.core.errors import LifecycleError, UsageError
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


def check_state(ref: str, manifest: oci.Manifest, *, allow_archived: bool, warnings: list[str]) -> None:
    """Deprecated: warn. Archived: refuse unless allowed."""
    state = manifest.annotations.get(oci.STATUS, "")
    if state == "archived" and not allow_archived:
        raise LifecycleError(f"{ref} is archived", hint="pass --allow-archived to use it anyway")
    if state == "deprecated":
        warnings.append(f"{ref} is deprecated; look for a newer version (skillctl list --installed --upgradable)")


def release_version(tag: str) -> semver.Version | None:
    """The version of a release tag (``1.2.0``, ``1.2.0_build``); None for prereleases and other tags."""
    import semver

    try:
        version = semver.Version.parse(tag.replace("_", "+"))
    except ValueError:
        return None
    return None if version.prerelease else version
