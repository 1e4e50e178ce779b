"""A small, read-only registry API client: manifests, the catalog and the login check, over one HTTP path.

skillctl writes through the container tools; this reads back what they wrote
(an independent check, and a cheap one: no extra process per read). It speaks
Basic auth and the Bearer token flow with credentials from the same auth files
the tools use, and it is the only place skillctl itself sends credentials, so
the rules live here once: redirects never carry credentials to another origin
or from HTTPS to HTTP, a token service must be HTTPS when TLS is verified, and
such a refusal (:class:`SecurityRefusal`) is final. Anything else it cannot
handle makes the caller fall back to the backend, so it never decides alone
that a registry is unreachable. Every request runs against the command's
deadline (see :mod:`skillctl.core.deadline`), headers and body included.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import hashlib
import http.client
import json
import re
import socket
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from email.message import Message
from typing import Any, Final

from skillctl.backends.base import Backend, RegistryOptions, add_registry_check
from skillctl.core import auth, oci, tls
from skillctl.core.deadline import Deadline, within
from skillctl.core.errors import (
    AuthError,
    DeadlineExceeded,
    IntegrityError,
    NetworkError,
    NotFoundError,
    SecurityRefusal,
    SkillctlError,
    TLSError,
    UnsupportedOperation,
)
from skillctl.core.logs import get_logger
from skillctl.core.refs import Reference

log = get_logger(__name__)

MANIFEST_ACCEPT: Final = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)
MAX_MANIFEST: Final = 4 * 1024 * 1024
MAX_CATALOG_PAGES: Final = 1000
MAX_LISTING: Final = 8 * 1024 * 1024
"""Largest tag-list or catalog page read (a hostile registry could answer with gigabytes)."""
_TOKEN_RE: Final = re.compile(r"[\x21-\x7e]+")


class TokenServiceError(AuthError):
    """The token service answered 200 with something that is not a token: no backend does better."""


class NoPlatformImage(NotFoundError):
    """An image index without an image for the platform skillctl resolves indexes to."""


def ssl_context(opts: RegistryOptions, registry: str | None = None) -> ssl.SSLContext:
    """Verification on unless ``tls_verify`` is off; the registry's CA directory (``--cert-dir``, else its
    certs.d directory) adds CAs (``*.crt``) and client keys (``*.cert``/``*.key``)."""
    cert_dir = opts.cert_dir_for(registry)
    return tls.client_context(opts.tls_verify, str(cert_dir) if cert_dir else None)


def tls_hint(registry: str) -> str:
    return (
        f"put the registry's CA in ~/.config/containers/certs.d/{registry}/ca.crt (or pass --cert-dir DIR), "
        "or --tls-verify=false for a local registry"
    )


def challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="…",service="…"`` -> ("bearer", {"realm": …, "service": …})."""
    scheme, _, rest = header.partition(" ")
    return scheme.lower(), dict(re.findall(r'(\w+)="([^"]*)"', rest))


def _origin(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme, parts.netloc


def _redirect_keeps_credentials(url: str, newurl: str) -> bool:
    """The redirect rule: whether a request to ``url`` redirected to ``newurl`` may keep its credentials.

    Raises:
        SecurityRefusal: the target is not HTTP(S), or it turns HTTPS into plain HTTP.
    """
    old, target = urllib.parse.urlsplit(url), urllib.parse.urlsplit(newurl)
    if target.scheme not in ("https", "http") or not target.netloc:
        raise SecurityRefusal(f"the registry redirected {url} to {newurl!r}; refusing")
    if old.scheme == "https" and target.scheme != "https":
        raise SecurityRefusal(f"the registry redirected {url} to plain HTTP ({newurl}); refusing")
    return (old.scheme, old.netloc) == (target.scheme, target.netloc)


class _SafeRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects (registries send blobs to storage), but never carry credentials off the origin or to http."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is None:
            return None
        if not _redirect_keeps_credentials(req.full_url, newurl):
            new.headers.pop("Authorization", None)
            new.unredirected_hdrs.pop("Authorization", None)
        return new


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """For requests that carry a password to check it: a redirect is answered, not followed."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None


class _Watch:
    """The sockets one request opens, each shut down by the deadline; released when the request ends."""

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline
        self.socks: list[socket.socket] = []

    def connection(self, base: type[http.client.HTTPConnection]) -> Any:
        watch = self

        class Watched(base):  # type: ignore[valid-type,misc]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self._create_connection = watch.create_connection

        return Watched

    def create_connection(self, address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        sock = socket.create_connection(address, *args, **kwargs)
        # A duplicate descriptor of the same socket: TLS wrapping detaches the original object, but
        # shutting the duplicate down ends the connection all the same (handshake included).
        guard = sock.dup()
        self.socks.append(guard)
        self.deadline.watch(guard)
        return sock

    def release(self) -> None:
        for sock in self.socks:
            self.deadline.unwatch(sock)
            sock.close()


class _HTTPS(urllib.request.HTTPSHandler):
    def __init__(self, ctx: ssl.SSLContext, watch: _Watch) -> None:
        super().__init__(context=ctx)
        self._ctx, self._watch = ctx, watch

    def https_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(self._watch.connection(http.client.HTTPSConnection), req, context=self._ctx)


class _HTTP(urllib.request.HTTPHandler):
    def __init__(self, watch: _Watch) -> None:
        super().__init__()
        self._watch = watch

    def http_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(self._watch.connection(http.client.HTTPConnection), req)


def _read_body(
    response: Any, deadline: Deadline, limit: int, url: str, sink: Callable[[bytes], object] | None = None
) -> bytes:
    """At most ``limit + 1`` bytes, one receive at a time, within the deadline; streamed into ``sink`` when
    given (a blob is never whole in memory; then nothing is returned).

    Raises:
        http.client.IncompleteRead: the connection ended before the announced length (``read1`` would return
            nothing, as if the body were complete).
    """
    chunks: list[bytes] = []
    put = sink or chunks.append
    total = 0
    while total <= limit:
        if getattr(response, "length", None) == 0:
            response.read()  # the whole body is in: finish the response, so the connection can serve another
            break
        chunk = response.read1(min(65536, limit + 1 - total))
        if not chunk:
            deadline.remaining(f"reading {url}")  # a socket shut down by the deadline looks like the end too
            if getattr(response, "length", None):
                raise http.client.IncompleteRead(b"", response.length)
            break
        put(chunk)
        total += len(chunk)
        deadline.remaining(f"reading {url}")
    deadline.remaining(f"reading {url}")
    return b"".join(chunks)


def _open(
    url: str,
    ctx: ssl.SSLContext,
    deadline: Deadline,
    headers: dict[str, str],
    *,
    follow: bool = True,
    limit: int = MAX_MANIFEST,
    sink: Callable[[bytes], object] | None = None,
) -> tuple[int, Message, bytes]:
    """(status, headers, body) for any status; header lookups are case-insensitive. With ``sink`` a 200's
    body is streamed there instead.

    Raises:
        SecurityRefusal: an unusable URL or redirect (final).
        DeadlineExceeded: the deadline passed, during the connection, the headers or the body.
        OSError: anything else on the way (callers try another scheme or the backend).
    """
    if urllib.parse.urlsplit(url).scheme not in ("https", "http"):
        raise SecurityRefusal(f"the registry sent an unusable URL {url!r}; refusing")
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - scheme checked above
    watch = _Watch(deadline)
    opener = urllib.request.build_opener(
        _HTTPS(ctx, watch), _HTTP(watch), _SafeRedirects() if follow else _NoRedirects()
    )
    try:
        try:
            response = opener.open(request, timeout=deadline.remaining(f"GET {url}"))
        except urllib.error.HTTPError as exc:
            exc.close()
            return exc.code, exc.headers, b""
        with response:
            return response.status, response.headers, _read_body(response, deadline, limit, url, sink)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if deadline.expired:
            raise DeadlineExceeded(f"GET {url}: --timeout of {deadline.seconds:g}s reached") from None
        if isinstance(exc, OSError):
            raise
        raise OSError(f"{url}: {exc}") from None  # a malformed answer, or a header we cannot send
    finally:
        watch.release()


def _basic(creds: auth.Credentials) -> str:
    return "Basic " + base64.b64encode(f"{creds.username}:{creds.secret}".encode()).decode()


def _token(
    registry: str,
    params: dict[str, str],
    scope: str,
    creds: auth.Credentials | None,
    opts: RegistryOptions,
    deadline: Deadline,
) -> str:
    """A Bearer token from the realm the registry names; credentials go there only over HTTPS (unless
    --tls-verify=false allows plain HTTP), and are never handed on by a redirect.

    Raises:
        SecurityRefusal: the realm is not HTTPS (or not HTTP at all).
        AuthError: the token service refused, or answered something that is not a token.
    """
    realm = params["realm"]
    check_realm(registry, realm, opts)
    query = {"service": params.get("service", ""), "scope": scope}
    headers = {}
    if creds:
        query["account"] = creds.username
        headers["Authorization"] = _basic(creds)
    url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
    # The token service gets the registry's TLS settings, as the containers tools give it.
    status, _, body = _open(url, ssl_context(opts, registry), deadline, headers, follow=not creds)
    if creds and 300 <= status < 400:
        raise SecurityRefusal(f"{registry}: the token service redirected a request carrying credentials; refusing")
    if status != 200:
        raise AuthError(f"{registry}: the registry's token service answered HTTP {status}")
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    token = (data.get("token") or data.get("access_token")) if isinstance(data, dict) else None
    if not isinstance(token, str) or not _TOKEN_RE.fullmatch(token):
        raise TokenServiceError(f"{registry}: the registry's token service answered without a usable token")
    return token


def check_realm(registry: str, realm: str, opts: RegistryOptions) -> None:
    """A token service may get credentials only over HTTPS (plain HTTP only with ``--tls-verify=false``).

    Raises:
        SecurityRefusal: it may not.
    """
    scheme = urllib.parse.urlsplit(realm).scheme
    if scheme not in ("https", "http") or (scheme == "http" and opts.tls_verify):
        raise SecurityRefusal(
            f"{registry}: the token service {realm!r} is not HTTPS; refusing to send credentials there",
            hint="a registry reached with TLS verification must name an HTTPS token service; "
            "--tls-verify=false allows plain HTTP for a lab registry",
        )


def _authorization(
    registry: str, header: str, creds: auth.Credentials | None, scope: str, opts: RegistryOptions, deadline: Deadline
) -> str:
    kind, params = challenge(header)
    if kind == "basic" and creds:
        return _basic(creds)
    if kind == "bearer" and params.get("realm"):
        return f"Bearer {_token(registry, params, scope, creds, opts, deadline)}"
    raise AuthError(f"{registry}: authentication required")


def _schemes(opts: RegistryOptions) -> list[str]:
    return ["https"] if opts.tls_verify else ["https", "http"]


def _get(
    registry: str,
    path: str,
    *,
    scope: str,
    repository: str,
    opts: RegistryOptions,
    accept: str = "application/json",
    limit: int = MAX_MANIFEST,
) -> tuple[int, Message, bytes]:
    """An authenticated GET of ``/v2/...``: Basic or Bearer with the user's credentials, TLS as configured.

    Inside :func:`kept_connections` it goes over the command's session for ``registry``."""
    session = pooled_session(registry, opts)
    if session is not None:
        path_of_repo = repository.split("/", 1)[1] if "/" in repository else ""
        return session._request(
            "GET", path, kind="read", repository=path_of_repo, accept=accept, limit=limit, scope=scope
        )
    ctx = ssl_context(opts, registry)
    deadline = within(opts.deadline, opts.timeout)
    last: Exception | None = None
    for scheme in _schemes(opts):
        url = f"{scheme}://{registry}{path}"
        headers = {"Accept": accept}
        try:
            status, response_headers, body = _open(url, ctx, deadline, headers, limit=limit)
        except OSError as exc:
            last = exc
            continue
        if status == 401:
            creds = auth.lookup(registry, repository=repository, authfile=opts.authfile, env=opts.env)
            header = response_headers.get("WWW-Authenticate", "")
            headers["Authorization"] = _authorization(registry, header, creds, scope, opts, deadline)
            status, response_headers, body = _open(url, ctx, deadline, headers, limit=limit)
        return status, response_headers, body
    raise OSError(f"{registry}: unreachable ({last})")


def _tls_failure(exc: BaseException) -> BaseException | None:
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    return reason if isinstance(reason, ssl.SSLError) else None


def check_credentials(registry: str, username: str, password: str, opts: RegistryOptions) -> bool:
    """True when the registry accepted the credentials, False when it asks for none.

    The same rules as every read: the password goes only to the registry itself or its HTTPS token
    service, and a credential check that is redirected elsewhere is refused, not followed.

    Raises:
        AuthError: the registry rejected them.
        SecurityRefusal: the check would send them somewhere unsafe.
        TLSError / NetworkError: the registry could not be reached safely.
    """
    ctx = ssl_context(opts, registry)
    deadline = within(opts.deadline, opts.timeout)
    creds = auth.Credentials(username, password, "login")
    last: Exception | None = None
    for scheme in _schemes(opts):
        base = f"{scheme}://{registry}/v2/"
        try:
            status, headers, _ = _open(base, ctx, deadline, {})
        except OSError as exc:
            failure = _tls_failure(exc)
            if failure is not None and opts.tls_verify:
                raise TLSError(
                    f"{registry}: TLS failed ({getattr(failure, 'reason', None) or failure})", hint=tls_hint(registry)
                ) from None
            last = exc
            continue
        if status == 200:
            return False
        kind, params = challenge(headers.get("WWW-Authenticate", ""))
        if status != 401 or kind not in ("basic", "bearer") or (kind == "bearer" and not params.get("realm")):
            raise AuthError(
                f"{registry}: GET /v2/ answered HTTP {status} without a usable challenge; is this a registry?",
                hint="check the address; nothing was saved",
            )
        try:
            if kind == "bearer":
                _token(registry, params, "", creds, opts, deadline)
                return True
            status, _, _ = _open(base, ctx, deadline, {"Authorization": _basic(creds)}, follow=False)
        except AuthError as exc:
            if isinstance(exc, SecurityRefusal):
                raise
            raise AuthError(
                f"{registry}: invalid username or password ({exc})",
                hint="check the user name and the password or token; nothing was saved",
            ) from None
        if 300 <= status < 400:
            raise SecurityRefusal(
                f"{registry}: the registry redirected the credential check (HTTP {status}); "
                "the password was not sent on, and nothing was saved"
            )
        if status == 200:
            return True
        raise AuthError(
            f"{registry}: invalid username or password (HTTP {status})",
            hint="check the user name and the password or token; nothing was saved",
        )
    raise NetworkError(f"{registry}: cannot reach the registry ({last})", hint="check the address and port")


def fetch_manifest(ref: Reference, opts: RegistryOptions) -> bytes:
    """The exact manifest bytes of ``ref``.

    Raises:
        NotFoundError: the registry has no such manifest.
        SecurityRefusal / DeadlineExceeded: final.
        AuthError / OSError / ValueError: anything else; callers fall back to a backend.
    """
    assert ref.registry is not None
    path = f"/v2/{ref.path}/manifests/{ref.digest or ref.tag_or_default}"
    status, _, body = _get(
        ref.registry,
        path,
        scope=f"repository:{ref.path}:pull",
        repository=ref.repository,
        opts=opts,
        accept=MANIFEST_ACCEPT,
    )
    if status == 404:
        raise NotFoundError(f"{ref}: manifest unknown")
    if status != 200 or len(body) > MAX_MANIFEST:
        raise AuthError(f"{ref}: the registry answered HTTP {status}")
    if ref.digest and hashlib.sha256(body).hexdigest() != ref.digest.split(":", 1)[1]:
        raise IntegrityError(f"{ref}: the registry sent a manifest that does not match its digest")
    return body


Getter = Callable[[str], tuple[int, Message, bytes]]
"""An authenticated GET of a ``/v2/...`` path: (status, headers, body)."""


def _next_page(registry: str, link: str, listing: str) -> str:
    """The path of the next page from a ``Link`` header; only the same listing on the same registry."""
    match = re.search(r"<([^>]+)>", link or "")
    if not match:
        return ""
    target = urllib.parse.urlsplit(match.group(1))
    if (target.scheme or target.netloc) and target.netloc != registry:
        raise SecurityRefusal(f"{registry}: {listing} links to another host ({match.group(1)!r}); refusing")
    if target.path != listing:
        raise AuthError(f"{registry}: the next page of {listing} is not {listing} ({match.group(1)!r})")
    return target.path + (f"?{target.query}" if target.query else "")


def _listing(
    registry: str, get: Getter, path: str, key: str, fail: Callable[[int], SkillctlError], *, limit: int = 100_000
) -> list[str]:
    """The entries under ``key`` of a paginated listing (the catalog, a tag list), pages linked by ``Link``.

    Paging stops at an empty page, at a page already read, after ``MAX_CATALOG_PAGES`` pages or
    ``limit`` entries, and at the deadline: a listing cannot keep skillctl reading forever.
    """
    listing = path.split("?", 1)[0]
    items: list[str] = []
    seen: set[str] = set()
    while path and len(items) < limit:
        if path in seen or len(seen) >= MAX_CATALOG_PAGES:
            log.warning("%s: the pages of %s loop or never end; stopped after %d", registry, listing, len(seen))
            break
        seen.add(path)
        status, headers, body = get(path)
        if status != 200:
            raise fail(status)
        try:
            page = json.loads(body).get(key) or []
            if not isinstance(page, list) or len(body) > MAX_LISTING:
                raise TypeError
        except (ValueError, AttributeError, TypeError):
            raise IntegrityError(f"{registry}: {listing} is not JSON of at most {MAX_LISTING} bytes") from None
        if not page:
            break
        items.extend(str(i) for i in page)
        path = _next_page(registry, headers.get("Link", "") or "", listing)
    return items


def _under(repos: list[str], prefix: str) -> list[str]:
    wanted = prefix.strip("/")
    return sorted({r for r in repos if not wanted or r == wanted or r.startswith(wanted + "/")})


def _no_catalog(registry: str, hint: str) -> Callable[[int], SkillctlError]:
    def fail(status: int) -> SkillctlError:
        if status in (401, 403, 404, 405):
            return UnsupportedOperation(
                f"{registry}: the registry does not list its repositories (HTTP {status})", hint=hint
            )
        return AuthError(f"{registry}: the catalog answered HTTP {status}")

    return fail


def fetch_tags(repo: Reference, opts: RegistryOptions) -> list[str]:
    """Every tag of ``repo`` from ``/v2/<name>/tags/list``, paginated and bounded as the catalog is.

    Raises:
        NotFoundError: the registry has no such repository.
        SecurityRefusal / DeadlineExceeded: final.
        AuthError / IntegrityError / OSError: anything else; callers fall back to a backend.
    """
    assert repo.registry is not None
    registry = repo.registry

    def get(path: str) -> tuple[int, Message, bytes]:
        scope = f"repository:{repo.path}:pull"
        return _get(registry, path, scope=scope, repository=repo.repository, opts=opts, limit=MAX_LISTING)

    def fail(status: int) -> SkillctlError:
        if status == 404:
            return NotFoundError(f"{repo.repository}: no such repository")
        return AuthError(f"{repo.repository}: listing tags answered HTTP {status}")

    return _listing(registry, get, f"/v2/{repo.path}/tags/list?n=1000", "tags", fail)


def fetch_blob(repo: Reference, digest: str, opts: RegistryOptions, *, limit: int = MAX_MANIFEST) -> bytes:
    """A small blob (an image config) of ``repo``, at most ``limit`` bytes, checked against ``digest``.

    Raises as ``fetch_manifest`` does.
    """
    assert repo.registry is not None
    status, _, body = _get(
        repo.registry,
        f"/v2/{repo.path}/blobs/{digest}",
        scope=f"repository:{repo.path}:pull",
        repository=repo.repository,
        opts=opts,
        accept="*/*",
    )
    if status == 404:
        raise NotFoundError(f"{repo.repository}@{digest}: blob unknown")
    if status != 200 or len(body) > limit:
        raise AuthError(f"{repo.repository}@{digest}: the registry answered HTTP {status}")
    if oci.sha256_digest(body) != digest:
        raise IntegrityError(f"{repo.repository}: the registry sent a blob that does not match its digest {digest}")
    return body


def list_repositories(registry: str, opts: RegistryOptions, *, prefix: str = "", limit: int = 100_000) -> list[str]:
    """Repository paths from the registry's catalog (``/v2/_catalog``, paginated), those under ``prefix``.

    Raises:
        UnsupportedOperation: the registry offers no catalog (it is optional in the distribution spec).
    """

    def get(path: str) -> tuple[int, Message, bytes]:
        try:
            return _get(registry, path, scope="registry:catalog:*", repository=registry, opts=opts, limit=MAX_LISTING)
        except OSError as exc:
            raise NetworkError(f"{registry}: cannot list repositories ({exc})") from None

    fail = _no_catalog(registry, "name the repositories, or list them in a file for -f")
    return _under(_listing(registry, get, "/v2/_catalog?n=1000", "repositories", fail, limit=limit), prefix)


FINAL: Final = (NotFoundError, IntegrityError, SecurityRefusal, DeadlineExceeded, TokenServiceError)
"""Errors that are the registry's answer: a caller does not try the same read another way after them."""


def read_manifest(ref: Reference, fallback: Backend, opts: RegistryOptions, *, how: list[str] | None = None) -> bytes:
    """``ref``'s manifest over the registry API, or through ``fallback`` when the API read fails.

    One in-process HTTP request instead of a tool process per manifest matters where
    skillctl reads many (listing versions, promotion, mirroring). Not found, a digest
    mismatch, a security refusal and the deadline are answers, not failures: no fallback.
    """
    try:
        raw = fetch_manifest(ref, opts)
        if how is not None:
            how.append("over the registry API")
        return raw
    except FINAL:
        raise
    except (SkillctlError, OSError, ValueError) as exc:
        log.info("reading %s over the registry API failed (%s); using %s", ref, exc, fallback.name)
    if how is not None:
        how.append(f"with {fallback.name}")
    raw = fallback.manifest(ref, opts)
    if ref.digest and oci.sha256_digest(raw) != ref.digest:
        raise IntegrityError(f"{ref}: {fallback.name} read a manifest that does not match its digest")
    return raw


def read_tags(repo: Reference, fallback: Backend, opts: RegistryOptions) -> list[str]:
    """``repo``'s tags over the registry API, or through ``fallback`` (its ``list_tags``) when that fails."""
    try:
        return fetch_tags(repo, opts)
    except FINAL:
        raise
    except (SkillctlError, OSError, ValueError) as exc:
        log.info("listing the tags of %s over the registry API failed (%s); using %s", repo, exc, fallback.name)
    return fallback.list_tags(repo, opts)


def read_config(image: Reference, config_digest: str, fallback: Backend, opts: RegistryOptions) -> bytes:
    """The config blob of the image ``image`` names, over the registry API or through ``fallback``'s ``config``.

    Either way the caller checks it against the manifest's config digest.
    """
    try:
        return fetch_blob(image, config_digest, opts)
    except FINAL:
        raise
    except (SkillctlError, OSError, ValueError) as exc:
        log.info("reading the config of %s over the registry API failed (%s); using %s", image, exc, fallback.name)
    return fallback.config(image, opts)


def read_image(ref: Reference, fallback: Backend, opts: RegistryOptions, *, how: list[str] | None = None) -> bytes:
    """The image manifest ``ref`` names; an image index resolves to its linux/amd64 image, as skopeo does.

    Every command that reads an image goes through here, so an index means the same everywhere.

    Raises:
        NotFoundError: no such manifest, or an index without a linux/amd64 image.
    """
    raw = read_manifest(ref, fallback, opts, how=how)
    if not oci.is_index(raw):
        return raw
    child, offered = oci.index_child(raw)
    if child is None:
        raise NoPlatformImage(
            f"{ref}: an image index without a {'/'.join(oci.PLATFORM)} image (it has: {', '.join(offered) or 'none'})",
            hint="skill images are single-platform; push the skill's own manifest",
        )
    log.info("%s is an image index; using its %s image %s", ref, "/".join(oci.PLATFORM), child)
    return read_manifest(ref.with_digest(child), fallback, opts)


_PREFLIGHT: dict[tuple[str, str | None], SecurityRefusal | None] = {}


def preflight(registry: str, opts: RegistryOptions) -> None:
    """Refuse a registry that names a plain-HTTP token service, before a backend tool is handed credentials.

    The tools would send the password there (skopeo does); the client refuses, and this makes the refusal
    hold for every backend. One unauthenticated ``GET /v2/`` per registry and process; a registry that
    cannot be reached here is left to the tool to report. With ``--tls-verify=false`` plain HTTP is allowed.
    """
    if not opts.tls_verify:
        return
    cert_dir = opts.cert_dir_for(registry)
    key = (registry, str(cert_dir) if cert_dir else None)
    if key not in _PREFLIGHT:
        _PREFLIGHT[key] = _preflight(registry, opts)
    refusal = _PREFLIGHT[key]
    if refusal is not None:
        raise SecurityRefusal(refusal.message, hint=refusal.hint)


def _preflight(registry: str, opts: RegistryOptions) -> SecurityRefusal | None:
    deadline = within(opts.deadline, opts.timeout)
    try:
        status, headers, _ = _open(f"https://{registry}/v2/", ssl_context(opts, registry), deadline, {})
    except SecurityRefusal as exc:
        return exc
    except OSError:
        return None
    kind, params = challenge(headers.get("WWW-Authenticate", "") or "")
    if status == 401 and kind == "bearer":
        try:
            check_realm(registry, params.get("realm", ""), opts)
        except SecurityRefusal as exc:
            return exc
    return None


add_registry_check(preflight)


def fetch_referrers(repo: Reference, digest: str, opts: RegistryOptions) -> bytes | None:
    """The image index the OCI 1.1 referrers API lists for ``digest``, or None when the registry has no such API.

    As the distribution spec says to detect it: ``GET /v2/<name>/referrers/<digest>`` answering an image index.
    Anything else (404 from registries that predate it, an error page) means no API; the caller then reads the
    fallback tag ``sha256-<hex>``.
    """
    assert repo.registry is not None
    try:
        status, _, body = _get(
            repo.registry,
            f"/v2/{repo.path}/referrers/{digest}",
            scope=f"repository:{repo.path}:pull",
            repository=repo.repository,
            opts=opts,
            accept="application/vnd.oci.image.index.v1+json",
        )
    except (SecurityRefusal, DeadlineExceeded):
        raise  # the fallback tag would be read the same way: these are answers
    except (OSError, ValueError, SkillctlError) as exc:
        log.info("the referrers API of %s could not be asked (%s); using the fallback tag", repo.registry, exc)
        return None
    if status != 200 or len(body) > MAX_MANIFEST:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("mediaType") != "application/vnd.oci.image.index.v1+json":
        return None
    return body


_RETRYABLE: Final = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, http.client.BadStatusLine)
_REDIRECTS: Final = (301, 302, 303, 307, 308)


class _Kept:
    """One kept-alive connection and a duplicate of its socket, which a request's deadline shuts down."""

    def __init__(self, conn: http.client.HTTPConnection) -> None:
        self.conn = conn
        self.guard: socket.socket | None = None
        self.deadline: Deadline | None = None
        conn._create_connection = self._create_connection  # type: ignore[attr-defined]

    def _create_connection(self, address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        sock = socket.create_connection(address, *args, **kwargs)
        self._drop_guard()
        self.guard = sock.dup()  # as in _Watch: survives TLS wrapping, and shutting it down ends the connection
        if self.deadline is not None:
            self.deadline.watch(self.guard)
        return sock

    def _drop_guard(self) -> None:
        if self.guard is not None:
            if self.deadline is not None:
                self.deadline.unwatch(self.guard)
            self.guard.close()
            self.guard = None

    def begin(self, deadline: Deadline, what: str) -> None:
        self.deadline = deadline
        left = deadline.remaining(what)
        self.conn.timeout = left
        if self.conn.sock is not None:
            self.conn.sock.settimeout(left)
        if self.guard is not None:
            deadline.watch(self.guard)

    def end(self) -> None:
        if self.guard is not None and self.deadline is not None:
            self.deadline.unwatch(self.guard)
        self.deadline = None

    def close(self) -> None:
        self.end()
        self.conn.close()
        self._drop_guard()


class RegistrySession:
    """Many reads of one registry's API (``/v2/...``) in a row, thread-safe: what the catalog syncs with, and
    what a command's reads share inside :func:`kept_connections`.

    The one-shot functions above answer one question per call (a fresh connection, the auth challenge every
    time). A session keeps its HTTP/1.1 connections alive and hands an idle one to the next request,
    whichever thread makes it (a request has its connection alone while it runs), sends the credentials
    the registry asked for without waiting for the challenge again, and counts its requests (the sync
    benchmark and ``/metrics`` report them). Everything else is this module's, unchanged: the TLS context,
    credentials from the auth files, the token flow and its checks, the redirect rule (a redirect off the
    origin goes through :func:`_open`, credentials stripped), the body bounds, and a deadline on every
    request (the command's when ``opts`` carries one, else ``timeout`` seconds each), headers and body
    included.
    """

    def __init__(self, registry: str, opts: RegistryOptions | None = None, *, timeout: float | None = None) -> None:
        self.registry = registry
        self.opts = opts or RegistryOptions()
        self.timeout = timeout if timeout is not None else min(self.opts.timeout, 60.0)
        self._ctx = ssl_context(self.opts, registry)
        self._idle: dict[str, list[_Kept]] = {}  # scheme -> connections no request is using
        self._lock = threading.Lock()
        self._scheme: str | None = None
        self._basic: dict[str, str] = {}  # auth lookup (registry/repository) -> Basic value, once asked for
        self._tokens: dict[str, str] = {}  # scope -> "Bearer ..."
        self._counts: collections.Counter[str] = collections.Counter()
        self._kept: list[_Kept] = []

    # -- bookkeeping ---------------------------------------------------------------
    @property
    def requests(self) -> dict[str, int]:
        """HTTP requests made so far, by kind (``tags``, ``manifest``, ``head``, ``blob``, ``catalog``)."""
        with self._lock:
            return dict(self._counts)

    def _count(self, kind: str) -> None:
        with self._lock:
            self._counts[kind] += 1

    def close(self) -> None:
        with self._lock:
            kept, self._kept, self._idle = self._kept, [], {}
        for k in kept:
            k.close()

    def _deadline(self) -> Deadline:
        return within(self.opts.deadline, self.timeout)

    # -- connections ---------------------------------------------------------------
    def _checkout(self, scheme: str, *, fresh: bool = False) -> _Kept:
        """An idle kept-alive connection (unless ``fresh``), else a new one; the caller has it alone until it
        hands it back."""
        with self._lock:
            idle = self._idle.setdefault(scheme, [])
            if idle and not fresh:
                return idle.pop()
        if scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(self.registry, context=self._ctx)
        else:
            conn = http.client.HTTPConnection(self.registry)
        kept = _Kept(conn)
        with self._lock:
            self._kept.append(kept)
        return kept

    def _hand_back(self, scheme: str, kept: _Kept, *, reusable: bool) -> None:
        if reusable:
            with self._lock:
                self._idle.setdefault(scheme, []).append(kept)
            return
        kept.close()
        with self._lock:
            if kept in self._kept:
                self._kept.remove(kept)

    def _send(
        self,
        scheme: str,
        method: str,
        path: str,
        headers: dict[str, str],
        deadline: Deadline,
        limit: int,
        sink: Callable[[bytes], object] | None,
        what: str,
    ) -> tuple[int, Message, bytes]:
        """One request on a kept-alive connection, its body read within the deadline and bounds (a body
        announced larger is refused unread). A request that fails before any of its body reached ``sink`` is
        sent once more on a new connection (the server may have closed an idle one); once part of a body has
        gone to ``sink``, a broken transfer is a NetworkError, never a second copy into the same sink.
        """
        url = f"{scheme}://{self.registry}{path}"
        delivered = 0

        def counting(chunk: bytes) -> object:
            nonlocal delivered
            delivered += len(chunk)
            return sink(chunk)  # type: ignore[misc]

        for attempt in (1, 2):
            kept = self._checkout(scheme, fresh=attempt == 2)
            kept.begin(deadline, f"{method} {url}")
            reusable = False
            try:
                kept.conn.request(method, path, headers=headers)
                response = kept.conn.getresponse()
                if method == "HEAD":
                    body = response.read()  # nothing, and the response is done with
                elif response.status in _REDIRECTS:
                    body = _read_body(response, deadline, 64 * 1024, url) and b""
                elif response.status == 200:
                    length = response.headers.get("Content-Length") or ""
                    if length.isdigit() and int(length) > limit:
                        raise IntegrityError(
                            f"{what}: the registry announced {length} bytes, more than the {limit} allowed"
                        )
                    body = _read_body(response, deadline, limit, url, counting if sink else None)
                else:
                    body = _read_body(response, deadline, 64 * 1024, url)
                # Unread bytes or the server's wish to close: not reusable.
                reusable = response.isclosed() and not response.will_close
                return response.status, response.headers, body
            except (*_RETRYABLE, http.client.IncompleteRead) as exc:
                if delivered:
                    raise NetworkError(f"{what}: the connection broke after {delivered} bytes ({exc!r})") from None
                if attempt == 2 or deadline.expired or isinstance(exc, http.client.IncompleteRead):
                    raise
            finally:
                kept.end()
                self._hand_back(scheme, kept, reusable=reusable)
        raise AssertionError("unreachable")

    # -- requests ------------------------------------------------------------------
    def _authorization(self, scope: str, lookup: str) -> str | None:
        with self._lock:
            return self._basic.get(lookup) or self._tokens.get(scope)

    def _remember(self, value: str, scope: str, lookup: str) -> None:
        """Basic credentials by the name they were looked up for (an auth file may hold one per repository),
        tokens by the scope they were issued for."""
        with self._lock:
            if value.startswith("Basic "):
                self._basic[lookup] = value
            else:
                self._tokens[scope] = value

    def _request(
        self,
        method: str,
        path: str,
        *,
        kind: str,
        repository: str,
        accept: str = "application/json",
        limit: int = MAX_MANIFEST,
        sink: Callable[[bytes], object] | None = None,
        what: str = "",
        scope: str | None = None,
    ) -> tuple[int, Message, bytes]:
        """An authenticated request of ``repository`` ('' for the registry); a redirect is followed by the rule.
        ``scope`` replaces the token scope derived from ``repository``.

        Raises:
            NetworkError: the registry cannot be reached over any allowed scheme.
            SecurityRefusal / DeadlineExceeded / AuthError: as for every read.
        """
        deadline = self._deadline()
        scope = scope or (f"repository:{repository}:pull" if repository else "registry:catalog:*")
        lookup = f"{self.registry}/{repository}" if repository else self.registry
        schemes = [self._scheme] if self._scheme else _schemes(self.opts)
        last: Exception | None = None
        for scheme in schemes:
            try:
                answer = self._authenticated(
                    scheme, method, path, kind, scope, lookup, accept, deadline, limit, sink, what or path
                )
            except (OSError, http.client.HTTPException, ValueError) as exc:
                if deadline.expired:
                    raise DeadlineExceeded(f"{method} {self.registry}{path}: --timeout reached") from None
                last = exc
                continue
            self._scheme = scheme
            return answer
        raise NetworkError(f"{self.registry}: unreachable ({last})")

    def _authenticated(
        self,
        scheme: str,
        method: str,
        path: str,
        kind: str,
        scope: str,
        lookup: str,
        accept: str,
        deadline: Deadline,
        limit: int,
        sink: Callable[[bytes], object] | None,
        what: str,
    ) -> tuple[int, Message, bytes]:
        sent: str | None = None
        for _ in range(2):
            headers = {"Accept": accept}
            sent = self._authorization(scope, lookup)
            if sent:
                headers["Authorization"] = sent
            status, response_headers, body = self._send(scheme, method, path, headers, deadline, limit, sink, what)
            self._count(kind)
            if status in _REDIRECTS:
                return self._redirected(scheme, path, response_headers, headers, kind, deadline, limit, sink)
            if status != 401:
                return status, response_headers, body
            if sent and sent.startswith("Basic "):
                raise AuthError(f"{self.registry}: the credentials in the auth file were refused (HTTP 401)")
            creds = auth.lookup(self.registry, repository=lookup, authfile=self.opts.authfile, env=self.opts.env)
            header = response_headers.get("WWW-Authenticate", "") or ""
            self._remember(_authorization(self.registry, header, creds, scope, self.opts, deadline), scope, lookup)
        raise AuthError(f"{self.registry}: the registry refused the credentials (HTTP 401)")

    def _redirected(
        self,
        scheme: str,
        path: str,
        response_headers: Message,
        headers: dict[str, str],
        kind: str,
        deadline: Deadline,
        limit: int,
        sink: Callable[[bytes], object] | None,
    ) -> tuple[int, Message, bytes]:
        """Registries send blobs (and some manifests) to storage elsewhere: the rest goes through :func:`_open`."""
        url = f"{scheme}://{self.registry}{path}"
        target = urllib.parse.urljoin(url, response_headers.get("Location", "") or "")
        onward = dict(headers)
        if not _redirect_keeps_credentials(url, target):
            onward.pop("Authorization", None)
        self._count(kind)
        return _open(target, self._ctx, deadline, onward, limit=limit, sink=sink)

    # -- the reads the catalog makes -------------------------------------------------
    def catalog(self, prefix: str = "") -> list[str]:
        """Repository paths from ``/v2/_catalog`` (paginated), those under ``prefix``.

        Raises:
            UnsupportedOperation: the registry offers no catalog.
        """

        def get(path: str) -> tuple[int, Message, bytes]:
            return self._request("GET", path, kind="catalog", repository="", limit=MAX_LISTING, what=self.registry)

        fail = _no_catalog(self.registry, "name the repositories with --repositories")
        return _under(_listing(self.registry, get, "/v2/_catalog?n=1000", "repositories", fail), prefix)

    def tags(self, repository: str) -> list[str]:
        """Every tag of ``repository`` (a path on this registry), every page.

        Raises:
            NotFoundError: the registry has no such repository.
        """
        where = f"{self.registry}/{repository}"

        def get(path: str) -> tuple[int, Message, bytes]:
            return self._request("GET", path, kind="tags", repository=repository, limit=MAX_LISTING, what=where)

        def fail(status: int) -> SkillctlError:
            if status == 404:
                return NotFoundError(f"{where}: no such repository")
            return _status_error(status, f"{where}: listing tags")

        return _listing(self.registry, get, f"/v2/{repository}/tags/list", "tags", fail)

    def manifest(self, repository: str, reference: str) -> tuple[str, bytes]:
        """``(digest, bytes)`` of a manifest by tag or digest, bounded and checked against its digest.

        Raises:
            NotFoundError: no such manifest.
            IntegrityError: larger than ``MAX_MANIFEST``, or not what its digest says.
        """
        where = f"{self.registry}/{repository}:{reference}"
        status, headers, body = self._request(
            "GET", f"/v2/{repository}/manifests/{reference}", kind="manifest", repository=repository,
            accept=MANIFEST_ACCEPT, what=f"{where}: manifest",
        )  # fmt: skip
        if status == 404:
            raise NotFoundError(f"{where}: manifest unknown")
        if status != 200:
            raise _status_error(status, f"{where}: reading the manifest")
        if len(body) > MAX_MANIFEST:
            raise IntegrityError(f"{where}: the manifest is larger than the {MAX_MANIFEST} bytes allowed")
        digest = oci.sha256_digest(body)
        expected = reference if reference.startswith("sha256:") else headers.get("Docker-Content-Digest")
        if expected and expected.startswith("sha256:") and expected != digest:
            raise IntegrityError(f"{where}: the registry sent a manifest that does not match its digest {expected}")
        return digest, body

    def head(self, repository: str, reference: str) -> str:
        """The digest a tag points at (``HEAD``, no body), for re-checking a tag cheaply.

        Raises:
            NotFoundError: the tag is gone.
        """
        where = f"{self.registry}/{repository}:{reference}"
        status, headers, _ = self._request(
            "HEAD", f"/v2/{repository}/manifests/{reference}", kind="head", repository=repository,
            accept=MANIFEST_ACCEPT,
        )  # fmt: skip
        if status == 404:
            raise NotFoundError(f"{where}: manifest unknown")
        if status != 200:
            raise _status_error(status, f"{where}: checking the tag")
        digest = headers.get("Docker-Content-Digest", "") or ""
        if not re.fullmatch(r"sha256:[a-f0-9]{64}", digest):
            digest, _ = self.manifest(repository, reference)  # no usable digest header: read the manifest
        return digest

    def blob(self, repository: str, digest: str, sink: Callable[[bytes], object], *, max_size: int) -> int:
        """Stream a blob into ``sink`` (never whole in memory), at most ``max_size`` bytes; the bytes sent.

        Raises:
            NotFoundError: no such blob.
            IntegrityError: more than ``max_size`` bytes.
        """
        where = f"{self.registry}/{repository}@{digest}"
        total = 0

        def counted(chunk: bytes) -> None:
            nonlocal total
            total += len(chunk)
            if total > max_size:
                raise IntegrityError(f"{where}: more than the {max_size} bytes allowed")
            sink(chunk)

        status, _, _ = self._request(
            "GET", f"/v2/{repository}/blobs/{digest}", kind="blob", repository=repository, accept="*/*",
            limit=max_size, sink=counted, what=where,
        )  # fmt: skip
        if status == 404:
            raise NotFoundError(f"{where}: blob unknown")
        if status != 200:
            raise _status_error(status, f"{where}: reading the blob")
        return total


class _Pool:
    """The sessions of one command (one deadline), and how many blocks use them: a thread pool running several
    pulls of one command shares it, and the last block to leave closes it."""

    def __init__(self) -> None:
        self.users = 0
        self.sessions: dict[tuple[object, ...], RegistrySession] = {}


_POOLS: dict[int, _Pool] = {}
_POOLS_LOCK = threading.Lock()


@contextlib.contextmanager
def kept_connections(opts: RegistryOptions) -> Iterator[None]:
    """Within this block, the reads made with ``opts`` (with its deadline: one command) share one
    :class:`RegistrySession` per registry: one TLS handshake and one auth challenge instead of one per
    request. Blocks with the same deadline, nested or in other threads, share the sessions; the last one to
    end closes them."""
    if opts.deadline is None:
        yield
        return
    key = id(opts.deadline)
    with _POOLS_LOCK:
        pool = _POOLS.setdefault(key, _Pool())
        pool.users += 1
    try:
        yield
    finally:
        with _POOLS_LOCK:
            pool.users -= 1
            done = pool.users == 0
            if done:
                del _POOLS[key]
        if done:
            for session in pool.sessions.values():
                session.close()


def proxied(registry: str) -> bool:
    """Whether an HTTP(S) proxy from the environment applies to ``registry``: the one-shot reads (urllib) and
    the tools go through it; a kept-alive session, which connects directly, must not be used then."""
    proxies = urllib.request.getproxies()
    if not (proxies.get("https") or proxies.get("http")):
        return False
    return not urllib.request.proxy_bypass(registry)


def pooled_session(registry: str, opts: RegistryOptions) -> RegistrySession | None:
    """The session :func:`kept_connections` keeps for ``registry`` and these options; None outside one, and
    when a proxy applies to the registry."""
    if opts.deadline is None:
        return None
    with _POOLS_LOCK:
        pool = _POOLS.get(id(opts.deadline))
    if pool is None or proxied(registry):
        return None
    key = (registry, opts.tls_verify, opts.cert_dir, opts.authfile, id(opts.env))
    with _POOLS_LOCK:
        session = pool.sessions.get(key)
        if session is None:
            session = pool.sessions[key] = RegistrySession(registry, opts, timeout=opts.timeout)
    return session


def _status_error(status: int, what: str) -> SkillctlError:
    if status in (401, 403):
        return AuthError(f"{what}: access denied (HTTP {status})")
    if status == 429 or status >= 500:
        return NetworkError(f"{what}: the registry answered HTTP {status}")
    return IntegrityError(f"{what}: unexpected HTTP {status}")
