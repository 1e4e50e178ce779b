"""A catalog search: the Go API's query parameters, checked, so a bad one is a clear 400 and never a guess."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from skillctl.core.errors import UsageError
from skillctl.core.states import STATES

MAX_PER_PAGE: Final = 100
DEFAULT_PER_PAGE: Final = 20
MAX_QUERY: Final = 200
MAX_TAGS: Final = 20
SORTS: Final = ("name", "relevance")


@dataclass(frozen=True)
class Query:
    """Filters and a page of ``GET /api/v1/skills`` (same names as the Go tool's)."""

    q: str = ""
    status: str = ""
    namespace: str = ""
    compatibility: str = ""
    tags: tuple[str, ...] = ()
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE
    sort: str = "name"

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    @classmethod
    def from_params(cls, params: Mapping[str, str], *, text_sort: str = "name") -> Query:
        """Parse query parameters. ``text_sort``: the order when ``q`` is given and ``sort`` is not: the API keeps
        the Go tool's (by name, for its clients); the web UI asks for ``relevance``, as people expect.

        Raises:
            UsageError: a parameter that is not what it must be (the message names it).
        """
        q = params.get("q", "").strip()
        if len(q) > MAX_QUERY:
            raise UsageError(f"q: longer than {MAX_QUERY} characters")
        status = params.get("status", "").strip()
        if status and status not in STATES:
            raise UsageError(f"status: {status!r} is not a lifecycle state ({', '.join(STATES)})")
        tags = tuple(t.strip() for t in params.get("tags", "").split(",") if t.strip())
        if len(tags) > MAX_TAGS or any(len(t) > 100 for t in tags):
            raise UsageError(f"tags: at most {MAX_TAGS} tags of at most 100 characters each")
        sort = params.get("sort", "").strip() or (text_sort if q else "name")
        if sort not in SORTS:
            raise UsageError(f"sort: {sort!r} is not one of {', '.join(SORTS)}")
        return cls(
            q=q,
            status=status,
            namespace=params.get("namespace", "").strip(),
            compatibility=params.get("compatibility", "").strip(),
            tags=tags,
            page=_integer(params, "page", 1, 1, 1_000_000),
            per_page=_integer(params, "per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE),
            sort=sort,
        )


def _integer(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = params.get(name, "").strip()
    if not text:
        return default
    if not text.isascii() or not text.isdigit():
        raise UsageError(f"{name}: {text[:40]!r} is not a whole number")
    value = int(text)
    if not low <= value <= high:
        raise UsageError(f"{name}: {value} is outside {low}..{high}")
    return value
