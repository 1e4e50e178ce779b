"""Commands that work on skill directories: validate, init, pack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from skillctl.cli.context import Settings
from skillctl.cli.options import output_options
from skillctl.cli.output import emit_json, for_each, human_size, say, warn
from skillctl.core.errors import InvalidSkillError, SkillctlError, UsageError


@click.command(short_help="Validate skill directories and their SKILL.md.")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="PATH...")
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@output_options
def validate(paths: tuple[Path, ...], strict: bool, fmt: str, quiet: bool) -> None:
    """Validate skill directories (or their skill.yaml) and their SKILL.md.

    Every problem is reported at once, with its file and field. With several paths, each is
    validated; JSON is then a list of the per-path documents.
    """
    from skillctl.card.validate import validate_skill

    documents = []

    def one(path: Path) -> None:
        report = validate_skill(path, strict=strict)
        documents.append(
            {
                "path": str(report.card_path),
                "valid": report.ok,
                "errors": [f.to_json() for f in report.errors],
                "warnings": [f.to_json() for f in report.warnings],
            }
        )
        if fmt != "json" and not quiet:
            for finding in report.warnings:
                warn(str(finding))
            if report.ok:
                say(f"✓ {report.card_path} is valid")
        if not report.ok:
            n = len(report.errors)
            raise InvalidSkillError(
                f"{report.card_path} has {n} error{'s' if n != 1 else ''}",
                problems=[str(f) for f in report.errors],
                hint="fix the problems listed above" + ("; --strict counts warnings as errors" if strict else ""),
            )

    try:
        for_each(list(paths), one, what="skills")
    except InvalidSkillError as error:
        if fmt == "json":
            emit_json(documents[0] if len(paths) == 1 else documents)
            raise click.exceptions.Exit(int(error.exit_code)) from None
        if len(paths) > 1 and not quiet:  # each skill's problems, under its error line
            for doc in documents:
                for problem in doc["errors"]:
                    say(f"  {problem['file']}: {problem['field']}: {problem['message']}", err=True)
        raise
    if fmt == "json":
        emit_json(documents[0] if len(paths) == 1 else documents)


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
            say(str(path))
        return
    meta = result.card["metadata"]
    source = "from SKILL.md" if result.from_skill_md else "new skill"
    say(f"Initialised {meta['namespace']}/{meta['name']} {meta['version']} in {result.directory} ({source})")
    for path in result.written:
        say(f"  wrote {path}")


@click.command(short_help="Pack skills into OCI images in the local store.")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--tag", "-t", help="Tag (default <version>-draft), or a whole reference such as reg/ns/name:tag.")
@click.option("--strict", is_flag=True, help="Refuse to pack when validation gives warnings.")
@click.option(
    "--media-type",
    "media_type",
    default="standard",
    show_default=True,
    help="Media types: standard (OCI), or redhat (the Go skillctl's profile for oc-mirror).",
)
@click.option("--ref", "git_ref", help="Git URL only: the branch, tag or commit to pack.")
@click.option("--filter", "pattern", help="Git URL only: pack the skills whose name matches this glob.")
@output_options
@click.pass_obj
def pack(
    settings: Settings,
    paths: tuple[str, ...],
    tag: str | None,
    strict: bool,
    media_type: str,
    git_ref: str | None,
    pattern: str | None,
    fmt: str,
    quiet: bool,
) -> None:
    """Pack skills into FROM-scratch OCI images in the local store (alias: build).

    Each image is tagged <namespace>/<name>:<version>-draft. The same files give
    the same digest on any machine; packing unchanged content again changes
    nothing, and changed content moves the tag. With several paths (pack skills/*),
    each is packed; one failure does not stop the others; JSON is then a list.

    A PATH may be a Git URL (https://, http://, file://): every skill in the
    repository is packed (or those --filter matches), at --ref, with a
    skill.yaml generated from SKILL.md where there is none and the source and
    commit recorded.

    \b
    skillctl pack examples/hello-world
    skillctl pack skills/*
    skillctl pack https://github.com/anthropics/skills --filter 'pdf*'
    skillctl pack https://github.com/org/repo/tree/v1.2/skills/x --media-type redhat
    """
    from skillctl.core.oci import media_profile

    media_profile(media_type)  # a bad profile is a usage error before anything is read
    if tag and len(paths) > 1:
        raise UsageError("--tag names one image; pack one path with it")
    if (git_ref or pattern) and not all(_is_git_url(p) for p in paths):
        raise UsageError("--ref and --filter apply to Git URLs; a PATH is a directory")
    store = settings.store()
    documents: list[dict[str, Any]] = []

    def one(path: str) -> None:
        if _is_git_url(path):
            documents.append(_pack_git(store, path, tag, strict, media_type, git_ref, pattern, fmt, quiet))
        else:
            documents.append(_pack_dir(store, Path(path), tag, strict, media_type, fmt, quiet))

    try:
        for_each(list(paths), one, what="skills")
    finally:
        if fmt == "json" and documents:
            emit_json(documents[0] if len(paths) == 1 else documents)


def _is_git_url(path: str) -> bool:
    """:func:`skillctl.consume.gitsource.is_git_url`, which is loaded (with git and subprocess) only for a URL."""
    if "://" not in path:
        return False
    from skillctl.consume.gitsource import is_git_url as git_url

    return git_url(path)


def _pack_dir(
    store: Any, path: Path, tag: str | None, strict: bool, media_type: str, fmt: str, quiet: bool
) -> dict[str, Any]:
    from skillctl.image.pack import pack as do_pack

    result = do_pack(path, store=store, tag=tag, strict=strict, media_type=media_type)
    document = {
        "ref": result.ref,
        "digest": result.digest,
        "status": result.status,
        "previousDigest": result.previous,
        "layer": {"digest": result.layer.digest, "diffId": result.layer.diff_id, "size": result.layer.size},
        "files": result.files,
        "warnings": [w.to_json() for w in result.warnings],
    }
    if fmt == "json":
        return document
    if quiet:
        say(result.digest)
        return document
    for finding in result.warnings:
        warn(str(finding))
    detail = f"{result.files} files, layer {human_size(result.layer.size)}"
    if result.status == "unchanged":
        say(f"Unchanged {result.ref} (same content as before; {detail})")
    elif result.status == "moved":
        say(f"Packed {result.ref} ({detail}); content changed, tag moved from {result.previous}")
    else:
        say(f"Packed {result.ref} ({detail})")
    say(f"Digest: {result.digest}")
    return document


def _pack_git(
    store: Any,
    url: str,
    tag: str | None,
    strict: bool,
    media_type: str,
    git_ref: str | None,
    pattern: str | None,
    fmt: str,
    quiet: bool,
) -> dict[str, Any]:
    from skillctl.consume.gitsource import pack_git
    from skillctl.core.git import redact_url

    result = pack_git(url, store=store, ref=git_ref, pattern=pattern, tag=tag, media_type=media_type, strict=strict)
    shown = redact_url(url)
    document = {
        "source": shown,
        "cloneUrl": result.source.clone_url,
        "ref": result.source.ref,
        "commit": result.commit,
        "skills": [s.to_json() for s in result.skills],
    }
    if fmt != "json":
        for item in result.skills:
            for message in item.warnings if not quiet else []:
                warn(message)
            if item.error is not None:
                warn(f"{item.name} ({item.path}): {item.error}")
            elif quiet:
                say(item.digest)
            else:
                verb = "Unchanged" if item.status == "unchanged" else "Packed"
                say(f"{verb} {item.ref} from {item.path}")
                say(f"Digest: {item.digest}")
        if not quiet:
            done = len(result.skills) - len(result.failed)
            say(f"Packed {done} of {len(result.skills)} skills from {shown} at {result.commit[:12]}")
    if result.failed:
        first = result.failed[0].error
        assert first is not None
        if fmt == "json":  # the document still tells pipelines what was packed and what failed
            emit_json(document)
        error = SkillctlError(
            f"{len(result.failed)} of {len(result.skills)} skills failed to pack: "
            + ", ".join(s.name for s in result.failed),
            hint=first.hint,
        )
        error.exit_code = first.exit_code  # the first failure's class decides the exit code
        raise error
    return document


@click.group(name="version", short_help="Change a skill's version in its skill.yaml.")
def version_group() -> None:
    """Change a skill's version in its skill.yaml."""


@version_group.command(name="bump", short_help="Raise the version to the next major, minor or patch.")
@click.argument("part", type=click.Choice(["major", "minor", "patch"]))
@click.argument("path", type=click.Path(path_type=Path), default=".")
@output_options
def version_bump(part: str, path: Path, fmt: str, quiet: bool) -> None:
    """Raise metadata.version in skill.yaml to the next major, minor or patch release.

    Only the version value changes; comments and layout stay. A prerelease becomes its release
    first (1.2.0-rc.1 -> 1.2.0 for minor or patch).

    \b
    skillctl version bump minor examples/hello-world     # 1.0.0 -> 1.1.0
    skillctl version bump patch                          # the skill in the current directory
    """
    from skillctl.card.version import bump_version

    result = bump_version(path, part)  # type: ignore[arg-type]
    if fmt == "json":
        emit_json({"path": str(result.path), "from": result.old, "to": result.new})
    elif quiet:
        say(result.new)
    else:
        say(f"Bumped {result.old} -> {result.new} in {result.path}")


COMMANDS = [validate, init, pack, version_group]
