"""skills.lock.yaml and skills.yaml on their own: round trips, stable bytes, content digests, targets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from skillctl.consume.lock import Lock, LockedSkill, Signer, parse_lock, tree_digest
from skillctl.consume.project import parse_manifest, parse_target
from skillctl.core.errors import InvalidSkillError

D1 = "sha256:" + "a" * 64
D2 = "sha256:" + "b" * 64


def sample(path: Path) -> Lock:
    lock = Lock(path)
    lock.skills["lib"] = LockedSkill("lib", "reg.example:5000/acme/lib", "1.1.0", "1.1.0", D2, "published",
                                     targets=["claude"])  # fmt: skip
    lock.skills["app"] = LockedSkill(
        "app", "reg.example:5000/acme/app", "1.0.0+build.1", "1.0.0_build.1", D1, "deprecated",
        content_digest=D2, requested="^1.0.0", targets=["claude", "./skills"], dependencies={"lib": ">=1.0 <2"},
        signers=[Signer.key(D1, "keys/cosign.pub")],
    )  # fmt: skip
    return lock


def test_round_trip_is_exact_and_ordered(tmp_path: Path) -> None:
    lock = sample(tmp_path / "skills.lock.yaml")
    text = lock.dump()
    again = parse_lock(text, lock.path)
    assert again.dump() == text
    assert [s.to_yaml() for s in again.skills.values()] == [lock.skills[n].to_yaml() for n in ("app", "lib")]
    assert text.index("name: app") < text.index("name: lib")
    assert again.skills["app"].signers == [Signer.key(D1, "keys/cosign.pub")]
    assert again.skills["app"].line == 4 and again.skills["lib"].line > 4
    lock.save()
    assert lock.path.read_text() == text


def test_unknown_signer_kinds_are_kept_not_dropped(tmp_path: Path) -> None:
    text = (
        sample(tmp_path / "l")
        .dump()
        .replace(
            "  - kind: key\n",
            "  - kind: keyless\n    issuer: https://accounts.example\n    identity: ci@example\n  - kind: key\n",
        )
    )
    lock = parse_lock(text, tmp_path / "l")
    assert [s.kind for s in lock.skills["app"].signers] == ["keyless", "key"]
    assert lock.skills["app"].signers[0].get("identity") == "ci@example"


def test_an_empty_lock_and_a_missing_entry_for_an_edge(tmp_path: Path) -> None:
    assert parse_lock("lock-version: 1\nskills: []\n", tmp_path / "l").skills == {}
    text = sample(tmp_path / "l").dump().replace("    lib: '>=1.0 <2'\n", "    nope: '>=1.0 <2'\n")
    with pytest.raises(InvalidSkillError, match=r"skills.lock.yaml:4: app depends on 'nope'"):
        parse_lock(text, tmp_path / "l", source="skills.lock.yaml")


def test_tree_digest_sees_content_exec_bits_and_names_not_times(tmp_path: Path) -> None:
    root = tmp_path / "s"
    (root / "scripts").mkdir(parents=True)
    (root / "SKILL.md").write_text("x\n")
    (root / "scripts" / "run.sh").write_text("#!/bin/sh\n")
    (root / "scripts" / "run.sh").chmod(0o755)
    os.symlink("SKILL.md", root / "link.md")
    first = tree_digest(root)
    os.utime(root / "SKILL.md", (1, 1))
    (root / "scripts").chmod(0o700)
    assert tree_digest(root) == first
    (root / "scripts" / "run.sh").chmod(0o644)
    assert tree_digest(root) != first
    (root / "scripts" / "run.sh").chmod(0o755)
    assert tree_digest(root) == first
    (root / "SKILL.md").write_text("y\n")
    assert tree_digest(root) != first


@pytest.mark.parametrize(
    ("text", "spec", "path"),
    [
        ("claude", "claude", ".claude/skills"),
        ("Cursor", "cursor", ".cursor/skills"),
        ("claude:project", "claude:project", ".claude/skills"),
        ("./skills", "./skills", "skills"),
        ("vendor/skills", "vendor/skills", "vendor/skills"),
    ],
)
def test_targets(tmp_path: Path, text: str, spec: str, path: str) -> None:
    target = parse_target(text)
    assert target.spec == spec
    assert target.destination(tmp_path).path == tmp_path / path


def test_user_scope_target_is_under_home(tmp_path: Path) -> None:
    dest = parse_target("claude:user").destination(tmp_path / "project", env={"HOME": str(tmp_path / "home")})
    assert dest.path == tmp_path / "home" / ".claude" / "skills"


def test_manifest_round_trip(tmp_path: Path) -> None:
    text = (
        "apiVersion: skillimage.io/v1alpha1\nkind: SkillProject\ntarget: claude\nverify-key: k.pub\nskills:\n"
        "- repository: reg.example/acme/b\n  version: ^1.0.0\n"
        "- repository: reg.example/acme/a\n  version: '>=1 <2'\n  name: aa\n  target: ./x\n  verify-key: o.pub\n"
    )
    project = parse_manifest(text, tmp_path)
    assert [(w.name, w.range.text, w.line) for w in project.skills] == [("b", "^1.0.0", 6), ("aa", ">=1 <2", 8)]
    again = parse_manifest(project.dump(), tmp_path)
    assert again.dump() == project.dump()
    assert [w.to_yaml() for w in again.skills] == [w.to_yaml() for w in sorted(project.skills, key=lambda w: w.name)]
