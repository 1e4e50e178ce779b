"""Signing keys in cosign's formats, and the signature primitives every format shares.

Keys are cosign's: ECDSA P-256, the private key PKCS#8-encrypted with scrypt and NaCl secretbox in an
``ENCRYPTED SIGSTORE PRIVATE KEY`` PEM block, the public key a ``PUBLIC KEY`` PEM block. The math is
``cryptography``'s and PyNaCl's; this module only reads and writes the containers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from skillctl.core.errors import ConflictError, NotFoundError, UsageError
from skillctl.core.fsutil import atomic_write

PRIVATE_PEM: Final = "ENCRYPTED SIGSTORE PRIVATE KEY"
LEGACY_PRIVATE_PEM: Final = "ENCRYPTED COSIGN PRIVATE KEY"
_SCRYPT: Final = {"N": 32768, "r": 8, "p": 1}


def pem(kind: str, data: bytes) -> bytes:
    body = base64.b64encode(data).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return ("\n".join([f"-----BEGIN {kind}-----", *lines, f"-----END {kind}-----"]) + "\n").encode()


def unpem(text: bytes, source: str) -> tuple[str, bytes]:
    lines = text.decode("ascii", errors="replace").strip().splitlines()
    if not lines or not lines[0].startswith("-----BEGIN ") or not lines[-1].startswith("-----END "):
        raise UsageError(f"{source}: not a PEM file")
    kind = lines[0][len("-----BEGIN ") : -len("-----")]
    return kind, base64.b64decode("".join(lines[1:-1]))


def _secretbox_key(passphrase: bytes, salt: bytes, params: Mapping[str, int]) -> bytes:
    n, r, p = int(params["N"]), int(params["r"]), int(params["p"])
    return hashlib.scrypt(passphrase, salt=salt, n=n, r=r, p=p, dklen=32, maxmem=256 * 1024 * 1024)


def generate_key_pair(directory: str | Path, passphrase: bytes, *, force: bool = False) -> tuple[Path, Path]:
    """Write ``cosign.key`` (encrypted) and ``cosign.pub`` into ``directory``, as ``cosign generate-key-pair`` does."""
    import nacl.secret
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    root = Path(directory)
    key_path, pub_path = root / "cosign.key", root / "cosign.pub"
    existing = [p for p in (key_path, pub_path) if p.exists()]
    if existing and not force:
        raise ConflictError(f"would overwrite {', '.join(map(str, existing))}", hint="pass --force to overwrite")
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    salt, nonce = os.urandom(32), os.urandom(24)
    box = nacl.secret.SecretBox(_secretbox_key(passphrase, salt, _SCRYPT))
    sealed = {
        "kdf": {"name": "scrypt", "params": _SCRYPT, "salt": base64.b64encode(salt).decode()},
        "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
        "ciphertext": base64.b64encode(box.encrypt(der, nonce).ciphertext).decode(),
    }
    root.mkdir(parents=True, exist_ok=True)
    atomic_write(key_path, pem(PRIVATE_PEM, json.dumps(sealed).encode()), mode=0o600)
    atomic_write(pub_path, public_pem(key.public_key()), mode=0o644)
    return key_path, pub_path


def load_private_key(path: str | Path, passphrase: bytes) -> Any:
    """Decrypt a cosign private key (also the older ``ENCRYPTED COSIGN PRIVATE KEY`` blocks)."""
    import nacl.exceptions
    import nacl.secret
    from cryptography.hazmat.primitives import serialization

    p = Path(path)
    try:
        kind, body = unpem(p.read_bytes(), str(p))
    except OSError as exc:
        raise NotFoundError(f"{p}: cannot read the key ({exc.strerror})") from None
    if kind not in (PRIVATE_PEM, LEGACY_PRIVATE_PEM):
        raise UsageError(f"{p}: a {kind} block, not a cosign private key")
    try:
        sealed = json.loads(body)
        salt = base64.b64decode(sealed["kdf"]["salt"])
        box = nacl.secret.SecretBox(_secretbox_key(passphrase, salt, sealed["kdf"]["params"]))
        der = box.decrypt(base64.b64decode(sealed["ciphertext"]), base64.b64decode(sealed["cipher"]["nonce"]))
    except nacl.exceptions.CryptoError:
        raise UsageError(f"{p}: wrong passphrase for this key") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{p}: not a cosign private key ({exc})") from None
    return serialization.load_der_private_key(der, password=None)


def parse_public_key(data: bytes, source: str) -> Any:
    """A ``PUBLIC KEY`` PEM block (as in ``cosign.pub``, or a policy's ``keyData``)."""
    from cryptography.hazmat.primitives import serialization

    try:
        return serialization.load_pem_public_key(data)
    except ValueError:
        raise UsageError(f"{source}: not a PEM public key") from None


def load_public_key(path: str | Path) -> Any:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise NotFoundError(f"{p}: cannot read the public key ({exc.strerror})") from None
    return parse_public_key(data, str(p))


def public_pem(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)  # type: ignore[no-any-return]


def key_id(key: Any) -> bytes:
    """SHA-256 of the DER public key: a transparency log's ID, and the hint cosign puts in a key bundle."""
    from cryptography.hazmat.primitives import serialization

    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).digest()


def fingerprint(key: Any) -> str:
    """``sha256:`` and :func:`key_id` in hex: names a key whatever file or PEM layout holds it (receipts, locks)."""
    return "sha256:" + key_id(key).hex()


def passphrase(file: str | Path | None = None, env: Mapping[str, str] | None = None) -> bytes | None:
    """The key passphrase from a file, or ``$COSIGN_PASSWORD``; None when neither is set (prompt then)."""
    if file:
        return Path(file).read_bytes().rstrip(b"\r\n")
    value = (os.environ if env is None else env).get("COSIGN_PASSWORD")
    return value.encode() if value is not None else None


def sign_bytes(key: Any, data: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))  # type: ignore[no-any-return]
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    raise UsageError("only ECDSA and Ed25519 keys are supported")


def verify_bytes(key: Any, signature: bytes, data: bytes) -> bool:
    """Whether ``signature`` over ``data`` verifies with ``key`` (ECDSA and RSA with SHA-256, as cosign's
    default verifiers hash, or Ed25519)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        else:
            return False
    except InvalidSignature:
        return False
    return True
