"""TLS client settings, one definition for every in-process connection (the registry client, crane's probe)."""

from __future__ import annotations

import functools
import ssl
from pathlib import Path


@functools.lru_cache(maxsize=16)
def client_context(verify: bool, cert_dir: str | None) -> ssl.SSLContext:
    """Verification on unless ``verify`` is False; ``cert_dir`` adds CAs (``*.crt``) and client keys.

    Built once per setting: loading the system CAs costs more than a loopback request.
    """
    if not verify:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    ctx = ssl.create_default_context()
    if cert_dir:
        for ca in sorted(Path(cert_dir).glob("*.crt")):
            ctx.load_verify_locations(cafile=str(ca))
        for cert in sorted(Path(cert_dir).glob("*.cert")):
            key = cert.with_suffix(".key")
            ctx.load_cert_chain(str(cert), str(key) if key.exists() else None)
    return ctx
