"""The OpenAPI 3.1 document of the API Gateway interface, generated from the operations.

Every operation that API Gateway can call is described from what its plugin
registered: its route, methods and summary, its query parameters (names, types,
enums, descriptions) and request body from its JSON Schema, and the answers the
dispatcher gives (the operation's result, and the one error shape). A plugin's
operation appears here with no extra work from its author.

* An exact name ``fleet/status`` is the path ``/v1/fleet/status``; the root
  operation ``""`` is ``/v1/``.
* A regex route becomes a templated path where it is literal text and capture
  groups (see :mod:`.pathtemplates`): ``configuration/(?P<key>.+)`` is
  ``/v1/configuration/{key}``. A regex that cannot be written as a path is
  listed under ``x-clonesquad-unlisted-operations`` with the reason.
* Local ``$ref`` (JSON pointers, %-encoded or not, and ``#anchor``) are followed
  with the resolver validation uses, so that each parameter stands alone.
* Callers authenticate with SigV4, as API Gateway's ``AWS_IAM`` authorizer wants.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .formats import CONTENT_TYPES
from .operation import Body, Operation
from .pages import NEXT_PAGE
from .pathtemplates import PathTemplate, path_template
from .request import Interface
from .validation import local_reference_target

if TYPE_CHECKING:
    from .dispatcher import Dispatcher

__all__ = ["STAGE", "openapi_document"]

#: The API Gateway stage the API is deployed to.
STAGE = "v1"
OPENAPI_VERSION = "3.1.0"
SECURITY_SCHEME = "sigv4"

_ERRORS = {
    "400": "The request is malformed, or its input does not match the operation's schema.",
    "403": "The signature is missing or wrong (API Gateway), or the caller may not run it.",
    "404": "No operation has this name.",
    "405": "The operation does not answer this method.",
    "409": "Another writer changed what the request writes: nothing was written; send it again.",
    "413": (
        "Too large: a document of more keys than one write holds (send it in parts), or an "
        "answer larger than Lambda returns (ask for less: a dump takes prefix=, limit= and "
        "after=, each page's X-Next-Page header naming the next one)."
    ),
    "429": "Too many requests: try again later.",
    "500": "An unexpected error; the log has the details under the request id.",
    "503": "An AWS service is unavailable or throttling: try again after Retry-After.",
}
# -------------------------------------------------------------------------
# The document
# -------------------------------------------------------------------------


def openapi_document(
    dispatcher: Dispatcher, *, server_url: str | None = None, title: str | None = None
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``dispatcher``'s API Gateway operations.

    :param server_url: where the API is served, without the stage (default: the
        API Gateway URL template ``https://{api_id}.execute-api.{region}.amazonaws.com``).
    """
    from . import __version__

    paths: dict[str, dict[str, Any]] = {}
    unlisted: list[dict[str, str]] = []
    operation_ids: set[str] = set()
    for operation in sorted(_apigw_operations(dispatcher), key=_sort_key):
        try:
            template = path_template(operation.route)
        except ValueError as exc:
            unlisted.append({"operation": operation.name, "reason": str(exc)})
            continue
        path = f"/{STAGE}/{template.template}"
        item = paths.setdefault(path, {})
        schema = dispatcher.schema(operation)
        for method in sorted(operation.methods):
            key = method.lower()
            if key in item:
                unlisted.append(
                    {
                        "operation": operation.name,
                        "reason": f"{method} {path} already describes another operation",
                    }
                )
                continue
            item[key] = _operation(operation, method, template, schema, operation_ids)
    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": title or "CloneSquad Interact API",
            "version": __version__,
            "description": (
                "The CloneSquad Interact API, as served through API Gateway (stage "
                f"`{STAGE}`). Every request is signed with AWS Signature Version 4 for "
                "the service `execute-api`. Every operation accepts `format=json|yaml`, "
                "which selects how the answer is written; a document body is read as "
                "JSON or YAML whatever it says."
            ),
        },
        "servers": [_server(server_url)],
        "security": [{SECURITY_SCHEME: []}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "apiKey",
                    "name": "Authorization",
                    "in": "header",
                    "description": "AWS Signature Version 4, service execute-api",
                    "x-amazon-apigateway-authtype": "awsSigv4",
                }
            },
            "schemas": {"Error": _ERROR_SCHEMA, "GatewayError": _GATEWAY_ERROR_SCHEMA},
        },
    }
    if unlisted:
        document["x-clonesquad-unlisted-operations"] = unlisted
    return document


def _apigw_operations(dispatcher: Dispatcher) -> Iterator[Operation]:
    return (op for op in dispatcher.operations if Interface.APIGW in op.interfaces)


def _sort_key(operation: Operation) -> tuple[bool, str]:
    return (operation.is_regex, operation.name)


def _server(url: str | None) -> dict[str, Any]:
    if url is not None:
        return {"url": url.rstrip("/")}
    return {
        "url": "https://{api_id}.execute-api.{region}.amazonaws.com",
        "variables": {
            "api_id": {"default": "api-id", "description": "the REST API's id"},
            "region": {"default": "eu-west-3", "description": "the AWS region"},
        },
    }


def _operation(
    operation: Operation,
    method: str,
    template: PathTemplate,
    schema: Mapping[str, Any],
    operation_ids: set[str],
) -> dict[str, Any]:
    described: dict[str, Any] = {
        "operationId": _operation_id(method, template.template, operation_ids),
        "summary": operation.summary,
    }
    if operation.description:
        described["description"] = operation.description
    if operation.plugin:
        described["tags"] = [operation.plugin]
    query = _query_parameters(schema)
    described["parameters"] = [
        *(_path_parameter(name, regex) for name, regex in template.parameters),
        *query,
    ]
    if method == "POST" and operation.body is not Body.NONE:
        described["requestBody"] = _request_body(operation, schema)
    paged = {"limit", "after"} <= {parameter["name"] for parameter in query}
    described["responses"] = _responses(method, paged=paged)
    described["x-clonesquad-operation"] = {
        "route": operation.name,
        "regex": operation.is_regex,
        "interfaces": sorted(str(i) for i in operation.interfaces),
        "cache": str(operation.cache),
        "plugin": operation.plugin,
    }
    return described


def _operation_id(method: str, name: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9]+", "_", f"{method.lower()}_{name}").strip("_") or method.lower()
    candidate, count = base, 1
    while candidate in taken:
        count += 1
        candidate = f"{base}_{count}"
    taken.add(candidate)
    return candidate


def _path_parameter(name: str, regex: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": f"^(?:{regex})$"},
    }


def _query_parameters(schema: Mapping[str, Any]) -> list[dict[str, Any]]:
    params = schema.get("properties", {}).get("params", {})
    properties: dict[str, Any] = {}
    required: set[str] = set()
    for part in _combined(params, schema):
        found = part.get("properties")
        if isinstance(found, Mapping):
            for name, value in found.items():
                properties.setdefault(name, value)
        if isinstance(part.get("required"), list):
            required.update(str(name) for name in part["required"])
    described = []
    for name in sorted(properties):
        subschema = _inline(properties[name], schema)
        parameter: dict[str, Any] = {"name": name, "in": "query", "required": name in required}
        if isinstance(subschema, Mapping) and isinstance(subschema.get("description"), str):
            parameter["description"] = subschema["description"]
        if isinstance(subschema, dict) and "type" not in subschema and _all_text(subschema):
            subschema = {"type": "string", **subschema}
        parameter["schema"] = subschema
        if _may_be_array(subschema, schema):
            parameter.update(style="form", explode=True)
        described.append(parameter)
    return described


def _all_text(schema: Mapping[str, Any]) -> bool:
    """``schema`` only admits strings given by ``enum`` or ``const`` (``format=json|yaml``)."""
    if "const" in schema:
        return isinstance(schema["const"], str)
    values = schema.get("enum")
    return isinstance(values, list) and bool(values) and all(isinstance(v, str) for v in values)


def _may_be_array(schema: Any, root: Mapping[str, Any]) -> bool:
    """``schema`` admits an array: repeated ``?name=a&name=b`` are read as one list."""
    for part in _combined(schema, root):
        kind = part.get("type")
        if kind == "array" or (isinstance(kind, list) and "array" in kind):
            return True
    return False


def _request_body(operation: Operation, schema: Mapping[str, Any]) -> dict[str, Any]:
    properties = schema.get("properties", {})
    body_schema = _inline(properties.get("body", {}), schema)
    required = "body" in (schema.get("required") or ())
    if operation.body is Body.TEXT:
        content = {"text/plain": {"schema": body_schema or {"type": "string"}}}
    else:
        content = {
            CONTENT_TYPES["json"]: {"schema": body_schema},
            CONTENT_TYPES["yaml"]: {"schema": body_schema},
        }
    return {"required": required, "content": content}


def _responses(method: str, *, paged: bool = False) -> dict[str, Any]:
    """The answers of an operation; ``paged``: it answers in pages (``limit=``, ``after=``),
    and a page that is not the last says which one follows."""
    answer = "The operation's answer" + (" (what it did)" if method == "POST" else "")
    responses: dict[str, Any] = {
        "200": {
            "description": f"{answer}: a document in the requested format, or text.",
            "content": {
                CONTENT_TYPES["json"]: {"schema": {}},
                CONTENT_TYPES["yaml"]: {"schema": {}},
                "text/plain": {"schema": {"type": "string"}},
            },
        }
    }
    if paged:
        responses["200"]["headers"] = {NEXT_PAGE: copy.deepcopy(_NEXT_PAGE_HEADER)}
    error = {"$ref": "#/components/schemas/Error"}
    gateway = {"$ref": "#/components/schemas/GatewayError"}
    for status, description in _ERRORS.items():
        schema = {"anyOf": [error, gateway]} if status in _GATEWAY_TOO else error
        responses[status] = {
            "description": description,
            "content": {CONTENT_TYPES["json"]: {"schema": schema}},
        }
        if status in _HEADERS:
            responses[status]["headers"] = copy.deepcopy(_HEADERS[status])
    for status, description in _GATEWAY_ERRORS.items():
        responses[status] = {
            "description": description,
            "content": {CONTENT_TYPES["json"]: {"schema": gateway}},
        }
    return responses


#: Statuses that API Gateway also answers itself, with its own ``{"message": ...}``.
_GATEWAY_TOO = frozenset({"403", "429"})
#: Statuses only API Gateway answers (the dispatcher never does).
_GATEWAY_ERRORS = {
    "502": "API Gateway: the function failed or gave an answer API Gateway cannot read.",
    "504": "API Gateway: the function did not answer in time (the integration timeout).",
}
_NEXT_PAGE_HEADER: dict[str, Any] = {
    "description": (
        "Present when more follow this page (limit= reached): the query string of the next "
        "page, the same parameters with after=<this page's last name>."
    ),
    "schema": {"type": "string", "examples": ["limit=5&after=big.04"]},
}
_HEADERS: dict[str, dict[str, Any]] = {
    "405": {
        "Allow": {
            "description": "The methods the operation answers, comma-separated.",
            "schema": {"type": "string", "examples": ["GET, POST"]},
        }
    },
    "503": {
        "Retry-After": {
            "description": "Seconds to wait before trying again.",
            "schema": {"type": "integer", "minimum": 0},
        }
    },
}
_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every error the dispatcher answers.",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "message", "details", "request_id"],
            "properties": {
                "type": {"type": "string", "examples": ["ValidationFailed"]},
                "message": {"type": "string"},
                "details": {"type": "array"},
                "request_id": {"type": "string"},
            },
        }
    },
}
_GATEWAY_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An answer of API Gateway itself (bad signature, throttling, failed function).",
    "required": ["message"],
    "properties": {"message": {"type": "string"}},
}


# -------------------------------------------------------------------------
# Schemas: local references followed, so that each piece stands alone
# -------------------------------------------------------------------------

_SCHEMA_ONLY = ("$schema", "$id", "$defs", "definitions", "$anchor", "$dynamicAnchor")


def _resolved(schema: Any, root: Mapping[str, Any]) -> Any:
    """``schema`` with a top-level local ``$ref`` followed (a few levels at most)."""
    for _ in range(8):
        if not isinstance(schema, Mapping):
            return schema
        reference = schema.get("$ref")
        if not (isinstance(reference, str) and reference.startswith("#")):
            return schema
        target = local_reference_target(root, reference)
        if target is None:
            return schema
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _combined(schema: Any, root: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """``schema`` and what it combines: its local ``$ref`` target, ``allOf``, ``anyOf``, ``oneOf``.

    A ``$ref`` is one more branch here (not merged into its siblings), so that
    ``properties`` beside a ``$ref`` add to the target's rather than hide them.
    """
    pending, seen = [schema], 0
    while pending and seen < 64:
        current = pending.pop()
        seen += 1
        if not isinstance(current, Mapping):
            continue
        yield current
        reference = current.get("$ref")
        if isinstance(reference, str) and reference.startswith("#"):
            pending.append(local_reference_target(root, reference))
        for keyword in ("allOf", "anyOf", "oneOf"):
            branches = current.get(keyword)
            if isinstance(branches, list):
                pending.extend(branches)


def _inline(schema: Any, root: Mapping[str, Any], depth: int = 0) -> Any:
    """A copy of ``schema`` with local references replaced by what they designate.

    A reference deeper than a few levels (a recursive schema) becomes ``{}``: any value.
    """
    if isinstance(schema, Mapping):
        if depth > 16:
            return {}
        resolved = _resolved(schema, root)
        if isinstance(resolved, Mapping) and "$ref" in resolved:
            return {}  # a reference that leaves the schema: describe nothing rather than lie
        return {
            key: (_inline(value, root, depth + 1) if key not in _DATA else copy.deepcopy(value))
            for key, value in resolved.items()
            if key not in _SCHEMA_ONLY
        }
    if isinstance(schema, list):
        return [_inline(value, root, depth + 1) for value in schema]
    return schema


_DATA = frozenset({"const", "enum", "default", "examples", "example"})
