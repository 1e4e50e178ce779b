"""The registry commands through the CLI, against a real CNCF distribution registry.

The README's flow runs verbatim (pack, push, list REPO, inspect, pull -o), then
login/logout, and one exit code per error class.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_helpers import assert_error
from click.testing import CliRunner, Result
from registry import Registry, down_registry, need_tool, registry, tls_registry, unique_skill

from skillctl.cli.app import cli
from skillctl.core.errors import ExitCode

__all__ = ["down_registry", "registry", "tls_registry"]  # fixtures used here

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
HELLO = REPO_ROOT / "examples" / "hello-world"
Run = Callable[..., Result]


@pytest.fixture(autouse=True)
def tools() -> None:
    need_tool("skopeo")


def hello_digest(run: Run) -> str:
    details = json.loads(run("inspect", "examples/hello-world:1.0.0-draft", "--format", "json").stdout)
    return str(details["digest"])


def test_readme_flow_verbatim(
    run: Run, registry: Registry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, store_path: Path
) -> None:
    monkeypatch.chdir(REPO_ROOT)
    host = registry.host

    packed = run("pack", "examples/hello-world")
    assert packed.exit_code == 0, packed.stderr
    digest = hello_digest(run)
    assert digest in packed.stdout or digest[7:19] in packed.stdout

    # REF is not in the store: the one local image with the same name and tag is pushed, and the output says which.
    pushed = run("push", f"{host}/myorg/hello-world:1.0.0-draft", "--tls-verify=false")
    assert pushed.exit_code == 0, pushed.stderr
    assert pushed.stdout.splitlines() == [f"Pushed {host}/myorg/hello-world:1.0.0-draft", f"Digest: {digest}"]
    assert "pushing local examples/hello-world:1.0.0-draft" in pushed.stderr
    assert registry.digest(f"{host}/myorg/hello-world:1.0.0-draft") == digest, "the registry holds pack's digest"

    listed = run("list", f"{host}/myorg/hello-world", "--tls-verify=false")
    assert listed.exit_code == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split()[:5] == ["TAG", "STATUS", "VERSION", "DIGEST", "SIZE"]
    assert [row.split()[:4] for row in rows] == [["1.0.0-draft", "draft", "1.0.0", digest[7:19]]]
    as_json = json.loads(run("list", f"{host}/myorg/hello-world", "--tls-verify=false", "--format", "json").stdout)
    documented = ("ref", "repository", "tag", "digest", "status", "version")  # more keys may be added
    assert [{k: row[k] for k in documented} for row in as_json] == [
        {
            "ref": f"{host}/myorg/hello-world:1.0.0-draft",
            "repository": f"{host}/myorg/hello-world",
            "tag": "1.0.0-draft",
            "digest": digest,
            "status": "draft",
            "version": "1.0.0",
        }
    ]
    assert isinstance(as_json[0]["size"], int) and as_json[0]["size"] > 0

    inspected = run("inspect", f"{host}/myorg/hello-world:1.0.0-draft", "--tls-verify=false")
    assert inspected.exit_code == 0, inspected.stderr
    assert f"Digest:     {digest}" in inspected.stdout
    # The remote fallback: a store without the reference reads the registry, annotations included.
    empty_store = tmp_path / "empty-store"
    remote = CliRunner().invoke(
        cli, ["--store", str(empty_store), "inspect", f"{host}/myorg/hello-world:1.0.0-draft", "--tls-verify=false"]
    )
    assert remote.exit_code == 0, remote.stderr
    assert f"{host}/myorg/hello-world:1.0.0-draft (registry)" in remote.stdout
    assert f"Digest:     {digest}" in remote.stdout
    annotations = remote.stdout.split("\nAnnotations:\n", 1)[1].splitlines()
    assert "  io.skillimage.status=draft" in annotations
    assert "  org.opencontainers.image.title=Hello World" in annotations
    assert "  org.opencontainers.image.version=1.0.0" in annotations
    forced = run("inspect", f"{host}/myorg/hello-world:1.0.0-draft", "--remote", "--tls-verify=false")
    assert "(registry)" in forced.stdout

    skills = tmp_path / "skills"
    pulled = run("pull", f"{host}/myorg/hello-world:1.0.0-draft", "-o", str(skills), "--tls-verify=false")
    assert pulled.exit_code == 0, pulled.stderr
    assert pulled.stdout.splitlines() == [
        f"Pulled {host}/myorg/hello-world:1.0.0-draft",
        f"Digest: {digest}",
        f"Unpacked to {skills / 'hello-world'}",
    ]
    expected = sorted(p.relative_to(HELLO).as_posix() for p in HELLO.rglob("*") if p.is_file())
    unpacked = skills / "hello-world"
    assert sorted(p.relative_to(unpacked).as_posix() for p in unpacked.rglob("*") if p.is_file()) == expected
    for rel in expected:
        assert (unpacked / rel).read_bytes() == (HELLO / rel).read_bytes()


def test_inspect_remote_says_whether_a_creation_time_is_recorded(
    run: Run, registry: Registry, hello: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def created_line(ref: str) -> list[str]:
        result = run("inspect", "--remote", ref, "--tls-verify=false")
        assert result.exit_code == 0, result.stderr
        return [line for line in result.stdout.splitlines() if line.startswith("  Created:")]

    plain = f"{registry.repo('created')}:1.0.0"
    assert run("pack", hello, "--tag", plain).exit_code == 0
    assert run("push", plain, "--tls-verify=false").exit_code == 0
    assert created_line(plain) == ["  Created:    not recorded (pack with SOURCE_DATE_EPOCH set to record one)"]

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    dated = f"{registry.repo('created')}:1.0.0-dated"
    assert run("pack", hello, "--tag", dated).exit_code == 0
    assert run("push", dated, "--tls-verify=false").exit_code == 0
    assert created_line(dated) == ["  Created:    2023-11-14T22:13:20Z"]


def test_push_and_pull_json(run: Run, registry: Registry, packed: dict, tmp_path: Path) -> None:
    ref = f"{registry.repo('hello-world')}:1.0.0-draft"
    pushed = json.loads(run("push", packed["ref"], ref, "--tls-verify=false", "--format", "json").stdout)
    # The documented keys (more may be added, none renamed).
    assert {k: pushed[k] for k in ("source", "ref", "digest", "localDigest", "digestChanged", "backend")} == {
        "source": packed["ref"],
        "ref": ref,
        "digest": packed["digest"],
        "localDigest": packed["digest"],
        "digestChanged": False,
        "backend": "skopeo",
    }
    assert pushed["notes"] == []  # the local image was named: nothing to explain
    pulled = run(
        "pull", ref, "-o", str(tmp_path / "out"), "--tls-verify=false", "--format", "json", "--backend", "crane"
    )
    pulled_json = json.loads(pulled.stdout)
    assert {k: pulled_json[k] for k in ("ref", "digest", "registryDigest", "backend", "unpackedTo", "notes")} == {
        "ref": ref,
        "digest": packed["digest"],
        "registryDigest": packed["digest"],
        "backend": "crane",
        "unpackedTo": str(tmp_path / "out" / "hello-world"),
        "notes": [],
    }
    assert run("push", ref, "--tls-verify=false", "-q").stdout == packed["digest"] + "\n"


def test_push_through_podman_reports_the_changed_digest(run: Run, registry: Registry, tmp_path: Path) -> None:
    need_tool("podman")
    skill = unique_skill(tmp_path / "demo")
    local = json.loads(run("pack", skill, "--format", "json").stdout)["digest"]
    ref = f"{registry.repo('demo')}:1.0.0-draft"
    pushed = run("push", "test/demo:1.0.0-draft", ref, "--tls-verify=false", "--backend", "podman")
    assert pushed.exit_code == 0, pushed.stderr
    remote = registry.digest(ref)
    assert remote and remote != local
    assert pushed.stdout.splitlines() == [f"Pushed {ref}", f"Digest: {remote}"]
    assert f"warning: podman re-compressed the layer: the registry's digest is {remote}" in pushed.stderr
    # The store records the registry's manifest under the pushed reference.
    recorded = json.loads(run("inspect", ref, "--format", "json").stdout)
    assert (recorded["digest"], recorded["source"]) == (remote, "local")


def test_several_local_candidates(run: Run, registry: Registry, hello: Path) -> None:
    assert run("pack", hello).exit_code == 0
    assert run("pack", hello, "--tag", "same/hello-world:1.0.0-draft").exit_code == 0
    repo = registry.repo("hello-world")
    # The same image under two names is one candidate.
    assert run("push", f"{repo}:1.0.0-draft", "--tls-verify=false").exit_code == 0
    (hello / "extra.md").write_text("different content\n")
    assert run("pack", hello, "--tag", "other/hello-world:1.0.0-draft").exit_code == 0
    other = registry.repo("hello-world")
    result = run("push", f"{other}:1.0.0-draft", "--tls-verify=false")
    assert_error(result, ExitCode.CONFLICT, "examples/hello-world:1.0.0-draft", "other/hello-world:1.0.0-draft")
    assert registry.tags(other) == []


def test_no_local_candidate(run: Run, registry: Registry, packed: dict) -> None:
    result = run("push", f"{registry.repo('nothing-like-it')}:1.0.0-draft", "--tls-verify=false")
    assert_error(result, ExitCode.NOT_FOUND, "nothing-like-it")


def test_verbose_says_which_backend_and_why(run: Run, registry: Registry, packed: dict) -> None:
    need_tool("crane")
    ref = f"{registry.repo('hello-world')}:1.0.0-draft"
    auto = run("-v", "push", packed["ref"], ref, "--tls-verify=false")
    assert auto.exit_code == 0, auto.stderr
    assert "backend skopeo: the first installed of skopeo, crane, podman, buildah" in auto.stderr
    by_env = run("-v", "push", packed["ref"], ref, "--tls-verify=false", env={"SKILLCTL_BACKEND": "crane"})
    assert by_env.exit_code == 0, by_env.stderr
    assert "backend crane: chosen by SKILLCTL_BACKEND" in by_env.stderr
    by_flag = run("-v", "pull", ref, "--tls-verify=false", "--backend", "crane", env={"SKILLCTL_BACKEND": "podman"})
    assert by_flag.exit_code == 0, by_flag.stderr
    assert "backend crane: chosen by --backend" in by_flag.stderr


def test_login_push_logout(run: Run, tls_registry: Registry, packed: dict, isolated_env: Path) -> None:
    assert tls_registry.username and tls_registry.password
    host = tls_registry.host
    certs = ("--cert-dir", str(tls_registry.cert_dir))
    auth_file = isolated_env / "run" / "containers" / "auth.json"
    ref = f"{tls_registry.repo('hello-world')}:1.0.0-draft"

    rejected = run("login", host, "-u", tls_registry.username, "--password-stdin", *certs, input="wrong\n")
    assert_error(rejected, ExitCode.AUTH, host)
    assert not auth_file.exists()
    assert_error(run("login", host, "--password-stdin", *certs, input="x\n"), ExitCode.USAGE, "--username")

    logged_in = run(
        "login", host, "-u", tls_registry.username, "--password-stdin", *certs, input=tls_registry.password + "\n"
    )
    assert logged_in.exit_code == 0, logged_in.stderr
    assert logged_in.stdout.startswith("Login Succeeded!")
    assert str(auth_file) in logged_in.stdout
    assert auth_file.stat().st_mode & 0o777 == 0o600
    token = base64.b64encode(f"{tls_registry.username}:{tls_registry.password}".encode()).decode()
    assert json.loads(auth_file.read_text())["auths"][host] == {"auth": token}

    pushed = run("push", packed["ref"], ref, *certs)
    assert pushed.exit_code == 0, pushed.stderr
    assert tls_registry.digest(ref) == packed["digest"]
    listed = json.loads(run("list", ref.rsplit(":", 1)[0], *certs, "--format", "json").stdout)
    assert [row["tag"] for row in listed] == ["1.0.0-draft"]

    logged_out = run("logout", host)
    assert logged_out.exit_code == 0, logged_out.stderr
    assert f"Removed login credentials for {host}" in logged_out.stdout
    assert host not in json.loads(auth_file.read_text()).get("auths", {})
    assert_error(run("push", packed["ref"], ref, *certs), ExitCode.AUTH, "unauthorized")
    assert_error(run("logout", host), ExitCode.NOT_FOUND, host, hint=False)


def test_authfile_option_and_environment(
    run: Run, tls_registry: Registry, packed: dict, tmp_path: Path, isolated_env: Path
) -> None:
    assert tls_registry.username and tls_registry.password
    certs = ("--cert-dir", str(tls_registry.cert_dir))
    authfile = tmp_path / "auth.json"
    logged_in = run(
        "login", tls_registry.host, "-u", tls_registry.username, "--password-stdin", "--authfile", authfile, *certs,
        input=tls_registry.password + "\n",
    )  # fmt: skip
    assert logged_in.exit_code == 0, logged_in.stderr
    assert authfile.exists() and not (isolated_env / "run" / "containers" / "auth.json").exists()
    ref = f"{tls_registry.repo('hello-world')}:1.0.0-draft"
    assert run("push", packed["ref"], ref, "--authfile", authfile, *certs).exit_code == 0
    for backend in ("skopeo", "crane"):
        pulled = run("pull", ref, *certs, "--backend", backend, env={"REGISTRY_AUTH_FILE": str(authfile)})
        assert pulled.exit_code == 0, pulled.stderr
    assert_error(run("pull", ref, *certs), ExitCode.AUTH)


def test_exit_codes(
    run: Run,
    registry: Registry,
    tls_registry: Registry,
    down_registry: str,
    packed: dict,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    src = packed["ref"]
    repo = registry.repo("hello-world")
    assert run("push", src, f"{repo}:1.0.0-draft", "--tls-verify=false").exit_code == 0

    # 2: usage
    assert_error(run("push", src), ExitCode.USAGE, "not a registry reference")
    assert_error(run("push", src, "examples/elsewhere:1.0.0"), ExitCode.USAGE, "not a registry reference")
    assert_error(run("push", src, f"{repo}:1.0.0-draft", "--backend", "docker"), ExitCode.USAGE, "docker")
    assert run("push", src, f"{repo}:x", "--timeout", "0").exit_code == ExitCode.USAGE
    # 4: not found
    assert_error(run("pull", f"{repo}:9.9.9", "--tls-verify=false"), ExitCode.NOT_FOUND, "has no tag 9.9.9; it holds")
    assert_error(run("list", registry.repo("never-pushed"), "--tls-verify=false"), ExitCode.NOT_FOUND)
    # 6: auth
    tls_ref = f"{tls_registry.repo('hello-world')}:1.0.0-draft"
    assert_error(run("push", src, tls_ref, "--cert-dir", tls_registry.cert_dir), ExitCode.AUTH, "unauthorized")
    # 7: network and TLS
    assert_error(run("push", src, f"{down_registry}/x/hello-world:1", "--tls-verify=false"), ExitCode.NETWORK)
    assert_error(run("push", src, tls_ref, "--cert-dir", tls_registry.wrong_cert_dir), ExitCode.NETWORK, "certificate")
    assert_error(run("push", src, f"{repo}:1.0.0-draft"), ExitCode.NETWORK, "--tls-verify=false")
    assert_error(run("pull", f"{repo}:1.0.0-draft", "--backend", "crane"), ExitCode.NETWORK, "TLS")
    # 8: missing tool
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("skopeo", "podman", "buildah"):
        (bin_dir / tool).symlink_to(need_tool(tool))
    monkeypatch.setenv("PATH", str(bin_dir))
    missing = run("push", src, f"{repo}:1.0.0-draft", "--tls-verify=false", "--backend", "crane")
    assert_error(missing, ExitCode.MISSING_TOOL, "crane", "go install")
