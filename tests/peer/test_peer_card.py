"""SkillCards and skills the Go skillctl accepts, through both tools: the same verdicts.

The fixtures are the Go tool's own: the SkillCards of its pkg/skillcard tests, the skills its
pkg/oci tests build, and its examples/ (read from the source tarball in $SKILLCTL_PEERS).
"""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

import pytest
from peerkit import Peers, manifest

from skillctl.consume.collection import load_file

pytestmark = pytest.mark.peer

PEERS_DIR = Path(os.environ.get("SKILLCTL_PEERS", "/work/shared/peers"))

CARD = """\
apiVersion: skillimage.io/v1alpha1
kind: SkillCard
metadata:
  name: {name}
  namespace: test
  version: 1.0.0
  description: test
"""
VALID = """\
apiVersion: skillimage.io/v1alpha1
kind: SkillCard
metadata:
  name: hello-world
  namespace: examples
  version: 1.0.0
  display-name: "Hello World"
  description: A simple example skill.
  license: Apache-2.0
  tags:
    - example
  authors:
    - name: Test Author
      email: test@example.com
spec:
  prompt: SKILL.md
"""
# pkg/skillcard/skillcard_test.go: (case, skill.yaml, valid?) as its tests expect.
CARD_FIXTURES = [
    ("TestValidateValid", VALID, True),
    ("TestValidateMissingRequiredFields", "apiVersion: skillimage.io/v1alpha1\nkind: SkillCard\nmetadata:\n"
     "  name: test\n", False),
    ("TestValidateInvalidName/valid", CARD.format(name="hello-world"), True),
    ("TestValidateInvalidName/valid single char", CARD.format(name="a"), True),
    ("TestValidateInvalidName/uppercase", CARD.format(name="Hello"), False),
    ("TestValidateInvalidName/spaces", CARD.format(name="hello world"), False),
    ("TestValidateInvalidName/leading hyphen", CARD.format(name="-hello"), False),
    ("TestValidateInvalidName/trailing hyphen", CARD.format(name="hello-"), False),
    ("TestValidateInvalidName/consecutive hyphens", CARD.format(name="hello--world"), False),
    ("TestValidateInvalidSemver", CARD.format(name="test").replace("1.0.0", "not-semver"), False),
    ("TestValidateWrongAPIVersion", CARD.format(name="test").replace("skillimage.io/v1alpha1", "wrong/v1"), False),
    ("TestParseInvalidYAML", "not: [valid: yaml", False),
    # Not in its tests, but what it does: yaml.v3 reads YAML 1.1 booleans into a string field as words.
    ("name: yes", CARD.format(name="yes"), True),
    ("name: on, description: no", CARD.format(name="on").replace("description: test", "description: no"), True),
    ("empty metadata", "apiVersion: skillimage.io/v1alpha1\nkind: SkillCard\nmetadata:\n", False),
]  # fmt: skip

TEST_CARD = """\
apiVersion: skillimage.io/v1alpha1
kind: SkillCard
metadata:
  name: {name}
  namespace: test
  version: {version}
  description: {description}
{extra}spec:
  prompt: SKILL.md
"""
# pkg/oci tests: (name, extra metadata, SKILL.md or None for none). The Go tool builds every one.
SKILL_FIXTURES = [
    ("test-skill", "", "Test prompt content."),  # writeTestSkill
    ("annotated-skill", "  tags:\n    - kubernetes\n    - debugging\n  compatibility: claude-3.5-sonnet\n",
     "one two three four five"),  # TestAnnotationsIncludeTags
    ("frontmatter-skill", "", "---\nname: frontmatter-skill\ndescription: This has frontmatter that should not be "
     "counted.\nlicense: Apache-2.0\n---\n\nThese five words are counted.\n"),  # TestWordCountExcludesFrontmatter
    ("empty-md-skill", "", ""),  # TestAnnotationsEmptySKILLmd
    ("removable", "", "Test prompt."),  # remove_test.go writeTestSkillNamed
    ("minimal-skill", "", None),  # TestAnnotationsOmittedWhenEmpty: no SKILL.md at all
]  # fmt: skip
ANNOTATIONS = (
    "org.opencontainers.image.title",
    "org.opencontainers.image.version",
    "org.opencontainers.image.vendor",
    "org.opencontainers.image.description",
    "io.skillimage.status",
    "io.skillimage.tags",
    "io.skillimage.compatibility",
    "io.skillimage.wordcount",
)


def verdict(peers: Peers, tool_name: str, target: Path) -> tuple[bool, str]:
    tool = peers.go if tool_name == "go" else peers.ours
    done = tool("validate", target)
    return done.returncode == 0, done.stderr


@pytest.mark.parametrize(("case", "text", "valid"), CARD_FIXTURES, ids=[c[0] for c in CARD_FIXTURES])
def test_skillcard_verdicts_match_the_go_tools_tests(peers, case, text, valid):
    skill = peers.tmp / "skill"
    skill.mkdir()
    (skill / "skill.yaml").write_text(text)
    (skill / "SKILL.md").write_text("---\nname: skill\ndescription: A skill.\n---\n\nBody.\n")
    go_ok, _ = verdict(peers, "go", skill)
    ours_ok, ours_err = verdict(peers, "ours", skill)
    assert go_ok is valid, f"the Go tool disagrees with its own test {case}"
    assert ours_ok is valid, f"{case}: {ours_err}"
    assert "NoneType" not in ours_err and "a object" not in ours_err  # messages in plain words
    if case == "empty metadata":
        assert "metadata: is empty; it must be a mapping" in ours_err


@pytest.mark.parametrize(("name", "extra", "skill_md"), SKILL_FIXTURES, ids=[s[0] for s in SKILL_FIXTURES])
def test_the_go_tools_test_skills_pack_with_the_same_annotations(peers, name, extra, skill_md):
    skill = peers.tmp / name
    skill.mkdir()
    (skill / "skill.yaml").write_text(
        TEST_CARD.format(name=name, version="1.0.0", description="A test skill.", extra=extra)
    )
    if skill_md is not None:
        (skill / "SKILL.md").write_text(skill_md)
    peers.go.ok("build", skill)
    ours = peers.ours("pack", skill, "--format", "json")
    ref = f"test/{name}:1.0.0-draft"
    if skill_md is None:
        # The one difference kept: without SKILL.md no agent can load the skill (the Go tool packs it anyway).
        assert ours.returncode == 3 and "prompt file is missing" in ours.stderr
        return
    assert ours.returncode == 0, ours.stderr
    warnings = [w["field"] for w in json.loads(ours.stdout)["warnings"]]
    if not skill_md.startswith("---"):
        assert warnings == ["frontmatter"]  # it says what agents will do with such a SKILL.md
    go_ann, our_ann = manifest(peers.go, ref)["annotations"], manifest(peers.ours, ref)["annotations"]
    assert {k: our_ann.get(k) for k in ANNOTATIONS} == {k: go_ann.get(k) for k in ANNOTATIONS}
    strict = peers.ours("pack", skill, "--strict")
    assert (strict.returncode == 0) is (not warnings)


def test_the_go_tools_examples_validate_in_both(peers):
    tarballs = sorted(PEERS_DIR.glob("skillimage-*.tar.gz"))
    assert tarballs, f"no skillimage-*.tar.gz in {PEERS_DIR} (set SKILLCTL_PEERS)"
    with tarfile.open(tarballs[-1]) as tar:
        members = [m for m in tar.getmembers() if "/examples/" in m.name and m.isfile()]
        # Debian 12's Python 3.11.2 predates extraction filters (3.11.4); the members are regular files of the
        # maintainer's tarball, and none may leave the directory either way.
        assert all(not m.name.startswith("/") and ".." not in m.name.split("/") for m in members)
        if hasattr(tarfile, "data_filter"):
            tar.extractall(peers.tmp / "src", members=members, filter="data")
        else:
            tar.extractall(peers.tmp / "src", members=members)
    examples = sorted(p.parent for p in (peers.tmp / "src").rglob("examples/*/skill.yaml"))
    assert len(examples) >= 6
    for skill in examples:
        assert verdict(peers, "go", skill)[0], skill.name
        ours_ok, err = verdict(peers, "ours", skill)
        assert ours_ok, err
    collections = sorted((peers.tmp / "src").rglob("examples/*collection*.yaml"))
    assert collections
    for coll in collections:
        peers.go.ok("collection", "volume", "-f", coll)  # parses it (strictly: unknown keys are refused)
        parsed = load_file(coll)  # every check of ours
        assert len(parsed.skills) == coll.read_text().count("\n  - "), coll.name
