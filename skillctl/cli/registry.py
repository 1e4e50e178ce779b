"""Commands that talk to registries: push, pull, login, logout."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import click

from skillctl.cli.context import Settings
from skillctl.cli.options import (
    keyless_options,
    limit_options,
    make_verifier,
    output_options,
    passphrase_option,
    registry_options,
    sign_after,
    sign_key_option,
    sign_key_passphrase,
    signature_format_option,
    signature_policy_option,
    unpack_limits,
    verify_key_option,
)
from skillctl.cli.output import emit_json, progress_for, say, warn
from skillctl.core.errors import UsageError
from skillctl.core.refs import parse_reference


@click.command(short_help="Push a local image to a registry.")
@click.argument("ref")
@click.argument("dest", required=False)
@sign_key_option
@signature_format_option
@passphrase_option
@click.option("--provenance", is_flag=True, help="Attest SLSA provenance (source, revision, builder) with --sign-key.")
@click.option("--source-repo", help="Provenance: the source repository (default: the image's, else the CI run's).")
@click.option("--source-revision", help="Provenance: the source revision (default: the image's, else the CI run's).")
@click.option("--builder-id", help="Provenance: who built it, a URI (default: the CI workflow, else this host).")
@registry_options
@output_options
@click.pass_obj
def push(
    settings: Settings,
    ref: str,
    dest: str | None,
    sign_key: Path | None,
    signature_format: str | None,
    passphrase_file: Path | None,
    provenance: bool,
    source_repo: str | None,
    source_revision: str | None,
    builder_id: str | None,
    registry: Any,
    backend: str | None,
    fmt: str,
    quiet: bool,
) -> None:
    """Push a local image to a registry.

    \b
    skillctl pack examples/hello-world
    skillctl push quay.io/myorg/hello-world:1.0.0-draft
    skillctl push examples/hello-world:1.0.0-draft localhost:5000/examples/hello-world:1.0.0-draft

    With one argument, REF is the registry reference; when it is not in the
    store, the one local image with the same name and tag is pushed. The
    registry's manifest is read back after the push and must match.
    """
    from skillctl.registry.transfer import push as do_push

    if provenance and sign_key is None:
        raise UsageError("--provenance is an attestation: it needs --sign-key KEY")
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    key_passphrase = sign_key_passphrase(sign_key, passphrase_file)  # ask before pushing
    result = do_push(
        ref, dest, store=settings.store(), backend=backend, opts=registry, progress=progress_for(fmt, quiet)
    )
    pushed = parse_reference(result.dest).with_digest(result.digest)
    signed = sign_after(str(pushed), sign_key, key_passphrase, registry, backend, signature_format)
    attested = None
    if provenance and sign_key is not None and key_passphrase is not None:
        from skillctl.trust.keys import load_private_key
        from skillctl.trust.provenance import attest_provenance

        attested = attest_provenance(
            str(pushed), load_private_key(sign_key, key_passphrase), source=source_repo, revision=source_revision,
            builder_id=builder_id, started=started, backend=backend, opts=registry,
        )  # fmt: skip
    if fmt == "json":
        emit_json(
            {
                "source": result.source,
                "ref": result.dest,
                "digest": result.digest,
                "localDigest": result.local_digest,
                "digestChanged": result.digest_changed,
                "backend": result.backend,
                "notes": result.notes,
                "signature": signed.signature_ref if signed else None,
                "bundle": signed.bundle_ref if signed else None,
                "provenance": attested.to_json() if attested else None,
            }
        )
        return
    if quiet:
        say(result.digest)
        return
    if attested is not None:
        click.echo(f"Provenance: {attested.attestation_ref or attested.bundle_ref}", err=True)
    for note in result.notes:
        (warn if result.digest_changed else lambda m: say(m, err=True))(note)
    say(f"Pushed {result.dest}")
    say(f"Digest: {result.digest}")
    if signed:
        say(f"Signed: {signed.signature_ref or signed.bundle_ref}")


@click.command(short_help="Pull a skill image into the store (unpack it with -o).")
@click.argument("ref")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, file_okay=False),
    help="Also unpack the skill into OUTPUT/<name>/.",
)
@click.option("--allow-archived", is_flag=True, help="Pull even an archived version.")
@verify_key_option
@keyless_options
@signature_policy_option
@limit_options
@registry_options
@output_options
@click.pass_obj
def pull(
    settings: Settings,
    ref: str,
    output: Path | None,
    allow_archived: bool,
    verify_key: Path | None,
    keyless: Any,
    trusted_root: Path | None,
    signature_policy: Path | None,
    max_size: int,
    max_files: int,
    registry: Any,
    backend: str | None,
    fmt: str,
    quiet: bool,
) -> None:
    """Pull a skill image from a registry into the local store (and unpack it with -o).

    \b
    skillctl pull quay.io/myorg/hello-world:1.0.0 -o ./skills/
    """
    from skillctl.registry.transfer import pull as do_pull

    verify = make_verifier(verify_key, keyless, trusted_root, registry, backend, signature_policy)
    result = do_pull(
        ref,
        output=output,
        store=settings.store(),
        backend=backend,
        opts=registry,
        allow_archived=allow_archived,
        verify=verify,
        limits=unpack_limits(max_size, max_files),
        progress=progress_for(fmt, quiet),
    )
    if fmt == "json":
        emit_json(
            {
                "ref": result.ref,
                "digest": result.digest,
                "registryDigest": result.remote_digest,
                "backend": result.backend,
                "unpackedTo": str(result.unpacked.path) if result.unpacked else None,
                "notes": result.notes,
            }
        )
        return
    if quiet:
        say(result.digest)
        return
    for note in result.notes:
        warn(note)
    say(f"Pulled {result.ref}")
    say(f"Digest: {result.digest}")
    if result.verified_by:
        say(f"Signature verified with {result.verified_by}")
    if result.unpacked:
        say(f"Unpacked to {result.unpacked.path}")


@click.command(short_help="Check a registry's credentials and save them.")
@click.argument("registry_host", metavar="REGISTRY")
@click.option("-u", "--username", help="User name (prompted when missing).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@registry_options
@click.pass_obj
def login(
    settings: Settings,
    registry_host: str,
    username: str | None,
    password_stdin: bool,
    registry: Any,
    backend: str | None,
) -> None:
    """Log in to a registry; the credentials go to the containers auth file.

    \b
    echo "$TOKEN" | skillctl login quay.io -u robot --password-stdin
    """
    from skillctl.registry.login import login as do_login

    if password_stdin:
        if not username:
            raise UsageError(
                "--password-stdin needs --username", hint=f"skillctl login {registry_host} -u USER --password-stdin"
            )
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        if not sys.stdin.isatty():
            raise UsageError("no terminal to prompt for the password on", hint="use -u USER --password-stdin")
        username = username or click.prompt("Username")
        password = click.prompt("Password", hide_input=True)
    if not password:
        raise UsageError("empty password")
    result = do_login(registry_host, username, password, opts=registry)
    say(
        f"Login Succeeded! (credentials saved in {result.path})"
        if result.verified
        else f"Saved credentials in {result.path} (the registry asks for none)"
    )


@click.command(short_help="Remove a registry's credentials from the auth file.")
@click.argument("registry_host", metavar="REGISTRY")
@registry_options
def logout(registry_host: str, registry: Any, backend: str | None) -> None:
    """Remove a registry's credentials from the containers auth file."""
    from skillctl.core.errors import NotFoundError
    from skillctl.registry.login import logout as do_logout

    removed, path = do_logout(registry_host, opts=registry)
    if not removed:
        raise NotFoundError(
            f"not logged in to {registry_host} (in {path})",
            hint="nothing to remove; check the registry name as you gave it to 'skillctl login' (host[:port])",
        )
    say(f"Removed login credentials for {registry_host} from {path}")


COMMANDS = [push, pull, login, logout]
