"""Version ranges as npm and Cargo users write them, checked version by version."""

from __future__ import annotations

import pytest

from skillctl.core.errors import UsageError
from skillctl.core.semrange import caret, parse_range

VERSIONS = [
    "0.0.1", "0.0.3", "0.0.4", "0.1.0", "0.2.3", "0.2.9", "0.3.0", "1.0.0-rc.1", "1.0.0", "1.2.0", "1.2.3",
    "1.2.9", "1.3.0-beta.1", "1.3.0", "1.10.0", "2.0.0-rc.1", "2.0.0", "2.1.0", "3.0.0",
]  # fmt: skip


def matching(text: str) -> list[str]:
    r = parse_range(text)
    return [v for v in VERSIONS if r.matches(v)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("^1.2.3", ["1.2.3", "1.2.9", "1.3.0", "1.10.0"]),
        ("^1.2", ["1.2.0", "1.2.3", "1.2.9", "1.3.0", "1.10.0"]),
        ("^1", ["1.0.0", "1.2.0", "1.2.3", "1.2.9", "1.3.0", "1.10.0"]),
        ("^0.2.3", ["0.2.3", "0.2.9"]),
        ("^0.0.3", ["0.0.3"]),
        ("^0.0", ["0.0.1", "0.0.3", "0.0.4"]),
        ("~1.2.3", ["1.2.3", "1.2.9"]),
        ("~1.2", ["1.2.0", "1.2.3", "1.2.9"]),
        ("~1", ["1.0.0", "1.2.0", "1.2.3", "1.2.9", "1.3.0", "1.10.0"]),
        ("1.x", ["1.0.0", "1.2.0", "1.2.3", "1.2.9", "1.3.0", "1.10.0"]),
        ("1.2.*", ["1.2.0", "1.2.3", "1.2.9"]),
        ("1.2", ["1.2.0", "1.2.3", "1.2.9"]),
        ("1.2.3", ["1.2.3"]),
        ("=1.2.3", ["1.2.3"]),
        ("v1.2.3", ["1.2.3"]),
        (">=1.2.3 <2.0.0", ["1.2.3", "1.2.9", "1.3.0", "1.10.0"]),
        (">=1.2.3, <2", ["1.2.3", "1.2.9", "1.3.0", "1.10.0"]),
        (">1.2", ["1.3.0", "1.10.0", "2.0.0", "2.1.0", "3.0.0"]),
        ("<=1.2", [v for v in VERSIONS[: VERSIONS.index("1.2.9") + 1] if "-" not in v]),
        ("<0.1", ["0.0.1", "0.0.3", "0.0.4"]),
        ("1.2 - 2.0", ["1.2.0", "1.2.3", "1.2.9", "1.3.0", "1.10.0", "2.0.0"]),
        ("1.2.3 - 2.0.0", ["1.2.3", "1.2.9", "1.3.0", "1.10.0", "2.0.0"]),
        ("^0.2 || ^2", ["0.2.3", "0.2.9", "2.0.0", "2.1.0"]),
        ("*", [v for v in VERSIONS if "-" not in v]),
        # Prereleases only where a comparator asks for one of the same version.
        ("^1.0.0-rc.1", ["1.0.0-rc.1", "1.0.0", "1.2.0", "1.2.3", "1.2.9", "1.3.0", "1.10.0"]),
        (">=2.0.0-rc.1", ["2.0.0-rc.1", "2.0.0", "2.1.0", "3.0.0"]),
        ("1.3.0-beta.1", ["1.3.0-beta.1"]),
        ("~> 1.2", ["1.2.0", "1.2.3", "1.2.9"]),
    ],
)
def test_ranges(text: str, expected: list[str]) -> None:
    assert matching(text) == expected


def test_build_metadata_is_ignored() -> None:
    assert parse_range("^1.2").matches("1.2.5+build.7")
    assert parse_range("1.2.5").matches("1.2.5+build.7")


def test_exact() -> None:
    assert parse_range("1.2.3").exact == "1.2.3"
    assert parse_range("=1.2.3").exact == "1.2.3"
    assert parse_range("^1.2.3").exact is None
    assert parse_range("1.2").exact is None


@pytest.mark.parametrize(
    "text", ["", "  ", "banana", "^", ">=", "1.2.3.4", "01.2.3", "^1 ||", "|| ^1", ">=1.0 <<2", "1.0 -"]
)
def test_malformed_ranges_name_the_range(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_range(text)
    assert "invalid version range" in info.value.message


def test_caret() -> None:
    assert caret("1.10.0") == "^1.10.0"
    assert caret("1.0.0-rc.1") == "1.0.0-rc.1"
