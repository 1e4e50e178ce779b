"""SKILL.md: frontmatter parsing and the Agent Skills format checks.

What no agent can load (unparseable frontmatter) is an error. What some agents
still load is a warning that says what they do with it, so skills the Go
skillctl packs pack here too: no frontmatter or no description (spec-following
agents skip the skill; Claude Code names it after its directory and describes it
by its first paragraph), a name differing from the directory, long fields,
client-specific keys. ``--strict`` turns warnings into errors.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from skillctl.core.errors import InvalidSkillError
from skillctl.core.findings import Finding
from skillctl.core.yamlsafe import load_yaml

SPEC_KEYS: Final = frozenset({"name", "description", "license", "compatibility", "metadata", "allowed-tools"})
NAME_RE: Final = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
MAX_NAME: Final = 64
MAX_DESCRIPTION: Final = 1024
MAX_COMPATIBILITY: Final = 500
RECOMMENDED_MAX_LINES: Final = 500
_FENCE_RE: Final = re.compile(r"^---[ \t]*\r?$", re.MULTILINE)
_NO_DESCRIPTION: Final = (
    "agents that follow the Agent Skills spec skip a skill without a description; "
    "Claude Code loads it under its directory name and uses the first paragraph as the description"
)


@dataclass
class SkillDocument:
    """A parsed SKILL.md: the frontmatter mapping (or None) and the Markdown body."""

    file: str
    frontmatter: dict[str, Any] | None
    body: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def word_count(self) -> int:
        return len(self.body.split())


def split_frontmatter(text: str) -> tuple[str | None, str]:
    """Split ``---``-fenced YAML frontmatter from the body; (None, text) when absent."""
    if not (text.startswith("---\n") or text.startswith("---\r\n")):
        return None, text
    first_newline = text.index("\n") + 1
    closing = _FENCE_RE.search(text, first_newline)
    if closing is None:
        raise ValueError("frontmatter starts with '---' but has no closing '---' line")
    body_start = closing.end() + 1 if closing.end() < len(text) else closing.end()
    return text[first_newline : closing.start()], text[body_start:]


def parse_skill_document(text: str, *, file: str = "SKILL.md") -> SkillDocument:
    """Parse SKILL.md text; unparseable frontmatter becomes an error finding, not an exception."""
    try:
        raw, body = split_frontmatter(text)
    except ValueError as exc:
        return SkillDocument(file, None, text, [Finding(file, "frontmatter", str(exc))])
    if raw is None:
        return SkillDocument(file, None, body)
    try:
        data = load_yaml(raw, source=f"{file} frontmatter")
    except InvalidSkillError as exc:
        return SkillDocument(file, None, body, [Finding(file, "frontmatter", exc.message.split(": ", 1)[-1])])
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return SkillDocument(file, None, body, [Finding(file, "frontmatter", "must be a YAML mapping")])
    return SkillDocument(file, data, body)


def check_document(doc: SkillDocument, *, expected_name: str | None, directory: str | None = None) -> list[Finding]:
    """Agent Skills checks on a parsed document.

    ``expected_name`` is the directory agents will see once the skill is installed (the SkillCard's name);
    ``directory`` is the one it sits in now, which agents reading it in place see (the spec wants them equal).
    """
    findings = list(doc.findings)
    file = doc.file
    if doc.frontmatter is None:
        if not findings:
            findings.append(Finding(file, "frontmatter", f"missing: {_NO_DESCRIPTION}", "warning"))
        return findings
    fm = doc.frontmatter

    def warn(key: str, message: str) -> None:
        findings.append(Finding(file, f"frontmatter.{key}", message, "warning"))

    description = fm.get("description")
    if not isinstance(description, str) or not description.strip():
        warn("description", f"missing: {_NO_DESCRIPTION}")
    elif len(description) > MAX_DESCRIPTION:
        warn("description", f"is {len(description)} characters; the Agent Skills limit is {MAX_DESCRIPTION}")

    name = fm.get("name")
    if name is None:
        warn("name", "missing: clients fall back to the directory name")
    elif not isinstance(name, str):
        warn("name", "must be a string")
    else:
        normalized = unicodedata.normalize("NFKC", name)
        if len(normalized) > MAX_NAME:
            warn("name", f"is {len(normalized)} characters; the limit is {MAX_NAME}")
        if not NAME_RE.match(normalized):
            warn("name", f"{name!r} must be lowercase letters, digits and single hyphens")
        if expected_name and normalized != expected_name:
            warn("name", f"{name!r} differs from the directory name {expected_name!r} agents will see")
        if directory and normalized != directory and directory != expected_name:
            warn(
                "name",
                f"{name!r} differs from the directory {directory!r} it is in "
                "(the Agent Skills format wants them equal; agents loading it from there may skip it)",
            )

    compatibility = fm.get("compatibility")
    if compatibility is not None and (not isinstance(compatibility, str) or not compatibility):
        warn("compatibility", "must be a non-empty string")
    elif isinstance(compatibility, str) and len(compatibility) > MAX_COMPATIBILITY:
        warn("compatibility", f"is {len(compatibility)} characters; the limit is {MAX_COMPATIBILITY}")
    for key in ("license", "allowed-tools"):
        if key == "allowed-tools" and isinstance(fm.get(key), list):
            warn(key, "is a list: Claude Code accepts it, the Agent Skills format wants one space-separated string")
        elif key in fm and not isinstance(fm[key], str):
            warn(key, "must be a string")
    metadata = fm.get("metadata")
    if metadata is not None and not (isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())):
        warn("metadata", "must map strings to strings")
    for key in sorted(set(fm) - SPEC_KEYS, key=str):
        warn(str(key), "not an Agent Skills field (client-specific; other agents ignore or reject it)")
    lines = doc.body.count("\n") + 1
    if lines > RECOMMENDED_MAX_LINES:
        findings.append(
            Finding(file, "", f"body is {lines} lines; agents recommend under {RECOMMENDED_MAX_LINES}", "warning")
        )
    return findings


def json_value(value: Any) -> Any:
    """YAML frontmatter as JSON: mappings, lists and scalars as they are; dates as ISO 8601 text; keys as text."""
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return str(value)


def frontmatter_json(text: str) -> dict[str, Any] | None:
    """A SKILL.md's frontmatter as a JSON object (as Skills over MCP and agent-registry carry it), None without one."""
    doc = parse_skill_document(text)
    return json_value(doc.frontmatter) if doc.frontmatter is not None else None
