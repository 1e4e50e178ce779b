"""The lifecycle command: promote."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from skillctl.cli.context import Settings
from skillctl.cli.options import (
    output_options,
    passphrase_option,
    registry_options,
    sign_after,
    sign_key_option,
    sign_key_passphrase,
    signature_format_option,
)
from skillctl.cli.output import emit_json, say, warn
from skillctl.core.errors import UsageError
from skillctl.core.refs import parse_reference
from skillctl.core.states import STATES


@click.command()
@click.argument("ref")
@click.option("--to", "to", required=True, type=click.Choice(STATES), help="The next lifecycle state.")
@click.option("--local", is_flag=True, help="Promote in the local store instead of the registry.")
@sign_key_option
@signature_format_option
@passphrase_option
@registry_options
@output_options
@click.pass_obj
def promote(
    settings: Settings,
    ref: str,
    to: str,
    local: bool,
    sign_key: Path | None,
    signature_format: str | None,
    passphrase_file: Path | None,
    registry: Any,
    backend: str | None,
    fmt: str,
    quiet: bool,
) -> None:
    """Move a skill one lifecycle step: draft, testing, published, deprecated, archived.

    Only the io.skillimage.status annotation changes and tags move; config and
    layers stay the same, and no blob is uploaded. Running a promotion again is
    a no-op that finishes an interrupted one.

    \b
    skillctl promote examples/hello-world:1.0.0-draft --to testing --local
    skillctl promote quay.io/myorg/hello-world:1.0.0-testing --to published
    """
    from skillctl.lifecycle.promote import promote as do_promote

    if sign_key and local:
        raise UsageError("--sign-key signs registry images; promote on the registry to sign")
    key_passphrase = sign_key_passphrase(sign_key, passphrase_file)  # ask before changing anything
    result = do_promote(ref, to, local=local, store=settings.store(), backend=backend, opts=registry)
    repository = parse_reference(ref).repository
    if sign_key and signature_format is None and result.previous_digest:
        # The new digest is signed in the formats the source was signed in (the default when it was unsigned).
        from skillctl.trust.signing import formats_present

        present = formats_present(repository, result.previous_digest, backend=backend, opts=registry)
        signature_format = "both" if len(present) == 2 else (present[0] if present else None)
    signed = sign_after(f"{repository}@{result.digest}", sign_key, key_passphrase, registry, backend, signature_format)
    if fmt == "json":
        emit_json(
            {
                **result.to_json(),
                "signature": signed.signature_ref if signed else None,
                "bundle": signed.bundle_ref if signed else None,
            }
        )
        return
    if signed:
        for where in filter(None, (signed.signature_ref, signed.bundle_ref)):
            say(f"Signed {result.digest}: {where}", err=True)
    for note in result.notes:
        say(note, err=True)
    for message in result.warnings:
        warn(message)
    if quiet:
        say(result.digest)
        return
    if result.wrote:
        say(f"Promoted {result.ref}: {result.source_state} -> {result.state}")
    else:
        say(f"Already {result.state}: {result.ref} (nothing to change)")
        say(f"Digest: {result.digest}")
        return
    say(f"Digest: {result.digest}")
    for tag, digest in result.tags.items():
        say(f"  tag {tag} -> {digest}")
    if result.state == "archived":
        say(f"  kept by digest only: {parse_reference(result.ref).repository}@{result.digest}")
    for tag in result.removed:
        say(f"  removed tag {tag}")


COMMANDS = [promote]
