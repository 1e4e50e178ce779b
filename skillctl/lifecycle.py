"""Lifecycle states and the tags that record them."""

from __future__ import annotations

from typing import Final

from skillctl.refs import version_tag

STATES: Final = ("draft", "testing", "published", "deprecated", "archived")
RANK: Final = {state: i for i, state in enumerate(STATES)}


def tag_for_state(version: str, state: str) -> str | None:
    """The tag a manifest in ``state`` carries; None for archived (digest only)."""
    if state == "draft":
        return version_tag(version, "-draft")
    if state == "testing":
        return version_tag(version, "-testing")
    if state in ("published", "deprecated"):
        return version_tag(version)
    return None
