"""containers-policy.json(5): parsing, scope choice, signedIdentity; refusals name the file and the scope."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from private_sigstore import PrivateSigstore

from skillctl.core.refs import parse_reference
from skillctl.trust import policy as policies
from skillctl.trust.evidence import Evidence
from skillctl.trust.keys import generate_key_pair

ACCEPT = {"type": "insecureAcceptAnything"}
REJECT = {"type": "reject"}


def parsed(doc: dict, tmp_path: Path) -> policies.Policy:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(doc))
    return policies.load(path)


def scope(policy: policies.Policy, ref: str) -> str:
    return policy.scope_for(parse_reference(ref))[0]


def test_the_most_specific_scope_wins(tmp_path: Path) -> None:
    policy = parsed(
        {
            "default": [REJECT],
            "transports": {
                "docker": {
                    "": [ACCEPT],
                    "quay.io": [ACCEPT],
                    "quay.io/acme": [ACCEPT],
                    "quay.io/acme/skills/hello": [ACCEPT],
                    "quay.io/acme/skills/hello:1.0.0": [ACCEPT],
                    "*.example.com": [ACCEPT],
                    "localhost:5000/x": [ACCEPT],
                },
                "oci": {"": [REJECT]},
            },
        },
        tmp_path,
    )
    assert scope(policy, "quay.io/acme/skills/hello:1.0.0") == "quay.io/acme/skills/hello:1.0.0"
    assert scope(policy, "quay.io/acme/skills/hello:2.0.0") == "quay.io/acme/skills/hello"
    assert scope(policy, "quay.io/acme/skills/other:1.0.0") == "quay.io/acme"
    assert scope(policy, "quay.io/acmeish/x:1") == "quay.io"
    assert scope(policy, "reg.eu.example.com/x:1") == "*.example.com"
    assert scope(policy, "example.com/x:1") == ""
    assert scope(policy, "localhost:5000/x:1") == "localhost:5000/x"
    assert scope(policy, "localhost:5001/x:1") == ""
    assert scope(parsed({"default": [REJECT]}, tmp_path), "quay.io/x:1") == "default"


def test_reject_and_accept(tmp_path: Path) -> None:
    policy = parsed({"default": [ACCEPT], "transports": {"docker": {"evil.example": [REJECT]}}}, tmp_path)
    assert policies.check(policy, "quay.io/x:1", "sha256:" + "0" * 64, [], list) == ""  # nothing to report
    with pytest.raises(policies.PolicyRejected, match=r'rejected by scope "evil\.example"') as caught:
        policies.check(policy, "evil.example/x:1", "sha256:" + "0" * 64, [], list)
    assert caught.value.exit_code == 10


def test_bad_policies_name_the_place(tmp_path: Path) -> None:
    with pytest.raises(policies.PolicyError, match=r"unknown requirement type 'signedByMagic'") as caught:
        parsed({"default": [{"type": "signedByMagic"}]}, tmp_path)
    assert caught.value.exit_code == 10
    with pytest.raises(policies.PolicyError, match=r'transports.docker\["quay.io"\]\[0\]: exactly one of keyPath'):
        parsed({"default": [ACCEPT], "transports": {"docker": {"quay.io": [{"type": "sigstoreSigned"}]}}}, tmp_path)
    with pytest.raises(policies.PolicyError, match="cannot read"):
        parsed({"default": [{"type": "sigstoreSigned", "keyPath": "missing.pub"}]}, tmp_path)
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    with pytest.raises(policies.PolicyError, match=r"fulcio\.caPath holds no PEM certificate"):
        parsed({"default": [{"type": "sigstoreSigned", "fulcio": {"caPath": str(ca)}}]}, tmp_path)
    ca.write_bytes(PrivateSigstore().ca_pem())
    with pytest.raises(policies.PolicyError, match="fulcio needs oidcIssuer and subjectEmail"):
        parsed({"default": [{"type": "sigstoreSigned", "fulcio": {"caPath": str(ca)}}]}, tmp_path)
    fulcio = {"caPath": str(ca), "oidcIssuer": "https://i", "subjectEmail": "a@b"}
    with pytest.raises(policies.PolicyError, match="fulcio needs rekorPublicKeyPath"):
        parsed({"default": [{"type": "sigstoreSigned", "fulcio": fulcio}]}, tmp_path)
    with pytest.raises(policies.PolicyError, match="non-empty default"):
        parsed({"transports": {}}, tmp_path)


def test_unsupported_requirements_refuse_only_their_scope(tmp_path: Path) -> None:
    policy = parsed(
        {"default": [ACCEPT], "transports": {"docker": {"gpg.example": [{"type": "signedBy", "keyType": "GPGKeys"}]}}},
        tmp_path,
    )
    policies.check(policy, "quay.io/x:1", "sha256:" + "0" * 64, [], list)
    with pytest.raises(policies.PolicyRejected, match=r"signedBy \(GPG simple signing\) is not enforced"):
        policies.check(policy, "gpg.example/x:1", "sha256:" + "0" * 64, [], list)


def test_relative_key_paths_and_key_data(tmp_path: Path) -> None:
    _, pub = generate_key_pair(tmp_path / "keys", b"pw")
    import base64

    data = base64.b64encode(pub.read_bytes()).decode()
    policy = parsed(
        {
            "default": [REJECT],
            "transports": {
                "docker": {
                    "a.example": [{"type": "sigstoreSigned", "keyPath": "keys/cosign.pub"}],
                    "b.example": [{"type": "sigstoreSigned", "keyDatas": [data, data]}],
                }
            },
        },
        tmp_path,
    )
    digest = "sha256:" + "1" * 64
    with pytest.raises(policies.PolicyRejected, match=rf"\(key keys/cosign\.pub\); {digest} has none"):
        policies.check(policy, "a.example/x:1", digest, [], list)


@pytest.mark.parametrize(
    ("identity", "image", "signed", "ok"),
    [
        ({}, "quay.io/a/b@sha256:" + "0" * 64, "quay.io/a/b", True),  # matchRepoDigestOrExact, by digest
        ({}, "quay.io/a/b:1.0", "quay.io/a/b", False),  # by tag: exact, cosign signs no tag
        ({"type": "matchRepository"}, "quay.io/a/b:1.0", "quay.io/a/b", True),
        ({"type": "matchRepository"}, "quay.io/a/c:1.0", "quay.io/a/b", False),
        ({"type": "matchExact"}, "quay.io/a/b:1.0", "quay.io/a/b:1.0", True),
        ({"type": "exactRepository", "dockerRepository": "quay.io/a/b"}, "mirror.io/a/b:1", "quay.io/a/b", True),
        (
            {"type": "remapIdentity", "prefix": "mirror.io/a", "signedPrefix": "quay.io/a"},
            "mirror.io/a/b@sha256:" + "0" * 64,
            "quay.io/a/b",
            True,
        ),
        ({"type": "matchRepository"}, "docker.io/busybox:1", "index.docker.io/library/busybox", True),
    ],
)
def test_signed_identity(identity: dict, image: str, signed: str, ok: bool) -> None:
    assert policies._identity_ok(identity, parse_reference(image), signed) is ok


def test_default_path_prefers_the_users_policy(tmp_path: Path) -> None:
    system = tmp_path / "etc-policy.json"
    assert policies.default_path({"HOME": str(tmp_path)}, system) is None
    system.write_text("{}")
    assert policies.default_path({"HOME": str(tmp_path)}, system) == system
    user = tmp_path / ".config/containers/policy.json"
    user.parent.mkdir(parents=True)
    user.write_text("{}")
    assert policies.default_path({"HOME": str(tmp_path)}, system) == user


def test_bundle_evidence_names_no_repository() -> None:
    evidence = Evidence("bundle", "r", b"", b"", b"", "sha256:" + "0" * 64)
    assert policies._identity_ok({"type": "matchExact"}, parse_reference("quay.io/a/b:1"), evidence.docker_reference)


def test_a_bad_policy_stops_pull_before_any_registry_is_asked(tmp_path: Path) -> None:
    from cli_helpers import assert_error
    from click.testing import CliRunner

    from skillctl.cli.app import cli

    bad = tmp_path / "policy.json"
    bad.write_text(json.dumps({"default": [{"type": "acceptEverythingPlease"}]}))
    result = CliRunner().invoke(
        cli, ["--store", str(tmp_path / "s"), "pull", "127.0.0.1:9/x/y:1", "--signature-policy", str(bad)]
    )
    assert_error(result, 10, str(bad), "unknown requirement type 'acceptEverythingPlease'")
    assert not (tmp_path / "s").exists()
