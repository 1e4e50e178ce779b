"""skillctl: package, govern and ship AI agent skills as FROM-scratch OCI images.

The library comes first; the ``skillctl`` command is a thin consumer of it::

    from skillctl import pack, validate_skill, Store
    result = pack("examples/hello-world")
    print(result.ref, result.digest)

Names are imported lazily so that ``skillctl --version`` starts fast.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from skillctl._version import __version__

_EXPORTS = {
    "validate_skill": "skillctl.validate",
    "ValidationReport": "skillctl.validate",
    "pack": "skillctl.pack",
    "PackResult": "skillctl.pack",
    "init_skill": "skillctl.scaffold",
    "InitResult": "skillctl.scaffold",
    "Store": "skillctl.store",
    "default_store_path": "skillctl.store",
    "list_images": "skillctl.images",
    "inspect_image": "skillctl.images",
    "tag_image": "skillctl.images",
    "remove_images": "skillctl.images",
    "prune": "skillctl.images",
    "unpack_image": "skillctl.unpack",
    "UnpackLimits": "skillctl.unpack",
    "Reference": "skillctl.refs",
    "parse_reference": "skillctl.refs",
    "SkillCard": "skillctl.skillcard",
    "Finding": "skillctl.findings",
    "SkillctlError": "skillctl.errors",
    "ExitCode": "skillctl.errors",
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
    from skillctl.errors import ExitCode, SkillctlError
    from skillctl.findings import Finding
    from skillctl.images import inspect_image, list_images, prune, remove_images, tag_image
    from skillctl.pack import PackResult, pack
    from skillctl.refs import Reference, parse_reference
    from skillctl.scaffold import InitResult, init_skill
    from skillctl.skillcard import SkillCard
    from skillctl.store import Store, default_store_path
    from skillctl.unpack import UnpackLimits, unpack_image
    from skillctl.validate import ValidationReport, validate_skill


class _Package(types.ModuleType):
    """The import system binds a submodule on its package once loaded; for ``skillctl.pack`` that
    would replace the exported ``pack`` function with the module, depending on import order."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _EXPORTS.get(name) == value.__name__:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'skillctl' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
