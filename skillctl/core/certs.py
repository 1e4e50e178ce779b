"""Per-registry TLS material in ``certs.d`` directories, found the way podman and skopeo find it.

For a registry ``HOST:PORT`` the first of these that exists is used (``*.crt`` CAs, ``*.cert``/``*.key``
client pairs): ``$HOME/.config/containers/certs.d/HOST:PORT``, ``/etc/containers/certs.d/HOST:PORT``,
``/etc/docker/certs.d/HOST:PORT`` (the order of containers/image). An explicit ``--cert-dir``
(or ``$SKILLCTL_CERT_DIR``) replaces the search, as it does for the containers tools.
``$SKILLCTL_SYSTEM_CERTS_D`` (a ``:``-separated list) replaces the two system roots, for tests and
unusual layouts; the user's root always follows ``$HOME``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

SYSTEM_ROOTS: Final = ("/etc/containers/certs.d", "/etc/docker/certs.d")
SYSTEM_ROOTS_ENV: Final = "SKILLCTL_SYSTEM_CERTS_D"
USER_ROOT: Final = Path(".config") / "containers" / "certs.d"


def certs_d_roots(env: Mapping[str, str] | None = None) -> list[Path]:
    """The certs.d roots to search, in order."""
    e = os.environ if env is None else env
    home = e.get("HOME") or str(Path.home())
    system = e[SYSTEM_ROOTS_ENV].split(":") if SYSTEM_ROOTS_ENV in e else list(SYSTEM_ROOTS)
    return [Path(home) / USER_ROOT, *(Path(p) for p in system if p)]


def cert_dir_for(registry: str | None, env: Mapping[str, str] | None = None) -> Path | None:
    """The certs.d directory of ``registry`` (``host[:port]`` exactly as in the reference), if one exists."""
    if not registry or "/" in registry or registry in (".", ".."):
        return None
    for root in certs_d_roots(env):
        candidate = root / registry
        if candidate.is_dir():
            return candidate
    return None
