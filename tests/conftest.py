"""Shared fixtures: every test runs with its own HOME, XDG dirs, store and no credentials."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import skillctl

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"

ISOLATED_VARS = (
    "SKILLCTL_STORE",
    "SKILLCTL_BACKEND",
    "REGISTRY_AUTH_FILE",
    "DOCKER_CONFIG",
    "SOURCE_DATE_EPOCH",
    "CONTAINERS_CONF",
    "CONTAINERS_REGISTRIES_CONF",
    "CONTAINERS_STORAGE_CONF",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "COSIGN_PASSWORD",
    "SKILLCTL_CERT_DIR",
)


def pytest_sessionstart(session: pytest.Session) -> None:
    # The suite tests the installed package, never the source tree next to it.
    installed = Path(skillctl.__file__).resolve()
    if installed.is_relative_to(REPO) and ".venv" not in installed.parts:
        raise pytest.UsageError(f"skillctl is imported from the source tree ({installed}); run 'make test'")


def isolation(home: Path) -> dict[str, str | None]:
    """The environment changes that give a test its own HOME and XDG dirs (created) and none of the user's settings.

    ``None`` means "unset"; the mapping suits ``CliRunner.invoke(env=...)`` in fixtures wider than one test.
    """
    env: dict[str, str | None] = dict.fromkeys(ISOLATED_VARS)
    env["HOME"] = str(home)
    for var, sub in (
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_STATE_HOME", ".local/state"),
        ("XDG_CACHE_HOME", ".cache"),
        ("XDG_RUNTIME_DIR", "run"),
    ):
        (home / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(home / sub)
    # Never the machine's /etc/containers: the system certs.d roots are the test's own (empty) directory, and the
    # system signature policy a file that does not exist (no policy, as on a machine without containers-common).
    (home / "system-certs.d").mkdir(exist_ok=True)
    env["SKILLCTL_SYSTEM_CERTS_D"] = str(home / "system-certs.d")
    env["SKILLCTL_SYSTEM_POLICY"] = str(home / "system-policy.json")
    return env


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("home")
    for var, value in isolation(home).items():
        if value is None:
            monkeypatch.delenv(var, raising=False)
        else:
            monkeypatch.setenv(var, value)
    return home


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def store(store_path: Path) -> skillctl.Store:
    return skillctl.Store(store_path)


@pytest.fixture
def hello(tmp_path: Path) -> Path:
    """A private copy of examples/hello-world."""
    dest = tmp_path / "hello-world"
    shutil.copytree(EXAMPLES / "hello-world", dest)
    return dest


def require_tool(name: str) -> str:
    """The path of an external tool; a missing tool fails the test (CI installs them all)."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed; run 'make tools' (CI installs it)", pytrace=False)
    return path
