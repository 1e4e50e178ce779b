"""Signing commands: keygen, sign, verify (cosign's key format and signature layout)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from skillctl.cli.options import output_options, passphrase_option, read_passphrase, registry_options
from skillctl.cli.output import emit_json


@click.command(short_help="Make a signing key pair offline (cosign.key, cosign.pub).")
@click.option("--output-dir", type=click.Path(path_type=Path, file_okay=False), default=".", show_default=True)
@click.option("--force", is_flag=True, help="Overwrite an existing key pair.")
@passphrase_option
def keygen(output_dir: Path, force: bool, passphrase_file: Path | None) -> None:
    """Make a signing key pair offline: cosign.key (encrypted) and cosign.pub, as cosign names them."""
    from skillctl.trust.signing import generate_key_pair

    key, pub = generate_key_pair(output_dir, read_passphrase(passphrase_file, confirm=True), force=force)
    click.echo(f"Private key written to {key}")
    click.echo(f"Public key written to {pub}")


@click.command(short_help="Sign a registry image by digest, in cosign's layout.")
@click.argument("ref")
@click.option("--key", type=click.Path(path_type=Path, dir_okay=False, exists=True), required=True)
@passphrase_option
@registry_options
@output_options
def sign(
    ref: str, key: Path, passphrase_file: Path | None, registry: Any, backend: str | None, fmt: str, quiet: bool
) -> None:
    """Sign a registry image by digest; the signature goes next to it as sha256-<digest>.sig."""
    from skillctl.trust.signing import sign as do_sign

    result = do_sign(ref, key, read_passphrase(passphrase_file), backend=backend, opts=registry)
    if fmt == "json":
        emit_json(result.__dict__)
    elif quiet:
        click.echo(result.digest)
    else:
        click.echo(f"Signed {result.ref} ({result.digest})")
        click.echo(f"Signature: {result.signature_ref} ({result.signatures} signature(s))")


@click.command(short_help="Require a valid signature by a key on a registry image.")
@click.argument("ref")
@click.option(
    "--key",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    required=True,
    help="The public key (cosign.pub).",
)
@registry_options
@output_options
def verify(ref: str, key: Path, registry: Any, backend: str | None, fmt: str, quiet: bool) -> None:
    """Check that a registry image carries a valid signature by KEY; exit 10 when not."""
    from skillctl.trust.signing import SignatureError
    from skillctl.trust.signing import verify as do_verify

    try:
        result = do_verify(ref, key, backend=backend, opts=registry)
    except SignatureError as exc:
        if fmt == "json":  # the document still tells pipelines what failed, as validate's does
            emit_json({"ref": ref, "digest": None, "verified": 0, "signatures": None, "error": exc.message})
        raise
    if fmt == "json":
        emit_json(result.__dict__)
    elif quiet:
        click.echo(result.digest)
    else:
        click.echo(f"Verified {result.ref} ({result.digest}): {result.verified} of {result.signatures} signature(s)")


COMMANDS = [keygen, sign, verify]
