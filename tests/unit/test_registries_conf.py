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
        '[[registry]]\nlocation = "registry.example.com"\n',  # without the port: containers/image covers it
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
        '[[registry]]\nlocation = "registry.example.co"\n',  # a name that only starts the same
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


def test_the_users_file_and_the_systems_are_both_read(env: dict[str, str]) -> None:
    """skopeo reads the user's file instead of the system's, when there is one; reading both can only make
    skillctl leave more pulls to the tools."""
    system = Path(env["SKILLCTL_SYSTEM_REGISTRIES_CONF"])
    user = Path(env["HOME"]) / ".config/containers/registries.conf"
    user.parent.mkdir(parents=True)
    for applies_in in (system, user):
        system.write_text("")
        user.write_text("")
        applies_in.write_text(f'[[registry]]\nlocation = "{HOST}"\n')
        assert what_applies(HOST, env) is not None, applies_in


def test_xdg_config_home_is_read(env: dict[str, str], tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    (xdg / "containers/registries.conf.d").mkdir(parents=True)
    (xdg / "containers/registries.conf.d/1.conf").write_text(f'[registries.block]\nregistries = ["{HOST}"]\n')
    assert what_applies(HOST, env) is None
    assert what_applies(HOST, {**env, "XDG_CONFIG_HOME": str(xdg)}) is not None


def test_the_users_drop_ins_are_read(env: dict[str, str]) -> None:
    drop_ins = Path(env["HOME"]) / ".config/containers/registries.conf.d"
    drop_ins.mkdir(parents=True)
    (drop_ins / "ignored.toml").write_text(f'[[registry]]\nlocation = "{HOST}"\n')
    assert what_applies(HOST, env) is None
    (drop_ins / "10-insecure.conf").write_text(f'[registries.insecure]\nregistries = ["{HOST}"]\n')
    assert what_applies(HOST, env) is not None


@pytest.mark.parametrize("variable", ["CONTAINERS_REGISTRIES_CONF", "CONTAINERS_REGISTRIES_CONF_OVERRIDE"])
def test_the_files_podman_is_pointed_at_are_read_too(variable: str, env: dict[str, str], tmp_path: Path) -> None:
    chosen = tmp_path / "chosen.conf"
    chosen.write_text(f'[[registry]]\nprefix = "{HOST}/team"\nlocation = "mirror.local/team"\n')
    assert what_applies(HOST, env) is None
    assert what_applies(HOST, {**env, variable: str(chosen)}) is not None
    assert what_applies(HOST, {**env, variable: str(tmp_path / "missing.conf")}) is None


def test_a_prefix_without_the_port_covers_the_host_with_one(env: dict[str, str]) -> None:
    Path(env["SKILLCTL_SYSTEM_REGISTRIES_CONF"]).write_text('[[registry]]\nprefix = "registry.corp"\nblocked = true\n')
    assert what_applies("registry.corp:5000", env) is not None
    assert what_applies("registry.corp", env) is not None
    assert what_applies("registry.corporate:5000", env) is None


def test_docker_hub_has_three_names(env: dict[str, str]) -> None:
    Path(env["SKILLCTL_SYSTEM_REGISTRIES_CONF"]).write_text(
        '[[registry]]\nprefix = "docker.io"\nlocation = "docker.io"\n[[registry.mirror]]\nlocation = "m.local"\n'
    )
    assert what_applies("index.docker.io", env) is not None
    assert what_applies("registry-1.docker.io", env) is not None


def test_an_unreadable_file_applies(env: dict[str, str]) -> None:
    Path(env["SKILLCTL_SYSTEM_REGISTRIES_CONF"]).mkdir()  # a directory where the file should be
    assert what_applies(HOST, env) is not None
