"""Reproducible consumption: add, remove, sync, update, outdated (skills.yaml and skills.lock.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from skillctl.cli.context import Settings
from skillctl.cli.options import make_verifier, output_options, registry_options, signature_policy_option
from skillctl.cli.output import emit_json, say, table, warn

_VERBS = {
    "install": "Installed",
    "upgrade": "Upgraded",
    "downgrade": "Downgraded",
    "replace": "Replaced",
    "repair": "Repaired",
    "remove": "Removed",
}


def project_options(func: Any) -> Any:
    """``--project DIR``, ``-j/--jobs N`` and ``--signature-policy FILE``."""
    func = signature_policy_option(func)
    func = click.option(
        "-j",
        "--jobs",
        type=click.IntRange(min=1, max=32),
        default=4,
        show_default=True,
        help="Images fetched and verified at once.",
    )(func)
    return click.option(
        "--project",
        "project",
        type=click.Path(path_type=Path, file_okay=False, exists=True),
        help="The directory holding skills.yaml and skills.lock.yaml (default: the working directory).",
    )(func)


def _context(settings: Settings, registry: Any, backend: str | None, jobs: int, signature_policy: Path | None) -> Any:
    """Where the store is, how to reach registries, and the signature policy (containers-policy.json) every
    locked image must also pass, as ``pull`` and ``install`` apply it."""
    from skillctl.consume.sync import Context

    policy = make_verifier(None, None, None, registry, backend, signature_policy)
    return Context(store=settings.store(), backend=backend, opts=registry, workers=jobs, policy=policy)


def _report(outcome: Any, *, fmt: str, quiet: bool) -> None:
    if fmt == "json":
        emit_json(outcome.to_json())
        return
    for message in outcome.warnings:
        warn(message)
    changed = [c for c in outcome.changes if c.action != "unchanged"]
    for c in changed:
        if quiet:
            say(c.name)
        elif c.action == "install":
            say(f"Installed {c.name} {c.after} to {c.path}")
        elif c.action == "remove":
            say(f"Removed {c.name} from {c.path.parent}")
        elif c.action == "repair":
            say(f"Repaired {c.name} {c.after} in {c.path} (its files had been changed)")
        else:
            say(f"{_VERBS[c.action]} {c.name} {c.before or '?'} -> {c.after} in {c.path.parent}")
    if quiet:
        return
    if not changed:
        say(f"All {len(outcome.lock.skills)} locked skill(s) are installed as locked.")
    if outcome.lock_written:
        say(f"Wrote {outcome.lock.path}")


def _target(target: str | None, output: Path | None, scope: str) -> Any:
    from skillctl.consume.project import parse_target
    from skillctl.core.errors import UsageError

    if target and output:
        raise UsageError("use --target or -o, not both")
    if output is not None:
        text = str(output)
        return parse_target(text if "/" in text or text.startswith((".", "~")) else f"./{text}")
    if target:
        return parse_target(target if scope == "project" else f"{target}:user")
    return None


@click.command(short_help="Add a skill to skills.yaml, lock and install it.")
@click.argument("ref")
@click.option("-t", "--target", help="The agent to install for (recorded in skills.yaml).")
@click.option("-o", "--output", type=click.Path(path_type=Path, file_okay=False), help="A directory instead.")
@click.option(
    "--scope",
    type=click.Choice(["user", "project"]),
    default="project",
    show_default=True,
    help="project: <project>/.<agent>/skills; user: ~/.<agent>/skills.",
)
@click.option("--name", help="The directory name to install under (default: the repository's last segment).")
@click.option(
    "--verify-key",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Pin this public key: this skill and its dependencies must be signed by it, now and on every sync.",
)
@project_options
@registry_options
@output_options
@click.pass_obj
def add(
    settings: Settings,
    ref: str,
    target: str | None,
    output: Path | None,
    scope: str,
    name: str | None,
    verify_key: Path | None,
    project: Path | None,
    jobs: int,
    signature_policy: Path | None,
    registry: Any,
    backend: str | None,
    fmt: str,
    quiet: bool,
) -> None:
    """Add a skill to skills.yaml, resolve it and its dependencies into skills.lock.yaml, install them.

    REF is a registry repository, optionally with a version range after '@'
    (default: the newest published release, recorded as ^VERSION).

    \b
    skillctl add quay.io/myorg/hello-world -t claude
    skillctl add 'quay.io/myorg/log-triage@>=0.3 <0.5' --verify-key cosign.pub
    """
    from skillctl.consume.sync import add as do_add

    outcome = do_add(
        project,
        ref,
        _context(settings, registry, backend, jobs, signature_policy),
        target=_target(target, output, scope),
        name=name,
        verify_key=str(verify_key) if verify_key else None,
    )
    _report(outcome, fmt=fmt, quiet=quiet)


@click.command(short_help="Remove a skill from skills.yaml and the lock; uninstall it.")
@click.argument("name")
@project_options
@registry_options
@output_options
@click.pass_obj
def remove(
    settings: Settings,
    name: str,
    project: Path | None,
    jobs: int,
    signature_policy: Path | None,
    registry: Any,
    backend: str | None,
    fmt: str,
    quiet: bool,
) -> None:
    """Remove a skill from skills.yaml and the lock (with the dependencies nothing else needs); uninstall them."""
    from skillctl.consume.sync import remove as do_remove

    _report(
        do_remove(project, name, _context(settings, registry, backend, jobs, signature_policy)), fmt=fmt, quiet=quiet
    )


@click.command(short_help="Install exactly what skills.lock.yaml says.")
@click.option("--check", is_flag=True, help="Change nothing; list the differences and exit 11 if there are any.")
@click.option("--frozen", is_flag=True, help="Fail (exit 11) rather than change the lock.")
@click.option("--prune", is_flag=True, help="Also remove skills in the targets that the lock did not install.")
@project_options
@registry_options
@output_options
@click.pass_obj
def sync(
    settings: Settings,
    check: bool,
    frozen: bool,
    prune: bool,
    project: Path | None,
    jobs: int,
    signature_policy: Path | None,
    registry: Any,
    backend: str | None,
    fmt: str,
    quiet: bool,
) -> None:
    """Make the installed skills exactly what skills.lock.yaml says: install, upgrade, remove.

    Where skills.yaml changed since the lock was written, the lock is
    re-resolved first (keeping every locked version that still fits), unless
    --frozen. Every image is fetched and verified (digest, version, pinned
    signers) before any skill is touched; each skill is then replaced atomically.

    \b
    skillctl sync                 # after a clone or a pull
    skillctl sync --check         # in CI: exit 11 and the differences when anything drifted
    """
    from skillctl.consume.sync import check as do_check
    from skillctl.consume.sync import sync as do_sync
    from skillctl.core.errors import DriftError

    ctx = _context(settings, registry, backend, jobs, signature_policy)
    if check:
        differences = do_check(project, ctx, prune=prune)
        if fmt == "json":
            emit_json({"inSync": not differences, "differences": differences})
        else:
            for line in differences:
                say(line)
            if not differences and not quiet:
                say("In sync: skills.yaml, skills.lock.yaml and the installed skills agree.")
        if differences:
            raise DriftError(
                f"{len(differences)} difference(s) between skills.yaml, skills.lock.yaml and the installed skills",
                differences=differences,
                hint="run 'skillctl sync' and commit skills.lock.yaml",
            )
        return
    _report(do_sync(project, ctx, frozen=frozen, prune=prune), fmt=fmt, quiet=quiet)


@click.command(short_help="Re-resolve locked skills to their newest allowed releases.")
@click.argument("names", nargs=-1)
@project_options
@registry_options
@output_options
@click.pass_obj
def update(
    settings: Settings,
    names: tuple[str, ...],
    project: Path | None,
    jobs: int,
    signature_policy: Path | None,
    registry: Any,
    backend: str | None,
    fmt: str,
    quiet: bool,
) -> None:
    """Re-resolve the named skills (all without names) to the newest published releases their ranges allow."""
    from skillctl.consume.sync import update as do_update

    _report(
        do_update(project, names, _context(settings, registry, backend, jobs, signature_policy)), fmt=fmt, quiet=quiet
    )


@click.command(short_help="Show locked skills that have newer releases.")
@project_options
@registry_options
@output_options
@click.pass_obj
def outdated(
    settings: Settings,
    project: Path | None,
    jobs: int,
    signature_policy: Path | None,
    registry: Any,
    backend: str | None,
    fmt: str,
    quiet: bool,
) -> None:
    """For every locked skill: the newest release its ranges allow (WANTED), the newest published (LATEST),
    and the state of the locked version now (deprecated since it was locked?)."""
    from skillctl.consume.sync import outdated as do_outdated

    rows = do_outdated(project, _context(settings, registry, backend, jobs, signature_policy))
    if fmt == "json":
        emit_json([r.to_json() for r in rows])
        return
    behind = [r for r in rows if r.wanted != r.current or r.latest != r.current or r.state != r.locked_state]
    if quiet:
        for r in behind:
            say(r.name)
        return
    table(
        ["NAME", "CURRENT", "WANTED", "LATEST", "STATE"],
        [[r.name, r.current, r.wanted or "-", r.latest or "-", r.state or "gone"] for r in rows],
    )


COMMANDS = [add, remove, sync, update, outdated]
