"""Sigstore key-pair signing in cosign's layout, offline.

Keys are cosign's: ECDSA P-256, the private key PKCS#8-encrypted with scrypt and
NaCl secretbox in an ``ENCRYPTED SIGSTORE PRIVATE KEY`` PEM block, the public
key a ``PUBLIC KEY`` PEM block. A signature is cosign's "simple signing"
payload, signed with SHA-256, stored as a layer of the image tagged
``sha256-<digest>.sig`` in the same repository: the layout cosign (with
``--registry-referrers-mode=legacy``, the default before v3) and the containers
tools' ``use-sigstore-attachments`` read and write. Signatures bind the
manifest digest, so a promotion (a new digest) needs a new signature.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from skillctl.backends.base import Capability, RegistryOptions, write_layout
from skillctl.core import oci
from skillctl.core.errors import ConflictError, IntegrityError, NotFoundError, SkillctlError, UsageError
from skillctl.core.fsutil import atomic_write, read_regular
from skillctl.core.refs import Reference, parse_reference
from skillctl.registry.client import read_image
from skillctl.registry.selection import capable, select

PRIVATE_PEM: Final = "ENCRYPTED SIGSTORE PRIVATE KEY"
LEGACY_PRIVATE_PEM: Final = "ENCRYPTED COSIGN PRIVATE KEY"
SIGNATURE_ANNOTATION: Final = "dev.cosignproject.cosign/signature"
SIMPLE_SIGNING: Final = "application/vnd.dev.cosign.simplesigning.v1+json"
_SCRYPT: Final = {"N": 32768, "r": 8, "p": 1}
MAX_KEY_FILE: Final = 64 * 1024


class SignatureError(IntegrityError):
    """An image is unsigned, or no signature verifies with the given key."""


def _pem(kind: str, data: bytes) -> bytes:
    body = base64.b64encode(data).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return ("\n".join([f"-----BEGIN {kind}-----", *lines, f"-----END {kind}-----"]) + "\n").encode()


def _unpem(text: bytes, source: str) -> tuple[str, bytes]:
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
    atomic_write(key_path, _pem(PRIVATE_PEM, json.dumps(sealed).encode()), mode=0o600)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    atomic_write(pub_path, public, mode=0o644)
    return key_path, pub_path


def load_private_key(path: str | Path, passphrase: bytes) -> Any:
    """Decrypt a cosign private key (also the older ``ENCRYPTED COSIGN PRIVATE KEY`` blocks)."""
    import nacl.exceptions
    import nacl.secret
    from cryptography.hazmat.primitives import serialization

    p = Path(path)
    try:
        kind, body = _unpem(read_regular(p, MAX_KEY_FILE), str(p))
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


def load_public_key(path: str | Path) -> Any:
    from cryptography.hazmat.primitives import serialization

    p = Path(path)
    try:
        return serialization.load_pem_public_key(read_regular(p, MAX_KEY_FILE))
    except OSError as exc:
        raise NotFoundError(f"{p}: cannot read the public key ({exc.strerror})") from None
    except ValueError:
        raise UsageError(f"{p}: not a PEM public key") from None


def passphrase(file: str | Path | None = None, env: Mapping[str, str] | None = None) -> bytes | None:
    """The key passphrase from a file, or ``$COSIGN_PASSWORD``; None when neither is set (prompt then)."""
    if file:
        return read_regular(Path(file), MAX_KEY_FILE).rstrip(b"\r\n")
    value = (os.environ if env is None else env).get("COSIGN_PASSWORD")
    return value.encode() if value is not None else None


def signature_tag(digest: str) -> str:
    return digest.replace(":", "-") + ".sig"


def _cosign_identity(repository: str) -> str:
    """The repository as cosign names it (go-containerregistry): Docker Hub is ``index.docker.io/library/...``."""
    host, _, path = repository.partition("/")
    if host not in ("docker.io", "index.docker.io") or not path:
        return repository
    return f"index.docker.io/{path if '/' in path else 'library/' + path}"


def simple_signing_payload(repository: str, digest: str) -> bytes:
    """cosign's payload, byte for byte as it writes it."""
    return oci.go_json(
        {
            "critical": {
                "identity": {"docker-reference": _cosign_identity(repository)},
                "image": {"docker-manifest-digest": digest},
                "type": "cosign container image signature",
            },
            "optional": None,
        }
    )


def _sign_bytes(key: Any, data: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))  # type: ignore[no-any-return]
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    raise UsageError("only ECDSA and Ed25519 keys are supported")


def _verify_bytes(key: Any, signature: bytes, data: bytes) -> bool:
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


@dataclass
class SignatureImage:
    """The ``sha256-<digest>.sig`` image: its layers and their payload bytes."""

    manifest: oci.Manifest | None
    layers: list[tuple[dict[str, Any], bytes]] = field(default_factory=list)


@contextlib.contextmanager
def _pulled(ref: Reference, *, backend: str | None, opts: RegistryOptions) -> Iterator[Path | None]:
    puller = capable(select(backend, env=opts.env), Capability.EXACT, operation="pull signatures unchanged")
    with tempfile.TemporaryDirectory(prefix="skillctl-sig-") as tmp:
        layout = Path(tmp) / "layout"
        try:
            puller.backend.pull(ref, layout, opts)
        except NotFoundError:
            yield None
            return
        yield layout


def fetch_signatures(repo: Reference, digest: str, *, backend: str | None, opts: RegistryOptions) -> SignatureImage:
    """Every signature layer attached to ``digest`` (an empty list when none), blobs verified."""
    from skillctl.image.unpack import verify_blob

    sig_ref = Reference(repo.repository, signature_tag(digest))
    with _pulled(sig_ref, backend=backend, opts=opts) as layout:
        if layout is None:
            return SignatureImage(None)
        index = json.loads((layout / "index.json").read_bytes())
        entry = index["manifests"][0]
        blobs = layout / "blobs" / "sha256"
        manifest = oci.Manifest.parse((blobs / entry["digest"][7:]).read_bytes(), digest=entry["digest"])
        raw = json.loads(manifest.raw)
        image = SignatureImage(manifest)
        for layer in raw.get("layers") or []:
            path = blobs / layer["digest"][7:]
            verify_blob(path, layer["digest"], layer["size"])
            image.layers.append((layer, path.read_bytes()))
        return image


@dataclass
class SignResult:
    ref: str
    digest: str
    signature_ref: str
    signatures: int


def _registry_digest(ref: Reference, *, backend: str | None, opts: RegistryOptions) -> str:
    reader = capable(select(backend, env=opts.env), Capability.MANIFEST, operation="read manifests")
    manifest = oci.Manifest.parse(read_image(ref, reader.backend, opts), source=str(ref))
    return manifest.digest


def sign(
    ref: str,
    key_path: str | Path,
    key_passphrase: bytes,
    *,
    backend: str | None = None,
    opts: RegistryOptions | None = None,
) -> SignResult:
    """Sign the manifest ``ref`` points at (by digest) and attach the signature in cosign's layout."""
    opts = (opts or RegistryOptions()).started()
    parsed = parse_reference(ref)
    if not parsed.is_remote:
        raise UsageError(f"{ref}: sign a registry reference (push it first)")
    key = load_private_key(key_path, key_passphrase)
    digest = _registry_digest(parsed, backend=backend, opts=opts)
    payload = simple_signing_payload(parsed.repository, digest)
    layer = {
        "mediaType": SIMPLE_SIGNING,
        "digest": oci.sha256_digest(payload),
        "size": len(payload),
        "annotations": {SIGNATURE_ANNOTATION: base64.b64encode(_sign_bytes(key, payload)).decode()},
    }
    existing = fetch_signatures(parsed, digest, backend=backend, opts=opts)
    # Signatures by several keys share the payload (same digest); they differ in their annotation. Keep them all.
    layers = [meta for meta, _ in existing.layers] + [layer]
    blobs = {layer["digest"]: payload, **{m["digest"]: data for m, data in existing.layers}}
    config = oci.go_json(
        {
            "architecture": "",
            "created": "0001-01-01T00:00:00Z",
            "history": [{"created": "0001-01-01T00:00:00Z"}],
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": [m["digest"] for m in layers]},
            "config": {},
        }
    )
    manifest = oci.go_json(
        {
            "schemaVersion": 2,
            "mediaType": oci.MANIFEST_V1,
            "config": {"mediaType": oci.CONFIG_V1, "digest": oci.sha256_digest(config), "size": len(config)},
            "layers": layers,
        }
    )
    sig_ref = Reference(parsed.repository, signature_tag(digest))
    pusher = capable(select(backend, env=opts.env), Capability.EXACT, operation="push signatures unchanged")
    with tempfile.TemporaryDirectory(prefix="skillctl-sig-") as tmp:
        root = write_layout(Path(tmp), manifest, {**blobs, oci.sha256_digest(config): config})
        pusher.backend.push(root, sig_ref, opts)
    return SignResult(str(parsed), digest, str(sig_ref), len(layers))


@dataclass
class VerifyResult:
    ref: str
    digest: str
    verified: int
    signatures: int


def verify(
    ref: str,
    public_key: str | Path,
    *,
    backend: str | None = None,
    opts: RegistryOptions | None = None,
    digest: str | None = None,
) -> VerifyResult:
    """Require at least one signature on ``ref``'s manifest that verifies with ``public_key``.

    Raises:
        SignatureError: unsigned, or no signature verifies (exit 10).
    """
    opts = (opts or RegistryOptions()).started()
    parsed = parse_reference(ref)
    if not parsed.is_remote:
        raise UsageError(f"{ref}: signatures live in registries; verify a registry reference (registry/ns/name:tag)")
    key = load_public_key(public_key)
    digest = digest or _registry_digest(parsed, backend=backend, opts=opts)
    image = fetch_signatures(parsed, digest, backend=backend, opts=opts)
    if not image.layers:
        raise SignatureError(f"{ref}: no signature found for {digest}", hint=f"sign it: skillctl sign {ref} --key KEY")
    good = 0
    for meta, payload in image.layers:
        signature = (meta.get("annotations") or {}).get(SIGNATURE_ANNOTATION)
        if not signature:
            continue
        try:
            claims = json.loads(payload)
            signed_digest = claims["critical"]["image"]["docker-manifest-digest"]
            raw_signature = base64.b64decode(signature, validate=True)
        except (ValueError, KeyError, TypeError):
            continue  # one malformed layer must not hide a valid signature beside it
        if signed_digest == digest and _verify_bytes(key, raw_signature, payload):
            good += 1
    if not good:
        raise SignatureError(
            f"{ref}: none of {len(image.layers)} signature(s) on {digest} verifies with {public_key}",
            hint="wrong key, or the image or its signature was changed",
        )
    return VerifyResult(str(parsed), digest, good, len(image.layers))


def key_verifier(public_key: str | Path, *, backend: str | None, opts: RegistryOptions) -> Callable[[str, str], str]:
    """A pull verifier (see ``registry.transfer.Verifier``): a valid signature by ``public_key`` or exit 10."""

    def check(ref: str, digest: str) -> str:
        verify_or_raise(ref, public_key, backend=backend, opts=opts, digest=digest)
        return str(public_key)

    return check


def verify_or_raise(ref: str, public_key: str | Path | None, **kwargs: Any) -> VerifyResult | None:
    if public_key is None:
        return None
    try:
        return verify(ref, public_key, **kwargs)
    except SignatureError:
        raise
    except SkillctlError as exc:
        raise SignatureError(f"{ref}: cannot verify the signature ({exc})") from None
