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
)
from skillctl.cli.output import emit_json, warn
from skillctl.core.errors import UsageError
from skillctl.core.refs import parse_reference
from skillctl.core.states import STATES


@click.command(short_help="Move a skill one lifecycle step (e.g. draft to testing).")
@click.argument("ref")
@click.option("--to", "to", required=True, type=click.Choice(STATES), help="The next lifecycle state.")
@click.option("--local", is_flag=True, help="Promote in the local store instead of the registry.")
@sign_key_option
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
    signed = sign_after(
        f"{parse_reference(ref).repository}@{result.digest}", sign_key, key_passphrase, registry, backend
    )
    if fmt == "json":
        emit_json({**result.to_json(), "signature": signed.signature_ref if signed else None})
        return
    if signed:
        click.echo(f"Signed {result.digest}: {signed.signature_ref}", err=True)
    for note in result.notes:
        click.echo(note, err=True)
    for message in result.warnings:
        warn(message)
    if quiet:
        click.echo(result.digest)
        return
    if result.wrote:
        click.echo(f"Promoted {result.ref}: {result.source_state} -> {result.state}")
    else:
        click.echo(f"Already {result.state}: {result.ref} (nothing to change)")
        click.echo(f"Digest: {result.digest}")
        return
    click.echo(f"Digest: {result.digest}")
    for tag, digest in result.tags.items():
        click.echo(f"  tag {tag} -> {digest}")
    if result.state == "archived":
        click.echo(f"  kept by digest only: {parse_reference(result.ref).repository}@{result.digest}")
    for tag in result.removed:
        click.echo(f"  removed tag {tag}")


COMMANDS = [promote]
