"""Helpers for building skills in tests."""

from __future__ import annotations

from pathlib import Path

SKILL_MD = "---\nname: {name}\ndescription: {description}\n---\n\n# {name}\n\nDo the thing.\n"
CARD = """\
apiVersion: skillimage.io/v1alpha1
kind: SkillCard
metadata:
  name: {name}
  namespace: {namespace}
  version: {version}
  description: {description}
spec:
  prompt: SKILL.md
"""


def make_skill(
    root: Path,
    name: str = "demo-skill",
    *,
    namespace: str = "test",
    version: str = "1.0.0",
    description: str = "A test skill.",
    files: dict[str, str | bytes] | None = None,
) -> Path:
    """Write a valid skill into ``root`` (created) plus any extra ``files``; return ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    fmt = {"name": name, "namespace": namespace, "version": version, "description": description}
    (root / "skill.yaml").write_text(CARD.format(**fmt))
    (root / "SKILL.md").write_text(SKILL_MD.format(**fmt))
    for rel, content in (files or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root
