"""The round trip real use ran on public skill repositories, kept green on the project's own examples.

Each example goes through ``init`` (when it has only a SKILL.md, as skills in public repositories do),
``validate``, ``pack``, ``push``, ``pull -o`` and ``install -o`` through the CLI against the session
registry: what arrives must be the example's files byte for byte with their exec bits, and packing it
again from another checkout must give the same digest. ``devcontainer-setup`` ships a dotfile its
Dockerfile needs (re-included by its ``.skillignore``); ``repo-tools`` lists ``allowed-tools`` as a YAML
list and has no ``skill.yaml``.
"""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result
from conftest import EXAMPLES
from registry import Registry

from skillctl.cli.app import cli

pytestmark = pytest.mark.integration

NO_TLS = "--tls-verify=false"
ALL_EXAMPLES = sorted(p.name for p in EXAMPLES.iterdir() if (p / "SKILL.md").is_file())


def run(store: Path, *args: object) -> Result:
    return CliRunner().invoke(cli, ["--store", str(store), *map(str, args)])


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def content(root: Path, *, skip: tuple[str, ...] = ()) -> dict[str, tuple[bytes, bool]]:
    """Every regular file under ``root``: (bytes, executable), by relative path."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not path.is_symlink() and rel not in skip:
            found[rel] = (path.read_bytes(), bool(path.stat().st_mode & stat.S_IXUSR))
    return found


def test_the_examples_cover_what_real_use_found() -> None:
    assert {"hello-world", "log-triage", "devcontainer-setup", "repo-tools"} <= set(ALL_EXAMPLES)
    assert (EXAMPLES / "devcontainer-setup" / "resources" / ".zshrc").is_file()
    assert not (EXAMPLES / "repo-tools" / "skill.yaml").exists()
    assert isinstance(
        yaml.safe_load((EXAMPLES / "repo-tools" / "SKILL.md").read_text().split("---")[1])["allowed-tools"], list
    )


@pytest.mark.parametrize("example", ALL_EXAMPLES)
def test_example_round_trips_byte_for_byte(example: str, registry: Registry, tmp_path: Path) -> None:
    source = tmp_path / "checkout-a" / example
    shutil.copytree(EXAMPLES / example, source, symlinks=True)
    store = tmp_path / "store"
    if not (source / "skill.yaml").exists():
        init = json.loads(ok(run(store, "init", source, "--format", "json")).stdout)
        assert init["fromSkillMd"] is True
        if example == "repo-tools":
            assert init["skillcard"]["metadata"]["allowed-tools"] == "Read Grep Bash(git log:*)"
            assert init["skillcard"]["metadata"]["version"] == "0.2.0"
    ok(run(store, "validate", source))
    packed = json.loads(ok(run(store, "pack", source, "--format", "json")).stdout)
    assert not [w for w in packed["warnings"] if "left out" in w["message"]], packed["warnings"]
    name, tag = packed["ref"].rsplit(":", 1)
    dest = f"{registry.repo(name.rsplit('/', 1)[-1])}:{tag}"
    pushed = json.loads(ok(run(store, "push", packed["ref"], dest, NO_TLS, "--format", "json")).stdout)
    assert pushed["digest"] == packed["digest"] == registry.digest(dest)

    expected = content(source, skip=(".skillignore",))
    pulled = tmp_path / "pulled"
    ok(run(tmp_path / "consumer", "pull", dest, "-o", pulled, NO_TLS))
    installed = tmp_path / "skills"
    ok(run(tmp_path / "consumer", "install", dest, "-o", installed, NO_TLS))
    skill_name = dest.rsplit(":", 1)[0].rsplit("/", 1)[-1]
    assert content(pulled / skill_name) == expected
    # install also records the install in skill.yaml the way the Go tool reads it; everything else is as packed.
    assert content(installed / skill_name, skip=("skill.yaml",)) == content(source, skip=(".skillignore", "skill.yaml"))
    card = yaml.safe_load((installed / skill_name / "skill.yaml").read_text())
    assert card.pop("provenance") == {"source": dest, "commit": pushed["digest"]}
    packed_card = yaml.safe_load((source / "skill.yaml").read_text())
    packed_card["metadata"]["version"] = tag  # the Go tool records the tag it installed as the version
    assert card == packed_card
    if example == "devcontainer-setup":
        assert "resources/.zshrc" in content(installed / skill_name)

    # Another checkout, another store: the same digest.
    again = tmp_path / "checkout-b" / example
    shutil.copytree(source, again, symlinks=True)
    repacked = json.loads(ok(run(tmp_path / "store-b", "pack", again, "--format", "json")).stdout)
    assert repacked["digest"] == packed["digest"]
