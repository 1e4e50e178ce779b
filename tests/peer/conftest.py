"""Fixtures for the `peer` tests: the Go skillctl (``skillctl-go``) side by side with ours.

``make interop`` builds skillctl-go from its source tarball and runs the tests marked ``peer``; ``make test`` leaves
them out. Each test module here carries ``pytestmark = pytest.mark.peer``.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def skillctl_go(isolated_env: Path) -> Callable[..., str]:
    """Run skillctl-go with the test's HOME (so its default store is the test's) and return its stdout.

    A missing skillctl-go fails the test, as every missing tool does.
    """
    exe = shutil.which("skillctl-go")
    if exe is None:
        pytest.fail(
            "skillctl-go is not installed; run 'make interop' (it builds it from the source tarball in "
            "$SKILLCTL_PEERS)",
            pytrace=False,
        )

    def run(*args: str) -> str:
        proc = subprocess.run([exe, *args], capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, (args, proc.returncode, proc.stdout, proc.stderr)
        return proc.stdout

    return run
