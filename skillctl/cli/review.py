"""Review commands: lint (content checks before publishing) and diff (what changed between two versions)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from skillctl.cli.context import Settings
from skillctl.cli.options import (
    SizeType,
    limit_options,
    passphrase_option,
    read_passphrase,
    registry_options,
    unpack_limits,
)
from skillctl.cli.output import emit_json, warn
from skillctl.core.errors import InvalidSkillError, UsageError


@contextlib.contextmanager
def _tree(
    target: str, settings: Settings, registry: Any, backend: str | None, limits: Any
) -> Iterator[tuple[Path, dict[str, str] | None, str | None]]:
    """A directory as it is, or an image (store, else registry) unpacked through the hardened unpack:
    (path, annotations, digest)."""
    path = Path(target)
    if path.is_dir():
        yield path, None, None
        return
    from skillctl.registry.trees import unpacked

    with unpacked(target, store=settings.store(), backend=backend, opts=registry, limits=limits) as tree:
        yield tree.path, tree.annotations, tree.manifest.digest


@click.command(short_help="Check a skill's files before publishing.")
@click.argument("target", metavar="PATH|REF")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "sarif"]),
    default="text",
    show_default=True,
    help="Output format: text, json, or SARIF 2.1.0 (code-scanning services).",
)
@click.option("-q", "--quiet", is_flag=True, help="Print only the findings.")
@click.option("--max-file-size", type=SizeType(), default="10M", show_default=True, help="Flag files larger than this.")
@click.option("--attest", is_flag=True, help="Record the result on the image as a signed scan attestation (--key).")
@click.option(
    "--key",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="With --attest: the cosign private key that signs the result.",
)
@passphrase_option
@limit_options
@registry_options
@click.pass_obj
def lint(
    settings: Settings,
    target: str,
    fmt: str,
    quiet: bool,
    max_file_size: int,
    attest: bool,
    key: Path | None,
    passphrase_file: Path | None,
    max_size: int,
    max_files: int,
    registry: Any,
    backend: str | None,
) -> None:
    """Check a skill's files before publishing: secrets, oversize files, broken relative links in SKILL.md,
    SKILL.md over the Agent Skills size guidance, scripts without a shebang or exec bit, owner-only (0600) files.

    PATH is a skill directory; REF an image, unpacked from the store or the registry first (safely). Exit 3 when
    there is an error-level finding. --attest --key signs the result onto the image's digest, where the policy's
    scan requirement looks for it.

    \b
    skillctl lint ./my-skill
    skillctl lint quay.io/org/x:1.0.0-draft --attest --key ci.key --format sarif > lint.sarif
    """
    from skillctl.card.lint import PREDICATE_TYPE, lint_tree

    if attest and key is None:
        raise UsageError("--attest needs --key KEY (the key that signs the scan result)")
    key_obj = None
    if attest:
        from skillctl.core.refs import parse_reference
        from skillctl.trust.keys import load_private_key

        if Path(target).is_dir() or not parse_reference(target).is_remote:
            raise UsageError(f"{target}: --attest records the result on a registry image; lint its reference")
        assert key is not None
        key_obj = load_private_key(key, read_passphrase(passphrase_file))
    with _tree(target, settings, registry, backend, unpack_limits(max_size, max_files)) as (root, _, digest):
        report = lint_tree(root, max_file_size=max_file_size)
        report.root = Path(target) if digest else root
    attested = None
    if key_obj is not None and digest is not None:
        from skillctl.core.refs import Reference, parse_reference
        from skillctl.trust.attest import attest as do_attest

        by_digest = str(Reference(parse_reference(target).repository, None, digest))
        attested = do_attest(
            by_digest, key_obj, PREDICATE_TYPE, report.predicate(subject=by_digest), backend=backend, opts=registry
        )
    if fmt == "json":
        emit_json({**report.to_json(), "digest": digest, "attestation": attested.to_json() if attested else None})
    elif fmt == "sarif":
        if digest:  # the files were in a temporary directory; name the image instead
            report.root = Path(".")
        click.echo(json.dumps(report.to_sarif(), indent=2))
    else:
        for finding in report.findings:
            click.echo(str(finding))
        if not quiet:
            summary = f"{len(report.errors)} error(s), {len(report.warnings)} warning(s) in {report.files} file(s)"
            click.echo(f"{'✓' if report.passed else '✗'} {target}: {summary}")
            if "secrets" not in report.checks:
                warn("secrets were not checked: pip install 'skillctl[secrets]'")
        if attested is not None:
            click.echo(f"Recorded the scan on {attested.digest}", err=True)
    if not report.passed:
        error = InvalidSkillError(
            f"{target}: {len(report.errors)} lint error(s)", hint="fix the findings listed above, then lint again"
        )
        if fmt != "text":  # the document says it all; the exit code tells pipelines
            raise click.exceptions.Exit(int(error.exit_code))
        raise error


@click.command(short_help="Compare two versions of a skill.")
@click.argument("old", metavar="OLD")
@click.argument("new", metavar="NEW")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("-U", "--unified", "context", type=click.IntRange(min=0), default=3, show_default=True,
              help="Lines of context in text diffs.")  # fmt: skip
@click.option("--stat", "stat_only", is_flag=True, help="Only the list of files, no text diffs.")
@limit_options
@registry_options
@click.pass_obj
def diff(
    settings: Settings,
    old: str,
    new: str,
    fmt: str,
    context: int,
    stat_only: bool,
    max_size: int,
    max_files: int,
    registry: Any,
    backend: str | None,
) -> None:
    """Compare two versions of a skill: directories, local images or registry images (unpacked safely).

    Files added, removed and changed (size, mode, digest), a unified diff of each changed text file, SkillCard
    field changes and, for images, annotation changes. Exit 0 either way; --format json for bots.

    \b
    skillctl diff quay.io/org/x:1.0.0 quay.io/org/x:1.1.0-draft
    skillctl diff quay.io/org/x:1.0.0 ./x --stat
    """
    from skillctl.card.diff import diff_trees

    limits = unpack_limits(max_size, max_files)
    with (
        _tree(old, settings, registry, backend, limits) as (a, a_notes, a_digest),
        _tree(new, settings, registry, backend, limits) as (b, b_notes, b_digest),
    ):
        result = diff_trees(
            a,
            b,
            old_annotations=a_notes,
            new_annotations=b_notes,
            context=context,
            old_label=f"{old} ({a_digest})" if a_digest else old,
            new_label=f"{new} ({b_digest})" if b_digest else new,
        )
    if a_notes is None or b_notes is None:
        result.annotations = []  # a directory has no annotations: comparing against none would list them all
    if stat_only:
        for change in result.files:
            change.diff = None
    if fmt == "json":
        emit_json(result.to_json())
        return
    click.echo(f"--- {result.old}")
    click.echo(f"+++ {result.new}")
    if not result.changed:
        click.echo(f"no changes ({result.unchanged} file(s) identical)")
        return
    for change in result.files:
        sign = {"added": "A", "removed": "D", "changed": "M"}[change.change]
        entry = change.new or change.old
        assert entry is not None
        detail = f"{entry.size} bytes"
        if change.old and change.new:
            parts = []
            if change.old.size != change.new.size:
                parts.append(f"{change.old.size} -> {change.new.size} bytes")
            if change.old.mode != change.new.mode:
                parts.append(f"mode {change.old.mode:04o} -> {change.new.mode:04o}")
            detail = ", ".join(parts) or "same size, other bytes"
        click.echo(f"{sign} {change.path} ({detail})")
    for field in result.skillcard:
        click.echo(f"skill.yaml {field.field}: {field.old!r} -> {field.new!r}")
    for note in result.annotations:
        click.echo(f"annotation {note.field}: {note.old!r} -> {note.new!r}")
    for change in result.files:
        if change.diff:
            click.echo("")
            click.echo(change.diff, nl=False)


COMMANDS = [lint, diff]
