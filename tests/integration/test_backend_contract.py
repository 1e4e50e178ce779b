"""One contract, four backends: the same scenarios against real registries through skopeo, crane, podman and buildah.

skopeo and crane must keep our bytes (the digest ``pack`` printed is the
registry's); podman and buildah re-compress a layer the registry has never seen,
so through them the config and annotations must survive, the changed digest
must be reported, and the store must record what the registry really holds.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from registry import Registry, need_tool, unique_skill

import skillctl
from skillctl.backends.base import Capability, RegistryOptions
from skillctl.core import oci
from skillctl.core.errors import (
    AuthError,
    DeadlineExceeded,
    ExitCode,
    IntegrityError,
    NetworkError,
    NotFoundError,
    SkillctlError,
    TLSError,
    ToolError,
    ToolNotFoundError,
    UnsupportedOperation,
    UsageError,
)
from skillctl.core.refs import Reference, parse_reference
from skillctl.image.pack import PackResult
from skillctl.registry import login, remote, transfer
from skillctl.registry.selection import AUTO_ORDER, Selection, backend_names, capable, load, select

pytestmark = pytest.mark.integration

BACKENDS = ("skopeo", "crane", "podman", "buildah")
EXACT = frozenset({"skopeo", "crane"})
# Registry down: skopeo and crane fail at once; podman retries for ~3 s and buildah for ~6 s (notes §2.j).
DOWN_SECONDS = {"skopeo": 5.0, "crane": 5.0, "podman": 12.0, "buildah": 15.0}
TIMEOUT = 120.0


# -- fixtures and helpers ---------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    need_tool(request.param)
    need_tool("skopeo")  # sets up content, and reads manifests back for podman and buildah
    return str(request.param)


@pytest.fixture
def image(tmp_path: Path, store: skillctl.Store) -> PackResult:
    """A freshly packed skill whose layer no registry has seen yet."""
    return skillctl.pack(unique_skill(tmp_path / "src" / "demo"), store=store)


def insecure() -> RegistryOptions:
    return RegistryOptions(tls_verify=False, timeout=TIMEOUT)


def tls(reg: Registry, cert_dir: Path | None = None) -> RegistryOptions:
    return RegistryOptions(cert_dir=cert_dir or reg.cert_dir, timeout=TIMEOUT)


def seed(image: PackResult, ref: str, store: skillctl.Store, opts: RegistryOptions | None = None) -> None:
    """Put ``image`` in the registry with the reference backend (skopeo), byte for byte."""
    result = transfer.push(image.ref, ref, store=store, backend="skopeo", opts=opts or insecure())
    assert result.digest == image.digest


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def uncompressed_layer_digests(reg: Registry, repo: str, manifest: dict) -> list[str]:
    return [sha256(gzip.decompress(reg.blob(repo, layer["digest"]))) for layer in manifest["layers"]]


def recompress_notes(notes: list[str]) -> list[str]:
    return [n for n in notes if "re-compressed" in n]


def save_login(reg: Registry, password: str | None = None) -> None:
    """Credentials in the default login file of the isolated environment, unchecked."""
    assert reg.username and reg.password
    login.login(reg.host, reg.username, password or reg.password, opts=tls(reg), verify=False)


def tools_dir(tmp_path: Path, *, without: set[str]) -> Path:
    """A PATH directory holding every container tool except ``without``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in {*BACKENDS, "docker-registry"} - without:
        found = need_tool(tool)
        (bin_dir / tool).symlink_to(found)
    return bin_dir


# -- push, pull, inspect, list ----------------------------------------------------------------


def test_push_digest_and_content(backend: str, registry: Registry, store: skillctl.Store, image: PackResult) -> None:
    repo = registry.repo("demo")
    dest = f"{repo}:1.0.0-draft"
    result = transfer.push(image.ref, dest, store=store, backend=backend, opts=insecure())

    raw = registry.manifest(dest)
    assert raw is not None
    registry_digest = sha256(raw)
    pushed = json.loads(raw)
    local = image.manifest
    assert result.backend == backend
    assert result.local_digest == image.digest
    assert result.digest == registry_digest
    # Same content whatever the backend: config, annotations and the uncompressed layer.
    assert pushed["mediaType"] == oci.MANIFEST_V1
    assert pushed["config"]["digest"] == local.config.digest
    assert pushed["annotations"] == local.annotations
    config = json.loads(registry.blob(repo, local.config.digest))
    assert uncompressed_layer_digests(registry, repo, pushed) == config["rootfs"]["diff_ids"] == [image.layer.diff_id]
    # The store records what the registry holds under the pushed reference.
    assert store.resolve(dest).digest == registry_digest
    assert store.manifest(registry_digest).raw == raw
    # A changed digest is always reported, an unchanged one never.
    assert bool(recompress_notes(result.notes)) == result.digest_changed

    if backend in EXACT:
        assert raw == local.raw, "a byte-exact backend must store the manifest pack wrote"
        assert result.digest == image.digest
        assert not result.digest_changed
    else:
        # containers-storage keeps the layer uncompressed and re-compresses one the registry has never seen.
        assert result.digest_changed
        (note,) = recompress_notes(result.notes)
        assert registry_digest in note and image.digest in note
        # The read-back does not trust the tool that wrote: it reads the registry API directly.
        assert "read back over the registry API" in result.notes
        # The local image itself is untouched.
        assert store.resolve(image.ref).digest == image.digest


def test_pull_into_store_and_unpack(
    backend: str, registry: Registry, store: skillctl.Store, image: PackResult, tmp_path: Path
) -> None:
    ref = f"{registry.repo('demo')}:1.0.0-draft"
    seed(image, ref, store)
    pulled_store = skillctl.Store(tmp_path / "pulled-store")
    out = tmp_path / "out"

    result = transfer.pull(ref, output=out, store=pulled_store, backend=backend, opts=insecure())

    assert result.backend == backend
    assert result.remote_digest == image.digest == registry.digest(ref)
    assert pulled_store.resolve(ref).digest == result.digest
    manifest = pulled_store.manifest(result.digest)
    assert manifest.config.digest == image.manifest.config.digest
    assert manifest.annotations == image.manifest.annotations
    assert bool(recompress_notes(result.notes)) == (result.digest != result.remote_digest)
    if backend in EXACT:
        assert result.digest == image.digest
        assert manifest.raw == image.manifest.raw
        assert result.notes == []

    skill = out / "demo"
    assert result.unpacked is not None and result.unpacked.path == skill
    src = tmp_path / "src" / "demo"
    expected = sorted(p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file())
    assert sorted(p.relative_to(skill).as_posix() for p in skill.rglob("*") if p.is_file()) == expected
    for rel in expected:
        assert (skill / rel).read_bytes() == (src / rel).read_bytes(), rel
    assert os.stat(skill / "scripts" / "run.sh").st_mode & 0o111 == 0o111, "exec bits must survive"
    assert os.stat(skill / "data" / "nonce.txt").st_mode & 0o111 == 0
    run = subprocess.run([skill / "scripts" / "run.sh"], capture_output=True, text=True, timeout=30, check=True)
    assert run.stdout == "hello from the skill\n"


def test_inspect_remote(backend: str, registry: Registry, store: skillctl.Store, image: PackResult) -> None:
    ref = f"{registry.repo('demo')}:1.0.0-draft"
    seed(image, ref, store)

    details = remote.inspect_remote(ref, backend=backend, opts=insecure())

    assert details.local is False
    assert details.digest == image.digest
    assert details.annotations == image.manifest.annotations
    assert details.annotations[oci.STATUS] == "draft"
    assert details.annotations[oci.VERSION] == "1.0.0"
    assert details.config["rootfs"]["diff_ids"] == [image.layer.diff_id]
    assert (details.config["os"], details.config["architecture"]) == ("linux", "amd64")
    data = details.to_json()
    assert data["source"] == "remote"
    assert data["skill"]["status"] == "draft"
    assert data["layers"] == [layer.to_json() for layer in image.manifest.layers]


def test_inspect_remote_missing_tag(backend: str, registry: Registry, store: skillctl.Store, image: PackResult) -> None:
    repo = registry.repo("demo")
    seed(image, f"{repo}:1.0.0-draft", store)
    with pytest.raises(NotFoundError) as exc:
        remote.inspect_remote(f"{repo}:9.9.9", backend=backend, opts=insecure())
    assert exc.value.exit_code == ExitCode.NOT_FOUND


def test_list_versions(backend: str, registry: Registry, store: skillctl.Store, tmp_path: Path) -> None:
    repo = registry.repo("demo")
    v1 = skillctl.pack(unique_skill(tmp_path / "a" / "demo", version="1.0.0"), store=store)
    v2 = skillctl.pack(unique_skill(tmp_path / "b" / "demo", version="1.1.0"), store=store)
    seed(v1, f"{repo}:1.0.0-draft", store)
    seed(v2, f"{repo}:1.1.0-draft", store)
    seed(v2, f"{repo}:latest", store)

    rows = remote.list_remote(repo, backend=backend, opts=insecure())

    assert [(r.tag, r.status, r.version, r.digest) for r in rows] == [
        ("1.0.0-draft", "draft", "1.0.0", v1.digest),
        ("1.1.0-draft", "draft", "1.1.0", v2.digest),
        ("latest", "draft", "1.1.0", v2.digest),
    ]
    assert {r.repository for r in rows} == {repo}
    assert rows[0].size == v1.layer.size
    documented = ("ref", "repository", "tag", "digest", "status", "version", "size")
    assert {k: rows[0].to_json()[k] for k in documented} == {
        "ref": f"{repo}:1.0.0-draft",
        "repository": repo,
        "tag": "1.0.0-draft",
        "digest": v1.digest,
        "status": "draft",
        "version": "1.0.0",
        "size": v1.layer.size,
    }
    with pytest.raises(NotFoundError):
        remote.list_remote(registry.repo("never-pushed"), backend=backend, opts=insecure())


def test_pull_of_a_missing_tag(
    backend: str, registry: Registry, store: skillctl.Store, image: PackResult, tmp_path: Path
) -> None:
    repo = registry.repo("demo")
    seed(image, f"{repo}:1.0.0-draft", store)
    with pytest.raises(NotFoundError) as exc:
        transfer.pull(f"{repo}:2.0.0-draft", store=store, backend=backend, opts=insecure())
    assert exc.value.exit_code == ExitCode.NOT_FOUND
    # The backend itself classifies the tool's "manifest unknown" the same way.
    with pytest.raises(NotFoundError):
        load(backend).pull(parse_reference(f"{repo}:2.0.0-draft"), tmp_path / "layout", insecure())
    with pytest.raises(NotFoundError):
        store.resolve(f"{repo}:2.0.0-draft")


# -- copy and delete -------------------------------------------------------------------------------


def test_retag_remote_to_remote_keeps_digest(
    backend: str, registry: Registry, store: skillctl.Store, image: PackResult
) -> None:
    repo = registry.repo("demo")
    src = parse_reference(f"{repo}:1.0.0-draft")
    seed(image, str(src), store)
    same_repo = parse_reference(f"{repo}:1.0.0-copy")
    other_repo = parse_reference(f"{registry.repo('other')}:1.0.0-draft")
    impl = load(backend)

    if Capability.COPY in impl.capabilities:
        copier = impl
    else:
        with pytest.raises(UnsupportedOperation) as exc:
            impl.copy(src, same_repo, insecure())
        assert exc.value.exit_code == ExitCode.MISSING_TOOL
        assert registry.manifest(str(same_repo)) is None
        fallback = capable(Selection(impl, "test"), Capability.COPY, operation="copy between registries")
        assert fallback.name == "skopeo"
        assert fallback.reason == f"skopeo: {backend} cannot copy between registries"
        copier = fallback.backend

    assert copier.copy(src, same_repo, insecure()) == image.digest
    assert copier.copy(src, other_repo, insecure()) == image.digest
    assert registry.manifest(str(same_repo)) == image.manifest.raw
    assert registry.manifest(str(other_repo)) == image.manifest.raw
    assert registry.tags(repo) == ["1.0.0-copy", "1.0.0-draft"]


def test_delete_by_digest(backend: str, registry: Registry, store: skillctl.Store, tmp_path: Path) -> None:
    repo = registry.repo("demo")
    doomed = skillctl.pack(unique_skill(tmp_path / "a" / "demo"), store=store)
    kept = skillctl.pack(unique_skill(tmp_path / "b" / "demo", version="2.0.0"), store=store)
    for tag in ("a", "b"):
        seed(doomed, f"{repo}:{tag}", store)
    seed(kept, f"{repo}:c", store)
    target = parse_reference(f"{repo}@{doomed.digest}")
    impl = load(backend)

    if Capability.DELETE in impl.capabilities:
        deleter = impl
    else:
        with pytest.raises(UnsupportedOperation):
            impl.delete(target, insecure())
        assert registry.tags(repo) == ["a", "b", "c"]
        fallback = capable(Selection(impl, "test"), Capability.DELETE, operation="delete from registries")
        assert fallback.name == "skopeo"
        assert backend in fallback.reason
        deleter = fallback.backend

    deleter.delete(target, insecure())
    # Distribution deletes the manifest, so every tag on that digest goes; other digests stay.
    assert registry.tags(repo) == ["c"]
    assert registry.manifest(str(target)) is None
    assert registry.digest(f"{repo}:c") == kept.digest
    with pytest.raises(NotFoundError):
        deleter.delete(target, insecure())


def test_delete_refused_by_the_registry(
    backend: str, no_delete_registry: Registry, store: skillctl.Store, image: PackResult
) -> None:
    repo = no_delete_registry.repo("demo")
    seed(image, f"{repo}:1.0.0-draft", store)
    impl = load(backend)
    expected: type[SkillctlError] = ToolError if Capability.DELETE in impl.capabilities else UnsupportedOperation
    with pytest.raises(expected) as exc:
        impl.delete(parse_reference(f"{repo}@{image.digest}"), insecure())
    if Capability.DELETE in impl.capabilities:
        assert "UNSUPPORTED" in str(exc.value)
    assert no_delete_registry.tags(repo) == ["1.0.0-draft"]


# -- auth -------------------------------------------------------------------------------------------


def test_auth_success(
    backend: str,
    tls_registry: Registry,
    store: skillctl.Store,
    image: PackResult,
    tmp_path: Path,
    isolated_env: Path,
) -> None:
    assert tls_registry.username and tls_registry.password
    result = login.login(tls_registry.host, tls_registry.username, tls_registry.password, opts=tls(tls_registry))
    assert result.verified
    assert result.path == isolated_env / "run" / "containers" / "auth.json"
    assert result.path.stat().st_mode & 0o777 == 0o600
    repo = tls_registry.repo("demo")
    ref = f"{repo}:1.0.0-draft"

    pushed = transfer.push(image.ref, ref, store=store, backend=backend, opts=tls(tls_registry))
    assert pushed.digest == tls_registry.digest(ref)
    if backend in EXACT:
        assert pushed.digest == image.digest

    pulled = transfer.pull(ref, store=skillctl.Store(tmp_path / "s2"), backend=backend, opts=tls(tls_registry))
    assert pulled.remote_digest == pushed.digest
    rows = remote.list_remote(repo, backend=backend, opts=tls(tls_registry))
    assert [(r.tag, r.digest) for r in rows] == [("1.0.0-draft", pushed.digest)]
    assert remote.inspect_remote(ref, backend=backend, opts=tls(tls_registry)).digest == pushed.digest


def test_auth_failure_without_credentials(
    backend: str, tls_registry: Registry, store: skillctl.Store, image: PackResult, tmp_path: Path
) -> None:
    repo = tls_registry.repo("demo")
    with pytest.raises(AuthError) as exc:
        transfer.push(image.ref, f"{repo}:1.0.0-draft", store=store, backend=backend, opts=tls(tls_registry))
    assert exc.value.exit_code == ExitCode.AUTH
    assert exc.value.hint and "login" in exc.value.hint
    assert tls_registry.tags(repo) == []
    with pytest.raises(AuthError):
        transfer.pull(f"{repo}:1.0.0-draft", store=store, backend=backend, opts=tls(tls_registry))
    with pytest.raises(AuthError):
        load(backend).pull(parse_reference(f"{repo}:1.0.0-draft"), tmp_path / "layout", tls(tls_registry))


def test_auth_failure_with_wrong_password(
    backend: str, tls_registry: Registry, store: skillctl.Store, image: PackResult, tmp_path: Path, isolated_env: Path
) -> None:
    assert tls_registry.username
    auth_file = isolated_env / "run" / "containers" / "auth.json"
    with pytest.raises(AuthError):
        login.login(tls_registry.host, tls_registry.username, "not-the-password", opts=tls(tls_registry))
    assert not auth_file.exists(), "rejected credentials must not be saved"

    save_login(tls_registry, password="not-the-password")
    repo = tls_registry.repo("demo")
    with pytest.raises(AuthError) as exc:
        transfer.push(image.ref, f"{repo}:1.0.0-draft", store=store, backend=backend, opts=tls(tls_registry))
    assert exc.value.exit_code == ExitCode.AUTH
    assert "not-the-password" not in str(exc.value)
    assert tls_registry.tags(repo) == []
    with pytest.raises(AuthError):
        load(backend).pull(parse_reference(f"{repo}:1.0.0-draft"), tmp_path / "layout", tls(tls_registry))


# -- TLS and network ---------------------------------------------------------------------------------


def test_wrong_ca_is_a_tls_error(
    backend: str, tls_registry: Registry, store: skillctl.Store, image: PackResult
) -> None:
    save_login(tls_registry)
    repo = tls_registry.repo("demo")
    assert tls_registry.wrong_cert_dir is not None
    for opts in (tls(tls_registry, tls_registry.wrong_cert_dir), RegistryOptions(timeout=TIMEOUT)):
        with pytest.raises(TLSError) as exc:
            transfer.push(image.ref, f"{repo}:1.0.0-draft", store=store, backend=backend, opts=opts)
        assert exc.value.exit_code == ExitCode.NETWORK
        assert "certificate" in str(exc.value)
        assert exc.value.hint and "--cert-dir" in exc.value.hint
    assert tls_registry.tags(repo) == []


def test_registry_down_fails_fast(backend: str, down_registry: str, store: skillctl.Store, image: PackResult) -> None:
    start = time.monotonic()
    with pytest.raises(NetworkError) as exc:
        transfer.push(image.ref, f"{down_registry}/x/demo:1.0.0-draft", store=store, backend=backend, opts=insecure())
    elapsed = time.monotonic() - start
    assert elapsed < DOWN_SECONDS[backend], f"{backend} took {elapsed:.1f}s to notice a registry that is down"
    assert not isinstance(exc.value, TLSError)
    assert exc.value.exit_code == ExitCode.NETWORK
    assert "connection refused" in str(exc.value)
    assert exc.value.hint and "running" in exc.value.hint

    start = time.monotonic()
    with pytest.raises(NetworkError):
        transfer.pull(f"{down_registry}/x/demo:1.0.0-draft", store=store, backend=backend, opts=insecure())
    assert time.monotonic() - start < DOWN_SECONDS[backend]


def test_plain_http_needs_tls_verify_false(
    backend: str, registry: Registry, store: skillctl.Store, image: PackResult, tmp_path: Path
) -> None:
    repo = registry.repo("demo")
    verifying = RegistryOptions(timeout=TIMEOUT)
    with pytest.raises(TLSError) as exc:
        transfer.push(image.ref, f"{repo}:1.0.0-draft", store=store, backend=backend, opts=verifying)
    assert exc.value.exit_code == ExitCode.NETWORK
    assert "--tls-verify=false" in (exc.value.hint or "")
    assert registry.tags(repo) == [], "nothing may be sent over plain HTTP without --tls-verify=false"

    seed(image, f"{repo}:1.0.0-draft", store)
    with pytest.raises(TLSError):
        load(backend).pull(parse_reference(f"{repo}:1.0.0-draft"), tmp_path / "layout", verifying)
    with pytest.raises(TLSError):
        remote.list_remote(repo, backend=backend, opts=verifying)


@pytest.fixture
def silent_registry() -> Iterator[str]:
    """``127.0.0.1:PORT`` that accepts connections and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield f"127.0.0.1:{sock.getsockname()[1]}"


def test_every_call_has_a_timeout(backend: str, silent_registry: str, store: skillctl.Store, image: PackResult) -> None:
    """The timeout is one deadline for the whole push (podman spends part of it loading its storage)."""
    start = time.monotonic()
    with pytest.raises(DeadlineExceeded) as exc:
        transfer.push(
            image.ref,
            f"{silent_registry}/x/demo:1.0.0-draft",
            store=store,
            backend=backend,
            opts=RegistryOptions(tls_verify=False, timeout=2),
        )
    assert time.monotonic() - start < 20
    assert exc.value.exit_code == ExitCode.NETWORK
    assert "--timeout of 2s reached" in str(exc.value)


def test_read_back_catches_a_backend_that_wrote_something_else(
    backend: str,
    registry: Registry,
    store: skillctl.Store,
    image: PackResult,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A backend that stores other content than it was given makes the push fail loudly (exit 10)."""
    other = skillctl.pack(unique_skill(tmp_path / "other" / "demo", version="9.9.9"), store=store)
    impl = load(backend)
    real_push = type(impl).push

    def wrong_push(self: object, layout: Path, dest: Reference, opts: RegistryOptions) -> str:
        with transfer.exported_layout(store, other.manifest) as wrong:
            return real_push(self, wrong, dest, opts)  # type: ignore[arg-type]

    monkeypatch.setattr(type(impl), "push", wrong_push)
    dest = f"{registry.repo('demo')}:1.0.0-draft"
    with pytest.raises(IntegrityError) as exc:
        transfer.push(image.ref, dest, store=store, backend=backend, opts=insecure())
    assert exc.value.exit_code == ExitCode.INTEGRITY
    assert "different content" in str(exc.value)
    with pytest.raises(NotFoundError):
        store.resolve(dest)


# -- selection -------------------------------------------------------------------------------------------


def test_capabilities_match_the_documented_table() -> None:
    for name in BACKENDS:
        need_tool(name)
    caps = {name: load(name).capabilities for name in BACKENDS}
    core = {Capability.PUSH, Capability.PULL, Capability.MANIFEST, Capability.TAGS, Capability.COPY}
    assert core | {Capability.DELETE, Capability.EXACT} <= caps["skopeo"]
    assert core | {Capability.DELETE, Capability.EXACT} <= caps["crane"]
    assert caps["podman"] == {Capability.PUSH, Capability.PULL, Capability.TAGS}
    assert caps["buildah"] == {Capability.PUSH, Capability.PULL}


def test_auto_selection_prefers_skopeo() -> None:
    for name in BACKENDS:
        need_tool(name)
    assert AUTO_ORDER[0] == "skopeo"
    chosen = select()
    assert chosen.name == "skopeo"
    assert "first installed" in chosen.reason
    assert backend_names()[:4] == list(BACKENDS)


def test_environment_and_option_choose_the_backend(
    monkeypatch: pytest.MonkeyPatch, registry: Registry, store: skillctl.Store, image: PackResult
) -> None:
    need_tool("crane")
    monkeypatch.setenv("SKILLCTL_BACKEND", "crane")
    chosen = select()
    assert (chosen.name, chosen.reason) == ("crane", "crane: chosen by SKILLCTL_BACKEND")
    flag = select("skopeo")
    assert (flag.name, flag.reason) == ("skopeo", "skopeo: chosen by --backend")
    result = transfer.push(image.ref, f"{registry.repo('demo')}:1.0.0-draft", store=store, opts=insecure())
    assert result.backend == "crane"
    assert result.reason == "crane: chosen by SKILLCTL_BACKEND"


def test_unknown_backend_lists_the_names(store: skillctl.Store, image: PackResult) -> None:
    with pytest.raises(UsageError) as exc:
        select("docker")
    assert exc.value.exit_code == ExitCode.USAGE
    assert "docker" in str(exc.value)
    assert exc.value.hint and all(name in exc.value.hint for name in BACKENDS)
    with pytest.raises(UsageError):
        transfer.push(image.ref, "127.0.0.1:1/x/demo:1", store=store, backend="docker", opts=insecure())


def test_missing_tool_is_reported_with_an_install_hint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, store: skillctl.Store, image: PackResult
) -> None:
    monkeypatch.setenv("PATH", str(tools_dir(tmp_path, without={"crane"})))
    with pytest.raises(ToolNotFoundError) as exc:
        select("crane")
    assert exc.value.exit_code == ExitCode.MISSING_TOOL
    assert "crane" in str(exc.value)
    assert exc.value.hint and "go install github.com/google/go-containerregistry/cmd/crane" in exc.value.hint
    monkeypatch.setenv("SKILLCTL_BACKEND", "crane")
    with pytest.raises(ToolNotFoundError) as exc:
        transfer.push(image.ref, "127.0.0.1:1/x/demo:1", store=store, opts=insecure())
    assert "SKILLCTL_BACKEND" in str(exc.value)


def test_auto_selection_takes_the_next_installed_tool(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tools_dir(tmp_path, without={"skopeo"})))
    chosen = select()
    assert chosen.name == "crane"
    # Capabilities skopeo would have provided come from crane now.
    fallback = capable(Selection(load("podman"), "test"), Capability.MANIFEST, operation="read manifests back")
    assert fallback.name == "crane"

    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(ToolNotFoundError) as exc:
        select()
    assert all(name in str(exc.value) for name in BACKENDS)
    assert exc.value.hint and "apt-get install skopeo" in exc.value.hint


def test_no_backend_can_read_back_fails_before_writing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, registry: Registry, store: skillctl.Store, image: PackResult
) -> None:
    monkeypatch.setenv("PATH", str(tools_dir(tmp_path, without={"skopeo", "crane"})))
    repo = registry.repo("demo")
    with pytest.raises(UnsupportedOperation) as exc:
        transfer.push(image.ref, f"{repo}:1.0.0-draft", store=store, backend="podman", opts=insecure())
    assert exc.value.exit_code == ExitCode.MISSING_TOOL
    assert "podman" in str(exc.value)
    assert exc.value.hint and "skopeo" in exc.value.hint
    assert registry.tags(repo) == [], "an image that cannot be verified must not be pushed"
