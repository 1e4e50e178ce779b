"""Which files of a skill directory are its content: hidden files, VCS folders and ``.skillignore`` stay out;
and which file names can travel in a skill at all.

One definition for what ``validate`` reports, what ``pack`` puts in the layer and what every unpack accepts.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Final

from skillctl.core.errors import InvalidSkillError
from skillctl.core.fsutil import read_regular

IGNORE_FILE: Final = ".skillignore"
MAX_IGNORE_FILE: Final = 1024 * 1024
VCS_DIRS: Final = frozenset({"CVS", "_darcs", "RCS", "SCCS"})


@functools.lru_cache(maxsize=32)
def _ignore_spec(root: str, mtime_ns: int) -> object | None:
    import pathspec

    path = Path(root, IGNORE_FILE)
    if mtime_ns < 0:
        return None
    data = read_regular(path, MAX_IGNORE_FILE, error=InvalidSkillError)
    return pathspec.GitIgnoreSpec.from_lines(data.decode("utf-8", errors="replace").splitlines())


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


def name_problem(name: str) -> str | None:
    """Why a file name cannot travel in a skill, or None: ``pack`` refuses to write it and every unpack to
    extract it. Names are text an agent and a terminal show: valid UTF-8 without control characters."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "name is not valid UTF-8"
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in name):
        return "name contains control characters"
    return None


def unusable_names(root: Path) -> list[tuple[str, str]]:
    """(relative path, problem) for every name that would be packed but has a :func:`name_problem`."""
    spec = load_ignore(root)

    def skipped(rel: str, name: str, is_dir: bool) -> bool:
        if name.startswith(".") or (is_dir and name in VCS_DIRS):
            return True
        return spec is not None and bool(spec.match_file(rel + ("/" if is_dir else "")))  # type: ignore[attr-defined]

    found: list[tuple[str, str]] = []
    for directory, dirnames, filenames in os.walk(root):
        prefix = Path(directory).relative_to(root).as_posix()
        prefix = "" if prefix == "." else prefix + "/"
        kept = []
        for name in sorted(dirnames):
            if skipped(prefix + name, name, True):
                continue
            problem = name_problem(name)
            if problem:
                found.append((prefix + name, problem))  # what is inside is not looked at
            else:
                kept.append(name)
        dirnames[:] = kept
        for name in sorted(filenames):
            problem = name_problem(name)
            if problem and not skipped(prefix + name, name, False):
                found.append((prefix + name, problem))
    return found
