"""Fixtures shared by the integration tests: the registries (defined in tests/registry.py) and signing keys."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from registry import down_registry, need_tool, no_delete_registry, registry, tls_registry

from skillctl.trust.signing import generate_key_pair

__all__ = ["cosign_key", "down_registry", "key", "no_delete_registry", "registry", "tls_registry"]


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A key pair of ours (cosign's format), passphrase ``pw``."""
    return generate_key_pair(tmp_path_factory.mktemp("key"), b"pw")


@pytest.fixture(scope="module")
def cosign_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A key pair made by cosign v3 itself, passphrase ``pw``."""
    where = tmp_path_factory.mktemp("cosign-key")
    done = subprocess.run(
        [need_tool("cosign3"), "generate-key-pair"], cwd=where, capture_output=True, timeout=120, check=False,
        env={"PATH": os.environ["PATH"], "HOME": str(where), "COSIGN_PASSWORD": "pw"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return where / "cosign.key", where / "cosign.pub"
