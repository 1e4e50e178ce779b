"""Third-party backends arrive through the ``skillctl.backends`` entry-point group, like the built-in ones."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from skillctl.backends.base import Backend, Capability
from skillctl.registry import selection as selection

PLUGIN = """
from typing import ClassVar
from skillctl.backends.base import Capability, CLIBackend


class EchoBackend(CLIBackend):
    name: ClassVar[str] = "echo-tool"
    tool: ClassVar[str] = "echo"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.TAGS})
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "skillctl_echo_plugin.py").write_text(PLUGIN)
    dist = tmp_path / "skillctl_echo_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: skillctl-echo-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[skillctl.backends]\necho-tool = skillctl_echo_plugin:EchoBackend\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    selection._entry_points.cache_clear()
    selection.load.cache_clear()
    yield
    selection._entry_points.cache_clear()
    selection.load.cache_clear()
    sys.modules.pop("skillctl_echo_plugin", None)


def test_builtins_register_through_the_entry_point_group() -> None:
    assert selection.backend_names()[:4] == ["skopeo", "crane", "podman", "buildah"]
    registered = {name: ep.value for name, ep in selection._entry_points().items()}  # type: ignore[attr-defined]
    assert {name: f"{module}:{attr}" for name, (module, attr) in selection.BUILTIN.items()} == registered


def test_a_builtin_loads_without_reading_package_metadata() -> None:
    selection._entry_points.cache_clear()
    selection.load.cache_clear()
    try:
        chosen = selection.select(None, env={})
        assert chosen.name == "skopeo" and selection._entry_points.cache_info().currsize == 0
    finally:
        selection.load.cache_clear()


def test_a_third_party_backend_is_found_selected_and_used_by_capability(plugin: None) -> None:
    assert "echo-tool" in selection.backend_names()
    chosen = selection.select("echo-tool", env={})
    assert chosen.name == "echo-tool" and chosen.reason == "echo-tool: chosen by --backend"
    assert isinstance(chosen.backend, Backend)
    assert selection.capable(chosen, Capability.TAGS, operation="list tags") is chosen
    # What it cannot do is handed to an installed built-in, which says so.
    reader = selection.capable(chosen, Capability.MANIFEST, operation="read manifests")
    assert reader.name == "skopeo" and "echo-tool cannot read manifests" in reader.reason
    assert selection.select(None, env={"SKILLCTL_BACKEND": "echo-tool"}).name == "echo-tool"


def test_auto_detection_keeps_the_documented_order(plugin: None) -> None:
    assert selection.select(None, env={}).name == "skopeo"
