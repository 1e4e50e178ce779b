"""Promotion gates, records and history on a real registry: a policy refuses until the evidence is there, evidence
carries across the digests promotions mint, and history walks the whole chain back, verified."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import assert_error, ok_json
from click.testing import CliRunner, Result
from registry import Registry, unique_skill

import skillctl
from skillctl.backends.base import RegistryOptions
from skillctl.cli.app import cli
from skillctl.lifecycle.promote import promote
from skillctl.registry import transfer
from skillctl.trust.signing import generate_key_pair

pytestmark = pytest.mark.integration

OPTS = RegistryOptions(tls_verify=False, timeout=120)
NO_TLS = "--tls-verify=false"
EVAL = "https://example.com/eval/v1"
PROMOTION = "https://skillimage.io/attestations/promotion/v1"
APPROVAL = "https://skillimage.io/attestations/approval/v1"
LINT = "https://skillimage.io/attestations/lint/v1"

POLICY = f"""\
apiVersion: skillimage.io/v1alpha1
kind: PromotionPolicy
keys:
  release: keys/release/cosign.pub
  alice: keys/alice/cosign.pub
  bob: keys/bob/cosign.pub
  ci: keys/ci/cosign.pub
states:
  testing:
    - scan: {{signers: [ci]}}
    - validation: {{strict: false}}
  published:
    - signature: {{signers: [release]}}
    - approvals: {{count: 2, signers: [alice, bob]}}
    - attestation: {{type: "{EVAL}", signers: [ci], min: {{score: 0.8}}}}
    - promoter: {{signers: [release]}}
  deprecated:
    - approvals: {{count: 1, signers: [alice, bob]}}
"""


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """keys/<name>/cosign.{key,pub} for release, alice, bob and ci, beside a policy naming them."""
    root = tmp_path_factory.mktemp("governance")
    for name in ("release", "alice", "bob", "ci"):
        generate_key_pair(root / "keys" / name, b"pw")
    (root / "promotion-policy.yaml").write_text(POLICY)
    return root


def key(root: Path, name: str) -> Path:
    return root / "keys" / name / "cosign.key"


def run(tmp_path: Path, *args: object) -> Result:
    return CliRunner().invoke(cli, ["--store", str(tmp_path / "store"), *map(str, args)], env={"COSIGN_PASSWORD": "pw"})


def publish(reg: Registry, tmp_path: Path, name: str = "demo", tag: str = "1.0.0-draft") -> tuple[str, str]:
    store = skillctl.Store(tmp_path / f"producer-{name}")
    image = skillctl.pack(unique_skill(tmp_path / f"src-{name}", "demo"), store=store)
    ref = f"{reg.repo(name)}:{tag}"
    transfer.push(image.ref, ref, store=store, backend="skopeo", opts=OPTS)
    return ref, reg.digest(ref) or ""


def repo_of(ref: str) -> str:
    return ref.rsplit(":", 1)[0]


def test_gates_refuse_then_allow_and_history_walks_the_chain(registry: Registry, keys: Path, tmp_path: Path) -> None:
    policy = ["--policy", keys / "promotion-policy.yaml"]
    draft, draft_digest = publish(registry, tmp_path)
    repo = repo_of(draft)
    ok_json(run(tmp_path, "sign", draft, "--key", key(keys, "release"), NO_TLS, "--format", "json"))

    # draft -> testing: no scan yet. Refused, nothing written.
    refused = run(tmp_path, "promote", draft, "--to", "testing", *policy, "--sign-key", key(keys, "ci"),
                  "--actor", "ci-pipeline", NO_TLS)  # fmt: skip
    assert_error(refused, 5, "1 of 2 requirements for testing not met",
                 "a passing scan (skillctl lint --attest) by ci: no scan found")  # fmt: skip
    assert "1.0.0-testing" not in registry.tags(repo)
    # A scan by a key the policy does not name for scans does not count either.
    ok_json(run(tmp_path, "lint", draft, "--attest", "--key", key(keys, "alice"), NO_TLS, "--format", "json"))
    refused = run(tmp_path, "promote", draft, "--to", "testing", *policy, "--sign-key", key(keys, "ci"), NO_TLS)
    assert_error(refused, 5, "1 scan(s) found, none signed by ci")
    scanned = ok_json(run(tmp_path, "lint", draft, "--attest", "--key", key(keys, "ci"), NO_TLS, "--format", "json"))
    assert scanned["passed"] and "secrets" in scanned["checks"] and scanned["attestation"]["digest"] == draft_digest
    to_testing = ["promote", draft, "--to", "testing", *policy, "--sign-key", key(keys, "ci"), "--actor", "ci-pipeline"]
    testing = ok_json(run(tmp_path, *to_testing, "--reason", "nightly build", NO_TLS, "--format", "json"))
    assert [r["met"] for r in testing["gates"]["requirements"]] == [True, True]
    assert testing["record"]["predicateType"] == PROMOTION
    testing_ref, testing_digest = f"{repo}:1.0.0-testing", testing["digest"]

    # testing -> published: the release signature carries from the draft; approvals and the evaluation are missing.
    gate = ["promote", testing_ref, "--to", "published", *policy, NO_TLS]
    refused = run(tmp_path, *gate, "--sign-key", key(keys, "release"))
    assert_error(refused, 5, "2 of 4 requirements for published not met",
                 "2 approvals by distinct keys of alice, bob: 0 of 2 (none)",
                 f"a {EVAL} attestation by ci with score >= 0.8: no attestation found")  # fmt: skip
    # An approval for another image never counts; nor does one by a key the requirement does not list.
    other, _ = publish(registry, tmp_path, "other", "1.0.0-testing")
    ok_json(run(tmp_path, "approve", other, "--key", key(keys, "bob"), NO_TLS, "--format", "json"))
    ok_json(run(tmp_path, "approve", testing_ref, "--key", key(keys, "ci"), NO_TLS, "--format", "json"))
    approved = ok_json(run(tmp_path, "approve", testing_ref, "--key", key(keys, "alice"), "--actor", "alice",
                           "--comment", "read every line of SKILL.md", NO_TLS, "--format", "json"))  # fmt: skip
    assert approved["digest"] == testing_digest
    low = tmp_path / "low.json"
    low.write_text(json.dumps({"score": 0.7}))
    ok_json(run(tmp_path, "attest", testing_ref, "--key", key(keys, "ci"), "--type", EVAL, "--predicate", low,
                NO_TLS, "--format", "json"))  # fmt: skip
    report = run(tmp_path, "gates", testing_ref, "--to", "published", *policy, NO_TLS, "--format", "json")
    assert report.exit_code == 5
    outcomes = {r["kind"]: r for r in json.loads(report.stdout)["requirements"]}
    assert outcomes["signature"]["met"] and outcomes["signature"]["evidence"][0]["digest"] == draft_digest
    assert outcomes["approvals"]["detail"] == "1 of 2 (alice)"
    assert "score is 0.7, below 0.8" in outcomes["attestation"]["detail"]
    assert outcomes["promoter"]["detail"].startswith("no key to sign")
    # Someone who is not the release key cannot promote to published even with all the evidence.
    ok_json(run(tmp_path, "approve", testing_ref, "--key", key(keys, "bob"), "--actor", "bob", NO_TLS,
                "--format", "json"))  # fmt: skip
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"score": 0.91}))
    ok_json(run(tmp_path, "attest", testing_ref, "--key", key(keys, "ci"), "--type", EVAL, "--predicate", good,
                NO_TLS, "--format", "json"))  # fmt: skip
    refused = run(tmp_path, *gate, "--sign-key", key(keys, "ci"))
    assert_error(refused, 5, "1 of 4 requirements", "is not one of release")
    published = ok_json(run(tmp_path, *gate, "--sign-key", key(keys, "release"), "--actor", "release-manager",
                            "--reason", "CAB-142 approved", "--format", "json"))  # fmt: skip
    assert published["to"] == "published" and registry.digest(f"{repo}:1.0.0") == published["digest"]
    assert published["record"]["predicateType"] == PROMOTION
    approvals = published["gates"]["requirements"][1]
    assert sorted(e["signers"][0] for e in approvals["evidence"]) == ["alice", "bob"]
    assert {e["digest"] for e in approvals["evidence"]} == {testing_digest}

    # published -> deprecated: the published-state approvals do not count for deprecation.
    deprecate = ["promote", f"{repo}:1.0.0", "--to", "deprecated", *policy, NO_TLS, "--sign-key", key(keys, "release")]
    assert_error(run(tmp_path, *deprecate), 5, "approval(s) for another state")
    ok_json(run(tmp_path, "approve", f"{repo}:1.0.0", "--key", key(keys, "alice"), NO_TLS, "--format", "json"))
    deprecated = ok_json(run(tmp_path, *deprecate, "--actor", "release-manager", "--reason", "superseded by 1.1.0",
                             "--format", "json"))  # fmt: skip

    # History from the newest digest back to the draft: states, actors, reasons, verified records and evidence.
    history = ok_json(run(tmp_path, "history", f"{repo}@{deprecated['digest']}", *policy, NO_TLS, "--format", "json"))
    steps = history["steps"]
    assert [s["state"] for s in steps] == ["deprecated", "published", "testing", "draft"]
    assert [s["digest"] for s in steps] == [deprecated["digest"], published["digest"], testing_digest, draft_digest]
    assert [s["actor"] for s in steps] == ["release-manager", "release-manager", "ci-pipeline", None]
    assert [s["reason"] for s in steps[:3]] == ["superseded by 1.1.0", "CAB-142 approved", "nightly build"]
    assert [s["record"]["signers"] for s in steps[:3]] == [["release"], ["release"], ["ci"]]
    assert steps[3]["record"] is None
    assert all(s["sameContentAsPrevious"] for s in steps[:3])
    assert all(s["policy"]["digest"].startswith("sha256:") for s in steps[:3])
    testing_evidence = {(e["predicateType"], tuple(e["signers"])) for e in steps[2]["evidence"]}
    assert (APPROVAL, ("alice",)) in testing_evidence and (APPROVAL, ("bob",)) in testing_evidence
    assert (EVAL, ("ci",)) in testing_evidence
    draft_evidence = {(e["predicateType"], tuple(e["signers"])) for e in steps[3]["evidence"]}
    assert draft_evidence == {(LINT, ("alice",)), (LINT, ("ci",))}
    text = run(tmp_path, "history", f"{repo}:1.0.0", *policy, NO_TLS)
    assert text.exit_code == 0, text.stderr
    assert "record verified (release)" in text.stdout and "why: CAB-142 approved" in text.stdout
    # Without the keys nothing verifies, and history says so.
    bare = ok_json(run(tmp_path, "history", f"{repo}:1.0.0", NO_TLS, "--format", "json"))
    assert [s["record"]["verified"] for s in bare["steps"][:3]] == [False, False, False]


def test_an_interrupted_promotion_finishes_its_record_when_run_again(
    registry: Registry, keys: Path, tmp_path: Path
) -> None:
    draft, draft_digest = publish(registry, tmp_path)
    repo = repo_of(draft)
    # The manifest and tags are written, then the run dies before the signature and the record.
    promote(draft, "testing", opts=OPTS)
    testing_digest = registry.digest(f"{repo}:1.0.0-testing")
    assert testing_digest
    history = ok_json(run(tmp_path, "history", f"{repo}:1.0.0-testing", NO_TLS, "--format", "json"))
    assert len(history["steps"]) == 1 and history["steps"][0]["record"] is None
    again = ["promote", draft, "--to", "testing", "--sign-key", key(keys, "ci"), "--actor", "ci", NO_TLS, "--format",
             "json"]  # fmt: skip
    finished = ok_json(run(tmp_path, *again))
    assert not finished["wrote"] and finished["record"]["digest"] == testing_digest and finished["signature"]
    once_more = ok_json(run(tmp_path, *again))
    assert once_more["record"] == {"existed": True} and once_more["signature"] is None
    ci_pub = key(keys, "ci").with_suffix(".pub")
    history = ok_json(run(tmp_path, "history", f"{repo}:1.0.0-testing", "--key", ci_pub, NO_TLS, "--format", "json"))
    assert [s["digest"] for s in history["steps"]] == [testing_digest, draft_digest]
    assert history["steps"][0]["record"]["verified"] and history["steps"][0]["actor"] == "ci"
    records = [e for e in history["steps"][0]["evidence"] if e["predicateType"] == PROMOTION]
    assert records == []  # records are the step's record, not evidence; and there is exactly one
    att = registry.manifest_json(f"{repo}:sha256-{testing_digest[7:]}.att")
    assert len(att["layers"]) == 1


def test_a_policy_cannot_be_bypassed_locally_or_without_a_key(registry: Registry, keys: Path, tmp_path: Path) -> None:
    draft, _ = publish(registry, tmp_path)
    policy = ["--policy", keys / "promotion-policy.yaml"]
    assert_error(run(tmp_path, "promote", draft, "--to", "testing", *policy, NO_TLS), 2, "must be recorded, signed")
    assert_error(run(tmp_path, "promote", draft, "--to", "testing", *policy, "--local"), 2, "cannot be --local")
    assert "1.0.0-testing" not in registry.tags(repo_of(draft))
