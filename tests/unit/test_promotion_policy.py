"""The promotion policy file: schema, every problem at once, unknown requirements named, never ignored."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import assert_error
from click.testing import CliRunner

from skillctl.cli.app import cli
from skillctl.lifecycle.promotion_policy import PolicyError, find, load
from skillctl.trust.signing import generate_key_pair

HEAD = "apiVersion: skillimage.io/v1alpha1\nkind: PromotionPolicy\nkeys:\n  alice: alice/cosign.pub\n"


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    generate_key_pair(tmp_path / "alice", b"pw")
    return tmp_path


def write(root: Path, states: str) -> Path:
    path = root / "promotion-policy.yaml"
    path.write_text(HEAD + "states:\n" + states)
    return path


def test_a_valid_policy_loads_with_its_keys(policy_dir: Path) -> None:
    path = write(policy_dir, "  published:\n    - approvals: {count: 1, signers: [alice]}\n    - validation: {}\n")
    policy = load(path)
    assert [r.kind for r in policy.requirements("published")] == ["approvals", "validation"]
    assert policy.requirements("testing") == []
    assert set(policy.trusts()) == {"alice"} and policy.digest.startswith("sha256:")
    assert policy.requirements("published")[0].describe() == "1 approval by distinct keys of alice"
    assert find(None, cwd=policy_dir) is not None and find(None, cwd=policy_dir / "alice") is None


def test_every_problem_is_named_at_once(policy_dir: Path) -> None:
    path = write(
        policy_dir,
        "  published:\n"
        "    - aproval: {signers: [alice]}\n"  # a typo: must not open the gate
        "    - approvals: {count: 3, signers: [alice, mallory]}\n"
        "    - scan: {signers: [alice], strict: true}\n"
        "    - {signature: {signers: [alice]}, scan: {signers: [alice]}}\n"
        "  release:\n    - validation: {}\n",
    )
    with pytest.raises(PolicyError) as caught:
        load(path)
    problems = "\n".join(caught.value.problems)
    assert "states.published[0]: unknown requirement 'aproval' (known: signature, approvals, scan" in problems
    assert "states.published[1].approvals.signers: 'mallory' is not a key named under keys" in problems
    assert "3 approvals by distinct keys, but only 2 signers are listed" in problems
    assert "states.published[2].scan.strict: unknown field" in problems
    assert "states.published[3]: each requirement is a mapping with exactly one of" in problems
    assert "states.release: not a state a promotion can reach" in problems
    assert caught.value.exit_code == 3


def test_a_missing_key_file_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "  testing:\n    - scan: {signers: [alice]}\n")
    with pytest.raises(PolicyError) as caught:
        load(path)
    assert "keys.alice:" in caught.value.problems[0] and "cannot read the public key" in caught.value.problems[0]


def test_promote_refuses_a_bad_policy_before_reading_the_registry(policy_dir: Path, tmp_path: Path) -> None:
    path = write(policy_dir, "  testing:\n    - scans: {signers: [alice]}\n")
    result = CliRunner().invoke(
        cli, ["promote", "127.0.0.1:1/x/y:1.0.0-draft", "--to", "testing", "--policy", str(path)]
    )
    assert_error(result, 3, "unknown requirement 'scans'")
