"""Many registry API reads in a row, cheaply: kept-alive connections and remembered credentials.

``client`` answers one question per call (a fresh connection, the auth challenge
every time), which is right for a command. The catalog asks thousands in a
row: a tag list per repository, manifests, layer blobs on demand. A session
keeps one HTTP/1.1 connection per thread, sends the credentials the registry
asked for once without waiting for the challenge again, and counts every
request it makes (the sync benchmark and ``/metrics`` report them). TLS and
credentials come from the same places as everywhere else (``client.ssl_context``,
``core.auth``); a credential never leaves the registry's origin or goes to
plain HTTP.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import http.client
import json
import logging
import re
import ssl
import threading
import urllib.parse
from collections.abc import Callable
from email.message import Message
from typing import Final

from skillctl.backends.base import RegistryOptions
from skillctl.core import auth
from skillctl.core.errors import AuthError, IntegrityError, NetworkError, NotFoundError, UnsupportedOperation
from skillctl.registry.client import MANIFEST_ACCEPT, MAX_MANIFEST, challenge, ssl_context

log = logging.getLogger(__name__)

MAX_LISTING: Final = 8 * 1024 * 1024
"""Largest tag-list or catalog page read (a hostile registry could answer with gigabytes)."""
MAX_PAGES: Final = 1000
_CHUNK: Final = 64 * 1024
_RETRYABLE: Final = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, http.client.BadStatusLine)


class _Response:
    """Status, headers and a body read up to a cap (or streamed by the caller)."""

    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.raw = response
        self.status = response.status
        self.headers: Message = response.headers

    def read(self, limit: int, what: str) -> bytes:
        length = self.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > limit:
            self.raw.close()
            raise IntegrityError(f"{what}: the registry announced {length} bytes, more than the {limit} allowed")
        body = self.raw.read(limit + 1)
        if len(body) > limit:
            self.raw.close()
            raise IntegrityError(f"{what}: the registry sent more than {limit} bytes")
        return body

    def drain(self) -> None:
        try:
            while self.raw.read(_CHUNK):
                pass
        except (OSError, http.client.HTTPException):
            self.raw.close()


class RegistrySession:
    """Reads of one registry's API (``/v2/...``), thread-safe, for a long run of requests."""

    def __init__(self, registry: str, opts: RegistryOptions | None = None, *, timeout: float | None = None) -> None:
        self.registry = registry
        self.opts = opts or RegistryOptions()
        self.timeout = timeout if timeout is not None else min(self.opts.timeout, 60.0)
        self._ctx: ssl.SSLContext = ssl_context(self.opts, registry)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._scheme: str | None = None
        self._basic: str | None = None  # the Authorization value once the registry asked for Basic
        self._tokens: dict[str, str] = {}  # scope -> Bearer token
        self._counts: collections.Counter[str] = collections.Counter()
        self._connections: list[http.client.HTTPConnection] = []

    # -- bookkeeping ---------------------------------------------------------------
    @property
    def requests(self) -> dict[str, int]:
        """HTTP requests made so far, by kind (``tags``, ``manifest``, ``head``, ``blob``, ``catalog``, ``token``)."""
        with self._lock:
            return dict(self._counts)

    def _count(self, kind: str) -> None:
        with self._lock:
            self._counts[kind] += 1

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()

    # -- connections -------------------------------------------------------------
    def _new_connection(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        if scheme == "https":
            return http.client.HTTPSConnection(netloc, timeout=self.timeout, context=self._ctx)
        return http.client.HTTPConnection(netloc, timeout=self.timeout)

    def _connection(self, scheme: str) -> http.client.HTTPConnection:
        conns: dict[str, http.client.HTTPConnection] = self._local.__dict__.setdefault("conns", {})
        conn = conns.get(scheme)
        if conn is None:
            conn = self._new_connection(scheme, self.registry)
            conns[scheme] = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _drop_connection(self, scheme: str) -> None:
        conns: dict[str, http.client.HTTPConnection] = self._local.__dict__.setdefault("conns", {})
        conn = conns.pop(scheme, None)
        if conn is not None:
            conn.close()

    def _send(self, scheme: str, method: str, path: str, headers: dict[str, str]) -> _Response:
        """One request on this thread's kept-alive connection; a connection the server closed is reopened once."""
        for attempt in (1, 2):
            conn = self._connection(scheme)
            try:
                conn.request(method, path, headers=headers)
                return _Response(conn.getresponse())
            except _RETRYABLE:
                self._drop_connection(scheme)
                if attempt == 2:
                    raise
            except BaseException:
                self._drop_connection(scheme)
                raise
        raise AssertionError("unreachable")

    def _schemes(self) -> list[str]:
        if self._scheme:
            return [self._scheme]
        return ["https"] if self.opts.tls_verify else ["https", "http"]

    # -- auth ----------------------------------------------------------------------
    def _credentials(self, repository: str) -> auth.Credentials | None:
        return auth.lookup(self.registry, repository=repository, authfile=self.opts.authfile, env=self.opts.env)

    def _authorization(self, scope: str) -> str | None:
        with self._lock:
            if self._basic:
                return self._basic
            token = self._tokens.get(scope)
        return f"Bearer {token}" if token else None

    def _fetch_token(self, params: dict[str, str], scope: str, repository: str) -> str:
        realm = params.get("realm", "")
        target = urllib.parse.urlsplit(realm)
        if target.scheme not in ("https", "http") or not target.netloc:
            raise AuthError(f"{self.registry}: the registry sent an unusable token service {realm!r}")
        if target.scheme != "https" and (self.opts.tls_verify or self._scheme == "https"):
            raise AuthError(f"{self.registry}: the token service {realm!r} is not HTTPS; refusing")
        query = {"service": params.get("service", ""), "scope": scope}
        headers = {"Accept": "application/json"}
        creds = self._credentials(repository)
        if creds:
            query["account"] = creds.username
            secret = base64.b64encode(f"{creds.username}:{creds.secret}".encode()).decode()
            headers["Authorization"] = f"Basic {secret}"
        path = (target.path or "/") + "?" + (target.query + "&" if target.query else "") + urllib.parse.urlencode(query)
        conn = self._new_connection(target.scheme, target.netloc)
        self._count("token")
        try:
            conn.request("GET", path, headers=headers)
            response = _Response(conn.getresponse())
            body = response.read(1024 * 1024, f"{self.registry}: token")
        except OSError as exc:
            raise NetworkError(f"{self.registry}: the token service is unreachable ({exc})") from None
        finally:
            conn.close()
        if response.status != 200:
            raise AuthError(f"{self.registry}: the token service answered HTTP {response.status}")
        try:
            data = json.loads(body)
            return str(data.get("token") or data.get("access_token") or "")
        except (ValueError, AttributeError):
            raise AuthError(f"{self.registry}: the token service did not answer JSON") from None

    def _answer_challenge(self, response: _Response, scope: str, repository: str) -> None:
        kind, params = challenge(response.headers.get("WWW-Authenticate", ""))
        if kind == "basic":
            creds = self._credentials(repository)
            if not creds:
                raise AuthError(f"{self.registry}: authentication required and no credentials in the auth files")
            secret = base64.b64encode(f"{creds.username}:{creds.secret}".encode()).decode()
            with self._lock:
                self._basic = f"Basic {secret}"
        elif kind == "bearer" and params.get("realm"):
            token = self._fetch_token(params, scope, repository)
            with self._lock:
                self._tokens[scope] = token
        else:
            raise AuthError(f"{self.registry}: authentication required")

    # -- requests ------------------------------------------------------------------
    def _get(
        self, method: str, path: str, *, kind: str, scope: str, repository: str, accept: str = "application/json"
    ) -> _Response:
        """An authenticated request; the caller reads or drains the response before the next one."""
        last: Exception | None = None
        for scheme in self._schemes():
            try:
                response = self._authenticated(
                    scheme, method, path, kind=kind, scope=scope, repository=repository, accept=accept
                )
            except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
                last = exc
                continue
            self._scheme = scheme
            return response
        raise NetworkError(f"{self.registry}: unreachable ({last})")

    def _authenticated(
        self, scheme: str, method: str, path: str, *, kind: str, scope: str, repository: str, accept: str
    ) -> _Response:
        sent_auth = None
        for _ in range(2):
            headers = {"Accept": accept}
            sent_auth = self._authorization(scope)
            if sent_auth:
                if scheme != "https" and self.opts.tls_verify:
                    raise AuthError(f"{self.registry}: refusing to send credentials over plain HTTP")
                headers["Authorization"] = sent_auth
            response = self._send(scheme, method, path, headers)
            self._count(kind)
            if response.status != 401:
                return response
            response.drain()
            if sent_auth and sent_auth.startswith("Basic"):
                raise AuthError(f"{self.registry}: the credentials in the auth file were refused (HTTP 401)")
            self._answer_challenge(response, scope, repository)
        raise AuthError(f"{self.registry}: the registry refused the credentials (HTTP 401)")

    def catalog(self, prefix: str = "") -> list[str]:
        """Repository paths from ``/v2/_catalog`` (paginated), those under ``prefix``.

        Raises:
            UnsupportedOperation: the registry offers no catalog.
        """
        repos: list[str] = []
        path = "/v2/_catalog?n=1000"
        for _ in range(MAX_PAGES):
            response = self._get("GET", path, kind="catalog", scope="registry:catalog:*", repository=self.registry)
            if response.status in (401, 403, 404, 405):
                response.drain()
                raise UnsupportedOperation(
                    f"{self.registry}: the registry does not list its repositories (HTTP {response.status})",
                    hint="name the repositories with --repositories",
                )
            body = response.read(MAX_LISTING, f"{self.registry}: catalog")
            if response.status != 200:
                raise NetworkError(f"{self.registry}: the catalog answered HTTP {response.status}")
            try:
                repos.extend(str(r) for r in json.loads(body).get("repositories") or [])
            except (ValueError, AttributeError):
                raise IntegrityError(f"{self.registry}: the catalog is not JSON") from None
            path = _next_link(response.headers, self.registry)
            if not path:
                break
        wanted = prefix.strip("/")
        return sorted(r for r in repos if not wanted or r == wanted or r.startswith(wanted + "/"))

    def tags(self, repository: str) -> list[str]:
        """Every tag of ``repository`` (a path on this registry).

        Raises:
            NotFoundError: the registry has no such repository.
        """
        tags: list[str] = []
        path = f"/v2/{repository}/tags/list"
        scope = f"repository:{repository}:pull"
        for _ in range(MAX_PAGES):
            response = self._get("GET", path, kind="tags", scope=scope, repository=f"{self.registry}/{repository}")
            if response.status == 404:
                response.drain()
                raise NotFoundError(f"{self.registry}/{repository}: no such repository")
            body = response.read(MAX_LISTING, f"{self.registry}/{repository}: tag list")
            if response.status != 200:
                raise _status_error(response.status, f"{self.registry}/{repository}: listing tags")
            try:
                tags.extend(str(t) for t in json.loads(body).get("tags") or [])
            except (ValueError, AttributeError):
                raise IntegrityError(f"{self.registry}/{repository}: the tag list is not JSON") from None
            path = _next_link(response.headers, self.registry)
            if not path:
                break
        return tags

    def manifest(self, repository: str, reference: str) -> tuple[str, bytes]:
        """``(digest, bytes)`` of a manifest by tag or digest, capped and checked against its digest."""
        where = f"{self.registry}/{repository}:{reference}"
        response = self._get(
            "GET",
            f"/v2/{repository}/manifests/{reference}",
            kind="manifest",
            scope=f"repository:{repository}:pull",
            repository=f"{self.registry}/{repository}",
            accept=MANIFEST_ACCEPT,
        )
        if response.status == 404:
            response.drain()
            raise NotFoundError(f"{where}: manifest unknown")
        body = response.read(MAX_MANIFEST, f"{where}: manifest")
        if response.status != 200:
            raise _status_error(response.status, f"{where}: reading the manifest")
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        expected = reference if reference.startswith("sha256:") else response.headers.get("Docker-Content-Digest")
        if expected and expected.startswith("sha256:") and expected != digest:
            raise IntegrityError(f"{where}: the registry sent a manifest that does not match its digest {expected}")
        return digest, body

    def head(self, repository: str, reference: str) -> str:
        """The digest a tag points at (``HEAD``, no body), for re-checking a tag cheaply.

        Raises:
            NotFoundError: the tag is gone.
        """
        where = f"{self.registry}/{repository}:{reference}"
        response = self._get(
            "HEAD",
            f"/v2/{repository}/manifests/{reference}",
            kind="head",
            scope=f"repository:{repository}:pull",
            repository=f"{self.registry}/{repository}",
            accept=MANIFEST_ACCEPT,
        )
        response.drain()
        if response.status == 404:
            raise NotFoundError(f"{where}: manifest unknown")
        if response.status != 200:
            raise _status_error(response.status, f"{where}: checking the tag")
        digest = response.headers.get("Docker-Content-Digest", "")
        if not re.fullmatch(r"sha256:[a-f0-9]{64}", digest):
            # No usable digest header: read the manifest itself.
            digest, _ = self.manifest(repository, reference)
        return digest

    def blob(self, repository: str, digest: str, sink: Callable[[bytes], object], *, max_size: int) -> int:
        """Stream a blob into ``sink`` in chunks (never whole in memory), at most ``max_size`` bytes.

        Registries may redirect blobs to storage elsewhere: credentials never follow
        off the origin, and HTTPS never becomes plain HTTP.
        """
        where = f"{self.registry}/{repository}@{digest}"
        response = self._get(
            "GET",
            f"/v2/{repository}/blobs/{digest}",
            kind="blob",
            scope=f"repository:{repository}:pull",
            repository=f"{self.registry}/{repository}",
            accept="*/*",
        )
        origin = (self._scheme or "https", self.registry)
        redirected: list[http.client.HTTPConnection] = []
        try:
            return self._read_blob(response, origin, redirected, where, sink, max_size)
        finally:
            for conn in redirected:
                conn.close()

    def _read_blob(
        self,
        response: _Response,
        origin: tuple[str, str],
        redirected: list[http.client.HTTPConnection],
        where: str,
        sink: Callable[[bytes], object],
        max_size: int,
    ) -> int:
        for _ in range(5):
            if response.status not in (301, 302, 303, 307, 308):
                break
            location = response.headers.get("Location", "")
            response.drain()
            target = urllib.parse.urlsplit(urllib.parse.urljoin(f"{origin[0]}://{origin[1]}/", location))
            if target.scheme not in ("http", "https") or not target.netloc:
                raise IntegrityError(f"{where}: the registry redirected to an unusable URL")
            if origin[0] == "https" and target.scheme != "https":
                raise AuthError(f"{where}: the registry redirected to plain HTTP; refusing")
            conn = self._new_connection(target.scheme, target.netloc)
            redirected.append(conn)
            self._count("blob")
            conn.request("GET", urllib.parse.urlunsplit(("", "", target.path, target.query, "")) or "/")
            response = _Response(conn.getresponse())
            origin = (target.scheme, target.netloc)
        if response.status == 404:
            response.drain()
            raise NotFoundError(f"{where}: blob unknown")
        if response.status != 200:
            response.drain()
            raise _status_error(response.status, f"{where}: reading the blob")
        length = response.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > max_size:
            response.raw.close()
            raise IntegrityError(f"{where}: {length} bytes is more than the {max_size} allowed")
        total = 0
        while chunk := response.raw.read(_CHUNK):
            total += len(chunk)
            if total > max_size:
                response.raw.close()
                raise IntegrityError(f"{where}: more than the {max_size} bytes allowed")
            sink(chunk)
        return total


def _next_link(headers: Message, registry: str) -> str:
    """The path of the next page from a ``Link: <...>; rel="next"`` header, only on the same registry."""
    match = re.search(r"<([^>]+)>", headers.get("Link", "") or "")
    if not match:
        return ""
    target = urllib.parse.urlsplit(match.group(1))
    if target.netloc and target.netloc != registry:
        return ""
    if not target.path.startswith("/v2/"):
        return ""
    return target.path + (f"?{target.query}" if target.query else "")


def _status_error(status: int, what: str) -> Exception:
    if status in (401, 403):
        return AuthError(f"{what}: access denied (HTTP {status})")
    if status == 429 or status >= 500:
        return NetworkError(f"{what}: the registry answered HTTP {status}")
    return IntegrityError(f"{what}: unexpected HTTP {status}")
