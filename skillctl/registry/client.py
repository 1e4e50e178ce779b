"""A small, read-only registry API client: fetch a manifest over HTTPS with the user's credentials.

skillctl writes through the container tools; this reads back what they wrote
(an independent check, and a cheap one: no extra process per read). It speaks
Basic auth and the Bearer token flow with credentials from the same auth files
the tools use. Anything it cannot handle makes the caller fall back to the
backend, so it never decides alone that a registry is unreachable.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
from email.message import Message
from pathlib import Path
from typing import Final

from skillctl.backends.base import Backend, RegistryOptions
from skillctl.core import auth
from skillctl.core.errors import AuthError, IntegrityError, NetworkError, NotFoundError, SkillctlError
from skillctl.core.refs import Reference

log = logging.getLogger(__name__)

MANIFEST_ACCEPT: Final = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
MAX_MANIFEST: Final = 4 * 1024 * 1024


def ssl_context(opts: RegistryOptions, registry: str | None = None) -> ssl.SSLContext:
    """Verification on unless ``tls_verify`` is off; the registry's CA directory (``--cert-dir``, else its
    certs.d directory) adds CAs (``*.crt``) and client keys (``*.cert``/``*.key``)."""
    cert_dir = opts.cert_dir_for(registry)
    return _context(opts.tls_verify, str(cert_dir) if cert_dir else None)


@functools.lru_cache(maxsize=16)
def _context(verify: bool, cert_dir: str | None) -> ssl.SSLContext:
    # Built once per setting: loading the system CAs costs more than a loopback request.
    if not verify:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    ctx = ssl.create_default_context()
    if cert_dir:
        for ca in sorted(Path(cert_dir).glob("*.crt")):
            ctx.load_verify_locations(cafile=str(ca))
        for cert in sorted(Path(cert_dir).glob("*.cert")):
            key = cert.with_suffix(".key")
            ctx.load_cert_chain(str(cert), str(key) if key.exists() else None)
    return ctx


def challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="…",service="…"`` -> ("bearer", {"realm": …, "service": …})."""
    scheme, _, rest = header.partition(" ")
    return scheme.lower(), dict(re.findall(r'(\w+)="([^"]*)"', rest))


class _SafeRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects (registries send blobs to storage), but never carry credentials off the origin or to http."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is None:
            return None
        old, target = urllib.parse.urlsplit(req.full_url), urllib.parse.urlsplit(newurl)
        if old.scheme == "https" and target.scheme != "https":
            raise AuthError(f"the registry redirected {req.full_url} to plain HTTP; refusing")
        if (old.scheme, old.netloc) != (target.scheme, target.netloc):
            new.headers.pop("Authorization", None)
            new.unredirected_hdrs.pop("Authorization", None)
        return new


def _open(url: str, ctx: ssl.SSLContext, timeout: float, headers: dict[str, str]) -> tuple[int, Message, bytes]:
    """(status, headers, body) for any status; header lookups are case-insensitive."""
    if not url.startswith(("https://", "http://")):
        raise AuthError(f"the registry sent an unusable URL {url!r}")
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - scheme checked above
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx), _SafeRedirects())
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, response.headers, response.read(MAX_MANIFEST + 1)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, b""


def _token(
    params: dict[str, str], scope: str, creds: auth.Credentials | None, ctx: ssl.SSLContext, timeout: float
) -> str:
    query = {"service": params.get("service", ""), "scope": scope}
    headers = {}
    if creds:
        query["account"] = creds.username
        headers["Authorization"] = "Basic " + base64.b64encode(f"{creds.username}:{creds.secret}".encode()).decode()
    status, _, body = _open(f"{params['realm']}?{urllib.parse.urlencode(query)}", ctx, timeout, headers)
    if status != 200:
        raise AuthError(f"the registry's token service answered HTTP {status}")
    data = json.loads(body)
    return str(data.get("token") or data.get("access_token") or "")


def _get(
    registry: str, path: str, *, scope: str, repository: str, opts: RegistryOptions, accept: str = "application/json"
) -> tuple[int, Message, bytes]:
    """An authenticated GET of ``/v2/...``: Basic or Bearer with the user's credentials, TLS as configured."""
    ctx = ssl_context(opts, registry)
    timeout = min(opts.timeout, 60)
    last: Exception | None = None
    for scheme in ["https"] if opts.tls_verify else ["https", "http"]:
        url = f"{scheme}://{registry}{path}"
        headers = {"Accept": accept}
        try:
            status, response_headers, body = _open(url, ctx, timeout, headers)
        except (OSError, ssl.SSLError) as exc:
            last = exc
            continue
        if status == 401:
            kind, params = challenge(response_headers.get("WWW-Authenticate", ""))
            creds = auth.lookup(registry, repository=repository, authfile=opts.authfile, env=opts.env)
            if kind == "basic" and creds:
                secret = base64.b64encode(f"{creds.username}:{creds.secret}".encode()).decode()
                headers["Authorization"] = f"Basic {secret}"
            elif kind == "bearer" and params.get("realm"):
                if opts.tls_verify and not params["realm"].startswith("https://"):
                    raise AuthError(f"{registry}: the token service {params['realm']!r} is not HTTPS; refusing")
                headers["Authorization"] = f"Bearer {_token(params, scope, creds, ctx, timeout)}"
            else:
                raise AuthError(f"{registry}: authentication required")
            status, response_headers, body = _open(url, ctx, timeout, headers)
        return status, response_headers, body
    raise OSError(f"{registry}: unreachable ({last})")


def fetch_manifest(ref: Reference, opts: RegistryOptions) -> bytes:
    """The exact manifest bytes of ``ref``.

    Raises:
        NotFoundError: the registry has no such manifest.
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


def list_repositories(registry: str, opts: RegistryOptions, *, prefix: str = "", limit: int = 100_000) -> list[str]:
    """Repository paths from the registry's catalog (``/v2/_catalog``, paginated), those under ``prefix``.

    Raises:
        UnsupportedOperation: the registry offers no catalog (it is optional in the distribution spec).
    """
    from skillctl.core.errors import UnsupportedOperation

    repos: list[str] = []
    path = "/v2/_catalog?n=1000"
    while path and len(repos) < limit:
        try:
            status, headers, body = _get(registry, path, scope="registry:catalog:*", repository=registry, opts=opts)
        except OSError as exc:
            raise NetworkError(f"{registry}: cannot list repositories ({exc})") from None
        if status in (401, 403, 404, 405):
            raise UnsupportedOperation(
                f"{registry}: the registry does not list its repositories (HTTP {status})",
                hint="name the repositories, or list them in a file for -f",
            )
        if status != 200:
            raise AuthError(f"{registry}: the catalog answered HTTP {status}")
        try:
            repos.extend(str(r) for r in json.loads(body).get("repositories") or [])
        except (ValueError, AttributeError):
            raise AuthError(f"{registry}: the catalog is not JSON") from None
        match = re.search(r"<([^>]+)>", headers.get("Link", "") or "")
        path = match.group(1) if match else ""
    wanted = prefix.strip("/")
    return sorted(r for r in repos if not wanted or r == wanted or r.startswith(wanted + "/"))


def read_manifest(ref: Reference, fallback: Backend, opts: RegistryOptions, *, how: list[str] | None = None) -> bytes:
    """``ref``'s manifest over the registry API, or through ``fallback`` when the API read fails.

    One in-process HTTP request instead of a tool process per manifest matters where
    skillctl reads many (listing versions, promotion, mirroring).
    """
    try:
        raw = fetch_manifest(ref, opts)
        if how is not None:
            how.append("over the registry API")
        return raw
    except (NotFoundError, IntegrityError):
        raise
    except (SkillctlError, OSError, ValueError) as exc:
        log.info("reading %s over the registry API failed (%s); using %s", ref, exc, fallback.name)
    if how is not None:
        how.append(f"with {fallback.name}")
    return fallback.manifest(ref, opts)


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
