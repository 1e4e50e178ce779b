"""What verified an install, as its receipt records it, and the verifier that repeats that check later.

A receipt keeps a small JSON object under ``verifiedBy``: ``{"method": "key", "key": PATH,
"fingerprint": "sha256:…"}`` for a public key. ``upgrade`` and ``collection install`` rebuild the
verifier from it, so a skill installed with ``--verify-key`` is never replaced by an unverified one
unless the user says so. Other methods (a keyless identity, a policy file) add their own ``method``
value and a branch in :func:`verifier_from_record`; an unknown method is refused, never skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from skillctl.backends.base import RegistryOptions
from skillctl.core.errors import IntegrityError, NotFoundError, UsageError
from skillctl.registry.transfer import Verifier

KEY_METHOD = "key"


def key_fingerprint(public_key: str | Path) -> str:
    """The fingerprint of the key in a file (see ``trust.keys.fingerprint``)."""
    from skillctl.trust.keys import fingerprint, load_public_key

    return fingerprint(load_public_key(public_key))


def key_record(public_key: str | Path) -> dict[str, str]:
    """The receipt's record of a verification by ``public_key`` (an absolute path and its fingerprint)."""
    path = Path(public_key).expanduser().resolve()
    return {"method": KEY_METHOD, "key": str(path), "fingerprint": key_fingerprint(path)}


def describe(record: Mapping[str, Any]) -> str:
    """One line naming what a record verifies with (for messages)."""
    if record.get("method") == KEY_METHOD:
        return f"the key {record.get('key')}"
    return f"{record.get('method')!r} verification"


def verifier_from_record(
    record: Mapping[str, Any], *, backend: str | None, opts: RegistryOptions, name: str = ""
) -> Verifier:
    """The verifier that repeats a recorded check; refuses when it cannot be repeated as recorded.

    Raises:
        NotFoundError: the recorded key file is gone.
        IntegrityError: the file at the recorded path holds another key now.
        UsageError: a method this skillctl does not know.
    """
    from skillctl.trust.signing import key_verifier

    who = f"{name}: " if name else ""
    escape = "pass --verify-key PUB to verify with another key, or --no-verify to replace it unverified"
    if record.get("method") != KEY_METHOD:
        raise UsageError(f"{who}installed with {describe(record)}, which this skillctl cannot repeat", hint=escape)
    path = Path(str(record.get("key", "")))
    if not path.is_file():
        raise NotFoundError(f"{who}installed verified with {path}, which no longer exists", hint=escape)
    found = key_fingerprint(path)
    if found != record.get("fingerprint"):
        raise IntegrityError(
            f"{who}{path} is not the key it was installed with (fingerprint {record.get('fingerprint')}, now {found})",
            hint=escape,
        )
    return key_verifier(path, backend=backend, opts=opts)
