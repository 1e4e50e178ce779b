"""Sigstore's ``trusted_root.json``: the certificate authorities and transparency-log keys a keyless signature
is checked against, offline. Public Sigstore, a private deployment (RHTAS) or a test's own: the same file.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from skillctl.core.errors import NotFoundError, UsageError
from skillctl.trust.transparency import LogKey


@dataclass(frozen=True)
class Authority:
    """A certificate authority: its chain (issuing certificate first, root last) and when it issued."""

    certificates: tuple[Any, ...]  # cryptography x509.Certificate
    valid_from: datetime | None = None
    valid_until: datetime | None = None

    def valid_at(self, when: datetime) -> bool:
        return (self.valid_from is None or self.valid_from <= when) and (
            self.valid_until is None or when <= self.valid_until
        )


@dataclass(frozen=True)
class TrustedRoot:
    authorities: tuple[Authority, ...] = ()
    logs: tuple[LogKey, ...] = ()
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


def _time(value: Any, what: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{what}: {value!r} is not an RFC 3339 time") from None


def parse(data: bytes, source: str) -> TrustedRoot:
    """Read a trusted root.

    Raises:
        UsageError: not a trusted root; the message names the file and the field.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        doc = json.loads(data)
    except ValueError:
        raise UsageError(f"{source}: not JSON") from None
    if not isinstance(doc, dict) or not str(doc.get("mediaType", "")).startswith(
        "application/vnd.dev.sigstore.trustedroot"
    ):
        raise UsageError(f"{source}: not a Sigstore trusted root (mediaType {doc.get('mediaType')!r})")
    authorities = []
    try:
        for i, ca in enumerate(doc.get("certificateAuthorities") or []):
            where = f"{source}: certificateAuthorities[{i}]"
            certs = tuple(
                x509.load_der_x509_certificate(base64.b64decode(c["rawBytes"], validate=True))
                for c in (ca.get("certChain") or {}).get("certificates") or []
            )
            if not certs:
                raise UsageError(f"{where}: no certificates")
            valid = ca.get("validFor") or {}
            authorities.append(Authority(certs, _time(valid.get("start"), where), _time(valid.get("end"), where)))
        logs = []
        for i, tlog in enumerate(doc.get("tlogs") or []):
            where = f"{source}: tlogs[{i}]"
            public = tlog.get("publicKey") or {}
            key = serialization.load_der_public_key(base64.b64decode(public["rawBytes"], validate=True))
            valid = public.get("validFor") or {}
            log = LogKey.of(key, _time(valid.get("start"), where), _time(valid.get("end"), where))
            declared = base64.b64decode((tlog.get("logId") or {}).get("keyId", ""), validate=True)
            if declared and declared != log.log_id:
                raise UsageError(f"{where}: logId is not the SHA-256 of the log's public key")
            logs.append(log)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, UsageError):
            raise
        raise UsageError(f"{source}: a certificate authority or log key cannot be read ({exc})") from None
    if not authorities and not logs:
        raise UsageError(f"{source}: the trusted root holds no certificate authority and no log key")
    return TrustedRoot(tuple(authorities), tuple(logs), source)


def load(path: str | Path) -> TrustedRoot:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise NotFoundError(f"{p}: cannot read the trusted root ({exc.strerror})") from None
    return parse(data, str(p))
