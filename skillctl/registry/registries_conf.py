"""Whether ``containers-registries.conf(5)`` says anything about a registry: the test for pulling in process.

skopeo, podman and buildah read registries.conf before they touch a registry: a ``[[registry]]`` table can move
it (``location``), mirror it, block it or make it insecure, and ``credential-helpers`` can change where
credentials come from. skillctl's own registry client does none of that, so it pulls a blob itself only when
no file says anything about the registry; otherwise the backend pulls, and applies the file as it always has.

Read conservatively: every file the tools might read (``$CONTAINERS_REGISTRIES_CONF`` or the user's file or
the system's, and both ``registries.conf.d`` directories), a table about the registry's host whatever its path,
and any file that cannot be read or parsed, all count as "says something".
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

SYSTEM_FILE: Final = Path("/etc/containers/registries.conf")
SYSTEM_DIR: Final = Path("/etc/containers/registries.conf.d")
DEFAULT_HELPERS: Final = ["containers-auth.json"]
MAX_FILE: Final = 1024 * 1024


def _files(env: Mapping[str, str]) -> Iterator[Path]:
    home = env.get("HOME")
    user = Path(home) / ".config/containers" if home else None
    if env.get("CONTAINERS_REGISTRIES_CONF"):
        yield Path(env["CONTAINERS_REGISTRIES_CONF"])
    elif user is not None and (user / "registries.conf").exists():
        yield user / "registries.conf"
    else:
        yield Path(env.get("SKILLCTL_SYSTEM_REGISTRIES_CONF") or SYSTEM_FILE)
    system_dir = Path(env.get("SKILLCTL_SYSTEM_REGISTRIES_CONF_D") or SYSTEM_DIR)
    for directory in (system_dir, user / "registries.conf.d" if user else None):
        if directory is not None and directory.is_dir():
            yield from sorted(p for p in directory.iterdir() if p.suffix == ".conf")


def _host_matches(prefix: str, host: str) -> bool:
    """A prefix's host part against ``host`` (``host[:port]``): equal, or a ``*.domain`` wildcard covering it."""
    pattern = prefix.split("/", 1)[0]
    if pattern.startswith("*."):
        return host.split(":", 1)[0].endswith(pattern[1:])
    return pattern == host


def _about(data: dict[str, Any], host: str) -> str | None:
    helpers = data.get("credential-helpers")
    if helpers is not None and helpers != DEFAULT_HELPERS:
        return "sets credential-helpers"
    for table in data.get("registry") or []:
        if not isinstance(table, dict):
            return "has a [[registry]] entry that is not a table"
        prefix = table.get("prefix") or table.get("location") or ""
        if not isinstance(prefix, str) or _host_matches(prefix, host):
            return f"has a [[registry]] entry for {prefix}"
    v1 = data.get("registries")
    if isinstance(v1, dict):
        for kind in ("insecure", "block"):
            listed = v1.get(kind) or {}
            names = (listed.get("registries") or []) if isinstance(listed, dict) else None
            if not isinstance(names, list) or any(not isinstance(n, str) or _host_matches(n, host) for n in names):
                return f"lists it under [registries.{kind}] (or that table is malformed)"
    return None


def what_applies(host: str, env: Mapping[str, str] | None = None) -> str | None:
    """Why the containers tools would treat ``host`` differently from a plain connection to it (file and
    reason), or None when no registries.conf file says anything about it."""
    env = os.environ if env is None else env
    for path in _files(env):
        try:
            with path.open("rb") as fh:
                raw = fh.read(MAX_FILE + 1)
        except FileNotFoundError:
            continue
        except OSError as exc:
            return f"{path} cannot be read ({exc.strerror})"
        if len(raw) > MAX_FILE:
            return f"{path} is larger than {MAX_FILE} bytes"
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            return f"{path} does not parse ({exc})"
        reason = _about(data, host)
        if reason:
            return f"{path} {reason}"
    return None
