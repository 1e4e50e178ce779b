"""Promotion gates: a policy's requirements for a state, checked against the signed evidence on a digest.

Evidence counts only when its signature verifies with a key the requirement names, and only for the digests its
subject names: the digest being promoted, the digests its promotion records lead back to (each link checked byte
for byte: the same manifest with another status), and its own manifest in the other states. So evidence gathered
on a draft carries to the testing and published digests the promotions mint, and nothing else does: a forged or
unsigned attestation, or one about another digest, never satisfies a gate.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from skillctl.backends.base import RegistryOptions
from skillctl.card.lint import PREDICATE_TYPE as SCAN
from skillctl.core import oci
from skillctl.core.errors import LifecycleError, SkillctlError
from skillctl.core.refs import Reference
from skillctl.lifecycle import records
from skillctl.lifecycle.promotion_policy import Policy, Requirement
from skillctl.trust import attest
from skillctl.trust import evidence as ev


class GateError(LifecycleError):
    """A promotion the policy does not allow yet; ``problems`` lists every unmet requirement."""

    def __init__(self, message: str, *, problems: list[str], hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.problems = problems


@dataclass
class Outcome:
    requirement: Requirement
    met: bool
    detail: str
    evidence: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {**self.requirement.to_json(), "met": self.met, "detail": self.detail, "evidence": self.evidence}


@dataclass
class GateReport:
    state: str
    digest: str
    digests: list[str]  # whose evidence was considered
    outcomes: list[Outcome]
    policy: Policy

    @property
    def unmet(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.met]

    def evidence(self) -> list[dict[str, Any]]:
        """What the met requirements rested on, for the promotion record."""
        return [{"requirement": o.requirement.kind, **e} for o in self.outcomes if o.met for e in o.evidence]

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state, "digest": self.digest, "policy": self.policy.to_json(),
            "allowed": not self.unmet, "considered": self.digests,
            "requirements": [o.to_json() for o in self.outcomes],
        }  # fmt: skip

    def raise_if_unmet(self, ref: str) -> None:
        if not self.unmet:
            return
        problems = [f"{o.requirement.describe()}: {o.detail}" for o in self.unmet]
        raise GateError(
            f"{ref}: {len(problems)} of {len(self.outcomes)} requirement{'s' if len(self.outcomes) != 1 else ''} "
            f"for {self.state} not met ({self.policy.path})",
            problems=problems,
            hint="add the missing evidence (skillctl approve, attest, lint --attest, sign), then promote again",
        )


def _lookup(predicate: Any, path: str) -> Any:
    value = predicate
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _predicate_fails(req: Requirement, predicate: Any) -> str | None:
    for path, minimum in req.minimums.items():
        value = _lookup(predicate, path)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{path} is {value!r}, not a number"
        if value < minimum:
            return f"{path} is {value}, below {minimum}"
    for path, wanted in req.equals.items():
        value = _lookup(predicate, path)
        if value != wanted:
            return f"{path} is {value!r}, not {wanted!r}"
    return None


class _Evidence:
    """The attestations and signatures on the related digests, read once and checked per requirement."""

    def __init__(self, policy: Policy, repo: Reference, digests: list[str], backend: str | None,
                 opts: RegistryOptions, known: dict[str, list[attest.Checked]]) -> None:  # fmt: skip
        self.policy, self.repo, self.digests, self.backend, self.opts = policy, repo, digests, backend, opts
        self.trusts = policy.trusts()
        self.known = known  # what walking the chain already read and checked with the same keys

    @functools.cached_property
    def attestations(self) -> list[tuple[str, attest.Checked]]:
        found = []
        for digest in self.digests:
            checked = self.known.get(digest)
            if checked is None:
                collected = attest.collect(self.repo, digest, backend=self.backend, opts=self.opts)
                checked = attest.check(collected, self.trusts, digest)
            found.extend((digest, c) for c in checked)
        return found

    @functools.cached_property
    def signatures(self) -> list[tuple[str, ev.Evidence, list[str]]]:
        found = []
        for digest in self.digests:
            for item in ev.collect(self.repo, digest, backend=self.backend, opts=self.opts):
                signers = [n for n, t in self.trusts.items() if ev.check([item], t, digest).verified]
                found.append((digest, item, signers))
        return found

    def of_type(self, predicate_type: str) -> list[tuple[str, attest.Checked]]:
        return [(d, c) for d, c in self.attestations if c.attestation.predicate_type == predicate_type]


def _item(digest: str, where: str, kind: str, signers: list[str]) -> dict[str, Any]:
    return {"digest": digest, "where": where, "type": kind, "signers": signers}


def _attested(
    req: Requirement, found: list[tuple[str, attest.Checked]], accept: Callable[[Any], str | None], what: str
) -> Outcome:
    """Met by one attestation signed by an allowed key whose predicate ``accept`` finds nothing wrong with."""
    problems = []
    unsigned = 0
    for digest, checked in found:
        signers = [s for s in checked.signers if s in req.signers]
        if not signers:
            unsigned += 1
            continue
        wrong = accept(checked.attestation.predicate)
        if wrong:
            problems.append(f"{checked.attestation.where} by {', '.join(signers)}: {wrong}")
            continue
        item = _item(digest, checked.attestation.where, checked.attestation.predicate_type, signers)
        return Outcome(req, True, f"{what} by {', '.join(signers)}", [item])
    if problems:
        return Outcome(req, False, "; ".join(problems[:3]))
    if unsigned:
        return Outcome(req, False, f"{unsigned} {what}(s) found, none signed by {', '.join(req.signers)}")
    return Outcome(req, False, f"no {what} found")


def _check(
    req: Requirement, state: str, found: _Evidence, *, promoter: Any, validate: Callable[[bool], list[str]] | None
) -> Outcome:
    if req.kind == "signature":
        good = [(d, e, [s for s in signers if s in req.signers]) for d, e, signers in found.signatures]
        good = [(d, e, s) for d, e, s in good if s]
        if good:
            digest, item, signers = good[0]
            return Outcome(req, True, f"signed by {', '.join(signers)}", [_item(digest, item.where, "signature",
                                                                                 signers)])  # fmt: skip
        total = len(found.signatures)
        return Outcome(req, False, f"{total} signature(s) found, none by {', '.join(req.signers)}" if total
                       else "not signed")  # fmt: skip
    if req.kind == "approvals":
        by: dict[str, dict[str, Any]] = {}
        other_state = 0
        for digest, checked in found.of_type(records.APPROVAL):
            predicate = checked.attestation.predicate
            approved = predicate.get("state") if isinstance(predicate, dict) else None
            signers = [s for s in checked.signers if s in req.signers]
            if signers and approved != state:
                other_state += 1
                continue
            for signer in signers:
                by.setdefault(signer, _item(digest, checked.attestation.where, records.APPROVAL, [signer]))
        if len(by) >= req.count:
            return Outcome(req, True, f"approved by {', '.join(sorted(by))}", list(by.values()))
        detail = f"{len(by)} of {req.count} ({', '.join(sorted(by)) or 'none'})"
        if other_state:
            detail += f"; {other_state} approval(s) for another state"
        return Outcome(req, False, detail)
    if req.kind == "scan":

        def passed(predicate: Any) -> str | None:
            if not isinstance(predicate, dict) or predicate.get("passed") is not True:
                errors = predicate.get("summary", {}).get("errors") if isinstance(predicate, dict) else None
                return f"the scan did not pass ({errors} error(s))" if errors is not None else "the scan did not pass"
            if "secrets" not in (predicate.get("checks") or []):
                return "the scan did not check for secrets (install skillctl[secrets] where it runs)"
            return None

        return _attested(req, found.of_type(SCAN), passed, "scan")
    if req.kind == "attestation":
        assert req.predicate_type is not None
        return _attested(req, found.of_type(req.predicate_type),
                         functools.partial(_predicate_fails, req), "attestation")  # fmt: skip
    if req.kind == "validation":
        if validate is None:
            return Outcome(req, False, "the image's content could not be read")
        problems = validate(req.strict)
        if problems:
            more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
            return Outcome(req, False, "; ".join(problems[:3]) + more)
        return Outcome(req, True, "validates" + (" strictly" if req.strict else ""))
    # promoter
    if promoter is None:
        return Outcome(req, False, "no key to sign the promotion record (promote --sign-key KEY)")
    names = [n for n in req.signers if records.fingerprint(found.policy.keys[n]) == records.fingerprint(promoter)]
    if names:
        return Outcome(req, True, f"promoted by {names[0]}")
    return Outcome(req, False, f"the promotion key ({records.fingerprint(promoter)[:19]}…) is not one of "
                   f"{', '.join(req.signers)}")  # fmt: skip


def evaluate(
    policy: Policy,
    state: str,
    repo: Reference,
    manifest: oci.Manifest,
    *,
    promoter: Any = None,
    validate: Callable[[bool], list[str]] | None = None,
    backend: str | None,
    opts: RegistryOptions,
) -> GateReport:
    """Check every requirement ``policy`` sets for ``state`` against the evidence for ``manifest``.

    ``promoter`` is the public key that will sign the promotion record; ``validate(strict)`` returns the
    validation problems of the image's content (the ``validation`` requirement).
    """
    requirements = policy.requirements(state)
    if not requirements:
        return GateReport(state, manifest.digest, [manifest.digest], [], policy)
    digests, chain = records.related_digests(repo, manifest, policy.trusts(), backend=backend, opts=opts)
    found = _Evidence(policy, repo, digests, backend, opts, {s.digest: s.records + s.attestations for s in chain})
    outcomes = []
    for req in requirements:
        try:
            outcomes.append(_check(req, state, found, promoter=promoter, validate=validate))
        except SkillctlError as exc:
            outcomes.append(Outcome(req, False, f"cannot be checked: {exc.message}"))
    return GateReport(state, manifest.digest, digests, outcomes, policy)


def validator(ref: str, *, backend: str | None, opts: RegistryOptions) -> Callable[[bool], list[str]]:
    """``validate(strict)`` for the ``validation`` requirement: the image's files unpacked and validated."""

    def validate(strict: bool) -> list[str]:
        from skillctl.card.validate import validate_skill
        from skillctl.registry.trees import unpacked

        with unpacked(ref, backend=backend, opts=opts) as tree:
            report = validate_skill(tree.path, strict=strict)
            return [str(f) for f in report.errors]

    return validate
