"""The project manifest, ``skills.yaml``: the skills a project wants, each a repository and a version range.

```yaml
apiVersion: skillimage.io/v1alpha1
kind: SkillProject
target: claude                 # where skills go (below)
verify-key: keys/cosign.pub    # optional: every skill must be signed by this key
skills:
  - repository: registry.example.com/acme/hello-world
    version: ^1.2.0            # a range (core.semrange); default: any published release
    name: hello                # optional: the directory name (default: the repository's last segment)
    target: ./skills           # optional: another target for this skill (and its dependencies)
    verify-key: other.pub      # optional: this skill's key instead of the project's
```

A target is an agent (``claude``: ``<project>/.claude/skills``; ``claude:user``:
``~/.claude/skills``) or a directory (anything with a ``/``, or starting with
``.`` or ``~``), relative to the project. The lock beside it is
``skills.lock.yaml`` (:mod:`skillctl.consume.lock`). Both are rewritten
atomically, in a fixed key order; comments in ``skills.yaml`` are not kept.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from skillctl.consume.install import TARGETS, Destination, destinations
from skillctl.core.errors import InvalidSkillError, NotFoundError, SkillctlError, StoreError, UsageError
from skillctl.core.fsutil import atomic_write
from skillctl.core.refs import parse_reference
from skillctl.core.semrange import VersionRange, parse_range
from skillctl.core.yamlsafe import MarkedDict, MarkedList, load_yaml_marked, read_text

MANIFEST: Final = "skills.yaml"
LOCK: Final = "skills.lock.yaml"
API_VERSION: Final = "skillimage.io/v1alpha1"
KIND: Final = "SkillProject"
_TOP_KEYS: Final = ("apiVersion", "kind", "target", "verify-key", "skills")
_SKILL_KEYS: Final = ("repository", "version", "name", "target", "verify-key")
_NAME: Final = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")


def bad(source: str, line: int, message: str) -> InvalidSkillError:
    """An error naming the file and line, as every malformed manifest and lock error does."""
    where = f"{source}:{line}" if line else source
    return InvalidSkillError(f"{where}: {message}", hint=f"fix line {line} of {source}" if line else None)


@dataclass(frozen=True)
class Target:
    """Where skills are installed, as written in the manifest."""

    spec: str

    @property
    def is_directory(self) -> bool:
        return "/" in self.spec or self.spec.startswith((".", "~"))

    def destination(self, root: Path, env: Mapping[str, str] | None = None) -> Destination:
        if self.is_directory:
            path = Path(self.spec).expanduser()
            return Destination(path if path.is_absolute() else root / path, self.spec)
        agent, _, scope = self.spec.partition(":")
        (dest,) = destinations(agent, None, scope=scope or "project", env=env, cwd=root)  # type: ignore[arg-type]
        return Destination(dest.path, self.spec)


def parse_target(text: Any, *, source: str = "target", line: int = 0) -> Target:
    if not isinstance(text, str) or not text.strip():
        raise bad(source, line, "target must be an agent name (claude, claude:user) or a directory (./skills)")
    spec = text.strip()
    target = Target(spec)
    if not target.is_directory:
        agent, _, scope = spec.partition(":")
        if agent.lower() not in TARGETS or scope not in ("", "user", "project"):
            raise bad(
                source,
                line,
                f"unknown target {spec!r}: an agent ({', '.join(TARGETS)}), optionally :user or :project, "
                "or a directory such as ./skills",
            )
        target = Target(agent.lower() + (f":{scope}" if scope else ""))
    return target


@dataclass
class Wanted:
    """One skill the manifest asks for."""

    repository: str
    range: VersionRange
    name: str
    target: Target | None = None
    verify_key: str | None = None
    explicit_name: bool = False
    line: int = 0

    def to_yaml(self) -> dict[str, Any]:
        data: dict[str, Any] = {"repository": self.repository, "version": self.range.text}
        if self.explicit_name:
            data["name"] = self.name
        if self.target is not None:
            data["target"] = self.target.spec
        if self.verify_key:
            data["verify-key"] = self.verify_key
        return data


@dataclass
class Project:
    """A project directory: ``skills.yaml`` (what is wanted) and ``skills.lock.yaml`` (what was resolved)."""

    root: Path
    target: Target
    skills: list[Wanted] = field(default_factory=list)
    verify_key: str | None = None

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    @property
    def lock_path(self) -> Path:
        return self.root / LOCK

    def target_of(self, wanted: Wanted) -> Target:
        return wanted.target or self.target

    def key_of(self, wanted: Wanted) -> str | None:
        return wanted.verify_key or self.verify_key

    def key_path(self, key: str) -> Path:
        path = Path(key).expanduser()
        return path if path.is_absolute() else self.root / path

    def find(self, name: str) -> Wanted | None:
        """The wanted skill called ``name``, or whose repository is ``name``."""
        for wanted in self.skills:
            if name in (wanted.name, wanted.repository):
                return wanted
        return None

    def dump(self) -> str:
        import yaml

        data: dict[str, Any] = {"apiVersion": API_VERSION, "kind": KIND, "target": self.target.spec}
        if self.verify_key:
            data["verify-key"] = self.verify_key
        data["skills"] = [w.to_yaml() for w in sorted(self.skills, key=lambda w: w.name)]
        return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=120)

    def save(self) -> None:
        atomic_write(self.manifest_path, self.dump().encode())


def _check_keys(data: MarkedDict, allowed: tuple[str, ...], source: str, what: str) -> None:
    for key in data:
        if key not in allowed:
            raise bad(
                source,
                data.lines.get(key, data.line),
                f"unknown field {key!r} in {what} (allowed: {', '.join(allowed)})",
            )


def _string(data: MarkedDict, key: str, source: str, *, required: bool = False) -> str | None:
    value = data.get(key)
    line = data.lines.get(key, data.line)
    if value is None:
        if required:
            raise bad(source, data.line, f"{key} is missing")
        return None
    if not isinstance(value, str) or not value.strip():
        raise bad(source, line, f"{key} must be a non-empty string (quote it if it looks like a number)")
    return value.strip()


def parse_manifest(text: str, root: Path, *, source: str = MANIFEST) -> Project:
    """Parse ``skills.yaml``; every problem names its line."""
    doc = load_yaml_marked(text, source=source)
    if not isinstance(doc, MarkedDict):
        raise bad(source, 1, "must be a mapping with apiVersion, kind, target and skills")
    _check_keys(doc, _TOP_KEYS, source, "the project")
    if doc.get("apiVersion") != API_VERSION:
        raise bad(source, doc.lines.get("apiVersion", 1), f"apiVersion must be {API_VERSION}")
    if doc.get("kind") != KIND:
        raise bad(source, doc.lines.get("kind", 1), f"kind must be {KIND}")
    target = parse_target(doc.get("target"), source=source, line=doc.lines.get("target", doc.line))
    project = Project(root, target, verify_key=_string(doc, "verify-key", source))
    skills = doc.get("skills")
    if skills is None:
        skills = MarkedList()
    if not isinstance(skills, MarkedList):
        raise bad(source, doc.lines.get("skills", 1), "skills must be a list")
    by_name: dict[str, int] = {}
    for i, item in enumerate(skills):
        line = skills.lines[i]
        if not isinstance(item, MarkedDict):
            raise bad(source, line, "each skill must be a mapping with repository and version")
        _check_keys(item, _SKILL_KEYS, source, "a skill")
        repo_text = _string(item, "repository", source, required=True)
        assert repo_text is not None
        try:
            ref = parse_reference(repo_text, what="repository")
        except UsageError as exc:
            raise bad(source, item.lines["repository"], exc.message) from None
        if not ref.is_remote or ref.tag or ref.digest:
            raise bad(
                source,
                item.lines["repository"],
                f"{repo_text!r} must be a registry repository without tag or digest (registry.example.com/ns/name)",
            )
        try:
            version = parse_range(_string(item, "version", source) or "*")
        except UsageError as exc:
            raise bad(source, item.lines.get("version", line), exc.message) from None
        name = _string(item, "name", source)
        if name is not None and not _NAME.match(name):
            raise bad(source, item.lines["name"], f"name {name!r} must be lowercase letters, digits, '.', '_' or '-'")
        target_text = item.get("target")
        wanted = Wanted(
            ref.repository,
            version,
            name or ref.name,
            parse_target(target_text, source=source, line=item.lines.get("target", line)) if target_text else None,
            _string(item, "verify-key", source),
            explicit_name=name is not None,
            line=line,
        )
        if wanted.name in by_name:
            raise bad(
                source,
                line,
                f"two skills are named {wanted.name!r} (also line {by_name[wanted.name]}); give one a 'name:'",
            )
        by_name[wanted.name] = line
        project.skills.append(wanted)
    return project


def load_project(root: str | Path | None = None, *, create_with: Target | None = None) -> Project:
    """The project in ``root`` (default: the working directory); a new, empty one if ``create_with`` is given."""
    base = Path(root) if root is not None else Path.cwd()
    path = base / MANIFEST
    if not path.is_file():
        if create_with is not None:
            return Project(base, create_with)
        raise NotFoundError(
            f"{path}: no such file", hint="create it with 'skillctl add REPOSITORY -t AGENT', or pass --project DIR"
        )
    return parse_manifest(read_text(path, source=str(path)), base, source=str(path))


@contextlib.contextmanager
def project_lock(root: Path, *, shared: bool = False, timeout: float = 300.0) -> Iterator[None]:
    """Serialise commands on one project: an flock on the project directory itself (no extra file in it)."""
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise SkillctlError(f"{root}: cannot open the project directory ({exc.strerror})") from None
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StoreError(
                        f"{root}: another skillctl is still working on this project after {timeout:.0f}s",
                        hint="wait for it to finish",
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)
