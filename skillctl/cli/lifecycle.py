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
    sign_key_option,
    sign_key_passphrase,
    signature_format_option,
)
from skillctl.cli.output import emit_json, say, warn
from skillctl.core.errors import UsageError
from skillctl.core.refs import parse_reference
from skillctl.core.states import STATES


@click.command(short_help="Move a skill one lifecycle step (e.g. draft to testing).")
@click.argument("ref")
@click.option("--to", "to", required=True, type=click.Choice(STATES), help="The next lifecycle state.")
@click.option("--local", is_flag=True, help="Promote in the local store instead of the registry.")
@sign_key_option
@signature_format_option
@passphrase_option
@click.option(
    "--policy",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Promotion policy (default: ./promotion-policy.yaml when there is one).",
)
@click.option("--actor", help="Who promotes, for the record (default: the signing key's fingerprint).")
@click.option("--reason", default="", help="Why, for the record.")
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
    policy: Path | None,
    actor: str | None,
    reason: str,
    registry: Any,
    backend: str | None,
    fmt: str,
    quiet: bool,
) -> None:
    """Move a skill one lifecycle step: draft, testing, published, deprecated, archived.

    Only the io.skillimage.status annotation changes and tags move; config and
    layers stay the same, and no blob is uploaded. Running a promotion again is
    a no-op that finishes an interrupted one.

    With a promotion policy, every requirement for the target state is checked
    against the signed evidence on the digest first; any unmet one refuses the
    promotion (exit 5) and all are listed. With --sign-key the new digest is
    signed and the promotion recorded as a signed attestation (see history).

    \b
    skillctl promote examples/hello-world:1.0.0-draft --to testing --local
    skillctl promote quay.io/myorg/hello-world:1.0.0-testing --to published \\
        --sign-key release.key --reason "CAB-142 approved"
    """
    from skillctl.lifecycle.governed import promote_governed
    from skillctl.lifecycle.promotion_policy import find

    if sign_key and local:
        raise UsageError("--sign-key signs registry images; promote on the registry to sign")
    in_force = find(policy)
    key_passphrase = sign_key_passphrase(sign_key, passphrase_file)  # ask before changing anything
    governed = promote_governed(
        ref,
        to,
        policy=in_force,
        key_path=sign_key,
        key_passphrase=key_passphrase,
        actor=actor,
        reason=reason,
        signature_format=signature_format,
        local=local,
        store=settings.store(),
        backend=backend,
        opts=registry,
    )
    result, signed = governed.promotion, governed.signed
    if fmt == "json":
        emit_json(governed.to_json())
        return
    if governed.gates is not None:
        for outcome in governed.gates.outcomes:
            click.echo(f"  met: {outcome.requirement.describe()}: {outcome.detail}", err=True)
    if signed:
        for where in filter(None, (signed.signature_ref, signed.bundle_ref)):
            say(f"Signed {result.digest}: {where}", err=True)
    if governed.record is not None:
        where = governed.record.attestation_ref or governed.record.bundle_ref
        say(f"Recorded the promotion: {where}", err=True)
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
