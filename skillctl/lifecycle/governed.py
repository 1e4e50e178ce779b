"""A promotion under a policy: gates first, then the manifest, its signature and the signed promotion record.

Order, and why: every requirement is checked before anything is written (a refusal leaves the registry as it
was, and lists every unmet requirement at once); the new manifest and tags come next; the signature and the record
last. A run interrupted after the manifest finishes when run again: the promotion itself is idempotent, and the
signature and the record are written only where this key has not already written them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skillctl.backends.base import RegistryOptions
from skillctl.core import oci
from skillctl.core.errors import UsageError
from skillctl.core.refs import Reference, parse_reference
from skillctl.core.states import check_transition
from skillctl.lifecycle.promote import PromoteResult, RemoteRepo, promote
from skillctl.registry.selection import select
from skillctl.store.layout import Store

if TYPE_CHECKING:  # gates, records and attestations load only for a promotion with a policy or a key
    from skillctl.lifecycle import gates
    from skillctl.lifecycle.promotion_policy import Policy
    from skillctl.trust import attest


@dataclass
class GovernedResult:
    promotion: PromoteResult
    gates: gates.GateReport | None = None
    signed: Any = None  # trust.signing.SignResult
    record: attest.AttestResult | None = None
    record_existed: bool = False

    def to_json(self) -> dict[str, Any]:
        record = None
        if self.record is not None:
            record = {**self.record.to_json(), "existed": False}
        elif self.record_existed:
            record = {"existed": True}
        return {
            **self.promotion.to_json(),
            "signature": self.signed.signature_ref if self.signed else None,
            "bundle": self.signed.bundle_ref if self.signed else None,
            "gates": self.gates.to_json() if self.gates else None,
            "record": record,
        }


def check_gates(
    ref: str,
    to: str,
    policy: Policy,
    *,
    promoter: Any = None,
    backend: str | None = None,
    opts: RegistryOptions | None = None,
) -> gates.GateReport:
    """What the policy requires for promoting ``ref`` to ``to``, checked against its evidence (nothing written)."""
    opts = opts or RegistryOptions()
    parsed = parse_reference(ref)
    if not parsed.is_remote:
        raise UsageError(f"{ref}: gates read evidence from a registry; name a registry reference")
    source = RemoteRepo(parsed.repository, select(backend, env=opts.env), opts).manifest(parsed)
    if source is None:
        from skillctl.core.errors import NotFoundError

        raise NotFoundError(f"{ref}: not found in {parsed.repository}")
    from skillctl.lifecycle import gates

    by_digest = str(Reference(parsed.repository, None, source.digest))
    return gates.evaluate(
        policy,
        to,
        parsed,
        source,
        promoter=promoter,
        validate=gates.validator(by_digest, backend=backend, opts=opts),
        backend=backend,
        opts=opts,
    )


def _already_recorded(
    repo: Reference, digest: str, key: Any, source_state: str, state: str, previous: str, *, backend: str | None,
    opts: RegistryOptions,
) -> bool:  # fmt: skip
    from skillctl.lifecycle import records
    from skillctl.trust.evidence import KeyTrust

    mine = {"key": KeyTrust([key.public_key()], "key")}
    for checked in records.evidence_on(repo, digest, mine, backend=backend, opts=opts):
        predicate = checked.attestation.predicate
        if (
            checked.signers
            and checked.attestation.predicate_type == records.PROMOTION
            and isinstance(predicate, dict)
            and (predicate.get("from"), predicate.get("to"), predicate.get("previousDigest"))
            == (source_state, state, previous)
        ):
            return True
    return False


def _signed_by(ref: str, key: Any, *, backend: str | None, opts: RegistryOptions) -> bool:
    from skillctl.trust import evidence as ev
    from skillctl.trust.evidence import KeyTrust

    parsed = parse_reference(ref)
    assert parsed.digest is not None
    found = ev.collect(parsed, parsed.digest, backend=backend, opts=opts)
    return bool(ev.check(found, KeyTrust([key.public_key()], "key"), parsed.digest).verified)


def promote_governed(
    ref: str,
    to: str,
    *,
    policy: Policy | None = None,
    key_path: str | Path | None = None,
    key_passphrase: bytes | None = None,
    actor: str | None = None,
    reason: str = "",
    signature_format: str | None = None,
    local: bool = False,
    store: Store | None = None,
    backend: str | None = None,
    opts: RegistryOptions | None = None,
) -> GovernedResult:
    """Promote ``ref`` to ``to``; with a policy, only when its requirements for ``to`` are met; with a key, sign
    the new digest (in the formats the source was signed in) and record the promotion as a signed attestation.

    Raises:
        GateError: requirements unmet (exit 5), each one listed; nothing was written.
        UsageError: a policy or key with ``local`` (attestations live in registries), or a policy without a key.
    """
    opts = opts or RegistryOptions()
    requirements = policy.requirements(to) if policy else []
    if local:
        if key_path is not None:
            raise UsageError("--sign-key signs registry images; promote on the registry to sign")
        if requirements:
            assert policy is not None
            raise UsageError(
                f"{policy.path} sets requirements for {to}: they are checked against attestations in the registry, "
                "so this promotion cannot be --local"
            )
        return GovernedResult(promote(ref, to, local=True, store=store, backend=backend, opts=opts))
    key = None
    if key_path is not None:
        from skillctl.trust.keys import load_private_key

        key = load_private_key(key_path, key_passphrase or b"")
    if requirements and key is None:
        assert policy is not None
        raise UsageError(
            f"{policy.path} governs promotion to {to}: the promotion must be recorded, signed",
            hint="pass --sign-key KEY (and --actor NAME, --reason TEXT)",
        )
    parsed = parse_reference(ref)
    report = None
    if requirements:
        assert policy is not None
        source = RemoteRepo(parsed.repository, select(backend, env=opts.env), opts).manifest(parsed)
        if source is not None and check_transition(source.annotations.get(oci.STATUS, ""), to, ref=str(parsed)):
            report = check_gates(ref, to, policy, promoter=key.public_key() if key else None, backend=backend,
                                 opts=opts)  # fmt: skip
            report.raise_if_unmet(str(parsed))
    result = GovernedResult(promote(ref, to, store=store, backend=backend, opts=opts), report)
    promoted = result.promotion
    if key is None or not promoted.changed:
        return result
    new_ref = str(Reference(parsed.repository, None, promoted.digest))
    assert key_path is not None and key_passphrase is not None
    if not _signed_by(new_ref, key, backend=backend, opts=opts):
        from skillctl.trust.signing import formats_present, sign

        if signature_format is None:
            present = formats_present(parsed.repository, promoted.previous_digest, backend=backend, opts=opts)
            signature_format = "both" if len(present) == 2 else (present[0] if present else None)
        from skillctl.trust.signing import DEFAULT_FORMAT

        result.signed = sign(new_ref, key_path, key_passphrase, signature_format=signature_format or DEFAULT_FORMAT,
                             backend=backend, opts=opts)  # fmt: skip
    if _already_recorded(parsed, promoted.digest, key, promoted.source_state, promoted.state,
                         promoted.previous_digest, backend=backend, opts=opts):  # fmt: skip
        result.record_existed = True
        return result
    from skillctl.lifecycle import records
    from skillctl.trust import attest

    signer = records.fingerprint(key.public_key())
    predicate = records.promotion_predicate(
        repository=parsed.repository,
        version=_promoted_version(promoted, parsed, backend=backend, opts=opts),
        source_state=promoted.source_state,
        state=promoted.state,
        previous_digest=promoted.previous_digest,
        actor=actor or signer,
        signer=signer,
        reason=reason,
        policy=policy.to_json() if policy else None,
        evidence=report.evidence() if report else (),
    )
    result.record = attest.attest(new_ref, key, records.PROMOTION, predicate, backend=backend, opts=opts)
    return result


def _promoted_version(promoted: PromoteResult, parsed: Reference, *, backend: str | None, opts: RegistryOptions) -> str:
    manifest = RemoteRepo(parsed.repository, select(backend, env=opts.env), opts).manifest(
        Reference(parsed.repository, None, promoted.digest)
    )
    return manifest.annotations.get(oci.VERSION, "") if manifest else ""
