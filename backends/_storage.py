"""Shared code of the podman and buildah backends.

Both go through containers-storage, which keeps layers uncompressed and merges
manifests that differ only in annotations into one image. So every operation
gets a fresh private storage (``--root``/``--runroot``, vfs driver) that is
removed afterwards: no operation sees another's images, and the machine's own
images are never touched. A push re-compresses a layer the registry has never
seen, so the digest may change; skillctl detects and reports that.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from skillctl.backends.base import LAYOUT_TAG, Capability, CLIBackend, RegistryOptions, read_digest_file
from skillctl.core.errors import AuthError
from skillctl.core.fsutil import link_or_copy
from skillctl.core.refs import Reference


class StorageBackend(CLIBackend):
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.PUSH, Capability.PULL})
    pull_policy: ClassVar[list[str]] = []

    @contextlib.contextmanager
    def _storage(self) -> Iterator[tuple[list[str], Path]]:
        tmp = _valid_image_name_dir(self.tool)
        try:
            yield [self.tool, f"--root={tmp / 'root'}", f"--runroot={tmp / 'run'}", "--storage-driver=vfs"], tmp
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _flags(self, opts: RegistryOptions, ref: Reference) -> list[str]:
        args = [f"--tls-verify={'true' if opts.tls_verify else 'false'}"]
        cert_dir = opts.cert_dir_for(ref.registry)
        if cert_dir:
            args.append(f"--cert-dir={cert_dir}")
        if opts.authfile:
            # podman and buildah fail on a missing --authfile; skopeo treats it as empty. Be explicit.
            if not Path(opts.authfile).exists():
                raise AuthError(f"{opts.authfile}: auth file does not exist")
            args.append(f"--authfile={opts.authfile}")
        return args

    def push(self, layout: Path, dest: Reference, opts: RegistryOptions) -> str:
        with self._helper_credentials(opts, dest) as opts, self._storage() as (base, tmp):
            local = tmp / "layout"
            shutil.copytree(layout, local, copy_function=link_or_copy)
            image_id = (
                self._run(
                    [*base, "pull", *self.pull_policy, "-q", f"oci:{local}:{LAYOUT_TAG}"],
                    opts,
                    what=f"load the image into {self.tool} storage",
                )
                .text.strip()
                .splitlines()[-1]
            )
            digestfile = tmp / "digest"
            argv = [
                *base,
                "push",
                "--quiet",
                "--format=oci",
                f"--digestfile={digestfile}",
                *self._flags(opts, dest),
                image_id,
                f"docker://{dest}",
            ]
            self._run(argv, opts, what=f"push to {dest}")
            return read_digest_file(digestfile)

    def pull(self, src: Reference, layout: Path, opts: RegistryOptions) -> None:
        with self._helper_credentials(opts, src) as opts, self._storage() as (base, _):
            argv = [*base, "pull", *self.pull_policy, "-q", *self._flags(opts, src), f"docker://{src}"]
            image_id = self._run(argv, opts, what=f"pull {src}").text.strip().splitlines()[-1]
            self._run(
                [*base, "push", "--quiet", "--format=oci", image_id, f"oci:{layout}:{LAYOUT_TAG}"],
                opts,
                what=f"export {src} from {self.tool} storage",
            )


def _valid_image_name_dir(tool: str) -> Path:
    """A new private directory whose path is a valid image name.

    podman names an image pulled from ``oci:DIR`` after DIR, and refuses uppercase
    letters or a stray '_' (which mkdtemp's random suffix may contain).
    """
    base = Path(tempfile.gettempdir())
    while True:
        path = base / f"skillctl-{tool}-{secrets.token_hex(8)}"
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700)
            return path


def parse_search_tags(output: bytes) -> list[str]:
    data = json.loads(output or b"[]")
    return [str(t) for entry in data for t in entry.get("Tags") or []]
