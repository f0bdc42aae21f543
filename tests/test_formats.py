"""JSON writing: the encoders built once write what ``json`` writes with the same options."""

from __future__ import annotations

import datetime
import decimal
import json
from types import MappingProxyType
from typing import Any

import pytest

from clonesquad_interact.formats import dump, json_encoder

DOCUMENTS: list[Any] = [
    {"fleet": "main", "desired": 4, "ratio": 0.25, "on": True, "off": None},
    {"nested": {"list": [1, 2.5, None, "x"], "text": 'caf\u00e9 \u2603 "q" \\ \n'}},
    ["a", 1, {"b": []}],
    "plain text",
    12,
    {1: "int key", 2.5: "float key", None: "null key"},
]


@pytest.mark.parametrize("ensure_ascii", [True, False])
@pytest.mark.parametrize("document", DOCUMENTS)
def test_the_encoder_writes_what_json_writes(document: Any, ensure_ascii: bool) -> None:
    encode = json_encoder(repr, ensure_ascii=ensure_ascii)
    assert encode(document) == json.dumps(
        document, default=repr, ensure_ascii=ensure_ascii, allow_nan=False
    )


def test_dump_writes_what_the_answers_hold() -> None:
    document = {
        "frozen": MappingProxyType({"k": (1, 2)}),
        "set": frozenset({"only"}),
        "amount": decimal.Decimal("12.50"),
        "count": decimal.Decimal("3"),
        "day": datetime.date(2026, 11, 25),
    }
    assert json.loads(dump(document, "json")) == {
        "frozen": {"k": [1, 2]},
        "set": ["only"],
        "amount": 12.5,
        "count": 3,
        "day": "2026-11-25",
    }
    assert dump({"caf\u00e9": 1}, "json") == '{"caf\u00e9": 1}'  # not escaped


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_floats_json_cannot_hold_are_refused(value: float) -> None:
    with pytest.raises(ValueError, match="Out of range float"):
        dump({"value": value}, "json")


def test_a_decimal_json_cannot_hold_is_written_as_text() -> None:
    assert dump({"value": decimal.Decimal("NaN")}, "json") == '{"value": "NaN"}'


def test_an_object_with_no_json_form_is_refused() -> None:
    with pytest.raises(TypeError, match="object"):
        dump({"value": object()}, "json")


def test_a_cycle_is_refused() -> None:
    cycle: list[Any] = []
    cycle.append(cycle)
    with pytest.raises((ValueError, RecursionError)):
        dump(cycle, "json")


def test_without_the_c_accelerator_the_encoder_is_jsons_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(json.encoder, "c_make_encoder", None)
    encode = json_encoder(repr, ensure_ascii=False)
    assert encode({"a": "\u00e9", "b": object}) == '{"a": "\u00e9", "b": "<class \'object\'>"}'
    cycle: list[Any] = []
    cycle.append(cycle)
    with pytest.raises(ValueError, match="Circular"):
        encode(cycle)
