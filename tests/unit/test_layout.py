"""The package layout: the public API stays put, every room says what it may import, and the layering
contracts in pyproject.toml cover every subpackage and fail on an upward import."""

from __future__ import annotations

import importlib
import pkgutil
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import skillctl

REPO = Path(__file__).resolve().parents[2]
PUBLIC = [
    "ExitCode",
    "Finding",
    "InitResult",
    "PackResult",
    "Reference",
    "SkillCard",
    "SkillctlError",
    "Store",
    "UnpackLimits",
    "ValidationReport",
    "__version__",
    "default_store_path",
    "init_skill",
    "inspect_image",
    "list_images",
    "pack",
    "parse_reference",
    "prune",
    "remove_images",
    "tag_image",
    "unpack_image",
    "validate_skill",
]


def subpackages() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(skillctl.__path__) if m.ispkg)


def contracts() -> dict[str, dict]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return {c["id"]: c for c in config["tool"]["importlinter"]["contracts"]}


def test_public_names_are_pinned():
    assert sorted(skillctl.__all__) == sorted(PUBLIC)
    for name in PUBLIC:
        assert getattr(skillctl, name) is not None, name


def test_public_functions_are_functions_whatever_was_imported_first():
    importlib.import_module("skillctl.image.pack")
    importlib.import_module("skillctl.store.images")
    assert callable(skillctl.pack) and skillctl.pack.__module__ == "skillctl.image.pack"
    assert callable(skillctl.prune) and skillctl.prune.__module__ == "skillctl.store.images"


def test_every_subpackage_says_what_it_holds_and_may_import():
    for name in subpackages():
        module = importlib.import_module(f"skillctl.{name}")
        doc = module.__doc__ or ""
        assert len(doc.strip()) > 40, f"skillctl.{name} has no docstring saying what it holds"
        if name not in ("cli", "core"):
            assert "May import" in doc, f"skillctl.{name}'s docstring does not say what it may import"


def test_the_floors_contract_names_every_subpackage():
    floors = contracts()["floors"]
    named = {room.strip() for layer in floors["layers"] for room in layer.split("|")}
    assert named == set(subpackages())
    assert floors["exhaustive"] is True


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe, "lint-imports is not installed (it comes with the dev extra)"
    # import-linter puts the working directory first on sys.path: the copy in root is what it analyses.
    return subprocess.run(
        [exe, str(REPO / "pyproject.toml")], cwd=root, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    shutil.copytree(Path(skillctl.__file__).parent, tmp_path / "skillctl", ignore=shutil.ignore_patterns("*.pyc"))
    return tmp_path


def test_the_contracts_hold(package_copy):
    result = _lint(package_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("core/refs.py", "from skillctl.registry import client", "skillctl.core is not allowed to import"),
        ("store/layout.py", "from skillctl.image import pack", "skillctl.store is not allowed to import"),
        ("consume/install.py", "from skillctl.lifecycle import promote", "skillctl.consume is not allowed to import"),
        ("cli/kube.py", "from skillctl.cli import store", "skillctl.cli.kube is not allowed to import"),
        ("backends/crane.py", "from skillctl.backends import skopeo", "skillctl.backends.crane is not allowed"),
    ],
)
def test_an_upward_or_sideways_import_breaks_the_lint(package_copy, module, line, broken):
    path = package_copy / "skillctl" / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}  # noqa\n", encoding="utf-8")
    result = _lint(package_copy)
    assert result.returncode != 0
    assert broken in result.stdout
