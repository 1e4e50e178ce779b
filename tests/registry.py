"""Throwaway CNCF distribution registries (Debian's ``docker-registry``) for the registry tests.

``start_registry`` runs ``docker-registry serve CONFIG`` on a free loopback port,
plain HTTP or TLS with a CA made here by ``openssl`` and htpasswd (bcrypt)
auth, and waits until ``GET /v2/`` answers, with a deadline. ``Registry`` also
speaks the registry API directly (stdlib only) so tests can check what the
registry really holds without going through the code under test.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import secrets
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from helpers import make_skill

MANIFEST_ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)
READY_SECONDS = 10.0


class RegistryStartError(RuntimeError):
    """The registry did not come up; the message carries its log."""


def free_port() -> int:
    """A loopback TCP port nothing listens on (at the time of asking)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _openssl(*args: str | Path, cwd: Path) -> None:
    subprocess.run(["openssl", *map(str, args)], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(directory: Path, name: str = "skillctl test CA") -> tuple[Path, Path]:
    """A self-signed CA (``ca.crt``, ``ca.key``) in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "ca.key", "-out", "ca.crt", "-days", "3", "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip
    return directory / "ca.crt", directory / "ca.key"


def make_server_cert(directory: Path, ca_crt: Path, ca_key: Path) -> tuple[Path, Path]:
    """``server.crt``/``server.key`` signed by the CA, SAN IP:127.0.0.1 and DNS:localhost."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "basicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid,issuer\n"
    )
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost",
        cwd=directory,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
        "-out", "server.crt", "-days", "3", "-extfile", "server.ext",
        cwd=directory,
    )  # fmt: skip
    return directory / "server.crt", directory / "server.key"


def htpasswd_line(username: str, password: str) -> str:
    """A bcrypt htpasswd entry; the password goes over stdin, not argv."""
    out = subprocess.run(
        ["htpasswd", "-niB", username], input=password + "\n", capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return out.strip() + "\n"


@dataclass
class Registry:
    """A running registry and what a test needs to reach it."""

    host: str
    root: Path
    process: subprocess.Popen[bytes] | None
    log_path: Path
    tls: bool = False
    cert_dir: Path | None = None
    wrong_cert_dir: Path | None = None
    username: str | None = None
    password: str | None = None
    delete_enabled: bool = True
    _counter: itertools.count[int] = field(default_factory=itertools.count)

    # -- naming ------------------------------------------------------------------
    def repo(self, name: str = "skill") -> str:
        """A repository reference (``HOST/tN/name``) no other test uses."""
        return f"{self.host}/t{next(self._counter)}{secrets.token_hex(2)}/{name}"

    @property
    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # -- direct registry API -------------------------------------------------------
    def _context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        assert self.cert_dir is not None
        return ssl.create_default_context(cafile=str(self.cert_dir / "ca.crt"))

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        auth: bool = True,
        timeout: float = 10,
        data: bytes | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """One HTTP request to ``/v2/...``; returns (status, headers, body) for any status."""
        scheme = "https" if self.tls else "http"
        all_headers = dict(headers or {})
        if auth and self.username is not None and self.password is not None:
            token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            all_headers["Authorization"] = f"Basic {token}"
        req = urllib.request.Request(f"{scheme}://{self.host}{path}", data=data, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self._context()) as resp:
                return resp.status, dict(resp.headers.items()), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers.items()), exc.read()

    @staticmethod
    def split(ref: str) -> tuple[str, str]:
        """``HOST/path:tag`` or ``HOST/path@digest`` -> (path, tag-or-digest)."""
        _, _, rest = ref.partition("/")
        if "@" in rest:
            path, _, reference = rest.partition("@")
            return path, reference
        path, _, tag = rest.rpartition(":")
        return path, tag

    def manifest(self, ref: str) -> bytes | None:
        """The raw manifest bytes the registry holds for ``ref``, None if it has none."""
        path, reference = self.split(ref)
        status, _, body = self.request("GET", f"/v2/{path}/manifests/{reference}", headers={"Accept": MANIFEST_ACCEPT})
        if status == 404:
            return None
        if status != 200:
            raise AssertionError(f"GET manifest {ref}: HTTP {status} {body[:300]!r}")
        return body

    def put_manifest(self, repo: str, reference: str, raw: bytes) -> str:
        """Store ``raw`` as ``repo:reference`` (a tag or its digest) with a plain registry API call."""
        path = repo.partition("/")[2]
        headers = {"Content-Type": json.loads(raw)["mediaType"]}
        status, _, body = self.request("PUT", f"/v2/{path}/manifests/{reference}", headers=headers, data=raw)
        assert status == 201, f"PUT manifest {repo}:{reference}: HTTP {status} {body[:300]!r}"
        return "sha256:" + hashlib.sha256(raw).hexdigest()

    def put_blob(self, repo: str, data: bytes) -> str:
        """Upload ``data`` as a blob of repository ``HOST/path`` (a monolithic upload); returns its digest."""
        path = repo.partition("/")[2]
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        status, headers, body = self.request("POST", f"/v2/{path}/blobs/uploads/", data=b"")
        assert status == 202, f"POST blob upload {repo}: HTTP {status} {body[:300]!r}"
        location = headers["Location"]
        if location.startswith(("http://", "https://")):
            location = "/" + location.split("/", 3)[3]
        location += ("&" if "?" in location else "?") + "digest=" + digest
        headers = {"Content-Type": "application/octet-stream"}
        status, _, body = self.request("PUT", location, headers=headers, data=data)
        assert status == 201, f"PUT blob {digest} to {repo}: HTTP {status} {body[:300]!r}"
        return digest

    def digest(self, ref: str) -> str | None:
        raw = self.manifest(ref)
        return None if raw is None else "sha256:" + hashlib.sha256(raw).hexdigest()

    def manifest_json(self, ref: str) -> dict:
        raw = self.manifest(ref)
        assert raw is not None, f"{ref}: not in the registry"
        return json.loads(raw)

    def blob(self, repo: str, digest: str) -> bytes:
        """A blob of repository ``HOST/path``."""
        path = repo.partition("/")[2]
        status, _, body = self.request("GET", f"/v2/{path}/blobs/{digest}")
        assert status == 200, f"GET blob {digest}: HTTP {status}"
        return body

    def tags(self, repo: str) -> list[str]:
        """The tags of repository ``HOST/path`` (an empty list for an unknown repository)."""
        path = repo.partition("/")[2]
        status, _, body = self.request("GET", f"/v2/{path}/tags/list")
        if status == 404:
            return []
        assert status == 200, f"GET tags of {repo}: HTTP {status} {body[:300]!r}"
        return sorted(json.loads(body).get("tags") or [])

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None


def _config_yaml(root: Path, addr: str, *, delete: bool, tls: tuple[Path, Path] | None, htpasswd: Path | None) -> str:
    lines = [
        "version: 0.1",
        "log:",
        "  level: info",
        "  accesslog:",
        "    disabled: true",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {root / 'data'}",
        "  delete:",
        f"    enabled: {'true' if delete else 'false'}",
        "http:",
        f"  addr: {addr}",
        f"  secret: {secrets.token_hex(16)}",
    ]
    if tls:
        lines += ["  tls:", f"    certificate: {tls[0]}", f"    key: {tls[1]}"]
    if htpasswd:
        lines += ["auth:", "  htpasswd:", "    realm: skillctl-test", f"    path: {htpasswd}"]
    return "\n".join(lines) + "\n"


def _wait_ready(reg: Registry, deadline_seconds: float) -> None:
    deadline = time.monotonic() + deadline_seconds
    last = "no answer yet"
    while time.monotonic() < deadline:
        assert reg.process is not None
        if reg.process.poll() is not None:
            raise RegistryStartError(
                f"docker-registry exited with {reg.process.returncode} before it was ready; log:\n{reg.log}"
            )
        try:
            status, _, _ = reg.request("GET", "/v2/", auth=False, timeout=1)
            if status in (200, 401):
                return
            last = f"HTTP {status}"
        except (OSError, urllib.error.URLError) as exc:
            last = repr(exc)
        time.sleep(0.05)
    reg.stop()
    raise RegistryStartError(
        f"docker-registry on {reg.host} did not answer GET /v2/ within {deadline_seconds:.0f}s "
        f"(last: {last}); log:\n{reg.log}"
    )


def start_registry(
    root: Path,
    *,
    tls: bool = False,
    auth: bool = False,
    delete: bool = True,
    username: str = "skilluser",
    password: str | None = None,
    ready_seconds: float = READY_SECONDS,
) -> Registry:
    """Start a registry with its data, config, certificates and log under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    cert_dir = wrong_cert_dir = None
    tls_files = None
    if tls:
        ca_crt, ca_key = make_ca(root / "ca")
        tls_files = make_server_cert(root / "server", ca_crt, ca_key)
        cert_dir = root / "certs"
        cert_dir.mkdir()
        shutil.copy(ca_crt, cert_dir / "ca.crt")
        wrong_ca, _ = make_ca(root / "wrong-ca", name="unrelated CA")
        wrong_cert_dir = root / "wrong-certs"
        wrong_cert_dir.mkdir()
        shutil.copy(wrong_ca, wrong_cert_dir / "ca.crt")
    htpasswd = None
    if auth:
        password = password or f"pw-{secrets.token_hex(8)}"
        htpasswd = root / "htpasswd"
        htpasswd.write_text(htpasswd_line(username, password))
    port = free_port()
    host = f"127.0.0.1:{port}"
    config = root / "config.yml"
    config.write_text(_config_yaml(root, host, delete=delete, tls=tls_files, htpasswd=htpasswd))
    log_path = root / "registry.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            ["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    reg = Registry(
        host=host,
        root=root,
        process=process,
        log_path=log_path,
        tls=tls,
        cert_dir=cert_dir,
        wrong_cert_dir=wrong_cert_dir,
        username=username if auth else None,
        password=password if auth else None,
        delete_enabled=delete,
    )
    try:
        _wait_ready(reg, ready_seconds)
    except BaseException:
        reg.stop()
        raise
    return reg


@contextlib.contextmanager
def running_registry(root: Path, **kwargs: Any) -> Iterator[Registry]:
    reg = start_registry(root, **kwargs)
    try:
        yield reg
    finally:
        reg.stop()


# -- pytest fixtures ---------------------------------------------------------------
# Imported by tests/integration/conftest.py and tests/cli/test_cli_registry.py.


def need_tool(name: str) -> str:
    """The path of an external tool; a missing tool fails the test (CI installs them all)."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed; run 'make tools' (CI installs it)", pytrace=False)
    return path


def _session_registry(factory: pytest.TempPathFactory, name: str, **kwargs: Any) -> Registry:
    need_tool("docker-registry")
    if kwargs.get("tls"):
        need_tool("openssl")
    if kwargs.get("auth"):
        need_tool("htpasswd")
    try:
        return start_registry(factory.mktemp(name), **kwargs)
    except RegistryStartError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """Plain HTTP, no auth, delete enabled."""
    reg = _session_registry(tmp_path_factory, "registry")
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def tls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """TLS (CA made here; ``cert_dir`` holds only ``ca.crt``) and htpasswd bcrypt auth, delete enabled."""
    reg = _session_registry(tmp_path_factory, "tls-registry", tls=True, auth=True)
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def no_delete_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """Plain HTTP with ``storage.delete.enabled: false``."""
    reg = _session_registry(tmp_path_factory, "no-delete-registry", delete=False)
    yield reg
    reg.stop()


@pytest.fixture
def down_registry() -> str:
    """``127.0.0.1:PORT`` with nothing listening."""
    return f"127.0.0.1:{free_port()}"


def unique_skill(root: Path, name: str = "demo", *, version: str = "1.0.0", namespace: str = "test") -> Path:
    """A small valid skill whose layer no registry has seen, with an executable script."""
    files: dict[str, str | bytes] = {
        "scripts/run.sh": "#!/bin/sh\necho hello from the skill\n",
        "data/nonce.txt": secrets.token_hex(16) + "\n",
    }
    skill = make_skill(root, name, namespace=namespace, version=version, files=files)
    (skill / "scripts" / "run.sh").chmod(0o755)
    (skill / "data" / "nonce.txt").chmod(0o644)
    return skill
