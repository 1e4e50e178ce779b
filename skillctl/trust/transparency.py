"""Transparency-log entries checked offline: the signed entry timestamp (SET), the inclusion proof and its
signed checkpoint, and that the entry is about the signature at hand.

Ours: the canonical JSON a SET signs, the RFC 6962 Merkle audit-path walk, the signed-note parsing of a
checkpoint, and the comparison of an entry's body (``hashedrekord`` or ``dsse`` 0.0.1) with the signature.
The signature math is ``cryptography``'s (through ``keys.verify_bytes``). Only Rekor v1 entries are read.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from skillctl.trust.bundle import TlogEntry
from skillctl.trust.keys import key_id, verify_bytes


@dataclass(frozen=True)
class LogKey:
    """A transparency log's public key and when it may have signed (from a trusted root, or a policy)."""

    key: Any
    log_id: bytes
    valid_from: datetime | None = None
    valid_until: datetime | None = None

    @classmethod
    def of(cls, key: Any, valid_from: datetime | None = None, valid_until: datetime | None = None) -> LogKey:
        return cls(key, key_id(key), valid_from, valid_until)

    def valid_at(self, when: datetime) -> bool:
        return (self.valid_from is None or self.valid_from <= when) and (
            self.valid_until is None or when <= self.valid_until
        )


@dataclass(frozen=True)
class Signed:
    """What a log entry must be about: the signature, the bytes or digest signed, and who signed."""

    signature: bytes
    payload_sha256: bytes  # SHA-256 of the signed payload (the .sig payload, or the DSSE payload)
    verifier_der: bytes  # the leaf certificate's DER, or the public key's SubjectPublicKeyInfo DER


class LogError(Exception):
    """Why one entry does not count (collected into the integrity error of the whole verification)."""


def canonical_json(value: Any) -> bytes:
    """RFC 8785 for the values a SET covers (strings and integers): sorted keys, no spaces."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def set_payload(entry: TlogEntry) -> bytes:
    return canonical_json(
        {
            "body": base64.b64encode(entry.body).decode(),
            "integratedTime": entry.integrated_time,
            "logID": entry.log_id.hex(),
            "logIndex": entry.log_index,
        }
    )


def _leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: list[bytes]) -> bytes:
    """The tree root an RFC 6962 audit path leads to (RFC 9162 section 2.1.3.2)."""
    if not 0 <= index < size:
        raise LogError(f"log index {index} is outside a tree of {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise LogError("the inclusion proof is longer than the tree")
        if fn & 1 or fn == sn:
            r = _node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = _node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise LogError("the inclusion proof is shorter than the tree")
    return r


def _checkpoint(text: str, log: LogKey) -> tuple[int, bytes]:
    """(tree size, root hash) of a signed checkpoint whose signature verifies with ``log``."""
    note, sep, signatures = text.rpartition("\n\n")
    if not sep or not signatures.endswith("\n"):
        raise LogError("the checkpoint is not a signed note")
    lines = note.split("\n")
    if len(lines) < 3:
        raise LogError("the checkpoint has too few lines")
    try:
        size, root = int(lines[1]), base64.b64decode(lines[2], validate=True)
    except ValueError:
        raise LogError("the checkpoint's size or root hash is malformed") from None
    hint = log.log_id[:4]
    for line in signatures.splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != "\u2014":
            raise LogError("the checkpoint has a malformed signature line")
        try:
            raw = base64.b64decode(parts[2], validate=True)
        except ValueError:
            raise LogError("the checkpoint signature is not base64") from None
        if raw[:4] == hint and verify_bytes(log.key, raw[4:], (note + "\n").encode()):
            return size, root
    raise LogError("no checkpoint signature verifies with the log's key")


def _about(entry: TlogEntry, signed: Signed) -> None:
    """The entry's body names this signature, this payload and this signer."""
    try:
        body = json.loads(entry.body)
        spec = body["spec"]
        kind, version = body["kind"], body["apiVersion"]
        if (kind, version) == ("hashedrekord", "0.0.1"):
            hashed = spec["data"]["hash"]
            sigs = [(spec["signature"]["content"], spec["signature"]["publicKey"]["content"])]
            if hashed["algorithm"] != "sha256" or bytes.fromhex(hashed["value"]) != signed.payload_sha256:
                raise LogError("the log entry is about another payload")
        elif (kind, version) == ("dsse", "0.0.1"):
            hashed = spec["payloadHash"]
            sigs = [(s["signature"], s["verifier"]) for s in spec["signatures"]]
            if hashed["algorithm"] != "sha256" or bytes.fromhex(hashed["value"]) != signed.payload_sha256:
                raise LogError("the log entry is about another payload")
        else:
            raise LogError(f"log entries of kind {kind} {version} are not read")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise LogError("the log entry's body is malformed") from None
    for sig_b64, verifier_b64 in sigs:
        try:
            sig = base64.b64decode(sig_b64, validate=True)
            verifier = _der_of_pem(base64.b64decode(verifier_b64, validate=True))
        except ValueError:
            continue
        if sig == signed.signature and verifier == signed.verifier_der:
            return
    raise LogError("the log entry is about another signature or signer")


def _der_of_pem(pem: bytes) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    if b"CERTIFICATE" in pem:
        return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    key = serialization.load_pem_public_key(pem)
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass(frozen=True)
class Verified:
    """An entry that verified: when the log says it was integrated (only a SET signs that time)."""

    log_index: int
    integrated_time: datetime | None
    how: str


def verify_entry(entry: TlogEntry, logs: Iterable[LogKey], signed: Signed) -> Verified:
    """Check one entry offline against the trusted log keys.

    At least one of the SET and the inclusion proof (with a checkpoint signed by the same log) must be present,
    and each one present must verify. Only a SET makes the integrated time trustworthy.

    Raises:
        LogError: why the entry does not count.
    """
    log = next((k for k in logs if k.log_id == entry.log_id), None)
    if log is None:
        raise LogError(f"log entry {entry.log_index} is from a log the trusted root does not hold")
    _about(entry, signed)
    if entry.signed_entry_timestamp is None and entry.proof is None:
        raise LogError(f"log entry {entry.log_index} has neither a signed entry timestamp nor an inclusion proof")
    when = None
    how = []
    if entry.signed_entry_timestamp is not None:
        integrated = datetime.fromtimestamp(entry.integrated_time, UTC)
        if not log.valid_at(integrated):
            raise LogError(f"the log key was not valid at the entry's time {integrated:%Y-%m-%dT%H:%M:%SZ}")
        if not verify_bytes(log.key, entry.signed_entry_timestamp, set_payload(entry)):
            raise LogError(f"the signed entry timestamp of log entry {entry.log_index} does not verify")
        when = integrated
        how.append("signed entry timestamp")
    if entry.proof is not None:
        proof = entry.proof
        root = root_from_inclusion_proof(proof.log_index, proof.tree_size, _leaf_hash(entry.body), proof.hashes)
        if root != proof.root_hash:
            raise LogError(f"the inclusion proof of log entry {entry.log_index} does not lead to its root hash")
        size, signed_root = _checkpoint(proof.checkpoint, log)
        if (size, signed_root) != (proof.tree_size, proof.root_hash):
            raise LogError(f"the checkpoint does not sign the inclusion proof's tree of log entry {entry.log_index}")
        how.append("inclusion proof")
    return Verified(entry.log_index, when, " and ".join(how))
