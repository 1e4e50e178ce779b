"""Signature status per version: checked against the public keys the catalog was given, on demand.

The tag list already says whether a cosign signature tag (``sha256-<digest>.sig``)
is attached; that costs nothing and is in the index. With ``--verify-key``
keys, a version's signatures are verified by ``trust.signing.verify`` (the
check ``skillctl verify`` runs) the first time someone looks, and the answer is
remembered by digest for ``max_age`` seconds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillctl.backends.base import RegistryOptions
from skillctl.catalog.index import Index
from skillctl.catalog.records import SkillVersion
from skillctl.core.errors import SkillctlError
from skillctl.core.logs import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class SignatureStatus:
    """``verified``, ``invalid``, ``unsigned``, ``signed`` (not checked: no key), ``unknown`` or ``error``."""

    status: str
    digest: str
    keys: tuple[str, ...] = ()  # the keys that verified it
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "digest": self.digest, "verified_by": list(self.keys), "detail": self.detail}


class SignatureChecker:
    def __init__(
        self,
        index: Index,
        keys: Sequence[Path],
        *,
        opts: RegistryOptions | None = None,
        backend: str | None = None,
        max_age: float = 3600.0,
    ) -> None:
        self.index = index
        self.keys = [Path(k) for k in keys]
        self.opts = opts or RegistryOptions()
        self.backend = backend
        self.max_age = max_age
        fingerprint = hashlib.sha256(b"".join(k.read_bytes() for k in self.keys)).hexdigest()[:16]
        self._keyset = fingerprint

    def status(self, version: SkillVersion) -> SignatureStatus:
        if not version.registry:
            return SignatureStatus(
                "unknown", version.digest, detail="a local-store image: signatures live in registries"
            )
        if not self.keys:
            if version.signed:
                return SignatureStatus(
                    "signed", version.digest, detail="a signature is attached; no --verify-key given"
                )
            return SignatureStatus("unsigned", version.digest, detail="no signature is attached")
        memo_key = f"sig:{version.digest}:{int(version.signed)}:{self._keyset}"
        cached = self.index.memo_get(memo_key, max_age=self.max_age)
        if cached is not None:
            return SignatureStatus(cached["status"], version.digest, tuple(cached["keys"]), cached["detail"])
        result = self._check(version)
        if result.status != "error":
            self.index.memo_put(memo_key, {"status": result.status, "keys": list(result.keys), "detail": result.detail})
        return result

    def _check(self, version: SkillVersion) -> SignatureStatus:
        from skillctl.trust.signing import SignatureError, verify

        good: list[str] = []
        last = ""
        for key in self.keys:
            try:
                result = verify(version.ref, key, backend=self.backend, opts=self.opts, digest=version.digest)
            except SignatureError as exc:
                last = str(exc)
                continue
            except SkillctlError as exc:
                log.warning("signature check of %s failed: %s", version.pinned, exc)
                return SignatureStatus("error", version.digest, detail=str(exc))
            if result.verified:
                good.append(key.name)
        if good:
            return SignatureStatus("verified", version.digest, tuple(good), f"verified with {', '.join(good)}")
        if not version.signed:
            return SignatureStatus("unsigned", version.digest, detail="no signature is attached")
        return SignatureStatus("invalid", version.digest, detail=last or "no signature verifies with the given keys")
