"""skillctl and cosign, both versions, in both directions, on a real registry and offline.

cosign v2.6.1 (``cosign``) and v3.1.3 (``cosign3``, built by ``.ci/install-tools``) run with the test's own
HOME and no network: key verification with ``--insecure-ignore-tlog``, keyless with ``--trusted-root`` (the
private Sigstore of ``tests/private_sigstore.py``) and ``--insecure-ignore-sct``, v3 signing with
``--use-signing-config=false --tlog-upload=false``. These are also the measurements behind the default
signature format (README, Signing): which cosign reads which format.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from private_sigstore import PrivateSigstore, b64
from registry import Registry, need_tool, unique_skill

import skillctl
from skillctl.backends.base import RegistryOptions
from skillctl.cli.app import cli
from skillctl.core import oci
from skillctl.core.refs import parse_reference
from skillctl.registry import transfer
from skillctl.trust.signing import attach_bundle, generate_key_pair, sign, simple_signing_payload

pytestmark = pytest.mark.integration

OPTS = RegistryOptions(tls_verify=False, timeout=120)
NO_TLS = "--tls-verify=false"
WHO = "https://github.com/acme/skills/.github/workflows/release.yml@refs/heads/main"
ISSUER = "https://token.actions.githubusercontent.com"
KEYLESS = ["--certificate-identity", WHO, "--certificate-oidc-issuer", ISSUER]


@pytest.fixture(scope="module")
def sigstore(tmp_path_factory: pytest.TempPathFactory) -> tuple[PrivateSigstore, Path]:
    made = PrivateSigstore()
    root = tmp_path_factory.mktemp("sigstore") / "trusted_root.json"
    root.write_bytes(made.trusted_root())
    return made, root


def cosign(tool: str, *args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [need_tool(tool), *map(str, args)],
        env={"PATH": os.environ["PATH"], "HOME": os.environ["HOME"], "COSIGN_PASSWORD": "pw"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def key_verify(tool: str, ref: str, public: Path) -> subprocess.CompletedProcess[str]:
    return cosign(tool, "verify", "--key", public, "--insecure-ignore-tlog=true", "--allow-insecure-registry", ref)


def keyless_verify(tool: str, ref: str, root: Path, identity: str = WHO) -> subprocess.CompletedProcess[str]:
    return cosign(
        tool, "verify", "--trusted-root", root, "--certificate-identity", identity,
        "--certificate-oidc-issuer", ISSUER, "--insecure-ignore-sct", "--allow-insecure-registry", ref,
    )  # fmt: skip


def cli_run(store: Path, *args: object) -> Result:
    return CliRunner().invoke(cli, ["--store", str(store), *map(str, args)])


def skillctl_verify(tmp_path: Path, ref: str, *args: object) -> dict:
    result = cli_run(tmp_path / "verifier", "verify", ref, *args, NO_TLS, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def publish(reg: Registry, tmp_path: Path, name: str = "demo", tag: str = "1.0.0") -> tuple[str, str]:
    store = skillctl.Store(tmp_path / "producer-store")
    image = skillctl.pack(unique_skill(tmp_path / f"src-{name}", "demo"), store=store)
    ref = f"{reg.repo(name)}:{tag}"
    transfer.push(image.ref, ref, store=store, backend="skopeo", opts=OPTS)
    return ref, reg.digest(ref) or ""


def by_digest(ref: str, digest: str) -> str:
    return f"{ref.rsplit(':', 1)[0]}@{digest}"


# What each cosign reads of what skillctl writes (key signatures): the measurement behind the default.
READS = {
    "legacy": {"cosign": True, "cosign3": True},
    "bundle": {"cosign": False, "cosign3": True},
    "both": {"cosign": True, "cosign3": True},
}


@pytest.mark.parametrize("signature_format", list(READS))
def test_cosign_v2_and_v3_verify_what_skillctl_signs(
    signature_format: str, registry: Registry, key: tuple[Path, Path], tmp_path: Path
) -> None:
    ref, digest = publish(registry, tmp_path)
    sign(ref, key[0], b"pw", signature_format=signature_format, opts=OPTS)
    for tool, reads in READS[signature_format].items():
        done = key_verify(tool, ref, key[1])
        assert (done.returncode == 0) == reads, (tool, done.stderr)
        if reads:
            assert digest in done.stdout  # the verified payloads name the image's digest
        else:
            assert "no signatures found" in done.stderr
    other = generate_key_pair(tmp_path / "other", b"pw")[1]
    for tool in ("cosign", "cosign3"):
        assert key_verify(tool, ref, other).returncode != 0


def test_skillctl_verifies_what_cosign_v3_signs(
    registry: Registry, cosign_key: tuple[Path, Path], tmp_path: Path
) -> None:
    offline = ["--use-signing-config=false", "--tlog-upload=false", "--allow-insecure-registry", "-y"]
    ref, digest = publish(registry, tmp_path, "bundle")
    done = cosign("cosign3", "sign", "--key", cosign_key[0], *offline, by_digest(ref, digest))
    assert done.returncode == 0, done.stderr
    assert f"sha256-{digest[7:]}" in registry.tags(ref.rsplit(":", 1)[0])  # a bundle referrer, no .sig
    result = skillctl_verify(tmp_path, ref, "--key", cosign_key[1])
    assert result["formats"] == ["bundle"] and result["verified"] == 1

    legacy, legacy_digest = publish(registry, tmp_path, "legacy")
    args = ["--new-bundle-format=false", "--registry-referrers-mode=legacy"]
    done = cosign("cosign3", "sign", "--key", cosign_key[0], *offline, *args, by_digest(legacy, legacy_digest))
    assert done.returncode == 0, done.stderr
    assert skillctl_verify(tmp_path, legacy, "--key", cosign_key[1])["formats"] == ["legacy"]


def test_skillctl_and_cosign_v3_bundles_side_by_side(
    registry: Registry, key: tuple[Path, Path], cosign_key: tuple[Path, Path], tmp_path: Path
) -> None:
    """Each tool keeps the other's referrer in the fallback index."""
    ref, digest = publish(registry, tmp_path)
    sign(ref, key[0], b"pw", signature_format="bundle", opts=OPTS)
    offline = ["--use-signing-config=false", "--tlog-upload=false", "--allow-insecure-registry", "-y"]
    done = cosign("cosign3", "sign", "--key", cosign_key[0], *offline, by_digest(ref, digest))
    assert done.returncode == 0, done.stderr
    index = registry.manifest_json(f"{ref.rsplit(':', 1)[0]}:sha256-{digest[7:]}")
    assert len(index["manifests"]) == 2
    for public in (key[1], cosign_key[1]):
        assert key_verify("cosign3", ref, public).returncode == 0
        assert skillctl_verify(tmp_path, ref, "--key", public)["signatures"] == 2


def test_keyless_bundles_cosign_v3_and_skillctl_agree(
    registry: Registry, sigstore: tuple[PrivateSigstore, Path], tmp_path: Path
) -> None:
    made, root = sigstore
    ref, digest = publish(registry, tmp_path)
    subject = oci.Manifest.parse(registry.manifest(ref) or b"").descriptor
    attach_bundle(parse_reference(ref), subject, made.keyless_bundle(digest, WHO, ISSUER), backend=None, opts=OPTS)
    done = keyless_verify("cosign3", ref, root)
    assert done.returncode == 0, done.stderr
    assert skillctl_verify(tmp_path, ref, "--trusted-root", root, *KEYLESS)["signers"] == [f"{WHO} ({ISSUER})"]
    assert keyless_verify("cosign3", ref, root, "https://github.com/evil/x").returncode != 0

    # One bit of the inclusion proof changed, on another image: both refuse it.
    bad_ref, bad_digest = publish(registry, tmp_path, "tampered")
    doc = json.loads(made.keyless_bundle(bad_digest, WHO, ISSUER))
    proof = doc["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
    first = bytearray(base64.b64decode(proof["hashes"][0]))
    first[0] ^= 1
    proof["hashes"][0] = b64(bytes(first))
    bad_subject = oci.Manifest.parse(registry.manifest(bad_ref) or b"").descriptor
    attach_bundle(parse_reference(bad_ref), bad_subject, json.dumps(doc).encode(), backend=None, opts=OPTS)
    assert keyless_verify("cosign3", bad_ref, root).returncode != 0
    refused = cli_run(tmp_path / "v", "verify", bad_ref, "--trusted-root", root, *KEYLESS, NO_TLS)
    assert refused.exit_code == 10 and "inclusion proof" in refused.stderr


def test_keyless_sig_layers_cosign_v2_v3_and_skillctl_agree(
    registry: Registry, sigstore: tuple[PrivateSigstore, Path], tmp_path: Path
) -> None:
    made, root = sigstore
    ref, digest = publish(registry, tmp_path)
    repo = ref.rsplit(":", 1)[0]
    annotations, payload = made.keyless_sig_layer(simple_signing_payload(repo, digest), WHO, ISSUER)
    layer = registry.put_blob(repo, payload)
    config = b'{"architecture":"","os":"","rootfs":{"type":"layers","diff_ids":[]},"config":{}}'
    registry.put_manifest(repo, f"sha256-{digest[7:]}.sig", json.dumps({
        "schemaVersion": 2, "mediaType": oci.MANIFEST_V1,
        "config": {"mediaType": oci.CONFIG_V1, "digest": registry.put_blob(repo, config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "digest": layer,
                    "size": len(payload), "annotations": annotations}],
    }).encode())  # fmt: skip
    for tool in ("cosign", "cosign3"):
        done = keyless_verify(tool, ref, root)
        assert done.returncode == 0, (tool, done.stderr)
        assert keyless_verify(tool, ref, root, "x@acme.example").returncode != 0
    assert skillctl_verify(tmp_path, ref, "--trusted-root", root, *KEYLESS)["formats"] == ["legacy"]


def test_promotion_signs_what_cosign_v3_reads(registry: Registry, key: tuple[Path, Path], tmp_path: Path) -> None:
    draft, draft_digest = publish(registry, tmp_path, tag="1.0.0-draft")
    sign(draft, key[0], b"pw", signature_format="bundle", opts=OPTS)
    result = CliRunner().invoke(
        cli,
        ["--store", str(tmp_path / "s"), "promote", draft, "--to", "testing", "--sign-key", str(key[0]), NO_TLS],
        env={"COSIGN_PASSWORD": "pw"},
    )
    assert result.exit_code == 0, result.stderr
    testing = draft.replace("-draft", "-testing")
    new = registry.digest(testing)
    assert new != draft_digest
    done = key_verify("cosign3", testing, key[1])
    assert done.returncode == 0, done.stderr
    assert new in done.stdout
    assert key_verify("cosign", testing, key[1]).returncode != 0  # bundle only, as the draft was
