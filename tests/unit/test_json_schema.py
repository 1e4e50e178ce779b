"""skillctl's own schema validator (``skillctl.core.json_schema``) gives exactly jsonschema's errors.

``validate`` and ``pack`` check skill.yaml with it to start fast; jsonschema stays the reference. Every shipped
schema it accepts is compared with jsonschema on hundreds of broken documents: the same errors, in the same
order, with the same paths, messages and values, and so the same findings for the user.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from skillctl.card import skillcard
from skillctl.card.skillcard import load_schema, validate_card_data
from skillctl.core import json_schema

FULL_CARD: dict[str, Any] = {
    "apiVersion": "skillimage.io/v1alpha1",
    "kind": "SkillCard",
    "metadata": {
        "name": "hello-world",
        "namespace": "examples/team",
        "version": "1.0.0",
        "description": "Greets.",
        "display-name": "Hello",
        "license": "MIT",
        "compatibility": "any",
        "tags": ["a", "b"],
        "authors": [{"name": "Ann", "email": "ann@example.com"}],
        "allowed-tools": "Read Write",
    },
    "provenance": {"source": "git", "commit": "abc", "path": "x"},
    "spec": {
        "prompt": "SKILL.md",
        "examples": [{"input": "hi", "output": "hello"}],
        "dependencies": [{"name": "other", "version": "^1.0.0"}],
    },
}
VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    1.0,
    2.5,
    "",
    "x",
    "Has Spaces",
    "bad--name",
    "-lead",
    "a" * 65,
    "a" * 129,
    "ok\n",
    [],
    ["x"],
    [1, None],
    [{}],
    [{"name": 1}],
    {},
    {"name": "n"},
    {"unknown": 1},
]


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key and list index in ``doc``, as a path from the root."""
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else []
    for key, value in items:
        yield (*prefix, key)
        yield from paths(value, (*prefix, key))


def mutate(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """A copy of ``doc`` with the value at ``path`` replaced, or removed when ``value`` is ``...``."""
    out = copy.deepcopy(doc)
    parent = out
    for key in path[:-1]:
        parent = parent[key]
    if value is ...:
        del parent[path[-1]]
    else:
        parent[path[-1]] = copy.deepcopy(value)
    return out


def documents() -> Iterator[dict[str, Any]]:
    """The full card broken one place at a time (each value, removed, an extra key), then several at once."""
    every = list(paths(FULL_CARD))
    for path in every:
        for value in [..., *VALUES]:
            yield mutate(FULL_CARD, path, value)
    for path in [(), *[p for p in every if isinstance(_at(FULL_CARD, p), dict)]]:
        extra = copy.deepcopy(FULL_CARD)
        target = _at(extra, path)
        target["zzz-extra"] = 1
        target["aaa-extra"] = None
        yield extra
    rng = random.Random(15)
    for _ in range(300):
        doc = FULL_CARD
        for _ in range(rng.randint(2, 5)):
            live = list(paths(doc))
            if not live:
                break
            doc = mutate(doc, rng.choice(live), rng.choice([..., *VALUES]))
        yield doc


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def details(errors: Any) -> list[tuple[Any, ...]]:
    return [
        (e.validator, e.validator_value, list(e.absolute_path), e.message, repr(e.instance), e.schema) for e in errors
    ]


SUPPORTED = ["skillcard-v1.json"]


def test_the_skillcard_schema_takes_the_fast_validator():
    assert isinstance(skillcard._validator(), json_schema.Validator)


@pytest.mark.parametrize("name", SUPPORTED)
def test_every_error_is_jsonschemas(name):
    schema = load_schema(name)
    ours, reference = json_schema.Validator(schema), Draft202012Validator(schema)
    compared = failing = 0
    for doc in documents():
        expected = details(reference.iter_errors(doc))
        assert details(ours.iter_errors(doc)) == expected, doc
        compared += 1
        failing += bool(expected)
    assert compared > 500 and failing > 450  # the documents really are broken, in many ways


def test_the_findings_are_the_same(monkeypatch):
    docs = list(documents())
    ours = [validate_card_data(doc) for doc in docs]
    monkeypatch.setattr(skillcard, "_validator", lambda: skillcard.jsonschema_validator(load_schema()))
    assert [validate_card_data(doc) for doc in docs] == ours


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "anyOf": [{"required": ["a"]}]},
        {"$ref": "#/$defs/x", "$defs": {"x": {}}},
        {"properties": {"a": {"format": "email"}}},
        {"items": False},
        {"patternProperties": {"^x": {}}},
    ],
)
def test_a_keyword_it_does_not_check_is_refused(schema):
    with pytest.raises(json_schema.Unsupported):
        json_schema.Validator(schema)


def test_an_unsupported_schema_falls_back_to_jsonschema(monkeypatch):
    schema = {"type": "object", "anyOf": [{"required": ["apiVersion"]}, {"required": ["kind"]}]}
    monkeypatch.setattr(skillcard, "load_schema", lambda name=None: schema)
    skillcard._validator.cache_clear()
    try:
        assert isinstance(skillcard._validator(), Draft202012Validator)
        assert validate_card_data({"metadata": {}})  # anyOf failed: jsonschema did the checking
    finally:
        skillcard._validator.cache_clear()
