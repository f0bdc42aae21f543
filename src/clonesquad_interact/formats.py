"""Reading request documents and writing answers, in JSON and YAML.

A document is read as JSON, or as YAML when it is not JSON, whatever the caller's
``format`` (which chooses the answer's). YAML (:mod:`.yamldocs`) is imported when
a YAML document arrives or is asked for.
"""

from __future__ import annotations

import datetime
import decimal
import json
import math
from collections.abc import Callable, Mapping, Set
from types import MappingProxyType
from typing import Any

from .errors import BadRequest

__all__ = [
    "CONTENT_TYPES",
    "FORMATS",
    "dump",
    "json_encoder",
    "jsonable",
    "parse_document",
    "parse_json",
]

FORMATS = ("json", "yaml")
CONTENT_TYPES = MappingProxyType(
    {
        "json": "application/json",
        "yaml": "application/yaml",
        "text": "text/plain; charset=utf-8",
    }
)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number that JSON allows")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is too large a number")
    return number


def parse_json(text: str) -> Any:
    """``json.loads``, refusing ``NaN``, ``Infinity`` and numbers too large for a float.

    :raises ValueError: the text is not such JSON.
    :raises RecursionError: the text is nested too deeply.
    """
    return _DECODER.decode(text)


#: The decoder of :func:`parse_json`, made once (``json.loads`` with hooks makes one per call).
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def parse_document(text: str) -> Any:
    """Parse a request body: JSON, or YAML when it is not JSON.

    JSON is YAML, so a document is read the same whatever the ``format`` parameter
    says (which chooses only how the answer is written); JSON is tried first as it
    is the faster and stricter reader of the two.

    :raises BadRequest: with the line and column of the first problem.
    """
    try:
        return parse_json(text)
    except RecursionError:
        raise BadRequest("the body is nested too deeply") from None
    except json.JSONDecodeError as exc:
        as_json = str(exc)
    except ValueError as exc:  # JSON's syntax, holding a number JSON has not
        raise BadRequest(f"the body is not valid JSON: {exc}") from None
    from .yamldocs import NOT_YAML, load_yaml

    try:
        return load_yaml(text)
    except BadRequest as exc:
        problem = exc.message.removeprefix(NOT_YAML)
        if text.lstrip()[:1] not in ("{", "[") or problem == exc.message:
            raise
        # JSON-looking text: JSON's reading of the problem is the one its author needs.
        raise BadRequest(
            f"the body is not valid JSON ({as_json}) nor YAML{problem}", details=exc.details
        ) from None


def jsonable(value: Any) -> Any:
    """Return ``value`` with every part turned into JSON's types.

    Mappings become dicts, tuples and sets lists, :class:`~decimal.Decimal` (as
    DynamoDB returns numbers) int or float, dates and times their ``str()``.
    """
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | Set):
        return [jsonable(v) for v in value]
    return _scalar(value)


def _scalar(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        if value == value.to_integral_value() and value.is_finite():
            return int(value)
        number = float(value)
        return number if math.isfinite(number) else str(value)
    if isinstance(value, datetime.date | datetime.time):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"a value of type {type(value).__name__} cannot be rendered: {value!r}")


def _json_default(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, tuple | Set):
        return list(value)
    return _scalar(value)


def json_encoder(default: Callable[[Any], Any], *, ensure_ascii: bool) -> Callable[[Any], str]:
    """``json.JSONEncoder(default=..., ensure_ascii=..., allow_nan=False).encode``, cheaper.

    ``encode`` builds CPython's C encoder on each call; here it is built once, with
    the same options, and keeps no state between calls: it is given no ``markers``
    to track cycles with, so a cycle ends in ``RecursionError`` rather than
    ``ValueError``. Without the C accelerator, the encoder's own ``encode``.
    """
    encoder = json.JSONEncoder(default=default, ensure_ascii=ensure_ascii, allow_nan=False)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return encoder.encode
    encode_string = (
        json.encoder.encode_basestring_ascii if ensure_ascii else json.encoder.encode_basestring
    )
    chunks = make(None, default, encode_string, None, ": ", ", ", False, False, False)
    join = "".join

    def encode(value: Any) -> str:
        return join(chunks(value, 0))

    return encode


#: Built once: ``json.dumps`` with options builds an encoder on every call.
_encode_json = json_encoder(_json_default, ensure_ascii=False)


def dump(value: Any, fmt: str) -> str:
    """Write ``value`` as a JSON or YAML document."""
    if fmt == "yaml":
        from .yamldocs import dump_yaml

        return dump_yaml(jsonable(value))
    return _encode_json(value)
