"""A hostile registry for the test suite: the distribution API on loopback, answering what a test tells it to.

The CNCF registry (``tests/registry.py``) behaves; this one does not. It serves images a test builds byte by
byte and lets a test replace any answer: redirects, challenges naming a plain-HTTP token service, bodies that
drip one byte at a time or never end, catalog pages that link to themselves, tags and annotations with
control characters, JSON that is not JSON. Every request is recorded (method, path, headers, whether it came
over TLS) so a test can check what a client sent, and where: a password must never arrive in clear.

TLS is optional: ``tls="on"`` speaks only TLS, ``tls="both"`` answers TLS and plain HTTP on the same port
(the first byte of a connection decides), as a hostile server would to catch clients that fall back.
Standard library only; handlers run in threads, so slow answers do not block other requests.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import io
import json
import re
import socket
import ssl
import tarfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Seen:
    """One request as it arrived."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    tls: bool

    @property
    def authorization(self) -> str:
        return self.headers.get("authorization", "")


@dataclass
class Reply:
    """What to answer. ``body`` may be an iterable of chunks (streamed); ``length`` "auto" sends the length of a
    bytes body, None sends none (the end of the body is the end of the connection); ``delay`` waits between
    chunks (a drip)."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Iterable[bytes] = b""
    length: int | Literal["auto"] | None = "auto"
    delay: float = 0.0


def json_reply(data: Any, status: int = 200, **headers: str) -> Reply:
    return Reply(status, {"Content-Type": "application/json", **headers}, json.dumps(data).encode())


def drip(data: bytes, *, every: float, chunk: int = 1) -> Reply:
    """``data`` a few bytes at a time, ``every`` seconds apart, with its full Content-Length announced."""
    return Reply(200, {"Content-Type": "application/json"}, (data[i : i + chunk] for i in range(0, len(data), chunk)),
                 length=len(data), delay=every)  # fmt: skip


def endless(chunk: bytes = b"\0" * 65536, *, limit: int | None = None) -> Reply:
    """The same chunk forever (or until ``limit`` bytes), without a Content-Length."""

    def forever() -> Iterator[bytes]:
        sent = 0
        while limit is None or sent < limit:
            yield chunk
            sent += len(chunk)

    return Reply(200, {"Content-Type": "application/octet-stream"}, forever(), length=None)


Handler = Callable[[re.Match[str], Seen], Reply | None]


@dataclass
class Image:
    manifest: bytes
    config: bytes
    layers: list[bytes]

    @property
    def digest(self) -> str:
        return sha256(self.manifest)


def tar_of(files: dict[str, bytes], *, extra: Iterable[tarfile.TarInfo] = ()) -> bytes:
    """A tar of regular files (mode 0644, mtime 0), then the ``extra`` headers as they are (no data)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info)
    return buf.getvalue()


def skill_files(name: str = "hostile", version: str = "1.0.0", **more: bytes) -> dict[str, bytes]:
    card = (
        "apiVersion: skillimage.io/v1alpha1\nkind: SkillCard\nmetadata:\n"
        f"  name: {name}\n  namespace: test\n  version: {version}\n  description: A test skill.\nspec:\n"
        "  prompt: SKILL.md\n"
    )
    md = f"---\nname: {name}\ndescription: A test skill.\n---\n\n# {name}\n"
    return {"skill.yaml": card.encode(), "SKILL.md": md.encode(), **more}


def build_image(
    layer_tar: bytes | None = None,
    *,
    annotations: dict[str, str] | None = None,
    config: bytes | None = None,
    layer_gz: bytes | None = None,
    layer_size: int | None = None,
) -> Image:
    """A one-layer OCI image. ``config`` replaces the (valid) config bytes; ``layer_gz`` the compressed layer;
    ``layer_size`` the size the manifest declares for it."""
    raw_tar = layer_tar if layer_tar is not None else tar_of(skill_files())
    gz = layer_gz if layer_gz is not None else gzip.compress(raw_tar, mtime=0)
    if config is None:
        config = json.dumps(
            {"architecture": "amd64", "os": "linux", "config": {},
             "rootfs": {"type": "layers", "diff_ids": [sha256(raw_tar)]}}
        ).encode()  # fmt: skip
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
        "layers": [
            {"mediaType": OCI_LAYER, "digest": sha256(gz), "size": len(gz) if layer_size is None else layer_size}
        ],
        "annotations": {
            "io.skillimage.status": "published",
            "org.opencontainers.image.title": "hostile",
            "org.opencontainers.image.version": "1.0.0",
            **(annotations or {}),
        },
    }
    return Image(json.dumps(manifest).encode(), config, [gz])


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, owner: HostileRegistry) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        mode = self.owner.tls
        if mode != "off":
            try:
                request.settimeout(10)
                wants_tls = mode == "on" or request.recv(1, socket.MSG_PEEK) == b"\x16"
                if wants_tls:
                    assert self.owner.context is not None
                    request = self.owner.context.wrap_socket(request, server_side=True)
                request.settimeout(None)
            except (OSError, ssl.SSLError):
                return  # a failed handshake (an untrusting client): nothing to serve
        self.RequestHandlerClass(request, client_address, self)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up mid-answer are what this server is for


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        owner = self.server.owner
        seen = Seen(
            self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
            isinstance(self.connection, ssl.SSLSocket),
        )  # fmt: skip
        owner.record(seen)
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        reply = owner.answer(seen)
        with contextlib.suppress(OSError, ssl.SSLError):
            self._send(reply, head=self.command == "HEAD")
        self.close_connection = True

    def _send(self, reply: Reply, *, head: bool) -> None:
        owner = self.server.owner
        self.send_response(reply.status)
        headers = dict(reply.headers)
        body = reply.body
        if reply.length == "auto":
            if not isinstance(body, bytes):
                body = b"".join(body)
            headers["Content-Length"] = str(len(body))
        elif reply.length is not None:
            headers["Content-Length"] = str(reply.length)
        headers["Connection"] = "close"
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if head:
            return
        chunks = [body] if isinstance(body, bytes) else body
        for chunk in chunks:
            if owner.stopping.is_set():
                return
            if reply.delay:
                time.sleep(reply.delay)
            self.wfile.write(chunk)
            self.wfile.flush()
            owner.count(self.path, len(chunk))

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _serve


class HostileRegistry:
    """A running hostile registry on ``127.0.0.1:PORT``.

    ``basic`` requires those credentials (a Basic challenge); ``bearer_realm`` answers every unauthenticated
    ``/v2/`` request with a Bearer challenge naming that token service. Routes added with :meth:`route` are
    tried before the built-in ones (``/v2/``, manifests, blobs, tags, catalog).
    """

    def __init__(
        self,
        *,
        tls: Literal["off", "on", "both"] = "off",
        cert: tuple[Path, Path] | None = None,
        basic: tuple[str, str] | None = None,
        bearer_realm: str | None = None,
    ) -> None:
        self.tls = tls
        self.context: ssl.SSLContext | None = None
        if tls != "off":
            assert cert is not None, "TLS needs a certificate and key"
            self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.context.load_cert_chain(str(cert[0]), str(cert[1]))
        self.basic = basic
        self.bearer_realm = bearer_realm
        self.seen: list[Seen] = []
        self.sent: dict[str, int] = {}
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.manifests: dict[tuple[str, str], tuple[str, bytes]] = {}
        self.blobs: dict[tuple[str, str], bytes] = {}
        self.tag_lists: dict[str, list[str]] = {}
        self.catalog: list[str] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._server = _Server(self)
        self.host = f"127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    # -- content -------------------------------------------------------------------------------
    def put_manifest(self, repo: str, tag: str | None, raw: bytes, media_type: str = OCI_MANIFEST) -> str:
        """Serve ``raw`` as ``repo:tag`` and by digest (``repo`` without the host)."""
        digest = sha256(raw)
        self.manifests[(repo, digest)] = (media_type, raw)
        if tag is not None:
            self.manifests[(repo, tag)] = (media_type, raw)
            tags = self.tag_lists.setdefault(repo, [])
            if tag not in tags:
                tags.append(tag)
        if repo not in self.catalog:
            self.catalog.append(repo)
        return digest

    def put_blob(self, repo: str, data: bytes) -> str:
        digest = sha256(data)
        self.blobs[(repo, digest)] = data
        return digest

    def put_image(self, repo: str, tag: str | None, image: Image) -> str:
        """Serve an image: its config, layers and manifest; returns the manifest digest."""
        self.put_blob(repo, image.config)
        for layer in image.layers:
            self.put_blob(repo, layer)
        return self.put_manifest(repo, tag, image.manifest)

    def ref(self, repo: str, tag: str = "1.0.0") -> str:
        return f"{self.host}/{repo}:{tag}"

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """Answer ``method`` requests whose path fully matches ``pattern`` with ``handler`` (None: fall through)."""
        self.routes.insert(0, (method, re.compile(pattern), handler))

    # -- what arrived --------------------------------------------------------------------------
    def record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    def count(self, path: str, n: int) -> None:
        with self._lock:
            self.sent[path] = self.sent.get(path, 0) + n

    def requests(self, pattern: str = ".*") -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if re.fullmatch(pattern, s.path.split("?", 1)[0])]

    def credentials_seen(self) -> list[Seen]:
        """Requests that carried a password (Basic), with whether they came over TLS."""
        return [s for s in self.requests() if s.authorization.lower().startswith("basic ")]

    # -- answering -----------------------------------------------------------------------------
    def answer(self, seen: Seen) -> Reply:
        path = seen.path.split("?", 1)[0]
        for method, pattern, handler in list(self.routes):
            match = pattern.fullmatch(path)
            if match and method in (seen.method, "*"):
                reply = handler(match, seen)
                if reply is not None:
                    return reply
        if path.startswith("/v2"):
            challenge = self._challenge(seen)
            if challenge is not None:
                return challenge
        return self._builtin(seen, path)

    def _challenge(self, seen: Seen) -> Reply | None:
        auth = seen.authorization
        if self.basic is not None:
            expected = "Basic " + base64.b64encode(f"{self.basic[0]}:{self.basic[1]}".encode()).decode()
            if auth != expected:
                return json_reply({"errors": [{"code": "UNAUTHORIZED"}]}, 401,
                                  **{"WWW-Authenticate": 'Basic realm="hostile"'})  # fmt: skip
        elif self.bearer_realm is not None and not auth.lower().startswith("bearer "):
            header = f'Bearer realm="{self.bearer_realm}",service="hostile"'
            return json_reply({"errors": [{"code": "UNAUTHORIZED"}]}, 401, **{"WWW-Authenticate": header})
        return None

    def _builtin(self, seen: Seen, path: str) -> Reply:
        if path in ("/v2", "/v2/"):
            return json_reply({})
        if path == "/v2/_catalog":
            return json_reply({"repositories": self.catalog})
        match = re.fullmatch(r"/v2/(.+)/manifests/([^/]+)", path)
        if match:
            found = self.manifests.get((match.group(1), match.group(2)))
            if found is None:
                return json_reply({"errors": [{"code": "MANIFEST_UNKNOWN"}]}, 404)
            media_type, raw = found
            return Reply(200, {"Content-Type": media_type, "Docker-Content-Digest": sha256(raw)}, raw)
        match = re.fullmatch(r"/v2/(.+)/blobs/(sha256:[0-9a-f]{64})", path)
        if match:
            blob = self.blobs.get((match.group(1), match.group(2)))
            if blob is None:
                return json_reply({"errors": [{"code": "BLOB_UNKNOWN"}]}, 404)
            return Reply(200, {"Content-Type": "application/octet-stream", "Docker-Content-Digest": match.group(2)},
                         blob)  # fmt: skip
        match = re.fullmatch(r"/v2/(.+)/tags/list", path)
        if match and match.group(1) in self.tag_lists:
            return json_reply({"name": match.group(1), "tags": self.tag_lists[match.group(1)]})
        return json_reply({"errors": [{"code": "NAME_UNKNOWN"}]}, 404)

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()


@contextlib.contextmanager
def hostile_registry(**kwargs: Any) -> Iterator[HostileRegistry]:
    server = HostileRegistry(**kwargs)
    try:
        yield server
    finally:
        server.stop()


def write_authfile(path: Path, host: str, username: str, password: str) -> Path:
    """A containers auth file holding credentials for ``host`` (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    path.write_text(json.dumps({"auths": {host: {"auth": token}}}))
    path.chmod(0o600)
    return path
