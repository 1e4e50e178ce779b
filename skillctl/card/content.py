"""Which files of a skill directory are its content: hidden files, VCS folders and ``.skillignore`` stay out;
and which file names can travel in a skill at all.

One definition for what ``validate`` reports, what ``pack`` puts in the layer and what every unpack accepts.
Hidden files and folders are left out by default, as if ``.skillignore`` began with ``.*``; a ``!`` line
re-includes them with gitignore's rules (``!resources/.zshrc``; a hidden folder needs ``!.folder/`` before files
in it can come back). Version-control folders (``.git``, ``.hg``, ``.svn``, ``CVS``, ...) are always left out.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from skillctl.core.errors import InvalidSkillError
from skillctl.core.fsutil import read_regular

IGNORE_FILE: Final = ".skillignore"
MAX_IGNORE_FILE: Final = 1024 * 1024
VCS_DIRS: Final = frozenset({".git", ".hg", ".svn", ".bzr", "CVS", "_darcs", "RCS", "SCCS"})
HIDDEN_BY_DEFAULT: Final = ".*"


@dataclass(frozen=True)
class ContentRules:
    """The rules of one skill directory: its own ``.skillignore``, and that file after the hidden-files default."""

    user: Any | None  # pathspec.GitIgnoreSpec of .skillignore alone
    combined: Any  # the same after ".*"

    def excluded(self, rel: str, *, is_dir: bool = False) -> str | None:
        """Why the entry ``rel`` (posix, relative to the skill root) is left out, or None (its parents not checked)."""
        name = rel.rsplit("/", 1)[-1]
        if name in VCS_DIRS:
            return f"version-control folder {name!r}"
        key = rel + ("/" if is_dir else "")
        if self.user is not None and self.user.match_file(key):
            return f"matched by {IGNORE_FILE}"
        if self.combined.match_file(key):
            return f"hidden {'folder' if is_dir else 'file'} {name!r}"
        return None

    def excluded_child(self, rel: str, name: str, is_dir: bool) -> str | None:
        """:meth:`excluded` for ``rel`` (ending in ``name``) met in a walk that enters only folders it keeps: without
        a ``.skillignore`` its parents are then not hidden, so only the name itself is looked at (per file of a
        large skill, splitting the whole path again costs more than reading the file)."""
        if self.user is not None or not isinstance(self.combined, HiddenOnly):
            return self.excluded(rel, is_dir=is_dir)
        if name in VCS_DIRS:
            return f"version-control folder {name!r}"
        if name.startswith("."):
            return f"hidden {'folder' if is_dir else 'file'} {name!r}"
        return None


class HiddenOnly:
    """The rules of a skill without ``.skillignore``: gitignore's ``.*`` (a path is left out when any of its
    names starts with a dot), matched without loading pathspec, which most commands then never need.
    ``tests/unit/test_layer.py`` checks it against ``pathspec.GitIgnoreSpec.from_lines([".*"])``."""

    @staticmethod
    def match_file(key: str) -> bool:
        return any(part.startswith(".") for part in key.removeprefix("./").split("/"))


@functools.lru_cache(maxsize=32)
def _rules(root: str, mtime_ns: int) -> ContentRules:
    lines = []
    if mtime_ns >= 0:
        data = read_regular(Path(root, IGNORE_FILE), MAX_IGNORE_FILE, error=InvalidSkillError)
        lines = data.decode("utf-8", errors="replace").splitlines()
    if not lines:
        return ContentRules(None, HiddenOnly())
    import pathspec

    return ContentRules(
        pathspec.GitIgnoreSpec.from_lines(lines), pathspec.GitIgnoreSpec.from_lines([HIDDEN_BY_DEFAULT, *lines])
    )


def content_rules(root: Path) -> ContentRules:
    try:
        mtime = (root / IGNORE_FILE).stat().st_mtime_ns
    except OSError:
        mtime = -1
    return _rules(str(root.resolve()), mtime)


def excluded_reason(root: Path, rel: str) -> str | None:
    """Why ``rel`` (posix, relative to the skill root) is left out of the layer, or None (every parent checked)."""
    rules = content_rules(root)
    parts = rel.split("/")
    for i in range(1, len(parts) + 1):
        reason = rules.excluded("/".join(parts[:i]), is_dir=i < len(parts))
        if reason:
            return reason
    return None


MCP_MAX_FILES: Final = 512
"""SEP-2640 (Skills over MCP): hosts must accept a skill of up to this many files; larger ones may not load."""
MCP_MAX_BYTES: Final = 16 * 1024 * 1024
"""SEP-2640: the same for the total size of a skill's files (16 MiB)."""


def content_totals(root: Path) -> tuple[int, int]:
    """``(files, bytes)`` of what ``pack`` would put in the layer: regular files, and links to files (which an MCP
    server serves as files), counted with the same rules as packing; folders are not counted."""
    import os
    import stat

    rules = content_rules(root)
    files = size = 0
    pending = [(Path(root), "")]
    while pending:
        directory, prefix = pending.pop()
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            path, rel = directory / name, prefix + name
            try:
                st = path.lstat()
            except OSError:
                continue
            is_dir = stat.S_ISDIR(st.st_mode)
            if rules.excluded(rel, is_dir=is_dir):
                continue
            if is_dir:
                pending.append((path, rel + "/"))
            elif stat.S_ISREG(st.st_mode):
                files, size = files + 1, size + st.st_size
            elif stat.S_ISLNK(st.st_mode):
                try:
                    target = path.stat()
                except OSError:
                    continue
                if stat.S_ISREG(target.st_mode):
                    files, size = files + 1, size + target.st_size
    return files, size


_CONTROL: Final = re.compile("[\x00-\x1f\x7f-\x9f]")  # C0, DEL and C1


def name_problem(name: str) -> str | None:
    """Why a file name cannot travel in a skill, or None: ``pack`` refuses to write it and every unpack to
    extract it. Names are text an agent and a terminal show: valid UTF-8 without control characters."""
    if name.isascii() and name.isprintable():  # the usual name, settled without encoding it or a regex
        return None
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "name is not valid UTF-8"
    if _CONTROL.search(name):
        return "name contains control characters"
    return None


def unusable_names(root: Path) -> list[tuple[str, str]]:
    """(relative path, problem) for every name that would be packed but has a :func:`name_problem`."""
    rules = content_rules(root)

    def skipped(rel: str, is_dir: bool) -> bool:
        return rules.excluded(rel, is_dir=is_dir) is not None

    found: list[tuple[str, str]] = []
    for directory, dirnames, filenames in os.walk(root):
        prefix = Path(directory).relative_to(root).as_posix()
        prefix = "" if prefix == "." else prefix + "/"
        kept = []
        for name in sorted(dirnames):
            if skipped(prefix + name, True):
                continue
            problem = name_problem(name)
            if problem:
                found.append((prefix + name, problem))  # what is inside is not looked at
            else:
                kept.append(name)
        dirnames[:] = kept
        for name in sorted(filenames):
            problem = name_problem(name)
            if problem and not skipped(prefix + name, False):
                found.append((prefix + name, problem))
    return found
