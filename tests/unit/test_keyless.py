"""Keyless verification offline against a private Sigstore made by the test (``tests/private_sigstore.py``).

Each case changes one thing in an otherwise valid bundle and expects the refusal to name it.
"""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from private_sigstore import PrivateSigstore, b64

from skillctl.core.errors import UsageError
from skillctl.trust import evidence as ev
from skillctl.trust import trustroot
from skillctl.trust.keyless import Identity
from skillctl.trust.transparency import root_from_inclusion_proof

DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32
WHO = "https://github.com/acme/skills/.github/workflows/release.yml@refs/heads/main"
ISSUER = "https://token.actions.githubusercontent.com"


@pytest.fixture(scope="module")
def sigstore() -> PrivateSigstore:
    return PrivateSigstore()


def trust(sigstore: PrivateSigstore, **identity: str) -> ev.KeylessTrust:
    root = trustroot.parse(sigstore.trusted_root(), "trusted_root.json")
    return ev.KeylessTrust(root.authorities, root.logs, Identity(**({"subject": WHO, "issuer": ISSUER} | identity)))


def outcome(sigstore: PrivateSigstore, bundle: bytes, digest: str = DIGEST, **identity: str) -> ev.Outcome:
    return ev.check([ev.bundle_evidence(bundle, "referrer X")], trust(sigstore, **identity), digest)


def accepted(result: ev.Outcome) -> str:
    assert result.verified, result.rejected
    return result.verified[0][1]


def refused(result: ev.Outcome, *fragments: str) -> None:
    assert not result.verified
    ((_, why),) = result.rejected
    for fragment in fragments:
        assert fragment in why, why


def edit(bundle: bytes, change) -> bytes:  # type: ignore[no-untyped-def]
    doc = json.loads(bundle)
    change(doc)
    return json.dumps(doc).encode()


def test_a_good_keyless_bundle_verifies(sigstore: PrivateSigstore) -> None:
    bundle = sigstore.keyless_bundle(DIGEST, WHO, ISSUER)
    assert accepted(outcome(sigstore, bundle)) == f"{WHO} ({ISSUER})"
    assert accepted(outcome(sigstore, bundle, subject_regexp=r"^https://github\.com/acme/", subject=""))


def test_an_email_identity(sigstore: PrivateSigstore) -> None:
    bundle = sigstore.keyless_bundle(DIGEST, "ops@example.com", "https://accounts.example.com")
    assert accepted(outcome(sigstore, bundle, subject="ops@example.com", issuer="https://accounts.example.com"))


def test_wrong_identity_and_wrong_issuer(sigstore: PrivateSigstore) -> None:
    bundle = sigstore.keyless_bundle(DIGEST, WHO, ISSUER)
    refused(outcome(sigstore, bundle, subject="https://github.com/evil/x"), f"the certificate is for {WHO}")
    refused(outcome(sigstore, bundle, subject="", subject_regexp="^https://gitlab"), "not ^https://gitlab")
    refused(outcome(sigstore, bundle, issuer="https://accounts.google.com"), f"OIDC issuer is {ISSUER}")


def test_a_bundle_for_another_digest(sigstore: PrivateSigstore) -> None:
    refused(outcome(sigstore, sigstore.keyless_bundle(OTHER, WHO, ISSUER)), f"signs {OTHER}, not {DIGEST}")


def test_a_tampered_payload(sigstore: PrivateSigstore) -> None:
    bundle = sigstore.keyless_bundle(OTHER, WHO, ISSUER)

    def retarget(doc):  # type: ignore[no-untyped-def]
        statement = json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))
        statement["subject"][0]["digest"]["sha256"] = DIGEST[7:]
        doc["dsseEnvelope"]["payload"] = b64(json.dumps(statement).encode())

    refused(outcome(sigstore, edit(bundle, retarget)), "does not verify with its certificate's key")


def test_a_bad_inclusion_proof_and_a_bad_set(sigstore: PrivateSigstore) -> None:
    bundle = sigstore.keyless_bundle(DIGEST, WHO, ISSUER)

    def bad_proof(doc):  # type: ignore[no-untyped-def]
        proof = doc["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
        proof["hashes"][0] = b64(b"\x00" * 32)

    refused(outcome(sigstore, edit(bundle, bad_proof)), "inclusion proof", "does not lead to its root hash")

    def bad_set(doc):  # type: ignore[no-untyped-def]
        entry = doc["verificationMaterial"]["tlogEntries"][0]
        entry["integratedTime"] = str(int(entry["integratedTime"]) + 1)

    refused(outcome(sigstore, edit(bundle, bad_set)), "signed entry timestamp", "does not verify")

    def forged_checkpoint(doc):  # type: ignore[no-untyped-def]
        from cryptography.hazmat.primitives.asymmetric import ec

        proof = doc["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
        root = base64.b64decode(proof["rootHash"])
        proof["checkpoint"]["envelope"] = sigstore.log.checkpoint(
            int(proof["treeSize"]), root, key=ec.generate_private_key(ec.SECP256R1())
        )

    refused(outcome(sigstore, edit(bundle, forged_checkpoint)), "no checkpoint signature verifies")


def test_an_entry_from_another_log_or_about_another_signature(sigstore: PrivateSigstore) -> None:
    other = PrivateSigstore()
    other.intermediate, other.intermediate_key, other.root = (
        sigstore.intermediate,
        sigstore.intermediate_key,
        sigstore.root,
    )
    refused(outcome(sigstore, other.keyless_bundle(DIGEST, WHO, ISSUER)), "a log the trusted root does not hold")

    one = json.loads(sigstore.keyless_bundle(DIGEST, WHO, ISSUER))
    two = json.loads(sigstore.keyless_bundle(DIGEST, WHO, ISSUER))
    one["verificationMaterial"]["tlogEntries"] = two["verificationMaterial"]["tlogEntries"]
    refused(outcome(sigstore, json.dumps(one).encode()), "about another signature or signer")


def test_only_a_set_dates_a_keyless_signature(sigstore: PrivateSigstore) -> None:
    def proof_only(doc):  # type: ignore[no-untyped-def]
        del doc["verificationMaterial"]["tlogEntries"][0]["inclusionPromise"]

    bundle = edit(sigstore.keyless_bundle(DIGEST, WHO, ISSUER), proof_only)
    refused(outcome(sigstore, bundle), "no signed entry timestamp")

    def no_log(doc):  # type: ignore[no-untyped-def]
        doc["verificationMaterial"]["tlogEntries"] = []

    refused(outcome(sigstore, edit(bundle, no_log)), "no transparency-log entry")


def test_an_expired_certificate(sigstore: PrivateSigstore) -> None:
    # Logged an hour after its ten minutes were over: the log's timestamp is outside the certificate's life.
    late = sigstore.keyless_bundle(DIGEST, WHO, ISSUER, integrated=sigstore.now + dt.timedelta(hours=1))
    refused(outcome(sigstore, late), "not valid at the signing time")


def test_a_certificate_from_an_untrusted_ca(sigstore: PrivateSigstore) -> None:
    rogue = PrivateSigstore("rogue")
    rogue.log = sigstore.log  # the log is trusted; the CA is not
    refused(outcome(sigstore, rogue.keyless_bundle(DIGEST, WHO, ISSUER)), "does not chain to a trusted")


def test_attestations_and_message_signatures_are_not_image_signatures(sigstore: PrivateSigstore) -> None:
    def attestation(doc):  # type: ignore[no-untyped-def]
        statement = json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))
        statement["predicateType"] = "https://slsa.dev/provenance/v1"
        doc["dsseEnvelope"]["payload"] = b64(json.dumps(statement).encode())

    refused(outcome(sigstore, edit(sigstore.keyless_bundle(DIGEST, WHO, ISSUER), attestation)), "an attestation")
    refused(outcome(sigstore, b'{"mediaType": "text/plain"}'), "not a Sigstore bundle")


def test_identity_needs_both_halves() -> None:
    with pytest.raises(UsageError, match="--certificate-oidc-issuer"):
        Identity(subject=WHO)
    with pytest.raises(UsageError, match="--certificate-identity"):
        Identity(issuer=ISSUER)
    with pytest.raises(UsageError, match="not a regular expression"):
        Identity(subject_regexp="(", issuer=ISSUER)


def test_trusted_root_errors_name_the_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError, match=r"root\.json: not JSON"):
        trustroot.parse(b"{", "root.json")
    with pytest.raises(UsageError, match="not a Sigstore trusted root"):
        trustroot.parse(b'{"mediaType": "x"}', "root.json")


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 8, 13])
def test_inclusion_proofs_for_every_position(size: int) -> None:
    from private_sigstore import audit_path, leaf_hash, tree_hash

    leaves = [leaf_hash(b"%d" % i) for i in range(size)]
    root = tree_hash(leaves)
    for index in range(size):
        assert root_from_inclusion_proof(index, size, leaves[index], audit_path(index, leaves)) == root
