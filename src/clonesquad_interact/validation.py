"""Validation: each operation's input checked against its JSON Schema.

An operation's schema (JSON Schema 2020-12) describes the instance
``{"params": {...}, "body": ...}``. Schemas are read, checked (``check_schema``,
local ``$ref`` resolved) and compiled once per dispatcher. jsonschema is the
reference: it checks every schema and writes every error message, and it is
imported when it first has that work to do (a schema to check, input the compiled
check of :mod:`.compiled` does not accept), so that a request with valid input
for a schema already known to be good never imports it. Query-string values are
text; before validation they are converted to the type the schema declares for
them (``"true"`` to ``True`` for a boolean, ``"3"`` to ``3`` for an integer,
repeated parameters to arrays), so handlers receive typed values.

Two rules apply to every schema:

* unknown parameters are refused unless the schema's ``params`` says otherwise
  (``additionalProperties``, ``patternProperties`` or ``unevaluatedProperties``);
* the parameter ``format`` (``json`` or ``yaml``) is accepted by every operation:
  it selects how the answer is written (a document body is read as JSON, or as
  YAML when it is not JSON, whatever it says).
"""

from __future__ import annotations

import copy
import json
import math
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import partial
from importlib.resources.abc import Traversable
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from .compiled import fast_validator
from .errors import EXCERPT_LENGTH, InteractError, PluginError, ValidationFailed, excerpt
from .formats import FORMATS, parse_document
from .operation import Body, Operation
from .request import Interface, Request, format_word, freeze, thaw

if TYPE_CHECKING:
    import jsonschema

__all__ = ["InputSchema", "SchemaStore"]

DRAFT = "https://json-schema.org/draft/2020-12/schema"
_BOOLEANS = MappingProxyType(
    {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
)
_INTEGER = re.compile(r"-?[0-9]+\Z")
_NUMBER = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\Z")
#: The longest number converted (Python refuses longer integers).
_DIGITS = 4000
#: How many valid parameter sets each schema remembers.
_REMEMBERED = 256
_OPEN_KEYWORDS = ("additionalProperties", "patternProperties", "unevaluatedProperties")
_BRANCHES = ("anyOf", "oneOf", "allOf")


#: The type of a query-string value (a repeated parameter's is a tuple of them).
_TEXT = frozenset({str})


def _texts(value: Any) -> bool:
    return type(value) is tuple and all(type(v) is str for v in value)


def _format_param() -> dict[str, Any]:
    return {
        "enum": list(FORMATS),
        "description": (
            "How the answer is written (default json), in any case (YAML is yaml). A "
            "document body is read as JSON or YAML whatever this says."
        ),
    }


class InputSchema:
    """An operation's schema, compiled, and checked by jsonschema when it must be.

    :param schema: the schema, with the two rules of this module applied.
    :param fail: the error to raise, naming the operation, for a ``problem`` found
        when jsonschema checks the schema.
    :param checked: check it with jsonschema now; otherwise when jsonschema is first
        needed for it (:meth:`check`).
    """

    __slots__ = (
        "_accepts",
        "_compiled",
        "_fail",
        "_kinds",
        "_lock",
        "_param_schemas",
        "_valid",
        "_validator",
        "param_names",
        "schema",
    )

    def __init__(
        self,
        schema: dict[str, Any],
        fail: Callable[[str], PluginError],
        *,
        checked: bool = True,
    ) -> None:
        self.schema = schema
        self._fail = fail
        self._validator: jsonschema.Draft202012Validator | None = None
        if checked:
            self.check()
        #: Per subschema (by id: they live as long as this object), its types and items.
        self._kinds: dict[int, tuple[set[str], Mapping[str, Any] | None]] = {}
        #: The ``params`` properties (``$ref`` and ``allOf`` followed), to convert values.
        self._param_schemas = _param_properties(schema)
        #: The parameters the operation takes, ``None`` when its schema takes any.
        self.param_names: frozenset[str] | None = (
            frozenset(self._param_schemas) if _closed(schema["properties"]["params"]) else None
        )
        #: Query strings already found valid (API Gateway, no body): as received -> as converted.
        self._valid: dict[Any, Mapping[str, Any]] = {}
        self._lock = threading.Lock()
        #: The compiled check of valid input (see :mod:`.compiled`), made on first use.
        self._accepts: Callable[[Any], bool] | None = None
        self._compiled = False

    def check(self) -> None:
        """Check the schema with jsonschema (``check_schema``), once.

        :raises PluginError: the schema is not a valid JSON Schema 2020-12.
        """
        if self._validator is None:
            import jsonschema

            try:
                jsonschema.Draft202012Validator.check_schema(self.schema)
            except jsonschema.SchemaError as exc:
                raise self._fail(f"invalid schema: {exc.message}") from None
            self._validator = jsonschema.Draft202012Validator(
                self.schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
            )

    @property
    def validator(self) -> jsonschema.Draft202012Validator:
        """The jsonschema validator of the schema (checked first: see :meth:`check`)."""
        if self._validator is None:
            self.check()
            assert self._validator is not None
        return self._validator

    def validate(self, request: Request, operation: Operation) -> tuple[Mapping[str, Any], Any]:
        """Check ``request``'s input; return its typed ``params`` and its ``parsed_body``.

        A request without a body that repeats the parameters of an earlier valid one
        (an instance polling, an operator's script) is answered from a small memory
        of valid parameter sets, without running the schema again.

        :raises ValidationFailed: listing every problem (``where``, ``what``).
        """
        body = request.body
        key: Any = None
        if body is None and request.interface is Interface.APIGW:
            # Query strings: text values, a URL's worth at most (typed values from an
            # in-process call are not remembered: True == 1 would confuse them).
            values = request.params.values()
            if _TEXT.issuperset(map(type, values)) or all(
                type(v) is str or _texts(v) for v in values
            ):
                key = tuple(request.params.items())
                known = self._valid.get(key)
                if known is not None:
                    return known, None
        try:
            params, parsed = self._check(request, operation)
        except RecursionError:
            raise ValidationFailed("the input is nested too deeply") from None
        if key is not None:
            with self._lock:  # threads of one dispatcher (``serve``) share the memory
                if len(self._valid) >= _REMEMBERED:
                    self._valid.pop(next(iter(self._valid), None), None)
                self._valid[key] = params
        return params, parsed

    def _check(self, request: Request, operation: Operation) -> tuple[Mapping[str, Any], Any]:
        body = request.body
        problems: list[dict[str, str]] = []
        params = self._convert(thaw(request.params), request.interface, problems)
        instance: dict[str, Any] = {"params": params}
        parsed: Any = None
        has_body = body is not None and body.strip() != ""
        if operation.body is Body.NONE:
            if has_body:
                assert body is not None
                self._params_from_body(body, params, problems)
        elif operation.body is Body.TEXT:
            if body is not None:
                instance["body"] = body
        elif has_body:
            assert body is not None
            parsed = parse_document(body)
            instance["body"] = parsed
        if problems or not self._valid_at_once(instance):
            converted = {problem["where"] for problem in problems}
            for error in self.validator.iter_errors(instance):
                described = _describe(error, self._param_schemas)
                problems.extend(p for p in described if p["where"] not in converted)
        if problems:
            problems = sorted(
                {(p["where"], p["what"]): p for p in problems}.values(), key=_where_of
            )
            count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
            summary = "; ".join(f"{p['where']}: {p['what']}" for p in problems[:3])
            raise ValidationFailed(
                f"invalid input for operation {operation.title!r} ({count}): {summary}",
                details=problems,
            )
        frozen: Mapping[str, Any] = freeze(params)
        return frozen, freeze(parsed)

    def _valid_at_once(self, instance: dict[str, Any]) -> bool:
        """Whether the compiled check finds ``instance`` valid (``False``: jsonschema decides)."""
        if not self._compiled:
            self._accepts, self._compiled = fast_validator(self.schema), True
        accepts = self._accepts
        return accepts is not None and accepts(instance)

    def _params_from_body(
        self, body: str, params: dict[str, Any], problems: list[dict[str, str]]
    ) -> None:
        """An operation without a body takes its parameters as a JSON (or, with
        YAML) object body too, typed as over SQS: into ``params``."""
        try:
            document = parse_document(body)
        except InteractError as exc:
            document = exc
        if not isinstance(document, Mapping) or not all(isinstance(k, str) for k in document):
            said = f" ({document.message})" if isinstance(document, InteractError) else ""
            problems.append(
                {
                    "where": "body",
                    "what": "this operation takes no document body; send its parameters in "
                    f"the query string, or as a JSON object of them{said}",
                }
            )
            return
        both = sorted(set(document) & set(params))
        for name in both:
            problems.append(
                {
                    "where": f"params.{name}",
                    "what": "given in both the query string and the body; give it once",
                }
            )
        given = {name: value for name, value in document.items() if name not in params}
        params.update(self._convert(given, Interface.DIRECT, problems))

    def _convert(
        self, params: dict[str, Any], interface: Interface, problems: list[dict[str, str]]
    ) -> dict[str, Any]:
        # Query strings carry text, and a repeated name for a list; SQS and in-process
        # callers send typed JSON values, whose lists are lists.
        query = interface is Interface.APIGW
        converted = {}
        for name, value in params.items():
            if name == "format":
                value = format_word(value)
            schema = self._param_schemas.get(name)
            if type(schema) is dict or isinstance(schema, Mapping):
                value = self._value(value, schema, f"params.{name}", query, problems)
            converted[name] = value
        return converted

    def _value(
        self,
        value: Any,
        schema: Mapping[str, Any],
        where: str,
        query: bool,
        problems: list[dict[str, str]],
    ) -> Any:
        if type(value) is not str and not isinstance(value, list):
            return value  # a typed value (SQS, in-process): the schema checks it as it is
        types, items = self._kind(schema)
        if isinstance(value, list):
            if "array" in types or not types:
                if items is None:
                    return value
                return [
                    self._value(v, items, f"{where}[{i}]", query, problems)
                    for i, v in enumerate(value)
                ]
            if query:
                problems.append({"where": where, "what": f"given {len(value)} times; give it once"})
            return value
        if not isinstance(value, str) or not types or "string" in types:
            return value
        if "array" in types:
            return [self._value(value, items, f"{where}[0]", query, problems) if items else value]
        if "boolean" in types and value.lower() in _BOOLEANS:
            return _BOOLEANS[value.lower()]
        if "integer" in types and _INTEGER.match(value) and len(value) <= _DIGITS:
            return int(value)
        if "number" in types and _NUMBER.match(value) and len(value) <= _DIGITS:
            number = float(value)
            if math.isfinite(number):
                return number
        if "null" in types and value in ("", "null"):
            return None
        return value

    def _kind(self, schema: Mapping[str, Any]) -> tuple[set[str], Mapping[str, Any] | None]:
        """The types a subschema allows and its items, ``$ref``/``anyOf`` followed once."""
        kind = self._kinds.get(id(schema))
        if kind is None:
            kind = self._kinds[id(schema)] = (
                _types(schema, self.schema),
                _items(schema, self.schema),
            )
        return kind


class SchemaStore:
    """Loads, checks and compiles operation schemas; each source once.

    :param check: check each schema with jsonschema when it is compiled (the default,
        so that a broken schema is found at once); with ``False``, a schema is checked
        when jsonschema is first needed for it: its input is outside the compiled
        check, or the compiled check does not accept an input.
    """

    def __init__(self, *, check: bool = True) -> None:
        self._compiled: dict[Any, InputSchema] = {}
        self._check = check

    def compile(self, operation: Operation) -> InputSchema:
        """The compiled schema of ``operation``.

        :raises PluginError: the schema cannot be read, is not a valid JSON Schema
            2020-12 (when checked now), or refers to something it does not contain.
        """
        source = operation.schema
        key = ("mapping", id(source)) if isinstance(source, Mapping) else ("file", str(source))
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = _compile(operation, _load(operation), check=self._check)
            self._compiled[key] = compiled
        return compiled


def _fail(operation: Operation, problem: str) -> PluginError:
    source = "" if isinstance(operation.schema, Mapping) else f" {operation.schema}"
    plugin = operation.plugin or "no plugin"
    return PluginError(f"operation {operation.title!r} ({plugin}): schema{source}: {problem}")


def _load(operation: Operation) -> dict[str, Any]:
    source = operation.schema
    if isinstance(source, Mapping):
        return copy.deepcopy(dict(source))
    if not isinstance(source, Traversable):
        raise _fail(operation, f"must be a file (Traversable or Path) or a mapping, not {source!r}")
    try:
        loaded = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _fail(operation, f"cannot read schema: {exc}") from None
    if not isinstance(loaded, dict):
        raise _fail(operation, "is not a JSON object")
    return loaded


def _compile(operation: Operation, schema: dict[str, Any], *, check: bool) -> InputSchema:
    declared = schema.get("$schema", DRAFT)
    if not isinstance(declared, str) or declared.rstrip("#") != DRAFT:
        raise _fail(operation, f"must be JSON Schema 2020-12 ($schema {DRAFT}), not {declared}")
    properties = schema.setdefault("properties", {})
    if not isinstance(properties, dict):
        raise _fail(operation, "'properties' must be an object")
    params = properties.setdefault("params", {"type": "object"})
    if not isinstance(params, dict):
        raise _fail(operation, "'properties.params' must be an object")
    if not any(keyword in params for keyword in _OPEN_KEYWORDS):
        params["unevaluatedProperties"] = False
    param_properties = params.setdefault("properties", {})
    if not isinstance(param_properties, dict):
        raise _fail(operation, "'properties.params.properties' must be an object")
    param_properties.setdefault("format", _format_param())
    if check:
        checked = InputSchema(schema, partial(_fail, operation))
    for reference in _references(schema):
        if not reference.startswith("#"):
            raise _fail(operation, f"$ref {reference!r}: only references inside the schema (#...)")
        if local_reference_target(schema, reference) is None:
            raise _fail(operation, f"$ref {reference!r} points to nothing in the schema")
    return checked if check else InputSchema(schema, partial(_fail, operation), checked=False)


#: Keywords whose values are data, not subschemas.
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})


def _references(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key in ("$ref", "$dynamicRef") and isinstance(value, str):
                yield value
            elif key not in _DATA_KEYWORDS:
                yield from _references(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _references(value)


def _anchor(schema: Any, name: str) -> Any:
    """The subschema declaring ``$anchor`` (or ``$dynamicAnchor``) ``name``, or ``None``."""
    if isinstance(schema, dict):
        if name in (schema.get("$anchor"), schema.get("$dynamicAnchor")):
            return schema
        children: Iterable[Any] = (v for k, v in schema.items() if k not in _DATA_KEYWORDS)
    elif isinstance(schema, list):
        children = iter(schema)
    else:
        return None
    for child in children:
        found = _anchor(child, name)
        if found is not None:
            return found
    return None


def local_reference_target(root: Mapping[str, Any], reference: str) -> Any:
    """The subschema a local reference (``#/$defs/name`` or ``#anchor``) designates, or ``None``."""
    fragment = unquote(reference[1:])
    if fragment and not fragment.startswith("/"):
        return _anchor(root, fragment)
    node: Any = root
    for part in fragment.split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _subschemas(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """``schema`` and what it combines with: its ``$ref`` target, ``anyOf``/``oneOf``/``allOf``."""
    seen: set[int] = set()
    pending = [schema]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        reference = current.get("$ref")
        if isinstance(reference, str) and reference.startswith("#"):
            target = local_reference_target(root, reference)
            if isinstance(target, Mapping):
                pending.append(target)
        for keyword in _BRANCHES:
            branches = current.get(keyword)
            if isinstance(branches, list):
                pending.extend(b for b in branches if isinstance(b, Mapping))


def _closed(params: Mapping[str, Any]) -> bool:
    """Whether a ``params`` schema refuses parameters it does not name."""
    if params.get("patternProperties"):
        return False
    refusing = [params.get(k) for k in ("additionalProperties", "unevaluatedProperties")]
    return False in refusing and all(value in (False, None) for value in refusing)


def _param_properties(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    params = schema["properties"]["params"]
    merged: dict[str, Any] = {}
    for part in _subschemas(params, schema):
        found = part.get("properties")
        if isinstance(found, Mapping):
            for name, value in found.items():
                merged.setdefault(name, value)
    return MappingProxyType(merged)


def _types(schema: Mapping[str, Any], root: Mapping[str, Any]) -> set[str]:
    types: set[str] = set()
    for part in _subschemas(schema, root):
        declared = part.get("type")
        if isinstance(declared, str):
            types.add(declared)
        elif isinstance(declared, list):
            types.update(t for t in declared if isinstance(t, str))
    return types


def _items(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for part in _subschemas(schema, root):
        items = part.get("items")
        if isinstance(items, Mapping):
            return items
    return None


def _where_of(problem: Mapping[str, str]) -> str:
    return problem["where"]


def _where(error: jsonschema.ValidationError) -> str:
    where = ""
    for part in error.absolute_path:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    return where or "input"


def _describe(
    error: jsonschema.ValidationError, param_schemas: Mapping[str, Any]
) -> list[dict[str, str]]:
    where = _where(error)
    kind = "parameter" if where == "params" else "field"
    prefix = "" if where == "input" else f"{where}."
    if error.validator in ("additionalProperties", "unevaluatedProperties") and isinstance(
        error.instance, Mapping
    ):
        schema = error.schema if isinstance(error.schema, Mapping) else {}
        known = param_schemas if where == "params" else schema.get("properties", {})
        accepted = ", ".join(sorted(known)) or "none"
        return [
            {"where": f"{prefix}{name}", "what": f"unknown {kind}; accepted: {accepted}"}
            for name in sorted(error.instance)
            if name not in known
        ] or [{"where": where, "what": _what(error)}]
    if error.validator == "required" and isinstance(error.instance, Mapping):
        required = error.validator_value if isinstance(error.validator_value, list) else []
        return [
            {"where": f"{prefix}{name}", "what": f"missing; this {kind} is required"}
            for name in required
            if name not in error.instance
        ] or [{"where": where, "what": _what(error)}]
    return [{"where": where, "what": _what(error)}]


_JSON_TYPES = MappingProxyType({dict: "an object", list: "an array", tuple: "an array"})


def _what(error: jsonschema.ValidationError) -> str:
    """jsonschema's message, quoting a short excerpt of what was sent (a list or an
    object given where another type is expected is not quoted: its type is said)."""
    instance = error.instance
    if isinstance(instance, Mapping | list | tuple):
        kind = _JSON_TYPES.get(type(instance), "an object")
        if error.validator == "type":
            expected = error.validator_value
            types = expected if isinstance(expected, list) else [expected]
            noun = "item" if kind == "an array" else "member"
            size = f"{len(instance)} {noun}{'' if len(instance) == 1 else 's'}"
            return f"{kind} of {size} is not of type {', '.join(repr(t) for t in types)}"
    written = repr(instance)
    if len(written) <= EXCERPT_LENGTH:
        return error.message
    return error.message.replace(written, excerpt(instance), 1)
