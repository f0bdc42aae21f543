"""Reading request documents and writing answers, in JSON and YAML.

A document is read as JSON, or as YAML when it is not JSON, whatever the caller's
``format`` (which chooses the answer's). YAML (:mod:`.yamldocs`) is imported when
a YAML document arrives or is asked for.

Both are bounded by the same limits, checked before a value is built:
:data:`MAX_DOCUMENT_BYTES` (a 413), :data:`MAX_NODES` values and :data:`MAX_DEPTH`
levels (a 400 saying where the limit was passed). A value is a scalar, a list or a
mapping, a mapping's keys included, so that a document counts the same in JSON
(:func:`parse_bounded_json`) as in YAML (:func:`.yamldocs.check_bounds`).
"""

from __future__ import annotations

import datetime
import decimal
import json
import math
import re
from collections.abc import Callable, Mapping, Set
from types import MappingProxyType
from typing import Any

from .errors import BadRequest, PayloadTooLarge

__all__ = [
    "CONTENT_TYPES",
    "FORMATS",
    "MAX_DEPTH",
    "MAX_DOCUMENT_BYTES",
    "MAX_NODES",
    "check_size",
    "dump",
    "json_encoder",
    "jsonable",
    "parse_bounded_json",
    "parse_document",
    "parse_json",
    "too_deep",
    "too_many_values",
]

FORMATS = ("json", "yaml")
CONTENT_TYPES = MappingProxyType(
    {
        "json": "application/json",
        "yaml": "application/yaml",
        "text": "text/plain; charset=utf-8",
    }
)

#: The largest document read, in UTF-8 bytes (Lambda's synchronous payload limit).
MAX_DOCUMENT_BYTES = 6 * 1024 * 1024
#: The most values a document may hold (a document writes at most 100 keys).
MAX_NODES = 10_000
#: The deepest nesting of lists and mappings in a document.
MAX_DEPTH = 32


def check_size(text: str, subject: str = "the body") -> None:
    """Refuse a document larger than :data:`MAX_DOCUMENT_BYTES` in UTF-8.

    :raises PayloadTooLarge: it is larger.
    """
    # UTF-8 takes 1 to 4 bytes a character: encode only when the length cannot tell.
    size = len(text)
    if size > MAX_DOCUMENT_BYTES or (
        size * 4 > MAX_DOCUMENT_BYTES and len(text.encode("utf-8", "replace")) > MAX_DOCUMENT_BYTES
    ):
        raise PayloadTooLarge(
            f"{subject} is larger than {MAX_DOCUMENT_BYTES} bytes, the largest document read: "
            "send it as several documents"
        )


#: What a body over :data:`MAX_NODES` should be instead.
_SMALLER = "a document writes at most 100 keys; send a smaller one"


def too_many_values(where: str, subject: str = "the body", advice: str = _SMALLER) -> BadRequest:
    """The error of a document holding more than :data:`MAX_NODES` values.

    :param where: `` at line L, column C`` of the first value past the limit, or ``""``.
    """
    return BadRequest(f"{subject} holds more than {MAX_NODES} values{where}: {advice}")


def too_deep(where: str, subject: str = "the body") -> BadRequest:
    """The error of a document nested more than :data:`MAX_DEPTH` levels deep."""
    return BadRequest(f"{subject} is nested too deeply (more than {MAX_DEPTH} levels{where})")


#: Shorter JSON cannot hold more than :data:`MAX_NODES` values (``n`` values take at
#: least ``2n - 1`` characters: one each, and a separator between two).
_FEW_VALUES = 2 * MAX_NODES
#: Shorter JSON cannot be nested more than :data:`MAX_DEPTH` deep (a level takes two brackets).
_SHALLOW = 2 * (MAX_DEPTH + 1)
#: JSON with at most this many commas and opening brackets (so at most ``2 * _BUILT + 1``
#: values) is parsed before its values are counted; with more, it is counted first.
_BUILT = 2 * MAX_NODES
_OPENING = ("[", "{")
_SEPARATING = ("[", "{", ",")
#: From this length, commas and brackets are found with ``str.find`` rather than counted.
_LARGE = 64 * 1024
#: One JSON token after optional whitespace: a string, an opening bracket, a closing
#: bracket, a separator, or another scalar (a number, ``true``, ``false``, ``null``,
#: and the constants Python's reader knows, refused later by :func:`parse_json`).
_TOKEN = re.compile(
    r'[ \t\n\r]*(?:(?P<value>"[^"\\]*(?:\\.[^"\\]*)*"'
    r"|-?(?:[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|Infinity)|true|false|null|NaN)"
    r"|(?P<open>[\[{])|(?P<close>[\]}])|(?P<separator>[,:]))"
)


def parse_bounded_json(text: str, subject: str = "the body", advice: str = _SMALLER) -> Any:
    """:func:`parse_json`, refusing a document over the limits.

    Characters decide almost every document before it is parsed: a value but the
    first follows a comma, a colon or an opening bracket, and an object has at most
    one colon more than commas, so JSON holds at most ``1 + 2 * (commas + opening
    brackets)`` values, and is nested at most as deep as it has opening brackets
    (those inside strings counted too). A document with too many of them to be built
    cheaply is read token by token first, which stops at the first value past a
    limit; any other that they cannot clear is measured once parsed (it holds at
    most ``2 * _BUILT + 1`` values).

    :param subject: what the message calls the document.
    :param advice: what the message of too many values advises.
    :raises ValueError: the text is not JSON (as :func:`parse_json`).
    :raises PayloadTooLarge: larger than :data:`MAX_DOCUMENT_BYTES`.
    :raises BadRequest: more than :data:`MAX_NODES` values, or nested deeper than
        :data:`MAX_DEPTH`, saying where.
    """
    size = len(text)
    if size < _SHALLOW:
        return _DECODER.decode(text)
    check_size(text, subject)
    opening = _occurrences(text, _OPENING, MAX_DEPTH + 1)
    if size < _FEW_VALUES:
        separated = 0
    elif size < _LARGE:
        separated = text.count("[") + text.count("{") + text.count(",")
    else:
        separated = _occurrences(text, _SEPARATING, _BUILT + 1)
    if separated > _BUILT:
        _refuse(text, subject, advice)  # raises if the text is JSON over a limit
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        _refuse(text, subject, advice)
        raise too_deep("", subject) from None
    if (opening > MAX_DEPTH or separated >= MAX_NODES // 2) and _over_limits(value):
        _refuse(text, subject, advice)
        raise too_many_values("", subject, advice)
    return value


def _occurrences(text: str, needles: tuple[str, ...], cap: int) -> int:
    """How many times ``needles`` occur in ``text``, up to ``cap``: ``str.find``
    skips to each at ``memchr``'s speed (a large document holds few of them)."""
    found = 0
    find = text.find
    for needle in needles:
        index = find(needle)
        while index >= 0 and found < cap:
            found += 1
            index = find(needle, index + 1)
    return found


def _over_limits(value: Any) -> bool:
    """Whether a parsed value holds more than :data:`MAX_NODES` values or has lists
    and objects nested more than :data:`MAX_DEPTH` deep."""
    nodes = 1
    level = [value] if type(value) is list or type(value) is dict else []
    for _ in range(MAX_DEPTH):
        nodes += sum(2 * len(c) if type(c) is dict else len(c) for c in level)
        if nodes > MAX_NODES:
            return True
        level = [
            item
            for container in level
            for item in (container.values() if type(container) is dict else container)
            if type(item) is list or type(item) is dict
        ]
        if not level:
            return False
    return True


def _position(text: str, index: int) -> str:
    line = text.count("\n", 0, index) + 1
    column = index - text.rfind("\n", 0, index)
    return f" at line {line}, column {column}"


def _refuse(text: str, subject: str, advice: str) -> None:
    """Raise the error of the first value of ``text`` past a limit, read token by token;
    return if there is none, or at the first text that is not JSON."""
    match = _TOKEN.match
    index = nodes = depth = 0
    after_value = False
    while (token := match(text, index)) is not None:
        index = token.end()
        kind = token.lastgroup or ""
        if kind == "separator" or kind == "close":
            if kind == "close":
                depth -= 1
            elif not after_value:
                return
            after_value = kind == "close"
            continue
        if after_value:  # two values with no separator between them: not JSON
            return
        nodes += 1
        if nodes > MAX_NODES:
            raise too_many_values(_position(text, token.start(kind)), subject, advice)
        if kind == "open":
            depth += 1
            if depth > MAX_DEPTH:
                raise too_deep(_position(text, token.start(kind)), subject)
        else:
            after_value = True


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
    :raises PayloadTooLarge: the document is larger than :data:`MAX_DOCUMENT_BYTES`.
    """
    try:
        return parse_bounded_json(text)
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
