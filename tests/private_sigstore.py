"""A private Sigstore made by the tests: a CA (root and intermediate) issuing Fulcio-style certificates, a
transparency log that signs entry timestamps (SETs) and checkpoints over a real Merkle tree, and the
``trusted_root.json`` naming both. Built with ``cryptography`` only, independently of skillctl's verifier:
the Merkle proofs come from the recursive RFC 6962 definitions, not the iterative check skillctl runs.

``keyless_bundle`` and ``keyless_sig_layer`` sign an image digest as CI would with a short-lived certificate,
in cosign v3's bundle format and cosign v2's ``.sig`` layer format.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ISSUER_V1 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
ISSUER_V2 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
INTOTO = "application/vnd.in-toto+json"
SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"
BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
UTC = dt.UTC


def use_sigstore_attachments(home: Path, host: str) -> None:
    """registries.d's ``use-sigstore-attachments: true`` for ``host``, in the test's own HOME (skopeo reads
    ``~/.config/containers/registries.d`` instead of ``/etc/containers/registries.d`` when it exists)."""
    directory = home / ".config" / "containers" / "registries.d"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "skillctl-test.yaml").write_text(f"docker:\n  {host}:\n    use-sigstore-attachments: true\n")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def spki(key: Any) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


def utf8_string(text: str) -> bytes:
    raw = text.encode()
    assert len(raw) < 128
    return bytes([0x0C, len(raw)]) + raw


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "skillctl-test"), x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    )


def _ca_cert(
    subject: str, key: Any, issuer: x509.Name, issuer_key: Any, start: dt.datetime, path_length: int | None
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(issuer_key, hashes.SHA256())
    )


# -- Merkle tree (RFC 6962 section 2.1, recursive definitions) ------------------------------------
def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def tree_hash(leaves: list[bytes]) -> bytes:
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return hashlib.sha256(b"\x01" + tree_hash(leaves[:k]) + tree_hash(leaves[k:])).digest()


def audit_path(index: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if index < k:
        return [*audit_path(index, leaves[:k]), tree_hash(leaves[k:])]
    return [*audit_path(index - k, leaves[k:]), tree_hash(leaves[:k])]


@dataclass
class Log:
    """A transparency log: a key, a Merkle tree of entries, and signed checkpoints."""

    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    origin: str = "skillctl-test-log - 42"
    leaves: list[bytes] = field(default_factory=lambda: [leaf_hash(b"filler %d" % i) for i in range(5)])

    @property
    def log_id(self) -> bytes:
        return hashlib.sha256(spki(self.key.public_key())).digest()

    def checkpoint(self, size: int, root: bytes, key: Any = None) -> str:
        note = f"{self.origin}\n{size}\n{b64(root)}\n"
        signature = sign(key or self.key, note.encode())
        return note + "\n" + f"\u2014 {self.origin.split(' ')[0]} {b64(self.log_id[:4] + signature)}\n"

    def add(self, body: bytes, integrated: dt.datetime, *, set_key: Any = None) -> dict[str, Any]:
        """Append ``body``; the bundle's tlog entry with a SET and an inclusion proof (as protobuf JSON)."""
        index = len(self.leaves)
        self.leaves.append(leaf_hash(body))
        self.leaves.append(leaf_hash(b"after %d" % index))  # the tree keeps growing
        size, root = len(self.leaves), tree_hash(self.leaves)
        when = int(integrated.timestamp())
        promise = json.dumps(
            {"body": b64(body), "integratedTime": when, "logID": self.log_id.hex(), "logIndex": index},
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
        return {
            "logIndex": str(index),
            "logId": {"keyId": b64(self.log_id)},
            "kindVersion": {"kind": json.loads(body)["kind"], "version": "0.0.1"},
            "integratedTime": str(when),
            "inclusionPromise": {"signedEntryTimestamp": b64(sign(set_key or self.key, promise))},
            "inclusionProof": {
                "logIndex": str(index),
                "rootHash": b64(root),
                "treeSize": str(size),
                "hashes": [b64(h) for h in audit_path(index, self.leaves)],
                "checkpoint": {"envelope": self.checkpoint(size, root)},
            },
            "canonicalizedBody": b64(body),
        }


@dataclass
class Signed:
    """A keyless signature as CI makes one: the certificate, what was signed, and the log entry."""

    certificate: x509.Certificate
    chain: list[x509.Certificate]
    payload: bytes
    signature: bytes
    tlog_entry: dict[str, Any]


class PrivateSigstore:
    """CA + log + trusted root. ``now`` is the signing time of everything it makes unless told otherwise."""

    def __init__(self, name: str = "skillctl test sigstore") -> None:
        self.now = dt.datetime.now(UTC).replace(microsecond=0)
        start = self.now - dt.timedelta(days=1)
        self.root_key = ec.generate_private_key(ec.SECP384R1())
        self.root = _ca_cert(f"{name} root", self.root_key, _name(f"{name} root"), self.root_key, start, 1)
        self.intermediate_key = ec.generate_private_key(ec.SECP384R1())
        self.intermediate = _ca_cert(
            f"{name} intermediate", self.intermediate_key, self.root.subject, self.root_key, start, 0
        )
        self.log = Log()

    # -- trust material -------------------------------------------------------------------------
    def trusted_root(self) -> bytes:
        start = (self.now - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return json.dumps(
            {
                "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
                "tlogs": [
                    {
                        "baseUrl": "https://rekor.skillctl.test",
                        "hashAlgorithm": "SHA2_256",
                        "publicKey": {
                            "rawBytes": b64(spki(self.log.key.public_key())),
                            "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                            "validFor": {"start": start},
                        },
                        "logId": {"keyId": b64(self.log.log_id)},
                    }
                ],
                "certificateAuthorities": [
                    {
                        "subject": {"organization": "skillctl-test", "commonName": "skillctl test sigstore"},
                        "uri": "https://fulcio.skillctl.test",
                        "certChain": {
                            "certificates": [
                                {"rawBytes": b64(der(self.intermediate))},
                                {"rawBytes": b64(der(self.root))},
                            ]
                        },
                        "validFor": {"start": start},
                    }
                ],
                "ctlogs": [],
                "timestampAuthorities": [],
            },
            indent=2,
        ).encode()

    def ca_pem(self) -> bytes:
        """The CA certificates as a policy's ``fulcio.caPath`` file holds them."""
        return pem(self.intermediate) + pem(self.root)

    def log_public_pem(self) -> bytes:
        return self.log.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    # -- certificates ---------------------------------------------------------------------------
    def leaf(
        self,
        identity: str,
        issuer: str,
        key: Any,
        *,
        not_before: dt.datetime | None = None,
        lifetime: dt.timedelta = dt.timedelta(minutes=10),
        ca: tuple[Any, Any] | None = None,
    ) -> x509.Certificate:
        """A Fulcio-style certificate: no subject, the identity as SAN, the issuer in both OID extensions."""
        start = not_before or self.now - dt.timedelta(minutes=1)
        issuer_cert, issuer_key = ca or (self.intermediate, self.intermediate_key)
        san: x509.GeneralName = (
            x509.RFC822Name(identity)
            if "@" in identity and "://" not in identity
            else x509.UniformResourceIdentifier(identity)
        )
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(issuer_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + lifetime)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
            .add_extension(x509.SubjectAlternativeName([san]), critical=True)
            .add_extension(x509.UnrecognizedExtension(ISSUER_V1, issuer.encode()), critical=False)
            .add_extension(x509.UnrecognizedExtension(ISSUER_V2, utf8_string(issuer)), critical=False)
            .sign(issuer_key, hashes.SHA256())
        )

    # -- signatures ------------------------------------------------------------------------------
    def keyless_bundle(
        self,
        digest: str,
        identity: str,
        issuer: str,
        *,
        integrated: dt.datetime | None = None,
        payload_digest: str | None = None,
        **leaf_args: Any,
    ) -> bytes:
        """A cosign v3 image signature bundle (DSSE in-toto statement) signed keyless and logged."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = self.leaf(identity, issuer, key, **leaf_args)
        algorithm, _, value = (payload_digest or digest).partition(":")
        statement = json.dumps(
            {"_type": "https://in-toto.io/Statement/v1", "subject": [{"digest": {algorithm: value}}],
             "predicateType": SIGN_PREDICATE, "predicate": {}},
            separators=(",", ":"),
        ).encode()  # fmt: skip
        pae = b"DSSEv1 %d %s %d %s" % (len(INTOTO), INTOTO.encode(), len(statement), statement)
        signature = sign(key, pae)
        envelope = {"payload": b64(statement), "payloadType": INTOTO, "signatures": [{"sig": b64(signature)}]}
        body = json.dumps(
            {
                "apiVersion": "0.0.1",
                "kind": "dsse",
                "spec": {
                    "envelopeHash": {
                        "algorithm": "sha256",
                        "value": hashlib.sha256(json.dumps(envelope).encode()).hexdigest(),
                    },
                    "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(statement).hexdigest()},
                    "signatures": [{"signature": b64(signature), "verifier": b64(pem(cert))}],
                },
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
        entry = self.log.add(body, integrated or self.now)
        bundle = {
            "mediaType": BUNDLE_V03,
            "verificationMaterial": {"certificate": {"rawBytes": b64(der(cert))}, "tlogEntries": [entry]},
            "dsseEnvelope": {
                "payload": b64(statement),
                "payloadType": INTOTO,
                "signatures": [{"sig": b64(signature), "keyid": ""}],
            },
        }
        return json.dumps(bundle).encode()

    def keyless_sig_layer(
        self, payload: bytes, identity: str, issuer: str, *, integrated: dt.datetime | None = None
    ) -> tuple[dict[str, str], bytes]:
        """A cosign v2 keyless ``.sig`` layer's annotations for ``payload`` (the simple-signing payload)."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = self.leaf(identity, issuer, key)
        signature = sign(key, payload)
        body = json.dumps(
            {
                "apiVersion": "0.0.1",
                "kind": "hashedrekord",
                "spec": {
                    "data": {"hash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()}},
                    "signature": {"content": b64(signature), "publicKey": {"content": b64(pem(cert))}},
                },
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
        entry = self.log.add(body, integrated or self.now)
        rekor_bundle = {
            "SignedEntryTimestamp": entry["inclusionPromise"]["signedEntryTimestamp"],
            "Payload": {
                "body": entry["canonicalizedBody"],
                "integratedTime": int(entry["integratedTime"]),
                "logIndex": int(entry["logIndex"]),
                "logID": self.log.log_id.hex(),
            },
        }
        annotations = {
            "dev.cosignproject.cosign/signature": b64(signature),
            "dev.sigstore.cosign/certificate": pem(cert).decode(),
            "dev.sigstore.cosign/chain": (pem(self.intermediate) + pem(self.root)).decode(),
            "dev.sigstore.cosign/bundle": json.dumps(rekor_bundle, separators=(",", ":")),
        }
        return annotations, payload
