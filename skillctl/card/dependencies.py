"""A SkillCard's ``spec.dependencies``: other skills this one needs, each a reference and a version range.

``name`` is a repository reference without tag or digest, in one of three forms,
so that dependencies follow a skill when it is mirrored to another registry:

* ``registry.example.com/ns/other``: that repository;
* ``ns/other``: the same registry as the skill that declares it;
* ``other``: the same registry and namespace.

``version`` is a range (:mod:`skillctl.core.semrange`). Packed images carry the
list in the ``io.skillimage.dependencies`` annotation, so resolving them needs
manifests only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from skillctl.core.errors import UsageError
from skillctl.core.findings import Finding
from skillctl.core.refs import Reference, parse_reference

if TYPE_CHECKING:
    from skillctl.core.semrange import VersionRange


@dataclass(frozen=True)
class Dependency:
    name: str
    range: VersionRange

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "version": self.range.text}


def _check_name(name: str) -> Reference:
    ref = parse_reference(name, what="dependency name")
    if ref.tag or ref.digest:
        raise UsageError(f"dependency name {name!r} has a tag or digest; give the version as a range in 'version'")
    return ref


def dependency_findings(doc: Any, *, file: str) -> list[Finding]:
    """Problems in ``spec.dependencies`` the schema cannot see: references, ranges, duplicates, self-references."""
    spec = doc.get("spec") if isinstance(doc, Mapping) else None
    deps = spec.get("dependencies") if isinstance(spec, Mapping) else None
    if not isinstance(deps, list):
        return []
    from skillctl.core.semrange import parse_range  # and semver: only for cards that have dependencies

    meta = doc.get("metadata") if isinstance(doc.get("metadata"), Mapping) else {}
    own = {str(meta.get("name")), f"{meta.get('namespace')}/{meta.get('name')}"}
    findings: list[Finding] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(deps):
        if not isinstance(entry, Mapping):
            continue  # the schema reports it
        field = f"spec.dependencies.{i}"
        name, version = entry.get("name"), entry.get("version")
        if isinstance(name, str):
            try:
                _check_name(name)
            except UsageError as exc:
                findings.append(Finding(file, f"{field}.name", exc.message))
            else:
                if name in own:
                    findings.append(Finding(file, f"{field}.name", f"{name!r} is this skill itself"))
                if name in seen:
                    findings.append(
                        Finding(file, f"{field}.name", f"{name!r} is listed twice (also entry {seen[name]})")
                    )
                seen.setdefault(name, i)
        if isinstance(version, str):
            try:
                parse_range(version)
            except UsageError as exc:
                findings.append(Finding(file, f"{field}.version", exc.message))
    return findings


def parse_dependencies(items: Any, *, source: str) -> list[Dependency]:
    """Dependencies from a card's list or the annotation's JSON; raises UsageError naming ``source``."""
    if not isinstance(items, list):
        raise UsageError(f"{source}: dependencies must be a list of {{name, version}}")
    from skillctl.core.semrange import parse_range

    result = []
    for i, entry in enumerate(items):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            raise UsageError(f"{source}: dependency {i} must have a name and a version")
        try:
            _check_name(entry["name"])
            result.append(Dependency(entry["name"], parse_range(str(entry.get("version") or "*"))))
        except UsageError as exc:
            raise UsageError(f"{source}: dependency {i}: {exc.message}") from None
    return result


def annotation_value(card_data: Mapping[str, Any]) -> str:
    """The ``io.skillimage.dependencies`` annotation: compact JSON, empty when the skill has none."""
    deps = (card_data.get("spec") or {}).get("dependencies") or []
    if not deps:
        return ""
    return json.dumps([{"name": d["name"], "version": d["version"]} for d in deps], separators=(",", ":"))


def from_annotation(value: str, *, source: str) -> list[Dependency]:
    try:
        items = json.loads(value)
    except ValueError:
        raise UsageError(f"{source}: the dependencies annotation is not JSON") from None
    return parse_dependencies(items, source=source)


def absolute(name: str, dependent: str) -> str:
    """The repository a dependency ``name`` means, for a skill in repository ``dependent``."""
    ref = _check_name(name)
    if ref.is_remote:
        return ref.repository
    base = parse_reference(dependent)
    registry = base.registry
    if "/" in ref.repository:
        return f"{registry}/{ref.repository}" if registry else ref.repository
    parent = base.repository.rsplit("/", 1)[0] if "/" in base.repository else ""
    return f"{parent}/{ref.repository}" if parent else ref.repository
