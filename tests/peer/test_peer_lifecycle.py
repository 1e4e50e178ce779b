"""prune after a lifecycle mixed between the two tools in one store: which tags each keeps."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from conftest import EXAMPLES
from peerkit import Peers, Tool

pytestmark = pytest.mark.peer

REF = "examples/hello-world"


def on_store(tool: Tool, data: Path) -> Tool:
    """The tool working on the store under ``data`` (the Go tool's $XDG_DATA_HOME/skillctl/store, ours --store)."""
    store = data / "skillctl" / "store"
    if tool.name == "go":
        return dataclasses.replace(tool, env={**tool.env, "XDG_DATA_HOME": str(data)})
    return dataclasses.replace(tool, argv0=[*tool.argv0, "--store", str(store)])


def tags_after_prune(tool: Tool, data: Path) -> set[str]:
    pruned = on_store(tool, data)
    pruned.ok("prune")
    return set(pruned.refs(data / "skillctl" / "store"))


# Each step: (tool, command). "pack" builds examples/hello-world 1.0.0.
SCENARIOS = {
    "ours-first": ["ours pack", "go testing", "ours published", "go deprecated"],
    "go-first": ["go pack", "ours testing", "go published", "ours deprecated"],
    "go-archives": ["ours pack", "go testing", "ours published", "go deprecated", "go archived"],
    "ours-archives": ["ours pack", "go testing", "ours published", "go deprecated", "ours archived"],
}
FROM = {"testing": "1.0.0-draft", "published": "1.0.0-testing", "deprecated": "1.0.0", "archived": "1.0.0"}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_prune_keeps_the_same_tags_in_both_tools(peers: Peers, scenario: str) -> None:
    data = peers.tmp / "shared"
    skill = peers.tmp / "hello-world"
    shutil.copytree(EXAMPLES / "hello-world", skill)
    for step in SCENARIOS[scenario]:
        who, what = step.split()
        tool = on_store(peers.go if who == "go" else peers.ours, data)
        if what == "pack":
            tool.ok("build", skill)
        else:
            tool.ok("promote", f"{REF}:{FROM[what]}", "--to", what, "--local")
    results = {}
    for tool in (peers.go, peers.ours):
        copy = peers.tmp / f"{tool.name}-copy"
        shutil.copytree(data, copy)
        results[tool.name] = tags_after_prune(tool, copy)
    if scenario == "ours-archives":
        # The documented difference: ours archives by digest (the version tag goes), and the archived
        # manifest supersedes that version's older tags. The Go tool cannot see untagged manifests, so
        # for it the newest state left is testing, and it keeps 1.0.0-testing.
        assert results == {"go": {f"{REF}:1.0.0-testing"}, "ours": set()}
    else:
        assert results["go"] == results["ours"] == {f"{REF}:1.0.0"}, results
