"""The skill as its author writes it: the SkillCard (skill.yaml), SKILL.md frontmatter, validation,
``init`` scaffolding, and which files of a skill directory are content.

May import: ``core``.
"""
