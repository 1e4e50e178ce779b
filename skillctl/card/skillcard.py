"""The SkillCard (``skill.yaml``): schema validation, strict semver, serialisation.

Compatible with the Go skillctl: the same ``skillimage.io/v1alpha1`` fields, unknown
keys rejected, ``metadata.version`` strict semver. Unlike it, every problem is
reported at once with its field path.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from skillctl.core import json_schema
from skillctl.core.findings import Finding

API_VERSION: Final = "skillimage.io/v1alpha1"
KIND: Final = "SkillCard"
CARD_FILE: Final = "skill.yaml"
SCHEMA_FILE: Final = "skillcard-v1.json"

# Strict SemVer 2.0 (the regex of semver.org, as semver.Version.parse applies it), checked without importing
# semver, which validate and pack need for nothing else.
_SEMVER: Final = (
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?"
)

_PATTERN_MESSAGES: Final = {
    "metadata.name": "must be lowercase letters, digits and single hyphens (e.g. hello-world)",
    "metadata.namespace": "must be '/'-separated segments of lowercase letters, digits and single hyphens",
}
# Field order of the Go tool's serialiser, kept so generated files look familiar.
_ORDER: Final = {
    "": ["apiVersion", "kind", "metadata", "provenance", "spec"],
    "metadata": [
        "name",
        "display-name",
        "namespace",
        "version",
        "description",
        "license",
        "compatibility",
        "tags",
        "authors",
        "allowed-tools",
    ],
    "provenance": ["source", "commit", "path"],
    "spec": ["prompt", "examples", "dependencies"],
}


@functools.cache
def load_schema(name: str = SCHEMA_FILE) -> dict[str, Any]:
    """Load a schema shipped inside the package."""
    text = (Path(__file__).resolve().parent.parent / "schemas" / name).read_text(encoding="utf-8")
    return dict(json.loads(text))


@functools.cache
def _validator() -> Any:
    """The schema's validator: skillctl's own for the keywords it uses (jsonschema's errors, without jsonschema's
    import time), else jsonschema's."""
    schema = load_schema()
    try:
        return json_schema.Validator(schema)
    except json_schema.Unsupported:
        return jsonschema_validator(schema)


def jsonschema_validator(schema: dict[str, Any]) -> Any:
    """jsonschema's Draft 2020-12 validator of ``schema``, the schema itself checked first."""
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _field_path(parts: Any) -> str:
    return ".".join(str(p) for p in parts) or "(root)"


_NOUNS: Final = {
    "object": "a mapping (indented 'key: value' lines)",
    "array": "a list",
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
}


def _what(value: Any) -> str:
    """What a YAML value is, in words a person writing YAML uses."""
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return f"{'true' if value else 'false'} (a yes/no value)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    return f"the text {value!r}"


def schema_message(error: Any) -> tuple[str, str]:
    """(field path, message in plain words) of one schema error (jsonschema's or ``core.json_schema``'s)."""
    path = list(error.absolute_path)
    validator = error.validator
    if validator == "additionalProperties":
        extras = sorted(set(error.instance) - set(error.schema.get("properties", {})), key=str)
        return _field_path([*path, extras[0]]) if len(extras) == 1 else _field_path(path), (
            "unknown field" if len(extras) == 1 else "unknown fields " + ", ".join(map(repr, extras))
        )
    if validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else "?"
        return _field_path([*path, missing]), "required field is missing"
    field = _field_path(path)
    if validator == "pattern":
        return field, f"{error.instance!r} " + _PATTERN_MESSAGES.get(field, f"must match {error.validator_value}")
    if validator == "type":
        expected = error.validator_value
        noun = " or ".join(_NOUNS.get(t, t) for t in ([expected] if isinstance(expected, str) else expected))
        required = error.schema.get("required")
        if error.instance is None and required:
            return field, f"is empty; it must be {noun} with {', '.join(required)}"
        if error.instance is None:
            return field, f"is empty; it must be {noun}"
        hint = ' (quote it, e.g. "1.0.0")' if field == "metadata.version" else ""
        return field, f"must be {noun}, not {_what(error.instance)}{hint}"
    if validator == "const":
        return field, f"must be {error.validator_value!r}, not {_what(error.instance)}"
    if validator == "minLength" and error.validator_value == 1:
        return field, "must not be empty"
    if validator == "maxLength":
        return field, f"is {len(error.instance)} characters long; the limit is {error.validator_value}"
    if validator == "minItems":
        return field, f"needs at least {error.validator_value} entr{'y' if error.validator_value == 1 else 'ies'}"
    return field, error.message


def is_semver(version: str) -> bool:
    """Whether ``version`` is a strict semantic version (``1.0.0``, ``1.0.0-rc.1+build.5``), as semver parses it."""
    return re.fullmatch(_SEMVER, version, re.ASCII) is not None


def validate_card_data(doc: Any, *, file: str = CARD_FILE) -> list[Finding]:
    """All schema and semver problems of a parsed SkillCard document, sorted by field."""
    if not isinstance(doc, dict):
        return [Finding(file, "(root)", "must be a YAML mapping with apiVersion, kind and metadata")]
    findings: list[Finding] = []
    for err in _validator().iter_errors(doc):
        if err.validator == "additionalProperties":
            extras = sorted(set(err.instance) - set(err.schema.get("properties", {})), key=str)
            findings.extend(Finding(file, _field_path([*err.absolute_path, k]), "unknown field") for k in extras)
        else:
            findings.append(Finding(file, *schema_message(err)))
    version = (doc.get("metadata") or {}).get("version") if isinstance(doc.get("metadata"), dict) else None
    if isinstance(version, str) and version and not is_semver(version):
        message = f"invalid semantic version {version!r} (want MAJOR.MINOR.PATCH, e.g. 1.0.0)"
        findings.append(Finding(file, "metadata.version", message))
    return sorted(findings, key=lambda f: f.field)


@dataclass(frozen=True)
class SkillCard:
    """A validated SkillCard."""

    data: Mapping[str, Any]

    @property
    def metadata(self) -> Mapping[str, Any]:
        return self.data["metadata"]  # type: ignore[no-any-return]

    @property
    def name(self) -> str:
        return str(self.metadata["name"])

    @property
    def namespace(self) -> str:
        return str(self.metadata["namespace"])

    @property
    def version(self) -> str:
        return str(self.metadata["version"])

    @property
    def description(self) -> str:
        return str(self.metadata["description"])

    @property
    def repository(self) -> str:
        """The local image name: ``<namespace>/<name>``."""
        return f"{self.namespace}/{self.name}"

    @property
    def prompt(self) -> str:
        return str((self.data.get("spec") or {}).get("prompt") or "SKILL.md")

    @property
    def provenance(self) -> Mapping[str, str]:
        return self.data.get("provenance") or {}


def _ordered(value: Mapping[str, Any], section: str) -> dict[str, Any]:
    order = _ORDER.get(section, [])
    keys = [k for k in order if k in value] + [k for k in value if k not in order]
    return {k: value[k] for k in keys}


def dump_card(data: Mapping[str, Any]) -> str:
    """Serialise a SkillCard in the Go tool's field order."""
    import yaml

    ordered = _ordered(data, "")
    for section in ("metadata", "provenance", "spec"):
        if isinstance(ordered.get(section), Mapping):
            ordered[section] = _ordered(ordered[section], section)
    return yaml.safe_dump(ordered, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)
