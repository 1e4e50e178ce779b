"""The backend interface: what skillctl asks of a container tool, and what each tool can do safely.

A backend moves images between a one-image OCI layout directory and a
registry, and reads registry metadata. Operations a tool cannot do safely are
left out of its ``capabilities``; skillctl then uses another installed backend
(and says so) or fails with a clear message, never with a different image.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import re
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import ClassVar, Final, Protocol, runtime_checkable

from skillctl.core import auth, proc
from skillctl.core.deadline import HINT as deadline_hint
from skillctl.core.errors import AuthError, DeadlineExceeded, ToolTimeoutError, UnsupportedOperation
from skillctl.core.refs import Reference
from skillctl.core.registry_options import RegistryOptions

LAYOUT_TAG: Final = "skillctl"
"""The ``org.opencontainers.image.ref.name`` of the single image in an exchange layout."""


class Capability(enum.Enum):
    PUSH = "push"  # layout -> registry
    PULL = "pull"  # registry -> layout
    MANIFEST = "manifest"  # raw manifest and config bytes of a remote reference
    TAGS = "tags"  # list a repository's tags
    COPY = "copy"  # registry -> registry without a local copy (retag)
    DELETE = "delete"  # delete a manifest by digest
    EXACT = "exact"  # push and pull keep manifest and blob bytes, so digests survive
    ANNOTATE = "annotate"  # push a layout holding only a new manifest and its config (blobs already remote)
    DELETE_TAG = "delete-tag"  # delete(repo:tag) removes only that tag where the registry supports it
    REFERRERS = "referrers"  # push and copy an OCI 1.1 index (a referrers fallback tag) byte for byte


RegistryCheck = Callable[[str, "RegistryOptions"], None]
_REGISTRY_CHECKS: list[RegistryCheck] = []


def add_registry_check(check: RegistryCheck) -> None:
    """Run ``check(registry, opts)`` before a built-in backend contacts a registry with credentials.

    The registry client registers its security preflight here (a registry naming a plain-HTTP token
    service is refused before any tool is handed the password); backends cannot import it themselves.
    """
    if check not in _REGISTRY_CHECKS:
        _REGISTRY_CHECKS.append(check)


def check_registries(opts: RegistryOptions, *refs: Reference) -> None:
    for registry in dict.fromkeys(r.registry for r in refs if r.registry):
        for check in _REGISTRY_CHECKS:
            check(registry, opts)


@runtime_checkable
class Backend(Protocol):
    """What a backend provides. Third-party backends register under the ``skillctl.backends`` entry point."""

    name: ClassVar[str]
    tool: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]]

    def available(self) -> bool:
        """Whether the tool is installed."""

    def version(self) -> str:
        """The tool's version string."""

    def push(self, layout: Path, dest: Reference, opts: RegistryOptions) -> str:
        """Push the layout's image to ``dest``; return the manifest digest the registry stored."""

    def pull(self, src: Reference, layout: Path, opts: RegistryOptions) -> None:
        """Write ``src`` as a one-image OCI layout in the new directory ``layout``."""

    def manifest(self, ref: Reference, opts: RegistryOptions) -> bytes:
        """The exact manifest bytes of ``ref``."""

    def config(self, ref: Reference, opts: RegistryOptions) -> bytes:
        """The exact config blob bytes of ``ref``'s image."""

    def list_tags(self, repo: Reference, opts: RegistryOptions) -> list[str]:
        """Every tag of ``repo``'s repository."""

    def copy(self, src: Reference, dest: Reference, opts: RegistryOptions) -> str:
        """Copy registry to registry keeping the digest; return it."""

    def delete(self, ref: Reference, opts: RegistryOptions) -> None:
        """Delete the manifest ``ref`` by digest; with DELETE_TAG, a tag reference deletes only the tag."""


class CLIBackend:
    """Shared plumbing for the built-in backends that shell out to a tool."""

    name: ClassVar[str] = ""
    tool: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[Capability]] = frozenset()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.tool}>"

    def available(self) -> bool:
        return shutil.which(self.tool) is not None

    def version(self) -> str:
        out = self._run([self.tool, "--version"], RegistryOptions(timeout=30), what=f"{self.tool} --version").text
        match = re.search(r"(\d+\.\d+(?:\.\d+)?)", out)
        return match.group(1) if match else out.strip()

    def _run(
        self,
        argv: Sequence[str],
        opts: RegistryOptions,
        *,
        what: str,
        env: Mapping[str, str] | None = None,
        input: bytes | None = None,
    ) -> proc.ProcResult:
        try:
            return proc.run(
                argv,
                timeout=opts.time_left(what),
                env=env or opts.environ(),
                what=what,
                input=input,
                max_file_bytes=opts.max_file_bytes,
            )
        except ToolTimeoutError:
            if opts.deadline is not None and opts.deadline.expired:
                # What ran out is the command's --timeout, not a limit of this one tool.
                raise DeadlineExceeded(
                    f"{what}: --timeout of {opts.deadline.seconds:g}s reached", hint=deadline_hint
                ) from None
            raise

    @contextlib.contextmanager
    def _helper_credentials(self, opts: RegistryOptions, *refs: Reference) -> Iterator[RegistryOptions]:
        """``opts``, or a copy whose ``authfile`` is a private temporary file holding credentials that came
        from a Docker credential helper (directory 0700, file 0600, removed afterwards).

        skopeo, podman and buildah read the auth files and ``credHelpers`` themselves, but never run a
        Docker config's ``credsStore``; handing the credentials over keeps that source working too.
        """
        check_registries(opts, *refs)
        env = opts.environ()
        try:
            found = {
                r.registry: auth.lookup(r.registry, repository=r.repository, authfile=opts.authfile, env=env)
                for r in refs
                if r.registry
            }
        except AuthError:
            found = {}  # a missing or unreadable auth file: the tool reports it in its own words
        if not any(c is not None and c.source.startswith("credential helper") for c in found.values()):
            yield opts
            return
        with auth.docker_config_dir(found, env) as config_dir:
            yield dataclasses.replace(opts, authfile=config_dir / "config.json")

    def _unsupported(self, operation: str) -> UnsupportedOperation:
        return UnsupportedOperation(f"the {self.name} backend cannot {operation} safely")

    def push(self, layout: Path, dest: Reference, opts: RegistryOptions) -> str:
        raise self._unsupported("push")

    def pull(self, src: Reference, layout: Path, opts: RegistryOptions) -> None:
        raise self._unsupported("pull")

    def manifest(self, ref: Reference, opts: RegistryOptions) -> bytes:
        raise self._unsupported("read raw manifests")

    def config(self, ref: Reference, opts: RegistryOptions) -> bytes:
        raise self._unsupported("read raw configs")

    def list_tags(self, repo: Reference, opts: RegistryOptions) -> list[str]:
        raise self._unsupported("list tags")

    def copy(self, src: Reference, dest: Reference, opts: RegistryOptions) -> str:
        raise self._unsupported("copy between registries")

    def delete(self, ref: Reference, opts: RegistryOptions) -> None:
        raise self._unsupported("delete from registries")


_SYSTEM_BUNDLES: Final = (Path("/etc/ssl/certs/ca-certificates.crt"), Path("/etc/pki/tls/certs/ca-bundle.crt"))


def write_ca_bundle(cert_dirs: Path | Sequence[Path], dest: Path) -> Path:
    """The system CAs plus each ``cert_dir/*.crt`` in one file, for tools that take only ``SSL_CERT_FILE``."""
    dirs = [cert_dirs] if isinstance(cert_dirs, Path | str) else list(cert_dirs)
    parts = [p.read_bytes() for p in _SYSTEM_BUNDLES if p.exists()]
    for directory in dict.fromkeys(Path(d) for d in dirs):
        parts += [p.read_bytes() for p in sorted(directory.glob("*.crt"))]
    dest.write_bytes(b"\n".join(parts))
    return dest


def write_layout(root: Path, manifest: bytes, blobs: Mapping[str, bytes | Path], *, media_type: str = "") -> Path:
    """A one-image OCI layout in ``root``: the manifest tagged ``LAYOUT_TAG``, and the blobs given.

    ``blobs`` maps digests to bytes, or to files that are hard-linked (blobs are immutable).
    A layout may be sparse: blobs the registry already holds can be left out.
    """
    import hashlib
    import json

    from skillctl.core.fsutil import link_or_copy

    directory = root / "blobs" / "sha256"
    directory.mkdir(parents=True, exist_ok=True)
    digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    for blob_digest, data in {**blobs, digest: manifest}.items():
        target = directory / blob_digest.split(":", 1)[1]
        if isinstance(data, bytes):
            target.write_bytes(data)
        elif not target.exists():
            link_or_copy(data, target)
    media_type = media_type or json.loads(manifest).get("mediaType") or "application/vnd.oci.image.manifest.v1+json"
    entry = {
        "mediaType": media_type,
        "digest": digest,
        "size": len(manifest),
        "annotations": {"org.opencontainers.image.ref.name": LAYOUT_TAG},
    }
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))
    return root


def read_digest_file(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip()
