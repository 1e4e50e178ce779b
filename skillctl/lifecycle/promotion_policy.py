"""The promotion policy: per target state, the signed evidence a digest must carry before it is promoted there.

A YAML file (``promotion-policy.yaml`` in the working directory, or ``promote --policy FILE``) validated against
``schemas/promotion-policy-v1.json``. Keys are named once and requirements name their signers::

    apiVersion: skillimage.io/v1alpha1
    kind: PromotionPolicy
    keys: {release: keys/release.pub, alice: keys/alice.pub, bob: keys/bob.pub, ci: keys/ci.pub}
    states:
      published:
        - signature: {signers: [release]}
        - approvals: {count: 2, signers: [alice, bob]}
        - scan: {signers: [ci]}
        - attestation: {type: https://example.com/eval/v1, signers: [ci], min: {score: 0.8}}
        - validation: {strict: true}
        - promoter: {signers: [release]}

Every problem is reported at once; an unknown requirement, state, field or key name is an error naming it, never
ignored (a typo must not silently open a gate).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Final

from skillctl.core.errors import InvalidSkillError, NotFoundError, SkillctlError

DEFAULT_FILE: Final = "promotion-policy.yaml"
SCHEMA_FILE: Final = "promotion-policy-v1.json"
KINDS: Final = ("signature", "approvals", "scan", "attestation", "validation", "promoter")


class PolicyError(InvalidSkillError):
    """A promotion policy that cannot be used; ``problems`` lists every one."""


@dataclass(frozen=True)
class Requirement:
    kind: str
    where: str  # states.published[2]
    signers: tuple[str, ...] = ()
    count: int = 1
    predicate_type: str | None = None
    minimums: Mapping[str, float] = field(default_factory=dict)
    equals: Mapping[str, Any] = field(default_factory=dict)
    strict: bool = False

    def describe(self) -> str:
        who = ", ".join(self.signers)
        if self.kind == "signature":
            return f"a signature by {who}"
        if self.kind == "approvals":
            return f"{self.count} approval{'s' if self.count != 1 else ''} by distinct keys of {who}"
        if self.kind == "scan":
            return f"a passing scan (skillctl lint --attest) by {who}"
        if self.kind == "attestation":
            limits = [f"{k} >= {v}" for k, v in self.minimums.items()]
            limits += [f"{k} == {json.dumps(v)}" for k, v in self.equals.items()]
            return f"a {self.predicate_type} attestation by {who}" + (f" with {', '.join(limits)}" if limits else "")
        if self.kind == "validation":
            return "strict validation" if self.strict else "validation"
        return f"a promotion record signed by {who}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "where": self.where, "description": self.describe()}
        if self.signers:
            out["signers"] = list(self.signers)
        return out


@dataclass
class Policy:
    path: Path
    digest: str  # sha256 of the file's bytes: promotion records name it
    keys: dict[str, Any]  # name -> public key
    states: dict[str, list[Requirement]]

    def requirements(self, state: str) -> list[Requirement]:
        return list(self.states.get(state, []))

    def trusts(self, names: tuple[str, ...] | None = None) -> dict[str, Any]:
        """One ``KeyTrust`` per named key (all of them, or ``names``)."""
        from skillctl.trust.evidence import KeyTrust

        return {n: KeyTrust([self.keys[n]], n) for n in (names if names is not None else tuple(self.keys))}

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "digest": self.digest}


@functools.cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    text = resources.files("skillctl").joinpath("schemas", SCHEMA_FILE).read_text(encoding="utf-8")
    schema = json.loads(text)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _path(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"


def _schema_problems(doc: Any) -> list[str]:
    problems = []
    for err in _validator().iter_errors(doc):
        where = list(err.absolute_path)
        if err.validator == "additionalProperties":
            extras = sorted(set(err.instance) - set(err.schema.get("properties", {})), key=str)
            for extra in extras:
                if len(where) == 3 and where[0] == "states":
                    problems.append(f"{_path(where)}: unknown requirement {extra!r} (known: {', '.join(KINDS)})")
                elif where == ["states"]:
                    problems.append(
                        f"states.{extra}: not a state a promotion can reach (testing, published, deprecated, archived)"
                    )
                else:
                    problems.append(f"{_path([*where, extra])}: unknown field")
        elif err.validator == "required":
            missing = err.message.split("'")[1] if "'" in err.message else "?"
            problems.append(f"{_path([*where, missing])}: required field is missing")
        elif err.validator in ("minProperties", "maxProperties") and len(where) == 3:
            problems.append(f"{_path(where)}: each requirement is a mapping with exactly one of {', '.join(KINDS)}")
        else:
            problems.append(f"{_path(where)}: {err.message}")
    return problems


def _load_key(name: str, value: str, base: Path, problems: list[str]) -> Any:
    from skillctl.trust.keys import load_public_key, parse_public_key

    try:
        if value.lstrip().startswith("-----BEGIN"):
            return parse_public_key(value.encode(), f"keys.{name}")
        return load_public_key(base / value)
    except SkillctlError as exc:
        problems.append(f"keys.{name}: {exc.message}")
        return None


def _requirement(kind: str, body: Mapping[str, Any], where: str) -> Requirement:
    return Requirement(
        kind=kind,
        where=where,
        signers=tuple(body.get("signers") or ()),
        count=int(body.get("count", 1)),
        predicate_type=body.get("type"),
        minimums=dict(body.get("min") or {}),
        equals=dict(body.get("equals") or {}),
        strict=bool(body.get("strict", False)),
    )


def parse(doc: Any, *, path: Path, digest: str) -> Policy:
    """A policy from its parsed YAML; raises ``PolicyError`` listing every problem."""
    source = str(path)
    if not isinstance(doc, dict):
        raise PolicyError(f"{source}: a promotion policy is a YAML mapping (apiVersion, kind, keys, states)")
    problems = _schema_problems(doc)
    keys: dict[str, Any] = {}
    for name, value in (doc.get("keys") or {}).items() if isinstance(doc.get("keys"), dict) else []:
        if isinstance(value, str) and value:
            keys[name] = _load_key(str(name), value, path.parent, problems)
    states: dict[str, list[Requirement]] = {}
    for state, items in (doc.get("states") or {}).items() if isinstance(doc.get("states"), dict) else []:
        if not isinstance(items, list):
            continue
        for i, item in enumerate(items):
            if not isinstance(item, dict) or len(item) != 1:
                continue
            kind, body = next(iter(item.items()))
            if kind not in KINDS or not isinstance(body, dict):
                continue
            where = f"states.{state}[{i}]"
            req = _requirement(kind, body, where)
            for signer in req.signers:
                if signer not in (doc.get("keys") or {}):
                    problems.append(f"{where}.{kind}.signers: {signer!r} is not a key named under keys")
            if kind == "approvals" and req.signers and req.count > len(req.signers):
                problems.append(
                    f"{where}.approvals: {req.count} approvals by distinct keys, but only {len(req.signers)} "
                    "signers are listed"
                )
            states.setdefault(state, []).append(req)
    if problems:
        problems = list(dict.fromkeys(problems))
        raise PolicyError(
            f"{source}: {len(problems)} problem{'s' if len(problems) != 1 else ''} in the promotion policy"
            + (f": {problems[0]}" if len(problems) == 1 else ""),
            problems=[f"{source}: {p}" for p in problems],
            hint="fix the policy file; the schema is schemas/promotion-policy-v1.json",
        )
    return Policy(path, digest, keys, states)


def load(path: str | Path) -> Policy:
    """Read and validate a policy file."""
    p = Path(path)
    if not p.is_file():
        raise NotFoundError(f"{p}: no such promotion policy file")
    data = p.read_bytes()
    from skillctl.core.yamlsafe import load_yaml, read_text  # YAML loads only where a policy file is

    text = read_text(p)
    return parse(load_yaml(text, source=str(p)), path=p, digest="sha256:" + hashlib.sha256(data).hexdigest())


def find(explicit: str | Path | None, cwd: str | Path | None = None) -> Policy | None:
    """The policy in force: ``explicit``, else ``promotion-policy.yaml`` in ``cwd`` when there is one."""
    if explicit is not None:
        return load(explicit)
    candidate = Path(cwd or ".") / DEFAULT_FILE
    return load(candidate) if candidate.is_file() else None
