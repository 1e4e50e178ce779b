"""Options shared by the commands, and the values they read (passphrases, limits, registry settings)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import click

from skillctl.consume.targets import TARGETS
from skillctl.core.errors import UsageError

F = TypeVar("F", bound=Callable[..., Any])


def output_options(func: F) -> F:
    """``--format text|json`` and ``-q/--quiet`` for commands that report something."""
    func = click.option("-q", "--quiet", is_flag=True, help="Print only references or digests, one per line.")(func)
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help="Output format; json keys are documented and stable.",
    )(func)


def registry_options(func: F) -> F:
    """``--tls-verify``, ``--cert-dir``, ``--authfile``, ``--backend``, ``--timeout`` (as skopeo and podman spell them).

    The command receives ``registry`` (a RegistryOptions) and ``backend`` (a name or None).
    """

    @click.option(
        "--tls-verify",
        type=click.BOOL,
        default=True,
        show_default=True,
        metavar="BOOL",
        help="Verify TLS certificates; --tls-verify=false also allows plain HTTP.",
    )
    @click.option(
        "--cert-dir",
        type=click.Path(path_type=Path, file_okay=False, exists=True),
        envvar="SKILLCTL_CERT_DIR",
        show_envvar=True,
        help="Directory of CA certificates (*.crt) and client keys for every registry "
        "(default: each registry's ~/.config/containers/certs.d/HOST:PORT or /etc/containers/certs.d/HOST:PORT).",
    )
    @click.option(
        "--authfile",
        type=click.Path(path_type=Path, dir_okay=False),
        envvar="REGISTRY_AUTH_FILE",
        show_envvar=True,
        help="Auth file to use first (containers auth.json or Docker config.json).",
    )
    @click.option(
        "--backend",
        envvar="SKILLCTL_BACKEND",
        show_envvar=True,
        help="Tool to talk to registries: skopeo, crane, podman or buildah (default: first installed).",
    )
    @click.option(
        "--timeout",
        type=click.FloatRange(min=1),
        default=600,
        show_default=True,
        help="Seconds the whole command may spend on registries (one deadline for every request and tool run).",
    )
    @functools.wraps(func)
    def wrapper(
        *args: Any, tls_verify: bool, cert_dir: Any, authfile: Any, backend: str | None, timeout: float, **kwargs: Any
    ) -> Any:
        from skillctl.core.registry_options import RegistryOptions

        if authfile is not None and authfile.exists() and not authfile.is_file():
            # The tools would open it and wait (a fifo) or read forever (a device).
            raise UsageError(f"{authfile}: --authfile must be a regular file")
        # One deadline for the whole command, started now: every request and tool run gets what is left.
        kwargs["registry"] = RegistryOptions(
            tls_verify=tls_verify, cert_dir=cert_dir, authfile=authfile, timeout=timeout
        ).started()
        if click.get_current_context().get_parameter_source("backend") is click.core.ParameterSource.ENVIRONMENT:
            backend = None  # the selection reads $SKILLCTL_BACKEND itself, so -v names the right reason
        kwargs["backend"] = backend
        return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


class SizeType(click.ParamType):
    """A byte count: 1048576, 512K, 512M or 2G (powers of 1024)."""

    name = "SIZE"
    _UNITS: ClassVar[dict[str, int]] = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip().upper().removesuffix("B").removesuffix("I")
        unit = text[-1:] if text[-1:] in "KMG" else ""
        try:
            size = int(float(text[: len(text) - len(unit)]) * self._UNITS[unit])
        except (ValueError, OverflowError):
            size = 0
        if size <= 0:
            self.fail(f"{value!r} is not a size such as 512M or 2G", param, ctx)
        return size


def limit_options(func: F) -> F:
    """``--max-size`` and ``--max-files``: the caps every unpack enforces against decompression bombs."""
    func = click.option(
        "--max-files",
        type=click.IntRange(min=1),
        default=20_000,
        show_default=True,
        help="Refuse images with more entries than this.",
    )(func)
    return click.option(
        "--max-size",
        type=SizeType(),
        default="512M",
        show_default=True,
        help="Refuse images that unpack to more than this.",
    )(func)


def unpack_limits(max_size: int, max_files: int) -> Any:
    from skillctl.image.unpack import UnpackLimits

    return UnpackLimits(max_bytes=max_size, max_files=max_files)


def target_options(func: Any) -> Any:
    """``--target AGENT``, ``-o DIR`` and ``--scope user|project``."""
    func = click.option(
        "--scope",
        type=click.Choice(["user", "project"]),
        default="user",
        show_default=True,
        help="user: ~/.<agent>/skills; project: ./.<agent>/skills.",
    )(func)
    func = click.option(
        "-o",
        "--output",
        type=click.Path(path_type=Path, file_okay=False),
        help="A skills directory of your own instead of an agent's.",
    )(func)
    return click.option(
        "-t",
        "--target",
        type=click.Choice(list(TARGETS), case_sensitive=False),
        help="The agent whose skills directory to use.",
    )(func)


def read_passphrase(file: Path | None, *, confirm: bool = False) -> bytes:
    """From --passphrase-file, else $COSIGN_PASSWORD (as cosign reads it), else a hidden prompt."""
    from skillctl.trust.signing import passphrase

    value = passphrase(file)
    if value is not None:
        return value
    if not sys.stdin.isatty():
        raise UsageError("no passphrase", hint="set COSIGN_PASSWORD or pass --passphrase-file FILE")
    return click.prompt(
        "Key passphrase", hide_input=True, confirmation_prompt=confirm, default="", show_default=False
    ).encode()


def sign_key_passphrase(key: Path | None, file: Path | None) -> bytes | None:
    """The passphrase for --sign-key, checked against the key before anything is pushed or promoted."""
    if key is None:
        return None
    from skillctl.trust.signing import load_private_key

    value = read_passphrase(file)
    load_private_key(key, value)  # a wrong passphrase fails here, not after the registry has changed
    return value


verify_key_option = click.option(
    "--verify-key",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Refuse the image unless it carries a valid signature by this public key.",
)
no_verify_option = click.option(
    "--no-verify",
    is_flag=True,
    help="Replace a skill installed with --verify-key without verifying (the receipt then records none).",
)
sign_key_option = click.option(
    "--sign-key",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Sign what was written (its digest) with this cosign key.",
)
passphrase_option = click.option(
    "--passphrase-file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="File holding the key's passphrase (else $COSIGN_PASSWORD, else a prompt).",
)


signature_format_option = click.option(
    "--signature-format",
    type=click.Choice(["legacy", "bundle", "both"]),
    default=None,
    help="legacy: cosign v2's sha256-<digest>.sig (podman, skopeo, cosign v2 and v3 read it; the default); "
    "bundle: a Sigstore bundle as an OCI referrer (cosign v3's default); both.",
)


def sign_after(
    ref: str,
    key: Path | None,
    key_passphrase: bytes | None,
    registry: Any,
    backend: str | None,
    signature_format: str | None = None,
) -> Any:
    """Sign ``ref`` when a key was given (for --sign-key on push and promote)."""
    if key is None or key_passphrase is None:
        return None
    from skillctl.trust.signing import DEFAULT_FORMAT, sign

    return sign(
        ref, key, key_passphrase, signature_format=signature_format or DEFAULT_FORMAT, backend=backend, opts=registry
    )


def keyless_options(func: F) -> F:
    """Keyless verification as cosign spells it: ``--certificate-identity[-regexp]``,
    ``--certificate-oidc-issuer[-regexp]`` and ``--trusted-root FILE``. The command receives ``keyless``
    (a ``trust.keyless.Identity`` or None) and ``trusted_root`` (a path or None)."""

    @click.option("--certificate-identity", help="Keyless: the signer's identity (e-mail or URI) exactly.")
    @click.option("--certificate-identity-regexp", help="Keyless: a regular expression the identity must match.")
    @click.option("--certificate-oidc-issuer", help="Keyless: the OIDC issuer exactly.")
    @click.option("--certificate-oidc-issuer-regexp", help="Keyless: a regular expression the issuer must match.")
    @click.option(
        "--trusted-root",
        type=click.Path(path_type=Path, dir_okay=False, exists=True),
        help="Sigstore's trusted_root.json: the certificate authorities and log keys (offline).",
    )
    @functools.wraps(func)
    def wrapper(
        *args: Any,
        certificate_identity: str | None,
        certificate_identity_regexp: str | None,
        certificate_oidc_issuer: str | None,
        certificate_oidc_issuer_regexp: str | None,
        trusted_root: Path | None,
        **kwargs: Any,
    ) -> Any:
        identity = None
        given = (
            certificate_identity,
            certificate_identity_regexp,
            certificate_oidc_issuer,
            certificate_oidc_issuer_regexp,
        )
        if any(given):
            from skillctl.trust.keyless import Identity

            identity = Identity(*given)
            if trusted_root is None:
                raise UsageError(
                    "keyless verification needs --trusted-root FILE",
                    hint="Sigstore's trusted_root.json (public Sigstore's, or your private deployment's)",
                )
        elif trusted_root is not None:
            raise UsageError("--trusted-root needs --certificate-identity and --certificate-oidc-issuer")
        return func(*args, keyless=identity, trusted_root=trusted_root, **kwargs)

    return wrapper  # type: ignore[return-value]


signature_policy_option = click.option(
    "--signature-policy",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="containers-policy.json(5) to apply (default: ~/.config/containers/policy.json, else "
    "/etc/containers/policy.json, as podman reads them).",
)


def make_verifier(
    verify_key: Path | None,
    keyless: Any,
    trusted_root: Path | None,
    registry: Any,
    backend: str | None,
    signature_policy: Path | None = None,
) -> Any:
    """The pull verifier the options ask for: the signature policy (given, else the default one), and a key or
    a keyless identity when given; every one of them must accept the image."""
    from skillctl.trust import verifiers

    return verifiers.for_options(
        verify_key=verify_key,
        identity=keyless,
        trusted_root=trusted_root,
        policy=verifiers.load_policy(signature_policy),
        backend=backend,
        opts=registry,
    )
