"""Choosing a backend: ``--backend``, ``$SKILLCTL_BACKEND``, or the first installed tool.

Backends are found through the ``skillctl.backends`` entry-point group (the
built-ins register there too), so a third party can add one by packaging it.
The built-ins are also known here by name: loading one does not scan the
installed packages' metadata (importing ``importlib.metadata`` and reading
every distribution costs a registry command 30-50 ms); a name that is not a
built-in is looked up in the entry points.
When the chosen backend lacks a capability, another installed one that has it
is used, and the caller is told which.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from skillctl.core.errors import ToolNotFoundError, UnsupportedOperation, UsageError
from skillctl.core.logs import get_logger

if TYPE_CHECKING:
    from skillctl.backends.base import Backend, Capability

log = get_logger(__name__)

GROUP: Final = "skillctl.backends"
AUTO_ORDER: Final = ("skopeo", "crane", "podman", "buildah")
BUILTIN: Final = {
    "skopeo": ("skillctl.backends.skopeo", "SkopeoBackend"),
    "crane": ("skillctl.backends.crane", "CraneBackend"),
    "podman": ("skillctl.backends.podman", "PodmanBackend"),
    "buildah": ("skillctl.backends.buildah", "BuildahBackend"),
}
"""The built-in backends, as registered in the entry-point group (a test checks they agree)."""


@dataclass(frozen=True)
class Selection:
    backend: Backend
    reason: str
    named: bool = False
    """Chosen by the user (``--backend``, ``$SKILLCTL_BACKEND``), not by what is installed."""

    @property
    def name(self) -> str:
        return self.backend.name


@functools.cache
def _entry_points() -> dict[str, object]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=GROUP)}


def backend_names() -> list[str]:
    names = [*BUILTIN, *(n for n in _entry_points() if n not in BUILTIN)]
    return [n for n in AUTO_ORDER if n in names] + sorted(n for n in names if n not in AUTO_ORDER)


@functools.cache
def load(name: str) -> Backend:
    # The client registers its security preflight with the backends (see backends.base.add_registry_check).
    import skillctl.registry.client  # noqa: F401

    if name in BUILTIN:
        module, attr = BUILTIN[name]
        cls = getattr(importlib.import_module(module), attr)
    else:
        ep = _entry_points().get(name)
        if ep is None:
            raise UsageError(f"unknown backend {name!r}", hint=f"choose one of: {', '.join(backend_names())}")
        cls = ep.load()  # type: ignore[attr-defined]
    return cls()  # type: ignore[no-any-return]


def select(name: str | None = None, *, env: Mapping[str, str] | None = None) -> Selection:
    """The backend to use, and why (shown with -v).

    Raises:
        UsageError: an unknown backend name.
        ToolNotFoundError: the named backend's tool, or every tool, is missing.
    """
    import os

    env = os.environ if env is None else env
    if name:
        source = "--backend"
    elif env.get("SKILLCTL_BACKEND"):
        name, source = env["SKILLCTL_BACKEND"], "SKILLCTL_BACKEND"
    else:
        for candidate in AUTO_ORDER:
            if load(candidate).available():
                reason = f"{candidate}: the first installed of {', '.join(AUTO_ORDER)}"
                log.info("backend %s", reason)
                return Selection(load(candidate), reason)
        raise ToolNotFoundError(
            f"none of {', '.join(AUTO_ORDER)} is installed",
            hint="install skopeo (apt-get install skopeo); skopeo and crane keep digests exactly",
        )
    backend = load(name)
    if not backend.available():
        from skillctl.core.proc import INSTALL_HINTS

        how = INSTALL_HINTS.get(backend.tool)
        raise ToolNotFoundError(
            f"backend {name} (from {source}) needs {backend.tool}, which is not installed",
            hint=f"install {backend.tool}{f' ({how})' if how else ''}, or choose another backend: "
            f"{', '.join(backend_names())}",
        )
    log.info("backend %s: chosen by %s", name, source)
    return Selection(backend, f"{name}: chosen by {source}", named=True)


def capable(selection: Selection, capability: Capability, *, operation: str) -> Selection:
    """``selection`` if it can do ``capability``, else another installed backend that can."""
    if capability in selection.backend.capabilities:
        return selection
    for candidate in backend_names():
        other = load(candidate)
        if capability in other.capabilities and other.available():
            reason = f"{other.name}: {selection.name} cannot {operation}"
            log.info("using %s", reason)
            return Selection(other, reason, named=selection.named)
    raise UnsupportedOperation(
        f"the {selection.name} backend cannot {operation}, and no installed backend can",
        hint="install skopeo or crane",
    )
