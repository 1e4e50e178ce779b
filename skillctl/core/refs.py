"""Image references: ``[registry/]path[:tag][@digest]``.

Parsing follows the distribution reference grammar, split the way the Go
skillctl does it (the tag is the last ``:`` after the last ``/``), so
``localhost:5000/ns/name:1.0.0`` works. A reference without tag or digest means
``latest``, as in every container tool.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Final

from skillctl.core.errors import UsageError

_COMPONENT: Final = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
# Always used with fullmatch: ``$`` alone also matches before a final newline ("ns/evil\n").
_PATH_RE: Final = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_HOST_RE: Final = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"|\[[0-9a-fA-F:]+\])(?::[0-9]{1,5})?"
)
TAG_RE: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
DIGEST_RE: Final = re.compile(r"sha256:[a-f0-9]{64}")
DEFAULT_TAG: Final = "latest"
_REF_HINT: Final = (
    "a reference looks like namespace/name:tag, registry.example.com/namespace/name:tag or name@sha256:..."
)


def is_attachment_tag(tag: str) -> bool:
    """cosign's signature, attestation and SBOM tags (``sha256-<hex>.sig``), which are not versions."""
    if not tag.startswith("sha256-"):
        return False
    # cosign's .sig/.att/.sbom tags, and the OCI 1.1 referrers fallback tag (sha256-<hex> alone).
    return tag.endswith((".sig", ".att", ".sbom")) or bool(re.fullmatch(r"sha256-[a-f0-9]{64}", tag))


def is_digest(value: str) -> bool:
    return bool(DIGEST_RE.fullmatch(value))


def is_tag(value: str) -> bool:
    """Whether ``value`` can be a tag (a registry may list tags no client can use)."""
    return bool(TAG_RE.fullmatch(value))


def parse_registry(text: str) -> str:
    """A registry host (``host[:port]``) as ``login`` and ``logout`` take it; a leading scheme is dropped.

    Raises:
        UsageError: anything else (a path, spaces, control characters).
    """
    host = text.strip().removeprefix("https://").removeprefix("http://").rstrip("/")
    if not host or len(host) > 255 or not _HOST_RE.fullmatch(host):
        raise UsageError(
            f"invalid registry {text!r}: expected a host name with an optional port, such as quay.io or localhost:5000"
        )
    return host


def _looks_like_host(segment: str) -> bool:
    return "." in segment or ":" in segment or segment == "localhost" or segment.startswith("[")


@dataclass(frozen=True, order=True)
class Reference:
    """A parsed image reference. ``repository`` includes the registry host if any."""

    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def registry(self) -> str | None:
        first, _, rest = self.repository.partition("/")
        return first if rest and _looks_like_host(first) else None

    @property
    def path(self) -> str:
        """The repository path without the registry host."""
        registry = self.registry
        return self.repository[len(registry) + 1 :] if registry else self.repository

    @property
    def name(self) -> str:
        """The last path segment: the skill's directory name when unpacked."""
        return self.repository.rsplit("/", 1)[-1]

    @property
    def is_remote(self) -> bool:
        return self.registry is not None

    @property
    def tag_or_default(self) -> str:
        return self.tag or DEFAULT_TAG

    def with_tag(self, tag: str) -> Reference:
        return replace(self, tag=tag, digest=None)

    def with_digest(self, digest: str) -> Reference:
        return replace(self, tag=None, digest=digest)

    def __str__(self) -> str:
        text = self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    @property
    def store_name(self) -> str:
        """The string recorded as ``org.opencontainers.image.ref.name`` in the store."""
        return f"{self.repository}:{self.tag_or_default}" if not self.digest else str(self)


def parse_reference(text: str, *, what: str = "reference") -> Reference:
    """Parse ``text`` or raise :class:`UsageError` naming what is wrong."""
    raw = text.strip()
    if not raw:
        raise UsageError(f"empty {what}", hint=_REF_HINT)
    name, digest = raw, None
    if "@" in raw:
        name, _, digest = raw.partition("@")
        if not is_digest(digest):
            raise UsageError(
                f"invalid {what} {text!r}: digest must be sha256: followed by 64 lowercase hex digits", hint=_REF_HINT
            )
    tag = None
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not TAG_RE.fullmatch(tag):
            raise UsageError(
                f"invalid {what} {text!r}: tag {tag!r} must be 1-128 letters, digits, '_', '.' or '-'",
                hint="semver build metadata ('+') is written as '_' in tags",
            )
    first, sep, rest = name.partition("/")
    path = rest if sep and _looks_like_host(first) else name
    if sep and _looks_like_host(first) and not _HOST_RE.fullmatch(first):
        raise UsageError(f"invalid {what} {text!r}: bad registry host {first!r}", hint=_REF_HINT)
    if not _PATH_RE.fullmatch(path):
        raise UsageError(
            f"invalid {what} {text!r}: repository path must be lowercase letters, digits and "
            "'.', '_', '-' separated by '/'",
            hint=_REF_HINT,
        )
    if len(name) > 255:
        raise UsageError(f"invalid {what} {text!r}: repository name longer than 255 characters", hint=_REF_HINT)
    return Reference(repository=name, tag=tag, digest=digest)


def version_tag(version: str, suffix: str = "") -> str:
    """The tag for a semver version: '+' is not allowed in tags, so it becomes '_' (as Helm does)."""
    tag = version.replace("+", "_") + suffix
    if not TAG_RE.fullmatch(tag):
        raise UsageError(f"version {version!r} gives the invalid tag {tag!r}")
    return tag
