"""Signature status in the catalog: real cosign-layout signatures made by ``skillctl sign``, checked against the
catalog's public keys by the same verification ``skillctl verify`` runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from catalog_helpers import annotations, put_skill, skill_entries
from conftest import require_tool
from registry import Registry

from skillctl.backends.base import RegistryOptions
from skillctl.catalog.service import Catalog, CatalogSettings
from skillctl.catalog.sources import RegistrySource
from skillctl.trust.signing import generate_key_pair, sign

pytestmark = pytest.mark.integration
OPTS = RegistryOptions(tls_verify=False, timeout=120)
PASSPHRASE = b"catalog-test"


def test_verified_invalid_unsigned_and_without_keys(registry: Registry, tmp_path: Path) -> None:
    require_tool("skopeo")
    ns = registry.repo("x").split("/")[1]
    for name in ("signed", "unsigned"):
        put_skill(registry, f"{ns}/{name}", "1.0.0", entries=skill_entries(name, "1.0.0"),
                  ann=annotations(namespace=ns, version="1.0.0"))  # fmt: skip
    key, pub = generate_key_pair(tmp_path / "right", PASSPHRASE)
    _, other = generate_key_pair(tmp_path / "other", PASSPHRASE)
    sign(f"{registry.host}/{ns}/signed:1.0.0", key, PASSPHRASE, backend="skopeo", opts=OPTS)

    def catalog(*keys: Path) -> Catalog:
        cat = Catalog(CatalogSettings([RegistrySource(registry.host, ns)], opts=OPTS, backend="skopeo",
                                      verify_keys=keys))  # fmt: skip
        cat.sync()
        return cat

    checked = catalog(pub)
    try:
        signed = checked.resolve(ns, "signed", "1.0.0")
        assert signed.signed
        status = checked.signature(signed)
        assert (status.status, status.keys) == ("verified", ("cosign.pub",))
        assert checked.signature(checked.resolve(ns, "unsigned", "1.0.0")).status == "unsigned"
        assert checked.index.memo_get(f"sig:{signed.digest}:1:{checked.signatures._keyset}")["status"] == "verified"
    finally:
        checked.close()
    wrong = catalog(other)
    try:
        status = wrong.signature(wrong.resolve(ns, "signed", "1.0.0"))
        assert status.status == "invalid" and "verifies with" in status.detail
    finally:
        wrong.close()
    keyless = catalog()
    try:
        assert keyless.signature(keyless.resolve(ns, "signed", "1.0.0")).status == "signed"
        assert keyless.signature(keyless.resolve(ns, "unsigned", "1.0.0")).status == "unsigned"
    finally:
        keyless.close()
