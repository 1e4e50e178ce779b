"""The start-up budget: each command imports only what it uses.

Start-up is most of the time of an everyday command (``validate``, ``pack``, ``list``, ``inspect``), so a
command that starts to import a heavy module it does not need (a schema validator, YAML, the crypto libraries,
an HTTP client, the web server, the registry backends) fails here, before it shows in ``bench/``. Each case runs
the installed CLI in a fresh interpreter under ``python -X importtime`` and reads the modules it imported.
"""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_tool

import skillctl.cli
from skillctl.cli.app import ALIASES, COMMAND_MODULES

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello-world"

# Heavy to import, and needed by few commands. A package stands for its submodules.
HEAVY = (
    "jsonschema",
    "yaml",
    "semver",
    "pathspec",
    "cryptography",
    "nacl",
    "http.client",
    "ssl",
    "urllib3",
    "requests",
    "starlette",
    "uvicorn",
    "mcp",
    "skillctl.backends",
    "skillctl.registry",
    "skillctl.trust",
    "skillctl.card",
    "skillctl.image",
    "skillctl.consume.install",
    "skillctl.serve",
    "skillctl.mcp",
    "skillctl.catalog",
)
# Standard-library modules that cost milliseconds each and that the reading commands have no use for: logging
# (deferred until something logs, see skillctl.core.logs), argparse (semver's CLI loads it), the temporary files
# of writes (tempfile, shutil), subprocess (commands that run no tool), strptime's parser.
STDLIB = ("logging", "argparse", "tempfile", "shutil", "subprocess", "_strptime", "importlib.metadata")
# What reading and checking a skill directory takes: semver only for a card with dependencies (version ranges).
MAIN = "import sys; from skillctl.cli import main; main(sys.argv[1:])"
SKILL_DIR = {"yaml", "skillctl.card"}  # pathspec only with a .skillignore
# What writing to the store takes: temporary files renamed into place.
WRITES = {"tempfile", "shutil"}


def imported(argv: list[str], cwd: Path) -> set[str]:
    """The modules ``skillctl ARGV`` imports, as ``python -X importtime`` reports them."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", MAIN, *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"skillctl {' '.join(argv)}: {result.stdout}{result.stderr[-2000:]}"
    lines = [line for line in result.stderr.splitlines() if line.startswith("import time:")]
    assert lines, "python -X importtime reported nothing"
    return {line.rsplit("|", 1)[1].strip() for line in lines[1:]}  # the first line is the header


def heavy(modules: set[str], allowed: set[str] = frozenset(), names: tuple[str, ...] = HEAVY) -> list[str]:
    """The ``names`` (HEAVY packages unless told) not in ``allowed`` that ``modules`` contains."""
    return sorted(
        name for name in names if name not in allowed and any(m == name or m.startswith(f"{name}.") for m in modules)
    )


def test_the_version_loads_neither_click_nor_the_library(tmp_path):
    modules = imported(["--version"], tmp_path)
    assert "click" not in modules
    assert not heavy(modules)
    assert not any(m.startswith("skillctl.") and m not in ("skillctl._version", "skillctl.cli") for m in modules)


def test_the_command_table_names_every_command_in_its_module():
    found: dict[str, str] = {}
    for info in pkgutil.iter_modules(skillctl.cli.__path__):
        module = importlib.import_module(f"skillctl.cli.{info.name}")
        for command in getattr(module, "COMMANDS", []):
            assert command.name not in found, f"{command.name} is in two modules"
            found[command.name] = info.name
    assert found == COMMAND_MODULES
    assert set(ALIASES.values()) <= set(COMMAND_MODULES)


def test_the_top_level_help_loads_no_library(tmp_path):
    modules = imported(["--help"], tmp_path)
    assert not heavy(modules)
    assert not {m for m in modules if m.startswith(("skillctl.store", "skillctl.lifecycle", "skillctl.airgap"))}


@pytest.mark.parametrize("command", sorted({*COMMAND_MODULES, "completion"}))
def test_a_command_help_loads_only_its_own_module(tmp_path, command):
    modules = imported([command, "--help"], tmp_path)
    assert not heavy(modules), command
    own = COMMAND_MODULES.get(command)
    others = {f"skillctl.cli.{name}" for name in COMMAND_MODULES.values() if name != own}
    assert not modules & others, sorted(modules & others)


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding examples/hello-world:1.0.0-draft, the cwd for the cases below."""
    cwd = tmp_path_factory.mktemp("startup")
    subprocess.run(
        [sys.executable, "-c", MAIN, "--store", str(cwd / "store"), "pack", str(EXAMPLE)],
        cwd=cwd,
        capture_output=True,
        check=True,
        timeout=120,
    )
    return cwd


# (argv after `skillctl --store STORE`, the HEAVY packages the command needs)
CASES = [
    (["validate", str(EXAMPLE)], SKILL_DIR),
    (["validate", "--format", "json", str(EXAMPLE)], SKILL_DIR),
    # pack asks git whether the skill's files are committed (the image's date): a tool run, logged with -v.
    (
        ["pack", str(EXAMPLE), "-t", "examples/hello-world:again"],
        {*SKILL_DIR, *WRITES, "skillctl.image", "logging", "subprocess"},
    ),
    (["init", "fresh-skill"], {*SKILL_DIR, *WRITES}),
    (["diff", str(EXAMPLE), str(EXAMPLE)], {*SKILL_DIR, *WRITES, "skillctl.image"}),
    (["list"], set()),
    (["list", "--format", "json"], set()),
    (["ls", "-q"], set()),
    (["inspect", "examples/hello-world:1.0.0-draft"], set()),
    (["inspect", "--format", "json", "examples/hello-world:1.0.0-draft"], set()),
    (["tag", "examples/hello-world:1.0.0-draft", "examples/hello-world:copy"], WRITES),
    (["prune"], WRITES),
]


@pytest.mark.parametrize(("argv", "needs"), CASES, ids=[" ".join(argv[:2]) for argv, _ in CASES])
def test_a_local_command_loads_only_what_it_uses(packed, argv, needs):
    modules = imported(["--store", str(packed / "store"), *argv], packed)
    assert not heavy(modules, needs, (*HEAVY, *STDLIB)), f"skillctl {' '.join(argv)}"
    assert not modules & {f"skillctl.cli.{name}" for name in COMMAND_MODULES.values()} - {
        f"skillctl.cli.{COMMAND_MODULES[ALIASES.get(argv[0], argv[0])]}"
    }


def test_verbose_lines_appear_when_logging_loads_late(packed):
    """The CLI defers its log set-up until a library module asks for a logger (skillctl.core.logs): ``pack``
    loads logging only when it runs git, and the -v and -vv lines of that run still appear, as before."""
    require_tool("git")

    def log_lines(*flags: str) -> list[str]:
        argv = [*flags, "--store", str(packed / "store"), "pack", str(EXAMPLE), "-t", "examples/hello-world:verbose"]
        result = subprocess.run(
            [sys.executable, "-c", MAIN, *argv], cwd=packed, capture_output=True, text=True, timeout=120, check=False
        )
        assert result.returncode == 0, result.stderr
        return [line for line in result.stderr.splitlines() if line.startswith("skillctl: ")]

    assert log_lines() == []
    verbose = log_lines("-v")
    assert any(line.startswith("skillctl: running: git ") for line in verbose), verbose
    assert not any(line.startswith("skillctl: exit ") for line in verbose), verbose
    for flags in (["-vv"], ["--debug"]):
        assert any(line.startswith("skillctl: exit ") for line in log_lines(*flags)), flags
