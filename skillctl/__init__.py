"""skillctl: package, govern and ship AI agent skills as FROM-scratch OCI images.

The library comes first; the ``skillctl`` command is a thin consumer of it::

    from skillctl import pack, validate_skill, Store
    result = pack("examples/hello-world")
    print(result.ref, result.digest)

Names are imported lazily so that ``skillctl --version`` starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from skillctl._version import __version__

_EXPORTS = {
    "validate_skill": "skillctl.card.validate",
    "ValidationReport": "skillctl.card.validate",
    "pack": "skillctl.image.pack",
    "PackResult": "skillctl.image.pack",
    "init_skill": "skillctl.card.scaffold",
    "InitResult": "skillctl.card.scaffold",
    "Store": "skillctl.store.layout",
    "default_store_path": "skillctl.store.layout",
    "list_images": "skillctl.store.images",
    "inspect_image": "skillctl.store.images",
    "tag_image": "skillctl.store.images",
    "remove_images": "skillctl.store.images",
    "prune": "skillctl.store.images",
    "unpack_image": "skillctl.image.unpack",
    "UnpackLimits": "skillctl.image.unpack",
    "Reference": "skillctl.core.refs",
    "parse_reference": "skillctl.core.refs",
    "SkillCard": "skillctl.card.skillcard",
    "Finding": "skillctl.core.findings",
    "SkillctlError": "skillctl.core.errors",
    "ExitCode": "skillctl.core.errors",
}

__all__ = [
    "ExitCode",
    "Finding",
    "InitResult",
    "PackResult",
    "Reference",
    "SkillCard",
    "SkillctlError",
    "Store",
    "UnpackLimits",
    "ValidationReport",
    "__version__",
    "default_store_path",
    "init_skill",
    "inspect_image",
    "list_images",
    "pack",
    "parse_reference",
    "prune",
    "remove_images",
    "tag_image",
    "unpack_image",
    "validate_skill",
]

if TYPE_CHECKING:
    from skillctl.card.scaffold import InitResult, init_skill
    from skillctl.card.skillcard import SkillCard
    from skillctl.card.validate import ValidationReport, validate_skill
    from skillctl.core.errors import ExitCode, SkillctlError
    from skillctl.core.findings import Finding
    from skillctl.core.refs import Reference, parse_reference
    from skillctl.image.pack import PackResult, pack
    from skillctl.image.unpack import UnpackLimits, unpack_image
    from skillctl.store.images import inspect_image, list_images, prune, remove_images, tag_image
    from skillctl.store.layout import Store, default_store_path


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'skillctl' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
