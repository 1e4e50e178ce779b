"""An image's files as a directory, for the tools that read content (lint, diff, the validation gate).

A registry reference is pulled into a private temporary store (the user's store is left as it was) and unpacked
through the hardened unpack; a local reference is unpacked from the store. The directory lives as long as the
``with`` block.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from skillctl.backends.base import RegistryOptions
from skillctl.core import oci
from skillctl.core.refs import parse_reference
from skillctl.image.unpack import UnpackLimits, unpack_manifest
from skillctl.store.layout import Store


@dataclass
class Tree:
    path: Path
    ref: str
    manifest: oci.Manifest

    @property
    def annotations(self) -> dict[str, str]:
        return dict(self.manifest.annotations)


@contextlib.contextmanager
def unpacked(
    ref: str,
    *,
    store: Store | None = None,
    backend: str | None = None,
    opts: RegistryOptions | None = None,
    limits: UnpackLimits | None = None,
) -> Iterator[Tree]:
    """``ref``'s files in a temporary directory: from the registry for a registry reference, else the store."""
    from skillctl.registry.transfer import pull

    parsed = parse_reference(ref)
    with tempfile.TemporaryDirectory(prefix="skillctl-tree-") as tmp:
        if parsed.is_remote:
            private = Store(Path(tmp) / "store")
            result = pull(str(parsed), store=private, backend=backend, opts=opts, allow_archived=True)
            manifest = private.manifest(result.digest)
            source = private
        else:
            source = store or Store()
            manifest = source.manifest(source.resolve(parsed).digest)
        done = unpack_manifest(source, manifest, Path(tmp) / "tree", limits=limits)
        yield Tree(done.path, str(parsed), manifest)
