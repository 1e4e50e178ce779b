"""What changed between two versions of a skill (``skillctl diff``): a library function over two file trees.

Files added, removed and changed (size, mode, SHA-256, kind), a unified diff of every text file that changed,
the SkillCard's field changes, and (given them) the image annotations' changes. Only content ``pack`` would put
in an image is compared, so a directory and an unpacked image of it compare equal. The catalog reuses this.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from skillctl.card.content import excluded_reason
from skillctl.core.errors import SkillctlError

MAX_TEXT_DIFF: Final = 1024 * 1024  # files larger than this are compared by digest only


@dataclass(frozen=True)
class Entry:
    kind: str  # file, symlink
    size: int
    mode: int  # 0o755 or 0o644, as an image normalises them
    digest: str  # sha256 of the bytes, or of the link target

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "size": self.size, "mode": f"{self.mode:04o}", "digest": self.digest}


@dataclass
class FileChange:
    path: str
    change: str  # added, removed, changed
    old: Entry | None
    new: Entry | None
    diff: str | None = None  # unified diff of a text file
    what: list[str] = field(default_factory=list)  # content, mode, kind
    note: str = ""  # why a changed file has no text diff when that is not its content (the cap on text diffs)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path, "change": self.change, "what": self.what,
            "old": self.old.to_json() if self.old else None, "new": self.new.to_json() if self.new else None,
            "diff": self.diff, "note": self.note,
        }  # fmt: skip


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: Any
    new: Any

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "old": self.old, "new": self.new}


@dataclass
class TreeDiff:
    old: str
    new: str
    files: list[FileChange]
    skillcard: list[FieldChange]
    annotations: list[FieldChange]
    unchanged: int

    @property
    def changed(self) -> bool:
        return bool(self.files or self.skillcard or self.annotations)

    def to_json(self) -> dict[str, Any]:
        return {
            "old": self.old, "new": self.new, "changed": self.changed, "unchanged": self.unchanged,
            "summary": {k: sum(1 for f in self.files if f.change == k) for k in ("added", "removed", "changed")},
            "files": [f.to_json() for f in self.files],
            "skillcard": [c.to_json() for c in self.skillcard],
            "annotations": [c.to_json() for c in self.annotations],
        }  # fmt: skip


def _walk(root: Path) -> Iterator[tuple[str, Path]]:
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        keep = []
        for d in sorted(dirnames):
            if excluded_reason(root, rel_dir + d + "/x") is not None:
                continue
            if (Path(dirpath) / d).is_symlink():
                filenames.append(d)  # a link to a directory is an entry, not a tree to enter
                continue
            keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            rel = rel_dir + name
            if excluded_reason(root, rel) is None:
                yield rel, Path(dirpath) / name


def _entry(path: Path) -> Entry | None:
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        target = os.readlink(path)
        return Entry("symlink", len(target), 0o777, "sha256:" + hashlib.sha256(target.encode()).hexdigest())
    if not stat.S_ISREG(info.st_mode):
        return None
    sha = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            sha.update(chunk)
    mode = 0o755 if info.st_mode & 0o111 else 0o644
    return Entry("file", info.st_size, mode, "sha256:" + sha.hexdigest())


def tree_entries(root: str | Path) -> dict[str, Entry]:
    """The content of a skill directory: relative path -> kind, size, mode (as packed), digest."""
    root = Path(root)
    out = {}
    for rel, path in _walk(root):
        entry = _entry(path)
        if entry is not None:
            out[rel] = entry
    return out


def _text(path: Path, entry: Entry) -> list[str] | None:
    if entry.kind != "file" or entry.size > MAX_TEXT_DIFF:
        return None
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8").splitlines(keepends=True)
    except UnicodeDecodeError:
        return None


def _unified(
    old_root: Path, new_root: Path, rel: str, old: Entry | None, new: Entry | None, context: int
) -> str | None:
    a = _text(old_root / rel, old) if old else []
    b = _text(new_root / rel, new) if new else []
    if a is None or b is None:
        return None
    lines = difflib.unified_diff(a, b, f"a/{rel}" if old else "/dev/null", f"b/{rel}" if new else "/dev/null",
                                 n=context)  # fmt: skip
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out or ({prefix: {}} if prefix else {})
    return {prefix: value} if prefix else {}


def _field_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[FieldChange]:
    keys = sorted(set(old) | set(new))
    return [FieldChange(k, old.get(k), new.get(k)) for k in keys if old.get(k) != new.get(k)]


def _card(root: Path) -> dict[str, Any]:
    from skillctl.core.yamlsafe import load_yaml, read_text

    path = root / "skill.yaml"
    if not path.is_file():
        return {}
    try:
        doc = load_yaml(read_text(path), source=str(path))
    except SkillctlError:
        return {"(unreadable skill.yaml)": True}
    return _flatten(doc) if isinstance(doc, dict) else {}


def diff_trees(
    old: str | Path,
    new: str | Path,
    *,
    old_annotations: Mapping[str, str] | None = None,
    new_annotations: Mapping[str, str] | None = None,
    context: int = 3,
    old_label: str | None = None,
    new_label: str | None = None,
    max_text_diffs: int | None = None,
) -> TreeDiff:
    """Compare two skill trees (directories, or images unpacked from the store or a registry).

    ``max_text_diffs`` bounds how many files get a text diff (a server answering for untrusted content);
    the rest are still listed, with a note.
    """
    old_root, new_root = Path(old), Path(new)
    a, b = tree_entries(old_root), tree_entries(new_root)
    files = []
    unchanged = 0
    texts = 0
    for rel in sorted(set(a) | set(b)):
        before, after = a.get(rel), b.get(rel)
        if before == after:
            unchanged += 1
            continue
        change = "added" if before is None else "removed" if after is None else "changed"
        what = []
        if before and after:
            checks = (("kind", before.kind != after.kind), ("content", before.digest != after.digest),
                      ("mode", before.mode != after.mode))  # fmt: skip
            what = [w for w, differs in checks if differs]
        text, note = None, ""
        if change != "changed" or "content" in what:
            if max_text_diffs is not None and texts >= max_text_diffs:
                note = f"more than {max_text_diffs} changed files: no more text diffs"
            else:
                text = _unified(old_root, new_root, rel, before, after, context)
                texts += text is not None
        files.append(FileChange(rel, change, before, after, text, what, note))
    return TreeDiff(
        old_label or str(old_root),
        new_label or str(new_root),
        files,
        _field_changes(_card(old_root), _card(new_root)),
        _field_changes(dict(old_annotations or {}), dict(new_annotations or {})),
        unchanged,
    )
