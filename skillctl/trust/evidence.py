"""Signatures of one image in either format, brought to one shape, and checked against what is trusted.

An ``Evidence`` is one signature as found: a ``.sig`` layer or a bundle referrer, reduced to the bytes signed,
the signature, the payload and its claims (the digest, and for ``.sig`` the repository), the certificate if
keyless, and the transparency-log entries. A ``Trust`` decides whether one evidence counts: ``KeyTrust`` (one
or more public keys, optionally requiring a log entry), ``KeylessTrust`` (certificate authorities, log keys and
an identity). ``collect`` reads an image's evidence; ``check`` applies a trust to all of it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from skillctl.backends.base import RegistryOptions
from skillctl.core.errors import IntegrityError, SkillctlError
from skillctl.core.refs import Reference
from skillctl.trust import bundle as bundles
from skillctl.trust import keyless, referrers, simplesigning, transparency, trustroot
from skillctl.trust.keys import verify_bytes

MAX_REFERRERS: Final = 64
"""Signature bundles read per image: each costs a download, and a hostile registry could list thousands."""


class SignatureError(IntegrityError):
    """An image is unsigned, or no signature verifies with what is trusted."""


@dataclass
class Evidence:
    """One signature of an image, in either format."""

    format: str  # "legacy" (.sig layer) or "bundle" (a referrer)
    where: str  # for messages: the .sig tag and layer, or the referrer's digest
    signed: bytes  # the bytes the signature is over
    signature: bytes
    payload: bytes  # the .sig payload, or the DSSE payload
    digest: str | None  # the image digest the payload names
    docker_reference: str | None = None  # the repository a .sig payload names
    certificates: list[bytes] = field(default_factory=list)  # DER, leaf first (keyless)
    tlog: list[bundles.TlogEntry] = field(default_factory=list)
    problem: str | None = None  # unreadable: why


class Trust(Protocol):
    def accept(self, evidence: Evidence) -> str:
        """Who signed (a key, an identity), or raise ``Rejected`` saying why this evidence does not count."""


class Rejected(Exception):
    pass


def _legacy(repo: Reference, digest: str, *, backend: str | None, opts: RegistryOptions) -> list[Evidence]:
    image = simplesigning.fetch(repo, digest, backend=backend, opts=opts)
    found = []
    tag = simplesigning.signature_tag(digest)
    for i, (meta, payload) in enumerate(image.layers):
        where = f"{tag} layer {i + 1}"
        notes = meta.get("annotations") or {}
        evidence = Evidence("legacy", where, payload, b"", payload, None)
        try:
            evidence.signature = base64.b64decode(notes[simplesigning.SIGNATURE_ANNOTATION], validate=True)
            critical = json.loads(payload)["critical"]
            evidence.digest = critical["image"]["docker-manifest-digest"]
            evidence.docker_reference = critical["identity"]["docker-reference"]
        except (ValueError, KeyError, TypeError):
            evidence.problem = "not a cosign signature layer"
        add_layer_material(evidence, notes)
        found.append(evidence)
    return found


def add_layer_material(evidence: Evidence, notes: dict[str, str]) -> None:
    """A keyless ``.sig`` or ``.att`` layer's certificate, chain and log entry, from its annotations."""
    if simplesigning.CERTIFICATE_ANNOTATION in notes:
        evidence.certificates = _pem_chain(
            notes[simplesigning.CERTIFICATE_ANNOTATION] + "\n" + notes.get(simplesigning.CHAIN_ANNOTATION, "")
        )
    entry = simplesigning.rekor_entry(notes.get(simplesigning.REKOR_BUNDLE_ANNOTATION, ""))
    if entry is not None:
        evidence.tlog = [entry]


def _pem_chain(text: str) -> list[bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        return [
            c.public_bytes(serialization.Encoding.DER) for c in x509.load_pem_x509_certificates(text.strip().encode())
        ]
    except ValueError:
        return []


def bundle_evidence(data: bytes, where: str) -> Evidence:
    """Evidence from a bundle's bytes (an image signature: a DSSE in-toto statement of cosign's sign predicate)."""
    try:
        bundle = bundles.parse(data, where)
    except bundles.BundleError as exc:
        return Evidence("bundle", where, b"", b"", b"", None, problem=exc.message)
    evidence = Evidence(
        "bundle", where, b"", bundle.signature, bundle.payload, None, None, bundle.certificates, bundle.tlog_entries
    )
    if not bundle.is_dsse:
        evidence.problem = "a message signature, not an image signature (DSSE)"
        return evidence
    evidence.signed = bundle.signed_bytes
    try:
        statement = bundles.parse_statement(bundle.payload, where)
    except bundles.BundleError as exc:
        evidence.problem = exc.message
        return evidence
    if bundle.payload_type != bundles.INTOTO_PAYLOAD or statement.predicate_type != bundles.COSIGN_SIGN_PREDICATE:
        evidence.problem = f"an attestation ({statement.predicate_type}), not a signature"
        return evidence
    if len(statement.subject_digests) != 1:
        evidence.problem = "a signature names exactly one subject"
        return evidence
    evidence.digest = statement.subject_digests[0]
    return evidence


def _bundles(repo: Reference, digest: str, *, backend: str | None, opts: RegistryOptions) -> list[Evidence]:
    found = []
    listed = referrers.list_referrers(repo, digest, backend=backend, opts=opts, artifact_type=bundles.BUNDLE_V03)
    # Attestations are bundles too; ours name their predicate type in the index, so they are not even read.
    candidates = [d for d in listed.descriptors if not bundles.names_attestation(d.get("annotations") or {})]
    if len(candidates) > MAX_REFERRERS:
        raise SignatureError(
            f"{repo.repository}: {len(candidates)} signature bundles on {digest}; more than {MAX_REFERRERS} "
            "are not read"
        )
    for desc in candidates:
        where = f"referrer {desc['digest']}"
        try:
            manifest, blobs = referrers.fetch_artifact(
                repo, desc["digest"], backend=backend, opts=opts, max_blob=bundles.MAX_BUNDLE
            )
        except SkillctlError as exc:
            found.append(Evidence("bundle", where, b"", b"", b"", None, problem=exc.message))
            continue
        if bundles.names_attestation(manifest.get("annotations") or {}):
            continue  # cosign's attestations say what they are only in their own manifest
        subject = (manifest.get("subject") or {}).get("digest")
        for layer in manifest.get("layers") or []:
            if layer.get("mediaType") not in bundles.BUNDLE_TYPES:
                continue
            evidence = bundle_evidence(blobs[layer["digest"]], where)
            if subject != digest and evidence.problem is None:
                evidence.problem = f"the referrer's subject is {subject}"
            found.append(evidence)
    return found


def collect(
    repo: Reference, digest: str, *, formats: Sequence[str] = ("legacy", "bundle"), backend: str | None,
    opts: RegistryOptions,
) -> list[Evidence]:  # fmt: skip
    """Every signature of ``digest`` in the given formats, readable or not (unreadable ones say why)."""
    found: list[Evidence] = []
    if "legacy" in formats:
        found += _legacy(repo, digest, backend=backend, opts=opts)
    if "bundle" in formats:
        found += _bundles(repo, digest, backend=backend, opts=opts)
    return found


def _claims(evidence: Evidence, digest: str) -> None:
    if evidence.problem:
        raise Rejected(evidence.problem)
    if evidence.digest != digest:
        raise Rejected(f"signs {evidence.digest}, not {digest}")


@dataclass
class KeyTrust:
    """Public keys (cosign.pub, a policy's keyPath/keyData); with ``logs``, a verified log entry is required too."""

    keys: Sequence[Any]
    label: str
    logs: Sequence[transparency.LogKey] = ()
    require_log: bool = False

    def accept(self, evidence: Evidence) -> str:
        from cryptography.hazmat.primitives import serialization

        if not any(verify_bytes(key, evidence.signature, evidence.signed) for key in self.keys):
            raise Rejected(f"does not verify with {self.label}")
        if self.require_log:
            key = next(k for k in self.keys if verify_bytes(k, evidence.signature, evidence.signed))
            der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            _logged(evidence, self.logs, der)
        return self.label


def _logged(evidence: Evidence, logs: Sequence[transparency.LogKey], signer_der: bytes) -> datetime | None:
    """The time a verified log entry gives (None: verified by inclusion proof only), or Rejected."""
    if not evidence.tlog:
        raise Rejected("has no transparency-log entry")
    signed = transparency.Signed(evidence.signature, hashlib.sha256(evidence.payload).digest(), signer_der)
    reasons = []
    for entry in evidence.tlog:
        try:
            return transparency.verify_entry(entry, logs, signed).integrated_time or _NO_TIME
        except transparency.LogError as exc:
            reasons.append(str(exc))
    raise Rejected("; ".join(reasons))


_NO_TIME = datetime.min.replace(tzinfo=UTC)


@dataclass
class KeylessTrust:
    """Certificates from trusted authorities for one identity, with a log entry proving when they signed."""

    authorities: Sequence[trustroot.Authority]
    logs: Sequence[transparency.LogKey]
    identity: keyless.Identity

    def accept(self, evidence: Evidence) -> str:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        if not evidence.certificates:
            raise Rejected("is not keyless (no certificate)")
        try:
            leaf = x509.load_der_x509_certificate(evidence.certificates[0])
            chain = [x509.load_der_x509_certificate(c) for c in evidence.certificates[1:]]
        except ValueError:
            raise Rejected("carries a certificate that cannot be read") from None
        if not verify_bytes(leaf.public_key(), evidence.signature, evidence.signed):
            raise Rejected("does not verify with its certificate's key (the payload or signature was changed)")
        when = _logged(evidence, self.logs, leaf.public_bytes(serialization.Encoding.DER))
        if when is _NO_TIME:
            raise Rejected("has no signed entry timestamp: nothing says when the certificate was used")
        assert when is not None
        anchors = [c for a in self.authorities if a.valid_at(when) for c in a.certificates]
        try:
            keyless.verify_chain(leaf, chain, anchors, when)
            subject = self.identity.check(keyless.subjects(leaf), keyless.oidc_issuer(leaf))
        except keyless.CertificateError as exc:
            raise Rejected(str(exc)) from None
        return f"{subject} ({keyless.oidc_issuer(leaf)})"


@dataclass
class Outcome:
    verified: list[tuple[Evidence, str]]
    rejected: list[tuple[Evidence, str]]

    @property
    def total(self) -> int:
        return len(self.verified) + len(self.rejected)


def check(evidence: Sequence[Evidence], trust: Trust, digest: str) -> Outcome:
    """Which evidence ``trust`` accepts for ``digest``, and why each other one does not count."""
    outcome = Outcome([], [])
    for item in evidence:
        try:
            _claims(item, digest)
            outcome.verified.append((item, trust.accept(item)))
        except Rejected as exc:
            outcome.rejected.append((item, str(exc)))
    return outcome


def reasons(outcome: Outcome, limit: int = 4) -> str:
    parts = [f"{e.where}: {why}" for e, why in outcome.rejected[:limit]]
    if len(outcome.rejected) > limit:
        parts.append(f"and {len(outcome.rejected) - limit} more")
    return "; ".join(parts)
