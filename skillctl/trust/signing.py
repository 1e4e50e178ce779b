"""Signing and verifying registry images, in cosign's two formats, offline.

``legacy``: a "simple signing" payload in the ``sha256-<digest>.sig`` image (cosign v2's default; what podman,
skopeo and CRI-O read). ``bundle``: a Sigstore bundle v0.3 (a DSSE envelope around an in-toto statement) in an
OCI 1.1 referrer, through the referrers API or the fallback tag ``sha256-<digest>`` (cosign v3's default).
Signatures bind the manifest digest, so a promotion (a new digest) needs new signatures.

Verification accepts either format: with a public key, or keyless against an identity and a trusted root
(``trust.keyless``, ``trust.transparency``). The lower-level pieces: ``keys`` (key files), ``simplesigning``
and ``referrers`` (the two layouts), ``bundle`` (the JSON), ``evidence`` (one shape for both formats).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from skillctl.backends.base import Capability, RegistryOptions
from skillctl.core import oci
from skillctl.core.errors import SkillctlError, UsageError
from skillctl.core.refs import Reference, parse_reference
from skillctl.registry.client import read_manifest
from skillctl.registry.selection import capable, select
from skillctl.trust import bundle as bundles
from skillctl.trust import evidence as ev
from skillctl.trust import keyless, referrers, simplesigning, trustroot
from skillctl.trust.evidence import SignatureError
from skillctl.trust.keys import (
    generate_key_pair,
    key_id,
    load_private_key,
    load_public_key,
    passphrase,
    sign_bytes,
)
from skillctl.trust.simplesigning import SIGNATURE_ANNOTATION, SIMPLE_SIGNING, signature_tag
from skillctl.trust.simplesigning import payload as simple_signing_payload

__all__ = [
    "DEFAULT_FORMAT",
    "FORMATS",
    "SIGNATURE_ANNOTATION",
    "SIMPLE_SIGNING",
    "SignResult",
    "SignatureError",
    "VerifyResult",
    "formats_present",
    "generate_key_pair",
    "key_verifier",
    "keyless_verifier",
    "load_private_key",
    "passphrase",
    "sign",
    "signature_tag",
    "simple_signing_payload",
    "verify",
    "verify_or_raise",
]

FORMATS: Final = ("legacy", "bundle", "both")
DEFAULT_FORMAT: Final = "legacy"
"""What ``sign`` writes unless told: measured in the README (Signing): cosign v2.6 refuses an image that
carries both formats, and cosign v3, podman and skopeo all read the legacy one."""

BUNDLE_ANNOTATIONS: Final = {
    "dev.sigstore.bundle.content": "dsse-envelope",
    "dev.sigstore.bundle.predicateType": bundles.COSIGN_SIGN_PREDICATE,
}


def _formats(choice: str) -> tuple[str, ...]:
    if choice not in FORMATS:
        raise UsageError(f"{choice}: not a signature format (choose one of {', '.join(FORMATS)})")
    return ("legacy", "bundle") if choice == "both" else (choice,)


def _registry_manifest(ref: Reference, *, backend: str | None, opts: RegistryOptions) -> oci.Manifest:
    reader = capable(select(backend, env=opts.env), Capability.MANIFEST, operation="read manifests")
    return oci.Manifest.parse(read_manifest(ref, reader.backend, opts), digest=ref.digest, source=str(ref))


def key_bundle(key: Any, digest: str) -> bytes:
    """A bundle signing ``digest`` with ``key`` as ``cosign sign --key`` v3 writes it (no log entry: offline)."""
    statement = bundles.statement(digest, bundles.COSIGN_SIGN_PREDICATE)
    signature = sign_bytes(key, bundles.pae(bundles.INTOTO_PAYLOAD, statement))
    hint = base64.b64encode(key_id(key.public_key())).decode()
    return bundles.Bundle(
        signature, payload_type=bundles.INTOTO_PAYLOAD, payload=statement, public_key_hint=hint
    ).to_json()


def attach_bundle(
    repo: Reference, subject: oci.Descriptor, bundle: bytes, *, backend: str | None, opts: RegistryOptions
) -> Reference:
    """Attach a signature bundle to ``subject`` as a referrer, with the annotations cosign v3 writes."""
    annotations = {
        "org.opencontainers.image.created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **BUNDLE_ANNOTATIONS,
    }
    manifest, blobs = referrers.artifact_manifest(
        subject, bundles.BUNDLE_V03, [(bundles.BUNDLE_V03, bundle)], annotations
    )
    return referrers.attach(repo, subject.digest, manifest, blobs, backend=backend, opts=opts)


@dataclass
class SignResult:
    ref: str
    digest: str
    signature_ref: str | None
    signatures: int
    bundle_ref: str | None = None
    formats: list[str] = field(default_factory=list)


def sign(
    ref: str,
    key_path: str | Path,
    key_passphrase: bytes,
    *,
    signature_format: str = DEFAULT_FORMAT,
    backend: str | None = None,
    opts: RegistryOptions | None = None,
) -> SignResult:
    """Sign the manifest ``ref`` points at (by digest) in ``signature_format`` (legacy, bundle or both).

    Signatures and referrers already attached (by any key or tool) are kept.
    """
    opts = opts or RegistryOptions()
    formats = _formats(signature_format)
    parsed = parse_reference(ref)
    if not parsed.is_remote:
        raise UsageError(f"{ref}: sign a registry reference (push it first)")
    key = load_private_key(key_path, key_passphrase)
    manifest = _registry_manifest(parsed, backend=backend, opts=opts)
    digest = manifest.digest
    result = SignResult(str(parsed), digest, None, 0, None, list(formats))
    if "legacy" in formats:
        signature = sign_bytes(key, simple_signing_payload(parsed.repository, digest))
        sig_ref, count = simplesigning.attach(parsed, digest, signature, backend=backend, opts=opts)
        result.signature_ref, result.signatures = str(sig_ref), count
    if "bundle" in formats:
        where = attach_bundle(parsed, manifest.descriptor, key_bundle(key, digest), backend=backend, opts=opts)
        result.bundle_ref = str(where)
        if "legacy" not in formats:
            result.signatures = len(
                referrers.list_referrers(
                    parsed, digest, backend=backend, opts=opts, artifact_type=bundles.BUNDLE_V03
                ).descriptors
            )
    return result


def formats_present(ref: str, digest: str, *, backend: str | None, opts: RegistryOptions) -> list[str]:
    """Which formats ``digest`` is signed in (by anyone): what a promotion signs the new digest in."""
    parsed = parse_reference(ref)
    found = []
    if simplesigning.fetch(parsed, digest, backend=backend, opts=opts).layers:
        found.append("legacy")
    listed = referrers.list_referrers(parsed, digest, backend=backend, opts=opts, artifact_type=bundles.BUNDLE_V03)
    if listed.descriptors:
        found.append("bundle")
    return found


@dataclass
class VerifyResult:
    ref: str
    digest: str
    verified: int
    signatures: int
    signers: list[str] = field(default_factory=list)
    formats: list[str] = field(default_factory=list)


def verify_with(
    ref: str,
    trust: ev.Trust,
    label: str,
    *,
    backend: str | None = None,
    opts: RegistryOptions | None = None,
    digest: str | None = None,
) -> VerifyResult:
    """Require at least one signature on ``ref``'s manifest, in either format, that ``trust`` accepts.

    Raises:
        SignatureError: unsigned, or no signature is accepted; the message says why each one was not (exit 10).
    """
    opts = opts or RegistryOptions()
    parsed = parse_reference(ref)
    digest = digest or _registry_manifest(parsed, backend=backend, opts=opts).digest
    found = ev.collect(parsed, digest, backend=backend, opts=opts)
    if not found:
        raise SignatureError(f"{ref}: no signature found for {digest}", hint=f"sign it: skillctl sign {ref} --key KEY")
    outcome = ev.check(found, trust, digest)
    if not outcome.verified:
        raise SignatureError(
            f"{ref}: none of {outcome.total} signature(s) on {digest} verifies with {label} ({ev.reasons(outcome)})",
            hint="wrong key or identity, or the image or its signature was changed",
        )
    return VerifyResult(
        str(parsed),
        digest,
        len(outcome.verified),
        outcome.total,
        sorted({who for _, who in outcome.verified}),
        sorted({e.format for e, _ in outcome.verified}),
    )


def key_trust(public_key: str | Path) -> ev.KeyTrust:
    return ev.KeyTrust([load_public_key(public_key)], str(public_key))


def keyless_trust(identity: keyless.Identity, trusted_root: str | Path) -> ev.KeylessTrust:
    root = trustroot.load(trusted_root)
    if not root.authorities or not root.logs:
        raise UsageError(f"{trusted_root}: keyless verification needs certificate authorities and log keys")
    return ev.KeylessTrust(root.authorities, root.logs, identity)


def verify(
    ref: str,
    public_key: str | Path | None = None,
    *,
    identity: keyless.Identity | None = None,
    trusted_root: str | Path | None = None,
    backend: str | None = None,
    opts: RegistryOptions | None = None,
    digest: str | None = None,
) -> VerifyResult:
    """Require a valid signature by ``public_key``, or (keyless) by ``identity`` under ``trusted_root``.

    Raises:
        UsageError: neither (or both) given.
        SignatureError: unsigned, or no signature verifies (exit 10).
    """
    if (public_key is None) == (identity is None):
        raise UsageError("verify with a public key (--key) or a keyless identity (--certificate-identity), not both")
    if identity is not None:
        if trusted_root is None:
            raise UsageError("keyless verification needs --trusted-root FILE (Sigstore's trusted_root.json)")
        trust: ev.Trust = keyless_trust(identity, trusted_root)
        label = f"identity {identity.describe()}"
    else:
        assert public_key is not None
        trust, label = key_trust(public_key), str(public_key)
    return verify_with(ref, trust, label, backend=backend, opts=opts, digest=digest)


Verifier = Callable[[str, str], str]


def _verifier(trust: ev.Trust, label: str, *, backend: str | None, opts: RegistryOptions) -> Verifier:
    def check(ref: str, digest: str) -> str:
        try:
            result = verify_with(ref, trust, label, backend=backend, opts=opts, digest=digest)
        except SignatureError:
            raise
        except SkillctlError as exc:
            raise SignatureError(f"{ref}: cannot verify the signature ({exc})") from None
        return ", ".join(result.signers)

    return check


def key_verifier(public_key: str | Path, *, backend: str | None, opts: RegistryOptions) -> Verifier:
    """A pull verifier (see ``registry.transfer.Verifier``): a valid signature by ``public_key`` or exit 10."""
    return _verifier(key_trust(public_key), str(public_key), backend=backend, opts=opts)


def keyless_verifier(
    identity: keyless.Identity, trusted_root: str | Path, *, backend: str | None, opts: RegistryOptions
) -> Verifier:
    """A pull verifier for keyless signatures by ``identity`` under ``trusted_root``."""
    return _verifier(
        keyless_trust(identity, trusted_root), f"identity {identity.describe()}", backend=backend, opts=opts
    )


def verify_or_raise(ref: str, public_key: str | Path | None, **kwargs: Any) -> VerifyResult | None:
    if public_key is None:
        return None
    try:
        return verify(ref, public_key, **kwargs)
    except SignatureError:
        raise
    except SkillctlError as exc:
        raise SignatureError(f"{ref}: cannot verify the signature ({exc})") from None
