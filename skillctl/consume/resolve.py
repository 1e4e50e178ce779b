"""Resolving a project's version ranges, and its skills' dependencies, against registry tags.

Candidates are a repository's release tags (``1.2.0``, ``1.0.0-rc.1``) read with
their lifecycle state from the manifests (``registry.remote.list_remote``):
published releases by default, a deprecated one only when no published release
fits (with a warning), archived ones never, prereleases only when a range names
one. Each repository gets the newest version every requirement on it accepts;
a version already in the lock is kept while it still fits, so the lock changes
only where it must. A pick's dependencies come from its manifest's
``io.skillimage.dependencies`` annotation (or, for images packed without it,
from the ``skill.yaml`` in its layer) and are resolved the same way, until
nothing changes. Conflicts name the chain behind every requirement; cycles are
refused.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from skillctl.backends.base import Capability, RegistryOptions
from skillctl.card.dependencies import Dependency, absolute, from_annotation, parse_dependencies
from skillctl.core import oci
from skillctl.core.errors import ConflictError, NotFoundError, UsageError
from skillctl.core.logs import get_logger
from skillctl.core.refs import Reference, version_tag
from skillctl.core.semrange import VersionRange
from skillctl.store.layout import Store

if TYPE_CHECKING:
    import semver

log = get_logger(__name__)

MAX_ROUNDS: Final = 10_000
ROOT: Final = "skills.yaml"


@dataclass(frozen=True)
class Candidate:
    """A release of a repository: its version, tag, manifest digest and lifecycle state."""

    repository: str
    version: str
    tag: str
    digest: str
    state: str

    @property
    def semver(self) -> semver.Version:
        from semver import Version

        return Version.parse(self.version)

    @property
    def label(self) -> str:
        return f"{self.repository.rsplit('/', 1)[-1]} {self.version}"


@dataclass(frozen=True)
class Requirement:
    repository: str
    range: VersionRange
    via: tuple[str, ...]  # how it came to be asked for: skills.yaml, then each skill on the way
    owner: str | None = None  # the repository whose pick asked for it; None for the manifest

    def describe(self) -> str:
        return f"{self.range.text} ({' → '.join(self.via)})"


@dataclass
class Pick:
    candidate: Candidate
    dependencies: list[tuple[str, Dependency]]  # (absolute repository, as declared)
    kept: bool = False  # the lock's entry, unchanged


class CandidateSource:
    """Releases and dependencies from registries, each read once."""

    def __init__(self, *, store: Store, backend: str | None, opts: RegistryOptions) -> None:
        self.store = store
        self.backend = backend
        self.opts = opts
        self._releases: dict[str, list[Candidate]] = {}
        self._states: dict[str, dict[str, str]] = {}

    def releases(self, repository: str) -> list[Candidate]:
        """Every published or deprecated release, newest first."""
        if repository not in self._releases:
            from skillctl.registry.remote import list_remote

            rows = list_remote(repository, backend=self.backend, opts=self.opts, workers=8)
            found = []
            self._states[repository] = {row.tag: row.status for row in rows}
            for row in rows:
                if row.status not in ("published", "deprecated"):
                    continue
                version = _release(row.version, row.tag)
                if version is None:
                    continue  # latest, or a tag that does not name this version
                found.append(Candidate(repository, str(version), row.tag, row.digest, row.status))
            self._releases[repository] = sorted(found, key=lambda c: c.semver, reverse=True)
        return self._releases[repository]

    def state_now(self, repository: str, version: str) -> str | None:
        """The state the version's tag has now (after :meth:`releases`); None when the tag is gone."""
        self.releases(repository)
        return self._states.get(repository, {}).get(version_tag(version))

    def dependencies(self, candidate: Candidate) -> list[Dependency]:
        from skillctl.registry.client import read_manifest
        from skillctl.registry.selection import capable, select

        ref = Reference(candidate.repository, digest=candidate.digest)
        reader = capable(select(self.backend, env=self.opts.env), Capability.MANIFEST, operation="read manifests")
        manifest = oci.Manifest.parse(read_manifest(ref, reader.backend, self.opts), digest=candidate.digest)
        value = manifest.annotations.get(oci.DEPENDENCIES)
        if value is not None:
            return from_annotation(value, source=str(ref))
        return self._from_layer(ref)

    def _from_layer(self, ref: Reference) -> list[Dependency]:
        """Images packed without the annotation (the Go tool, older skillctl): read skill.yaml from the layer."""
        import tarfile

        from skillctl.core.yamlsafe import MAX_YAML_BYTES, decode_utf8, load_yaml
        from skillctl.registry.transfer import pull

        pulled = pull(str(ref), store=self.store, backend=self.backend, opts=self.opts, allow_archived=True)
        manifest = self.store.manifest(pulled.digest)
        for layer in manifest.layers:
            with tarfile.open(self.store.blob_path(layer.digest), mode="r|gz") as tar:
                for member in tar:
                    if member.name.lstrip("./") != "skill.yaml" or not member.isreg():
                        continue
                    if member.size > MAX_YAML_BYTES:
                        return []
                    data = tar.extractfile(member)
                    assert data is not None
                    doc = load_yaml(decode_utf8(data.read(), source=f"{ref} skill.yaml"), source=f"{ref} skill.yaml")
                    spec = doc.get("spec") if isinstance(doc, dict) else None
                    deps = spec.get("dependencies") if isinstance(spec, dict) else None
                    return parse_dependencies(deps, source=f"{ref} skill.yaml") if deps else []
        return []


def _release(version: str, tag: str) -> semver.Version | None:
    """The version of a release tag: the manifest's version, written as the tag (``+`` as ``_``)."""
    import semver

    try:
        parsed = semver.Version.parse(version)
        return parsed if version_tag(version) == tag else None
    except (ValueError, UsageError):
        return None


def _versions(candidates: Sequence[Candidate]) -> str:
    shown = [c.version + (" (deprecated)" if c.state == "deprecated" else "") for c in candidates[:8]]
    more = f" and {len(candidates) - 8} more" if len(candidates) > 8 else ""
    return ", ".join(shown) + more if shown else "none"


@dataclass
class Resolver:
    """Fits every requirement to one release per repository (see the module's docstring)."""

    source: CandidateSource
    keep: Mapping[str, Pick] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    on_pick: Callable[[Candidate], None] | None = None

    def resolve(self, roots: Sequence[Requirement]) -> dict[str, Pick]:
        reqs: dict[str, list[Requirement]] = defaultdict(list)
        for root in roots:
            reqs[root.repository].append(root)
        picks: dict[str, Pick] = {}
        for _ in range(MAX_ROUNDS):
            if not self._step(reqs, picks):
                break
        else:
            raise ConflictError("the dependencies did not settle on one version each", hint="report this as a bug")
        self._check_cycles(picks)
        return picks

    def _step(self, reqs: dict[str, list[Requirement]], picks: dict[str, Pick]) -> bool:
        """Fix the first repository whose pick is missing, unwanted or unfit; False when all are settled."""
        for repo in sorted(reqs):
            wanted = reqs[repo]
            pick = picks.get(repo)
            if not wanted:
                del reqs[repo]
                if pick is not None:
                    del picks[repo]
                    self._drop_owned(reqs, repo)
                return True
            if pick is not None and all(r.range.matches(pick.candidate.version) for r in wanted):
                continue
            new = self._choose(repo, wanted)
            if pick is not None:
                self._drop_owned(reqs, repo)
            picks[repo] = new
            via = (*min((r.via for r in wanted), key=len), new.candidate.label)
            for dep_repo, dep in new.dependencies:
                reqs[dep_repo].append(Requirement(dep_repo, dep.range, via, owner=repo))
            return True
        return False

    @staticmethod
    def _drop_owned(reqs: dict[str, list[Requirement]], owner: str) -> None:
        for repo in reqs:
            reqs[repo] = [r for r in reqs[repo] if r.owner != owner]

    def _choose(self, repo: str, wanted: list[Requirement]) -> Pick:
        kept = self.keep.get(repo)
        if kept is not None and all(r.range.matches(kept.candidate.version) for r in wanted):
            return kept
        try:
            releases = self.source.releases(repo)
        except NotFoundError:
            releases = []
        needed_by = "; ".join(r.describe() for r in wanted)
        if not releases:
            raise NotFoundError(
                f"{repo}: no published release in the registry, but it is needed: {needed_by}",
                hint="publish it, or fix the reference in skills.yaml or in the skill that needs it",
            )
        fitting = [c for c in releases if all(r.range.matches(c.version) for r in wanted)]
        chosen = next((c for c in fitting if c.state == "published"), None)
        if chosen is None and fitting:
            chosen = fitting[0]
            self.warnings.append(
                f"{repo}: using the deprecated {chosen.version}: no published release fits {needed_by}"
            )
        if chosen is None:
            alone = [r for r in wanted if not any(r.range.matches(c.version) for c in releases)]
            if alone:
                raise NotFoundError(
                    f"{repo}: no release fits {alone[0].describe()}; releases: {_versions(releases)}",
                    hint="widen the range, or publish a release that fits",
                )
            raise ConflictError(
                f"{repo}: no release fits every requirement: {needed_by}; releases: {_versions(releases)}",
                hint="make the ranges overlap: change skills.yaml, or update the skills that ask for it",
            )
        if self.on_pick is not None:
            self.on_pick(chosen)
        deps = self.source.dependencies(chosen)
        return Pick(chosen, [(absolute(d.name, repo), d) for d in deps])

    @staticmethod
    def _check_cycles(picks: Mapping[str, Pick]) -> None:
        state: dict[str, int] = {}  # 1: on the path, 2: done
        path: list[str] = []

        def visit(repo: str) -> None:
            state[repo] = 1
            path.append(repo)
            for dep_repo, _ in picks[repo].dependencies:
                if dep_repo not in picks:
                    continue
                if state.get(dep_repo) == 1:
                    cycle = [*path[path.index(dep_repo) :], dep_repo]
                    labels = [
                        picks[r].candidate.label if r != dep_repo or i == 0 else r.rsplit("/", 1)[-1]
                        for i, r in enumerate(cycle)
                    ]
                    raise ConflictError(
                        f"dependency cycle: {' → '.join(labels)}",
                        hint="skills cannot depend on themselves, directly or through others; break the cycle",
                    )
                if dep_repo not in state:
                    visit(dep_repo)
            path.pop()
            state[repo] = 2

        for repo in sorted(picks):
            if repo not in state:
                visit(repo)
