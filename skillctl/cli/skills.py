"""Commands that work on skill directories: validate, init, pack."""

from __future__ import annotations

from pathlib import Path

import click

from skillctl.cli.context import Settings
from skillctl.cli.options import output_options
from skillctl.cli.output import emit_json, human_size, warn
from skillctl.core.errors import InvalidSkillError


@click.command(short_help="Validate a skill directory and its SKILL.md.")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@output_options
def validate(path: Path, strict: bool, fmt: str, quiet: bool) -> None:
    """Validate a skill directory (or its skill.yaml) and its SKILL.md.

    Every problem is reported at once, with its file and field.
    """
    from skillctl.card.validate import validate_skill

    report = validate_skill(path, strict=strict)
    if fmt == "json":
        emit_json(
            {
                "path": str(report.card_path),
                "valid": report.ok,
                "errors": [f.to_json() for f in report.errors],
                "warnings": [f.to_json() for f in report.warnings],
            }
        )
    elif not quiet:
        for finding in report.warnings:
            warn(str(finding))
        if report.ok:
            click.echo(f"✓ {report.card_path} is valid")
    if not report.ok:
        n = len(report.errors)
        error = InvalidSkillError(
            f"{report.card_path} has {n} error{'s' if n != 1 else ''}",
            problems=[str(f) for f in report.errors],
            hint="fix the problems listed above" + ("; --strict counts warnings as errors" if strict else ""),
        )
        if fmt == "json":
            raise click.exceptions.Exit(int(error.exit_code))
        raise error


@click.command(short_help="Create a new skill, or a skill.yaml for a SKILL.md.")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False), default=".")
@click.option("--name", help="Skill name (default: SKILL.md frontmatter, else the directory name).")
@click.option("--namespace", help="Namespace (default: frontmatter metadata.namespace, else 'local').")
@click.option("--version", "version", help="Semantic version (default: frontmatter metadata.version, else 0.1.0).")
@click.option("--description", help="Description (default: frontmatter, else the first sentence of SKILL.md).")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@output_options
def init(
    directory: Path,
    name: str | None,
    namespace: str | None,
    version: str | None,
    description: str | None,
    force: bool,
    fmt: str,
    quiet: bool,
) -> None:
    """Create a new skill, or a skill.yaml for an existing Agent Skills SKILL.md.

    When DIRECTORY already holds a SKILL.md with frontmatter, skill.yaml is
    generated from it and SKILL.md is left untouched.

    \b
    skillctl init my-skill --namespace acme
    skillctl init path/to/downloaded-skill --version 1.2.0
    """
    from skillctl.card.scaffold import init_skill

    result = init_skill(
        directory, name=name, namespace=namespace, version=version, description=description, force=force
    )
    if fmt == "json":
        emit_json(
            {
                "directory": str(result.directory),
                "written": [str(p) for p in result.written],
                "fromSkillMd": result.from_skill_md,
                "skillcard": result.card,
                "warnings": [w.to_json() for w in result.warnings],
            }
        )
        return
    for finding in result.warnings:
        warn(str(finding))
    if quiet:
        for path in result.written:
            click.echo(str(path))
        return
    meta = result.card["metadata"]
    source = "from SKILL.md" if result.from_skill_md else "new skill"
    click.echo(f"Initialised {meta['namespace']}/{meta['name']} {meta['version']} in {result.directory} ({source})")
    for path in result.written:
        click.echo(f"  wrote {path}")


@click.command(short_help="Pack a skill into an OCI image in the local store.")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--tag", "-t", help="Tag (default <version>-draft), or a whole reference such as reg/ns/name:tag.")
@click.option("--strict", is_flag=True, help="Refuse to pack when validation gives warnings.")
@output_options
@click.pass_obj
def pack(settings: Settings, path: Path, tag: str | None, strict: bool, fmt: str, quiet: bool) -> None:
    """Pack a skill into a FROM-scratch OCI image in the local store (alias: build).

    The image is tagged <namespace>/<name>:<version>-draft. The same files give
    the same digest on any machine; packing unchanged content again changes
    nothing, and changed content moves the tag.
    """
    from skillctl.image.pack import pack as do_pack

    result = do_pack(path, store=settings.store(), tag=tag, strict=strict)
    if fmt == "json":
        emit_json(
            {
                "ref": result.ref,
                "digest": result.digest,
                "status": result.status,
                "previousDigest": result.previous,
                "layer": {
                    "digest": result.layer.digest,
                    "diffId": result.layer.diff_id,
                    "size": result.layer.size,
                },
                "files": result.files,
                "warnings": [w.to_json() for w in result.warnings],
            }
        )
        return
    if not quiet:
        for finding in result.warnings:
            warn(str(finding))
    if quiet:
        click.echo(result.digest)
        return
    detail = f"{result.files} files, layer {human_size(result.layer.size)}"
    if result.status == "unchanged":
        click.echo(f"Unchanged {result.ref} (same content as before; {detail})")
    elif result.status == "moved":
        click.echo(f"Packed {result.ref} ({detail}); content changed, tag moved from {result.previous}")
    else:
        click.echo(f"Packed {result.ref} ({detail})")
    click.echo(f"Digest: {result.digest}")


COMMANDS = [validate, init, pack]
