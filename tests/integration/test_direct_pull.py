"""Pulling over the registry API, straight into the store (``skillctl.registry.download``).

When no backend is named and no registries.conf file says anything about the registry, ``pull`` fetches the
blobs itself. It must store exactly what skopeo stores, cut a blob off at its declared size, keep nothing of a
blob that does not match, download nothing the store has, and leave the pull to the backend whenever the tools
would treat the registry differently (a registries.conf entry) or the user named one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cli_helpers import assert_error, ok_json
from click.testing import CliRunner, Result
from hostile_registry import (
    Reply,
    Seen,
    build_image,
    endless,
    hostile_registry,
    sha256,
    skill_files,
    tar_of,
    write_authfile,
)
from registry import Registry, need_tool, unique_skill

import skillctl
from skillctl.cli.app import cli
from skillctl.core.errors import NotFoundError
from skillctl.core.registry_options import RegistryOptions
from skillctl.registry import transfer
from skillctl.registry.client import RegistrySession

pytestmark = pytest.mark.integration

NO_TLS = "--tls-verify=false"


def skillctl_run(store: Path, *args: object) -> Result:
    argv = ["--store", str(store), *(str(a) for a in args)]
    return CliRunner().invoke(cli, argv, catch_exceptions=False, prog_name="skillctl")


def blob_files(store: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (store / "blobs" / "sha256").iterdir()}


def leftovers(store: Path) -> list[Path]:
    tmp = store / ".skillctl" / "tmp"
    return list(tmp.iterdir()) if tmp.exists() else []


@pytest.fixture
def pushed(tmp_path: Path, tls_registry: Registry, isolated_env: Path) -> tuple[str, str, Path]:
    """A fresh skill pushed to the TLS registry with htpasswd auth: (reference, digest, auth file)."""
    need_tool("skopeo")
    store = skillctl.Store(tmp_path / "packed")
    packed = skillctl.pack(unique_skill(tmp_path / "src" / "demo"), store=store)
    assert tls_registry.username and tls_registry.password
    authfile = write_authfile(tmp_path / "auth.json", tls_registry.host, tls_registry.username, tls_registry.password)
    ref = f"{tls_registry.repo('demo')}:1.0.0-draft"
    opts = RegistryOptions(cert_dir=tls_registry.cert_dir, authfile=authfile, timeout=120)
    pushed = transfer.push(packed.ref, ref, store=store, backend="skopeo", opts=opts)
    return ref, pushed.digest, authfile


def test_a_pull_with_no_backend_named_stores_what_skopeo_stores(
    pushed: tuple[str, str, Path], tls_registry: Registry, tmp_path: Path
) -> None:
    ref, digest, authfile = pushed
    flags = ["--cert-dir", tls_registry.cert_dir, "--authfile", authfile, "--format", "json"]
    direct, tool = tmp_path / "direct", tmp_path / "tool"

    ours = ok_json(skillctl_run(direct, "-v", "pull", ref, *flags, "-o", tmp_path / "out"))
    theirs = ok_json(skillctl_run(tool, "pull", ref, *flags, "--backend", "skopeo"))

    assert ours["backend"] == "registry-api" and theirs["backend"] == "skopeo"
    assert ours["digest"] == theirs["digest"] == ours["registryDigest"] == digest
    assert blob_files(direct) == blob_files(tool)
    index = json.loads((direct / "index.json").read_bytes())
    assert [(m["digest"], m["annotations"]["org.opencontainers.image.ref.name"]) for m in index["manifests"]] == [
        (digest, ref)
    ]
    assert (tmp_path / "out" / "demo" / "SKILL.md").is_file()
    assert leftovers(direct) == []


def test_a_second_pull_downloads_no_blob_the_store_has(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with hostile_registry() as reg:
        image = build_image()
        reg.put_image("ns/skill", "1.0.0", image)
        first = ok_json(skillctl_run(store, "pull", reg.ref("ns/skill"), NO_TLS, "--format", "json"))
        blobs_first = len(reg.requests(r"/v2/ns/skill/blobs/.*"))
        ok_json(skillctl_run(store, "pull", reg.ref("ns/skill"), NO_TLS, "--format", "json"))
        blobs_second = len(reg.requests(r"/v2/ns/skill/blobs/.*")) - blobs_first
    assert first["backend"] == "registry-api" and first["digest"] == image.digest
    assert blobs_first == 2 and blobs_second == 0


def test_an_endless_layer_is_cut_off_at_its_declared_size(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with hostile_registry() as reg:
        image = build_image(layer_size=233)
        reg.put_image("ns/skill", "1.0.0", image)
        layer = json.loads(image.manifest)["layers"][0]["digest"]
        reg.route("GET", f"/v2/ns/skill/blobs/{layer}", lambda m, s: endless(limit=512 * 1024 * 1024))
        result = skillctl_run(store, "pull", reg.ref("ns/skill"), NO_TLS, "--timeout", "120")
        sent = reg.sent.get(f"/v2/ns/skill/blobs/{layer}", 0)
    assert_error(result, 10, "233")
    assert sent < 64 * 1024 * 1024, f"{sent} bytes went out for a 233-byte layer"
    assert leftovers(store) == []
    assert layer.split(":")[1] not in blob_files(store)


def test_a_layer_that_does_not_match_its_digest_is_not_kept(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with hostile_registry() as reg:
        image = build_image()
        reg.put_image("ns/skill", "1.0.0", image)
        layer = json.loads(image.manifest)["layers"][0]["digest"]
        forged = bytes(len(image.layers[0]))  # the declared size, other bytes
        reg.route("GET", f"/v2/ns/skill/blobs/{layer}", lambda m, s: Reply(200, {}, forged))
        result = skillctl_run(store, "pull", reg.ref("ns/skill"), NO_TLS)
    assert_error(result, 10, "did not match")
    assert layer.split(":")[1] not in blob_files(store)
    assert json.loads((store / "index.json").read_bytes())["manifests"] == []
    assert leftovers(store) == []


def test_a_short_layer_is_not_kept(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with hostile_registry() as reg:
        image = build_image()
        reg.put_image("ns/skill", "1.0.0", image)
        layer = json.loads(image.manifest)["layers"][0]
        short = image.layers[0][:-10]
        reg.route("GET", f"/v2/ns/skill/blobs/{layer['digest']}", lambda m, s: Reply(200, {}, short))
        result = skillctl_run(store, "pull", reg.ref("ns/skill"), NO_TLS)
    assert_error(result, 10, f"sent {len(short)} bytes; the manifest declares {layer['size']}")
    assert layer["digest"].split(":")[1] not in blob_files(store)
    assert leftovers(store) == []


def _registries_conf(path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path.write_text(text)
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(path))


@pytest.mark.parametrize(
    ("conf", "expected"),
    [
        ('[[registry]]\nlocation = "{host}"\ninsecure = true\n', "skopeo"),
        ('[[registry]]\nprefix = "{host}/ns"\nlocation = "{host}/ns"\n', "skopeo"),
        ('[registries.insecure]\nregistries = ["{host}"]\n', "skopeo"),
        ('credential-helpers = ["containers-auth.json", "secretservice"]\n', "skopeo"),
        ("this is [not toml\n", "skopeo"),
        ('[[registry]]\nlocation = "other.example:5000"\nblocked = true\n', "registry-api"),
        ('unqualified-search-registries = ["docker.io"]\n', "registry-api"),
    ],
)
def test_the_backend_pulls_where_registries_conf_names_the_registry(
    conf: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    need_tool("skopeo")
    store = tmp_path / "store"
    with hostile_registry() as reg:
        image = build_image()
        reg.put_image("ns/skill", "1.0.0", image)
        _registries_conf(tmp_path / "registries.conf", conf.replace("{host}", reg.host), monkeypatch)
        result = ok_json(skillctl_run(store, "pull", reg.ref("ns/skill"), NO_TLS, "--format", "json"))
    assert (result["backend"], result["digest"]) == (expected, image.digest)


def test_a_named_backend_pulls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    need_tool("crane")
    with hostile_registry() as reg:
        image = build_image()
        reg.put_image("ns/skill", "1.0.0", image)
        flags = [NO_TLS, "--format", "json"]
        named = ok_json(skillctl_run(tmp_path / "a", "pull", reg.ref("ns/skill"), *flags, "--backend", "crane"))
        monkeypatch.setenv("SKILLCTL_BACKEND", "crane")
        from_env = ok_json(skillctl_run(tmp_path / "b", "pull", reg.ref("ns/skill"), *flags))
    assert named["backend"] == from_env["backend"] == "crane"


def test_a_registry_api_failure_leaves_the_pull_to_the_backend(tmp_path: Path) -> None:
    """A blob read that fails for this client but not for the tools (here: by User-Agent) is not the end."""
    need_tool("skopeo")

    def only_the_tools(match: object, seen: Seen) -> Reply | None:
        tool = seen.headers.get("user-agent", "").startswith(("skopeo/", "containers/"))
        return None if tool else Reply(503, {}, b"busy")

    store = tmp_path / "store"
    with hostile_registry() as reg:
        image = build_image()
        reg.put_image("ns/skill", "1.0.0", image)
        reg.route("GET", r"/v2/ns/skill/blobs/.*", only_the_tools)
        result = ok_json(skillctl_run(store, "pull", reg.ref("ns/skill"), NO_TLS, "--format", "json"))
    assert (result["backend"], result["digest"]) == ("skopeo", image.digest)
    assert leftovers(store) == []


def test_a_connection_broken_mid_blob_leaves_the_pull_to_the_backend(tmp_path: Path) -> None:
    """Half a body announced whole is a broken transfer (a network error: the tool tries), not a complete blob
    that fails its digest, and the half is neither kept nor sent into the blob a second time."""
    need_tool("skopeo")
    store = tmp_path / "store"
    with hostile_registry() as reg:
        image = build_image(layer_tar=tar_of(skill_files(**{"data.bin": os.urandom(300_000)})))
        reg.put_image("ns/skill", "1.0.0", image)
        layer = image.layers[0]

        def half_for_us(match: object, seen: Seen) -> Reply | None:
            if seen.headers.get("user-agent", "").startswith(("skopeo/", "containers/")):
                return None
            return Reply(200, {}, [layer[: len(layer) // 2]], length=len(layer))

        reg.route("GET", f"/v2/ns/skill/blobs/{sha256(layer)}", half_for_us)
        result = ok_json(skillctl_run(store, "pull", reg.ref("ns/skill"), NO_TLS, "--format", "json"))
        ours = [s for s in reg.requests(f"/v2/ns/skill/blobs/{sha256(layer)}") if "user-agent" not in s.headers]
    assert (result["backend"], result["digest"]) == ("skopeo", image.digest)
    assert len(ours) == 1  # not sent again into the same blob
    assert leftovers(store) == []


def test_a_session_keeps_its_connection(registry: Registry) -> None:
    repo = registry.repo("kept").split("/", 1)[1]
    session = RegistrySession(registry.host, RegistryOptions(tls_verify=False, timeout=60))
    try:
        for _ in range(3):
            with pytest.raises(NotFoundError):
                session.manifest(repo, "missing")
            with pytest.raises(NotFoundError):
                session.head(repo, "missing")
        assert session.requests == {"manifest": 3, "head": 3}
        assert len(session._kept) == 1  # six requests, one connection
    finally:
        session.close()


def test_the_registry_api_pull_honours_the_tls_and_auth_options(
    pushed: tuple[str, str, Path], tls_registry: Registry, tmp_path: Path
) -> None:
    ref, _, authfile = pushed
    store = tmp_path / "store"
    no_ca = skillctl_run(store, "pull", ref, "--authfile", authfile, "--timeout", "60")
    assert no_ca.exit_code != 0  # the CA is unknown: TLS verification refuses, as skopeo does
    wrong = write_authfile(tmp_path / "wrong.json", tls_registry.host, "robot", "not-the-password")
    denied = skillctl_run(store, "pull", ref, "--cert-dir", tls_registry.cert_dir, "--authfile", wrong)
    assert denied.exit_code != 0
    assert "not-the-password" not in denied.output
    blobs = store / "blobs" / "sha256"
    assert not blobs.exists() or not any(blobs.iterdir())
