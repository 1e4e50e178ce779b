"""Installing skills into agents' skill directories, and keeping them up to date.

A skill lands in ``<skills dir>/<name>/`` atomically (unpacked beside it and
swapped into place), and a receipt outside the skill's own files records where
it came from: ``<skills dir>/.skillimage/receipts/<name>.json`` (the layout the
SecKatie fork of the Go tool uses).

The Go skillctl knows an install only by the ``provenance`` it writes into the
installed ``skill.yaml`` (source reference, manifest digest as ``commit``, the
tag as ``metadata.version``). So that either tool can list and upgrade what the
other installed, install writes the same there, and a receipt counts only while
``skill.yaml`` still names the receipt's digest: when the Go tool has installed
over it since, its provenance wins.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from skillctl.backends.base import RegistryOptions
from skillctl.consume.targets import TARGETS
from skillctl.core import oci
from skillctl.core.errors import DeadlineExceeded, NotFoundError, SkillctlError, UsageError
from skillctl.core.fsutil import atomic_write, file_lock, read_regular
from skillctl.core.logs import get_logger
from skillctl.core.refs import Reference, parse_reference
from skillctl.core.states import canonical_tag, check_state, checked_states
from skillctl.image.unpack import UnpackLimits, unpack_manifest
from skillctl.registry.transfer import Verifier
from skillctl.store.layout import Store

if TYPE_CHECKING:
    from skillctl.registry.transfer import Verifier

log = get_logger(__name__)

Scope = Literal["user", "project"]
RECEIPTS: Final = Path(".skillimage") / "receipts"
MAX_RECEIPT: Final = 1024 * 1024


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
    managed_by: str = ""  # the lock file whose sync installed it (see consume.sync)
    # What verified the installed image (``skillctl.trust.recorded``); later replacements must pass it too.
    verified_by: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "schemaVersion": self.schema_version,
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "digest": self.digest,
            "state": self.state,
            "installedAt": self.installed_at,
        }
        if self.managed_by:
            data["managedBy"] = self.managed_by
        if self.verified_by:
            data["verifiedBy"] = dict(self.verified_by)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Receipt:
        verified_by = data.get("verifiedBy")
        return cls(
            str(data["name"]),
            str(data.get("version", "")),
            str(data.get("source", "")),
            str(data.get("digest", "")),
            str(data.get("state", "")),
            str(data.get("installedAt", "")),
            managed_by=str(data.get("managedBy", "")),
            verified_by=dict(verified_by) if isinstance(verified_by, Mapping) else None,
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


def go_version(parsed: Reference, manifest: oci.Manifest) -> str:
    """The version the Go tool records for an install: the tag when it is a version, else one made from the image.

    The Go tool writes the tag (``1.0.0-draft``, ``1.0.0``) and upgrades by semver
    order, in which ``1.0.0-draft`` is older than ``1.0.0``. For ``latest`` or a
    digest it would write no usable version; the image's version and state give one.
    """
    import semver

    if parsed.tag and not parsed.digest:
        with contextlib.suppress(ValueError):
            semver.Version.parse(parsed.tag)
            return parsed.tag
    version = manifest.annotations.get(oci.VERSION, "")
    state = manifest.annotations.get(oci.STATUS, "")
    return f"{version}-{state}" if version and state in ("draft", "testing") else version


def write_go_provenance(
    skill_dir: Path, *, name: str, source: str, digest: str, version: str, manifest: oci.Manifest
) -> str | None:
    """Record the install of ``name`` in ``skill_dir/skill.yaml`` as the Go tool does; a warning when it cannot.

    A skill without ``skill.yaml`` gets a minimal one (the Go tool finds installs only through it).
    """
    from skillctl.card.skillcard import API_VERSION, CARD_FILE, KIND, dump_card
    from skillctl.core.yamlsafe import TextLoader, load_yaml, read_text

    path = skill_dir / CARD_FILE
    if path.is_symlink():
        return f"{name}: skill.yaml is a symlink; the Go skillctl will not see where it came from"
    if path.exists():
        try:
            card = load_yaml(read_text(path), source=str(path), loader=TextLoader)
        except SkillctlError as exc:
            return f"{exc}; the Go skillctl will not see where this skill came from"
        if not isinstance(card, dict) or not isinstance(card.get("metadata", {}), dict):
            return f"{path}: not a SkillCard; the Go skillctl will not see where this skill came from"
    else:
        ann = manifest.annotations
        card = {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {
                "name": name,
                "namespace": ann.get(oci.VENDOR) or "unknown",
                "version": version,
                "description": ann.get(oci.DESCRIPTION) or f"Installed from {source}",
            },
        }
    metadata = card.setdefault("metadata", {})
    if version:
        metadata["version"] = version
    provenance = card.get("provenance") if isinstance(card.get("provenance"), dict) else {}
    card["provenance"] = {**provenance, "source": source, "commit": digest}
    # Replaced, never written through: a hard link inside the skill must not change another file.
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    atomic_write(path, dump_card(card).encode("utf-8"), mode=mode)
    return None


def _go_provenance(root: Path, name: str) -> tuple[str, str, str] | None:
    """(source, commit, version) from the installed skill.yaml's provenance, as the Go tool reads it."""
    card = root / name / "skill.yaml"
    if not card.is_file():
        return None
    from skillctl.core.yamlsafe import TextLoader, load_yaml, read_text

    try:
        doc = load_yaml(read_text(card), source=str(card), loader=TextLoader)
    except SkillctlError:
        return None
    prov = doc.get("provenance") if isinstance(doc, dict) else None
    meta = doc.get("metadata") if isinstance(doc, dict) else None
    if not isinstance(prov, dict) or not prov.get("source"):
        return None
    version = str(meta.get("version") or "") if isinstance(meta, dict) else ""
    return str(prov["source"]), str(prov.get("commit") or ""), version


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
    verified_by: dict[str, Any] | None = None

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
            "verifiedBy": self.verified_by,
        }


def _resolve(
    ref: str,
    store: Store,
    *,
    backend: str | None,
    opts: RegistryOptions,
    pull: bool,
    verify: Verifier | None = None,
    policy: Verifier | None = None,
    allow_archived: bool = False,
) -> tuple[Reference, oci.Manifest, list[str]]:
    parsed = parse_reference(ref)
    notes: list[str] = []
    # A key (asked for, or recorded at install) must find a signature, which only registries hold; a signature
    # policy (``policy``) governs registry images only.
    if verify is not None and not parsed.is_remote:
        raise UsageError(
            f"{ref}: signatures live in registries; install a registry reference to verify it",
            hint="or pass --no-verify to install this local image unverified",
        )
    if not pull or not parsed.is_remote:
        with contextlib.suppress(NotFoundError):
            entry = store.resolve(parsed)
            return parsed, store.manifest(entry.digest), notes
        if not parsed.is_remote:
            raise NotFoundError(f"{ref}: not in the local store and not a registry reference")
    from skillctl.registry.transfer import pull as do_pull
    from skillctl.trust.verifiers import all_of

    verify = all_of(policy, verify)
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
    verifier: Verifier | None = None,
    no_verify: bool = False,
    name: str | None = None,
    source: str | None = None,
    managed_by: str | None = None,
) -> InstallResult:
    """Install ``ref`` (local, or pulled from its registry) into ``dest.path/<name>/`` atomically.

    ``refresh`` pulls a registry reference even when the store has it, so a moved tag is honoured.
    ``name`` installs under another directory name than the image's (a collection's ``name:``);
    ``source`` records another origin than the reference in the receipt (a Git source, whose
    packed ``skill.yaml`` already holds the Git provenance the Go tool reads, and keeps it).
    ``managed_by`` records the lock file that wants it there (``sync`` removes it when the lock no longer does).

    Verification: ``verifier`` (a signature policy or a keyless identity, from ``trust.verifiers``) checks a
    pulled registry image. ``verify_key`` requires a signature by that key and is recorded in the receipt.
    Without it, a skill whose receipt records a verification is verified the same way again
    (an upgrade never drops it silently); ``no_verify`` says explicitly to install unverified.
    """
    from skillctl.trust.recorded import describe, key_record, verifier_from_record

    store = store or Store()
    opts = (opts or RegistryOptions()).started()
    if verify_key is not None and no_verify:
        raise UsageError("--verify-key and --no-verify contradict each other")
    parsed = parse_reference(ref)
    name = name or parsed.name
    if name in (".", "..") or Path(name).name != name or not name:
        raise UsageError(f"{name!r} is not a usable skill directory name")
    root = dest.path
    verification: dict[str, Any] | None = None
    verify: Verifier | None = None
    notes: list[str] = []
    earlier = read_receipt(root, name) if root.is_dir() else None
    recorded = earlier.verified_by if earlier is not None else None
    if verify_key is not None:
        verification = key_record(verify_key)
    elif recorded and not no_verify:
        verification = recorded
    elif recorded:
        notes.append(f"{name} was installed verified with {describe(recorded)}; --no-verify drops that")
    if verification is not None:
        verify = verifier_from_record(verification, backend=backend, opts=opts, name=name)
    parsed, manifest, warnings = _resolve(
        ref,
        store,
        backend=backend,
        opts=opts,
        pull=refresh,
        verify=verify,
        policy=verifier,
        allow_archived=allow_archived,
    )
    later = None
    if (not parsed.is_remote or not refresh) and not canonical_tag(parsed.tag, manifest):
        # From the store: its archived (untagged) or deprecated manifest of the same content tells the state.
        later = next((m for _, m in checked_states(manifest) if store.has_blob(m.digest)), None)
    check_state(ref, manifest, allow_archived=allow_archived, warnings=warnings, later=later)
    warnings = list(dict.fromkeys([*notes, *warnings]))
    root.mkdir(parents=True, exist_ok=True)
    with file_lock(root / RECEIPTS / ".lock", removable=True):
        _settle(root, name)
        previous = read_receipt(root, name)
        receipt = Receipt(
            name,
            manifest.annotations.get(oci.VERSION, ""),
            source or str(parsed),
            manifest.digest,
            manifest.annotations.get(oci.STATUS, ""),
            _now(),
            verified_by=verification,
            managed_by=managed_by or "",
        )
        pending = _pending_path(root, name)

        def record(new_dir: Path) -> None:
            if source is None:
                problem = write_go_provenance(
                    new_dir,
                    name=name,
                    source=receipt.source,
                    digest=manifest.digest,
                    version=go_version(parsed, manifest),
                    manifest=manifest,
                )
                if problem:
                    warnings.append(problem)
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
        verification,
    )


def read_receipt(root: Path, name: str) -> Receipt | None:
    """The receipt of an installed skill, unless the Go tool has installed over it since; then its provenance."""
    pending = _pending_applies(root, name)
    if pending:
        return Receipt.from_json(pending)
    go = _go_provenance(root, name)
    path = _receipt_path(root, name)
    if path.exists():
        try:
            data = json.loads(read_regular(path, MAX_RECEIPT))
            if not isinstance(data, dict):
                raise TypeError("not a JSON object")
            receipt = Receipt.from_json(data)
        except (ValueError, KeyError, TypeError, OSError, SkillctlError) as exc:
            # The next install of the skill writes a new one.
            log.warning("%s: unreadable receipt, ignored (%s)", path, exc)
        else:
            # A Git install's skill.yaml holds the commit (the receipt's source ends in @commit).
            if go is None or go[1] in (receipt.digest, receipt.source.rpartition("@")[2]):
                return receipt
    if go is not None:
        source, commit, version = go
        return Receipt(name, version, source, commit, "", "")
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
    recorded_state: str = ""  # what the receipt says (the state at install time)
    state_checked: bool = False  # ``state`` was read from the registry just now
    state_detail: str = ""  # why the state is unknown or missing

    @property
    def deprecated(self) -> bool:
        return self.state == "deprecated"

    @property
    def attention(self) -> bool:
        """Deprecated, archived or gone from its registry since it was installed."""
        return self.state in ("deprecated", "archived", "missing")

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
            "recordedState": self.recorded_state,
            "stateChecked": self.state_checked,
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
                    recorded_state=receipt.state if receipt else "",
                )
            )
    return found


STATE_TIMEOUT: Final = 10.0


def refresh_states(
    skills: list[InstalledSkill],
    *,
    store: Store | None = None,
    backend: str | None = None,
    opts: RegistryOptions | None = None,
    workers: int = 4,
) -> list[str]:
    """Set each skill's ``state`` to the one its registry holds now; return warnings for what could not be read.

    The receipt's state is the one at install time; a version deprecated or archived since then shows here.
    A registry that cannot be reached (within ``opts.timeout``) gives ``unknown`` for its skills, and is
    tried once per run, not once per skill. Skills without a registry source keep the recorded state.
    """
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from skillctl.registry.remote import StateCheck, state_now

    opts = (opts or RegistryOptions()).started()
    unreachable: dict[str, str] = {}
    guard = threading.Lock()

    def check(skill: InstalledSkill) -> StateCheck | None:
        try:
            source = parse_reference(skill.source) if skill.source else None
        except UsageError:
            return None
        if source is None or not source.is_remote or not skill.digest.startswith("sha256:"):
            return None
        host = source.registry or ""
        with guard:
            if host in unreachable:
                return StateCheck("unknown", skill.digest, unreachable[host])
        known = None
        if store is not None and store.has_blob(skill.digest):
            with contextlib.suppress(SkillctlError, OSError, ValueError):
                known = store.manifest(skill.digest)
        found = state_now(
            source.repository, skill.digest, version=skill.version, known=known, backend=backend, opts=opts
        )
        if found.state == "unknown":
            with guard:
                unreachable.setdefault(host, found.detail)
        return found

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(pool.map(check, skills))
    warnings = []
    for skill, found in zip(skills, results, strict=True):
        if found is None:
            continue
        skill.state, skill.state_checked, skill.state_detail = found.state, True, found.detail
        if found.state == "unknown":
            warnings.append(f"{skill.name}: state unknown (recorded: {skill.recorded_state or '-'}): {found.detail}")
        elif found.state == "missing":
            warnings.append(f"{skill.name}: {found.detail}")
    return warnings


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
        if not skill.state_checked:
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
        raise NotFoundError(
            f"{name}: not installed in {root}",
            hint="'skillctl list --installed' shows what is installed where (with -t AGENT or -o DIR for one place)",
        )
    with file_lock(root / RECEIPTS / ".lock", removable=True):
        _settle(root, name)
        trash = Path(tempfile.mkdtemp(prefix=f".{name}.remove-", dir=root))
        os.rename(path, trash / name)
        with contextlib.suppress(FileNotFoundError):
            _receipt_path(root, name).unlink()
        shutil.rmtree(trash, ignore_errors=True)
        _remove_empty_receipts(root)
    return path


def _remove_empty_receipts(root: Path) -> None:
    """Under the lock: once no receipt is left, remove the receipts folder, its lock and ``.skillimage``.

    Waiting lockers notice that the lock file they hold was removed and lock the new one (``file_lock``).
    """
    receipts = root / RECEIPTS
    if any(p.name != ".lock" for p in receipts.iterdir()):
        return
    with contextlib.suppress(FileNotFoundError):
        (receipts / ".lock").unlink()
    with contextlib.suppress(OSError):  # not empty after all: keep it
        receipts.rmdir()
        receipts.parent.rmdir()
