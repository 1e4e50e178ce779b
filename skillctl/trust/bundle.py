"""Sigstore bundles (v0.3, ``application/vnd.dev.sigstore.bundle.v0.3+json``), DSSE envelopes and in-toto
statements: reading and writing the JSON, nothing cryptographic.

A bundle carries one signature (a DSSE envelope, or a message signature over a digest), what verifies it (a
public key hint, or a certificate), and the transparency-log entries and timestamps that prove when it was
made. cosign v3 signs an image with a DSSE envelope around an in-toto statement whose subject is the image
digest and whose predicate type is ``https://sigstore.dev/cosign/sign/v1``; attestations (other predicate
types) use the same envelope, so this module serves both.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from skillctl.core.errors import IntegrityError

BUNDLE_V03: Final = "application/vnd.dev.sigstore.bundle.v0.3+json"
BUNDLE_TYPES: Final = frozenset(
    {
        BUNDLE_V03,
        "application/vnd.dev.sigstore.bundle+json;version=0.3",
        "application/vnd.dev.sigstore.bundle+json;version=0.2",
        "application/vnd.dev.sigstore.bundle+json;version=0.1",
    }
)
INTOTO_PAYLOAD: Final = "application/vnd.in-toto+json"
STATEMENT_V1: Final = "https://in-toto.io/Statement/v1"
STATEMENT_TYPES: Final = frozenset({STATEMENT_V1, "https://in-toto.io/Statement/v0.1"})
COSIGN_SIGN_PREDICATE: Final = "https://sigstore.dev/cosign/sign/v1"
MAX_BUNDLE: Final = 4 * 1024 * 1024
PREDICATE_ANNOTATION: Final = "dev.sigstore.bundle.predicateType"
"""On a bundle referrer's manifest (and, as skillctl writes them, its index entry): what the DSSE statement is."""


def names_attestation(annotations: Mapping[str, str]) -> bool:
    """Whether a bundle referrer's annotations name a predicate other than cosign's image signature (an
    attestation). Without the annotation a bundle may be either: cosign's attestations name their predicate only in
    their own manifest, not in the referrers index."""
    kind = annotations.get(PREDICATE_ANNOTATION)
    return kind is not None and kind != COSIGN_SIGN_PREDICATE


class BundleError(IntegrityError):
    """A bundle that cannot be read (not JSON, a field of the wrong kind, an unknown media type)."""


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise BundleError(f"{what} is not base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise BundleError(f"{what} is not valid base64") from None


def _int(value: Any, what: str) -> int:
    try:
        return int(value)  # protobuf JSON writes int64 as strings
    except (TypeError, ValueError):
        raise BundleError(f"{what} is not a number") from None


def _enc(data: bytes) -> str:
    return base64.b64encode(data).decode()


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what a DSSE signature is over."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def statement(digest: str, predicate_type: str, predicate: dict[str, Any] | None = None) -> bytes:
    """An in-toto v1 statement about one OCI digest (``sha256:<hex>``)."""
    algorithm, _, value = digest.partition(":")
    body = {
        "_type": STATEMENT_V1,
        "subject": [{"digest": {algorithm: value}}],
        "predicateType": predicate_type,
        "predicate": predicate or {},
    }
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass
class Statement:
    predicate_type: str
    subject_digests: list[str]
    predicate: Any


def parse_statement(payload: bytes, source: str) -> Statement:
    try:
        data = json.loads(payload)
        if data.get("_type") not in STATEMENT_TYPES:
            raise BundleError(f"{source}: not an in-toto statement ({data.get('_type')!r})")
        digests = [
            f"{algorithm}:{value}"
            for subject in data.get("subject") or []
            for algorithm, value in (subject.get("digest") or {}).items()
        ]
        return Statement(str(data.get("predicateType", "")), digests, data.get("predicate"))
    except (ValueError, AttributeError, TypeError):
        raise BundleError(f"{source}: the DSSE payload is not an in-toto statement") from None


@dataclass
class InclusionProof:
    log_index: int
    root_hash: bytes
    tree_size: int
    hashes: list[bytes]
    checkpoint: str


@dataclass
class TlogEntry:
    """One transparency-log entry as a bundle carries it (Rekor v1: SET and/or inclusion proof)."""

    log_index: int
    log_id: bytes
    kind: str
    version: str
    integrated_time: int
    body: bytes
    signed_entry_timestamp: bytes | None = None
    proof: InclusionProof | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "logIndex": str(self.log_index),
            "logId": {"keyId": _enc(self.log_id)},
            "kindVersion": {"kind": self.kind, "version": self.version},
            "integratedTime": str(self.integrated_time),
        }
        if self.signed_entry_timestamp is not None:
            out["inclusionPromise"] = {"signedEntryTimestamp": _enc(self.signed_entry_timestamp)}
        if self.proof is not None:
            out["inclusionProof"] = {
                "logIndex": str(self.proof.log_index),
                "rootHash": _enc(self.proof.root_hash),
                "treeSize": str(self.proof.tree_size),
                "hashes": [_enc(h) for h in self.proof.hashes],
                "checkpoint": {"envelope": self.proof.checkpoint},
            }
        out["canonicalizedBody"] = _enc(self.body)
        return out

    @classmethod
    def from_json(cls, data: Any, source: str) -> TlogEntry:
        if not isinstance(data, dict):
            raise BundleError(f"{source}: a transparency-log entry is not an object")
        kind = data.get("kindVersion") or {}
        promise = data.get("inclusionPromise") or {}
        proof = data.get("inclusionProof")
        entry = cls(
            log_index=_int(data.get("logIndex"), f"{source}: logIndex"),
            log_id=_b64((data.get("logId") or {}).get("keyId"), f"{source}: logId"),
            kind=str(kind.get("kind", "")),
            version=str(kind.get("version", "")),
            integrated_time=_int(data.get("integratedTime", 0), f"{source}: integratedTime"),
            body=_b64(data.get("canonicalizedBody"), f"{source}: canonicalizedBody"),
        )
        if promise.get("signedEntryTimestamp"):
            entry.signed_entry_timestamp = _b64(promise["signedEntryTimestamp"], f"{source}: signedEntryTimestamp")
        if isinstance(proof, dict):
            entry.proof = InclusionProof(
                log_index=_int(proof.get("logIndex"), f"{source}: inclusionProof.logIndex"),
                root_hash=_b64(proof.get("rootHash"), f"{source}: inclusionProof.rootHash"),
                tree_size=_int(proof.get("treeSize"), f"{source}: inclusionProof.treeSize"),
                hashes=[_b64(h, f"{source}: inclusionProof.hashes") for h in proof.get("hashes") or []],
                checkpoint=str((proof.get("checkpoint") or {}).get("envelope", "")),
            )
        return entry


@dataclass
class Bundle:
    """A Sigstore bundle: one signature and its verification material."""

    signature: bytes
    payload_type: str = ""  # a DSSE envelope's; empty for a message signature
    payload: bytes = b""  # the DSSE payload
    message_digest: tuple[str, bytes] | None = None  # (algorithm, digest) of a message signature
    certificates: list[bytes] = field(default_factory=list)  # DER, leaf first
    public_key_hint: str | None = None
    tlog_entries: list[TlogEntry] = field(default_factory=list)
    media_type: str = BUNDLE_V03

    @property
    def is_dsse(self) -> bool:
        return bool(self.payload_type)

    @property
    def signed_bytes(self) -> bytes:
        """What the signature is over (for a message signature, the caller supplies the message)."""
        return pae(self.payload_type, self.payload)

    def to_json(self) -> bytes:
        material: dict[str, Any] = {}
        if self.certificates:
            material["certificate"] = {"rawBytes": _enc(self.certificates[0])}
        else:
            material["publicKey"] = {"hint": self.public_key_hint or ""}
        material["tlogEntries"] = [e.to_json() for e in self.tlog_entries]
        material["timestampVerificationData"] = {}
        body: dict[str, Any] = {"mediaType": self.media_type, "verificationMaterial": material}
        if self.is_dsse:
            body["dsseEnvelope"] = {
                "payload": _enc(self.payload),
                "payloadType": self.payload_type,
                "signatures": [{"sig": _enc(self.signature), "keyid": ""}],
            }
        else:
            assert self.message_digest is not None
            algorithm, digest = self.message_digest
            body["messageSignature"] = {
                "messageDigest": {"algorithm": algorithm, "digest": _enc(digest)},
                "signature": _enc(self.signature),
            }
        return json.dumps(body, separators=(",", ":")).encode()


def parse(data: bytes, source: str) -> Bundle:
    """Read a bundle (v0.1 to v0.3 JSON).

    Raises:
        BundleError: not a bundle this module can read; the message names ``source`` and the field.
    """
    if len(data) > MAX_BUNDLE:
        raise BundleError(f"{source}: the bundle is larger than {MAX_BUNDLE} bytes")
    try:
        doc = json.loads(data)
    except ValueError:
        raise BundleError(f"{source}: the bundle is not JSON") from None
    if not isinstance(doc, dict) or doc.get("mediaType") not in BUNDLE_TYPES:
        raise BundleError(f"{source}: not a Sigstore bundle (mediaType {doc.get('mediaType')!r})")
    material = doc.get("verificationMaterial") or {}
    if not isinstance(material, dict):
        raise BundleError(f"{source}: verificationMaterial is not an object")
    bundle = Bundle(signature=b"", media_type=str(doc["mediaType"]))
    if "certificate" in material:
        bundle.certificates = [_b64((material["certificate"] or {}).get("rawBytes"), f"{source}: certificate")]
    elif "x509CertificateChain" in material:
        certs = (material["x509CertificateChain"] or {}).get("certificates") or []
        bundle.certificates = [_b64((c or {}).get("rawBytes"), f"{source}: certificate chain") for c in certs]
    elif "publicKey" in material:
        bundle.public_key_hint = str((material["publicKey"] or {}).get("hint", ""))
    bundle.tlog_entries = [
        TlogEntry.from_json(e, f"{source}: tlogEntries[{i}]") for i, e in enumerate(material.get("tlogEntries") or [])
    ]
    if isinstance(doc.get("dsseEnvelope"), dict):
        envelope = doc["dsseEnvelope"]
        signatures = envelope.get("signatures") or []
        if len(signatures) != 1 or not isinstance(signatures[0], dict):
            raise BundleError(f"{source}: a bundle's DSSE envelope has exactly one signature")
        bundle.payload_type = str(envelope.get("payloadType", ""))
        if not bundle.payload_type:
            raise BundleError(f"{source}: the DSSE envelope has no payloadType")
        bundle.payload = _b64(envelope.get("payload"), f"{source}: dsseEnvelope.payload")
        bundle.signature = _b64(signatures[0].get("sig"), f"{source}: dsseEnvelope.signatures[0].sig")
    elif isinstance(doc.get("messageSignature"), dict):
        message = doc["messageSignature"]
        digest = message.get("messageDigest") or {}
        bundle.message_digest = (
            str(digest.get("algorithm", "")),
            _b64(digest.get("digest"), f"{source}: messageDigest"),
        )
        bundle.signature = _b64(message.get("signature"), f"{source}: messageSignature.signature")
    else:
        raise BundleError(f"{source}: the bundle holds neither a DSSE envelope nor a message signature")
    return bundle
