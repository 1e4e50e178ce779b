"""Assertions shared by the CLI tests."""

from __future__ import annotations

import json
from typing import Any

from click.testing import Result


def assert_error(result: Result, code: int, *fragments: str, hint: bool = True) -> str:
    """Exit ``code``; stderr holds exactly one ``Error:`` line (plus a ``hint:``), no traceback; nothing on stdout.

    Returns the ``Error:`` line.
    """
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == "", result.stdout
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr
    if hint:
        assert [line for line in lines if line.startswith("hint: ")], result.stderr
        assert lines.index(errors[0]) < lines.index(next(x for x in lines if x.startswith("hint: ")))
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)
    return errors[0]


def ok_json(result: Result) -> Any:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return json.loads(result.stdout)


def tags(run) -> list[str]:
    """The local tags, as ``skillctl list -q`` prints them."""
    return run("list", "-q").stdout.splitlines()
