"""``skillctl login``: check credentials against the registry, then store them in the containers auth file.

The check goes through the registry client (:func:`skillctl.registry.client.check_credentials`), so
the password travels under the same rules as every read: never on a command line, never to another
origin or over plain HTTP by a redirect, never to a token service that is not HTTPS.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from skillctl.backends.base import RegistryOptions
from skillctl.core import auth
from skillctl.core.refs import parse_registry
from skillctl.registry.client import check_credentials


@dataclass(frozen=True)
class LoginResult:
    registry: str
    username: str
    path: Path
    verified: bool


def login(
    registry: str, username: str, password: str, *, opts: RegistryOptions | None = None, verify: bool = True
) -> LoginResult:
    """Verify and save credentials for ``registry`` in the containers auth file.

    Raises:
        UsageError: ``registry`` is not a registry host, or the user name cannot be stored.
        AuthError / SecurityRefusal / NetworkError: the check failed; nothing was saved.
    """
    registry = parse_registry(registry)
    auth.check_username(username)
    opts = (opts or RegistryOptions()).started()
    verified = check_credentials(registry, username, password, opts) if verify else False
    path = auth.login_file(opts.authfile, opts.env)
    auth.save_login(registry, username, password, path)
    return LoginResult(registry, username, path, verified)


def logout(registry: str, *, opts: RegistryOptions | None = None) -> tuple[bool, Path]:
    registry = parse_registry(registry)
    opts = opts or RegistryOptions()
    path = auth.login_file(opts.authfile, opts.env)
    return auth.remove_login(registry, path), path
