"""Semantic version ranges, as npm and Cargo users write them.

``^1.2`` (compatible: same major, or same minor below 1.0), ``~1.2.3`` (same
minor), ``1.x`` / ``1.2.*`` / ``1.2`` (partial versions), ``*``, comparators
(``>=1.0.0 <2.0.0``; a comma works as well as a space), hyphen ranges
(``1.0 - 2.0``) and alternatives joined by ``||``. A prerelease (``1.0.0-rc.1``)
matches only when a comparator of the same alternative names a prerelease of
the same MAJOR.MINOR.PATCH, as in npm: ``^1.0.0`` never picks ``2.0.0-rc.1``.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from skillctl.core.errors import UsageError

if TYPE_CHECKING:
    import semver

_PARTIAL: Final = re.compile(
    r"^v?(?P<major>0|[1-9]\d*|[xX*])"
    r"(?:\.(?P<minor>0|[1-9]\d*|[xX*])"
    r"(?:\.(?P<patch>0|[1-9]\d*|[xX*])"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?)?)?$"
)
_OPS: Final[dict[str, Callable[[object, object], bool]]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "=": operator.eq,
}
_HINT: Final = "a range looks like ^1.2, ~1.2.3, 1.x, >=1.0.0 <2.0.0, 1.0.0 or * (alternatives joined by ||)"


@dataclass(frozen=True)
class _Comparator:
    op: str
    version: semver.Version

    def test(self, version: semver.Version) -> bool:
        return _OPS[self.op](version, self.version)

    def __str__(self) -> str:
        return f"{self.op}{self.version}"


def _is_wild(part: str | None) -> bool:
    return part is None or part in ("x", "X", "*")


def _partial(text: str, source: str) -> tuple[list[int], str | None]:
    """``1.2`` -> ([1, 2], None); ``1.x`` -> ([1], None); ``1.2.3-rc.1`` -> ([1, 2, 3], "rc.1")."""
    match = _PARTIAL.fullmatch(text)
    if not match:
        raise UsageError(f"invalid version range {source!r}: {text!r} is not a version", hint=_HINT)
    parts: list[int] = []
    for key in ("major", "minor", "patch"):
        value = match.group(key)
        if _is_wild(value):
            break
        parts.append(int(value))
    pre = match.group("pre") if len(parts) == 3 else None
    return parts, pre


def _version(parts: Sequence[int], pre: str | None = None) -> semver.Version:
    import semver  # ~8 ms (it loads argparse): only when a range is parsed, never for a card without dependencies

    padded = [*parts, 0, 0, 0][:3]
    return semver.Version(padded[0], padded[1], padded[2], prerelease=pre)


def _bump(parts: Sequence[int], index: int, *, floor: bool = True) -> semver.Version:
    """The next version at position ``index`` (0 major, 1 minor, 2 patch); ``floor``: its lowest prerelease ``-0``,
    so an upper bound ``<2.0.0-0`` also keeps out 2.0.0's prereleases."""
    bumped = [*parts[:index], parts[index] + 1]
    return _version(bumped, "0" if floor else None)


def _expand(op: str, text: str, source: str) -> list[_Comparator]:
    parts, pre = _partial(text, source)
    if op in ("", "="):
        if not parts:
            return []
        if len(parts) == 3:
            return [_Comparator("=", _version(parts, pre))]
        return [_Comparator(">=", _version(parts)), _Comparator("<", _bump(parts, len(parts) - 1))]
    if op == "^":
        if not parts:
            return []
        # The first non-zero part may not change: ^1.2 <2.0.0, ^0.2.3 <0.3.0, ^0.0.3 <0.0.4, ^0.0 <0.1.0.
        index = next((i for i, p in enumerate(parts) if p != 0), len(parts) - 1)
        return [_Comparator(">=", _version(parts, pre)), _Comparator("<", _bump(parts, index))]
    if op == "~":
        if not parts:
            return []
        index = 0 if len(parts) == 1 else 1
        return [_Comparator(">=", _version(parts, pre)), _Comparator("<", _bump(parts, index))]
    # Comparison operators with a partial version.
    if not parts:
        return [] if op in (">=", "<=") else [_Comparator("<", _version([0, 0, 0], "0"))]
    if len(parts) == 3:
        return [_Comparator(op, _version(parts, pre))]
    if op == ">":
        return [_Comparator(">=", _bump(parts, len(parts) - 1, floor=False))]
    if op == ">=":
        return [_Comparator(">=", _version(parts))]
    if op == "<":
        return [_Comparator("<", _version(parts, "0"))]
    return [_Comparator("<", _bump(parts, len(parts) - 1))]  # <=1.2 is <1.3.0-0


def _hyphen(low: str, high: str, source: str) -> list[_Comparator]:
    low_parts, low_pre = _partial(low, source)
    high_parts, high_pre = _partial(high, source)
    result = [_Comparator(">=", _version(low_parts, low_pre))] if low_parts else []
    if len(high_parts) == 3:
        result.append(_Comparator("<=", _version(high_parts, high_pre)))
    elif high_parts:
        result.append(_Comparator("<", _bump(high_parts, len(high_parts) - 1)))
    return result


_TOKEN: Final = re.compile(r"(>=|<=|>|<|=|\^|~>?|)\s*([^\s,<>=^~]+)")


def _alternative(text: str, source: str) -> tuple[_Comparator, ...]:
    text = text.strip()
    hyphen = re.fullmatch(r"(\S+)\s+-\s+(\S+)", text)
    if hyphen:
        return tuple(_hyphen(hyphen.group(1), hyphen.group(2), source))
    comparators: list[_Comparator] = []
    pos = 0
    spaced = text.replace(",", " ")
    while pos < len(spaced):
        if spaced[pos].isspace():
            pos += 1
            continue
        match = _TOKEN.match(spaced, pos)
        if not match or not match.group(2):
            raise UsageError(f"invalid version range {source!r} near {spaced[pos:]!r}", hint=_HINT)
        op = "~" if match.group(1) == "~>" else match.group(1)
        comparators.extend(_expand(op, match.group(2), source))
        pos = match.end()
    return tuple(comparators)


@dataclass(frozen=True)
class VersionRange:
    """A parsed range: alternatives (``||``), each a conjunction of comparators."""

    text: str
    alternatives: tuple[tuple[_Comparator, ...], ...]

    def __str__(self) -> str:
        return self.text

    def matches(self, version: str | semver.Version) -> bool:
        import semver

        v = version if isinstance(version, semver.Version) else semver.Version.parse(version)
        v = v.replace(build=None)
        for alternative in self.alternatives:
            if not all(c.test(v) for c in alternative):
                continue
            if v.prerelease and not any(
                c.version.prerelease and c.version.finalize_version() == v.finalize_version() for c in alternative
            ):
                continue
            return True
        return False

    @property
    def exact(self) -> str | None:
        """The version when the range names exactly one (``1.2.3``, ``=1.2.3``)."""
        if len(self.alternatives) == 1 and len(self.alternatives[0]) == 1 and self.alternatives[0][0].op == "=":
            return str(self.alternatives[0][0].version)
        return None


def parse_range(text: str) -> VersionRange:
    """Parse a range; raises :class:`UsageError` naming the part that is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise UsageError(f"invalid version range {text!r}: empty", hint=_HINT)
    source = text.strip()
    parts = source.split("||")
    if any(not part.strip() for part in parts):
        raise UsageError(f"invalid version range {source!r}: empty alternative around '||'", hint=_HINT)
    return VersionRange(source, tuple(_alternative(part, source) for part in parts))


def caret(version: str) -> str:
    """The range ``add`` records for a resolved version: ``^1.2.3`` (``=`` for a prerelease)."""
    import semver

    v = semver.Version.parse(version)
    return f"^{version}" if not v.prerelease else version
