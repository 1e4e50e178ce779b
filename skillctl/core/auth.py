"""Registry credentials from the files ops already have, and ``login``/``logout``.

Lookup order (the containers-auth.json(5) order, then Docker's):
``--authfile``/``$REGISTRY_AUTH_FILE``, ``$XDG_RUNTIME_DIR/containers/auth.json``,
``$XDG_CONFIG_HOME/containers/auth.json`` (default ``~/.config``),
``$DOCKER_CONFIG/config.json``, ``~/.docker/config.json``; in each file
``auths`` entries, then ``credHelpers``, then ``credsStore``. Values never
appear in logs or on a command line: helpers get the registry on stdin.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillctl.core import proc
from skillctl.core.errors import AuthError, UsageError
from skillctl.core.fsutil import atomic_write, owned_temp_dir, read_regular, sweep_owned
from skillctl.core.logs import get_logger

log = get_logger(__name__)
MAX_AUTH_FILE = 16 * 1024 * 1024


@dataclass(frozen=True)
class Credentials:
    username: str
    secret: str
    source: str

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, secret='***', source={self.source!r})"


def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def explicit_authfile(authfile: str | Path | None, env: Mapping[str, str] | None = None) -> Path | None:
    value = authfile or _env(env).get("REGISTRY_AUTH_FILE")
    return Path(value).expanduser() if value else None


def candidate_files(authfile: str | Path | None = None, env: Mapping[str, str] | None = None) -> list[Path]:
    e = _env(env)
    home = Path(e.get("HOME") or Path.home())
    files = []
    explicit = explicit_authfile(authfile, e)
    if explicit:
        files.append(explicit)
    if e.get("XDG_RUNTIME_DIR"):
        files.append(Path(e["XDG_RUNTIME_DIR"]) / "containers" / "auth.json")
    files.append(Path(e.get("XDG_CONFIG_HOME") or home / ".config") / "containers" / "auth.json")
    if e.get("DOCKER_CONFIG"):
        files.append(Path(e["DOCKER_CONFIG"]) / "config.json")
    files.append(home / ".docker" / "config.json")
    return list(dict.fromkeys(files))


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(read_regular(path, MAX_AUTH_FILE, error=AuthError))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise AuthError(f"{path}: cannot read auth file ({exc})", hint="fix or remove the file") from None
    if not isinstance(data, dict):
        raise AuthError(f"{path}: auth file is not a JSON object")
    return data


DOCKER_HUB = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})


def _host_key(key: str) -> str:
    key = key.removeprefix("https://").removeprefix("http://")
    key = key.split("/", 1)[0] if key.endswith("/v1/") or key.endswith("/v2/") else key
    # `docker login` stores Docker Hub as https://index.docker.io/v1/; references say docker.io.
    return "docker.io" if key.split("/", 1)[0] in DOCKER_HUB else key


def _from_auths(auths: Mapping[str, Any], registry: str, repository: str, path: Path) -> Credentials | None:
    # containers-auth.json allows repository-scoped keys; the most specific wins.
    candidates = sorted(
        (k for k in auths if _host_key(k) == _host_key(registry) or repository.startswith(_host_key(k) + "/")),
        key=lambda k: -len(_host_key(k)),
    )
    for key in candidates:
        entry = auths[key] or {}
        if not isinstance(entry, dict):
            raise AuthError(f"{path}: the entry for {key!r} is not a JSON object", hint="fix or remove the entry")
        if entry.get("identitytoken"):
            return Credentials("<token>", str(entry["identitytoken"]), str(path))
        if entry.get("auth"):
            try:
                user, _, secret = base64.b64decode(entry["auth"]).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                raise AuthError(f"{path}: the entry for {key} is not valid base64 'user:password'") from None
            return Credentials(user, secret, str(path))
        if entry.get("username") and entry.get("password"):
            return Credentials(str(entry["username"]), str(entry["password"]), str(path))
    return None


def _from_helper(helper: str, registry: str, env: Mapping[str, str]) -> Credentials | None:
    program = f"docker-credential-{helper}"
    if shutil.which(program, path=env.get("PATH")) is None:
        log.info("credential helper %s is not installed; skipping", program)
        return None
    result = proc.run([program, "get"], input=registry.encode(), timeout=30, env=env, check=False)
    if result.returncode != 0:
        return None
    try:
        data = json.loads(result.stdout)
        return Credentials(str(data["Username"]), str(data["Secret"]), f"credential helper {helper}")
    except (ValueError, KeyError, TypeError):
        raise AuthError(f"credential helper {program} returned something that is not JSON credentials") from None


def lookup(
    registry: str, *, repository: str = "", authfile: str | Path | None = None, env: Mapping[str, str] | None = None
) -> Credentials | None:
    """Credentials for ``registry`` (``host[:port]``) from the first file that has them."""
    e = _env(env)
    explicit = explicit_authfile(authfile, e)
    if explicit and not explicit.exists():
        raise AuthError(f"{explicit}: auth file does not exist", hint="check --authfile / REGISTRY_AUTH_FILE")
    for path in candidate_files(authfile, e):
        data = _read(path)
        auths, helpers = data.get("auths") or {}, data.get("credHelpers") or {}
        if not isinstance(auths, dict) or not isinstance(helpers, dict):
            raise AuthError(f"{path}: 'auths' and 'credHelpers' must be JSON objects", hint="fix or remove the file")
        creds = _from_auths(auths, registry, repository or registry, path)
        if creds is None:
            helper = helpers.get(registry) or data.get("credsStore")
            creds = _from_helper(str(helper), registry, e) if helper else None
        if creds:
            log.info("credentials for %s from %s", registry, creds.source)
            return creds
    return None


def login_file(authfile: str | Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """Where ``login`` writes: like podman, ``$XDG_RUNTIME_DIR/containers/auth.json`` unless told otherwise."""
    e = _env(env)
    explicit = explicit_authfile(authfile, e)
    if explicit:
        return explicit
    if e.get("XDG_RUNTIME_DIR"):
        return Path(e["XDG_RUNTIME_DIR"]) / "containers" / "auth.json"
    return Path(e.get("XDG_CONFIG_HOME") or Path(e.get("HOME") or Path.home()) / ".config") / "containers" / "auth.json"


def check_username(username: str) -> None:
    """A user name the auth file can hold (``user:password`` in base64) and a terminal can show."""
    if not username or ":" in username or any(ord(c) < 32 or ord(c) == 127 for c in username):
        raise UsageError(f"invalid user name {username!r}: it must be non-empty, without ':' or control characters")


def save_login(registry: str, username: str, password: str, path: Path) -> None:
    check_username(username)
    data = _read(path)
    auths = data.setdefault("auths", {})
    if not isinstance(auths, dict):
        raise AuthError(f"{path}: 'auths' is not a JSON object", hint="fix or remove the file")
    auths[registry] = {"auth": base64.b64encode(f"{username}:{password}".encode()).decode()}
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write(path, (json.dumps(data, indent="\t") + "\n").encode(), mode=0o600)


def remove_login(registry: str, path: Path) -> bool:
    data = _read(path)
    auths = data.get("auths") or {}
    if not isinstance(auths, dict):
        raise AuthError(f"{path}: 'auths' is not a JSON object", hint="fix or remove the file")
    keys = [k for k in auths if _host_key(k) == registry]
    if not keys:
        return False
    for key in keys:
        del auths[key]
    atomic_write(path, (json.dumps(data, indent="\t") + "\n").encode(), mode=0o600)
    return True


AUTH_DIR_PREFIX = "skillctl-auth-"


def private_dir_parent(env: Mapping[str, str] | None = None) -> Path:
    """Where private, short-lived credential files go: ``$XDG_RUNTIME_DIR/skillctl`` (a per-user tmpfs, emptied
    at logout) when there is one, else the temporary directory."""
    runtime = _env(env).get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        parent = Path(runtime) / "skillctl"
        try:
            parent.mkdir(mode=0o700, exist_ok=True)
            return parent
        except OSError:
            pass
    return Path(tempfile.gettempdir())


def sweep_private_dirs(env: Mapping[str, str] | None = None) -> int:
    """Remove credential directories left by killed runs (their process is gone)."""
    return sweep_owned(private_dir_parent(env), AUTH_DIR_PREFIX)


@contextlib.contextmanager
def docker_config_dir(
    registries: Mapping[str, Credentials | None], env: Mapping[str, str] | None = None
) -> Iterator[Path]:
    """A private ``DOCKER_CONFIG`` directory (0700, file 0600) holding these credentials; removed afterwards.

    For tools such as crane that read only a Docker config. The directory is named after this process,
    so when a run is killed (SIGKILL cannot be caught) the next run removes it.
    """
    tmp = owned_temp_dir(private_dir_parent(env), AUTH_DIR_PREFIX)
    try:
        auths = {
            # An identity token (user "<token>", as helpers and auth files give it) is not a password.
            reg: {"identitytoken": c.secret}
            if c.username == "<token>"
            else {"auth": base64.b64encode(f"{c.username}:{c.secret}".encode()).decode()}
            for reg, c in registries.items()
            if c is not None
        }
        # A private, short-lived file: created 0600 from the start, no need to survive a crash.
        fd = os.open(tmp / "config.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"auths": auths}, fh)
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
