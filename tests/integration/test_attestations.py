"""Attestations on a real registry: skillctl's and cosign's, both ways, in both layouts; forged, unsigned and moved
ones never count.

cosign v2.6.1 (``cosign``) writes and reads the legacy ``.att`` image; cosign v3.1.3 (``cosign3``) writes bundle
referrers and reads ``.att`` only while an image has no bundle. Both run offline with the test's own HOME.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from registry import Registry, need_tool, unique_skill

import skillctl
from skillctl.backends.base import RegistryOptions
from skillctl.cli.app import cli
from skillctl.core.refs import Reference, parse_reference
from skillctl.registry import transfer
from skillctl.trust import attest
from skillctl.trust.evidence import KeyTrust
from skillctl.trust.keys import load_private_key, load_public_key
from skillctl.trust.signing import generate_key_pair, sign

pytestmark = pytest.mark.integration

OPTS = RegistryOptions(tls_verify=False, timeout=120)
NO_TLS = "--tls-verify=false"
EVAL = "https://example.com/eval/v1"


def cosign(tool: str, *args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [need_tool(tool), *map(str, args)],
        env={"PATH": os.environ["PATH"], "HOME": os.environ["HOME"], "COSIGN_PASSWORD": "pw"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def verify_attestation(tool: str, ref: str, public: Path, kind: str = EVAL) -> subprocess.CompletedProcess[str]:
    return cosign(tool, "verify-attestation", "--key", public, "--type", kind, "--insecure-ignore-tlog=true",
                  "--allow-insecure-registry", ref)  # fmt: skip


def cosign_attest(tool: str, ref: str, key: Path, predicate: Path, *extra: str) -> None:
    offline = ["--use-signing-config=false"] if tool == "cosign3" else []
    done = cosign(tool, "attest", "--key", key, "--type", EVAL, "--predicate", predicate, "--tlog-upload=false",
                  "--allow-insecure-registry", "-y", *offline, *extra, ref)  # fmt: skip
    assert done.returncode == 0, done.stderr


def run(tmp_path: Path, *args: object) -> Result:
    return CliRunner().invoke(cli, ["--store", str(tmp_path / "store"), *map(str, args)], env={"COSIGN_PASSWORD": "pw"})


def publish(reg: Registry, tmp_path: Path, name: str = "demo", tag: str = "1.0.0") -> tuple[str, str]:
    store = skillctl.Store(tmp_path / f"producer-{name}")
    image = skillctl.pack(unique_skill(tmp_path / f"src-{name}", "demo"), store=store)
    ref = f"{reg.repo(name)}:{tag}"
    transfer.push(image.ref, ref, store=store, backend="skopeo", opts=OPTS)
    return ref, reg.digest(ref) or ""


def by_digest(ref: str, digest: str) -> str:
    return f"{ref.rsplit(':', 1)[0]}@{digest}"


def statements(cosign_stdout: str) -> list[dict]:
    """The in-toto statements cosign verify-attestation printed (one DSSE envelope per line)."""
    found = []
    for line in cosign_stdout.splitlines():
        if line.strip().startswith("{"):
            found.append(json.loads(base64.b64decode(json.loads(line)["payload"])))
    return found


def checked(ref: str, digest: str, public: Path) -> list[attest.Checked]:
    found = attest.collect(parse_reference(ref), digest, backend=None, opts=OPTS)
    return attest.check(found, {"k": KeyTrust([load_public_key(public)], "k")}, digest)


# Which cosign reads what skillctl attests, by the image's signature format (the attestation follows it).
READS = {
    "unsigned": ({"cosign": True, "cosign3": True}, ["legacy"]),
    "legacy": ({"cosign": True, "cosign3": True}, ["legacy"]),
    "bundle": ({"cosign": False, "cosign3": True}, ["bundle"]),
    "both": ({"cosign": True, "cosign3": True}, ["legacy", "bundle"]),
}


@pytest.mark.parametrize("signed_as", list(READS))
def test_cosign_v2_and_v3_verify_what_skillctl_attests(
    signed_as: str, registry: Registry, key: tuple[Path, Path], tmp_path: Path
) -> None:
    ref, digest = publish(registry, tmp_path)
    if signed_as != "unsigned":
        sign(ref, key[0], b"pw", signature_format=signed_as, opts=OPTS)
    predicate = tmp_path / "eval.json"
    predicate.write_text(json.dumps({"score": 0.93, "suite": "golden-set"}))
    result = run(tmp_path, "attest", ref, "--key", key[0], "--type", EVAL, "--predicate", predicate, NO_TLS,
                 "--format", "json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    reads, formats = READS[signed_as]
    assert out["digest"] == digest and out["formats"] == formats
    for tool, expected in reads.items():
        done = verify_attestation(tool, ref, key[1])
        assert (done.returncode == 0) == expected, (tool, done.stderr)
        if expected:
            (found,) = [s for s in statements(done.stdout) if s["predicateType"] == EVAL]
            assert found["predicate"] == {"score": 0.93, "suite": "golden-set"}
            assert found["subject"][0]["digest"] == {"sha256": digest[7:]}
    other = generate_key_pair(tmp_path / "other", b"pw")[1]
    assert verify_attestation("cosign3", ref, other).returncode != 0
    # skillctl reads its own, verified by the key, never by another.
    mine = [c for c in checked(ref, digest, key[1]) if c.attestation.predicate_type == EVAL]
    assert sorted(c.attestation.format for c in mine) == sorted(formats) and all(c.signers == ["k"] for c in mine)
    assert not any(c.signers for c in checked(ref, digest, other))
    if signed_as == "bundle":
        # Why the layout follows the signatures: once an image has a bundle, cosign v3 no longer reads .att.
        other_type = "https://example.com/other/v1"
        forced = run(tmp_path, "attest", ref, "--key", key[0], "--type", other_type, "--predicate", predicate,
                     "--attestation-format", "legacy", NO_TLS)  # fmt: skip
        assert forced.exit_code == 0, forced.stderr
        assert verify_attestation("cosign", ref, key[1], other_type).returncode == 0
        ignored = verify_attestation("cosign3", ref, key[1], other_type)
        assert ignored.returncode != 0 and "none of the attestations matched" in ignored.stderr
    # Signature verification is not confused by the attestations next to the signatures.
    if signed_as != "unsigned":
        verified = run(tmp_path, "verify", ref, "--key", key[1], NO_TLS, "--format", "json")
        assert verified.exit_code == 0, verified.stderr
        assert json.loads(verified.stdout)["signatures"] == len(formats)


@pytest.mark.parametrize("tool", ["cosign", "cosign3"])
def test_skillctl_verifies_what_cosign_attests(
    tool: str, registry: Registry, cosign_key: tuple[Path, Path], tmp_path: Path
) -> None:
    ref, digest = publish(registry, tmp_path)
    predicate = tmp_path / "eval.json"
    predicate.write_text(json.dumps({"score": 0.81}))
    cosign_attest(tool, by_digest(ref, digest), cosign_key[0], predicate)
    (found,) = [c for c in checked(ref, digest, cosign_key[1]) if c.attestation.predicate_type == EVAL]
    assert found.signers == ["k"], found.reasons
    assert found.attestation.format == ("legacy" if tool == "cosign" else "bundle")
    assert found.attestation.predicate == {"score": 0.81}
    assert found.attestation.subjects == [digest]
    listed = run(tmp_path, "inspect", ref, "--remote", NO_TLS, "--format", "json")
    assert listed.exit_code == 0, listed.stderr
    assert [a["predicateType"] for a in json.loads(listed.stdout)["attestations"]] == [EVAL]


def test_forged_unsigned_and_moved_attestations_never_count(
    registry: Registry, key: tuple[Path, Path], tmp_path: Path
) -> None:
    ref, digest = publish(registry, tmp_path)
    other_ref, other_digest = publish(registry, tmp_path, "other")
    repo = ref.rsplit(":", 1)[0]
    k = load_private_key(key[0], b"pw")
    attest.attest(ref, k, EVAL, {"score": 0.2}, opts=OPTS)
    att_tag = f"{repo}:{attest.attestation_tag(digest)}"
    image = registry.manifest_json(att_tag)
    envelope = json.loads(registry.blob(repo, image["layers"][0]["digest"]))

    def put_layer(target_repo: str, tag: str, data: bytes) -> None:
        layer = registry.put_blob(target_repo, data)
        config = b'{"architecture":"","os":"","rootfs":{"type":"layers","diff_ids":[]},"config":{}}'
        annotations = {"dev.cosignproject.cosign/signature": "", "predicateType": EVAL}
        registry.put_manifest(target_repo, tag, json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": registry.put_blob(target_repo, config), "size": len(config)},
            "layers": [{"mediaType": attest.DSSE_MEDIA_TYPE, "digest": layer, "size": len(data),
                        "annotations": annotations}],
        }).encode())  # fmt: skip

    # Forged: the score raised, the signature kept.
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["score"] = 0.99
    forged = {**envelope, "payload": base64.b64encode(json.dumps(statement).encode()).decode()}
    put_layer(repo, attest.attestation_tag(digest), json.dumps(forged).encode())
    (only,) = checked(ref, digest, key[1])
    assert only.attestation.predicate == {"score": 0.99} and only.signers == []
    assert "does not verify" in " ".join(only.reasons)
    # Unsigned: no signature at all.
    put_layer(repo, attest.attestation_tag(digest), json.dumps({**envelope, "signatures": []}).encode())
    (only,) = checked(ref, digest, key[1])
    assert only.signers == [] and "not signed" in " ".join(only.reasons)
    # Moved: a valid attestation of the first image put under the second image's .att tag.
    other_repo = other_ref.rsplit(":", 1)[0]
    put_layer(other_repo, attest.attestation_tag(other_digest), json.dumps(envelope).encode())
    (moved,) = checked(other_ref, other_digest, key[1])
    assert moved.signers == [] and f"signs {digest}, not {other_digest}" in " ".join(moved.reasons)
    # cosign agrees on the moved one.
    assert verify_attestation("cosign", by_digest(other_ref, other_digest), key[1]).returncode != 0


def test_predicates_over_the_limit_are_refused(registry: Registry, key: tuple[Path, Path], tmp_path: Path) -> None:
    ref, digest = publish(registry, tmp_path)
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"blob": "x" * (attest.MAX_PREDICATE + 1)}))
    result = run(tmp_path, "attest", ref, "--key", key[0], "--type", EVAL, "--predicate", big, NO_TLS)
    assert result.exit_code != 0 and "at most 1048576" in result.stderr
    not_object = tmp_path / "list.json"
    not_object.write_text("[1, 2]")
    result = run(tmp_path, "attest", ref, "--key", key[0], "--type", EVAL, "--predicate", not_object, NO_TLS)
    assert result.exit_code != 0 and "JSON object" in result.stderr
    repo = ref.rsplit(":", 1)[0]
    assert attest.attestation_tag(digest) not in registry.tags(repo)
    assert str(Reference(repo, digest.replace(":", "-"))) not in registry.tags(repo)


def test_attestations_travel_with_mirror_save_and_load(
    registry: Registry, key: tuple[Path, Path], tmp_path: Path
) -> None:
    """Both layouts: a legacy-signed image's .att image, a bundle-signed image's attestation referrer."""
    legacy, legacy_digest = publish(registry, tmp_path, "legacy")
    bundled, bundled_digest = publish(registry, tmp_path, "bundled")
    k = load_private_key(key[0], b"pw")
    sign(legacy, key[0], b"pw", signature_format="legacy", opts=OPTS)
    sign(bundled, key[0], b"pw", signature_format="bundle", opts=OPTS)
    assert attest.attest(legacy, k, EVAL, {"score": 1}, opts=OPTS).formats == ["legacy"]
    assert attest.attest(bundled, k, EVAL, {"score": 2}, opts=OPTS).formats == ["bundle"]

    def evaluated(ref: str, digest: str) -> list:
        return [c.attestation.predicate for c in checked(ref, digest, key[1]) if c.signers]

    # mirror: registry to registry
    mirror_to = f"{registry.host}/mirror{secrets_hex()}"
    for ref in (legacy, bundled):
        done = run(tmp_path, "mirror", repo_of(ref), mirror_to, NO_TLS, "--format", "json")
        assert done.exit_code == 0, done.stderr
    for ref, digest, score in ((legacy, legacy_digest, 1), (bundled, bundled_digest, 2)):
        moved = mirror_to + "/" + ref.split("/", 1)[1]
        assert evaluated(moved, digest) == [{"score": score}]
        shown = run(tmp_path, "verify", moved, "--key", key[1], NO_TLS, "--format", "json")
        assert [(a["predicateType"], a["verified"]) for a in json.loads(shown.stdout)["attestations"]] == [(EVAL, True)]

    # save and load --push: across an air gap
    archive = tmp_path / "skills.tar"
    saved = run(tmp_path, "save", legacy, bundled, "-o", archive, NO_TLS)
    assert saved.exit_code == 0, saved.stderr
    far = f"{registry.host}/far{secrets_hex()}"
    loaded = run(tmp_path / "elsewhere", "load", archive, "--push", far, NO_TLS, "--format", "json")
    assert loaded.exit_code == 0, loaded.stderr
    dests = {item["dest"] for item in json.loads(loaded.stdout)}
    legacy_far = far + "/" + repo_of(legacy).split("/", 1)[1]
    assert f"{legacy_far}:{attest.attestation_tag(legacy_digest)}" in dests
    for ref, digest, score in ((legacy, legacy_digest, 1), (bundled, bundled_digest, 2)):
        assert evaluated(far + "/" + ref.split("/", 1)[1], digest) == [{"score": score}]


def repo_of(ref: str) -> str:
    return ref.rsplit(":", 1)[0]


def secrets_hex() -> str:
    import secrets

    return secrets.token_hex(3)


def test_push_attests_slsa_provenance_that_cosign_and_a_gate_read(
    registry: Registry, key: tuple[Path, Path], tmp_path: Path
) -> None:
    store = tmp_path / "store"
    image = skillctl.pack(unique_skill(tmp_path / "src"), store=skillctl.Store(store))
    ref = f"{registry.repo('demo')}:1.0.0-draft"
    source, revision = "https://git.example.com/acme/skills", "0123456789abcdef0123456789abcdef01234567"
    pushed = run(tmp_path, "push", image.ref, ref, "--sign-key", key[0], "--provenance", "--source-repo", source,
                 "--source-revision", revision, "--builder-id", "https://ci.example.com/pipelines/skills",
                 NO_TLS, "--format", "json")  # fmt: skip
    assert pushed.exit_code == 0, pushed.stderr
    out = json.loads(pushed.stdout)
    assert out["provenance"]["predicateType"] == "https://slsa.dev/provenance/v1"
    for tool in ("cosign", "cosign3"):
        done = verify_attestation(tool, ref, key[1], "slsaprovenance1")
        assert done.returncode == 0, (tool, done.stderr)
        (statement,) = statements(done.stdout)
        build = statement["predicate"]["buildDefinition"]
        assert build["externalParameters"]["source"] == {"repository": source, "revision": revision}
        git = {"uri": f"git+{source}@{revision}", "digest": {"gitCommit": revision}}
        assert build["resolvedDependencies"][0] == git
        assert statement["predicate"]["runDetails"]["builder"]["id"] == "https://ci.example.com/pipelines/skills"
    # A policy can require it, from this source.
    (tmp_path / "ci.pub").write_bytes(key[1].read_bytes())
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "apiVersion: skillimage.io/v1alpha1\nkind: PromotionPolicy\nkeys: {ci: ci.pub}\nstates:\n  testing:\n"
        "    - attestation:\n        type: https://slsa.dev/provenance/v1\n        signers: [ci]\n"
        f"        equals: {{buildDefinition.externalParameters.source.repository: '{source}'}}\n"
    )
    gate = run(tmp_path, "gates", ref, "--to", "testing", "--policy", policy, NO_TLS, "--format", "json")
    assert gate.exit_code == 0, gate.stdout
    assert json.loads(gate.stdout)["allowed"] is True
    assert run(tmp_path, "push", image.ref, ref, "--provenance", NO_TLS).exit_code == 2  # needs a key
