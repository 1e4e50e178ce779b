"""Keyless (Fulcio-style) certificates checked offline: the chain to a trusted authority at the signing time,
the code-signing usage, and the identity (a SAN: e-mail or URI) and OIDC issuer the certificate names.

Ours: building and walking the chain (each link's signature, validity window and CA constraint), reading the
Fulcio issuer extensions, matching identities as cosign does. ``cryptography`` parses the X.509 and checks
each signature. Not done: SCTs (certificate transparency), CRLs; cosign skips SCTs with
``--insecure-ignore-sct``, podman's ``fulcio`` policy does not check them either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from skillctl.core.errors import UsageError

ISSUER_V1: Final = "1.3.6.1.4.1.57264.1.1"  # the raw issuer string (deprecated, still written)
ISSUER_V2: Final = "1.3.6.1.4.1.57264.1.8"  # the issuer as a DER UTF8String
CODE_SIGNING: Final = "1.3.6.1.5.5.7.3.3"
MAX_DEPTH: Final = 6


class CertificateError(Exception):
    """Why a certificate is not trusted (collected into the integrity error of the whole verification)."""


@dataclass(frozen=True)
class Identity:
    """Who must have signed, as cosign spells it: ``--certificate-identity[-regexp]`` and
    ``--certificate-oidc-issuer[-regexp]``. Regular expressions match anywhere, as Go's ``MatchString`` does."""

    subject: str | None = None
    subject_regexp: str | None = None
    issuer: str | None = None
    issuer_regexp: str | None = None

    def __post_init__(self) -> None:
        if not (self.subject or self.subject_regexp):
            raise UsageError("a keyless identity needs --certificate-identity or --certificate-identity-regexp")
        if not (self.issuer or self.issuer_regexp):
            raise UsageError("a keyless identity needs --certificate-oidc-issuer (or its -regexp form)")
        for pattern in (self.subject_regexp, self.issuer_regexp):
            if pattern:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise UsageError(f"{pattern!r}: not a regular expression ({exc})") from None

    def describe(self) -> str:
        return f"{self.subject or self.subject_regexp} from {self.issuer or self.issuer_regexp}"

    def check(self, subjects: Sequence[str], issuer: str | None) -> str:
        """The matching subject, or CertificateError naming what the certificate holds instead."""
        if issuer is None:
            raise CertificateError("the certificate names no OIDC issuer")
        if (self.issuer and issuer != self.issuer) or (
            self.issuer_regexp and not re.search(self.issuer_regexp, issuer)
        ):
            raise CertificateError(
                f"the certificate's OIDC issuer is {issuer}, not {self.issuer or self.issuer_regexp}"
            )
        for subject in subjects:
            if (self.subject and subject == self.subject) or (
                self.subject_regexp and re.search(self.subject_regexp, subject)
            ):
                return subject
        named = ", ".join(subjects) or "no identity"
        raise CertificateError(f"the certificate is for {named}, not {self.subject or self.subject_regexp}")


def _utf8_string(der: bytes) -> str:
    if len(der) < 2 or der[0] != 0x0C:
        raise CertificateError("the issuer extension is not a UTF8String")
    length, offset = der[1], 2
    if length & 0x80:
        count = length & 0x7F
        length, offset = int.from_bytes(der[2 : 2 + count], "big"), 2 + count
    return der[offset : offset + length].decode("utf-8", errors="replace")


def oidc_issuer(cert: Any) -> str | None:
    from cryptography import x509

    for ext in cert.extensions:
        if ext.oid.dotted_string == ISSUER_V2 and isinstance(ext.value, x509.UnrecognizedExtension):
            return _utf8_string(ext.value.value)
    for ext in cert.extensions:
        if ext.oid.dotted_string == ISSUER_V1 and isinstance(ext.value, x509.UnrecognizedExtension):
            return bytes(ext.value.value).decode("utf-8", errors="replace")
    return None


def subjects(cert: Any) -> list[str]:
    """The identities a certificate is for: its e-mail and URI subject alternative names."""
    from cryptography import x509

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [*san.get_values_for_type(x509.RFC822Name), *san.get_values_for_type(x509.UniformResourceIdentifier)]


def _valid_at(cert: Any, when: datetime) -> bool:
    return bool(cert.not_valid_before_utc <= when <= cert.not_valid_after_utc)


def _is_ca(cert: Any) -> bool:
    from cryptography import x509

    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _issued_by(cert: Any, issuer: Any) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except Exception:  # InvalidSignature, a name mismatch (ValueError), a key type it cannot check (TypeError)
        return False
    return True


def verify_chain(leaf: Any, intermediates: Iterable[Any], anchors: Iterable[Any], when: datetime) -> list[Any]:
    """A path from ``leaf`` to one of ``anchors`` (trusted certificates), every certificate valid at ``when``.

    ``intermediates`` (from the signature itself) are untrusted helpers for building the path.

    Raises:
        CertificateError: no such path; the message says what was wrong with the leaf or the closest path.
    """
    from cryptography import x509

    if not _valid_at(leaf, when):
        raise CertificateError(
            f"the certificate was not valid at the signing time {when:%Y-%m-%dT%H:%M:%SZ} "
            f"(valid {leaf.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ} to {leaf.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ})"
        )
    try:
        usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if CODE_SIGNING not in {u.dotted_string for u in usages}:
            raise CertificateError("the certificate is not for code signing")
    except x509.ExtensionNotFound:
        raise CertificateError("the certificate has no extended key usage (code signing)") from None
    trusted = list(anchors)
    helpers = list(intermediates)
    path, current = [leaf], leaf
    for _ in range(MAX_DEPTH):
        anchor = next((a for a in trusted if _is_ca(a) and _issued_by(current, a)), None)
        if anchor is not None:
            if not _valid_at(anchor, when):
                raise CertificateError(f"the authority {anchor.subject.rfc4514_string()} was not valid then")
            return [*path, anchor]
        step = next((c for c in helpers if c not in path and _is_ca(c) and _issued_by(current, c)), None)
        if step is None or not _valid_at(step, when):
            break
        path.append(step)
        current = step
    raise CertificateError(
        f"the certificate (issued by {leaf.issuer.rfc4514_string() or 'an empty name'}) does not chain to a "
        "trusted certificate authority"
    )
