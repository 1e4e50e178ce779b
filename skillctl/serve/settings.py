"""How ``skillctl serve`` runs: address, TLS, auth files, what the UI prints. No web framework needed here."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from skillctl.core.errors import UsageError

_DURATION: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str, *, what: str) -> float:
    """``90``, ``30s``, ``5m``, ``1h`` (Go's units, as the Go tool's ``--sync-interval 60s``) -> seconds.

    Raises:
        UsageError: anything else, or zero.
    """
    match = _DURATION.match(str(text))
    if not match or float(match.group(1)) <= 0:
        raise UsageError(f"{what}: {text!r} is not a positive duration such as 30s, 5m or 1h")
    return float(match.group(1)) * _UNITS[match.group(2)]


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServeSettings:
    """What the HTTP side needs; the catalog's own settings are ``catalog.service.CatalogSettings``."""

    address: str = "127.0.0.1"
    port: int = 8080
    tls_cert: Path | None = None
    tls_key: Path | None = None
    htpasswd: Path | None = None
    token_file: Path | None = None
    title: str = "Skill catalog"
    agent_image: str = "AGENT_IMAGE"  # shown in the copy-ready `skillctl kube` command
    access_log: bool = False

    @property
    def auth_configured(self) -> bool:
        return self.htpasswd is not None or self.token_file is not None

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"

    @property
    def url(self) -> str:
        host = self.address
        if host in ("0.0.0.0", "::", ""):  # noqa: S104 - only for printing a URL
            host = "127.0.0.1"
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"{self.scheme}://{host}:{self.port}"

    def check(self) -> None:
        """Raises UsageError for combinations that cannot work."""
        if (self.tls_cert is None) != (self.tls_key is None):
            raise UsageError("--tls-cert and --tls-key go together")
        if not 0 <= self.port <= 65535:
            raise UsageError(f"--port {self.port}: not a TCP port")
