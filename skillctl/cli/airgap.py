"""Air-gap commands: mirror, save, load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from skillctl.cli.context import Settings
from skillctl.cli.options import make_verifier, output_options, registry_options, signature_policy_option
from skillctl.cli.output import emit_json, progress_for, say, warn
from skillctl.core.errors import SkillctlError, UsageError


@click.command(short_help="Copy skills to another registry, tags and signatures too.")
@click.argument("sources", nargs=-1, required=True, metavar="SRC... DST")
@click.option(
    "-f",
    "--from-file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Also mirror the repositories listed in this file, one per line.",
)
@click.option("--archived", is_flag=True, help="Also copy archived (digest-only) manifests that have signatures.")
@click.option(
    "--force",
    is_flag=True,
    help="Overwrite lifecycle changes made on the destination (by default they are kept and reported).",
)
@click.option("-j", "--jobs", type=click.IntRange(1, 32), default=4, show_default=True, help="Parallel copies.")
@signature_policy_option
@registry_options
@output_options
def mirror(
    sources: tuple[str, ...],
    from_file: Path | None,
    archived: bool,
    force: bool,
    jobs: int,
    signature_policy: Path | None,
    registry: Any,
    backend: str | None,
    fmt: str,
    quiet: bool,
) -> None:
    """Make repositories on another registry follow their sources: every tag and signature, digests kept.

    \b
    skillctl mirror quay.io/myorg/hello-world mirror.example:5000
    skillctl mirror -f repos.txt mirror.example:5000/skills

    Repository paths are kept under DST (quay.io/myorg/x -> mirror.example:5000/myorg/x).
    Tags already at the same digest are skipped; tags the source removed are removed; latest
    points at the highest published release. A lifecycle change made on the destination (a
    version deprecated or archived there) is kept and reported unless --force.
    """
    from skillctl.airgap.mirror import mirror as do_mirror

    if len(sources) < 2 and not (from_file and sources):
        raise UsageError("give at least one source repository and the destination registry")
    *repos, destination = sources
    if from_file:
        from skillctl.core.fsutil import read_regular

        text = read_regular(from_file, 16 * 1024 * 1024).decode("utf-8", errors="replace")
        repos += [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    verify = make_verifier(None, None, None, registry, backend, signature_policy)
    result = do_mirror(
        repos,
        destination,
        archived=archived,
        force=force,
        backend=backend,
        opts=registry,
        workers=jobs,
        verify=verify,
        progress=progress_for(fmt, quiet),
    )
    if fmt == "json":
        emit_json([i.to_json() for i in result.items])
    else:
        for item in result.items:
            if item.action == "failed":
                warn(f"{item.source}: {item.detail}")
            elif item.action == "kept":
                warn(f"kept {item.dest}: {item.detail}")
            elif quiet:
                if item.action == "copied" or (item.action == "skipped" and item.detail == "already there"):
                    say(item.dest)  # what the destination holds for the source now
            elif item.action == "copied":
                say(f"Copied {item.source} -> {item.dest}")
            elif item.action == "removed":
                say(f"Removed {item.dest} ({item.detail})")
            elif item.action == "skipped" and item.detail != "already there":
                say(f"Skipped {item.source}: {item.detail}", err=True)
        if not quiet:
            there = sum(1 for i in result.items if i.action == "skipped" and i.detail == "already there")
            parts = [f"{result.count('copied')} copied"]
            parts += [f"{result.count(a)} {a}" for a in ("removed", "kept") if result.count(a)]
            parts += [f"{there} already there"]
            if result.count("skipped") > there:
                parts += [f"{result.count('skipped') - there} skipped"]
            say(", ".join([*parts, f"{result.count('failed')} failed"]) + ".")
    if result.count("failed"):
        raise SkillctlError(f"{result.count('failed')} copies failed")


@click.command(short_help="Write skills, their tags and signatures into one archive.")
@click.argument("refs", nargs=-1, required=True)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The bundle to write (an OCI archive: an image layout in a tar).",
)
@click.option("--all-tags", is_flag=True, help="Save every tag of each repository named.")
@click.option("--no-signatures", is_flag=True, help="Leave the signatures and referrers out.")
@click.option("--archived", is_flag=True, help="Also save each repository's archived (digest-only) versions.")
@signature_policy_option
@registry_options
@output_options
@click.pass_obj
def save(
    settings: Settings,
    refs: tuple[str, ...],
    output: Path,
    all_tags: bool,
    no_signatures: bool,
    archived: bool,
    signature_policy: Path | None,
    registry: Any,
    backend: str | None,
    fmt: str,
    quiet: bool,
) -> None:
    """Write skills (local or from registries), their tags and signatures into one archive.

    \b
    skillctl save quay.io/myorg/hello-world:1.0.0 quay.io/myorg/log-triage --all-tags -o skills.tar
    """
    from skillctl.airgap.mirror import save as do_save

    names = do_save(
        list(refs),
        output,
        store=settings.store(),
        all_tags=all_tags,
        signatures=not no_signatures,
        backend=backend,
        opts=registry,
        archived=archived,
        verify=make_verifier(None, None, None, registry, backend, signature_policy),
        progress=progress_for(fmt, quiet),
    )
    if fmt == "json":
        emit_json({"output": str(output), "refs": names})
    elif quiet:
        say(str(output))
    else:
        for name in names:
            say(f"  {name}")
        say(f"Saved {len(names)} references to {output}")


@click.command(short_help="Restore a bundle into the store, or push it to a registry.")
@click.argument("bundle", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option(
    "--push",
    "push_to",
    metavar="REGISTRY",
    help="Push to this registry (host[:port][/prefix]) under the same repository paths.",
)
@registry_options
@output_options
@click.pass_obj
def load(
    settings: Settings, bundle: Path, push_to: str | None, registry: Any, backend: str | None, fmt: str, quiet: bool
) -> None:
    """Restore a bundle into the local store, or push it to a registry on this side of the gap.

    \b
    skillctl load skills.tar --push mirror.example:5000
    """
    from skillctl.airgap.mirror import load as do_load

    loaded = do_load(
        bundle, push=push_to, store=settings.store(), backend=backend, opts=registry, progress=progress_for(fmt, quiet)
    )
    for item in loaded:
        if item.replaced:
            warn(f"replaced the local {item.ref} (it was {item.replaced})")
    if fmt == "json":
        emit_json([item.__dict__ for item in loaded])
    else:
        verb = "Pushed" if push_to else "Loaded"
        for item in loaded:
            if item.note:
                warn(f"{item.ref}: {item.note}")
            else:
                say(item.dest if quiet else f"{verb} {item.dest} ({item.digest})")


COMMANDS = [mirror, save, load]
