"""``skillctl init``: write a new skill, or a skill.yaml for an existing Agent Skills SKILL.md."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from skillctl.card.content import IGNORE_FILE
from skillctl.card.skillcard import API_VERSION, CARD_FILE, KIND, dump_card, validate_card_data
from skillctl.card.skillmd import SkillDocument, check_document, parse_skill_document
from skillctl.core.errors import ConflictError, InvalidSkillError
from skillctl.core.findings import Finding
from skillctl.core.fsutil import atomic_write
from skillctl.core.yamlsafe import read_text

DEFAULT_NAMESPACE: Final = "local"
DEFAULT_VERSION: Final = "0.1.0"
_IGNORE_TEMPLATE: Final = """\
# Files listed here (gitignore syntax) stay out of the skill image.
# Hidden files and VCS folders are always left out.
__pycache__/
*.pyc
"""


@dataclass
class InitResult:
    directory: Path
    written: list[Path]
    card: dict[str, Any]
    from_skill_md: bool
    warnings: list[Finding] = field(default_factory=list)


def slugify(text: str) -> str:
    """A valid skill name from a directory name ('My Skill_v2' -> 'my-skill-v2')."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:64].strip("-")


def _normalise_version(value: Any) -> str:
    """'2.0' -> '2.0.0', 'v1' -> '1.0.0'; prerelease and build suffixes are kept."""
    text = str(value).strip().lstrip("vV")
    match = re.match(r"^(\d+(?:\.\d+)*)(.*)$", text)
    if not match:
        return text
    parts = match.group(1).split(".")
    parts += ["0"] * (3 - len(parts))
    return ".".join(parts) + match.group(2)


def _first_sentence(body: str) -> str:
    for line in body.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line[: line.index(".") + 1] if "." in line else line
    return ""


def _card_from_frontmatter(
    fm: dict[str, Any],
    body: str,
    *,
    dir_name: str,
    name: str | None,
    namespace: str | None,
    version: str | None,
    description: str | None,
    default_author: str | None = None,
    fallback_namespace: str = DEFAULT_NAMESPACE,
) -> dict[str, Any]:
    meta_fm = fm.get("metadata") if isinstance(fm.get("metadata"), dict) else {}
    fm_name = str(fm.get("name") or dir_name)
    colon_ns = ""
    if ":" in fm_name:
        left, _, right = fm_name.partition(":")
        if left and right:
            colon_ns, fm_name = left, right
    metadata: dict[str, Any] = {
        "name": name or fm_name,
        "namespace": namespace or str(meta_fm.get("namespace") or colon_ns or fallback_namespace),
        "version": version or (_normalise_version(meta_fm["version"]) if meta_fm.get("version") else DEFAULT_VERSION),
        "description": description or str(fm.get("description") or _first_sentence(body)),
    }
    for key in ("license", "compatibility", "allowed-tools"):
        if isinstance(fm.get(key), str) and fm[key]:
            metadata[key] = fm[key]
    tools = fm.get("allowed-tools")
    if isinstance(tools, list) and tools and all(isinstance(t, str | int | float) for t in tools):
        # Claude Code accepts a YAML list; the SkillCard (like the Agent Skills format) holds one string.
        metadata["allowed-tools"] = " ".join(str(t) for t in tools)
    author = meta_fm.get("author") or default_author
    if author:
        metadata["authors"] = [{"name": str(author)}]
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": {"prompt": "SKILL.md"}}


def card_from_skill_md(
    root: Path, *, namespace: str | None = None, default_author: str | None = None
) -> tuple[dict[str, Any], list[Finding]]:
    """The SkillCard the Go tool generates for a skill that has only SKILL.md (not validated here).

    ``namespace`` is the fallback when the frontmatter names none (the Go tool uses the
    repository's organisation), ``default_author`` the author when ``metadata.author`` is absent.
    """
    skill_md = root / "SKILL.md"
    doc = parse_skill_document(read_text(skill_md, source=str(skill_md)), file=str(skill_md))
    warnings = list(doc.findings)
    if doc.frontmatter is None and not warnings:
        warnings.append(Finding(str(skill_md), "frontmatter", "missing; add name and description", "warning"))
    card = _card_from_frontmatter(
        doc.frontmatter or {},
        doc.body,
        dir_name=root.resolve().name,
        name=None,
        namespace=None,
        version=None,
        description=None,
        default_author=default_author,
        fallback_namespace=namespace or DEFAULT_NAMESPACE,
    )
    return card, warnings


def _skill_md(name: str, description: str) -> str:
    title = name.replace("-", " ").title()
    return (
        f"---\nname: {name}\ndescription: {description}\n---\n\n# {title}\n\n"
        "Tell the agent what this skill is for and what to do, step by step.\n"
        "Keep this file short; put long material in references/ and load it when needed.\n"
    )


def _refuse_what_pack_would_refuse(doc: SkillDocument, skill_md: Path, name: str) -> list[Finding]:
    """A SKILL.md that ``validate`` rejects gets no skill.yaml: nothing is written. Returns what it warns about
    (no frontmatter or description: agents that follow the spec skip the skill), for ``init`` to say too."""
    findings = check_document(doc, expected_name=None)
    errors = [f for f in findings if f.severity == "error"]
    if not errors:
        return [f for f in findings if f.severity != "error"]
    fm = doc.frontmatter or {}
    description = fm.get("description") if isinstance(fm.get("description"), str) else None
    lines = [
        "---",
        f"name: {fm.get('name') or name}",
        f"description: {description or _first_sentence(doc.body)}",
        "---",
    ]
    raise InvalidSkillError(
        f"{skill_md}: {errors[0].field}: {errors[0].message}; nothing was written",
        problems=[str(f) for f in errors],
        hint="validate and pack would refuse this SKILL.md; start it with these lines: " + " / ".join(lines),
    )


def init_skill(
    directory: str | Path = ".",
    *,
    name: str | None = None,
    namespace: str | None = None,
    version: str | None = None,
    description: str | None = None,
    force: bool = False,
) -> InitResult:
    """Create a skill in ``directory``, or generate skill.yaml from an existing SKILL.md.

    Options given here override what the SKILL.md frontmatter says. Nothing is
    overwritten without ``force``; an invalid result writes nothing.

    Raises:
        ConflictError: files exist and ``force`` is false (all of them are named).
        InvalidSkillError: the generated SkillCard would not validate.
    """
    root = Path(directory)
    skill_md = root / "SKILL.md"
    dir_name = root.resolve().name
    files: dict[Path, str] = {}
    warnings: list[Finding] = []
    from_skill_md = skill_md.is_file()
    if from_skill_md:
        doc = parse_skill_document(read_text(skill_md, source=str(skill_md)), file=str(skill_md))
        warnings.extend(_refuse_what_pack_would_refuse(doc, skill_md, name or slugify(dir_name)))
        tools = (doc.frontmatter or {}).get("allowed-tools")
        if isinstance(tools, list):  # said once, with what init did about it
            warnings = [w for w in warnings if w.field != "frontmatter.allowed-tools"]
            warnings.append(
                Finding(
                    str(skill_md),
                    "frontmatter.allowed-tools",
                    f"a list; skill.yaml gets it as one space-separated string ({' '.join(map(str, tools))!r})",
                    "warning",
                )
            )
        card = _card_from_frontmatter(
            doc.frontmatter or {},
            doc.body,
            dir_name=dir_name,
            name=name,
            namespace=namespace,
            version=version,
            description=description,
        )
    else:
        skill_name = name or slugify(dir_name) or "my-skill"
        desc = description or "Describe what this skill does and when an agent should use it."
        card = {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {
                "name": skill_name,
                "namespace": namespace or DEFAULT_NAMESPACE,
                "version": version or DEFAULT_VERSION,
                "description": desc,
            },
            "spec": {"prompt": "SKILL.md"},
        }
        files[skill_md] = _skill_md(skill_name, desc)
        files[root / IGNORE_FILE] = _IGNORE_TEMPLATE
    files[root / CARD_FILE] = dump_card(card)

    problems = validate_card_data(card, file=str(root / CARD_FILE))
    if problems:
        raise InvalidSkillError(
            f"{root / CARD_FILE}: the generated SkillCard is invalid: {problems[0]}",
            problems=[str(p) for p in problems],
            hint="set the values with --name, --namespace, --version or --description",
        )
    existing = sorted(p for p in files if p.exists())
    if existing and not force:
        raise ConflictError(
            f"{root}: would overwrite {', '.join(str(p) for p in existing)}",
            hint="pass --force to overwrite",
        )
    root.mkdir(parents=True, exist_ok=True)
    for path, text in sorted(files.items()):
        atomic_write(path, text.encode("utf-8"))
    return InitResult(root, sorted(files), card, from_skill_md, warnings)
