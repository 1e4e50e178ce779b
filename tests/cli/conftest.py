"""CliRunner fixtures: every command runs against the test's own store."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from click.testing import CliRunner, Result

from skillctl.cli.app import cli


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def run(runner, store_path) -> Callable[..., Result]:
    """``run("pack", path)`` = ``skillctl --store STORE pack PATH``; unexpected exceptions propagate."""

    def invoke(*args: object, input: str | None = None, env: dict[str, str] | None = None, store: bool = True):
        argv = [*(["--store", str(store_path)] if store else []), *(str(a) for a in args)]
        return runner.invoke(cli, argv, input=input, env=env, catch_exceptions=False, prog_name="skillctl")

    return invoke


@pytest.fixture
def packed(run, hello) -> dict:
    """examples/hello-world packed into the test's store; the ``pack --format json`` output."""
    result = run("pack", hello, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)
