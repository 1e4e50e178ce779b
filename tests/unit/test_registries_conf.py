"""Which registries.conf files are read, and what in them counts as saying something about a registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from skillctl.registry.registries_conf import what_applies

HOST = "registry.example.com:5000"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A HOME of its own and empty stand-ins for the system file and drop-in directory."""
    (tmp_path / "home").mkdir()
    (tmp_path / "system.d").mkdir()
    return {
        "HOME": str(tmp_path / "home"),
        "SKILLCTL_SYSTEM_REGISTRIES_CONF": str(tmp_path / "system.conf"),
        "SKILLCTL_SYSTEM_REGISTRIES_CONF_D": str(tmp_path / "system.d"),
    }


@pytest.mark.parametrize(
    "text",
    [
        f'[[registry]]\nlocation = "{HOST}"\n',
        f'[[registry]]\nprefix = "{HOST}/team/skills"\nlocation = "mirror.local/skills"\n',
        '[[registry]]\nprefix = "*.example.com"\nblocked = true\n',
        f'[[registry]]\nlocation = "{HOST}"\n[[registry.mirror]]\nlocation = "mirror.local"\n',
        f'[registries.insecure]\nregistries = ["{HOST}"]\n',
        f'[registries.block]\nregistries = ["{HOST}"]\n',
        "[registries]\ninsecure = 3\n",
        'credential-helpers = ["secretservice"]\n',
        "[registry]\nlocation = 1\n",
        "not = [toml\n",
    ],
)
def test_an_entry_about_the_registry_applies(text: str, env: dict[str, str]) -> None:
    Path(env["SKILLCTL_SYSTEM_REGISTRIES_CONF"]).write_text(text)
    assert what_applies(HOST, env) is not None


@pytest.mark.parametrize(
    "text",
    [
        "",
        'unqualified-search-registries = ["docker.io", "quay.io"]\nshort-name-mode = "enforcing"\n',
        '[aliases]\n"fedora" = "registry.fedoraproject.org/fedora"\n',
        '[[registry]]\nlocation = "registry.example.com"\n',  # the same host name on another port
        '[[registry]]\nprefix = "*.example.org"\nblocked = true\n',
        '[registries.insecure]\nregistries = ["other:5000"]\n',
        'credential-helpers = ["containers-auth.json"]\n',
    ],
)
def test_entries_about_other_registries_do_not(text: str, env: dict[str, str]) -> None:
    Path(env["SKILLCTL_SYSTEM_REGISTRIES_CONF"]).write_text(text)
    assert what_applies(HOST, env) is None


def test_the_file_that_applies_is_named(env: dict[str, str], tmp_path: Path) -> None:
    drop_in = Path(env["SKILLCTL_SYSTEM_REGISTRIES_CONF_D"]) / "50-mirror.conf"
    drop_in.write_text(f'[[registry]]\nlocation = "{HOST}"\n')
    reason = what_applies(HOST, env)
    assert reason is not None and str(drop_in) in reason


def test_the_users_file_replaces_the_systems(env: dict[str, str]) -> None:
    Path(env["SKILLCTL_SYSTEM_REGISTRIES_CONF"]).write_text(f'[[registry]]\nlocation = "{HOST}"\n')
    user = Path(env["HOME"]) / ".config/containers/registries.conf"
    user.parent.mkdir(parents=True)
    user.write_text("")
    assert what_applies(HOST, env) is None
    user.write_text(f'[[registry]]\nlocation = "{HOST}"\n')
    assert what_applies(HOST, env) is not None


def test_the_users_drop_ins_are_read(env: dict[str, str]) -> None:
    drop_ins = Path(env["HOME"]) / ".config/containers/registries.conf.d"
    drop_ins.mkdir(parents=True)
    (drop_ins / "ignored.toml").write_text(f'[[registry]]\nlocation = "{HOST}"\n')
    assert what_applies(HOST, env) is None
    (drop_ins / "10-insecure.conf").write_text(f'[registries.insecure]\nregistries = ["{HOST}"]\n')
    assert what_applies(HOST, env) is not None


def test_containers_registries_conf_replaces_both_files(env: dict[str, str], tmp_path: Path) -> None:
    Path(env["SKILLCTL_SYSTEM_REGISTRIES_CONF"]).write_text(f'[[registry]]\nlocation = "{HOST}"\n')
    chosen = tmp_path / "chosen.conf"
    chosen.write_text("")
    assert what_applies(HOST, {**env, "CONTAINERS_REGISTRIES_CONF": str(chosen)}) is None
    missing = {**env, "CONTAINERS_REGISTRIES_CONF": str(tmp_path / "missing.conf")}
    assert what_applies(HOST, missing) is None


def test_an_unreadable_file_applies(env: dict[str, str]) -> None:
    Path(env["SKILLCTL_SYSTEM_REGISTRIES_CONF"]).mkdir()  # a directory where the file should be
    assert what_applies(HOST, env) is not None
