"""Which versions a listing or an export serves: one row per (skill, version) in the furthest state any of its tags
shows (a ``1.0.0-draft`` tag left behind a deprecated 1.0.0 is not a draft), then the highest per skill in the
states asked for. Archived versions are never chosen.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from skillctl.catalog.records import SkillVersion
from skillctl.core.states import RANK

DEFAULT_STATES: Final = frozenset({"published"})


def _semver_key(version: str) -> tuple[int, Any]:
    import semver

    try:
        return 1, semver.Version.parse(version)
    except (ValueError, TypeError):
        return 0, semver.Version(0)


def effective(versions: Iterable[SkillVersion]) -> list[SkillVersion]:
    """One row per (skill, version): the manifest in the furthest state any of its tags shows.

    Among rows of that state, the one a person would name (the version tag, not ``latest``), from the first source.
    """
    groups: dict[tuple[str, str, str], list[SkillVersion]] = {}
    for v in versions:
        groups.setdefault((v.namespace, v.name, v.version), []).append(v)
    out = []
    for rows in groups.values():
        furthest = max(RANK.get(r.status, -1) for r in rows)
        best = [r for r in rows if RANK.get(r.status, -1) == furthest]
        best.sort(key=lambda r: (r.tag == "latest", r.registry, r.repository, r.tag))
        out.append(best[0])
    return out


def select(versions: Iterable[SkillVersion], states: frozenset[str] = DEFAULT_STATES) -> list[SkillVersion]:
    """The version served per skill (namespace and name): the highest whose state is one of ``states``; never
    archived. Sorted by namespace and name."""
    chosen: dict[tuple[str, str], SkillVersion] = {}
    for v in effective(versions):
        if v.status == "archived" or v.status not in states:
            continue
        key = (v.namespace, v.name)
        held = chosen.get(key)
        if held is None or _semver_key(v.version) > _semver_key(held.version):
            chosen[key] = v
    return [chosen[k] for k in sorted(chosen)]


def in_states(versions: Iterable[SkillVersion], states: frozenset[str] = DEFAULT_STATES) -> list[SkillVersion]:
    """Every version (not only the highest) whose state is one of ``states``; never archived. Sorted by skill, then
    version, highest first."""
    rows = [v for v in effective(versions) if v.status != "archived" and v.status in states]
    rows.sort(key=lambda v: _semver_key(v.version), reverse=True)
    return sorted(rows, key=lambda v: (v.namespace, v.name))
