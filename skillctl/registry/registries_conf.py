"""Whether ``containers-registries.conf(5)`` says anything about a registry: the test for pulling in process.

skopeo, podman and buildah read registries.conf before they touch a registry: a ``[[registry]]`` table can move
it (``location``), mirror it, block it or make it insecure, and ``credential-helpers`` can change where
credentials come from. skillctl's own registry client does none of that, so it pulls a blob itself only when
no file says anything about the registry; otherwise the backend pulls, and applies the file as it always has.

Read conservatively: every file one of the tools might read (see :func:`_files`), a table about the registry's
host whatever its path, and any file that cannot be read or parsed, all count as "says something".
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

SYSTEM_FILE: Final = Path("/etc/containers/registries.conf")
SYSTEM_DIR: Final = Path("/etc/containers/registries.conf.d")
EXTRA_FILES: Final = (Path("/usr/share/containers/registries.conf"),)
EXTRA_DIRS: Final = (
    Path("/usr/share/containers/registries.conf.d"),
    Path("/etc/containers/registries.rootful.conf.d"),
    Path("/etc/containers/registries.rootless.conf.d"),
)
DOCKER_HUB: Final = ("docker.io", "index.docker.io", "registry-1.docker.io")
"""Names containers/image treats as one registry."""
DEFAULT_HELPERS: Final = ["containers-auth.json"]
MAX_FILE: Final = 1024 * 1024


def _home(env: Mapping[str, str]) -> Path | None:
    if env.get("HOME"):
        return Path(env["HOME"])
    try:
        import pwd

        return Path(pwd.getpwuid(os.getuid()).pw_dir)
    except (ImportError, KeyError):
        return None


def _files(env: Mapping[str, str]) -> Iterator[Path]:
    """Every file some containers tool might read, whichever it would pick: podman and buildah honour
    ``$CONTAINERS_REGISTRIES_CONF``, skopeo does not; newer libraries also read ``/usr/share``,
    ``$XDG_CONFIG_HOME`` and the rootful/rootless drop-in directories."""
    home = _home(env)
    configs = [Path(env["XDG_CONFIG_HOME"])] if env.get("XDG_CONFIG_HOME") else []
    if home is not None:
        configs.append(home / ".config")
    system = Path(env.get("SKILLCTL_SYSTEM_REGISTRIES_CONF") or SYSTEM_FILE)
    files = [Path(env[v]) for v in ("CONTAINERS_REGISTRIES_CONF", "CONTAINERS_REGISTRIES_CONF_OVERRIDE") if env.get(v)]
    files += [c / "containers/registries.conf" for c in configs] + [system, *EXTRA_FILES]
    system_dir = Path(env.get("SKILLCTL_SYSTEM_REGISTRIES_CONF_D") or SYSTEM_DIR)
    dirs = [system_dir, *EXTRA_DIRS, *(c / "containers/registries.conf.d" for c in configs)]
    yield from dict.fromkeys(files)
    for directory in dict.fromkeys(dirs):
        if directory.is_dir():
            yield from sorted(p for p in directory.iterdir() if p.suffix == ".conf")


def _host_matches(prefix: str, host: str) -> bool:
    """A prefix's host part against ``host`` (``host[:port]``), as containers/image matches prefixes: equal,
    the host without its port (``registry.corp`` covers ``registry.corp:5000``), or a ``*.domain`` wildcard."""
    pattern = prefix.split("/", 1)[0]
    if pattern.startswith("*."):
        return host.split(":", 1)[0].endswith(pattern[1:])
    return pattern == host or host.startswith(pattern + ":")


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
    import tomllib  # only pulls that might go over the registry API read these files

    env = os.environ if env is None else env
    hosts = DOCKER_HUB if host in DOCKER_HUB else (host,)
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
        reason = next(filter(None, (_about(data, h) for h in hosts)), None)
        if reason:
            return f"{path} {reason}"
    return None
