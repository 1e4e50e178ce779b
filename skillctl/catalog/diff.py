"""What changed between two versions of a catalog's skill: its index metadata, then the files of the two
unpacked trees as ``skillctl diff`` compares them (:func:`skillctl.card.diff.diff_trees`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from skillctl.card.diff import FileChange, TreeDiff, diff_trees
from skillctl.catalog.content import ContentCache
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
MAX_TEXT_DIFFS: Final = 50


@dataclass
class VersionDiff:
    old: SkillVersion
    new: SkillVersion
    metadata: list[tuple[str, Any, Any]] = field(default_factory=list)
    tree: TreeDiff | None = None  # None when both versions have the same layers (nothing was read)

    @property
    def same_layers(self) -> bool:
        return self.tree is None

    @property
    def files(self) -> list[FileChange]:
        return self.tree.files if self.tree else []

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.old.to_json(),
            "to": self.new.to_json(),
            "same_content": not self.files,
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
    if _layers(old) != _layers(new):
        result.tree = diff_trees(
            content.tree(old), content.tree(new), old_label=old.pinned, new_label=new.pinned,
            max_text_diffs=MAX_TEXT_DIFFS,
        )  # fmt: skip
    return result
