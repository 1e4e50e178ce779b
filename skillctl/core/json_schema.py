"""A JSON Schema (2020-12) validator for the few keywords skillctl's own schemas use, with jsonschema's errors.

``skillctl validate`` and ``pack`` check every ``skill.yaml`` against a schema; importing jsonschema (referencing,
attrs, rpds, its format checkers) and checking the schema against the metaschema cost more than everything else
those commands do. The schemas skillctl ships use only ``type``, ``const``, ``enum``, ``required``,
``properties``, ``additionalProperties``, ``items``, ``minLength``, ``maxLength``, ``pattern``, ``minItems`` and
``maxItems``, so this module checks those itself, in the order and with the messages, paths and attributes
jsonschema gives (``tests/unit/test_skillcard_schema.py`` compares the two on hundreds of documents). A schema
with any other keyword is refused with ``Unsupported``: the caller then uses jsonschema.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

# Keywords that only describe: nothing to check.
_ANNOTATIONS: Final = frozenset({"$schema", "$id", "$comment", "title", "description", "examples", "default"})
_CHECKED: Final = frozenset(
    {
        "type",
        "const",
        "enum",
        "required",
        "properties",
        "additionalProperties",
        "items",
        "minLength",
        "maxLength",
        "pattern",
        "minItems",
        "maxItems",
    }
)


class Unsupported(ValueError):
    """The schema uses a keyword this validator does not check."""


@dataclass
class SchemaError:
    """One problem, with the attributes of ``jsonschema.ValidationError`` that callers read."""

    message: str
    validator: str
    validator_value: Any
    instance: Any
    schema: Mapping[str, Any]
    absolute_path: tuple[Any, ...] = field(default=())


def _is_type(instance: Any, kind: str) -> bool:
    if kind == "object":
        return isinstance(instance, dict)
    if kind == "array":
        return isinstance(instance, list)
    if kind == "string":
        return isinstance(instance, str)
    if kind == "boolean":
        return isinstance(instance, bool)
    if kind == "null":
        return instance is None
    if isinstance(instance, bool):
        return False
    if kind == "integer":
        return isinstance(instance, int) or (isinstance(instance, float) and instance.is_integer())
    if kind == "number":
        return isinstance(instance, int | float)
    raise Unsupported(f"unknown type {kind!r}")


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1, and containers compare item by item."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def check_supported(schema: Any) -> None:
    """Raise ``Unsupported`` unless every keyword of ``schema`` and its subschemas is one this module checks."""
    if not isinstance(schema, dict):
        raise Unsupported("a schema that is not an object")
    for key, value in schema.items():
        if key in _ANNOTATIONS:
            continue
        if key not in _CHECKED:
            raise Unsupported(f"keyword {key!r}")
        if key == "properties":
            for sub in value.values():
                check_supported(sub)
        elif key == "items" and value is False:
            raise Unsupported("items: false")
        elif key in ("items", "additionalProperties") and not isinstance(value, bool):
            check_supported(value)
        elif key == "pattern":
            re.compile(value)


class Validator:
    """Validates instances against one schema; build it once, call ``iter_errors`` for each document."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        check_supported(schema)
        self.schema = schema

    def iter_errors(self, instance: Any) -> Iterator[SchemaError]:
        yield from self._errors(instance, self.schema, ())

    def _errors(self, instance: Any, schema: Mapping[str, Any], path: tuple[Any, ...]) -> Iterator[SchemaError]:
        def error(message: str) -> SchemaError:
            return SchemaError(message, key, value, instance, schema, path)

        for key, value in schema.items():
            if key == "type":
                types = [value] if isinstance(value, str) else value
                if not any(_is_type(instance, t) for t in types):
                    yield error(f"{instance!r} is not of type {', '.join(repr(t) for t in types)}")
            elif key == "const":
                if not _equal(instance, value):
                    yield error(f"{value!r} was expected")
            elif key == "enum":
                if not any(_equal(instance, each) for each in value):
                    yield error(f"{instance!r} is not one of {value!r}")
            elif isinstance(instance, str) and key in ("minLength", "maxLength", "pattern"):
                if key == "minLength" and len(instance) < value:
                    yield error(f"{instance!r} {'should be non-empty' if value == 1 else 'is too short'}")
                elif key == "maxLength" and len(instance) > value:
                    yield error(f"{instance!r} {'is expected to be empty' if value == 0 else 'is too long'}")
                elif key == "pattern" and not re.search(value, instance):
                    yield error(f"{instance!r} does not match {value!r}")
            elif isinstance(instance, dict) and key in ("required", "properties", "additionalProperties"):
                if key == "required":
                    for name in value:
                        if name not in instance:
                            yield error(f"{name!r} is a required property")
                elif key == "properties":
                    for name, sub in value.items():
                        if name in instance:
                            yield from self._errors(instance[name], sub, (*path, name))
                else:
                    known = schema.get("properties", {})
                    extras = [name for name in instance if name not in known]
                    if isinstance(value, dict):
                        for name in extras:
                            yield from self._errors(instance[name], value, (*path, name))
                    elif value is False and extras:
                        listed = sorted(extras, key=str)
                        yield error(
                            f"Additional properties are not allowed ({', '.join(repr(e) for e in listed)} "
                            f"{'was' if len(listed) == 1 else 'were'} unexpected)"
                        )
            elif isinstance(instance, list) and key in ("items", "minItems", "maxItems"):
                if key == "items" and value is not True:
                    for index, item in enumerate(instance):
                        yield from self._errors(item, value, (*path, index))
                elif key == "minItems" and len(instance) < value:
                    yield error(f"{instance!r} {'should be non-empty' if value == 1 else 'is too short'}")
                elif key == "maxItems" and len(instance) > value:
                    yield error(f"{instance!r} {'is expected to be empty' if value == 0 else 'is too long'}")
