"""skopeo: the reference backend. Copies manifests byte for byte, so digests survive."""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import tempfile
from pathlib import Path
from typing import ClassVar, Final

from skillctl.backends.base import LAYOUT_TAG, Capability, CLIBackend, RegistryOptions, read_digest_file
from skillctl.core.errors import UsageError
from skillctl.core.refs import Reference

_ACCEPT_ALL: Final = '{"default":[{"type":"insecureAcceptAnything"}]}'


@functools.cache
def _fallback_policy() -> Path:
    """An accept-anything policy in a private directory of this process (never a shared, guessable path)."""
    directory = Path(tempfile.mkdtemp(prefix="skillctl-policy-"))
    atexit.register(shutil.rmtree, directory, True)
    policy = directory / "policy.json"
    policy.write_text(_ACCEPT_ALL)
    return policy


def _docker(ref: Reference) -> str:
    return f"docker://{ref}"


def _flags(opts: RegistryOptions, ref: Reference, prefix: str = "") -> list[str]:
    """TLS, CA and auth flags for ``ref``'s registry; ``prefix`` is ``src-`` or ``dest-`` for copy."""
    args = [f"--{prefix}tls-verify={'true' if opts.tls_verify else 'false'}"]
    cert_dir = opts.cert_dir_for(ref.registry)
    if cert_dir:
        args.append(f"--{prefix}cert-dir={cert_dir}")
    if opts.authfile:
        args.append(f"--{prefix}authfile={opts.authfile}")
    return args


class SkopeoBackend(CLIBackend):
    name: ClassVar[str] = "skopeo"
    tool: ClassVar[str] = "skopeo"
    # skopeo 1.9 re-serialises an index whose entries carry artifactType (OCI 1.1), which --preserve-digests
    # refuses: a referrers fallback tag goes through crane.
    capabilities: ClassVar[frozenset[Capability]] = frozenset(Capability) - {
        Capability.DELETE_TAG,
        Capability.REFERRERS,
    }

    def _global(self) -> list[str]:
        # skillctl applies the signature policy itself (trust.policy: both signature formats, and where skopeo
        # is built without sigstore, as on Debian 12, whose skopeo refuses every image under a sigstoreSigned
        # scope). skopeo gets an accept-anything policy so it does not apply one a second time.
        return [self.tool, f"--policy={_fallback_policy()}"]

    def push_argv(self, layout: Path, dest: Reference, opts: RegistryOptions, digestfile: Path) -> list[str]:
        return [
            *self._global(),
            "copy",
            "--quiet",
            "--all",  # an index (a referrers fallback tag) goes whole; a skill image is one manifest anyway
            "--preserve-digests",
            f"--digestfile={digestfile}",
            *_flags(opts, dest, "dest-"),
            f"oci:{layout}:{LAYOUT_TAG}",
            _docker(dest),
        ]

    def push(self, layout: Path, dest: Reference, opts: RegistryOptions) -> str:
        with self._helper_credentials(opts, dest) as opts, tempfile.TemporaryDirectory(prefix="skillctl-") as tmp:
            digestfile = Path(tmp) / "digest"
            self._run(self.push_argv(layout, dest, opts, digestfile), opts, what=f"push to {dest}")
            return read_digest_file(digestfile)

    def pull_argv(self, src: Reference, layout: Path, opts: RegistryOptions) -> list[str]:
        # An OCI layout holds no signatures: with registries.d's use-sigstore-attachments (what podman needs to
        # apply sigstoreSigned policies) skopeo would try to copy them there and fail. skillctl verifies them itself.
        return [
            *self._global(),
            "copy",
            "--quiet",
            "--preserve-digests",
            "--remove-signatures",
            *_flags(opts, src, "src-"),
            _docker(src),
            f"oci:{layout}:{LAYOUT_TAG}",
        ]

    def pull(self, src: Reference, layout: Path, opts: RegistryOptions) -> None:
        with self._helper_credentials(opts, src) as opts:
            self._run(self.pull_argv(src, layout, opts), opts, what=f"pull {src}")

    def manifest(self, ref: Reference, opts: RegistryOptions) -> bytes:
        with self._helper_credentials(opts, ref) as opts:
            argv = [*self._global(), "inspect", "--raw", *_flags(opts, ref), _docker(ref)]
            return self._run(argv, opts, what=f"read manifest of {ref}").stdout

    def config(self, ref: Reference, opts: RegistryOptions) -> bytes:
        with self._helper_credentials(opts, ref) as opts:
            argv = [*self._global(), "inspect", "--config", "--raw", *_flags(opts, ref), _docker(ref)]
            return self._run(argv, opts, what=f"read config of {ref}").stdout

    def list_tags(self, repo: Reference, opts: RegistryOptions) -> list[str]:
        with self._helper_credentials(opts, repo) as opts:
            argv = [*self._global(), "list-tags", *_flags(opts, repo), f"docker://{repo.repository}"]
            out = self._run(argv, opts, what=f"list tags of {repo.repository}").stdout
        return [str(t) for t in json.loads(out).get("Tags") or []]

    def copy_argv(self, src: Reference, dest: Reference, opts: RegistryOptions, digestfile: Path) -> list[str]:
        return [
            *self._global(),
            "copy",
            "--quiet",
            "--all",
            "--preserve-digests",
            f"--digestfile={digestfile}",
            *_flags(opts, src, "src-"),
            *_flags(opts, dest, "dest-"),
            _docker(src),
            _docker(dest),
        ]

    def copy(self, src: Reference, dest: Reference, opts: RegistryOptions) -> str:
        with self._helper_credentials(opts, src, dest) as opts, tempfile.TemporaryDirectory(prefix="skillctl-") as tmp:
            digestfile = Path(tmp) / "digest"
            self._run(self.copy_argv(src, dest, opts, digestfile), opts, what=f"copy {src} to {dest}")
            return read_digest_file(digestfile)

    def delete(self, ref: Reference, opts: RegistryOptions) -> None:
        if not ref.digest:
            # skopeo resolves a tag and deletes the manifest, taking every other tag on it along.
            raise UsageError(f"{ref}: the skopeo backend deletes by digest only")
        with self._helper_credentials(opts, ref) as opts:
            argv = [*self._global(), "delete", *_flags(opts, ref), _docker(ref)]
            self._run(argv, opts, what=f"delete {ref}")
