"""What changed between two versions of a skill: metadata, files (by sha256 and mode), and text diffs."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Final

from skillctl.catalog.content import ContentCache, FileEntry
from skillctl.catalog.records import SkillVersion
from skillctl.core import oci

METADATA_FIELDS: Final = (
    "version",
    "status",
    "digest",
    "display_name",
    "description",
    "authors",
    "license",
    "tags_json",
    "compatibility",
    "word_count",
    "created",
)
MAX_TEXT: Final = 256 * 1024
MAX_TEXT_DIFFS: Final = 50


@dataclass(frozen=True)
class FileChange:
    path: str
    change: str  # "added", "removed", "modified", "mode" (only the exec bit or type changed)
    old: FileEntry | None
    new: FileEntry | None
    diff: str | None = None  # a unified diff of text files
    note: str = ""  # why there is no text diff (binary, too large)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "change": self.change,
            "old": self.old.to_json() if self.old else None,
            "new": self.new.to_json() if self.new else None,
            "diff": self.diff,
            "note": self.note,
        }


@dataclass
class VersionDiff:
    old: SkillVersion
    new: SkillVersion
    metadata: list[tuple[str, Any, Any]] = field(default_factory=list)
    files: list[FileChange] = field(default_factory=list)
    same_layers: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.old.to_json(),
            "to": self.new.to_json(),
            "same_content": self.same_layers or not self.files,
            "metadata": [{"field": f, "from": a, "to": b} for f, a, b in self.metadata],
            "files": [c.to_json() for c in self.files],
        }


def _layers(version: SkillVersion) -> tuple[str, ...]:
    return tuple(layer.digest for layer in oci.Manifest.parse(version.manifest).layers)


def diff_versions(content: ContentCache, old: SkillVersion, new: SkillVersion) -> VersionDiff:
    """Compare two versions; their layers are read only when they differ."""
    result = VersionDiff(old, new)
    for name in METADATA_FIELDS:
        a, b = getattr(old, name), getattr(new, name)
        if a != b:
            result.metadata.append((name, a, b))
    if _layers(old) == _layers(new):
        result.same_layers = True
        return result
    before = {e.path: e for e in content.files(old)}
    after = {e.path: e for e in content.files(new)}
    texts = 0
    for path in sorted(before.keys() | after.keys()):
        a, b = before.get(path), after.get(path)
        if a and b and (a.type, a.sha256, a.target, a.mode) == (b.type, b.sha256, b.target, b.mode):
            continue
        if a is None or b is None:
            change = "added" if a is None else "removed"
        elif a.type == b.type == "file" and a.sha256 == b.sha256:
            change = "mode"
        elif a.type == "dir" and b.type == "dir":
            continue
        else:
            change = "modified"
        text, note = None, ""
        if change != "mode" and "file" in (a.type if a else "", b.type if b else ""):
            if texts >= MAX_TEXT_DIFFS:
                note = f"more than {MAX_TEXT_DIFFS} changed files: no more text diffs"
            else:
                text, note = _text_diff(content, old, new, a, b)
                texts += text is not None
        result.files.append(FileChange(path, change, a, b, text, note))
    return result


def _text(content: ContentCache, version: SkillVersion, entry: FileEntry | None) -> tuple[list[str] | None, str]:
    if entry is None or entry.type != "file":
        return [], ""
    if entry.size > MAX_TEXT:
        return None, f"larger than {MAX_TEXT // 1024} KiB"
    text = content.read_text(version, entry.path, limit=MAX_TEXT)
    if text is None:
        return None, "binary"
    return text.splitlines(keepends=True), ""


def _text_diff(
    content: ContentCache, old: SkillVersion, new: SkillVersion, a: FileEntry | None, b: FileEntry | None
) -> tuple[str | None, str]:
    before, note_a = _text(content, old, a)
    after, note_b = _text(content, new, b)
    if before is None or after is None:
        return None, note_a or note_b
    path = (b or a).path  # type: ignore[union-attr]
    lines = difflib.unified_diff(before, after, f"{old.tag}/{path}", f"{new.tag}/{path}")
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines), ""
