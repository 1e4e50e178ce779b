"""Skills from Git repositories: ``pack URL`` and collection entries with ``source:``, as the Go tool reads them.

URL forms, as the Go tool parses them: ``https://github.com/ORG/REPO/tree/REF/PATH``;
``HOST/GROUP/REPO/-/tree/REF/PATH`` (GitLab and any host with a ``-`` segment);
anything else is a clone URL of its own (no ref, the repository root). ``file://``
URLs work too (local mirrors). The clone is shallow and temporary.

Every directory holding a ``SKILL.md`` is a skill (hidden folders skipped, a skill's
own subfolders not searched), named by its frontmatter ``name`` or its folder, in
name order. A skill without ``skill.yaml`` gets one generated from the frontmatter
(namespace: the repository's organisation). Every card records its provenance
(clone URL, commit, path) in the packed ``skill.yaml`` and in the
``org.opencontainers.image.source``/``revision`` annotations, and the image is
dated by the commit: the same commit always packs to the same digest.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from skillctl.core.errors import InvalidSkillError, NotFoundError, SkillctlError, UsageError
from skillctl.core.git import git, redact_url

SCHEMES: Final = ("https", "http", "file")
_SHA: Final = re.compile(r"^[0-9a-f]{7,40}$")


def is_git_url(text: str) -> bool:
    """Whether ``text`` names a Git repository rather than a directory (``https://``, ``http://``, ``file://``)."""
    return urlsplit(text).scheme in SCHEMES and "://" in text


@dataclass(frozen=True)
class GitSource:
    url: str
    clone_url: str
    ref: str | None
    subpath: str

    @property
    def org(self) -> str:
        """The organisation: the namespace of generated cards.

        As the Go tool takes it, the first path segment of an http(s) clone URL; for a
        ``file://`` URL, whose first segments are local folders, the folder holding the repository.
        """
        parts = urlsplit(self.clone_url)
        segments = [s for s in parts.path.split("/") if s]
        if len(segments) < 2:
            return ""
        return segments[-2] if parts.scheme == "file" else segments[0]

    @property
    def repo_name(self) -> str:
        return self.clone_url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git") or "repo"


def parse_source(url: str, *, ref: str | None = None) -> GitSource:
    """Split a Git URL into what to clone, which ref (``ref`` overrides the URL's) and which directory.

    Raises:
        UsageError: not an http(s) or file URL, credentials in it, or fewer than two path segments.
    """
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or parts.username or parts.password:
        raise UsageError(
            f"{redact_url(url)!r}: a source must be an https://, http:// or file:// Git URL without credentials"
        )
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) < 2:
        raise UsageError(f"{url!r}: the URL must name at least ORG/REPO")

    def rebuild(path: str) -> str:
        return urlunsplit((parts.scheme, parts.netloc, path, "", ""))

    if parts.netloc == "github.com":
        repo = f"{segments[0]}/{segments[1].removesuffix('.git')}"
        tree = len(segments) >= 4 and segments[2] == "tree"
        source = GitSource(
            url, rebuild(f"/{repo}.git"), segments[3] if tree else None, "/".join(segments[4:]) if tree else ""
        )
    elif parts.netloc == "gitlab.com" or "-" in segments:
        tree = next((i for i, s in enumerate(segments) if s == "-" and segments[i + 1 : i + 2] == ["tree"]), None)
        if tree is not None and len(segments) > tree + 2:
            repo, url_ref, subpath = "/".join(segments[:tree]), segments[tree + 2], "/".join(segments[tree + 3 :])
        else:
            repo, url_ref, subpath = "/".join(segments[:2]), None, ""
        source = GitSource(url, rebuild(f"/{repo.removesuffix('.git')}.git"), url_ref, subpath)
    else:
        source = GitSource(url, url, None, "")
    if ".." in source.subpath.split("/"):
        raise UsageError(f"{url!r}: the path in the URL must stay inside the repository")
    return GitSource(source.url, source.clone_url, ref or source.ref, source.subpath) if ref else source


@dataclass(frozen=True)
class Checkout:
    """A temporary clone: the directory the URL points at, the commit and its time."""

    repo: Path
    root: Path
    commit: str
    commit_time: int


@contextlib.contextmanager
def checkout(source: GitSource) -> Iterator[Checkout]:
    """A temporary shallow clone of the source at its ref (a commit SHA is fetched in full, then checked out).

    Raises:
        NotFoundError: the path in the URL is not in the repository.
        SkillctlError: git failed (its message, credentials removed).
    """
    with tempfile.TemporaryDirectory(prefix="skillctl-git-") as tmp:
        # Cloned into a folder named after the repository: a skill at the root is named after it.
        work = Path(tmp) / source.repo_name
        if source.ref and _SHA.match(source.ref):
            git("clone", "--quiet", "--no-checkout", source.clone_url, str(work))
            git("checkout", "--quiet", source.ref, cwd=work)
        else:
            branch = ["--branch", source.ref] if source.ref else []
            git("clone", "--quiet", "--depth", "1", *branch, source.clone_url, str(work))
        commit = git("rev-parse", "HEAD", cwd=work)
        commit_time = int(git("log", "-1", "--format=%ct", cwd=work))
        root = (work / source.subpath).resolve() if source.subpath else work.resolve()
        if not root.is_relative_to(work.resolve()) or not root.exists():
            raise NotFoundError(f"path {source.subpath!r} not found in repository {redact_url(source.clone_url)}")
        yield Checkout(work.resolve(), root, commit, commit_time)


def skill_name(skill_dir: Path) -> str:
    """A discovered skill's name, as the Go tool resolves it: the frontmatter ``name``, else the folder's."""
    from skillctl.card.skillmd import parse_skill_document

    try:
        text = (skill_dir / "SKILL.md").read_text(encoding="utf-8", errors="replace")
        fm = parse_skill_document(text).frontmatter or {}
    except OSError:
        fm = {}
    name = fm.get("name")
    return name if isinstance(name, str) and name else skill_dir.name


def discover(root: Path, *, pattern: str | None = None, label: str = "") -> list[tuple[str, Path]]:
    """Every skill under ``root`` as (name, directory), sorted by name; ``pattern`` is a glob on the name.

    ``root`` itself is the only skill when it holds SKILL.md. Hidden folders are skipped,
    symlinked folders not followed, and a skill's own subfolders are not searched.

    Raises:
        NotFoundError: no skill (matching ``pattern``) below ``root``.
    """
    found: list[tuple[str, Path]] = []
    if (root / "SKILL.md").is_file():
        found.append((skill_name(root), root))
    else:
        for current, dirs, _files in os.walk(root):
            here = Path(current)
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            if here != root and (here / "SKILL.md").is_file():
                found.append((skill_name(here), here))
                dirs[:] = []
    if pattern:
        found = [(name, path) for name, path in found if fnmatch.fnmatchcase(name, pattern)]
    if not found:
        where = label or str(root)
        raise NotFoundError(f"no skills matching {pattern!r} in {where}" if pattern else f"no skills found in {where}")
    return sorted(found, key=lambda item: (item[0], str(item[1])))


@dataclass
class PackedSkill:
    """One skill of a repository: packed (``ref``, ``digest``) or failed (``error``)."""

    name: str
    path: str
    ref: str = ""
    digest: str = ""
    status: str = ""
    card: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    error: SkillctlError | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "ref": self.ref or None,
            "digest": self.digest or None,
            "status": self.status or "failed",
            "warnings": self.warnings,
            "error": str(self.error) if self.error else None,
        }


@dataclass
class GitPackResult:
    source: GitSource
    commit: str
    skills: list[PackedSkill]

    @property
    def failed(self) -> list[PackedSkill]:
        return [s for s in self.skills if s.error is not None]


def _card_with_provenance(skill_dir: Path, source: GitSource, co: Checkout) -> dict[str, Any]:
    """The skill's SkillCard (generated from SKILL.md when it has none) with the Git provenance, written back."""
    from skillctl.card.scaffold import card_from_skill_md
    from skillctl.card.skillcard import CARD_FILE, dump_card
    from skillctl.core.yamlsafe import TextLoader, load_yaml, read_text

    card_path = skill_dir / CARD_FILE
    label = f"{redact_url(source.url)}: {skill_dir.relative_to(co.repo).as_posix()}/{CARD_FILE}"
    if card_path.exists():
        card = load_yaml(read_text(card_path, source=label), source=label, loader=TextLoader)
        if not isinstance(card, dict):
            raise InvalidSkillError(f"{label}: must be a YAML mapping with apiVersion, kind and metadata")
    else:
        org = source.org.lower()
        namespace = re.sub(r"[^a-z0-9/]+", "-", org).strip("-/") or None
        card, _ = card_from_skill_md(skill_dir, namespace=namespace, default_author=source.org or None)
    rel = skill_dir.relative_to(co.repo).as_posix()
    card["provenance"] = {"source": source.clone_url, "commit": co.commit, "path": rel}
    card_path.write_text(dump_card(card), encoding="utf-8")
    return card


def pack_git(
    url: str,
    *,
    store: Any = None,
    ref: str | None = None,
    pattern: str | None = None,
    tag: str | None = None,
    media_type: str | None = None,
    strict: bool = False,
    first_only: bool = False,
) -> GitPackResult:
    """Clone ``url`` and pack every skill in it (``first_only``: the first by name), each on its own.

    One skill failing does not stop the others: its ``error`` is set. ``tag`` is
    refused when the repository holds more than one skill.

    Raises:
        UsageError: a bad URL, or ``tag`` with several skills.
        NotFoundError: no skill (matching ``pattern``), or the path is not in the repository.
        SkillctlError: the clone failed.
    """
    from skillctl.image.pack import pack

    source = parse_source(url, ref=ref)
    with checkout(source) as co:
        skills = discover(co.root, pattern=pattern, label=redact_url(url))
        if first_only:
            skills = skills[:1]
        if tag and len(skills) > 1:
            raise UsageError(
                f"--tag names one image, and {redact_url(url)} holds {len(skills)} skills",
                hint="pick one with --filter NAME, or drop --tag",
            )
        packed = []
        for name, skill_dir in skills:
            item = PackedSkill(name, skill_dir.relative_to(co.repo).as_posix())
            try:
                item.card = _card_with_provenance(skill_dir, source, co)
                result = pack(
                    skill_dir, store=store, tag=tag, media_type=media_type, strict=strict, commit_time=co.commit_time
                )
                item.ref, item.digest, item.status = result.ref, result.digest, result.status
                item.warnings = [str(w) for w in result.warnings]
            except SkillctlError as exc:
                item.error = exc
            packed.append(item)
        return GitPackResult(source, co.commit, packed)
