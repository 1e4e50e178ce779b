"""Small helpers shared by the benchmark modules: a result row, timing and logging."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Row:
    what: str
    skillctl: float
    baseline: float | None
    baseline_what: str
    goal: str
    passed: bool
    unit: str = "s"
    info: bool = False  # shown for information only: no goal, never MISSED

    @property
    def ratio(self) -> float | None:
        return self.skillctl / self.baseline if self.baseline else None

    @property
    def result(self) -> str:
        if self.info:
            return "info"
        return "pass" if self.passed else "**MISSED**"


def fmt_time(seconds: float, unit: str) -> str:
    if unit == "MB":  # not a time: a size in MB, as the memory rows report it
        return f"{seconds:.0f} MB"
    return f"{seconds * 1000:.1f} ms" if unit == "ms" else f"{seconds:.2f} s"


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def time_call(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run_quiet(argv: list[str] | str, **kwargs: object) -> None:
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, **kwargs)  # type: ignore[call-overload]
