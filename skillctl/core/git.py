"""Running ``git``: clones of skill repositories, and the commit time that dates an image.

Never waits for a password on a terminal (a wrong URL must fail, not hang), and
credentials a URL may carry never reach a message.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from skillctl.core import proc
from skillctl.core.errors import SkillctlError

_USERINFO: Final = re.compile(r"(?<=://)[^/@\s]+@")


def redact_url(text: str) -> str:
    """``https://user:token@host/x`` -> ``https://host/x`` anywhere in ``text``."""
    return _USERINFO.sub("", text)


def git(*args: str, cwd: Path | None = None, timeout: float = 300, secrets: Sequence[str] = ()) -> str:
    """Run git; stdout without the trailing newline. Raises the typed errors of :func:`proc.run`."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "LC_ALL": "C"}
    what = redact_url(f"git {args[0]}")
    return proc.run(["git", *args], cwd=cwd, env=env, timeout=timeout, what=what, secrets=secrets).text.strip()


def clean_commit_time(path: Path) -> int | None:
    """HEAD's commit time (Unix seconds) when ``path`` is in a Git work tree and nothing under it differs from HEAD.

    None outside a work tree, without git, before the first commit, or with changed,
    untracked or ignored files under ``path`` (they would be packed, but are not the
    commit's): then no honest time comes from Git.
    """
    try:  # outside a work tree (or a bare repository's folder) git status fails
        if git("status", "--porcelain", "--untracked-files=normal", "--ignored", "--", ".", cwd=path, timeout=30):
            return None
        return int(git("log", "-1", "--format=%ct", cwd=path, timeout=10))
    except (SkillctlError, ValueError, OSError):
        return None
