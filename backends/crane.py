"""crane (go-containerregistry): byte-exact like skopeo, but reads only a Docker config and one CA bundle.

Credentials are handed over in a private temporary ``DOCKER_CONFIG`` (0600,
removed afterwards); the registries' CA directories (``--cert-dir`` or certs.d) become an
``SSL_CERT_FILE`` bundle.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from skillctl.backends.base import Capability, CLIBackend, RegistryOptions, write_ca_bundle
from skillctl.core import auth
from skillctl.core.errors import TLSError
from skillctl.core.refs import Reference


def _http_fallback_host(registry: str) -> tuple[str, int] | None:
    """(host, port) when crane would silently fall back to plain HTTP for ``registry``, else None.

    go-containerregistry pings https and http in parallel for localhost, loopback
    and RFC 1918 addresses and ``*.localhost`` names, even without ``--insecure``.
    """
    if registry.startswith("["):
        host, _, rest = registry[1:].partition("]")
        port = rest.removeprefix(":")
    else:
        host, _, port = registry.partition(":")
    try:
        ip = ipaddress.ip_address(host)
        fallback = ip.is_loopback or ip.is_private
    except ValueError:
        fallback = host == "localhost" or host.endswith(".localhost")
    return (host, int(port or 443)) if fallback else None


def _require_tls(registry: str, timeout: float) -> None:
    """Refuse a registry that answers plain HTTP where TLS is required (crane itself would accept it)."""
    target = _http_fallback_host(registry)
    if target is None:
        return
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # only the protocol is checked here; crane verifies the certificate
    try:
        with socket.create_connection(target, timeout=min(timeout, 10)) as sock:
            ctx.wrap_socket(sock, server_hostname=target[0]).close()
    except ssl.SSLError as exc:
        raise TLSError(
            f"{registry}: the registry does not speak TLS (plain HTTP?): {exc.reason or exc}",
            hint="pass --tls-verify=false for a plain-HTTP registry",
        ) from None
    except OSError:
        return  # unreachable: crane reports that itself


class CraneBackend(CLIBackend):
    name: ClassVar[str] = "crane"
    tool: ClassVar[str] = "crane"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(Capability)

    def version(self) -> str:
        return self._run([self.tool, "version"], RegistryOptions(timeout=30), what="crane version").text.strip()

    @contextlib.contextmanager
    def _env(self, opts: RegistryOptions, *refs: Reference) -> Iterator[dict[str, str]]:
        if opts.tls_verify:
            for registry in dict.fromkeys(r.registry for r in refs if r.registry):
                _require_tls(registry, opts.timeout)
        env = opts.environ()
        creds = {
            r.registry: auth.lookup(r.registry, repository=r.repository, authfile=opts.authfile, env=env)
            for r in refs
            if r.registry
        }
        with auth.docker_config_dir(creds) as config_dir:
            env["DOCKER_CONFIG"] = str(config_dir)
            env.pop("REGISTRY_AUTH_FILE", None)
            cert_dirs = [d for d in (opts.cert_dir_for(r.registry) for r in refs) if d is not None]
            if cert_dirs:
                # crane takes one CA bundle for every registry of the call (and no client keys).
                env["SSL_CERT_FILE"] = str(write_ca_bundle(cert_dirs, config_dir / "ca-bundle.crt"))
            yield env

    def _flags(self, opts: RegistryOptions) -> list[str]:
        return [] if opts.tls_verify else ["--insecure"]

    def push(self, layout: Path, dest: Reference, opts: RegistryOptions) -> str:
        with self._env(opts, dest) as env:
            refs_file = Path(env["DOCKER_CONFIG"]) / "image-refs"
            argv = [self.tool, "push", *self._flags(opts), str(layout), str(dest), f"--image-refs={refs_file}"]
            self._run(argv, opts, what=f"push to {dest}", env=env)
            return refs_file.read_text().strip().rsplit("@", 1)[-1]

    def pull(self, src: Reference, layout: Path, opts: RegistryOptions) -> None:
        with self._env(opts, src) as env:
            argv = [self.tool, "pull", *self._flags(opts), "--format=oci", str(src), str(layout)]
            self._run(argv, opts, what=f"pull {src}", env=env)

    def manifest(self, ref: Reference, opts: RegistryOptions) -> bytes:
        with self._env(opts, ref) as env:
            argv = [self.tool, "manifest", *self._flags(opts), str(ref)]
            return self._run(argv, opts, what=f"read manifest of {ref}", env=env).stdout

    def config(self, ref: Reference, opts: RegistryOptions) -> bytes:
        with self._env(opts, ref) as env:
            argv = [self.tool, "config", *self._flags(opts), str(ref)]
            return self._run(argv, opts, what=f"read config of {ref}", env=env).stdout

    def list_tags(self, repo: Reference, opts: RegistryOptions) -> list[str]:
        with self._env(opts, repo) as env:
            argv = [self.tool, "ls", *self._flags(opts), repo.repository]
            out = self._run(argv, opts, what=f"list tags of {repo.repository}", env=env).text
            return [line.strip() for line in out.splitlines() if line.strip()]

    def copy(self, src: Reference, dest: Reference, opts: RegistryOptions) -> str:
        with self._env(opts, src, dest) as env:
            self._run(
                [self.tool, "copy", *self._flags(opts), str(src), str(dest)],
                opts,
                what=f"copy {src} to {dest}",
                env=env,
            )
            if src.digest:
                # crane copies the manifest bytes unchanged; reading dest back could see another writer's tag.
                return src.digest
            argv = [self.tool, "digest", *self._flags(opts), str(dest)]
            return self._run(argv, opts, what=f"read digest of {dest}", env=env).text.strip()

    def delete(self, ref: Reference, opts: RegistryOptions) -> None:
        with self._env(opts, ref) as env:
            self._run([self.tool, "delete", *self._flags(opts), str(ref)], opts, what=f"delete {ref}", env=env)
