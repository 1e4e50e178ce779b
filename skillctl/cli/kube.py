"""Kubernetes and collections: kube, collection push|pull|volume|generate|install."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from skillctl.cli.context import Settings
from skillctl.cli.options import (
    make_verifier,
    no_verify_option,
    output_options,
    registry_options,
    signature_policy_option,
    target_options,
    verify_key_option,
)
from skillctl.cli.output import emit_json, progress_for, say
from skillctl.core.errors import SkillctlError, UsageError


@dataclass(frozen=True)
class Shape:
    """What ``--mount-root``, ``--name``, ``--image``, ``--kind``, ``--container`` and ``--no-pin`` asked for."""

    mount_root: str
    name: str
    image: str | None
    kind: str
    container: str
    pin: bool
    namespace: str | None = None
    pull_secrets: tuple[str, ...] = ()


def manifest_options(func: Any) -> Any:
    """The options that shape a generated manifest (shared by ``kube`` and ``collection generate``), as ``shape``."""

    @click.option(
        "--mount-root", default="/skills", show_default=True, help="Skills are mounted read-only at MOUNT_ROOT/<name>."
    )
    @click.option("--name", default="agent", show_default=True, help="Name of the Pod or Deployment.")
    @click.option("--image", help="The agent container image (needed for pod and deployment).")
    @click.option(
        "--kind",
        type=click.Choice(["pod", "deployment", "patch"]),
        default="pod",
        show_default=True,
        help="A Pod, a Deployment, or a patch for an existing pod template.",
    )
    @click.option("--container", default="agent", show_default=True, help="Container that mounts the skills.")
    @click.option("--no-pin", is_flag=True, help="Keep tags instead of pinning each reference to its digest.")
    @click.option("-n", "--namespace", help="Namespace of the Pod or Deployment.")
    @click.option(
        "--pull-secret",
        "pull_secrets",
        multiple=True,
        metavar="SECRET",
        help="imagePullSecrets entry (repeatable): the kubelet pulls the skill images with it.",
    )
    @functools.wraps(func)
    def wrapper(
        *args: Any,
        mount_root: str,
        name: str,
        image: str | None,
        kind: str,
        container: str,
        no_pin: bool,
        namespace: str | None,
        pull_secrets: tuple[str, ...],
        **kwargs: Any,
    ) -> Any:
        kwargs["shape"] = Shape(mount_root, name, image, kind, container, not no_pin, namespace, pull_secrets)
        return func(*args, **kwargs)

    return wrapper


def _render(
    refs: list[str],
    shape: Shape,
    *,
    registry: Any,
    backend: str | None,
    fmt: str,
    names: list[str] | None = None,
    name: str | None = None,
) -> None:
    from skillctl.consume.kube import manifest, resolve_mounts, to_yaml

    if shape.kind != "patch" and not shape.image:  # a usage error, reported before the registry is asked anything
        raise UsageError(f"--image is needed for a {shape.kind}: the agent container that reads the skills")
    if shape.kind == "patch" and shape.namespace:
        raise UsageError("a patch has no namespace of its own", hint="kubectl -n NAMESPACE patch … applies it")
    mounts = resolve_mounts(refs, names=names, pin=shape.pin, backend=backend, opts=registry)
    doc = manifest(
        mounts,
        kind=shape.kind,
        name=name or shape.name,
        image=shape.image,  # type: ignore[arg-type]
        mount_root=shape.mount_root,
        container=shape.container,
        namespace=shape.namespace,
        pull_secrets=shape.pull_secrets,
    )
    if fmt == "json":
        emit_json(doc)
    else:
        click.echo(to_yaml(doc), nl=False)


@click.command(short_help="Print Kubernetes YAML mounting skills as image volumes.")
@click.argument("refs", nargs=-1)
@click.option(
    "--lock",
    "lock_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Mount exactly the skills of this lock file (skills.lock.yaml), dependencies included, by digest.",
)
@manifest_options
@registry_options
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
@click.pass_obj
def kube(
    settings: Settings,
    refs: tuple[str, ...],
    lock_file: Path | None,
    shape: Shape,
    registry: Any,
    backend: str | None,
    fmt: str,
) -> None:
    """Print Kubernetes YAML that mounts each skill as an image volume.

    References are pinned to digests (read from the registry), so a later
    promotion never changes what a running pod mounts. Needs Kubernetes 1.35+
    (ImageVolume beta, on by default; GA in 1.36) and a runtime that supports it.

    \b
    skillctl kube quay.io/myorg/hello-world:1.0.0 --image quay.io/myorg/agent:2 | kubectl apply -f -
    skillctl kube quay.io/myorg/hello-world:1.0.0 --kind patch > patch.yaml
    skillctl kube --lock skills.lock.yaml --kind patch   # what 'skillctl sync' installs, by digest

    With --lock, every locked digest is checked against its registry (and its
    pinned signers verified) before anything is printed.
    """
    if bool(refs) == bool(lock_file):
        raise UsageError("give REFS... (skill references) or --lock FILE, one of them")
    if lock_file is None:
        _render(list(refs), shape, registry=registry, backend=backend, fmt=fmt)
        return
    from skillctl.consume.sync import Context, lock_mounts

    if shape.kind != "patch" and not shape.image:  # a usage error, reported before the registry is asked anything
        raise UsageError(f"--image is needed for a {shape.kind}: the agent container that reads the skills")
    pairs = lock_mounts(lock_file, Context(store=settings.store(), backend=backend, opts=registry))
    _render([ref for _, ref in pairs], shape, names=[n for n, _ in pairs], registry=registry, backend=backend, fmt=fmt)


@click.group(short_help="Skill collections: named lists of skill images.")
def collection() -> None:
    """Skill collections: named lists of skill images (kind: SkillCollection)."""


def _source(ref: str | None, file: Path | None) -> tuple[str | Path, bool]:
    if bool(ref) == bool(file):
        raise UsageError("give a collection reference or -f FILE (one of them)")
    return (file, True) if file else (str(ref), False)


@collection.command(name="push", short_help="Validate a collection file and push it to a registry.")
@click.argument("ref")
@click.option("-f", "--file", "file", type=click.Path(path_type=Path, dir_okay=False), required=True)
@registry_options
@output_options
@click.pass_obj
def collection_push(
    settings: Settings, ref: str, file: Path, registry: Any, backend: str | None, fmt: str, quiet: bool
) -> None:
    """Validate a collection file and push it as an OCI artifact."""
    from skillctl.consume.collection import push

    coll, digest = push(ref, file, store=settings.store(), backend=backend, opts=registry)
    if fmt == "json":
        emit_json({"ref": ref, "digest": digest, "name": coll.name, "skills": len(coll.skills)})
    elif quiet:
        say(digest)
    else:
        say(f"Pushed collection {ref} ({coll.name} {coll.version}, {len(coll.skills)} skills)")
        say(f"Digest: {digest}")


@collection.command(name="pull", short_help="Pull a collection (and with -o, every skill in it).")
@click.argument("ref")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, file_okay=False),
    help="Also pull every skill and unpack it into OUTPUT/<name>/.",
)
@signature_policy_option
@registry_options
@output_options
@click.pass_obj
def collection_pull(
    settings: Settings,
    ref: str,
    output: Path | None,
    signature_policy: Path | None,
    registry: Any,
    backend: str | None,
    fmt: str,
    quiet: bool,
) -> None:
    """Pull a collection (and with -o, every skill in it)."""
    from skillctl.consume.collection import install as install_all
    from skillctl.consume.collection import load
    from skillctl.consume.install import Destination

    store = settings.store()
    coll = load(ref, is_file=False, store=store, backend=backend, opts=registry)
    outcomes = []
    if output is not None:
        outcomes = install_all(
            coll,
            Destination(output, str(output)),
            store=store,
            backend=backend,
            opts=registry,
            force=True,
            verifier=make_verifier(None, None, None, registry, backend, signature_policy),
        )
    _report(coll, outcomes, fmt=fmt, quiet=quiet, verb="Pulled")


def _report(coll: Any, outcomes: list[Any], *, fmt: str, quiet: bool, verb: str) -> None:
    if fmt == "json":
        emit_json(
            {
                "name": coll.name,
                "version": coll.version,
                "skills": [
                    {"name": s.name or s.label, "image": s.image, **({"source": s.source} if s.source else {})}
                    for s in coll.skills
                ],
                "outcomes": [o.to_json() for o in outcomes],
            }
        )
    elif quiet:
        for o in outcomes or coll.skills:
            say(o.name)
    else:
        say(f"{verb} collection {coll.name} {coll.version} ({len(coll.skills)} skills)")
        # One outcome per skill, in order (a Git source's name is known only once it is cloned).
        paired = zip(coll.skills, outcomes or [None] * len(coll.skills), strict=True)
        for s, outcome in paired:
            line = f"  - {outcome.name if outcome else s.label} ({s.image or s.source})"
            if outcome:
                line += f": {outcome.status}"
                if outcome.status == "failed":
                    line += f" ({outcome.detail})"
            say(line)
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        raise SkillctlError(f"{len(failed)} of {len(outcomes)} skills failed: {', '.join(o.name for o in failed)}")


@collection.command(name="volume", short_help="Print podman commands making an image volume per skill.")
@click.argument("ref", required=False)
@click.option("-f", "--file", "file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--mount-root", default="/skills", show_default=True)
@registry_options
@click.pass_obj
def collection_volume(
    settings: Settings, ref: str | None, file: Path | None, mount_root: str, registry: Any, backend: str | None
) -> None:
    """Print podman commands that create an image volume per skill."""
    from skillctl.consume.collection import load, volume_script

    source, is_file = _source(ref, file)
    coll = load(source, is_file=is_file, store=settings.store(), backend=backend, opts=registry)
    click.echo(volume_script(coll, mount_root=mount_root), nl=False)


@collection.command(name="generate", short_help="Print a Kubernetes manifest mounting every skill.")
@click.argument("ref", required=False)
@click.option("-f", "--file", "file", type=click.Path(path_type=Path, dir_okay=False))
@manifest_options
@registry_options
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
@click.pass_obj
def collection_generate(
    settings: Settings, ref: str | None, file: Path | None, shape: Shape, registry: Any, backend: str | None, fmt: str
) -> None:
    """Print a complete Kubernetes manifest mounting every skill of the collection (as 'kube' does)."""
    from skillctl.consume.collection import images_only, load

    source, is_file = _source(ref, file)
    coll = load(source, is_file=is_file, store=settings.store(), backend=backend, opts=registry)
    skills = images_only(coll, what="collection generate")
    _render(
        [s.image for s in skills],
        shape,
        names=[s.name for s in skills],  # mounted at MOUNT_ROOT/<name>, as 'collection volume' does
        name=shape.name if shape.name != "agent" else coll.name,
        registry=registry,
        backend=backend,
        fmt=fmt,
    )


@collection.command(name="install", short_help="Install every skill of a collection for an agent.")
@click.argument("ref", required=False)
@click.option("-f", "--file", "file", type=click.Path(path_type=Path, dir_okay=False))
@target_options
@click.option("--ref", "git_ref", help="For a collection file in Git (REF is its URL): the branch, tag or commit.")
@click.option("--force", is_flag=True, help="Reinstall skills that are already up to date.")
@click.option("--allow-archived", is_flag=True, help="Install archived versions too.")
@signature_policy_option
@verify_key_option
@no_verify_option
@registry_options
@output_options
@click.pass_obj
def collection_install(
    settings: Settings,
    ref: str | None,
    file: Path | None,
    target: str | None,
    output: Path | None,
    scope: str,
    git_ref: str | None,
    force: bool,
    allow_archived: bool,
    signature_policy: Path | None,
    verify_key: Path | None,
    no_verify: bool,
    registry: Any,
    backend: str | None,
    fmt: str,
    quiet: bool,
) -> None:
    """Install every skill of a collection for an agent; each skill atomically, each outcome reported.

    REF is a registry reference of the collection, or the URL of a collection file in a Git
    repository (https://HOST/ORG/REPO/-/tree/main/collection.yaml, GitHub's /tree/ form too).
    """
    from skillctl.consume.collection import install as install_all
    from skillctl.consume.collection import load
    from skillctl.consume.install import destinations

    source, is_file = _source(ref, file)
    (dest,) = destinations(target, output, scope=scope)  # type: ignore[arg-type]
    store = settings.store()
    coll = load(source, is_file=is_file, store=store, backend=backend, opts=registry, git_ref=git_ref)
    outcomes = install_all(
        coll,
        dest,
        store=store,
        backend=backend,
        opts=registry,
        force=force,
        allow_archived=allow_archived,
        verifier=make_verifier(None, None, None, registry, backend, signature_policy),
        verify_key=verify_key,
        no_verify=no_verify,
        progress=progress_for(fmt, quiet),
    )
    _report(coll, outcomes, fmt=fmt, quiet=quiet, verb="Installed")


COMMANDS = [kube, collection]
