"""Validation: each operation's input checked against its JSON Schema.

An operation's schema describes the instance ``{"params": {...}, "body": ...}``.
Schemas are read, checked (``check_schema``) and compiled once per dispatcher.
Query-string values are text; before validation they are converted to the type
the schema declares for them (``"true"`` to ``True`` for a boolean, ``"3"`` to
``3`` for an integer), so handlers receive typed values.

Two rules apply to every schema:

* unknown parameters are refused unless the schema's ``params`` says otherwise
  (``additionalProperties``, ``patternProperties`` or ``unevaluatedProperties``);
* the parameter ``format`` (``json`` or ``yaml``) is accepted by every operation:
  it selects how a document body is read and how the answer is written.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib.resources.abc import Traversable
from typing import Any

import jsonschema
import jsonschema.validators
from jsonschema.protocols import Validator

from .errors import PluginError, ValidationFailed
from .formats import FORMATS, parse_document
from .operation import Body, Operation
from .request import Request, freeze, thaw

__all__ = ["InputSchema", "SchemaStore"]

_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
_FORMAT_PARAM = {
    "enum": list(FORMATS),
    "description": "How a document body is read and the answer written (default json).",
}
_OPEN_KEYWORDS = ("additionalProperties", "patternProperties", "unevaluatedProperties")


@dataclass(frozen=True, slots=True)
class InputSchema:
    """An operation's schema, checked and compiled."""

    schema: Mapping[str, Any]
    validator: Validator
    #: The ``params`` properties, used to convert query-string values.
    param_schemas: Mapping[str, Any]

    def validate(self, request: Request, operation: Operation) -> Request:
        """Check ``request`` and return it with typed ``params`` and ``parsed_body``.

        :raises ValidationFailed: listing every problem (``where``, ``what``).
        """
        problems: list[dict[str, str]] = []
        params = self._convert(thaw(request.params), problems)
        instance: dict[str, Any] = {"params": params}
        parsed: Any = None
        has_body = request.body is not None and request.body.strip() != ""
        if operation.body is Body.NONE:
            if has_body:
                problems.append({"where": "body", "what": "this operation takes no body"})
        elif operation.body is Body.TEXT:
            if request.body is not None:
                instance["body"] = request.body
        elif has_body:
            assert request.body is not None
            fmt = params["format"] if params.get("format") in FORMATS else "json"
            parsed = parse_document(request.body, fmt)
            instance["body"] = parsed
        converted = {problem["where"] for problem in problems}
        for error in self.validator.iter_errors(instance):
            problems.extend(p for p in _describe(error) if p["where"] not in converted)
        if problems:
            problems = sorted({(p["where"], p["what"]): p for p in problems}.values(), key=_key)
            count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
            summary = "; ".join(f"{p['where']}: {p['what']}" for p in problems[:3])
            raise ValidationFailed(
                f"invalid input for operation {operation.name!r} ({count}): {summary}",
                details=problems,
            )
        return replace(request, params=freeze(params), parsed_body=freeze(parsed))

    def _convert(self, params: dict[str, Any], problems: list[dict[str, str]]) -> dict[str, Any]:
        converted = {}
        for name, value in params.items():
            schema = self.param_schemas.get(name)
            if isinstance(schema, Mapping):
                value = _convert(value, schema, f"params.{name}", problems)
            converted[name] = value
        return converted


class SchemaStore:
    """Loads, checks and compiles operation schemas; each source once."""

    def __init__(self) -> None:
        self._compiled: dict[str, InputSchema] = {}

    def compile(self, operation: Operation) -> InputSchema:
        """The compiled schema of ``operation``.

        :raises PluginError: the schema cannot be read or is not a valid JSON Schema.
        """
        source = operation.schema
        key = f"mapping:{id(source)}" if isinstance(source, Mapping) else f"file:{source}"
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = _compile(operation, _load(operation))
            self._compiled[key] = compiled
        return compiled


def _load(operation: Operation) -> dict[str, Any]:
    source = operation.schema
    if isinstance(source, Mapping):
        return copy.deepcopy(dict(source))
    if not isinstance(source, Traversable):
        raise PluginError(
            f"operation {operation.name!r} ({operation.plugin}): schema must be a file "
            f"(Traversable or Path) or a mapping, not {type(source).__name__}"
        )
    try:
        loaded = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PluginError(
            f"operation {operation.name!r} ({operation.plugin}): cannot read schema {source}: {exc}"
        ) from None
    if not isinstance(loaded, dict):
        raise PluginError(f"operation {operation.name!r}: schema {source} is not a JSON object")
    return loaded


def _compile(operation: Operation, schema: dict[str, Any]) -> InputSchema:
    properties = schema.setdefault("properties", {})
    if not isinstance(properties, dict):
        raise PluginError(
            f"operation {operation.name!r}: the schema's properties must be an object"
        )
    params = properties.setdefault("params", {"type": "object"})
    if not isinstance(params, dict):
        raise PluginError(f"operation {operation.name!r}: the schema's params must be an object")
    if not any(keyword in params for keyword in _OPEN_KEYWORDS):
        params["additionalProperties"] = False
    param_schemas = params.setdefault("properties", {})
    param_schemas.setdefault("format", _FORMAT_PARAM)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise PluginError(
            f"operation {operation.name!r} ({operation.plugin}): invalid schema "
            f"{operation.schema if not isinstance(operation.schema, Mapping) else ''}: "
            f"{exc.message}"
        ) from None
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    return InputSchema(schema=schema, validator=validator, param_schemas=param_schemas)


def _key(problem: Mapping[str, str]) -> str:
    return problem["where"]


def _types(schema: Mapping[str, Any]) -> set[str]:
    declared = schema.get("type")
    if isinstance(declared, str):
        return {declared}
    if isinstance(declared, list):
        return {t for t in declared if isinstance(t, str)}
    return set()


def _convert(
    value: Any, schema: Mapping[str, Any], where: str, problems: list[dict[str, str]]
) -> Any:
    types = _types(schema)
    if isinstance(value, list):
        if "array" in types or not types:
            items = schema.get("items")
            if isinstance(items, Mapping):
                return [_convert(v, items, f"{where}[{i}]", problems) for i, v in enumerate(value)]
            return value
        problems.append({"where": where, "what": f"given {len(value)} times; give it once"})
        return value
    if not isinstance(value, str) or not types or "string" in types:
        return [value] if "array" in types and isinstance(value, str) else value
    if "array" in types:
        items = schema.get("items")
        return [
            _convert(value, items, f"{where}[0]", problems) if isinstance(items, Mapping) else value
        ]
    if "boolean" in types and value.lower() in _BOOLEANS:
        return _BOOLEANS[value.lower()]
    if "integer" in types:
        try:
            return int(value, 10)
        except ValueError:
            pass
    if "number" in types:
        try:
            number = float(value)
        except ValueError:
            pass
        else:
            if math.isfinite(number):
                return number
    if "null" in types and value in ("", "null"):
        return None
    return value


def _where(error: jsonschema.ValidationError) -> str:
    where = ""
    for part in error.absolute_path:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    return where or "input"


def _describe(error: jsonschema.ValidationError) -> list[dict[str, str]]:
    where = _where(error)
    kind = "parameter" if where == "params" else "field"
    prefix = "" if where == "input" else f"{where}."
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        known = error.schema.get("properties", {}) if isinstance(error.schema, Mapping) else {}
        accepted = ", ".join(sorted(known)) or "none"
        return [
            {"where": f"{prefix}{name}", "what": f"unknown {kind}; accepted: {accepted}"}
            for name in sorted(error.instance)
            if name not in known
        ] or [{"where": where, "what": error.message}]
    if error.validator == "required" and isinstance(error.instance, Mapping):
        required = error.validator_value if isinstance(error.validator_value, list) else []
        return [
            {"where": f"{prefix}{name}", "what": f"missing; this {kind} is required"}
            for name in required
            if name not in error.instance
        ] or [{"where": where, "what": error.message}]
    return [{"where": where, "what": error.message}]
