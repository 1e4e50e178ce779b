"""Making installed skills exactly what a project's lock says: add, remove, update, sync, check, outdated.

Every command works in three steps, under an flock on the project directory
(so two runs at once take turns):

1. **Decide**: compare ``skills.yaml``, ``skills.lock.yaml`` and the installed
   skills' receipts; re-resolve (``consume.resolve``) only where the lock no
   longer fits the manifest, keeping every locked version that still does.
2. **Fetch and verify**, in parallel: every image to install is pulled by its
   locked digest into the store, its version checked against the lock, and
   every pinned signer verified (for all locked skills, installed or not).
   A failure here stops everything before any skill or file is touched.
3. **Apply**: write ``skills.yaml`` and the lock (atomically), then install,
   upgrade and remove skills, each atomically (``consume.install``), so a kill
   at any moment leaves every skill whole, old or new; the next sync finishes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skillctl.backends.base import RegistryOptions
from skillctl.card.dependencies import Dependency
from skillctl.consume.install import Destination, list_installed, read_receipt
from skillctl.consume.lock import Lock, LockedSkill, Signer, load_lock, requirers, tree_digest
from skillctl.consume.project import LOCK, MANIFEST, Project, Target, Wanted, load_project, project_lock
from skillctl.consume.resolve import ROOT, Candidate, CandidateSource, Pick, Requirement, Resolver
from skillctl.core import oci
from skillctl.core.errors import (
    ConflictError,
    DriftError,
    IntegrityError,
    LifecycleError,
    NotFoundError,
    SkillctlError,
    UsageError,
)
from skillctl.core.logs import get_logger
from skillctl.core.parallel import map_all
from skillctl.core.refs import Reference, parse_reference
from skillctl.core.semrange import caret, parse_range
from skillctl.store.layout import Store

if TYPE_CHECKING:
    import semver

log = get_logger(__name__)


@dataclass
class Context:
    """How to reach registries, where the store is, how many images to fetch at once."""

    store: Store
    backend: str | None = None
    opts: RegistryOptions = field(default_factory=RegistryOptions)
    workers: int = 4
    env: Mapping[str, str] | None = None
    # Also required of every locked image, pinned signers or not: a signature policy (``trust.verifiers``).
    policy: Callable[[str, str], str] | None = None

    def __post_init__(self) -> None:
        self.opts = self.opts.started()  # one deadline (--timeout) for everything done in this context


@dataclass
class Change:
    action: str  # install, upgrade, downgrade, replace, repair, remove, unchanged
    name: str
    target: str
    path: Path
    before: str | None = None
    after: str | None = None
    digest: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "name": self.name,
            "target": self.target,
            "path": str(self.path),
            "from": self.before,
            "to": self.after,
            "digest": self.digest,
        }

    def __str__(self) -> str:
        where = f" in {self.path.parent}"
        if self.action == "install":
            return f"install {self.name} {self.after}{where}"
        if self.action == "remove":
            return f"remove {self.name} {self.before or ''}".rstrip() + where
        if self.action == "repair":
            return f"{self.name} {self.before}: installed files differ from the lock's content digest{where}"
        if self.action == "unchanged":
            return f"{self.name} {self.after} is up to date{where}"
        return f"{self.action} {self.name} {self.before or '?'} -> {self.after}{where}"


@dataclass
class Outcome:
    """What a command did: the lock it left, whether it rewrote it, the changes to installed skills."""

    lock: Lock
    lock_written: bool
    changes: list[Change]
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "lock": str(self.lock.path),
            "lockWritten": self.lock_written,
            "skills": [s.to_json() for s in sorted(self.lock.skills.values(), key=lambda s: s.name)],
            "changes": [c.to_json() for c in self.changes if c.action != "unchanged"],
            "warnings": self.warnings,
        }


# -- 1. decide ----------------------------------------------------------------------------------


class _Keys:
    """Fingerprints of the project's key files, each read once."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self._cache: dict[str, str] = {}

    def fingerprint(self, key: str) -> str:
        if key not in self._cache:
            from skillctl.trust.keys import fingerprint, load_public_key

            self._cache[key] = fingerprint(load_public_key(self.project.key_path(key)))
        return self._cache[key]

    def signer(self, key: str) -> Signer:
        return Signer.key(self.fingerprint(key), key)


def _reach(project: Project, lock: Lock) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """From the manifest's skills through the lock's edges: each entry's targets and verify keys."""
    by_repo = lock.by_repository()
    targets: dict[str, set[str]] = {}
    keys: dict[str, set[str]] = {}
    for wanted in project.skills:
        entry = by_repo.get(wanted.repository)
        if entry is None:
            continue
        target = project.target_of(wanted).spec
        key = project.key_of(wanted)
        pending = [entry.name]
        seen: set[str] = set()
        while pending:
            name = pending.pop()
            if name in seen or name not in lock.skills:
                continue
            seen.add(name)
            targets.setdefault(name, set()).add(target)
            keys.setdefault(name, set())
            if key:
                keys[name].add(key)
            pending.extend(lock.skills[name].dependencies)
    return targets, keys


def lock_drift(project: Project, lock: Lock | None) -> list[str]:
    """Where the lock no longer says what ``skills.yaml`` asks for (read locally: no registry is asked)."""
    if lock is None:
        return [f"{LOCK} is missing: run 'skillctl sync' (or 'skillctl update') to write it"]
    drift: list[str] = []
    by_repo = lock.by_repository()
    for wanted in project.skills:
        entry = by_repo.get(wanted.repository)
        where = f"{MANIFEST}:{wanted.line}" if wanted.line else MANIFEST
        if entry is None:
            drift.append(f"{wanted.name}: wanted in {where}, missing from the lock")
            continue
        if entry.name != wanted.name:
            drift.append(f"{wanted.name}: locked under the name {entry.name!r}")
        if entry.requested != wanted.range.text:
            drift.append(
                f"{wanted.name}: {where} asks for {wanted.range.text}, the lock was resolved for "
                f"{entry.requested or 'it as a dependency'}"
            )
        elif not wanted.range.matches(entry.version):
            drift.append(f"{wanted.name}: locked {entry.version} does not fit {wanted.range.text}")
    wanted_repos = {w.repository for w in project.skills}
    targets, wanted_keys = _reach(project, lock)
    for entry in sorted(lock.skills.values(), key=lambda e: e.name):
        if entry.requested and entry.repository not in wanted_repos:
            drift.append(f"{entry.name}: in the lock, no longer in {MANIFEST}")
        if entry.name not in targets:
            drift.append(f"{entry.name}: in the lock, but nothing in {MANIFEST} needs it")
            continue
        if set(entry.targets) != targets[entry.name]:
            drift.append(
                f"{entry.name}: locked for {', '.join(sorted(entry.targets)) or 'no target'}, "
                f"{MANIFEST} wants {', '.join(sorted(targets[entry.name]))}"
            )
        # Key files are compared by name: a different key under a pinned name fails verification instead
        # (re-pinning is explicit: skillctl update NAME).
        pinned = {s.get("key") for s in entry.signers if s.kind == "key"}
        if pinned != wanted_keys[entry.name]:
            drift.append(f"{entry.name}: the signing keys in {MANIFEST} differ from the keys pinned in the lock")
        for dep, rng in sorted(entry.dependencies.items()):
            if not parse_range(rng).matches(lock.skills[dep].version):
                drift.append(f"{entry.name} needs {dep} {rng}, the lock has {dep} {lock.skills[dep].version}")
    return drift


def _kept(lock: Lock, entry: LockedSkill) -> Pick:
    candidate = Candidate(entry.repository, entry.version, entry.tag, entry.digest, entry.state)
    deps = [
        (lock.skills[name].repository, Dependency(lock.skills[name].repository, parse_range(rng)))
        for name, rng in sorted(entry.dependencies.items())
    ]
    return Pick(candidate, deps, kept=True)


def relock(
    project: Project, lock: Lock | None, ctx: Context, *, refresh: Iterable[str] | bool = False
) -> tuple[Lock, list[str]]:
    """A lock for the manifest: the old lock's entries kept where they still fit, the rest resolved anew.

    ``refresh``: True re-resolves everything, a collection of names or repositories re-resolves those.
    """
    keep: dict[str, Pick] = {}
    if lock is not None and refresh is not True:
        again = set(refresh) if not isinstance(refresh, bool) else set()
        for entry in lock.skills.values():
            if entry.name not in again and entry.repository not in again:
                keep[entry.repository] = _kept(lock, entry)
    source = CandidateSource(store=ctx.store, backend=ctx.backend, opts=ctx.opts)
    resolver = Resolver(source, keep)
    roots = [Requirement(w.repository, w.range, (ROOT,)) for w in project.skills]
    picks = resolver.resolve(roots)

    names: dict[str, str] = {}
    for wanted in project.skills:
        names[wanted.repository] = wanted.name
    for repo in sorted(picks):
        names.setdefault(repo, repo.rsplit("/", 1)[-1])
    taken: dict[str, str] = {}
    for repo, name in sorted(names.items()):
        if name in taken and repo in picks:
            raise ConflictError(
                f"two skills would install as {name!r}: {taken[name]} and {repo}",
                hint=f"give the one in {MANIFEST} another directory name with 'name:'",
            )
        taken[name] = repo

    old = lock.by_repository() if lock is not None else {}
    new = Lock(project.lock_path)
    for repo, pick in picks.items():
        c = pick.candidate
        entry = LockedSkill(names[repo], repo, c.version, c.tag, c.digest, c.state)
        previous = old.get(repo)
        if previous is not None and previous.digest == c.digest:
            entry.content_digest = previous.content_digest
        entry.dependencies = {names[dep_repo]: dep.range.text for dep_repo, dep in pick.dependencies}
        new.skills[entry.name] = entry
    for wanted in project.skills:
        new.skills[wanted.name].requested = wanted.range.text
    targets, keys = _reach(project, new)
    key_files = _Keys(project)
    for entry in new.skills.values():
        entry.targets = sorted(targets.get(entry.name, ()))
        # A key stays pinned by its fingerprint while the entry is kept; only a re-resolution re-pins it.
        kept = keep.get(entry.repository)
        previous = old.get(entry.repository)
        pinned = {s.get("key"): s for s in previous.signers} if previous is not None and kept is not None else {}
        entry.signers = [pinned.get(k) or key_files.signer(k) for k in sorted(keys.get(entry.name, ()))]
    return new, resolver.warnings


# -- 2. fetch and verify -------------------------------------------------------------------------


def _verify_signers(project: Project, entry: LockedSkill, ctx: Context) -> list[str]:
    """Check every pinned signer of ``entry``; what verified it. Raises before anything is written."""
    from skillctl.trust.keys import fingerprint, load_public_key
    from skillctl.trust.signing import SignatureError, verify

    verified = []
    for signer in entry.signers:
        if signer.kind != "key":
            raise IntegrityError(
                f"{entry.name} (line {entry.line} of {LOCK}): signer kind {signer.kind!r} cannot be verified by "
                "this skillctl",
                hint="upgrade skillctl, or re-pin the signer: skillctl update " + entry.name,
            )
        path = project.key_path(signer.get("key"))
        if not path.is_file():
            raise NotFoundError(
                f"{entry.name}: the pinned key {signer.get('key')} is missing ({path})",
                hint=f"restore it: its fingerprint is {signer.get('fingerprint')}",
            )
        if fingerprint(load_public_key(path)) != signer.get("fingerprint"):
            raise SignatureError(
                f"{entry.name}: {path} is not the pinned key (fingerprint {signer.get('fingerprint')})",
                hint="restore the key the lock names, or pin the new one: skillctl update " + entry.name,
            )
        try:
            verify(entry.ref, path, backend=ctx.backend, opts=ctx.opts, digest=entry.digest)
        except SignatureError as exc:
            raise SignatureError(
                f"{entry.name}: {entry.repository}@{entry.digest} is not signed by the pinned key "
                f"{signer.get('key')}: {exc.message}",
                hint="nothing was installed; find out why the signature changed before trusting this image",
            ) from None
        verified.append(signer.get("fingerprint"))
    return verified


def _cached(store: Store, entry: LockedSkill) -> oci.Manifest | None:
    try:
        found = store.resolve(Reference(entry.repository, digest=entry.digest))
        manifest = store.manifest(found.digest)
    except (NotFoundError, IntegrityError):
        return None
    if not all(store.has_blob(d.digest) for d in (manifest.config, *manifest.layers)):
        return None
    return manifest


def _fetch_one(project: Project, entry: LockedSkill, ctx: Context, *, pull_it: bool) -> list[str]:
    """Verify one locked image (and pull it into the store when it is to be installed); warnings."""
    from skillctl.registry.transfer import pull

    warnings: list[str] = []
    _verify_signers(project, entry, ctx)
    if ctx.policy is not None:
        ctx.policy(entry.ref, entry.digest)
    if not pull_it:
        return warnings
    manifest = _cached(ctx.store, entry)
    if manifest is None:
        try:
            result = pull(entry.ref, store=ctx.store, backend=ctx.backend, opts=ctx.opts, allow_archived=True)
        except NotFoundError:
            raise IntegrityError(
                f"{entry.name} (line {entry.line} of {LOCK}): {entry.repository} has no manifest {entry.digest}",
                hint=f"the digest was edited or the image deleted: restore {LOCK} from version control, "
                f"or resolve again with 'skillctl update {entry.name}'",
            ) from None
        manifest = ctx.store.manifest(result.digest)
    version = manifest.annotations.get(oci.VERSION, "")
    if version != entry.version:
        raise IntegrityError(
            f"{entry.name} (line {entry.line} of {LOCK}): {entry.digest} is version {version or '(none)'}, "
            f"the lock says {entry.version}",
            hint=f"the lock was edited by hand: restore {LOCK}, or resolve again with 'skillctl update {entry.name}'",
        )
    state = manifest.annotations.get(oci.STATUS, "")
    if state == "archived":
        raise LifecycleError(f"{entry.name}: {entry.ref} is archived", hint=f"skillctl update {entry.name}")
    if state == "deprecated":
        warnings.append(f"{entry.name} {entry.version} is deprecated (skillctl outdated)")
    return warnings


def fetch(project: Project, lock: Lock, to_install: set[str], ctx: Context) -> list[str]:
    """Step 2 for every entry, in parallel; the first failure (in name order) is raised after all have run."""
    entries = sorted(lock.skills.values(), key=lambda e: e.name)
    todo = [e for e in entries if e.name in to_install or e.signers]
    if not todo:
        return []
    ctx.store.init()

    def one(entry: LockedSkill) -> tuple[list[str], SkillctlError | None]:
        try:
            return _fetch_one(project, entry, ctx, pull_it=entry.name in to_install), None
        except SkillctlError as exc:
            return [], exc

    with ThreadPoolExecutor(max_workers=max(1, min(ctx.workers, len(todo)))) as pool:
        results = list(pool.map(one, todo))
    failures = [exc for _, exc in results if exc is not None]
    if failures:
        first = failures[0]
        if len(failures) > 1:
            first.message += f" (and {len(failures) - 1} more problem(s); nothing was installed)"
        raise first
    return [w for warnings, _ in results for w in warnings]


# -- 3. apply ------------------------------------------------------------------------------------


def _version_key(version: str) -> semver.Version | None:
    import semver

    try:
        return semver.Version.parse(version)
    except ValueError:
        return None


def _targets(project: Project, *locks: Lock | None) -> list[Target]:
    specs = {project.target.spec} | {w.target.spec for w in project.skills if w.target}
    for lock in locks:
        if lock is not None:
            specs |= {t for e in lock.skills.values() for t in e.targets}
    return [Target(s) for s in sorted(specs)]


def plan(
    project: Project, lock: Lock, ctx: Context, *, previous: Lock | None = None, prune: bool = False
) -> list[tuple[Change, LockedSkill | None, Destination]]:
    """What installing ``lock`` changes in each target: every skill's action, ``unchanged`` included."""
    managed = {str(lock.path.resolve())}
    actions: list[tuple[Change, LockedSkill | None, Destination]] = []
    for target in _targets(project, lock, previous):
        dest = target.destination(project.root, ctx.env)
        wanted = {e.name: e for e in lock.skills.values() if target.spec in e.targets}
        installed = {s.name: s for s in list_installed([dest])}
        for name, entry in sorted(wanted.items()):
            path = dest.path / name
            have = installed.get(name)
            receipt = read_receipt(dest.path, name) if have else None
            change = Change("install", name, target.spec, path, None, entry.version, entry.digest)
            if have is not None:
                change.before = have.version or None
                if receipt is not None and (receipt.source == entry.ref or receipt.digest == entry.digest):
                    modified = entry.content_digest and tree_digest(path) != entry.content_digest
                    change.action = "repair" if modified else "unchanged"
                else:
                    old, new = _version_key(have.version), _version_key(entry.version)
                    change.action = (
                        "upgrade" if old and new and new > old else "downgrade" if old and new and new < old
                        else "replace"
                    )  # fmt: skip
            actions.append((change, entry, dest))
        for name, have in sorted(installed.items()):
            if name in wanted:
                continue
            receipt = read_receipt(dest.path, name)
            if prune or (receipt is not None and receipt.managed_by in managed):
                actions.append((Change("remove", name, target.spec, have.path, have.version or None), None, dest))
    return actions


def _apply(
    actions: list[tuple[Change, LockedSkill | None, Destination]], lock: Lock, ctx: Context
) -> tuple[list[Change], list[str], bool]:
    """Install, upgrade and remove; fill in missing content digests. (changes, warnings, lock gained digests)."""
    from skillctl.consume.install import install, uninstall

    managed = str(lock.path.resolve())
    warnings: list[str] = []

    def one(item: tuple[Change, LockedSkill | None, Destination]) -> None:
        change, entry, dest = item
        if change.action == "remove":
            uninstall(change.name, dest)
        elif entry is not None and change.action != "unchanged":
            result = install(
                entry.ref,
                dest,
                store=ctx.store,
                backend=ctx.backend,
                opts=ctx.opts,
                refresh=False,
                allow_archived=True,
                name=entry.name,
                managed_by=managed,
            )
            warnings.extend(w for w in result.warnings if "deprecated" not in w)

    busy = [a for a in actions if a[0].action != "unchanged"]
    with ThreadPoolExecutor(max_workers=max(1, min(ctx.workers, len(busy) or 1))) as pool:
        list(pool.map(one, busy))
    filled = False
    for change, entry, _ in actions:
        if entry is not None and entry.content_digest is None and change.path.is_dir():
            entry.content_digest = tree_digest(change.path)
            filled = True
    return [a[0] for a in actions], warnings, filled


def _carry_out(
    project: Project,
    lock: Lock,
    ctx: Context,
    *,
    previous: Lock | None,
    write_lock: bool,
    write_manifest: bool = False,
    prune: bool = False,
    warnings: list[str] | None = None,
) -> Outcome:
    warnings = list(warnings or [])
    actions = plan(project, lock, ctx, previous=previous, prune=prune)
    to_install = {e.name for c, e, _ in actions if e is not None and c.action != "unchanged"}
    warnings += fetch(project, lock, to_install, ctx)
    if write_manifest:
        project.save()
    if write_lock:
        lock.save()
    changes, more, filled = _apply(actions, lock, ctx)
    if filled:
        lock.save()
    return Outcome(lock, write_lock or filled, changes, list(dict.fromkeys(warnings + more)))


# -- the commands --------------------------------------------------------------------------------


def sync(root: Path | None, ctx: Context, *, frozen: bool = False, prune: bool = False) -> Outcome:
    """Make the installed skills what the lock says; re-resolve first where the lock no longer fits the manifest.

    Raises:
        DriftError: ``frozen`` and the lock would have to change.
    """
    base = root or Path.cwd()
    with project_lock(base):
        project = load_project(base)
        lock = load_lock(project.lock_path)
        drift = lock_drift(project, lock)
        if drift and frozen:
            raise DriftError(
                f"{LOCK} does not match {MANIFEST} ({len(drift)} difference(s)): {drift[0]}",
                differences=drift,
                hint="run 'skillctl sync' without --frozen to update the lock, and commit it",
            )
        new, warnings = relock(project, lock, ctx) if drift else (lock, [])
        assert new is not None
        return _carry_out(project, new, ctx, previous=lock, write_lock=bool(drift), prune=prune, warnings=warnings)


def check(root: Path | None, ctx: Context, *, prune: bool = False) -> list[str]:
    """Every difference between the manifest, the lock and the installed skills; an empty list when in sync."""
    base = root or Path.cwd()
    with project_lock(base, shared=True):
        project = load_project(base)
        lock = load_lock(project.lock_path)
        differences = lock_drift(project, lock)
        if lock is not None:
            for change, _, _ in plan(project, lock, ctx, prune=prune):
                if change.action != "unchanged":
                    differences.append(str(change))
        return differences


def parse_add(text: str) -> tuple[Reference, str | None]:
    """``REPO``, ``REPO@RANGE`` or ``REPO:VERSION`` -> (repository, range text or None)."""
    raw = text.strip()
    rng = None
    if "@" in raw and not raw.split("@", 1)[1].startswith("sha256:"):
        raw, _, rng = raw.partition("@")
    ref = parse_reference(raw)
    if ref.digest:
        raise UsageError(
            f"{text}: a project pins versions, not digests; give a range: REPO@^1.2", hint="the lock records the digest"
        )
    if not ref.is_remote:
        raise UsageError(f"{text}: not a registry repository (registry.example.com/ns/name)")
    if ref.tag:
        if _version_key(ref.tag.replace("_", "+")) is None:
            raise UsageError(f"{text}: the tag {ref.tag!r} is not a version; give a range: REPO@^1.2")
        rng = rng or ref.tag.replace("_", "+")
    if rng is not None:
        parse_range(rng)
    return Reference(ref.repository), rng


def add(
    root: Path | None,
    text: str,
    ctx: Context,
    *,
    target: Target | None = None,
    name: str | None = None,
    verify_key: str | None = None,
) -> Outcome:
    """Add (or change) a wanted skill, resolve it with its dependencies, write both files, install."""
    base = root or Path.cwd()
    ref, rng = parse_add(text)
    if target is None and not (base / MANIFEST).is_file():
        raise UsageError(f"no {MANIFEST} in {base} yet: say where skills go with --target AGENT or -o DIR")
    with project_lock(base):
        project = load_project(base, create_with=target)
        wanted = project.find(ref.repository)
        if wanted is None:
            wanted = Wanted(ref.repository, parse_range(rng or "*"), name or ref.name, explicit_name=bool(name))
            clash = project.find(wanted.name)
            if clash is not None:
                raise ConflictError(
                    f"{wanted.name!r} is already the name of {clash.repository} in {MANIFEST}",
                    hint="give this one another name with --name",
                )
            project.skills.append(wanted)
        elif rng is not None:
            wanted.range = parse_range(rng)
        if target is not None and target != project.target:
            wanted.target = target
        if verify_key is not None:
            key = Path(verify_key)
            try:
                wanted.verify_key = str(key.resolve().relative_to(base.resolve()))
            except ValueError:
                wanted.verify_key = str(key.resolve())
        lock = load_lock(project.lock_path)
        new, warnings = relock(project, lock, ctx, refresh={wanted.repository})
        if rng is None:
            entry = new.skills[wanted.name]
            wanted.range = parse_range(caret(entry.version))
            entry.requested = wanted.range.text
        return _carry_out(project, new, ctx, previous=lock, write_lock=True, write_manifest=True, warnings=warnings)


def remove(root: Path | None, name: str, ctx: Context) -> Outcome:
    """Drop a skill from the manifest; the lock loses it and the dependencies nothing else needs; uninstall them."""
    base = root or Path.cwd()
    with project_lock(base):
        project = load_project(base)
        wanted = project.find(name)
        if wanted is None:
            raise NotFoundError(
                f"{name}: not in {project.manifest_path}",
                hint="the names are: " + (", ".join(w.name for w in project.skills) or "(none)"),
            )
        project.skills.remove(wanted)
        lock = load_lock(project.lock_path)
        new, warnings = relock(project, lock, ctx)
        return _carry_out(project, new, ctx, previous=lock, write_lock=True, write_manifest=True, warnings=warnings)


def update(root: Path | None, names: Iterable[str], ctx: Context) -> Outcome:
    """Re-resolve the named skills (all when none are named) to the newest releases their ranges allow."""
    base = root or Path.cwd()
    wanted_names = list(names)
    with project_lock(base):
        project = load_project(base)
        lock = load_lock(project.lock_path)
        for name in wanted_names:
            known = {n for e in (lock.skills.values() if lock else []) for n in (e.name, e.repository)}
            if name not in known and project.find(name) is None:
                raise NotFoundError(f"{name}: not in {MANIFEST} or {LOCK}")
        new, warnings = relock(project, lock, ctx, refresh=set(wanted_names) if wanted_names else True)
        return _carry_out(project, new, ctx, previous=lock, write_lock=True, warnings=warnings)


@dataclass
class OutdatedRow:
    name: str
    current: str
    wanted: str | None  # the newest release every range on it allows
    latest: str | None  # the newest published release
    state: str | None  # the state of the locked version's tag now (None: the tag is gone)
    locked_state: str

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "current": self.current,
            "wanted": self.wanted,
            "latest": self.latest,
            "state": self.state,
            "lockedState": self.locked_state,
        }


def outdated(root: Path | None, ctx: Context) -> list[OutdatedRow]:
    """For every locked skill: the newest release its ranges allow, the newest published one, its state now."""
    from semver import Version

    base = root or Path.cwd()
    project = load_project(base)
    lock = load_lock(project.lock_path)
    if lock is None:
        raise NotFoundError(f"{project.lock_path}: no lock yet", hint="run 'skillctl sync' to write it")
    source = CandidateSource(store=ctx.store, backend=ctx.backend, opts=ctx.opts)
    needs = requirers(lock)
    entries = sorted(lock.skills.values(), key=lambda e: e.name)

    def one(entry: LockedSkill) -> OutdatedRow:
        releases = source.releases(entry.repository)
        ranges = [parse_range(r) for _, r in needs[entry.name]] + (
            [parse_range(entry.requested)] if entry.requested else []
        )
        published = [c for c in releases if c.state == "published"]
        wanted = next((c.version for c in published if all(r.matches(c.version) for r in ranges)), None)
        latest = next((c.version for c in published if not Version.parse(c.version).prerelease), None)
        return OutdatedRow(
            entry.name, entry.version, wanted, latest, source.state_now(entry.repository, entry.version), entry.state
        )

    return map_all(one, entries, min(ctx.workers, len(entries) or 1))


def lock_mounts(path: Path, ctx: Context, *, verify: bool = True) -> list[tuple[str, str]]:
    """(name, ``repo@digest``) for every locked skill, dependencies included, for ``kube --lock``.

    With ``verify`` each digest is read from its registry and checked against the locked version,
    and pinned signers are verified, so a hand-edited lock never reaches a cluster.
    """
    lock = load_lock(path)
    if lock is None:
        raise NotFoundError(f"{path}: no such lock file", hint="write one with 'skillctl sync'")
    if verify:
        from skillctl.backends.base import Capability
        from skillctl.registry.client import read_manifest
        from skillctl.registry.selection import capable, select

        project = Project(path.parent, Target("agents"))
        reader = capable(select(ctx.backend, env=ctx.opts.env), Capability.MANIFEST, operation="read manifests")

        def check_one(entry: LockedSkill) -> None:
            _verify_signers(project, entry, ctx)
            ref = Reference(entry.repository, digest=entry.digest)
            try:
                manifest = oci.Manifest.parse(read_manifest(ref, reader.backend, ctx.opts), digest=entry.digest)
            except NotFoundError:
                raise IntegrityError(
                    f"{entry.name} (line {entry.line} of {path}): {entry.repository} has no manifest {entry.digest}",
                    hint="restore the lock from version control, or resolve again with 'skillctl update'",
                ) from None
            if manifest.annotations.get(oci.VERSION) != entry.version:
                raise IntegrityError(
                    f"{entry.name} (line {entry.line} of {path}): {entry.digest} is not version {entry.version}",
                    hint="restore the lock from version control, or resolve again with 'skillctl update'",
                )

        entries = sorted(lock.skills.values(), key=lambda e: e.name)
        map_all(check_one, entries, min(ctx.workers, len(entries) or 1))
    return [(e.name, e.ref) for e in sorted(lock.skills.values(), key=lambda e: e.name)]
