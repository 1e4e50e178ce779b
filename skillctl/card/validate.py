"""Validate a skill directory: the SkillCard, the prompt file and its frontmatter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from skillctl.card.dependencies import dependency_findings
from skillctl.card.skillcard import CARD_FILE, SkillCard, validate_card_data
from skillctl.card.skillmd import SkillDocument, check_document, parse_skill_document
from skillctl.core.errors import InvalidSkillError, NotFoundError
from skillctl.core.findings import Finding
from skillctl.core.yamlsafe import TextLoader, load_yaml, read_text

MAX_PROMPT_BYTES = 4 * 1024 * 1024


def locate_skill(path: str | Path) -> tuple[Path, Path]:
    """Return (skill root, skill.yaml path) for a skill directory or a skill.yaml file."""
    p = Path(path)
    if p.is_dir():
        card = p / CARD_FILE
        if not card.exists():
            hint = (
                f"run 'skillctl init {p}' to generate skill.yaml from its SKILL.md"
                if (p / "SKILL.md").exists()
                else f"run 'skillctl init {p}' to create a new skill"
            )
            raise NotFoundError(f"{p}: no {CARD_FILE} in this directory", hint=hint)
        return p, card
    if p.exists():
        return p.parent, p
    raise NotFoundError(
        f"{p}: no such file or directory", hint="pass a skill directory (one holding skill.yaml) or its skill.yaml"
    )


@dataclass
class ValidationReport:
    """Everything found about one skill. ``card`` is set when the SkillCard is valid."""

    root: Path
    card_path: Path
    strict: bool = False
    card: SkillCard | None = None
    document: SkillDocument | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error" or self.strict]

    @property
    def warnings(self) -> list[Finding]:
        return [] if self.strict else [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_for_errors(self) -> None:
        if self.errors:
            n = len(self.errors)
            raise InvalidSkillError(
                f"{self.card_path}: {n} validation error{'s' if n != 1 else ''}",
                problems=[str(f) for f in self.errors],
                hint=f"run 'skillctl validate {'--strict ' if self.strict else ''}{self.root}' to see every problem",
            )


def _strip_source(message: str, source: str) -> str:
    return message[len(source) + 2 :] if message.startswith(source + ": ") else message


def validate_skill(
    path: str | Path,
    *,
    strict: bool = False,
    totals: Callable[[Path], tuple[int, int]] | None = None,
    names: Callable[[Path], list[tuple[str, str]]] | None = None,
) -> ValidationReport:
    """Validate a skill; problems are collected in the report, never raised.

    ``totals(root)`` gives ``(files, bytes)`` of the skill's content for the MCP limits; by default a walk of the
    tree (:func:`skillctl.card.content.content_totals`). ``names(root)`` gives the unusable names, by default
    :func:`skillctl.card.content.unusable_names`. ``pack`` passes its own walk for both, so it walks once.

    Raises:
        NotFoundError: the path does not exist or holds no skill.yaml.
    """
    root, card_path = locate_skill(path)
    report = ValidationReport(root=root, card_path=card_path, strict=strict)
    label = str(card_path)
    try:
        doc = load_yaml(read_text(card_path, source=label), source=label, loader=TextLoader)
    except InvalidSkillError as exc:
        report.findings.append(Finding(label, "", _strip_source(exc.message, label)))
        return report
    report.findings.extend(validate_card_data(doc, file=label))
    report.findings.extend(dependency_findings(doc, file=label))
    if not report.findings:
        report.card = SkillCard(doc)
    metadata = doc.get("metadata") if isinstance(doc, dict) else None
    name = metadata.get("name") if isinstance(metadata, dict) else None
    spec = doc.get("spec") if isinstance(doc, dict) else None
    prompt = spec.get("prompt") if isinstance(spec, dict) else None
    _check_prompt(
        report,
        prompt if isinstance(prompt, str) and prompt else "SKILL.md",
        name if isinstance(name, str) else root.resolve().name,
    )
    report.findings.extend(_mcp_limits(root, totals))
    _check_names(report, names)
    return report


def _mcp_limits(root: Path, totals: Callable[[Path], tuple[int, int]] | None) -> list[Finding]:
    """SEP-2640's per-skill limits: MCP hosts need not load a larger skill, and ``skillctl mcp`` does not serve it."""
    from skillctl.card.content import MCP_MAX_BYTES, MCP_MAX_FILES, content_totals

    files, size = (totals or content_totals)(root)
    found = []
    if files > MCP_MAX_FILES:
        found.append(
            Finding(
                str(root),
                "",
                f"{files} files: Skills over MCP (SEP-2640) allows at most {MCP_MAX_FILES} per skill, "
                "so MCP hosts may refuse it and skillctl mcp does not serve it",
                "warning",
            )
        )
    if size > MCP_MAX_BYTES:
        found.append(
            Finding(
                str(root),
                "",
                f"{size} bytes of files: Skills over MCP (SEP-2640) allows at most {MCP_MAX_BYTES} (16 MiB) per "
                "skill, so MCP hosts may refuse it and skillctl mcp does not serve it",
                "warning",
            )
        )
    return found


def _check_names(report: ValidationReport, names: Callable[[Path], list[tuple[str, str]]] | None) -> None:
    """Names no unpack accepts are errors here, so nothing is packed that cannot be pulled or installed."""
    from skillctl.card.content import unusable_names

    for rel, problem in (names or unusable_names)(report.root):
        report.findings.append(
            Finding(str(report.root), "", f"{rel!r}: {problem}; rename it (pull and install refuse such names)")
        )


def _check_prompt(report: ValidationReport, prompt: str, expected_name: str) -> None:
    from skillctl.card.content import excluded_reason

    root = report.root
    card_label = str(report.card_path)
    try:
        target = (root / prompt).resolve()
    except (RuntimeError, OSError):  # Python < 3.13 raises RuntimeError on a symlink loop
        report.findings.append(Finding(str(root / prompt), "", "prompt file is a symlink loop"))
        return
    try:
        rel = target.relative_to(root.resolve())
    except ValueError:
        report.findings.append(Finding(card_label, "spec.prompt", f"{prompt!r} points outside the skill"))
        return
    label = str(root / prompt)
    if not target.is_file():
        report.findings.append(Finding(label, "", "prompt file is missing (spec.prompt, default SKILL.md)"))
        return
    reason = excluded_reason(root, rel.as_posix())
    if reason:
        report.findings.append(Finding(label, "", f"would not be packaged: {reason}"))
    if rel.as_posix() != "SKILL.md":
        report.findings.append(
            Finding(card_label, "spec.prompt", f"is {prompt!r}; agents look for SKILL.md", "warning")
        )
    try:
        text = read_text(target, limit=MAX_PROMPT_BYTES, source=label)
    except InvalidSkillError as exc:
        report.findings.append(Finding(label, "", _strip_source(exc.message, label)))
        return
    report.document = parse_skill_document(text, file=label)
    directory = root.resolve().name if rel.as_posix() == "SKILL.md" else None
    report.findings.extend(check_document(report.document, expected_name=expected_name, directory=directory))
