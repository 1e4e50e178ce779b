"""Helpers of the interop suite (tests/peer): the two tools, each with its own HOME, and their output."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from gitserver import GitServer
from registry import Registry


@dataclass
class Tool:
    """One skillctl, Go or ours, with its own HOME."""

    name: str
    argv0: list[str]
    home: Path
    env: dict[str, str]

    def __call__(self, *args: object, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.argv0, *map(str, args)],
            env=self.env,
            input=input,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            stdin=None if input is not None else subprocess.DEVNULL,
        )

    def ok(self, *args: object, input: str | None = None) -> str:
        done = self(*args, input=input)
        assert done.returncode == 0, f"{self.name} {' '.join(map(str, args))}: exit {done.returncode}\n{done.stderr}"
        return done.stdout

    @property
    def store(self) -> Path:
        return self.home / ".local" / "share" / "skillctl" / "store"

    def refs(self, store: Path | None = None) -> dict[str, str]:
        """The store's tags: full reference -> manifest digest (read from index.json, as either tool writes it)."""
        index = (store or self.store) / "index.json"
        if not index.exists():
            return {}
        out = {}
        for entry in json.loads(index.read_text())["manifests"]:
            name = (entry.get("annotations") or {}).get("org.opencontainers.image.ref.name")
            if name:
                out[name] = entry["digest"]
        return out


def make_home(root: Path, reg: Registry, ca: Path) -> tuple[Path, dict[str, str]]:
    home = root
    for sub in (".local/share", ".config", ".local/state", ".cache", "run", ".docker"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    token = base64.b64encode(f"{reg.username}:{reg.password}".encode()).decode()
    (home / ".docker" / "config.json").write_text(json.dumps({"auths": {reg.host: {"auth": token}}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SKILLCTL_", "XDG_", "DOCKER_", "REGISTRY_"))}
    env.update(
        HOME=str(home),
        XDG_DATA_HOME=str(home / ".local/share"),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_STATE_HOME=str(home / ".local/state"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_RUNTIME_DIR=str(home / "run"),
        SSL_CERT_FILE=str(ca),
        GIT_SSL_CAINFO=str(ca),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_TERMINAL_PROMPT="0",
        LC_ALL="C.UTF-8",
    )
    env.pop("SOURCE_DATE_EPOCH", None)
    return home, env


@dataclass
class Peers:
    go: Tool
    ours: Tool
    registry: Registry
    git: GitServer
    tmp: Path

    @property
    def ca(self) -> Path:
        assert self.registry.cert_dir is not None
        return self.registry.cert_dir / "ca.crt"

    def both(self) -> list[tuple[Tool, Tool]]:
        """(writer, reader) both ways: Go writes and ours reads, then ours writes and Go reads."""
        return [(self.go, self.ours), (self.ours, self.go)]


def table(text: str) -> list[dict[str, str]]:
    """Rows of a tabwriter table (the Go tool's list output), cut at the header's column starts."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    header = lines[0]
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    names = header.split()
    rows = []
    for line in lines[1:]:
        cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], len(line) + 1], strict=True)]
        rows.append(dict(zip(names, cells, strict=True)))
    return rows


def manifest(tool: Tool, ref: str) -> dict:
    """The manifest a tool's store holds under ``ref`` (read from the OCI layout directly)."""
    digest = tool.refs()[ref]
    return json.loads((tool.store / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes())


def files(root: Path) -> dict[str, bytes]:
    """Every regular file under ``root`` by relative path, skill.yaml left out (each tool records installs there)."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.relative_to(root).as_posix() != "skill.yaml"
    }
