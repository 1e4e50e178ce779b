"""Content checks before publishing (``skillctl lint``): what a reviewer would catch in a skill's files.

Only the files ``pack`` would put in the image are read (hidden files, VCS folders and ``.skillignore`` matches
stay out, as they never ship). Checks:

- ``secret``: credentials in any text file, found by detect-secrets (the optional ``skillctl[secrets]`` extra);
- ``oversize-file``: a file larger than the limit (10 MiB by default);
- ``broken-link``: a relative link or image in SKILL.md whose target is not in the skill, or leaves it;
- ``skill-md-size``: SKILL.md over the Agent Skills guidance (500 lines, about 5,000 tokens);
- ``script-shebang``, ``script-exec-bit``: an executable file without ``#!``, a script under ``scripts/`` that
  cannot be run directly;
- ``private-file``: a file only its owner may read (0600 and the like): likely a key or token that slipped in.

Findings never quote a secret. Output: text, JSON, SARIF 2.1.0; the predicate ``lint --attest`` signs.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import unquote, urlsplit

from skillctl.card.content import excluded_reason
from skillctl.core.errors import SkillctlError

PREDICATE_TYPE: Final = "https://skillimage.io/attestations/lint/v1"
DEFAULT_MAX_FILE: Final = 10 * 1024 * 1024
SKILL_MD_MAX_LINES: Final = 500
SKILL_MD_MAX_TOKENS: Final = 5000
SECRET_SCAN_MAX: Final = 10 * 1024 * 1024
SCRIPT_SUFFIXES: Final = frozenset({".sh", ".bash", ".zsh", ".py", ".rb", ".pl", ".js", ".mjs", ".ts"})
# High-entropy detectors flag every digest and checksum a skill's documentation quotes; the rest stay on.
SKIPPED_DETECTORS: Final = frozenset({"Base64HighEntropyString", "HexHighEntropyString"})

Level = Literal["error", "warning"]
RULES: Final[dict[str, tuple[Level, str]]] = {
    "secret": ("error", "A credential (key, token, password) in the skill's files"),
    "oversize-file": ("error", "A file larger than the size limit"),
    "broken-link": ("error", "A relative link in SKILL.md whose target is missing or outside the skill"),
    "skill-md-size": ("warning", "SKILL.md over the Agent Skills size guidance"),
    "script-shebang": ("warning", "An executable file without a #! line"),
    "script-exec-bit": ("warning", "A script under scripts/ without an executable bit"),
    "private-file": ("warning", "A file only its owner can read: likely private"),
    "secrets-not-checked": ("warning", "Secret detection is not installed (pip install 'skillctl[secrets]')"),
}


@dataclass(frozen=True)
class LintFinding:
    rule: str
    path: str  # relative to the skill root, posix
    message: str
    line: int | None = None

    @property
    def level(self) -> Level:
        return RULES[self.rule][0]

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.level}: {self.message} [{self.rule}]"

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "level": self.level, "path": self.path, "line": self.line, "message": self.message}


@dataclass
class LintReport:
    root: Path
    findings: list[LintFinding] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    files: int = 0
    detector: str | None = None  # "detect-secrets 1.5.0"

    @property
    def errors(self) -> list[LintFinding]:
        return [f for f in self.findings if f.level == "error"]

    @property
    def warnings(self) -> list[LintFinding]:
        return [f for f in self.findings if f.level == "warning"]

    @property
    def passed(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.root), "passed": self.passed, "files": self.files, "checks": self.checks,
            "detector": self.detector, "summary": {"errors": len(self.errors), "warnings": len(self.warnings)},
            "findings": [f.to_json() for f in self.findings],
        }  # fmt: skip

    def predicate(self, *, subject: str, max_findings: int = 200) -> dict[str, Any]:
        """What ``lint --attest`` signs: the verdict, the checks run, and the findings (capped)."""
        from skillctl._version import __version__

        return {
            "scanner": {"name": "skillctl lint", "version": __version__, "secrets": self.detector},
            "subject": subject,
            "passed": self.passed,
            "checks": self.checks,
            "files": self.files,
            "summary": {"errors": len(self.errors), "warnings": len(self.warnings)},
            "findings": [f.to_json() for f in self.findings[:max_findings]],
            "truncated": len(self.findings) > max_findings,
        }

    def to_sarif(self) -> dict[str, Any]:
        """SARIF 2.1.0, as code-scanning services read it."""
        from skillctl._version import __version__

        rules = [
            {"id": rule, "shortDescription": {"text": text}, "defaultConfiguration": {"level": level}}
            for rule, (level, text) in RULES.items()
        ]
        results = []
        for f in self.findings:
            location: dict[str, Any] = {"artifactLocation": {"uri": f.path}}
            if f.line:
                location["region"] = {"startLine": f.line}
            results.append(
                {
                    "ruleId": f.rule,
                    "ruleIndex": list(RULES).index(f.rule),
                    "level": f.level,
                    "message": {"text": f.message},
                    "locations": [{"physicalLocation": location}],
                }
            )
        return {
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [
                {
                    "tool": {
                        "driver": {
                            "name": "skillctl lint",
                            "version": __version__,
                            "rules": rules,
                            "informationUri": "https://skillimage.io",
                        }
                    },
                    "originalUriBaseIds": {"SKILLROOT": {"uri": self.root.resolve().as_uri() + "/"}},
                    "results": results,
                }
            ],
        }


def _content(root: Path) -> Iterator[tuple[str, Path, os.stat_result]]:
    """The skill's files as ``pack`` sees them (symlinks are not followed)."""
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = sorted(d for d in dirnames if excluded_reason(root, rel_dir + d + "/x") is None)
        for name in sorted(filenames):
            rel = rel_dir + name
            if excluded_reason(root, rel) is not None:
                continue
            path = Path(dirpath) / name
            info = path.lstat()
            if stat.S_ISREG(info.st_mode):
                yield rel, path, info


def _is_text(path: Path) -> bool:
    with path.open("rb") as fh:
        return b"\0" not in fh.read(8192)


_LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'(][^)]*)?\)")
_REF_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")


def _links(text: str) -> Iterator[tuple[int, str]]:
    fenced = False
    for number, line in enumerate(text.splitlines(), start=1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        line = re.sub(r"`[^`]*`", "", line)  # inline code is not a link
        for match in _LINK.finditer(line):
            yield number, match.group(1)
        ref = _REF_DEF.match(line)
        if ref:
            yield number, ref.group(1)


def _check_links(root: Path, rel: str, text: str, findings: list[LintFinding]) -> None:
    base = (root / rel).parent
    real_root = root.resolve()
    for number, target in _links(text):
        parts = urlsplit(target)
        if parts.scheme or parts.netloc or target.startswith(("#", "/")) or not parts.path:
            continue
        wanted = (base / unquote(parts.path)).resolve()
        if wanted != real_root and real_root not in wanted.parents:
            findings.append(LintFinding("broken-link", rel, f"link to {target!r} points outside the skill", number))
        elif not wanted.exists():
            findings.append(LintFinding("broken-link", rel, f"link to {target!r}: no such file in the skill", number))
        elif wanted != real_root and excluded_reason(root, wanted.relative_to(real_root).as_posix()):
            findings.append(LintFinding("broken-link", rel, f"link to {target!r}: the file is left out of the image",
                                        number))  # fmt: skip


def _secret_detector() -> Any:
    try:
        import detect_secrets  # noqa: F401
    except ImportError:
        return None
    from importlib.metadata import version

    return f"detect-secrets {version('detect-secrets')}"


def _scan_secrets(root: Path, files: list[str], findings: list[LintFinding]) -> None:
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.core.scan import scan_file
    from detect_secrets.settings import transient_settings

    plugins = [
        {"name": p.__name__}
        for p in get_mapping_from_secret_type_to_class().values()
        if p.__name__ not in SKIPPED_DETECTORS
    ]
    with transient_settings({"plugins_used": plugins}):
        for rel in files:
            seen: set[tuple[str, int]] = set()
            for secret in scan_file(str(root / rel)):
                key = (secret.type, secret.line_number)
                if key not in seen:
                    seen.add(key)
                    findings.append(
                        LintFinding("secret", rel, f"possible {secret.type} (not shown)", secret.line_number)
                    )


def lint_tree(root: str | Path, *, max_file_size: int = DEFAULT_MAX_FILE, secrets: bool = True) -> LintReport:
    """Check a skill directory's content; every finding at once."""
    root = Path(root)
    report = LintReport(root)
    report.checks = ["oversize-file", "broken-link", "skill-md-size", "script-shebang", "script-exec-bit",
                     "private-file"]  # fmt: skip
    findings = report.findings
    text_files: list[str] = []
    prompt = _prompt_file(root)
    for rel, path, info in _content(root):
        report.files += 1
        mode = stat.S_IMODE(info.st_mode)
        if info.st_size > max_file_size:
            findings.append(
                LintFinding("oversize-file", rel, f"{info.st_size:,} bytes; the limit is {max_file_size:,}")
            )
        if mode & 0o077 == 0 and mode & 0o400:
            findings.append(LintFinding("private-file", rel, f"mode {mode:04o}: only its owner may read it"))
        text = info.st_size <= SECRET_SCAN_MAX and _is_text(path)
        if text:
            text_files.append(rel)
        head = b""
        if text:
            with path.open("rb") as fh:
                head = fh.read(2)
        if mode & 0o111 and head != b"#!" and text:
            findings.append(LintFinding("script-shebang", rel, "executable, but it has no #! line"))
        elif rel.startswith("scripts/") and not mode & 0o111 and (Path(rel).suffix in SCRIPT_SUFFIXES or head == b"#!"):
            findings.append(LintFinding("script-exec-bit", rel, f"a script with mode {mode:04o}: not executable"))
        if rel == prompt and text:
            body = path.read_text(encoding="utf-8", errors="replace")
            _check_links(root, rel, body, findings)
            lines, tokens = body.count("\n") + (not body.endswith("\n") and bool(body)), len(body) // 4
            if lines > SKILL_MD_MAX_LINES:
                findings.append(LintFinding("skill-md-size", rel, f"{lines} lines; the guidance is under "
                                            f"{SKILL_MD_MAX_LINES}: move detail into referenced files"))  # fmt: skip
            if tokens > SKILL_MD_MAX_TOKENS:
                findings.append(LintFinding("skill-md-size", rel, f"about {tokens:,} tokens; the guidance is under "
                                            f"{SKILL_MD_MAX_TOKENS:,}"))  # fmt: skip
    if secrets:
        report.detector = _secret_detector()
        if report.detector is None:
            findings.append(
                LintFinding(
                    "secrets-not-checked", ".", "detect-secrets is not installed: pip install 'skillctl[secrets]'"
                )
            )
        else:
            report.checks.append("secrets")
            _scan_secrets(root, text_files, findings)
    findings.sort(key=lambda f: (f.path, f.line or 0, f.rule))
    return report


def _prompt_file(root: Path) -> str:
    """The prompt file the SkillCard names (``spec.prompt``), else SKILL.md."""
    from skillctl.core.yamlsafe import load_yaml, read_text

    try:
        doc = load_yaml(read_text(root / "skill.yaml"), source="skill.yaml")
        prompt = (doc.get("spec") or {}).get("prompt") if isinstance(doc, dict) else None
        return str(prompt) if isinstance(prompt, str) and prompt else "SKILL.md"
    except SkillctlError:  # validate reports a broken SkillCard; lint still checks the files
        return "SKILL.md"
