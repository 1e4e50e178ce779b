"""Messages real use found wrong: hints that point elsewhere, verbs that say the wrong thing, JSON that drops
what the message names, and a reporting command that refused -q."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from registry import Registry, unique_skill

from skillctl.cli.app import DEFAULT_HINTS, cli
from skillctl.core.errors import ExitCode

pytestmark = pytest.mark.integration

NO_TLS = "--tls-verify=false"
LOCAL_IMAGES_HINT = DEFAULT_HINTS[ExitCode.NOT_FOUND]


def run(store: Path, *args: object, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, ["--store", str(store), *map(str, args)], env=env)


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def hint_of(result: Result) -> str:
    return next(line for line in result.stderr.splitlines() if line.startswith("hint: "))


def test_uninstall_and_logout_hints_are_their_own(tmp_path: Path) -> None:
    result = run(tmp_path / "store", "uninstall", "nothing", "-o", tmp_path / "skills")
    assert result.exit_code == ExitCode.NOT_FOUND
    assert LOCAL_IMAGES_HINT not in result.stderr and "list --installed" in hint_of(result)
    result = run(tmp_path / "store", "logout", "registry.example:5000")
    assert result.exit_code == ExitCode.NOT_FOUND
    assert LOCAL_IMAGES_HINT not in result.stderr and "skillctl login" in hint_of(result)


def test_install_names_the_version_once_and_load_push_says_pushed(registry: Registry, tmp_path: Path) -> None:
    store = tmp_path / "store"
    ok(run(store, "pack", unique_skill(tmp_path / "src" / "demo")))
    repo = registry.repo("demo")
    ok(run(store, "push", "test/demo:1.0.0-draft", f"{repo}:1.0.0-draft", NO_TLS))
    ok(run(store, "push", "test/demo:1.0.0-draft", f"{repo}:latest", NO_TLS))
    out = tmp_path / "skills"
    result = ok(run(store, "install", f"{repo}:1.0.0-draft", "-o", out, NO_TLS))
    assert result.stdout == f"Installed {repo}:1.0.0-draft to {out / 'demo'}\n"
    result = ok(run(store, "install", f"{repo}:latest", "-o", out, NO_TLS))
    assert result.stdout == f"Installed {repo}:latest (1.0.0) to {out / 'demo'} (replaced 1.0.0)\n"

    bundle = tmp_path / "b.tar"
    ok(run(store, "save", f"{repo}:1.0.0-draft", "-o", bundle, "--no-signatures", NO_TLS))
    pushed = ok(run(store, "load", bundle, "--push", f"{registry.host}/loaded", NO_TLS))
    assert pushed.stdout.startswith(f"Pushed {registry.host}/loaded/") and "Loaded" not in pushed.stdout
    assert ok(run(tmp_path / "fresh", "load", bundle)).stdout.startswith("Loaded ")


def test_failed_verify_json_names_the_digest(registry: Registry, tmp_path: Path) -> None:
    store = tmp_path / "store"
    keys = json.loads(
        ok(
            run(store, "keygen", "--output-dir", tmp_path / "k", "--format", "json", env={"COSIGN_PASSWORD": "x"})
        ).stdout
    )
    assert keys == {"privateKey": str(tmp_path / "k" / "cosign.key"), "publicKey": str(tmp_path / "k" / "cosign.pub")}
    quiet = ok(run(store, "keygen", "--output-dir", tmp_path / "q", "-q", env={"COSIGN_PASSWORD": "x"}))
    assert quiet.stdout.splitlines() == [str(tmp_path / "q" / "cosign.key"), str(tmp_path / "q" / "cosign.pub")]

    ok(run(store, "pack", unique_skill(tmp_path / "src" / "demo")))
    ref = f"{registry.repo('demo')}:1.0.0-draft"
    digest = json.loads(ok(run(store, "push", "test/demo:1.0.0-draft", ref, NO_TLS, "--format", "json")).stdout)[
        "digest"
    ]
    result = run(store, "verify", ref, "--key", keys["publicKey"], NO_TLS, "--format", "json")
    assert result.exit_code == ExitCode.INTEGRITY
    document = json.loads(result.stdout)
    assert document["digest"] == digest and document["verified"] == 0
    assert digest in document["error"]
