"""Where served skills come from: the catalog (registries and the local store), or the skills installed in an
agent's directory (each receipt names an image, served from the local store, verified; never the installed files,
which install changes: it records its provenance in ``skill.yaml``).

A source lists candidate versions (manifests only) and, for one version, gives the tree its layers unpacked to
through the hardened unpack (layer digests checked) with its file listing.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import Protocol

from skillctl.catalog.content import ContentCache, FileEntry
from skillctl.catalog.index import Index
from skillctl.catalog.records import SkillVersion, skill_from_manifest
from skillctl.catalog.service import Catalog
from skillctl.consume.install import Destination, list_installed, read_receipt
from skillctl.core.errors import SkillctlError
from skillctl.core.logs import get_logger
from skillctl.core.refs import is_digest, parse_reference
from skillctl.store.layout import Store

log = get_logger(__name__)


class SkillSource(Protocol):
    name: str

    def prepare(self) -> None:
        """Make the first listing possible (the catalog's first sync)."""

    def candidates(self) -> list[SkillVersion]:
        """Every version this source could serve (manifests only)."""

    def tree(self, version: SkillVersion) -> tuple[Path, list[FileEntry]]:
        """The version's files unpacked from its verified layers, and their listing."""

    def close(self) -> None: ...


class CatalogSource:
    """The catalog's index (registries and the store) and its content cache."""

    def __init__(self, catalog: Catalog, *, own: bool = False) -> None:
        self.catalog = catalog
        self.own = own
        self.name = ", ".join(s.describe() for s in catalog.settings.sources) or "the catalog"

    def prepare(self) -> None:
        if self.catalog.syncer.completed == 0:
            self.catalog.sync()

    def candidates(self) -> list[SkillVersion]:
        return self.catalog.index.all_versions()

    def tree(self, version: SkillVersion) -> tuple[Path, list[FileEntry]]:
        tree = self.catalog.content.tree(version)
        return tree, self.catalog.content.files(version)

    def close(self) -> None:
        if self.own:
            self.catalog.close()


class InstalledSource:
    """The skills installed in agent directories: the image each receipt names, from the local store."""

    def __init__(self, destinations: list[Destination], store: Store) -> None:
        self.destinations = destinations
        self.store = store
        self.name = ", ".join(d.label for d in destinations)
        self._dir = Path(tempfile.mkdtemp(prefix="skillctl-mcp-installed-"))
        self._content = ContentCache(self._dir, Index(":memory:"), {}, store_path=store.root)
        self._warned: set[str] = set()

    def prepare(self) -> None:
        return None

    def _once(self, key: str, message: str, *args: object) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message, *args)

    def candidates(self) -> list[SkillVersion]:
        found = []
        for skill in list_installed(self.destinations):
            receipt = read_receipt(skill.path.parent, skill.path.name)
            if receipt is None or not is_digest(receipt.digest):
                self._once(f"nr:{skill.path}", "%s: no receipt naming an image; not served", skill.path)
                continue
            if not self.store.has_blob(receipt.digest):
                self._once(
                    f"ns:{receipt.digest}",
                    "%s: its image %s is not in the local store (%s); not served",
                    skill.path,
                    receipt.digest,
                    self.store.root,
                )
                continue
            try:
                manifest = self.store.manifest(receipt.digest)
                ref = parse_reference(receipt.source) if receipt.source else None
            except SkillctlError as exc:
                self._once(f"bad:{receipt.digest}", "%s: %s; not served", skill.path, exc)
                continue
            repository = ref.repository if ref is not None else skill.path.name
            tag = (ref.tag if ref is not None else None) or receipt.version or receipt.digest
            version = skill_from_manifest("", repository, tag, manifest)
            if version is None:
                self._once(f"ns:{skill.path}", "%s: its image is not a skill image; not served", skill.path)
                continue
            found.append(version)
        return found

    def tree(self, version: SkillVersion) -> tuple[Path, list[FileEntry]]:
        return self._content.tree(version), self._content.files(version)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._content.index.close()
        shutil.rmtree(self._dir, ignore_errors=True)
