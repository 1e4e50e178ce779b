"""``skillctl version bump``: the next major, minor or patch version, written into skill.yaml in place.

Only the value on the ``metadata.version`` line changes: comments, quoting, key order and the rest of
the file stay as the author wrote them. The result is validated before it is written (atomically).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from skillctl.card.skillcard import validate_card_data
from skillctl.card.validate import locate_skill
from skillctl.core.errors import InvalidSkillError, UsageError
from skillctl.core.fsutil import atomic_write
from skillctl.core.yamlsafe import load_yaml, read_text

Part = Literal["major", "minor", "patch"]
PARTS: tuple[Part, ...] = ("major", "minor", "patch")


@dataclass(frozen=True)
class Bumped:
    path: Path
    old: str
    new: str


def next_version(version: str, part: Part) -> str:
    """The next ``part`` version as npm counts: a prerelease first becomes its own release (1.2.0-rc.1 -> 1.2.0)."""
    import semver

    try:
        current = semver.Version.parse(version)
    except ValueError:
        raise InvalidSkillError(f"{version!r} is not a semantic version", hint="set metadata.version by hand") from None
    if part not in PARTS:
        raise UsageError(f"cannot bump {part!r}", hint=f"choose one of: {', '.join(PARTS)}")
    if current.prerelease:
        release = current.finalize_version()
        at_boundary = {"patch": True, "minor": current.patch == 0, "major": current.minor == current.patch == 0}
        if at_boundary[part]:
            return str(release)
    bump = {"major": current.bump_major, "minor": current.bump_minor, "patch": current.bump_patch}[part]
    return str(bump())


def bump_version(path: str | Path, part: Part) -> Bumped:
    """Raise ``metadata.version`` of the skill at ``path`` (a directory or its skill.yaml).

    Raises:
        NotFoundError: no skill.yaml.
        InvalidSkillError: the card or its version is invalid, or the version line cannot be found unambiguously.
    """
    _, card_path = locate_skill(path)
    text = read_text(card_path, source=str(card_path))
    doc = load_yaml(text, source=str(card_path))
    metadata = doc.get("metadata") if isinstance(doc, dict) else None
    old = metadata.get("version") if isinstance(metadata, dict) else None
    if not isinstance(old, str):
        raise InvalidSkillError(f"{card_path}: metadata.version is missing or not a string")
    new = next_version(old, part)
    pattern = re.compile(
        rf"^(?P<lead>[ \t]+version:[ \t]*)(?P<q>['\"]?){re.escape(old)}(?P=q)(?P<tail>[ \t]*(#.*)?)$", re.M
    )
    matches = list(pattern.finditer(text))
    if len(matches) != 1:
        raise InvalidSkillError(
            f"{card_path}: cannot find the one metadata.version line holding {old!r}",
            hint=f"set metadata.version to {new} by hand",
        )
    m = matches[0]
    updated = text[: m.start()] + f"{m['lead']}{m['q']}{new}{m['q']}{m['tail']}" + text[m.end() :]
    new_doc = load_yaml(updated, source=str(card_path))
    if new_doc.get("metadata", {}).get("version") != new or validate_card_data(new_doc, file=str(card_path)):
        raise InvalidSkillError(f"{card_path}: the edited card does not hold version {new}; nothing was written")
    atomic_write(card_path, updated.encode("utf-8"), mode=card_path.stat().st_mode & 0o777)
    return Bumped(card_path, old, new)
