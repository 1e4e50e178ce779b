"""Which files of a skill directory are its content: hidden files, VCS folders and ``.skillignore`` stay out.

One definition for what ``validate`` reports and what ``pack`` puts in the layer.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Final

IGNORE_FILE: Final = ".skillignore"
VCS_DIRS: Final = frozenset({"CVS", "_darcs", "RCS", "SCCS"})


@functools.lru_cache(maxsize=32)
def _ignore_spec(root: str, mtime_ns: int) -> object | None:
    import pathspec

    path = Path(root, IGNORE_FILE)
    if mtime_ns < 0:
        return None
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return pathspec.GitIgnoreSpec.from_lines(lines)


def load_ignore(root: Path) -> object | None:
    try:
        mtime = (root / IGNORE_FILE).stat().st_mtime_ns
    except OSError:
        mtime = -1
    return _ignore_spec(str(root.resolve()), mtime)


def excluded_reason(root: Path, rel: str) -> str | None:
    """Why ``rel`` (posix, relative to the skill root) is left out of the layer, or None."""
    parts = rel.split("/")
    for i, part in enumerate(parts):
        if part.startswith("."):
            return f"hidden {'file' if i == len(parts) - 1 else 'folder'} {part!r}"
        if part in VCS_DIRS and i < len(parts) - 1:
            return f"version-control folder {part!r}"
    spec = load_ignore(root)
    if spec is not None:
        for i in range(1, len(parts) + 1):
            candidate = "/".join(parts[:i]) + ("/" if i < len(parts) else "")
            if spec.match_file(candidate):  # type: ignore[attr-defined]
                return f"matched by {IGNORE_FILE}"
    return None
