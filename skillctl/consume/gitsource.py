"""Skills from Git repositories, for collection entries with ``source:`` (as the Go tool reads them).

URL forms, as the Go tool parses them: ``https://github.com/ORG/REPO/tree/REF/PATH``;
``HOST/GROUP/REPO/-/tree/REF/PATH`` (GitLab and any host with a ``-`` segment);
anything else is a clone URL of its own (no ref, the repository root). The clone is
shallow and temporary; the skill is packed into the store (reproducibly, so the
same commit always gives the same digest) and installed from there.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit, urlunsplit

from skillctl.core import proc
from skillctl.core.errors import InvalidSkillError, NotFoundError, UsageError
from skillctl.core.yamlsafe import load_yaml, read_text

SCHEMES: Final = ("https", "http", "file")
_SHA: Final = re.compile(r"^[0-9a-f]{7,40}$")


@dataclass(frozen=True)
class GitSource:
    url: str
    clone_url: str
    ref: str | None
    subpath: str


def parse_source(url: str) -> GitSource:
    """Split a ``source:`` URL into what to clone, which ref, and which directory.

    Raises:
        UsageError: not an http(s) or file URL, or fewer than two path segments.
    """
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or parts.username or parts.password:
        raise UsageError(f"{url!r}: a source must be an https://, http:// or file:// Git URL without credentials")
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) < 2:
        raise UsageError(f"{url!r}: the URL must name at least ORG/REPO")

    def rebuild(path: str) -> str:
        return urlunsplit((parts.scheme, parts.netloc, path, "", ""))

    if parts.netloc == "github.com" and len(segments) >= 4 and segments[2] == "tree":
        repo = "/".join(segments[:2]).removesuffix(".git")
        return GitSource(url, rebuild(f"/{repo}.git"), segments[3], "/".join(segments[4:]))
    if "-" in segments:
        dash = segments.index("-")
        repo = "/".join(segments[:dash]).removesuffix(".git")
        rest = segments[dash + 1 :]
        ref = rest[1] if len(rest) >= 2 and rest[0] == "tree" else None
        subpath = "/".join(rest[2:]) if ref else ""
        return GitSource(url, rebuild(f"/{repo}.git"), ref, subpath)
    return GitSource(url, url, None, "")


def _git(*args: str, cwd: Path | None = None, timeout: float = 300) -> str:
    # Never wait for a username on a terminal: a wrong URL must fail, not hang.
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "LC_ALL": "C"}
    return proc.run(["git", *args], cwd=cwd, env=env, timeout=timeout, what=f"git {args[0]}").text.strip()


@contextlib.contextmanager
def checkout(source: GitSource) -> Iterator[tuple[Path, str]]:
    """A temporary checkout of the source: (the directory of the skill, the commit)."""
    with tempfile.TemporaryDirectory(prefix="skillctl-git-") as tmp:
        work = Path(tmp) / "repo"
        if source.ref and _SHA.fullmatch(source.ref):
            _git("clone", "--quiet", "--no-checkout", source.clone_url, str(work))
            _git("checkout", "--quiet", source.ref, cwd=work)
        else:
            branch = ["--branch", source.ref] if source.ref else []
            _git("clone", "--quiet", "--depth", "1", *branch, source.clone_url, str(work))
        commit = _git("rev-parse", "HEAD", cwd=work)
        root = (work / source.subpath).resolve()
        if not root.is_relative_to(work.resolve()) or not root.is_dir():
            raise NotFoundError(f"{source.url}: path {source.subpath!r} is not a directory of the repository")
        yield discover(root, source.url), commit


def discover(root: Path, label: str) -> Path:
    """The skill directory: ``root`` if it holds SKILL.md, else the first one below it (hidden folders skipped)."""
    if (root / "SKILL.md").is_file():
        return root
    found = sorted(p.parent for p in root.rglob("SKILL.md") if not any(s.startswith(".") for s in p.parts))
    if not found:
        raise NotFoundError(f"{label}: no SKILL.md found")
    return found[0]


def pack_source(source: GitSource, *, name: str | None, store: object) -> tuple[str, str, str]:
    """Clone, add a SkillCard when the skill has none (Go-tool mapping, with provenance), pack.

    Returns (local reference, manifest digest, commit).
    """
    from skillctl.card.scaffold import init_skill
    from skillctl.card.skillcard import CARD_FILE
    from skillctl.image.pack import pack

    with checkout(source) as (skill_dir, commit):
        if not (skill_dir / CARD_FILE).exists():
            org = source.clone_url.rstrip("/").removesuffix(".git").split("/")[-2].lower()
            namespace = re.sub(r"[^a-z0-9-]+", "-", org).strip("-") or None
            init_skill(skill_dir, name=name, namespace=namespace)
        card_path = skill_dir / CARD_FILE
        card = load_yaml(read_text(card_path, source=f"{source.url}: {CARD_FILE}"), source=f"{source.url}: {CARD_FILE}")
        if not isinstance(card, dict):
            raise InvalidSkillError(f"{source.url}: {CARD_FILE} is not a mapping")
        card["provenance"] = {"source": source.clone_url, "commit": commit, "path": source.subpath}
        from skillctl.card.skillcard import dump_card

        card_path.write_text(dump_card(card), encoding="utf-8")
        result = pack(skill_dir, store=store)  # type: ignore[arg-type]
        return result.ref, result.digest, commit
