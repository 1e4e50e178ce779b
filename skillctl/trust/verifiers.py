"""Pull verifiers (``registry.transfer.Verifier``: ``(ref, digest) -> who verified it``, or an IntegrityError)
made from what a user can ask for: a public key, a keyless identity under a trusted root, a signature policy.

``pull(..., verify=...)``, ``consume.install.install(..., verifier=...)`` and ``airgap.mirror(..., verify=...)``
run them before anything is stored, installed or copied. ``for_options`` is what the CLI builds.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from skillctl.backends.base import RegistryOptions
from skillctl.core.errors import SkillctlError, UsageError
from skillctl.core.refs import parse_reference
from skillctl.registry.transfer import Verifier
from skillctl.trust import evidence as ev
from skillctl.trust import policy as policies
from skillctl.trust.keyless import Identity
from skillctl.trust.signing import key_verifier, keyless_verifier

__all__ = ["Verifier", "all_of", "for_options", "load_policy", "policy_verifier"]


def policy_verifier(policy: policies.Policy, *, backend: str | None, opts: RegistryOptions) -> Verifier:
    """Apply ``policy`` as podman would; signatures are read only when the image's scope requires them."""

    def check(ref: str, digest: str) -> str:
        def fetch() -> list[ev.Evidence]:
            return ev.collect(parse_reference(ref), digest, backend=backend, opts=opts)

        try:
            return policies.check(policy, ref, digest, None, fetch)
        except ev.SignatureError:
            raise
        except SkillctlError as exc:
            raise ev.SignatureError(f"{ref}: cannot apply the signature policy ({exc})") from None

    return check


def all_of(*verifiers: Verifier | None) -> Verifier | None:
    """One verifier requiring every one given (None when none is)."""
    chosen = [v for v in verifiers if v is not None]
    if not chosen:
        return None
    if len(chosen) == 1:
        return chosen[0]

    def check(ref: str, digest: str) -> str:
        return "; ".join(filter(None, (v(ref, digest) for v in chosen)))

    return check


def load_policy(path: str | Path | None, env: Mapping[str, str] | None = None) -> policies.Policy | None:
    """``path``, else the policy podman would read (user's, then system's); None when there is none."""
    found = Path(path) if path is not None else policies.default_path(env)
    return policies.load(found) if found is not None else None


def for_options(
    *,
    verify_key: str | Path | None = None,
    identity: Identity | None = None,
    trusted_root: str | Path | None = None,
    policy: policies.Policy | None = None,
    backend: str | None,
    opts: RegistryOptions,
) -> Verifier | None:
    """What ``--verify-key``, the keyless options and the signature policy ask for, all of it required."""
    if verify_key is not None and identity is not None:
        raise UsageError("verify with a key (--verify-key) or a keyless identity (--certificate-identity), not both")
    explicit = None
    if verify_key is not None:
        explicit = key_verifier(verify_key, backend=backend, opts=opts)
    elif identity is not None:
        if trusted_root is None:
            raise UsageError("keyless verification needs --trusted-root FILE")
        explicit = keyless_verifier(identity, trusted_root, backend=backend, opts=opts)
    by_policy = policy_verifier(policy, backend=backend, opts=opts) if policy is not None else None
    return all_of(by_policy, explicit)
