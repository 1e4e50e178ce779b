"""Commands that put skills where agents find them: install, upgrade, uninstall."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from skillctl.cli.context import Settings
from skillctl.cli.options import (
    limit_options,
    output_options,
    registry_options,
    target_options,
    unpack_limits,
    verify_key_option,
)
from skillctl.cli.output import emit_json, warn
from skillctl.core.errors import NotFoundError, SkillctlError, UsageError
from skillctl.core.refs import parse_reference


@click.command(short_help="Install a skill into an agent's skills directory.")
@click.argument("ref")
@target_options
@click.option("--allow-archived", is_flag=True, help="Install even an archived version.")
@verify_key_option
@limit_options
@registry_options
@output_options
@click.pass_obj
def install(
    settings: Settings,
    ref: str,
    target: str | None,
    output: Path | None,
    scope: str,
    allow_archived: bool,
    verify_key: Path | None,
    max_size: int,
    max_files: int,
    registry: Any,
    backend: str | None,
    fmt: str,
    quiet: bool,
) -> None:
    """Install a skill into an agent's skills directory (pulled from its registry when needed).

    \b
    skillctl install quay.io/myorg/hello-world:1.0.0 --target claude
    skillctl install quay.io/myorg/hello-world:1.0.0 --target agents --scope project
    skillctl install examples/hello-world:1.0.0-draft -o ./skills

    The skill lands in <dir>/<name>/ atomically; a re-install replaces the old
    files completely. A receipt in <dir>/.skillimage/receipts/ records the source.
    """
    from skillctl.consume.install import destinations
    from skillctl.consume.install import install as do_install

    (dest,) = destinations(target, output, scope=scope)  # type: ignore[arg-type]
    result = do_install(
        ref,
        dest,
        store=settings.store(),
        backend=backend,
        opts=registry,
        allow_archived=allow_archived,
        verify_key=verify_key,
        limits=unpack_limits(max_size, max_files),
    )
    if fmt == "json":
        emit_json(result.to_json())
        return
    for message in result.warnings:
        warn(message)
    if quiet:
        click.echo(str(result.path))
        return
    was = f" (replaced {result.replaced})" if result.replaced else ""
    click.echo(f"Installed {result.ref} {result.version} to {result.path}{was}")


@click.command(short_help="Upgrade installed skills to their newest published release.")
@click.argument("name", required=False)
@click.option("-a", "--all", "all_", is_flag=True, help="Upgrade every installed skill that has a newer release.")
@target_options
@registry_options
@output_options
@click.pass_obj
def upgrade(
    settings: Settings,
    name: str | None,
    all_: bool,
    target: str | None,
    output: Path | None,
    scope: str,
    registry: Any,
    backend: str | None,
    fmt: str,
    quiet: bool,
) -> None:
    """Replace installed skills with the newest published release from their registry.

    Drafts, testing versions, prereleases, deprecated and archived versions are never chosen.
    """
    from skillctl.consume.install import check_upgrades, destinations, install, list_installed

    if bool(name) == all_:
        raise UsageError("name one skill or pass --all")
    (dest,) = destinations(target, output, scope=scope)  # type: ignore[arg-type]
    skills = [s for s in list_installed([dest]) if all_ or s.name == name]
    if name and not skills:
        raise NotFoundError(f"{name}: not installed in {dest.path}")
    if name and not (skills[0].source and parse_reference(skills[0].source).is_remote):
        raise NotFoundError(
            f"{name}: no registry source recorded (installed from a local image)",
            hint="install it from a registry reference to make it upgradable",
        )
    warnings: list[str] = []
    candidates = check_upgrades(skills, backend=backend, opts=registry, warnings=warnings)
    done, failed = [], []
    for skill in candidates:
        try:
            assert skill.latest_ref is not None
            result = install(
                skill.latest_ref, dest, store=settings.store(), backend=backend, opts=registry, name=skill.name
            )
            done.append({"name": skill.name, "from": skill.version, "to": result.version, "ref": result.ref})
        except SkillctlError as exc:
            failed.append(skill.name)
            warnings.append(f"{skill.name}: {exc}")
    if fmt == "json":
        emit_json({"upgraded": done, "failed": failed, "warnings": warnings})
    else:
        for message in warnings:
            warn(message)
        for row in done:
            click.echo(row["name"] if quiet else f"Upgraded {row['name']} {row['from']} -> {row['to']} ({row['ref']})")
        if not done and not failed and not quiet:
            click.echo("All skills are up to date." if all_ else f"{name} is already at the newest published version.")
    if failed:
        raise SkillctlError(f"{len(failed)} skill(s) failed to upgrade: {', '.join(failed)}")
    if name and warnings and not done:
        raise SkillctlError(warnings[0])


@click.command(short_help="Remove an installed skill and its receipt.")
@click.argument("name")
@target_options
@output_options
def uninstall(name: str, target: str | None, output: Path | None, scope: str, fmt: str, quiet: bool) -> None:
    """Remove an installed skill and its receipt."""
    from skillctl.consume.install import destinations
    from skillctl.consume.install import uninstall as do_uninstall

    (dest,) = destinations(target, output, scope=scope)  # type: ignore[arg-type]
    path = do_uninstall(name, dest)
    if fmt == "json":
        emit_json({"name": name, "path": str(path)})
    elif quiet:
        click.echo(str(path))
    else:
        click.echo(f"Uninstalled {name} from {dest.path}")


COMMANDS = [install, upgrade, uninstall]
