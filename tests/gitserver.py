"""A Git server on loopback speaking smart HTTP over TLS (``git http-backend`` as a CGI), for tests.

The Go skillctl clones only ``https://`` URLs and shallowly (``--depth 1``), which the
dumb HTTP protocol cannot serve; ``git http-backend`` is what real Git servers run
behind a web server, here behind a small threaded HTTPS server with the test CA's
certificate.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote


def _read_chunked(rfile) -> bytes:  # type: ignore[no-untyped-def]
    body = b""
    while True:
        size = int(rfile.readline().split(b";")[0].strip() or b"0", 16)
        if size == 0:
            rfile.readline()
            return body
        body += rfile.read(size)
        rfile.readline()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    root: Path

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._cgi()

    def do_POST(self) -> None:
        self._cgi()

    def _cgi(self) -> None:
        path, _, query = self.path.partition("?")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = _read_chunked(self.rfile)
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": unquote(path),
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": self.client_address[0],
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        }
        done = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, timeout=120)
        raw = done.stdout
        sep = b"\r\n\r\n" if b"\r\n\r\n" in raw else b"\n\n"
        head, _, payload = raw.partition(sep)
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.strip().split()[0])
            elif key:
                headers.append((key, value.strip()))
        if done.returncode != 0 and not head:
            status, payload = 500, done.stderr
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@dataclass
class GitServer:
    """Serves the bare repositories under ``root`` at ``https://127.0.0.1:PORT/<path>``."""

    root: Path
    port: int

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"


def git(*args: str | Path, cwd: Path | None = None, ca: Path | None = None) -> str:
    """Run git for a test (``ca``: the CA to trust for an https:// remote)."""
    env = {**os.environ, "GIT_SSL_CAINFO": str(ca)} if ca else None
    done = subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, (args, done.stderr)
    return done.stdout.strip()


def publish(work: Path, server: GitServer, path: str) -> str:
    """Make ``work`` (a repository with commits) available as ``<server>/<path>``; returns its URL.

    Pushes every branch and tag; call it again after new commits.
    """
    bare = server.root / path
    if not bare.exists():
        bare.parent.mkdir(parents=True, exist_ok=True)
        git("init", "-q", "--bare", bare)
        git("config", "uploadpack.allowFilter", "true", cwd=bare)
        git("config", "uploadpack.allowAnySHA1InWant", "true", cwd=bare)
    git("push", "-q", "--force", str(bare), "--all", cwd=work)
    git("push", "-q", "--force", str(bare), "--tags", cwd=work)
    # The server's default branch is the one checked out in ``work`` (a clone without --branch gets it).
    git("symbolic-ref", "HEAD", f"refs/heads/{git('branch', '--show-current', cwd=work)}", cwd=bare)
    return server.url(path)


@contextmanager
def serve_git(root: Path, cert: Path, key: Path) -> Iterator[GitServer]:
    root.mkdir(parents=True, exist_ok=True)
    handler = type("Handler", (_Handler,), {"root": root})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield GitServer(root, httpd.server_address[1])
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)
