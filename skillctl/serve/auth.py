"""Who may use the catalog when auth is configured: htpasswd users (bcrypt) and bearer tokens from a file.

bcrypt is slow on purpose (tens of milliseconds per check); a successful check
is remembered for a few minutes under a SHA-256 of the credentials, so a
browser sending Basic credentials with every request costs one bcrypt check,
not one per request. Unknown users cost the same time as known ones.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from skillctl.core.errors import UsageError

MIN_TOKEN: Final = 16
_REMEMBER: Final = 300.0


def _bcrypt_hash(raw: str, source: str, line: int) -> bytes:
    value = raw.strip()
    if value.startswith("$2y$"):  # Apache's spelling of the same algorithm
        value = "$2b$" + value[4:]
    if not value.startswith(("$2a$", "$2b$")):
        raise UsageError(
            f"{source}:{line}: not a bcrypt entry; only bcrypt is accepted",
            hint="make entries with 'htpasswd -B FILE USER'",
        )
    return value.encode()


def load_htpasswd(path: Path) -> dict[str, bytes]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--htpasswd {path}: cannot read it ({exc})") from None
    users: dict[str, bytes] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep or not user:
            raise UsageError(f"{path}:{number}: not a 'user:hash' line")
        users[user] = _bcrypt_hash(hashed, str(path), number)
    if not users:
        raise UsageError(f"--htpasswd {path}: no users in it")
    return users


def load_tokens(path: Path) -> list[bytes]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--token-file {path}: cannot read it ({exc})") from None
    tokens = []
    for number, line in enumerate(text.splitlines(), 1):
        token = line.strip()
        if not token or token.startswith("#"):
            continue
        if len(token) < MIN_TOKEN or any(c.isspace() for c in token):
            raise UsageError(f"{path}:{number}: a token is one word of at least {MIN_TOKEN} characters")
        tokens.append(token.encode())
    if not tokens:
        raise UsageError(f"--token-file {path}: no tokens in it")
    return tokens


@dataclass
class Authenticator:
    users: dict[str, bytes] = field(default_factory=dict)
    tokens: list[bytes] = field(default_factory=list)
    dummy: bytes = b""  # checked for unknown users, at the cost of the real entries
    _remembered: dict[bytes, float] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, htpasswd: Path | None, token_file: Path | None) -> Authenticator | None:
        """None when neither file is given (the catalog is then open, read-only)."""
        if htpasswd is None and token_file is None:
            return None
        users = load_htpasswd(htpasswd) if htpasswd else {}
        dummy = b""
        if users:
            import bcrypt

            first = next(iter(users.values()))
            rounds = int(first[4:6]) if first[4:6].isdigit() else 12
            dummy = bcrypt.hashpw(b"not a password", bcrypt.gensalt(rounds=max(4, min(rounds, 31))))
        return cls(users=users, tokens=load_tokens(token_file) if token_file else [], dummy=dummy)

    @property
    def challenge(self) -> str:
        return 'Basic realm="skillctl catalog", charset="UTF-8"' if self.users else 'Bearer realm="skillctl catalog"'

    def check(self, header: str | None) -> str | None:
        """The user (or ``token``) an ``Authorization`` header proves, or None."""
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer" and self.tokens:
            given = value.strip().encode()
            ok = False
            for token in self.tokens:  # compare with every token: the time does not tell which matched
                ok |= hmac.compare_digest(given, token)
            return "token" if ok else None
        if scheme == "basic" and self.users:
            try:
                user, _, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
            return user if self._check_password(user, password) else None
        return None

    def _check_password(self, user: str, password: str) -> bool:
        import bcrypt

        key = hashlib.sha256(f"{user}\0{password}".encode()).digest()
        now = time.monotonic()
        with self._lock:
            expiry = self._remembered.get(key)
            if expiry and expiry > now:
                return True
        hashed = self.users.get(user)
        try:
            ok = bcrypt.checkpw(password.encode(), hashed or self.dummy) and hashed is not None
        except ValueError:
            ok = False
        if ok:
            with self._lock:
                if len(self._remembered) > 1000:
                    self._remembered.clear()
                self._remembered[key] = now + _REMEMBER
        return ok
