"""The compiled check of valid input agrees with jsonschema, which stays the reference."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from clonesquad_interact.compiled import fast_validator

from helpers import build

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "tests:compiled",
    "type": "object",
    "properties": {
        "params": {
            "type": "object",
            "properties": {
                "count": {"type": "integer", "minimum": 0, "maximum": 10},
                "ratio": {"type": "number", "exclusiveMaximum": 1},
                "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 5},
                "flag": {"type": "boolean"},
                "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "uniqueItems": True},
                "either": {"anyOf": [{"type": "null"}, {"const": 3}]},
            },
            "required": ["count"],
            "additionalProperties": False,
        },
        "body": {"type": "string"},
    },
}

INSTANCES: list[Any] = [
    {"params": {"count": 3}},
    {"params": {"count": 3.0}},  # an integer, for JSON Schema
    {"params": {"count": True}},  # a boolean is not an integer
    {"params": {"count": 11}},
    {"params": {"count": -1}},
    {"params": {"count": 2**70}},
    {"params": {}},
    {"params": {"count": 1, "ratio": 1}},
    {"params": {"count": 1, "ratio": 0.5}},
    {"params": {"count": 1, "ratio": False}},
    {"params": {"count": 1, "name": "abc"}},
    {"params": {"count": 1, "name": "abcdef"}},
    {"params": {"count": 1, "name": "ABC"}},
    {"params": {"count": 1, "name": "caf\u00e9"}},
    {"params": {"count": 1, "flag": 1}},
    {"params": {"count": 1, "flag": False}},
    {"params": {"count": 1, "tags": ["a", "b"]}},
    {"params": {"count": 1, "tags": ["a", "a"]}},
    {"params": {"count": 1, "tags": ["c"]}},
    {"params": {"count": 1, "either": None}},
    {"params": {"count": 1, "either": 3.0}},
    {"params": {"count": 1, "either": "3"}},
    {"params": {"count": 1, "other": 1}},
    {"params": {"count": 1}, "body": 3},
    {"params": {"count": 1}, "body": "text"},
    {"params": "not an object"},
    [],
]


@pytest.mark.parametrize("instance", INSTANCES)
def test_what_the_compiled_check_accepts_jsonschema_accepts(instance: Any) -> None:
    accepts = fast_validator(SCHEMA)
    assert accepts is not None
    if accepts(instance):
        assert jsonschema.Draft202012Validator(SCHEMA).is_valid(instance)


def test_the_compiled_check_accepts_valid_input() -> None:
    accepts = fast_validator(SCHEMA)
    assert accepts is not None
    valid = [i for i in INSTANCES if jsonschema.Draft202012Validator(SCHEMA).is_valid(i)]
    assert len(valid) > 5
    assert [accepts(instance) for instance in valid] == [True] * len(valid)


@pytest.mark.parametrize(
    "schema",
    [
        {"$defs": {"n": {"type": "integer"}}, "properties": {"x": {"$ref": "#/$defs/n"}}},
        {"properties": {"when": {"type": "string", "format": "date-time"}}},
        {"unevaluatedProperties": False, "allOf": [{"properties": {"x": True}}]},
        {"prefixItems": [{"type": "string"}]},
        {"if": {"type": "string"}, "then": {"minLength": 1}},
    ],
)
def test_schemas_whose_meaning_may_differ_are_left_to_jsonschema(schema: dict[str, Any]) -> None:
    assert fast_validator(schema) is None


def test_built_in_schemas_compiled_agree_with_jsonschema() -> None:
    dispatcher = build(block=())
    compiled = 0
    for operation in dispatcher.operations:
        schema = dispatcher.schema(operation)
        accepts = fast_validator(schema)
        if accepts is None:  # keywords left to jsonschema alone
            continue
        compiled += 1
        instances: list[dict[str, Any]] = [
            {"params": {}},
            {"params": {"format": "yaml"}},
            {"params": {"x": 1}},
        ]
        for instance in instances:
            if accepts(instance):
                assert jsonschema.Draft202012Validator(schema).is_valid(instance), operation.name
    assert compiled > len(dispatcher.operations) // 2  # most take the compiled check


def test_unevaluated_properties_beside_properties_alone_is_checked_as_additional() -> None:
    schema = {"properties": {"x": {"type": "integer"}}, "unevaluatedProperties": False}
    accepts = fast_validator(schema)
    assert accepts is not None
    assert accepts({"x": 1})
    assert not accepts({"x": 1, "y": 2})
    assert not jsonschema.Draft202012Validator(schema).is_valid({"x": 1, "y": 2})
