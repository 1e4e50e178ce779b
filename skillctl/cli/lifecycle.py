"""The lifecycle command: promote."""

from __future__ import annotations

from typing import Any

import click

from skillctl.cli.app import Settings
from skillctl.cli.output import emit_json, output_options, registry_options, warn
from skillctl.lifecycle import STATES


@click.command()
@click.argument("ref")
@click.option("--to", "to", required=True, type=click.Choice(STATES), help="The next lifecycle state.")
@click.option("--local", is_flag=True, help="Promote in the local store instead of the registry.")
@registry_options
@output_options
@click.pass_obj
def promote(
    settings: Settings, ref: str, to: str, local: bool, registry: Any, backend: str | None, fmt: str, quiet: bool
) -> None:
    """Move a skill one lifecycle step: draft, testing, published, deprecated, archived.

    Only the io.skillimage.status annotation changes and tags move; config and
    layers stay the same, and no blob is uploaded. Running a promotion again is
    a no-op that finishes an interrupted one.

    \b
    skillctl promote examples/hello-world:1.0.0-draft --to testing --local
    skillctl promote quay.io/myorg/hello-world:1.0.0-testing --to published
    """
    from skillctl.promote import promote as do_promote

    result = do_promote(ref, to, local=local, store=settings.store(), backend=backend, opts=registry)
    if fmt == "json":
        emit_json(result.to_json())
        return
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
        click.echo(f"  kept by digest only: {result.ref.rsplit(':', 1)[0]}@{result.digest}")
    for tag in result.removed:
        click.echo(f"  removed tag {tag}")


COMMANDS = [promote]
