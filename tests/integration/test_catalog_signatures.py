"""Signature status in the catalog: real cosign-layout signatures made by ``skillctl sign``, checked against the
catalog's public keys by the same verification ``skillctl verify`` runs."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from catalog_helpers import annotations, put_skill, skill_entries
from conftest import require_tool
from registry import Registry, need_tool

from skillctl.backends.base import RegistryOptions
from skillctl.catalog.service import Catalog, CatalogSettings
from skillctl.catalog.sources import RegistrySource
from skillctl.trust import attest
from skillctl.trust.keys import load_private_key
from skillctl.trust.signing import generate_key_pair, sign

pytestmark = pytest.mark.integration
OPTS = RegistryOptions(tls_verify=False, timeout=120)
PASSPHRASE = b"catalog-test"
EVAL = "https://example.com/eval/v1"


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


def test_bundle_signatures_in_the_referrers_fallback_tag(
    registry: Registry, tmp_path: Path, cosign_key: tuple[Path, Path]
) -> None:
    """cosign v3's default (a Sigstore bundle as an OCI 1.1 referrer; on this registry, without the referrers API,
    listed in the fallback tag ``sha256-<hex>``) counts as signed; an attestation in the same place does not."""
    require_tool("skopeo")
    ns = registry.repo("x").split("/")[1]
    names = ("ours", "ours-attested", "cosign", "cosign-attested", "plain")
    for name in names:
        put_skill(registry, f"{ns}/{name}", "1.0.0", entries=skill_entries(name, "1.0.0"),
                  ann=annotations(namespace=ns, version="1.0.0"))  # fmt: skip
    key, pub = generate_key_pair(tmp_path / "ours", PASSPHRASE)
    sign(f"{registry.host}/{ns}/ours:1.0.0", key, PASSPHRASE, signature_format="bundle", backend="skopeo", opts=OPTS)
    attest.attest(f"{registry.host}/{ns}/ours-attested:1.0.0", load_private_key(key, PASSPHRASE), EVAL, {"n": 1},
                  attestation_format="bundle", backend="skopeo", opts=OPTS)  # fmt: skip
    predicate = tmp_path / "eval.json"
    predicate.write_text(json.dumps({"score": 1}))
    for name, verb in (("cosign", ["sign"]), ("cosign-attested", ["attest", "--type", EVAL, "--predicate", predicate])):
        digest = registry.digest(f"{registry.host}/{ns}/{name}:1.0.0")
        done = subprocess.run(
            [need_tool("cosign3"), *map(str, verb), "--key", cosign_key[0], "--tlog-upload=false", "-y",
             "--use-signing-config=false", "--allow-insecure-registry", f"{registry.host}/{ns}/{name}@{digest}"],
            env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "COSIGN_PASSWORD": "pw"},
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    tags = {name: registry.tags(f"{registry.host}/{ns}/{name}") for name in names}
    assert not any(t.endswith(".sig") for listed in tags.values() for t in listed)  # bundles only
    assert all(any(len(t) == 71 and t.startswith("sha256-") for t in tags[n]) for n in names if n != "plain")

    cat = Catalog(CatalogSettings([RegistrySource(registry.host, ns)], opts=OPTS, backend="skopeo",
                                  verify_keys=(pub, cosign_key[1])))  # fmt: skip
    try:
        cat.sync()
        flags = {name: cat.resolve(ns, name, "1.0.0").signed for name in names}
        assert flags == {"ours": True, "ours-attested": False, "cosign": True, "cosign-attested": False,
                         "plain": False}  # fmt: skip
        assert cat.signature(cat.resolve(ns, "ours", "1.0.0")).status == "verified"
        assert cat.signature(cat.resolve(ns, "cosign", "1.0.0")).status == "verified"
        assert cat.signature(cat.resolve(ns, "cosign-attested", "1.0.0")).status == "unsigned"
        # Signed later: the fallback tag already existed (the attestation), so the tag list does not change; a
        # full sync reads the indexes again.
        sign(f"{registry.host}/{ns}/ours-attested:1.0.0", key, PASSPHRASE, signature_format="bundle",
             backend="skopeo", opts=OPTS)  # fmt: skip
        cat.sync(full=True)
        assert cat.resolve(ns, "ours-attested", "1.0.0").signed
    finally:
        cat.close()
