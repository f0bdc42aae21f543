"""A faster check of valid input: fastjsonschema, for the schemas whose meaning it shares.

jsonschema stays the reference: it checks every schema (``check_schema``) and
writes every error message. A schema built only of the keywords whose meaning
is the same in fastjsonschema's drafts and in JSON Schema 2020-12 is also
compiled by fastjsonschema, when its operation first runs; input it accepts is
valid, and input it refuses is checked again by jsonschema, whose errors the
caller gets. So the answers are jsonschema's in every case, and valid input,
what nearly every request carries, costs a generated function's call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["fast_validator"]

#: Keywords whose subschemas are schemas, by how they hold them.
_ONE = frozenset({"items", "not", "additionalProperties", "propertyNames"})
_MANY = frozenset({"anyOf", "allOf", "oneOf"})
_BY_NAME = frozenset({"properties", "patternProperties"})
#: Keywords checked the same way by both (or annotations neither checks).
_PLAIN = frozenset(
    {
        "type",
        "enum",
        "const",
        "required",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minLength",
        "maxLength",
        "pattern",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minProperties",
        "maxProperties",
        "title",
        "description",
        "default",
        "examples",
        "$comment",
        "deprecated",
        "readOnly",
        "writeOnly",
    }
)


#: Keywords that evaluate properties beside ``properties`` and ``patternProperties``.
_APPLICATORS = frozenset(
    {"allOf", "anyOf", "oneOf", "not", "$ref", "$dynamicRef", "if", "then", "else"}
    | {"dependentSchemas", "additionalProperties"}
)


def _shared(schema: Any) -> bool:
    """Whether ``schema`` uses only keywords both libraries read alike."""
    if isinstance(schema, bool):
        return True
    if not isinstance(schema, Mapping):
        return False
    for keyword, value in schema.items():
        if keyword in _PLAIN:
            continue
        if keyword == "unevaluatedProperties":
            # Beside only properties and patternProperties, it is additionalProperties.
            if _APPLICATORS.intersection(schema) or not _shared(value):
                return False
            continue
        if keyword in _ONE:
            if not _shared(value):
                return False
        elif keyword in _MANY:
            if not isinstance(value, list) or not all(_shared(v) for v in value):
                return False
        elif keyword in _BY_NAME:
            if not isinstance(value, Mapping) or not all(_shared(v) for v in value.values()):
                return False
        else:  # $ref, $defs, format, unevaluated*, prefixItems, if/then/else...
            return False
    return True


def _draft7(schema: Any) -> Any:
    """The schema as fastjsonschema reads it: ``unevaluatedProperties`` renamed."""
    if isinstance(schema, list):
        return [_draft7(value) for value in schema]
    if not isinstance(schema, Mapping):
        return schema
    renamed = {}
    for keyword, value in schema.items():
        if keyword == "unevaluatedProperties":
            keyword = "additionalProperties"
        if keyword in _BY_NAME and isinstance(value, Mapping):
            renamed[keyword] = {name: _draft7(sub) for name, sub in value.items()}
        elif keyword in _ONE or keyword in _MANY or keyword == "additionalProperties":
            renamed[keyword] = _draft7(value)
        else:
            renamed[keyword] = value  # enum, const, default...: values, not schemas
    return renamed


def fast_validator(schema: Mapping[str, Any]) -> Callable[[Any], bool] | None:
    """``accepts(instance)``: ``True`` when the input is valid; ``None`` for a schema
    fastjsonschema is not trusted with (jsonschema alone then checks the input).

    ``False`` means "not known to be valid": jsonschema decides.
    """
    # Without a $ref (refused below), the dialect and the id change nothing.
    body = {k: value for k, value in schema.items() if k not in ("$schema", "$id")}
    if not _shared(body):
        return None
    body = _draft7(body)
    import fastjsonschema

    try:
        check = fastjsonschema.compile(body)
    except Exception:  # a schema it cannot compile: jsonschema alone
        return None

    def accepts(instance: Any) -> bool:
        try:
            check(instance)
        except Exception:  # refused, or a value it cannot read: jsonschema decides
            return False
        return True

    return accepts
