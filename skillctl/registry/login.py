"""``skillctl login``: check credentials against the registry, then store them in the containers auth file.

The check speaks the registry API directly (``GET /v2/`` with Basic auth, or
the Bearer token flow), so the password never goes on a command line.
"""

from __future__ import annotations

import base64
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from skillctl.backends.base import RegistryOptions
from skillctl.core import auth
from skillctl.core.errors import AuthError, NetworkError, TLSError
from skillctl.registry.client import challenge, ssl_context


@dataclass(frozen=True)
class LoginResult:
    registry: str
    username: str
    path: Path
    verified: bool


def _get(url: str, ctx: ssl.SSLContext, timeout: float, authorization: str | None = None) -> tuple[int, str]:
    if not url.startswith(("https://", "http://")):
        raise AuthError(f"the registry sent an unusable token realm {url!r}")
    headers = {"Authorization": authorization} if authorization else {}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - scheme checked above
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=ctx) as response:  # noqa: S310
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("WWW-Authenticate", "")


def _tls_hint(registry: str) -> str:
    return f"put the registry's CA in ~/.config/containers/certs.d/{registry}/ca.crt (or pass --cert-dir DIR)"


def check_credentials(registry: str, username: str, password: str, opts: RegistryOptions) -> bool:
    """True when the registry accepted the credentials, False when it asks for none.

    Raises:
        AuthError: the registry rejected them.
        TLSError / NetworkError: the registry could not be reached safely.
    """
    ctx = ssl_context(opts, registry)
    basic = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
    schemes = ["https"] if opts.tls_verify else ["https", "http"]
    last_error: Exception | None = None
    for scheme in schemes:
        base = f"{scheme}://{registry}/v2/"
        try:
            status, header = _get(base, ctx, min(opts.timeout, 60))
            if status == 200:
                return False
            kind, params = challenge(header)
            if kind == "basic":
                status, _ = _get(base, ctx, min(opts.timeout, 60), basic)
            elif kind == "bearer" and params.get("realm"):
                query = urllib.parse.urlencode({"service": params.get("service", ""), "account": username})
                status, _ = _get(f"{params['realm']}?{query}", ctx, min(opts.timeout, 60), basic)
            if status == 200:
                return True
            raise AuthError(
                f"{registry}: invalid username or password (HTTP {status})",
                hint="check the user name and the password or token; nothing was saved",
            )
        except ssl.SSLError as exc:
            last_error = exc
            if opts.tls_verify:
                raise TLSError(
                    f"{registry}: TLS failed ({exc.reason or exc})",
                    hint=_tls_hint(registry) + ", or --tls-verify=false for a local registry",
                ) from None
        except urllib.error.URLError as exc:
            last_error = exc
            if isinstance(exc.reason, ssl.SSLError) and opts.tls_verify:
                raise TLSError(
                    f"{registry}: TLS failed ({exc.reason})",
                    hint=_tls_hint(registry),
                ) from None
        except (TimeoutError, ConnectionError) as exc:
            last_error = exc
    raise NetworkError(f"{registry}: cannot reach the registry ({last_error})", hint="check the address and port")


def login(
    registry: str, username: str, password: str, *, opts: RegistryOptions | None = None, verify: bool = True
) -> LoginResult:
    """Verify and save credentials for ``registry`` in the containers auth file."""
    opts = opts or RegistryOptions()
    verified = check_credentials(registry, username, password, opts) if verify else False
    path = auth.login_file(opts.authfile, opts.env)
    auth.save_login(registry, username, password, path)
    return LoginResult(registry, username, path, verified)


def logout(registry: str, *, opts: RegistryOptions | None = None) -> tuple[bool, Path]:
    opts = opts or RegistryOptions()
    path = auth.login_file(opts.authfile, opts.env)
    return auth.remove_login(registry, path), path
