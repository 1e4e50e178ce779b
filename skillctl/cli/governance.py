"""Governance commands: approve, attest (evidence signed onto a digest), gates (a dry run of a promotion's
policy), history (the promotion chain across digests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from skillctl.cli.options import output_options, passphrase_option, read_passphrase, registry_options
from skillctl.cli.output import emit_json, short_digest
from skillctl.core.errors import ExitCode, UsageError
from skillctl.core.states import STATES

private_key_option = click.option(
    "--key",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    required=True,
    help="The cosign private key that signs the attestation.",
)
attestation_format_option = click.option(
    "--attestation-format",
    type=click.Choice(["legacy", "bundle", "both"]),
    default=None,
    help="legacy: cosign v2's sha256-<digest>.att; bundle: a Sigstore bundle referrer (cosign v3); "
    "default: as the image is signed (bundle when it has bundle signatures, else legacy).",
)


def _key(path: Path, passphrase_file: Path | None) -> Any:
    from skillctl.trust.keys import load_private_key

    return load_private_key(path, read_passphrase(passphrase_file))


def _attested(result: Any, fmt: str, quiet: bool, what: str) -> None:
    if fmt == "json":
        emit_json(result.to_json())
    elif quiet:
        click.echo(result.digest)
    else:
        click.echo(f"{what} {result.ref} ({result.digest})")
        for where in filter(None, (result.attestation_ref, result.bundle_ref)):
            click.echo(f"Attestation: {where}")


@click.command(short_help="Approve a digest for its next state (signed attestation).")
@click.argument("ref")
@private_key_option
@click.option("--state", type=click.Choice(STATES[1:]), help="The state approved (default: the next one).")
@click.option("--comment", default="", help="Why, for the record.")
@click.option("--actor", help="Who approves (default: the key's fingerprint).")
@attestation_format_option
@passphrase_option
@registry_options
@output_options
def approve(
    ref: str,
    key: Path,
    state: str | None,
    comment: str,
    actor: str | None,
    attestation_format: str | None,
    passphrase_file: Path | None,
    registry: Any,
    backend: str | None,
    fmt: str,
    quiet: bool,
) -> None:
    """Approve the digest REF points at for its next state, as an attestation signed by KEY.

    An approval binds that digest: it counts for promotions of it (and of the digests its promotions mint),
    never for another image.

    \b
    skillctl approve quay.io/org/x:1.0.0-testing --key alice.key --comment "reviewed the prompt"
    """
    from skillctl.lifecycle.records import approve as do_approve

    result = do_approve(
        ref,
        _key(key, passphrase_file),
        state=state,
        actor=actor,
        comment=comment,
        attestation_format=attestation_format,
        backend=backend,
        opts=registry,
    )
    _attested(result, fmt, quiet, "Approved")


@click.command(short_help="Attach signed evidence (in-toto, DSSE) to a digest.")
@click.argument("ref")
@private_key_option
@click.option("--type", "predicate_type", required=True, help="The predicate type, a URI (cosign attest --type).")
@click.option(
    "--predicate",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    required=True,
    help="A JSON object (at most 1 MiB): the evidence.",
)
@attestation_format_option
@passphrase_option
@registry_options
@output_options
def attest(
    ref: str,
    key: Path,
    predicate_type: str,
    predicate: Path,
    attestation_format: str | None,
    passphrase_file: Path | None,
    registry: Any,
    backend: str | None,
    fmt: str,
    quiet: bool,
) -> None:
    """Attach evidence about the digest REF points at (an evaluation, a test report) as an in-toto statement in
    a DSSE envelope signed by KEY, where cosign attest puts it: cosign verify-attestation reads it.

    \b
    skillctl attest quay.io/org/x:1.0.0-testing --key ci.key \\
        --type https://example.com/eval/v1 --predicate eval.json
    """
    from skillctl.trust.attest import attest as do_attest
    from skillctl.trust.attest import read_predicate

    data = read_predicate(predicate)  # before the passphrase: a wrong file fails first
    result = do_attest(
        ref,
        _key(key, passphrase_file),
        predicate_type,
        data,
        attestation_format=attestation_format,
        backend=backend,
        opts=registry,
    )
    _attested(result, fmt, quiet, "Attested")


def _trusts(keys: tuple[Path, ...], policy: Path | None) -> dict[str, Any]:
    """Named trusts: the policy's keys by their names, and each --key by its file name."""
    from skillctl.lifecycle.promotion_policy import find
    from skillctl.trust.evidence import KeyTrust
    from skillctl.trust.keys import load_public_key

    trusts: dict[str, Any] = {}
    in_force = find(policy)
    if in_force is not None:
        trusts.update(in_force.trusts())
    for path in keys:
        name = path.stem if path.stem not in trusts and path.stem != "cosign" else str(path)
        trusts[name] = KeyTrust([load_public_key(path)], name)
    return trusts


public_keys_option = click.option(
    "--key",
    "keys",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="A public key whose signatures count (repeatable; named by its file name).",
)
policy_option = click.option(
    "--policy",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Promotion policy (default: ./promotion-policy.yaml when there is one); its keys count, by their names.",
)


@click.command(short_help="Check a promotion's policy without promoting.")
@click.argument("ref")
@click.option("--to", "to", required=True, type=click.Choice(STATES[1:]), help="The state to check the policy for.")
@policy_option
@click.option(
    "--promoter-key",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="The public key that would sign the promotion record (the policy's promoter requirement).",
)
@registry_options
@output_options
def gates(
    ref: str,
    to: str,
    policy: Path | None,
    promoter_key: Path | None,
    registry: Any,
    backend: str | None,
    fmt: str,
    quiet: bool,
) -> None:
    """Check a promotion's policy without promoting: every requirement for --to, met or not, and what it rests on.
    Exit 5 when any is unmet, as promote would."""
    from skillctl.lifecycle.governed import check_gates
    from skillctl.lifecycle.promotion_policy import find
    from skillctl.trust.keys import load_public_key

    in_force = find(policy)
    if in_force is None:
        raise UsageError("no promotion policy: pass --policy FILE or add ./promotion-policy.yaml")
    promoter = load_public_key(promoter_key) if promoter_key else None
    report = check_gates(ref, to, in_force, promoter=promoter, backend=backend, opts=registry)
    if fmt == "json":
        emit_json(report.to_json())
    elif not quiet:
        click.echo(f"{ref} ({report.digest}) -> {to}, policy {in_force.path}:")
        for outcome in report.outcomes:
            click.echo(f"  {'met  ' if outcome.met else 'UNMET'}  {outcome.requirement.describe()}: {outcome.detail}")
        if not report.outcomes:
            click.echo("  (no requirements)")
    if report.unmet:
        raise click.exceptions.Exit(int(ExitCode.LIFECYCLE))


@click.command(short_help="Show the promotion chain of REF across digests.")
@click.argument("ref")
@public_keys_option
@policy_option
@registry_options
@output_options
def history(
    ref: str,
    keys: tuple[Path, ...],
    policy: Path | None,
    registry: Any,
    backend: str | None,
    fmt: str,
    quiet: bool,
) -> None:
    """The promotion chain of REF across digests, newest first: state, digest, when, who, why, the evidence on each
    digest, and whether each record and attestation verifies with the keys given (--key, the policy's keys).

    \b
    skillctl history quay.io/org/x:1.0.0 --policy promotion-policy.yaml
    """
    from skillctl.lifecycle.history import history as do_history

    found = do_history(ref, _trusts(keys, policy), backend=backend, opts=registry)
    if fmt == "json":
        emit_json(found.to_json())
        return
    if quiet:
        for step in found.steps:
            click.echo(step.digest)
        return
    click.echo(f"{found.repository}: {len(found.steps)} digest(s), newest first")
    for step in found.steps:
        data = step.to_json()
        click.echo("")
        when = data["time"] or "-"
        who = data["actor"] or "-"
        if who.startswith("sha256:"):  # a key's fingerprint: enough of it to tell keys apart
            who = who[:19] + "…"
        click.echo(f"{data['state'] or '?':<11}{short_digest(step.digest)}  {when}  {who}")
        record = data["record"]
        if record is None:
            click.echo("  no promotion record" + ("" if step is found.steps[-1] else " (the chain stops here)"))
        else:
            verified = f"verified ({', '.join(record['signers'])})" if record["verified"] else "NOT VERIFIED"
            reasons = f": {'; '.join(record['reasons'][:2])}" if not record["verified"] and record["reasons"] else ""
            moved = f"{data['from']} -> {data['state']}, from {data['previousDigest']}"
            click.echo(f"  record {verified}{reasons}: {moved}")
            if data["reason"]:
                click.echo(f"  why: {data['reason']}")
            if data["sameContentAsPrevious"] is not None:
                same = "the same" if data["sameContentAsPrevious"] else "NOT the same"
                click.echo(f"  content: {same} as the previous digest (all but the status, byte for byte)")
        for item in data["evidence"]:
            signers = f"verified ({', '.join(item['signers'])})" if item["verified"] else "not verified"
            click.echo(f"  evidence: {item['predicateType'] or '?'} [{item['format']}] {signers}")


COMMANDS = [approve, attest, gates, history]
