"""Installing skills into agents' skill directories, and keeping them up to date.

A skill lands in ``<skills dir>/<name>/`` atomically (unpacked beside it and
swapped into place), and a receipt outside the skill's own files records where
it came from: ``<skills dir>/.skillimage/receipts/<name>.json`` (the layout the
SecKatie fork of the Go tool uses). Skills installed by the Go tool, which
wrote provenance into ``skill.yaml``, are recognised too.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from skillctl.backends.base import RegistryOptions
from skillctl.core import oci
from skillctl.core.errors import DeadlineExceeded, NotFoundError, SkillctlError, UsageError
from skillctl.core.fsutil import atomic_write, file_lock, read_regular
from skillctl.core.refs import Reference, parse_reference
from skillctl.core.states import check_state
from skillctl.image.unpack import UnpackLimits, unpack_manifest
from skillctl.store.layout import Store

log = logging.getLogger(__name__)

Scope = Literal["user", "project"]
RECEIPTS: Final = Path(".skillimage") / "receipts"
MAX_RECEIPT: Final = 1024 * 1024
# (user directory relative to $HOME, project directory relative to the working directory)
TARGETS: Final = {
    "claude": (".claude/skills", ".claude/skills"),
    "cursor": (".cursor/skills", ".cursor/skills"),
    "windsurf": (".codeium/windsurf/skills", ".windsurf/skills"),
    "opencode": (".config/opencode/skills", ".opencode/skills"),
    "openclaw": (".openclaw/skills", ".openclaw/skills"),
    "agents": (".agents/skills", ".agents/skills"),
}


@dataclass(frozen=True)
class Destination:
    """Where skills are installed: an agent's directory, or a directory given with -o."""

    path: Path
    label: str


def destinations(
    target: str | None,
    output: str | Path | None,
    *,
    scope: Scope = "user",
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    require: bool = True,
) -> list[Destination]:
    """The skill directories a command works on (every agent's when neither is given and not ``require``)."""
    if target and output:
        raise UsageError("use --target or -o, not both")
    e = os.environ if env is None else env
    if output is not None:
        return [Destination(Path(output).expanduser(), str(output))]
    if target is None:
        if require:
            raise UsageError("say where: --target AGENT or -o DIR", hint=f"agents: {', '.join(TARGETS)}")
        return [d for name in TARGETS for d in destinations(name, None, scope=scope, env=e, cwd=cwd)]
    key = target.lower()
    if key not in TARGETS:
        raise UsageError(f"unknown target {target!r}", hint=f"choose one of: {', '.join(TARGETS)}")
    user, project = TARGETS[key]
    base = Path(e.get("HOME") or Path.home()) if scope == "user" else (cwd or Path.cwd())
    return [Destination(base / (user if scope == "user" else project), key)]


@dataclass
class Receipt:
    name: str
    version: str
    source: str
    digest: str
    state: str
    installed_at: str
    schema_version: int = 1

    def to_json(self) -> dict[str, Any]:
        return {
            "schemaVersion": self.schema_version,
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "digest": self.digest,
            "state": self.state,
            "installedAt": self.installed_at,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Receipt:
        return cls(
            str(data["name"]),
            str(data.get("version", "")),
            str(data.get("source", "")),
            str(data.get("digest", "")),
            str(data.get("state", "")),
            str(data.get("installedAt", "")),
        )


def _receipt_path(root: Path, name: str) -> Path:
    return root / RECEIPTS / f"{name}.json"


def _pending_path(root: Path, name: str) -> Path:
    return root / RECEIPTS / f"{name}.json.pending"


def _pending_applies(root: Path, name: str) -> dict[str, Any] | None:
    """The pending receipt of an install that was killed after swapping the files in, if it describes them."""
    try:
        data = json.loads(read_regular(_pending_path(root, name), MAX_RECEIPT))
        return data if isinstance(data, dict) and (root / name).stat().st_ino == data.get("directoryInode") else None
    except (OSError, ValueError, SkillctlError):
        return None


def _settle(root: Path, name: str) -> None:
    """Under the lock: finish or drop what a killed install or uninstall of ``name`` left behind."""
    pending = _pending_path(root, name)
    if pending.exists():
        if _pending_applies(root, name):
            os.replace(pending, _receipt_path(root, name))
        else:
            pending.unlink()
    for leftover in root.glob(f".{name}.*-*"):
        if leftover.is_dir() and leftover.name.split(".")[-1].split("-")[0] in ("unpack", "old", "remove"):
            shutil.rmtree(leftover, ignore_errors=True)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class InstallResult:
    name: str
    ref: str
    digest: str
    version: str
    state: str
    path: Path
    replaced: str | None = None
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ref": self.ref,
            "digest": self.digest,
            "version": self.version,
            "state": self.state,
            "path": str(self.path),
            "replacedVersion": self.replaced,
            "warnings": self.warnings,
        }


def _resolve(
    ref: str,
    store: Store,
    *,
    backend: str | None,
    opts: RegistryOptions,
    pull: bool,
    verify_key: str | Path | None = None,
    allow_archived: bool = False,
) -> tuple[Reference, oci.Manifest, list[str]]:
    parsed = parse_reference(ref)
    notes: list[str] = []
    if verify_key is not None and not parsed.is_remote:
        raise UsageError(f"{ref}: signatures live in registries; install a registry reference to verify it")
    if not pull or not parsed.is_remote:
        with contextlib.suppress(NotFoundError):
            entry = store.resolve(parsed)
            return parsed, store.manifest(entry.digest), notes
        if not parsed.is_remote:
            raise NotFoundError(f"{ref}: not in the local store and not a registry reference")
    from skillctl.registry.transfer import pull as do_pull
    from skillctl.trust.signing import key_verifier

    verify = key_verifier(verify_key, backend=backend, opts=opts) if verify_key is not None else None
    result = do_pull(ref, store=store, backend=backend, opts=opts, verify=verify, allow_archived=allow_archived)
    notes.extend(result.notes)
    return parsed, store.manifest(result.digest), notes


def install(
    ref: str,
    dest: Destination,
    *,
    store: Store | None = None,
    backend: str | None = None,
    opts: RegistryOptions | None = None,
    allow_archived: bool = False,
    limits: UnpackLimits | None = None,
    refresh: bool = True,
    verify_key: str | Path | None = None,
    name: str | None = None,
    source: str | None = None,
) -> InstallResult:
    """Install ``ref`` (local, or pulled from its registry) into ``dest.path/<name>/`` atomically.

    ``refresh`` pulls a registry reference even when the store has it, so a moved tag is honoured.
    ``name`` installs under another directory name than the image's (a collection's ``name:``);
    ``source`` records another origin than the reference in the receipt (a Git source).
    """
    store = store or Store()
    opts = (opts or RegistryOptions()).started()
    parsed, manifest, warnings = _resolve(
        ref, store, backend=backend, opts=opts, pull=refresh, verify_key=verify_key, allow_archived=allow_archived
    )
    check_state(ref, manifest, allow_archived=allow_archived, warnings=warnings)
    warnings = list(dict.fromkeys(warnings))
    name = name or parsed.name
    if name in (".", "..") or Path(name).name != name or not name:
        raise UsageError(f"{name!r} is not a usable skill directory name")
    root = dest.path
    root.mkdir(parents=True, exist_ok=True)
    (root / RECEIPTS).mkdir(parents=True, exist_ok=True)
    with file_lock(root / RECEIPTS / ".lock"):
        _settle(root, name)
        previous = read_receipt(root, name)
        receipt = Receipt(
            name,
            manifest.annotations.get(oci.VERSION, ""),
            source or str(parsed),
            manifest.digest,
            manifest.annotations.get(oci.STATUS, ""),
            _now(),
        )
        pending = _pending_path(root, name)

        def record(new_dir: Path) -> None:
            # The receipt names the directory's inode: after a kill between the swap and the rename below,
            # the inode tells whether the files on disk are the ones this receipt describes.
            data = {**receipt.to_json(), "directoryInode": new_dir.stat().st_ino}
            atomic_write(pending, (json.dumps(data, indent=2) + "\n").encode())

        unpack_manifest(store, manifest, root / name, limits=limits, before_swap=record)
        os.replace(pending, _receipt_path(root, name))
    return InstallResult(
        name,
        str(parsed),
        manifest.digest,
        receipt.version,
        receipt.state,
        root / name,
        previous.version if previous else None,
        warnings,
    )


def read_receipt(root: Path, name: str) -> Receipt | None:
    """The receipt of an installed skill, or Go-tool provenance from its skill.yaml."""
    pending = _pending_applies(root, name)
    if pending:
        return Receipt.from_json(pending)
    path = _receipt_path(root, name)
    if path.exists():
        try:
            data = json.loads(read_regular(path, MAX_RECEIPT))
            if not isinstance(data, dict):
                raise TypeError("not a JSON object")
            return Receipt.from_json(data)
        except (ValueError, KeyError, TypeError, OSError, SkillctlError) as exc:
            # The next install of the skill writes a new one.
            log.warning("%s: unreadable receipt, ignored (%s)", path, exc)
    card = root / name / "skill.yaml"
    if card.is_file():
        from skillctl.core.yamlsafe import load_yaml, read_text

        try:
            doc = load_yaml(read_text(card), source=str(card))
        except SkillctlError:
            return None
        prov = doc.get("provenance") if isinstance(doc, dict) else None
        meta = doc.get("metadata") if isinstance(doc, dict) else None
        if isinstance(prov, dict) and prov.get("source"):
            version = str(meta.get("version", "")) if isinstance(meta, dict) else ""
            return Receipt(name, version, str(prov["source"]), str(prov.get("commit", "")), "", "")
    return None


@dataclass
class InstalledSkill:
    name: str
    version: str
    state: str
    source: str
    digest: str
    target: str
    path: Path
    latest: str | None = None
    latest_ref: str | None = None

    @property
    def deprecated(self) -> bool:
        return self.state == "deprecated"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "state": self.state,
            "source": self.source,
            "digest": self.digest,
            "target": self.target,
            "path": str(self.path),
            "latest": self.latest,
            "latestRef": self.latest_ref,
        }


def list_installed(dests: list[Destination]) -> list[InstalledSkill]:
    """Every skill under the destinations: a subdirectory with SKILL.md or skill.yaml."""
    found = []
    for dest in dests:
        if not dest.path.is_dir():
            continue
        for child in sorted(dest.path.iterdir()):
            if child.name.startswith(".") or not child.is_dir():
                continue
            if not ((child / "SKILL.md").is_file() or (child / "skill.yaml").is_file()):
                continue
            receipt = read_receipt(dest.path, child.name)
            found.append(
                InstalledSkill(
                    child.name,
                    receipt.version if receipt else "",
                    receipt.state if receipt else "",
                    receipt.source if receipt else "",
                    receipt.digest if receipt else "",
                    dest.label,
                    child,
                )
            )
    return found


def newest_published(
    source: str,
    *,
    backend: str | None = None,
    opts: RegistryOptions | None = None,
    states: dict[str, str] | None = None,
) -> tuple[str, str] | None:
    """(version, ref) of the newest published release in the source's repository, from manifests only.

    ``states``, when given, receives the lifecycle state of every tag of the repository.
    """
    from skillctl.core.states import release_version
    from skillctl.registry.remote import list_remote

    try:
        repo = parse_reference(source)
    except UsageError:
        return None  # a Git source or a local image: nothing to upgrade from a registry
    if not repo.is_remote:
        return None
    rows = list_remote(repo.repository, backend=backend, opts=opts)
    best = None
    for row in rows:
        if states is not None:
            states[row.tag] = row.status
        version = release_version(row.tag)
        if version is None or row.status not in ("published", ""):
            continue
        if row.status == "" and row.tag.endswith(("-draft", "-testing")):
            continue
        if best is None or version > best[0]:
            best = (version, f"{repo.repository}:{row.tag}")
    return (str(best[0]), best[1]) if best else None


def check_upgrades(
    skills: list[InstalledSkill],
    *,
    backend: str | None = None,
    opts: RegistryOptions | None = None,
    warnings: list[str] | None = None,
) -> list[InstalledSkill]:
    """Fill in ``latest`` for each skill with a registry source; return the ones that can be upgraded."""
    import semver

    opts = (opts or RegistryOptions()).started()
    upgradable = []
    for skill in skills:
        states: dict[str, str] = {}
        try:
            found = newest_published(skill.source, backend=backend, opts=opts, states=states) if skill.source else None
        except DeadlineExceeded:
            raise  # the command is out of time, not this skill
        except SkillctlError as exc:
            if warnings is not None:
                warnings.append(f"cannot check {skill.name}: {exc}")
            continue
        # The registry's current state of the installed version: it may have been deprecated since.
        skill.state = states.get(skill.version.replace("+", "_")) or skill.state
        if not found:
            continue
        skill.latest, skill.latest_ref = found
        try:
            newer = semver.Version.parse(found[0]) > semver.Version.parse(skill.version)
        except ValueError:
            newer = found[0] != skill.version
        if newer:
            upgradable.append(skill)
    return upgradable


def uninstall(name: str, dest: Destination) -> Path:
    """Remove an installed skill and its receipt."""
    root = dest.path
    path = root / name
    if "/" in name or name.startswith(".") or not path.is_dir():
        raise NotFoundError(f"{name}: not installed in {root}")
    (root / RECEIPTS).mkdir(parents=True, exist_ok=True)
    with file_lock(root / RECEIPTS / ".lock"):
        _settle(root, name)
        trash = Path(tempfile.mkdtemp(prefix=f".{name}.remove-", dir=root))
        os.rename(path, trash / name)
        with contextlib.suppress(FileNotFoundError):
            _receipt_path(root, name).unlink()
        shutil.rmtree(trash, ignore_errors=True)
    return path
