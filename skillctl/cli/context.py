"""What every command receives from the group: the global options, as one object."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Settings:
    """Built once by the group callback and handed to every command."""

    store_path: Path | None
    verbose: int
    debug: bool

    def store(self) -> Any:
        from skillctl.store.layout import Store

        return Store(self.store_path)
