"""The interop suite: skillctl side by side with the Go skillctl (redhat-et/skillimage), both ways.

The Go tool is found through ``SKILLCTL_GO``, else ``skillctl-go`` on PATH (``make interop`` builds it
from the source in ``$SKILLCTL_PEERS``); a missing binary fails every test here. It speaks HTTPS only,
so both tools use the TLS registry (htpasswd auth) and a Git server on loopback, trusting the test CA
through ``SSL_CERT_FILE`` / ``GIT_SSL_CAINFO``. Each tool has a HOME of its own (its store, its
credentials, its agents' directories); they meet only where a user would let them: the registry, Git,
and a skills directory given to both with ``-o``.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from gitserver import GitServer, serve_git
from peerkit import Peers, Tool, make_home
from registry import Registry, tls_registry

__all__ = ["tls_registry"]


def go_binary() -> str:
    path = os.environ.get("SKILLCTL_GO") or shutil.which("skillctl-go")
    if not path or not Path(path).is_file():
        pytest.fail(
            "the Go skillctl is not available: run 'make interop' (it builds skillctl-go from "
            "$SKILLCTL_PEERS), or set SKILLCTL_GO to its path",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def git_server(tls_registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    server_dir = tls_registry.root / "server"
    with serve_git(tmp_path_factory.mktemp("git-repos"), server_dir / "server.crt", server_dir / "server.key") as srv:
        yield srv


@pytest.fixture
def peers(tmp_path: Path, tls_registry: Registry, git_server: GitServer) -> Peers:
    go = go_binary()
    assert tls_registry.cert_dir is not None
    ca = tls_registry.cert_dir / "ca.crt"
    go_home, go_env = make_home(tmp_path / "go-home", tls_registry, ca)
    our_home, our_env = make_home(tmp_path / "our-home", tls_registry, ca)
    ours = [str(Path(sys.executable).parent / "skillctl")]
    assert Path(ours[0]).is_file(), f"the skillctl console script is not installed next to {sys.executable}"
    return Peers(
        Tool("go", [go], go_home, go_env),
        Tool("ours", ours, our_home, our_env),
        tls_registry,
        git_server,
        tmp_path,
    )
