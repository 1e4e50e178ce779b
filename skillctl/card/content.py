"""Which files of a skill directory are its content: hidden files, VCS folders and ``.skillignore`` stay out.

One definition for what ``validate`` reports and what ``pack`` puts in the layer. Hidden files and folders
are left out by default, as if ``.skillignore`` began with ``.*``; a ``!`` line re-includes them with
gitignore's rules (``!resources/.zshrc``; a hidden folder needs ``!.folder/`` before files in it can come
back). Version-control folders (``.git``, ``.hg``, ``.svn``, ``CVS``, ...) are always left out.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

IGNORE_FILE: Final = ".skillignore"
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


@functools.lru_cache(maxsize=32)
def _rules(root: str, mtime_ns: int) -> ContentRules:
    import pathspec

    lines = []
    if mtime_ns >= 0:
        lines = Path(root, IGNORE_FILE).read_text(encoding="utf-8", errors="replace").splitlines()
    user = pathspec.GitIgnoreSpec.from_lines(lines) if lines else None
    return ContentRules(user, pathspec.GitIgnoreSpec.from_lines([HIDDEN_BY_DEFAULT, *lines]))


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
