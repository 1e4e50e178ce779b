"""Promotion records and approvals (attestations skillctl writes), and the chain of digests a skill went through.

A promotion mints a new digest (only ``io.skillimage.status`` changes). Its record is a signed attestation on the
new digest naming the previous one, the states, the actor, the reason, the time, the policy and the evidence the
gates used, so the chain can be walked back and checked: each link is verified twice, by the record's signature
and by the bytes (the new manifest is the previous one with only the status changed).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from skillctl.backends.base import Capability, RegistryOptions
from skillctl.core import oci
from skillctl.core.errors import NotFoundError, SkillctlError
from skillctl.core.refs import Reference
from skillctl.core.states import STATES
from skillctl.registry.client import read_manifest
from skillctl.registry.selection import capable, select
from skillctl.trust import attest
from skillctl.trust.evidence import Trust
from skillctl.trust.keys import key_id

PROMOTION: Final = "https://skillimage.io/attestations/promotion/v1"
APPROVAL: Final = "https://skillimage.io/attestations/approval/v1"
MAX_CHAIN: Final = 16


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fingerprint(public_key: Any) -> str:
    """A key's identity: SHA-256 of its DER SubjectPublicKeyInfo (as the lock file records signers)."""
    return "sha256:" + key_id(public_key).hex()


def approval_predicate(state: str, *, actor: str, comment: str = "", time: str | None = None) -> dict[str, Any]:
    return {"state": state, "actor": actor, "comment": comment, "time": time or now()}


def promotion_predicate(
    *,
    repository: str,
    version: str,
    source_state: str,
    state: str,
    previous_digest: str,
    actor: str,
    signer: str,
    reason: str = "",
    policy: Mapping[str, Any] | None = None,
    evidence: Sequence[Mapping[str, Any]] = (),
    time: str | None = None,
) -> dict[str, Any]:
    from skillctl._version import __version__

    return {
        "repository": repository,
        "version": version,
        "from": source_state,
        "to": state,
        "previousDigest": previous_digest,
        "actor": actor,
        "signer": signer,
        "reason": reason,
        "time": time or now(),
        "policy": dict(policy) if policy else None,
        "evidence": [dict(e) for e in evidence],
        "tool": f"skillctl {__version__}",
    }


def same_but_status(previous: oci.Manifest, current: oci.Manifest) -> bool:
    """Whether ``current`` is ``previous`` with only ``io.skillimage.status`` changed, byte for byte."""
    from skillctl.lifecycle.promote import with_status

    state = current.annotations.get(oci.STATUS, "")
    try:
        return with_status(previous, state).raw == current.raw
    except SkillctlError:
        return False


def status_variants(manifest: oci.Manifest) -> list[str]:
    """The digests this manifest has in every other lifecycle state: where earlier evidence about it may be."""
    from skillctl.lifecycle.promote import with_status

    found = []
    for state in STATES:
        variant = with_status(manifest, state)
        if variant.digest != manifest.digest:
            found.append(variant.digest)
    return found


@dataclass
class Step:
    """One digest of the chain, newest first: its state, its promotion record, and the evidence on it."""

    digest: str
    manifest: oci.Manifest | None
    records: list[attest.Checked] = field(default_factory=list)
    attestations: list[attest.Checked] = field(default_factory=list)
    same_content: bool | None = None  # this manifest is the previous one with another status (None: cannot tell)
    rebuilt: bool = False  # the registry no longer has the manifest; it was rebuilt from a neighbour, digest checked

    @property
    def state(self) -> str:
        if self.manifest is not None:
            return self.manifest.annotations.get(oci.STATUS, "")
        return str((self.record_predicate or {}).get("to", ""))

    @property
    def record(self) -> attest.Checked | None:
        """The record that tells how this digest came to be: a verified one first."""
        return next((r for r in self.records if r.signers), self.records[0] if self.records else None)

    @property
    def record_predicate(self) -> dict[str, Any] | None:
        record = self.record
        predicate = record.attestation.predicate if record else None
        return predicate if isinstance(predicate, dict) else None

    @property
    def previous(self) -> str | None:
        value = (self.record_predicate or {}).get("previousDigest")
        return value if isinstance(value, str) and value.startswith("sha256:") else None

    def to_json(self) -> dict[str, Any]:
        predicate = self.record_predicate or {}
        record = self.record
        return {
            "digest": self.digest,
            "state": self.state,
            "manifestFound": self.manifest is not None and not self.rebuilt,
            "time": predicate.get("time"),
            "actor": predicate.get("actor"),
            "signer": predicate.get("signer"),
            "reason": predicate.get("reason"),
            "from": predicate.get("from"),
            "previousDigest": self.previous,
            "policy": predicate.get("policy"),
            "record": None if record is None else {
                "verified": bool(record.signers), "signers": record.signers, "where": record.attestation.where,
                "reasons": record.reasons,
            },
            "sameContentAsPrevious": self.same_content,
            "evidence": [c.to_json() | {"predicate": _summary(c.attestation)} for c in self.attestations],
        }  # fmt: skip


def _summary(att: attest.Attestation) -> Any:
    """A predicate as history shows it: small ones whole, others by their keys."""
    predicate = att.predicate
    if isinstance(predicate, dict) and len(json.dumps(predicate)) > 2048:
        return {k: "…" for k in predicate}
    return predicate


def _manifest(repo: Reference, digest: str, *, backend: str | None, opts: RegistryOptions) -> oci.Manifest | None:
    reader = capable(select(backend, env=opts.env), Capability.MANIFEST, operation="read manifests")
    try:
        raw = read_manifest(Reference(repo.repository, None, digest), reader.backend, opts)
    except NotFoundError:
        return None
    return oci.Manifest.parse(raw, digest=digest, source=f"{repo.repository}@{digest}")


def evidence_on(
    repo: Reference, digest: str, trusts: Mapping[str, Trust], *, backend: str | None, opts: RegistryOptions
) -> list[attest.Checked]:
    """Every attestation on ``digest``, each checked against ``trusts``."""
    return attest.check(attest.collect(repo, digest, backend=backend, opts=opts), trusts, digest)


def walk(
    repo: Reference,
    digest: str,
    trusts: Mapping[str, Trust],
    *,
    backend: str | None,
    opts: RegistryOptions,
    limit: int = MAX_CHAIN,
) -> list[Step]:
    """The chain of digests back from ``digest`` through the promotion records' ``previousDigest``, newest first."""
    steps: list[Step] = []
    seen: set[str] = set()
    current: str | None = digest
    while current and current not in seen and len(steps) < limit:
        seen.add(current)
        checked = evidence_on(repo, current, trusts, backend=backend, opts=opts)
        step = Step(
            current,
            _manifest(repo, current, backend=backend, opts=opts),
            records=[c for c in checked if c.attestation.predicate_type == PROMOTION],
            attestations=[c for c in checked if c.attestation.predicate_type != PROMOTION],
        )
        steps.append(step)
        current = step.previous
    _rebuild_missing(steps)
    for newer, older in itertools.pairwise(steps):
        if newer.manifest is not None and older.manifest is not None:
            newer.same_content = same_but_status(older.manifest, newer.manifest)
    return steps


def _rebuild_missing(steps: list[Step]) -> None:
    """Manifests the registry no longer holds (a promotion that removed ``latest`` on a registry that deletes by
    digest), rebuilt from a neighbour: the neighbour with the other status must have exactly the missing digest."""
    from skillctl.lifecycle.promote import with_status

    pairs = list(itertools.pairwise(steps))
    for newer, older in pairs + pairs[::-1]:  # from each end, so a gap of several steps fills too
        if newer.manifest is None and older.manifest is not None and newer.state:
            candidate = with_status(older.manifest, newer.state)
            if candidate.digest == newer.digest:
                newer.manifest, newer.rebuilt = candidate, True
        state = str((newer.record_predicate or {}).get("from", ""))
        if older.manifest is None and newer.manifest is not None and state:
            candidate = with_status(newer.manifest, state)
            if candidate.digest == older.digest:
                older.manifest, older.rebuilt = candidate, True


def related_digests(
    repo: Reference, manifest: oci.Manifest, trusts: Mapping[str, Trust], *, backend: str | None,
    opts: RegistryOptions,
) -> tuple[list[str], list[Step]]:  # fmt: skip
    """The digests whose evidence counts for ``manifest``: itself, its chain (each link checked byte for byte),
    and its other lifecycle states' manifests (the same bytes but the status, so the same content)."""
    chain = walk(repo, manifest.digest, trusts, backend=backend, opts=opts)
    digests = [manifest.digest]
    for newer, older in itertools.pairwise(chain):
        if not newer.same_content:
            break  # a link that cannot be checked carries nothing, nor does anything before it
        digests.append(older.digest)
    digests += status_variants(manifest)
    return list(dict.fromkeys(digests)), chain


def approve(
    ref: str,
    key: Any,
    *,
    state: str | None = None,
    actor: str | None = None,
    comment: str = "",
    attestation_format: str | None = None,
    backend: str | None = None,
    opts: RegistryOptions | None = None,
) -> attest.AttestResult:
    """Approve the digest ``ref`` points at for ``state`` (default: the state after its current one)."""
    from skillctl.core.errors import LifecycleError, UsageError
    from skillctl.core.refs import parse_reference
    from skillctl.core.states import NEXT, parse_state

    opts = opts or RegistryOptions()
    parsed = parse_reference(ref)
    if not parsed.is_remote:
        raise UsageError(f"{ref}: approve a registry reference (push it first)")
    if state is None:
        reader = capable(select(backend, env=opts.env), Capability.MANIFEST, operation="read manifests")
        manifest = oci.Manifest.parse(read_manifest(parsed, reader.backend, opts), digest=parsed.digest)
        current = manifest.annotations.get(oci.STATUS, "")
        if current not in NEXT:
            raise LifecycleError(f"{ref} is {current or 'without a state'}: no next state to approve")
        state = NEXT[current]
        parsed = Reference(parsed.repository, None, manifest.digest)
    predicate = approval_predicate(parse_state(state), actor=actor or fingerprint(key.public_key()), comment=comment)
    return attest.attest(str(parsed), key, APPROVAL, predicate, attestation_format=attestation_format,
                         backend=backend, opts=opts)  # fmt: skip
