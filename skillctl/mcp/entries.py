"""What one skill looks like over MCP (SEP-2640): its ``skill://`` URIs, its frontmatter as JSON, its files with
digests and sizes, and which version of each skill a listing serves.

Which version of each skill is served is ``catalog.selection``'s rule: the highest published by default.
"""

from __future__ import annotations

import posixpath
import re
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar

from skillctl.card.content import MCP_MAX_BYTES, MCP_MAX_FILES
from skillctl.catalog.records import SkillVersion
from skillctl.catalog.selection import DEFAULT_STATES
from skillctl.core.errors import UsageError
from skillctl.core.states import RANK, STATES

EXTENSION: Final = "io.modelcontextprotocol/skills"
SCHEME: Final = "skill://"
PROMPT: Final = "SKILL.md"
META: Final = "io.skillimage/"
"""Our ``_meta`` keys on an entry (state, image, version): the prefix of the ``io.skillimage`` annotations."""
_SEGMENT_RE: Final = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
_NAME_RE: Final = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_URI_SAFE: Final = "/-._~!$&'()*+,;=:@"

T = TypeVar("T")


def parse_states(values: Iterable[str]) -> frozenset[str]:
    """``--state`` values (repeatable, comma-separated); archived is refused: it is never served.

    Raises:
        UsageError: not a lifecycle state, or archived.
    """
    states = {part.strip() for value in values for part in value.split(",") if part.strip()}
    for state in states:
        if state not in RANK:
            raise UsageError(f"--state {state!r}: not a lifecycle state", hint=f"choose from: {', '.join(STATES)}")
        if state == "archived":
            raise UsageError("--state archived: archived versions are never served")
    return frozenset(states) or DEFAULT_STATES


@dataclass(frozen=True)
class FileRef:
    """One file of a served skill: its path in the skill, ``sha256:<hex>`` of its bytes, its size."""

    path: str
    digest: str
    size: int


@dataclass(frozen=True)
class SkillEntry(Generic[T]):
    """A skill as a listing serves it: pinned to one image digest for the listing's lifetime."""

    skill_path: str  # "<namespace>/<name>" (just "<name>" without a namespace)
    frontmatter: dict[str, Any]
    files: tuple[FileRef, ...]
    version: SkillVersion
    source: T = field(compare=False, repr=False)  # where the files are read from

    @property
    def uri(self) -> str:
        return file_uri(self.skill_path, PROMPT)

    @property
    def state(self) -> str:
        return self.version.status

    def file(self, path: str) -> FileRef | None:
        return next((f for f in self.files if f.path == path), None)

    def to_json(self) -> dict[str, Any]:
        meta: dict[str, Any] = {
            META + "image": self.version.pinned,
            META + "version": self.version.version,
            META + "state": self.state,
        }
        if self.state == "deprecated":
            meta[META + "deprecated"] = True
        return {
            "uri": self.uri,
            "frontmatter": self.frontmatter,
            "resources": [
                {"uri": file_uri(self.skill_path, f.path), "digest": f.digest, "size": f.size} for f in self.files
            ],
            "_meta": meta,
        }


def file_uri(skill_path: str, path: str) -> str:
    return SCHEME + skill_path + "/" + urllib.parse.quote(path, safe=_URI_SAFE)


def split_uri(uri: str) -> list[str] | None:
    """The path segments of a ``skill://`` URI (percent-decoded), or None when it is not one we could serve."""
    if not isinstance(uri, str) or not uri.startswith(SCHEME) or len(uri) > 8192 or "?" in uri or "#" in uri:
        return None
    parts = [urllib.parse.unquote(p) for p in uri[len(SCHEME) :].split("/")]
    if len(parts) < 2 or any(p in ("", ".", "..") for p in parts):
        return None
    return parts


def skill_path(version: SkillVersion, frontmatter: Mapping[str, Any]) -> str:
    """``<namespace>/<name>``: the namespace's segments, then the frontmatter's ``name`` (SEP-2640 wants the last
    segment to be it).

    Raises:
        ValueError: a name or namespace segment that cannot stand in a URI as it is.
    """
    name = frontmatter.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name) or len(name) > 64:
        raise ValueError(f"its SKILL.md frontmatter name {name!r} is not an Agent Skills name")
    segments = [s for s in version.namespace.split("/") if s] if version.namespace else []
    bad = [s for s in segments if not _SEGMENT_RE.match(s)]
    if bad:
        raise ValueError(f"namespace segment {bad[0]!r} cannot be part of a skill:// URI")
    return "/".join([*segments, name])


def check_limits(files: Sequence[FileRef]) -> None:
    """SEP-2640's per-skill limits (512 files, 16 MiB): a server should not serve a larger skill.

    Raises:
        ValueError: over a limit.
    """
    if len(files) > MCP_MAX_FILES:
        raise ValueError(f"{len(files)} files, more than the {MCP_MAX_FILES} a skill may have over MCP")
    total = sum(f.size for f in files)
    if total > MCP_MAX_BYTES:
        raise ValueError(f"{total} bytes of files, more than the {MCP_MAX_BYTES} (16 MiB) a skill may have over MCP")


def resolve_links(entries: Mapping[str, Any], path: str, *, hops: int = 8) -> str | None:
    """Where a symbolic link inside a skill leads (a path in the skill), following links; None when it leaves the
    skill, loops or dangles. ``entries`` maps paths to objects with ``type`` and ``target``."""
    for _ in range(hops):
        entry = entries.get(path)
        if entry is None:
            return None
        if entry.type != "symlink":
            return path
        target = posixpath.normpath(posixpath.join(posixpath.dirname(path), entry.target or ""))
        if target.startswith("../") or target in (".", "..") or target.startswith("/"):
            return None
        path = target
    return None
