"""Commands that put skills where agents find them: install, upgrade, uninstall."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from skillctl.cli.context import Settings
from skillctl.cli.options import (
    keyless_options,
    limit_options,
    make_verifier,
    no_verify_option,
    output_options,
    registry_options,
    signature_policy_option,
    target_options,
    unpack_limits,
    verify_key_option,
)
from skillctl.cli.output import emit_json, for_each, say, warn
from skillctl.core.errors import DeadlineExceeded, NotFoundError, SkillctlError, UsageError
from skillctl.core.refs import parse_reference


@click.command(short_help="Install a skill into an agent's skills directory.")
@click.argument("ref")
@target_options
@click.option("--allow-archived", is_flag=True, help="Install even an archived version.")
@verify_key_option
@keyless_options
@signature_policy_option
@no_verify_option
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
    keyless: Any,
    trusted_root: Path | None,
    signature_policy: Path | None,
    no_verify: bool,
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
    files completely. A receipt in <dir>/.skillimage/receipts/ records the source
    and the key it was verified with, which every later install or upgrade of
    the skill requires again unless --verify-key or --no-verify says otherwise.
    """
    from skillctl.consume.install import destinations
    from skillctl.consume.install import install as do_install

    if verify_key is not None and keyless is not None:
        raise UsageError("verify with a key (--verify-key) or a keyless identity (--certificate-identity), not both")
    if keyless is not None and not parse_reference(ref).is_remote:
        raise UsageError(f"{ref}: signatures live in registries; install a registry reference to verify it")

    (dest,) = destinations(target, output, scope=scope)  # type: ignore[arg-type]
    result = do_install(
        ref,
        dest,
        store=settings.store(),
        backend=backend,
        opts=registry,
        allow_archived=allow_archived,
        verify_key=verify_key,
        verifier=make_verifier(None, keyless, trusted_root, registry, backend, signature_policy),
        no_verify=no_verify,
        limits=unpack_limits(max_size, max_files),
    )
    if fmt == "json":
        emit_json(result.to_json())
        return
    for message in result.warnings:
        warn(message)
    if quiet:
        say(str(result.path))
        return
    was = f" (replaced {result.replaced})" if result.replaced else ""
    say(f"Installed {_ref_and_version(result.ref, result.version)} to {result.path}{was}")
    if result.verified_by:
        say(f"Signature verified with {describe_verification(result.verified_by)}")


def _ref_and_version(ref: str, version: str) -> str:
    """``REF``, with the version added only when the tag does not already say it."""
    tag = parse_reference(ref).tag or ""
    return ref if not version or tag.replace("_", "+").startswith(version) else f"{ref} ({version})"


def describe_verification(record: dict[str, Any]) -> str:
    from skillctl.trust.recorded import describe

    return describe(record).removeprefix("the key ")


@click.command(short_help="Upgrade installed skills to their newest published release.")
@click.argument("name", required=False)
@click.option("-a", "--all", "all_", is_flag=True, help="Upgrade every installed skill that has a newer release.")
@target_options
@signature_policy_option
@click.option(
    "--verify-key",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Verify with this public key (and record it) instead of the key each skill was installed with.",
)
@no_verify_option
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
    signature_policy: Path | None,
    verify_key: Path | None,
    no_verify: bool,
    registry: Any,
    backend: str | None,
    fmt: str,
    quiet: bool,
) -> None:
    """Replace installed skills with the newest published release from their registry.

    Drafts, testing versions, prereleases, deprecated and archived versions are never chosen.
    A skill installed with --verify-key is upgraded only to a release signed by the same key
    (recorded in its receipt), unless --verify-key names another key or --no-verify is given.
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
    verifier = make_verifier(None, None, None, registry, backend, signature_policy)
    done, failed = [], []
    errors: list[SkillctlError] = []
    for skill in candidates:
        try:
            assert skill.latest_ref is not None
            result = install(
                skill.latest_ref,
                dest,
                store=settings.store(),
                backend=backend,
                opts=registry,
                name=skill.name,
                verifier=verifier,
                verify_key=verify_key,
                no_verify=no_verify,
            )
            warnings.extend(w for w in result.warnings if w not in warnings)
            done.append(
                {
                    "name": skill.name,
                    "from": skill.version,
                    "to": result.version,
                    "ref": result.ref,
                    "verifiedBy": result.verified_by,
                }
            )
        except DeadlineExceeded:
            raise  # the command is out of time, not this skill
        except SkillctlError as exc:
            failed.append(skill.name)
            errors.append(exc)
            if not name:  # a named skill's error is the command's own (raised below)
                warnings.append(f"{skill.name}: {exc}")
    if fmt == "json":
        emit_json({"upgraded": done, "failed": failed, "warnings": warnings})
    else:
        for message in warnings:
            warn(message)
        for row in done:
            if quiet:
                say(row["name"])
                continue
            verified = f", verified with {describe_verification(row['verifiedBy'])}" if row["verifiedBy"] else ""
            say(f"Upgraded {row['name']} {row['from']} -> {row['to']} ({row['ref']}{verified})")
        if not done and not failed and not quiet:
            say("All skills are up to date." if all_ else f"{name} is already at the newest published version.")
    if name and len(errors) == 1:
        raise errors[0]  # one skill named: its own error and exit code (10 for a signature)
    if failed:
        raise SkillctlError(f"{len(failed)} skill(s) failed to upgrade: {', '.join(failed)}")
    if name and warnings and not done:
        raise SkillctlError(warnings[0])


@click.command(short_help="Remove installed skills and their receipts.")
@click.argument("names", nargs=-1, required=True, metavar="NAME...")
@target_options
@output_options
def uninstall(
    names: tuple[str, ...], target: str | None, output: Path | None, scope: str, fmt: str, quiet: bool
) -> None:
    """Remove installed skills and their receipts (one failure does not stop the others)."""
    from skillctl.consume.install import destinations
    from skillctl.consume.install import uninstall as do_uninstall

    (dest,) = destinations(target, output, scope=scope)  # type: ignore[arg-type]
    documents = []

    def one(name: str) -> None:
        path = do_uninstall(name, dest)
        documents.append({"name": name, "path": str(path)})
        if fmt == "json":
            return
        say(str(path) if quiet else f"Uninstalled {name} from {dest.path}")

    try:
        for_each(list(names), one, what="uninstalls")
    finally:
        if fmt == "json" and documents:
            emit_json(documents[0] if len(names) == 1 else documents)


COMMANDS = [install, upgrade, uninstall]
