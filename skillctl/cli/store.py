"""Commands on the local store: list, inspect, tag, rm, prune."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from skillctl.cli.context import Settings
from skillctl.cli.options import output_options, registry_options, target_options
from skillctl.cli.output import emit_json, human_size, human_time, say, short_digest, table, warn
from skillctl.core import oci
from skillctl.core.errors import NotFoundError, UsageError


@click.command(name="list", short_help="List the local store, a registry REPO or installed skills.")
@click.argument("repo", required=False)
@click.option("--no-trunc", is_flag=True, help="Full digests and raw timestamps.")
@click.option(
    "-a",
    "--all",
    "show_all",
    is_flag=True,
    help="Also show untagged (digest-only) manifests; with REPO, the archived versions kept by digest.",
)
@click.option("-i", "--installed", is_flag=True, help="List skills installed for agents instead.")
@click.option("-u", "--upgradable", is_flag=True, help="With --installed: only those with a newer published release.")
@click.option(
    "--offline",
    is_flag=True,
    help="With --installed: show the state recorded at install time instead of asking the registries.",
)
@target_options
@registry_options
@output_options
@click.pass_obj
def list_cmd(
    settings: Settings,
    repo: str | None,
    no_trunc: bool,
    show_all: bool,
    installed: bool,
    upgradable: bool,
    offline: bool,
    target: str | None,
    output: Path | None,
    scope: str,
    registry: Any,
    backend: str | None,
    fmt: str,
    quiet: bool,
) -> None:
    """List the images in the local store, or a skill's versions in a registry REPO (alias: ls).

    \b
    skillctl list
    skillctl list quay.io/myorg/hello-world
    """
    from skillctl.store.images import list_images

    if (upgradable or offline) and not installed:
        raise UsageError(f"--{'upgradable' if upgradable else 'offline'} requires --installed")
    if upgradable and offline:
        raise UsageError("--upgradable asks the registries; it cannot be --offline")
    if installed:
        show_installed(settings, target, output, scope, upgradable, offline, registry, backend, fmt, quiet)
        return
    if repo:
        _list_remote(repo, registry, backend, no_trunc=no_trunc, archived=show_all, fmt=fmt, quiet=quiet)
        return

    store = settings.store()
    rows = list_images(store, include_untagged=show_all)
    if fmt == "json":
        emit_json([r.to_json() for r in rows])
        return
    if quiet:
        for r in rows:
            say(r.ref)
        return
    if not rows:
        say(f"No images in the local store ({store.root}).")
        return
    table(
        ["NAME", "TAG", "STATUS", "VERSION", "DIGEST", "SIZE", "SIGNED", "CREATED"],
        [
            [
                r.name or "<none>",
                r.tag or "<none>",
                r.status or "-",
                r.version or "-",
                r.digest if no_trunc else short_digest(r.digest),
                human_size(r.size),
                "yes" if r.signed else "-",
                r.created if no_trunc else human_time(r.created),
            ]
            for r in rows
        ],
    )


def _list_remote(
    repo: str, registry: Any, backend: str | None, *, no_trunc: bool, archived: bool, fmt: str, quiet: bool
) -> None:
    from skillctl.registry.remote import list_remote

    rows = list_remote(repo, backend=backend, opts=registry, archived=archived)
    if fmt == "json":
        emit_json([r.to_json() for r in rows])
    elif quiet:
        for r in rows:
            say(r.ref)
    elif not rows:
        say(f"No tags in {repo}.")
    else:
        table(
            ["TAG", "STATUS", "VERSION", "DIGEST", "SIZE", "SIGNED"],
            [
                [
                    r.tag or "<none>",
                    r.status or "-",
                    r.version or "-",
                    r.digest if no_trunc else short_digest(r.digest),
                    human_size(r.size),
                    "yes" if r.signed else "-",
                ]
                for r in rows
            ],
        )


@click.command(short_help="Show an image's metadata, digests and annotations.")
@click.argument("ref")
@click.option("--remote", is_flag=True, help="Read the registry even when the local store has REF.")
@registry_options
@output_options
@click.pass_obj
def inspect(
    settings: Settings, ref: str, remote: bool, registry: Any, backend: str | None, fmt: str, quiet: bool
) -> None:
    """Show an image's metadata, digests, media types and every annotation.

    The local store is searched first; a registry reference not found there is
    read from the registry (manifest and config only, no layer download).
    """
    from skillctl.core.refs import parse_reference
    from skillctl.store.images import inspect_image

    def from_registry() -> Any:
        from skillctl.registry.remote import inspect_remote  # the registry client loads only when needed

        return inspect_remote(ref, backend=backend, opts=registry)

    if remote:
        details = from_registry()
    else:
        try:
            details = inspect_image(ref, store=settings.store())
        except NotFoundError:
            if not parse_reference(ref).is_remote:
                raise
            details = from_registry()
    attestations = None
    if not details.local:
        from skillctl.trust.attest import listing

        attestations = listing(parse_reference(ref), details.digest, backend=backend, opts=registry)
    if fmt == "json":
        emit_json({**details.to_json(), **({"attestations": attestations} if attestations is not None else {})})
        return
    if quiet:
        say(details.digest)
        return
    a = details.annotations
    lines = [
        ("Skill", details.ref.rsplit(":", 1)[0] if "@" not in details.ref else details.ref.split("@")[0]),
        ("Display Name", a.get(oci.TITLE, "")),
        ("Version", a.get(oci.VERSION, "")),
        ("Status", a.get(oci.STATUS, "")),
        ("Description", a.get(oci.DESCRIPTION, "").strip()),
        ("Authors", a.get(oci.AUTHORS, "")),
        ("License", a.get(oci.LICENSES, "")),
        ("Tags", a.get(oci.SKILL_TAGS, "")),
        ("Compat", a.get(oci.COMPATIBILITY, "")),
        ("Word Count", a.get(oci.WORDCOUNT, "")),
    ]
    for label, value in lines:
        if value:
            say(f"{label + ':':<14}{value}")
    m = details.manifest
    click.echo()
    say("OCI Image:")
    say(f"  Reference:  {details.ref} ({'local store' if details.local else 'registry'})")
    say(f"  Digest:     {m.digest}")
    say(f"  Media Type: {m.media_type}")
    # Images are reproducible: no creation time unless SOURCE_DATE_EPOCH set one; the store keeps when it packed.
    created = a.get(oci.CREATED) or details.store_annotations.get(oci.PACKED_AT, "")
    say(f"  Created:    {created or 'not recorded (pack with SOURCE_DATE_EPOCH set to record one)'}")
    say(f"  Platform:   {details.config.get('os', '?')}/{details.config.get('architecture', '?')}")
    say(f"  Config:     {m.config.digest} ({m.config.media_type}, {m.config.size} bytes)")
    say(f"  Size:       {details.size} bytes")
    say(f"  Layers:     {len(m.layers)}")
    for layer in m.layers:
        say(f"    {layer.digest} ({layer.media_type}, {layer.size} bytes)")
    click.echo()
    say("Annotations:")
    for key, value in sorted(a.items()):
        say(f"  {key}={value.strip()}")
    if attestations:
        say("\nAttestations (not verified here: skillctl verify --key, skillctl history):")
        for item in attestations:
            say(f"  {item['predicateType'] or '?'} [{item['format']}] {item['where']}")


@click.command(short_help="Give a local image another name.")
@click.argument("source")
@click.argument("target")
@output_options
@click.pass_obj
def tag(settings: Settings, source: str, target: str, fmt: str, quiet: bool) -> None:
    """Give a local image another name (e.g. the registry reference to push to).

    \b
    skillctl tag examples/hello-world:1.0.0-draft quay.io/myorg/hello-world:1.0.0-draft
    """
    from skillctl.store.images import tag_image

    name, digest = tag_image(source, target, store=settings.store())
    if fmt == "json":
        emit_json({"source": source, "ref": name, "digest": digest})
    elif quiet:
        say(name)
    else:
        say(f"Tagged {source} as {name}")


@click.command(short_help="Remove tags from the local store.")
@click.argument("refs", nargs=-1, required=True)
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation.")
@output_options
@click.pass_obj
def rm(settings: Settings, refs: tuple[str, ...], force: bool, fmt: str, quiet: bool) -> None:
    """Remove tags from the local store (alias: delete). A digest removes every tag on it.

    Blobs are deleted by the next 'skillctl prune'.
    """
    from skillctl.store.images import remove_images

    if not force:
        if not sys.stdin.isatty():
            raise UsageError("refusing to remove without confirmation", hint="pass -f/--force in scripts")
        question = f"Remove {refs[0]}?" if len(refs) == 1 else f"Remove {len(refs)} images?"
        if not click.confirm(question, default=False):
            say("Aborted.")
            return
    result = remove_images(list(refs), store=settings.store())
    if fmt == "json":
        emit_json({"removed": result.removed, "missing": result.missing})
    else:
        for ref in result.removed:
            say(ref if quiet else f"Removed {ref}")
    if result.missing:
        raise NotFoundError(
            f"not in the local store: {', '.join(result.missing)}",
            hint="run 'skillctl list' to see the local images",
        )


@click.command(short_help="Drop superseded tags and delete unreferenced blobs.")
@click.option("--dry-run", is_flag=True, help="Show what would be removed, change nothing.")
@output_options
@click.pass_obj
def prune(settings: Settings, dry_run: bool, fmt: str, quiet: bool) -> None:
    """Drop superseded lifecycle tags and delete blobs nothing refers to.

    For each name and version only the most advanced lifecycle state keeps its
    tags (a published 1.0.0 makes 1.0.0-draft and 1.0.0-testing superseded).
    """
    from skillctl.store.images import prune as do_prune

    result = do_prune(store=settings.store(), dry_run=dry_run)
    if fmt == "json":
        emit_json({**result.to_json(), "dryRun": dry_run})
        return
    verb = "Would remove" if dry_run else "Removed"
    for ref, status in result.untagged:
        say(ref if quiet else f"{verb} {ref} ({status})")
    if quiet:
        return
    if not result.untagged and not result.blobs_removed and not result.dropped:
        say("Nothing to prune.")
        return
    say(
        f"{'Would free' if dry_run else 'Freed'} {human_size(result.bytes_freed)} "
        f"({result.blobs_removed} unreferenced blobs, {result.dropped} untagged manifests)."
    )


def show_installed(
    settings: Settings,
    target: str | None,
    output: Path | None,
    scope: str,
    upgradable: bool,
    offline: bool,
    registry: Any,
    backend: str | None,
    fmt: str,
    quiet: bool,
) -> None:
    """``list --installed``: what is installed where, in the state its registry gives it now.

    Each registry gets STATE_TIMEOUT seconds unless --timeout is given; one that does not answer
    shows ``unknown`` (with the recorded state in the warning) instead of holding the listing up.
    """
    import dataclasses

    from skillctl.consume.install import STATE_TIMEOUT, check_upgrades, destinations, list_installed, refresh_states

    skills = list_installed(destinations(target, output, scope=scope, require=False))  # type: ignore[arg-type]
    warnings: list[str] = []
    if not offline:
        if click.get_current_context().get_parameter_source("timeout") is not click.core.ParameterSource.COMMANDLINE:
            registry = dataclasses.replace(registry, timeout=STATE_TIMEOUT)
        warnings += refresh_states(skills, store=settings.store(), backend=backend, opts=registry)
    if upgradable:
        skills = check_upgrades(skills, backend=backend, opts=registry, warnings=warnings)
    for message in warnings:
        warn(message)
    if fmt == "json":
        emit_json([s.to_json() for s in skills])
        return
    if quiet:
        for s in skills:
            say(s.name)
        return
    if not skills:
        say("All installed skills are up to date." if upgradable else "No installed skills found.")
        return
    headers = (
        ["NAME", "VERSION", "STATE", "LATEST", "SOURCE", "TARGET"]
        if upgradable
        else ["NAME", "VERSION", "STATE", "SOURCE", "TARGET"]
    )
    rows = []
    for s in skills:
        state = (s.state or "-") + (" (!)" if s.attention else "")
        source = s.source or "(local)"
        row = [s.name, s.version or "-", state, *([s.latest or "-"] if upgradable else []), source, s.target]
        rows.append(row)
    table(headers, rows)
    if any(s.attention for s in skills):
        warn(
            "(!) marks versions deprecated, archived or gone since install: "
            "upgrade them (skillctl upgrade --all -t AGENT)"
        )
    if offline:
        say("(states as recorded at install time; without --offline they are read from the registries)", err=True)


COMMANDS = [list_cmd, inspect, tag, rm, prune]
