"""Signing commands: keygen, sign, verify (cosign's key format and signature layout)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from skillctl.cli.options import (
    keyless_options,
    output_options,
    passphrase_option,
    read_passphrase,
    registry_options,
    signature_format_option,
)
from skillctl.cli.output import emit_json, say
from skillctl.core.errors import UsageError


@click.command(short_help="Make a signing key pair offline (cosign.key, cosign.pub).")
@click.option("--output-dir", type=click.Path(path_type=Path, file_okay=False), default=".", show_default=True)
@click.option("--force", is_flag=True, help="Overwrite an existing key pair.")
@passphrase_option
@output_options
def keygen(output_dir: Path, force: bool, passphrase_file: Path | None, fmt: str, quiet: bool) -> None:
    """Make a signing key pair offline: cosign.key (encrypted) and cosign.pub, as cosign names them."""
    from skillctl.trust.signing import generate_key_pair

    key, pub = generate_key_pair(output_dir, read_passphrase(passphrase_file, confirm=True), force=force)
    if fmt == "json":
        emit_json({"privateKey": str(key), "publicKey": str(pub)})
    elif quiet:
        say(str(key))
        say(str(pub))
    else:
        say(f"Private key written to {key}")
        say(f"Public key written to {pub}")


@click.command(short_help="Sign a registry image by digest, in cosign's formats.")
@click.argument("ref")
@click.option("--key", type=click.Path(path_type=Path, dir_okay=False, exists=True), required=True)
@signature_format_option
@passphrase_option
@registry_options
@output_options
def sign(
    ref: str,
    key: Path,
    signature_format: str | None,
    passphrase_file: Path | None,
    registry: Any,
    backend: str | None,
    fmt: str,
    quiet: bool,
) -> None:
    """Sign a registry image by digest: as sha256-<digest>.sig (legacy), as a Sigstore bundle referrer, or both."""
    from skillctl.trust.signing import DEFAULT_FORMAT
    from skillctl.trust.signing import sign as do_sign

    result = do_sign(
        ref,
        key,
        read_passphrase(passphrase_file),
        signature_format=signature_format or DEFAULT_FORMAT,
        backend=backend,
        opts=registry,
    )
    if fmt == "json":
        emit_json(result.__dict__)
    elif quiet:
        say(result.digest)
    else:
        say(f"Signed {result.ref} ({result.digest})")
        if result.signature_ref:
            say(f"Signature: {result.signature_ref} ({result.signatures} signature(s))")
        if result.bundle_ref:
            say(f"Bundle: {result.bundle_ref}")


@click.command(short_help="Require a valid signature on a registry image.")
@click.argument("ref")
@click.option(
    "--key",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="The public key (cosign.pub).",
)
@keyless_options
@registry_options
@output_options
def verify(
    ref: str,
    key: Path | None,
    keyless: Any,
    trusted_root: Path | None,
    registry: Any,
    backend: str | None,
    fmt: str,
    quiet: bool,
) -> None:
    """Check that a registry image carries a valid signature, in either format: by KEY, or keyless by an
    identity and issuer under a trusted root (offline). Exit 10 when not.

    \b
    skillctl verify quay.io/org/skill:1.0.0 --key cosign.pub
    skillctl verify quay.io/org/skill:1.0.0 --trusted-root trusted_root.json \\
        --certificate-identity https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main \\
        --certificate-oidc-issuer https://token.actions.githubusercontent.com
    """
    from skillctl.trust.signing import SignatureError
    from skillctl.trust.signing import verify as do_verify

    if key is None and keyless is None:
        raise UsageError("name a public key (--key) or a keyless identity (--certificate-identity ...)")
    try:
        result = do_verify(ref, key, identity=keyless, trusted_root=trusted_root, backend=backend, opts=registry)
    except SignatureError as exc:
        if fmt == "json":  # the document still tells pipelines what failed, as validate's does
            emit_json(
                {
                    "ref": ref,
                    "digest": _digest_or_none(ref, registry, backend),
                    "verified": 0,
                    "signatures": None,
                    "error": exc.message,
                }
            )
        raise
    attestations = _attestations(ref, result.digest, key, keyless, trusted_root, backend, registry)
    if fmt == "json":
        emit_json({**result.__dict__, "attestations": [a.to_json() for a in attestations]})
    elif quiet:
        say(result.digest)
    else:
        say(f"Verified {result.ref} ({result.digest}): {result.verified} of {result.signatures} signature(s)")
        for item in attestations:
            state = "verified" if item.signers else f"not verified ({'; '.join(item.reasons[:1])})"
            say(f"  attestation {item.attestation.predicate_type or '?'} [{item.attestation.format}]: {state}")


def _attestations(
    ref: str, digest: str, key: Path | None, keyless: Any, trusted_root: Path | None, backend: str | None, registry: Any
) -> list[Any]:
    """The attestations on the verified digest, each checked with the same key or identity."""
    from skillctl.core.refs import parse_reference
    from skillctl.trust import attest
    from skillctl.trust.signing import key_trust, keyless_trust

    trust = key_trust(key) if key is not None else keyless_trust(keyless, trusted_root)  # type: ignore[arg-type]
    found = attest.collect(parse_reference(ref), digest, backend=backend, opts=registry)
    return attest.check(found, {"signer": trust}, digest)


def _digest_or_none(ref: str, registry: Any, backend: str | None) -> str | None:
    """The digest a failed verification was about (the registry's manifest of REF), when it can be read."""
    from skillctl.backends.base import Capability
    from skillctl.core import oci
    from skillctl.core.errors import SkillctlError
    from skillctl.core.refs import parse_reference
    from skillctl.registry.client import read_manifest
    from skillctl.registry.selection import capable, select

    try:
        parsed = parse_reference(ref)
        reader = capable(select(backend, env=registry.env), Capability.MANIFEST, operation="read manifests")
        return parsed.digest or oci.sha256_digest(read_manifest(parsed, reader.backend, registry))
    except (SkillctlError, OSError, ValueError):
        return None


COMMANDS = [keygen, sign, verify]
