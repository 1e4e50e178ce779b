"""Validation findings: every problem with its file and field, reported at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    file: str
    field: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        where = f"{self.file}: {self.field}" if self.field else self.file
        return f"{where}: {self.message}"

    def to_json(self) -> dict[str, str]:
        return {"file": self.file, "field": self.field, "message": self.message, "severity": self.severity}
