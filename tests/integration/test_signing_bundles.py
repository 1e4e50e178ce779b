"""Both signature formats on a real registry: Sigstore bundles as OCI referrers (through the fallback tag:
no registry here serves the referrers API), the legacy ``.sig`` beside them, and keyless signatures made by a
private Sigstore (``tests/private_sigstore.py``) verified offline against its trusted root.

What the registry holds is read over HTTP (``tests/registry.py``), never through the code under test.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cli_helpers import assert_error
from click.testing import CliRunner, Result
from private_sigstore import PrivateSigstore
from registry import Registry, unique_skill

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
BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
WHO = "https://github.com/acme/skills/.github/workflows/release.yml@refs/heads/main"
ISSUER = "https://token.actions.githubusercontent.com"
KEYLESS = ["--certificate-identity", WHO, "--certificate-oidc-issuer", ISSUER]


@pytest.fixture(scope="module")
def other_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return generate_key_pair(tmp_path_factory.mktemp("other"), b"pw")


@pytest.fixture(scope="module")
def sigstore(tmp_path_factory: pytest.TempPathFactory) -> tuple[PrivateSigstore, Path]:
    made = PrivateSigstore()
    root = tmp_path_factory.mktemp("sigstore") / "trusted_root.json"
    root.write_bytes(made.trusted_root())
    return made, root


def cli_run(store: Path, *args: object, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, ["--store", str(store), *map(str, args)], env=env)


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def publish(reg: Registry, tmp_path: Path, *, tag: str = "1.0.0-draft", repo: str | None = None) -> tuple[str, str]:
    store = skillctl.Store(tmp_path / "producer-store")
    image = skillctl.pack(unique_skill(tmp_path / f"src-{tag}", "demo"), store=store)
    ref = f"{repo or reg.repo('demo')}:{tag}"
    transfer.push(image.ref, ref, store=store, backend="skopeo", opts=OPTS)
    return ref, reg.digest(ref) or ""


def repo_of(ref: str) -> str:
    return ref.rsplit(":", 1)[0]


PREDICATE = "dev.sigstore.bundle.predicateType"
PROMOTION = "https://skillimage.io/attestations/promotion/v1"


def referrers(reg: Registry, ref: str, digest: str) -> list[dict]:
    """The fallback tag's index entries, read straight from the registry."""
    raw = reg.manifest(f"{repo_of(ref)}:sha256-{digest[7:]}")
    if raw is None:
        return []
    index = json.loads(raw)
    assert index["mediaType"] == oci.INDEX_V1
    return index["manifests"]


def bundle_of(reg: Registry, ref: str, entry: dict) -> dict:
    manifest = reg.manifest_json(f"{repo_of(ref)}@{entry['digest']}")
    (layer,) = manifest["layers"]
    return json.loads(reg.blob(repo_of(ref), layer["digest"]))


def consumer_is_untouched(store: Path, out: Path) -> None:
    assert ok(cli_run(store, "list", "-q")).stdout.split() == []
    assert not (out / "demo").exists()


# -- key signatures in the bundle format --------------------------------------------------------
def test_sign_as_a_bundle_referrer(registry: Registry, key: tuple[Path, Path], tmp_path: Path) -> None:
    ref, digest = publish(registry, tmp_path)
    store = tmp_path / "store"
    signed = json.loads(
        ok(cli_run(store, "sign", ref, "--key", key[0], "--signature-format", "bundle", NO_TLS, "--format", "json",
                   env={"COSIGN_PASSWORD": "pw"})).stdout
    )  # fmt: skip
    fallback = f"sha256-{digest[7:]}"
    assert signed["signature_ref"] is None and signed["formats"] == ["bundle"]
    assert signed["bundle_ref"] == f"{repo_of(ref)}:{fallback}"
    assert sorted(registry.tags(repo_of(ref))) == sorted(["1.0.0-draft", fallback])  # no .sig

    (entry,) = referrers(registry, ref, digest)
    assert entry["artifactType"] == BUNDLE
    manifest = registry.manifest_json(f"{repo_of(ref)}@{entry['digest']}")
    assert manifest["subject"] == {"mediaType": oci.MANIFEST_V1, "digest": digest, "size": len(registry.manifest(ref))}
    assert manifest["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"
    assert manifest["annotations"]["dev.sigstore.bundle.predicateType"] == "https://sigstore.dev/cosign/sign/v1"
    bundle = bundle_of(registry, ref, entry)
    assert bundle["mediaType"] == BUNDLE
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    assert statement["subject"] == [{"digest": {"sha256": digest[7:]}}]
    assert statement["predicateType"] == "https://sigstore.dev/cosign/sign/v1"

    verified = json.loads(ok(cli_run(store, "verify", ref, "--key", key[1], NO_TLS, "--format", "json")).stdout)
    assert verified["verified"] == 1 and verified["formats"] == ["bundle"]


def test_both_formats_and_other_referrers_are_kept(
    registry: Registry, key: tuple[Path, Path], other_key: tuple[Path, Path], tmp_path: Path
) -> None:
    ref, digest = publish(registry, tmp_path)
    repo = repo_of(ref)
    # Another tool's referrer (an SBOM) is already there.
    sbom = registry.put_blob(repo, b'{"spdxVersion": "SPDX-2.3"}')
    empty = registry.put_blob(repo, b"{}")
    foreign = json.dumps({
        "schemaVersion": 2, "mediaType": oci.MANIFEST_V1, "artifactType": "application/spdx+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": "application/spdx+json", "digest": sbom, "size": 27}],
        "subject": {"mediaType": oci.MANIFEST_V1, "digest": digest, "size": len(registry.manifest(ref))},
    }).encode()  # fmt: skip
    foreign_digest = registry.put_manifest(repo, oci.sha256_digest(foreign), foreign)
    index = json.dumps({
        "schemaVersion": 2, "mediaType": oci.INDEX_V1,
        "manifests": [{"mediaType": oci.MANIFEST_V1, "digest": foreign_digest, "size": len(foreign),
                       "artifactType": "application/spdx+json"}],
    }).encode()  # fmt: skip
    registry.put_manifest(repo, f"sha256-{digest[7:]}", index)

    sign(ref, key[0], b"pw", signature_format="both", opts=OPTS)
    sign(ref, other_key[0], b"pw", signature_format="both", opts=OPTS)
    entries = referrers(registry, ref, digest)
    assert [e["artifactType"] for e in entries] == ["application/spdx+json", BUNDLE, BUNDLE]
    assert entries[0]["digest"] == foreign_digest
    assert registry.blob(repo, sbom) == b'{"spdxVersion": "SPDX-2.3"}'
    assert len(registry.manifest_json(f"{repo}:sha256-{digest[7:]}.sig")["layers"]) == 2

    store = tmp_path / "store"
    for public in (key[1], other_key[1]):
        verified = json.loads(ok(cli_run(store, "verify", ref, "--key", public, NO_TLS, "--format", "json")).stdout)
        assert verified["verified"] == 2 and verified["signatures"] == 4
        assert verified["formats"] == ["bundle", "legacy"]


def test_a_bundle_for_another_digest_is_refused(registry: Registry, key: tuple[Path, Path], tmp_path: Path) -> None:
    ref, digest = publish(registry, tmp_path)
    other_ref, other_digest = publish(registry, tmp_path / "o", repo=repo_of(ref) + "-other")
    sign(other_ref, key[0], b"pw", signature_format="bundle", opts=OPTS)
    # The other image's bundle referrer, copied into this repository and listed under this image's fallback tag.
    index = registry.manifest(f"{repo_of(other_ref)}:sha256-{other_digest[7:]}") or b""
    (entry,) = json.loads(index)["manifests"]
    manifest = registry.manifest(f"{repo_of(other_ref)}@{entry['digest']}") or b""
    layer = json.loads(manifest)["layers"][0]
    registry.put_blob(repo_of(ref), registry.blob(repo_of(other_ref), layer["digest"]))
    registry.put_blob(repo_of(ref), b"{}")
    registry.put_manifest(repo_of(ref), entry["digest"], manifest)
    registry.put_manifest(repo_of(ref), f"sha256-{digest[7:]}", index)

    result = cli_run(tmp_path / "s", "verify", ref, "--key", key[1], NO_TLS)
    assert_error(result, 10, "none of 1 signature(s)", f"the referrer's subject is {other_digest}", hint=False)


# -- keyless ------------------------------------------------------------------------------------
def test_keyless_bundle_verify_pull_and_install(
    registry: Registry, sigstore: tuple[PrivateSigstore, Path], tmp_path: Path
) -> None:
    made, root = sigstore
    ref, digest = publish(registry, tmp_path)
    manifest = oci.Manifest.parse(registry.manifest(ref) or b"")
    store, out = tmp_path / "consumer", tmp_path / "skills"
    unsigned = cli_run(store, "pull", ref, "--trusted-root", root, *KEYLESS, "-o", out, NO_TLS)
    assert_error(unsigned, 10, "no signature found", hint=False)

    # CI signed with another identity first: not enough.
    repo = parse_reference(ref)
    attach_bundle(repo, manifest.descriptor, made.keyless_bundle(digest, "https://github.com/evil/x", ISSUER),
                  backend=None, opts=OPTS)  # fmt: skip
    for command in ("pull", "install"):
        refused = cli_run(store, command, ref, "--trusted-root", root, *KEYLESS, "-o", out, NO_TLS)
        assert_error(refused, 10, "the certificate is for https://github.com/evil/x", hint=False)
        consumer_is_untouched(store, out)

    attach_bundle(repo, manifest.descriptor, made.keyless_bundle(digest, WHO, ISSUER), backend=None, opts=OPTS)
    verified = json.loads(
        ok(cli_run(store, "verify", ref, "--trusted-root", root, *KEYLESS, NO_TLS, "--format", "json")).stdout
    )
    assert verified["signers"] == [f"{WHO} ({ISSUER})"] and verified["signatures"] == 2
    wrong_issuer = cli_run(store, "verify", ref, "--trusted-root", root, "--certificate-identity", WHO,
                           "--certificate-oidc-issuer", "https://accounts.google.com", NO_TLS)  # fmt: skip
    assert_error(wrong_issuer, 10, f"OIDC issuer is {ISSUER}", hint=False)
    ok(cli_run(store, "install", ref, "--trusted-root", root, *KEYLESS, "-o", out, NO_TLS))
    assert (out / "demo" / "SKILL.md").is_file()


def test_keyless_sig_layer(registry: Registry, sigstore: tuple[PrivateSigstore, Path], tmp_path: Path) -> None:
    """cosign v2's keyless layout: certificate, chain and Rekor bundle in the .sig layer's annotations."""
    made, root = sigstore
    ref, digest = publish(registry, tmp_path)
    repo = repo_of(ref)
    annotations, payload = made.keyless_sig_layer(simple_signing_payload(repo, digest), WHO, ISSUER)
    layer = registry.put_blob(repo, payload)
    config = json.dumps({"architecture": "", "os": "", "rootfs": {"type": "layers", "diff_ids": [layer]},
                         "config": {}}).encode()  # fmt: skip
    sig = json.dumps({
        "schemaVersion": 2, "mediaType": oci.MANIFEST_V1,
        "config": {"mediaType": oci.CONFIG_V1, "digest": registry.put_blob(repo, config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "digest": layer,
                    "size": len(payload), "annotations": annotations}],
    }).encode()  # fmt: skip
    registry.put_manifest(repo, f"sha256-{digest[7:]}.sig", sig)
    store = tmp_path / "store"
    verified = json.loads(
        ok(cli_run(store, "verify", ref, "--trusted-root", root, *KEYLESS, NO_TLS, "--format", "json")).stdout
    )
    assert verified["formats"] == ["legacy"] and verified["signers"] == [f"{WHO} ({ISSUER})"]
    other = cli_run(store, "verify", ref, "--trusted-root", root, "--certificate-identity", "x@example.com",
                    "--certificate-oidc-issuer", ISSUER, NO_TLS)  # fmt: skip
    assert_error(other, 10, f"the certificate is for {WHO}", hint=False)


# -- promotion ------------------------------------------------------------------------------------
@pytest.mark.parametrize("formats", ["bundle", "both"])
def test_promotion_re_signs_in_the_formats_of_the_source(
    formats: str, registry: Registry, key: tuple[Path, Path], tmp_path: Path
) -> None:
    draft, draft_digest = publish(registry, tmp_path)
    sign(draft, key[0], b"pw", signature_format=formats, opts=OPTS)
    store = tmp_path / "store"
    promoted = json.loads(
        ok(cli_run(store, "promote", draft, "--to", "testing", "--sign-key", key[0], NO_TLS, "--format", "json",
                   env={"COSIGN_PASSWORD": "pw"})).stdout
    )  # fmt: skip
    new = promoted["digest"]
    assert new != draft_digest
    assert (promoted["signature"] is not None) == (formats == "both")
    assert promoted["bundle"] == f"{repo_of(draft)}:sha256-{new[7:]}"
    tags = registry.tags(repo_of(draft))
    assert (f"sha256-{new[7:]}.sig" in tags) == (formats == "both")
    # The signature bundle, and the promotion record (an attestation) in the same family.
    kinds = sorted((e["artifactType"], e["annotations"][PREDICATE]) for e in referrers(registry, draft, new))
    assert kinds == [(BUNDLE, "https://sigstore.dev/cosign/sign/v1"), (BUNDLE, PROMOTION)]
    verified = json.loads(
        ok(
            cli_run(store, "verify", f"{repo_of(draft)}:1.0.0-testing", "--key", key[1], NO_TLS, "--format", "json")
        ).stdout
    )
    assert verified["formats"] == (["bundle", "legacy"] if formats == "both" else ["bundle"])


# -- air gap --------------------------------------------------------------------------------------
def test_both_formats_survive_save_and_load(registry: Registry, key: tuple[Path, Path], tmp_path: Path) -> None:
    ref, digest = publish(registry, tmp_path)
    sign(ref, key[0], b"pw", signature_format="both", opts=OPTS)
    store = tmp_path / "store"
    archive = tmp_path / "skills.tar"
    ok(cli_run(store, "save", ref, "-o", archive, NO_TLS))

    far = f"{registry.host}/far{registry.repo('x').rsplit('/', 2)[1]}"
    loaded = json.loads(ok(cli_run(tmp_path / "s2", "load", archive, "--push", far, NO_TLS, "--format", "json")).stdout)
    moved = far + "/" + repo_of(ref).split("/", 1)[1]
    assert {item["dest"] for item in loaded} == {
        f"{moved}:1.0.0-draft", f"{moved}:sha256-{digest[7:]}.sig", f"{moved}:sha256-{digest[7:]}"
    }  # fmt: skip
    assert registry.manifest(f"{moved}:sha256-{digest[7:]}") == registry.manifest(f"{repo_of(ref)}:sha256-{digest[7:]}")
    verified = json.loads(
        ok(
            cli_run(tmp_path / "s3", "verify", f"{moved}:1.0.0-draft", "--key", key[1], NO_TLS, "--format", "json")
        ).stdout
    )
    assert verified["formats"] == ["bundle", "legacy"] and verified["verified"] == 2

    # Into a store: the image and its .sig; the referrers index is named as not loaded.
    into_store = ok(cli_run(tmp_path / "s4", "load", archive, "--format", "json"))
    notes = {item["ref"]: item["note"] for item in json.loads(into_store.stdout)}
    assert notes[f"{repo_of(ref)}:sha256-{digest[7:]}"].startswith("not loaded")
    assert notes[ref] == ""
