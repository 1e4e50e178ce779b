"""Removing one tag from a registry repository without taking other tags along.

The OCI distribution API has no "untag" everywhere: CNCF distribution deletes
manifests by digest only (``DELETE …/manifests/<tag>`` answers 400), which
removes every tag on that digest. So a tag is removed by a tag delete where the
backend and registry support one, else by deleting its manifest when no other
tag shares it; otherwise it is kept and the reason returned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from skillctl.backends.base import Capability, RegistryOptions
from skillctl.core.errors import DeadlineExceeded, SecurityRefusal, SkillctlError
from skillctl.core.logs import get_logger
from skillctl.core.refs import Reference
from skillctl.registry.selection import Selection, capable

log = get_logger(__name__)

DELETES_DISABLED = "the registry has deletes disabled (distribution: storage.delete.enabled)"


def remove_tag(
    ref: Reference,
    digest: str,
    *,
    candidates: Sequence[Selection],
    sharing: Callable[[], list[str]],
    opts: RegistryOptions,
) -> str | None:
    """Remove ``ref`` (``repo:tag`` pointing at ``digest``); return why it was kept, None when removed.

    ``candidates`` are the backends already chosen for the repository, the writer first (the first that
    can delete single tags is tried); ``sharing()`` names the other tags on ``digest``, read only when needed.
    """
    assert ref.tag and candidates, ref
    tag_deleter = next((c for c in candidates if Capability.DELETE_TAG in c.backend.capabilities), None)
    if tag_deleter is not None:
        try:
            tag_deleter.backend.delete(ref, opts)
            return None
        except (DeadlineExceeded, SecurityRefusal):
            raise
        except SkillctlError as exc:
            log.info("tag deletion refused (%s); trying deletion by digest", exc)
    others = sharing()
    if others:
        return (
            f"kept tag {ref.tag}: this registry deletes manifests, not tags, and {digest} "
            f"is also tagged {', '.join(others)}"
        )
    deleter = capable(candidates[0], Capability.DELETE, operation="delete manifests")
    try:
        deleter.backend.delete(Reference(ref.repository, None, digest), opts)
    except (DeadlineExceeded, SecurityRefusal):
        raise
    except SkillctlError as exc:
        if "UNSUPPORTED" in str(exc) or "405" in str(exc):
            return f"kept tag {ref.tag}: {DELETES_DISABLED}"
        return f"kept tag {ref.tag}: deleting it failed ({exc})"
    return None
