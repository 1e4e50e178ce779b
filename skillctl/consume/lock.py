"""The lock file, ``skills.lock.yaml``: exactly which image every skill of a project is, dependencies included.

```yaml
# Written by skillctl from skills.yaml; do not edit (skillctl add, remove, update, sync).
lock-version: 1
skills:
- name: hello-world
  repository: registry.example.com/acme/hello-world
  version: 1.2.0
  tag: 1.2.0
  digest: sha256:...           # the manifest: what sync installs and kube --lock mounts
  state: published             # the lifecycle state when it was resolved
  content-digest: sha256:...   # the installed files (see tree_digest), for drift checks
  requested: ^1.2.0            # the range in skills.yaml (only for skills it names)
  targets: [claude]
  dependencies: {lib: ^1.0}    # edges: other entries of this lock, with the range this skill asked for
  signers:                     # verified on every sync; a kind and its fields
  - {kind: key, fingerprint: sha256:..., key: keys/cosign.pub}
```

Entries are sorted by name and keys are written in this order, so a change is a
small diff. Unknown keys are refused (with the line), like every malformed value.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from skillctl.card.skillcard import CARD_FILE
from skillctl.consume.project import LOCK, bad, parse_target
from skillctl.core.errors import SkillctlError, UsageError
from skillctl.core.fsutil import atomic_write
from skillctl.core.refs import DIGEST_RE, parse_reference
from skillctl.core.semrange import parse_range
from skillctl.core.states import STATES
from skillctl.core.yamlsafe import MarkedDict, MarkedList, load_yaml_marked, read_text

LOCK_VERSION: Final = 1
HEADER: Final = "# Written by skillctl from skills.yaml; do not edit (skillctl add, remove, update, sync).\n"
_KEYS: Final = (
    "name",
    "repository",
    "version",
    "tag",
    "digest",
    "state",
    "content-digest",
    "requested",
    "targets",
    "dependencies",
    "signers",
)
_REQUIRED: Final = ("name", "repository", "version", "tag", "digest", "state")
SIGNER_FIELDS: Final = {"key": ("fingerprint", "key")}
"""The signer kinds this version verifies, and the fields each needs. Others are refused, not ignored."""


@dataclass(frozen=True)
class Signer:
    """Who must have signed an image: a kind (``key``) and the fields that identify the signer."""

    kind: str
    fields: tuple[tuple[str, str], ...]

    def get(self, name: str) -> str:
        return dict(self.fields).get(name, "")

    def to_yaml(self) -> dict[str, str]:
        return {"kind": self.kind, **dict(self.fields)}

    @classmethod
    def key(cls, fingerprint: str, path: str) -> Signer:
        return cls("key", (("fingerprint", fingerprint), ("key", path)))


@dataclass
class LockedSkill:
    name: str
    repository: str
    version: str
    tag: str
    digest: str
    state: str
    content_digest: str | None = None
    requested: str | None = None
    targets: list[str] = field(default_factory=list)
    dependencies: dict[str, str] = field(default_factory=dict)
    signers: list[Signer] = field(default_factory=list)
    line: int = 0

    @property
    def ref(self) -> str:
        """The digest reference: what is pulled, installed and mounted."""
        return f"{self.repository}@{self.digest}"

    def to_yaml(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "repository": self.repository,
            "version": self.version,
            "tag": self.tag,
            "digest": self.digest,
            "state": self.state,
        }
        if self.content_digest:
            data["content-digest"] = self.content_digest
        if self.requested:
            data["requested"] = self.requested
        data["targets"] = sorted(self.targets)
        if self.dependencies:
            data["dependencies"] = dict(sorted(self.dependencies.items()))
        if self.signers:
            data["signers"] = [s.to_yaml() for s in sorted(self.signers, key=lambda s: s.fields)]
        return data

    def same_image(self, other: LockedSkill) -> bool:
        return (self.repository, self.digest) == (other.repository, other.digest)

    def to_json(self) -> dict[str, Any]:
        return self.to_yaml()


@dataclass
class Lock:
    path: Path
    skills: dict[str, LockedSkill] = field(default_factory=dict)

    def by_repository(self) -> dict[str, LockedSkill]:
        return {s.repository: s for s in self.skills.values()}

    def dump(self) -> str:
        import yaml

        data = {"lock-version": LOCK_VERSION, "skills": [self.skills[n].to_yaml() for n in sorted(self.skills)]}
        return HEADER + yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=200)

    def save(self) -> None:
        atomic_write(self.path, self.dump().encode())


def _text(item: MarkedDict, key: str, source: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise bad(source, item.lines.get(key, item.line), f"{key} must be a non-empty string")
    return value


def _entry(item: Any, line: int, source: str) -> LockedSkill:
    if not isinstance(item, MarkedDict):
        raise bad(source, line, "each skill must be a mapping")
    for key in item:
        if key not in _KEYS:
            raise bad(source, item.lines.get(key, line), f"unknown field {key!r}")
    for key in _REQUIRED:
        if key not in item:
            raise bad(source, line, f"{key} is missing")
    name, repo, version, tag, digest, state = (_text(item, k, source) for k in _REQUIRED)
    lines = item.lines
    try:
        ref = parse_reference(repo, what="repository")
    except UsageError as exc:
        raise bad(source, lines["repository"], exc.message) from None
    if not ref.is_remote or ref.tag or ref.digest:
        raise bad(source, lines["repository"], f"repository {repo!r} must be a registry repository without tag")
    if not DIGEST_RE.match(digest):
        raise bad(source, lines["digest"], f"digest {digest!r} is not sha256: followed by 64 lowercase hex digits")
    import semver

    try:
        semver.Version.parse(version)
    except ValueError:
        raise bad(source, lines["version"], f"version {version!r} is not a semantic version") from None
    if state not in STATES:
        raise bad(source, lines["state"], f"state {state!r} is not one of {', '.join(STATES)}")
    if "/" in name or name.startswith(".") or name in ("", ".."):
        raise bad(source, lines["name"], f"name {name!r} cannot be a directory name")
    skill = LockedSkill(name, ref.repository, version, tag, digest, state, line=line)
    if "content-digest" in item:
        skill.content_digest = _text(item, "content-digest", source)
        if not DIGEST_RE.match(skill.content_digest):
            raise bad(source, lines["content-digest"], "content-digest is not sha256: followed by 64 hex digits")
    if "requested" in item:
        skill.requested = _text(item, "requested", source)
        try:
            parse_range(skill.requested)
        except UsageError as exc:
            raise bad(source, lines["requested"], exc.message) from None
    targets = item.get("targets", [])
    if not isinstance(targets, list) or not all(isinstance(t, str) and t for t in targets):
        raise bad(source, lines.get("targets", line), "targets must be a list of target names")
    skill.targets = [parse_target(t, source=source, line=lines.get("targets", line)).spec for t in targets]
    deps = item.get("dependencies", MarkedDict())
    if not isinstance(deps, MarkedDict):
        raise bad(source, lines.get("dependencies", line), "dependencies must map skill names to version ranges")
    for dep_name, dep_range in deps.items():
        dep_line = deps.lines.get(dep_name, deps.line)
        if not isinstance(dep_name, str) or not isinstance(dep_range, str):
            raise bad(source, dep_line, "dependencies must map skill names to version ranges")
        try:
            parse_range(dep_range)
        except UsageError as exc:
            raise bad(source, dep_line, exc.message) from None
        skill.dependencies[dep_name] = dep_range
    signers = item.get("signers", MarkedList())
    if not isinstance(signers, MarkedList):
        raise bad(source, lines.get("signers", line), "signers must be a list")
    for i, signer in enumerate(signers):
        signer_line = signers.lines[i]
        if not isinstance(signer, MarkedDict) or not isinstance(signer.get("kind"), str):
            raise bad(source, signer_line, "each signer needs a kind")
        fields = tuple((str(k), str(v)) for k, v in signer.items() if k != "kind")
        if not all(isinstance(v, str) for v in signer.values()):
            raise bad(source, signer_line, "signer fields must be strings")
        skill.signers.append(Signer(signer["kind"], fields))
    return skill


def parse_lock(text: str, path: Path, *, source: str = LOCK) -> Lock:
    """Parse a lock; every problem names its line."""
    doc = load_yaml_marked(text, source=source)
    if not isinstance(doc, MarkedDict):
        raise bad(source, 1, "must be a mapping with lock-version and skills")
    for key in doc:
        if key not in ("lock-version", "skills"):
            raise bad(source, doc.lines.get(key, 1), f"unknown field {key!r}")
    if doc.get("lock-version") != LOCK_VERSION:
        raise bad(
            source,
            doc.lines.get("lock-version", 1),
            f"lock-version must be {LOCK_VERSION} (a newer skillctl may have written this lock)",
        )
    items = doc.get("skills") or MarkedList()
    if not isinstance(items, MarkedList):
        raise bad(source, doc.lines.get("skills", 1), "skills must be a list")
    lock = Lock(path)
    for i, item in enumerate(items):
        skill = _entry(item, items.lines[i], source)
        if skill.name in lock.skills:
            raise bad(source, skill.line, f"{skill.name!r} appears twice (also line {lock.skills[skill.name].line})")
        lock.skills[skill.name] = skill
    for skill in lock.skills.values():
        for dep in skill.dependencies:
            if dep not in lock.skills:
                raise bad(source, skill.line, f"{skill.name} depends on {dep!r}, which the lock does not have")
    return lock


def load_lock(path: Path) -> Lock | None:
    """The lock at ``path``, None when there is none."""
    if not path.is_file():
        return None
    return parse_lock(read_text(path, source=str(path)), path, source=str(path))


def _card_digest(path: str) -> str | None:
    """The top-level skill.yaml without the ``provenance`` install records (for the Go tool) and the version
    it sets there: the same image installed from a tag or a digest, by either tool, gives one digest."""
    from skillctl.core.yamlsafe import TextLoader, load_yaml, read_text

    try:
        card = load_yaml(read_text(Path(path)), source=path, loader=TextLoader)
    except SkillctlError:
        return None
    if not isinstance(card, dict) or not isinstance(card.get("provenance"), dict):
        return None
    card = {k: v for k, v in card.items() if k != "provenance"}
    if isinstance(card.get("metadata"), dict):
        card["metadata"] = {k: v for k, v in card["metadata"].items() if k != "version"}
    return hashlib.sha256(json.dumps(card, sort_keys=True, default=str).encode()).hexdigest()


def tree_digest(root: Path) -> str:
    """A digest of an installed skill's files: paths, kinds, exec bits, contents and link targets.

    Directory modes and times are left out (they depend on the umask and the clock), so the same
    image unpacked on any machine gives the same digest, and an edited, added or removed file changes it.
    What install records in skill.yaml for the Go tool (see ``install.write_go_provenance``) is left out too.
    """
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                entry = f"L {rel} {os.readlink(path)}"
            elif stat.S_ISDIR(info.st_mode):
                entry = f"D {rel}"
            else:
                digest = _card_digest(path) if rel == CARD_FILE else None
                if digest is None:
                    content = hashlib.sha256()
                    with open(path, "rb") as fh:
                        while chunk := fh.read(1 << 20):
                            content.update(chunk)
                    digest = content.hexdigest()
                entry = f"F {rel} {'x' if info.st_mode & 0o111 else '-'} {digest}"
            h.update(entry.encode("utf-8", "surrogateescape") + b"\0")
    return "sha256:" + h.hexdigest()


def requirers(lock: Lock) -> Mapping[str, list[tuple[str, str]]]:
    """name -> [(the entry needing it, the range it asked for)]."""
    found: dict[str, list[tuple[str, str]]] = {name: [] for name in lock.skills}
    for skill in lock.skills.values():
        for dep, rng in skill.dependencies.items():
            found[dep].append((skill.name, rng))
    return found
