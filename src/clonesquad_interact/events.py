"""Normalization: every kind of Lambda event becomes a :class:`Request`, here and only here.

The operation name, the method, the body and the identity come only from the
event fields that AWS fills in for them; query-string parameters never change
any of them. The operation name is kept exactly as API Gateway authorized it: no
case folding, no collapsing of ``//``, no percent-decoding.
"""

from __future__ import annotations

import base64
import binascii
import enum
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, TypeGuard
from urllib.parse import parse_qsl

from .errors import BadRequest, excerpt, unencodable
from .formats import parse_bounded_json
from .request import Interface, Request, freeze, new_request_id

__all__ = [
    "EventKind",
    "classify",
    "event_request_id",
    "from_apigw_http",
    "from_apigw_rest",
    "from_direct_event",
    "from_sqs_record",
]


class EventKind(enum.Enum):
    """The kinds of Lambda event the handler accepts."""

    APIGW_REST = "API Gateway REST (payload 1.0)"
    APIGW_HTTP = "API Gateway HTTP API (payload 2.0)"
    SQS = "SQS batch"
    DIRECT = "direct invocation"
    SCHEDULED = "EventBridge scheduled event"


_EXPECTED = (
    "expected an API Gateway proxy event (REST or HTTP API), an SQS batch "
    '({"Records": [...]}), an EventBridge scheduled event ("detail-type": "Scheduled '
    'Event") or a direct invocation ({"OpType": "<operation>", ...})'
)

DIRECT_EVENT_KEYS = frozenset({"OpType", "Method", "Params", "Body"})
#: What an SQS message holding too many values should be instead.
_SMALLER_MESSAGE = "an operation's parameters fit in fewer; send a smaller message"


def _event_source(record: Any) -> str:
    """A record's ``eventSource`` as text (what it is, when it is not text)."""
    source = (
        (record.get("eventSource") or record.get("EventSource")) if _is_mapping(record) else None
    )
    return source if isinstance(source, str) else f"<{type(source).__name__}>"


def classify(event: Any) -> EventKind:
    """Tell which kind of event this is.

    :raises BadRequest: for anything that is none of them, saying what was expected.
    """
    if (  # the usual event, told apart at once (the checks below decide the same)
        type(event) is dict
        and "httpMethod" in event
        and "Records" not in event
        and event.get("version") != "2.0"
        and ("path" in event or "pathParameters" in event)
    ):
        return EventKind.APIGW_REST
    if not _is_mapping(event):
        raise BadRequest(f"the event is {_describe(event)}: {_EXPECTED}")
    if event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event":
        return EventKind.SCHEDULED
    if "Records" in event:
        records = event["Records"]
        if not isinstance(records, list) or not records:
            raise BadRequest("the event's Records must be a non-empty list of SQS records")
        sources = {_event_source(r) for r in records}
        if sources != {"aws:sqs"}:
            found = ", ".join(sorted(sources)[:5])
            raise BadRequest(
                "only SQS records (eventSource aws:sqs) are handled; this batch has: "
                f"{excerpt(found, 200)}"
            )
        return EventKind.SQS
    context = event.get("requestContext")
    if event.get("version") == "2.0" and _is_mapping(context) and "http" in context:
        return EventKind.APIGW_HTTP
    if "httpMethod" in event and ("path" in event or "pathParameters" in event):
        return EventKind.APIGW_REST
    if "OpType" in event:
        return EventKind.DIRECT
    keys = ", ".join(sorted(str(k) for k in event)) or "none"
    raise BadRequest(f"the event is not one this function handles (its keys: {keys}): {_EXPECTED}")


def from_apigw_rest(event: Mapping[str, Any]) -> Request:
    """Normalize an API Gateway REST API proxy event (payload format 1.0).

    Each field is read first the way API Gateway sends it (a ``dict``, a ``str``);
    anything else goes through the reader that checks it and says what is wrong.
    """
    context = event.get("requestContext")
    if type(context) is not dict:
        context = _mapping(event, "requestContext", required=False)
    path_parameters = event.get("pathParameters")
    op = path_parameters.get("proxy") if type(path_parameters) is dict else None
    if type(op) is not str:
        op = _proxy_path(event)
        if op is None:
            path = _string(event, "path")
            op = path[1:] if path.startswith("/") else path
    method = event.get("httpMethod")
    if type(method) is not str:
        method = _string(event, "httpMethod")
    multi = event.get("multiValueQueryStringParameters")
    params: Mapping[str, str | tuple[str, ...]]
    if multi:
        params = _multi_params(multi, "multiValueQueryStringParameters")
    else:
        params = _single_params(event.get("queryStringParameters"), "queryStringParameters")
    identity = context.get("identity") if context else None
    request_id = context.get("requestId") if context else None
    _check_text(op, params, event.get("headers"))
    return Request(
        op=op,
        interface=Interface.APIGW,
        method=method.upper(),
        params=MappingProxyType(params),
        body=None if event.get("body") is None else _body(event),
        identity=freeze(identity) if _is_mapping(identity) else None,
        request_id=request_id if type(request_id) is str and request_id else new_request_id(),
        headers=_headers(event.get("headers")),
        raw_event=event,
    )


def from_apigw_http(event: Mapping[str, Any]) -> Request:
    """Normalize an API Gateway HTTP API event (payload format 2.0)."""
    context = _mapping(event, "requestContext")
    http = _mapping(context, "http")
    op = _proxy_path(event)
    if op is None:
        path = _string(event, "rawPath")
        stage = context.get("stage")
        if isinstance(stage, str) and stage != "$default" and path.startswith(f"/{stage}/"):
            path = path[len(stage) + 1 :]
        elif stage != "$default" and path == f"/{stage}":
            path = "/"
        op = path[1:] if path.startswith("/") else path
    raw_query = event.get("rawQueryString")
    params: Mapping[str, str | tuple[str, ...]]
    if isinstance(raw_query, str):
        grouped: dict[str, list[str]] = {}
        for key, value in parse_qsl(raw_query, keep_blank_values=True):
            grouped.setdefault(key, []).append(value)
        params = _multi_params(grouped, "rawQueryString")
    else:
        params = _single_params(event.get("queryStringParameters"), "queryStringParameters")
    iam = context.get("authorizer", {}) or {}
    iam = iam.get("iam") if _is_mapping(iam) else None
    iam = iam if _is_mapping(iam) else {}
    identity = {
        "accessKey": iam.get("accessKey"),
        "accountId": iam.get("accountId"),
        "caller": iam.get("callerId"),
        "user": iam.get("userId"),
        "userArn": iam.get("userArn"),
        "principalOrgId": iam.get("principalOrgId"),
        "sourceIp": http.get("sourceIp"),
        "userAgent": http.get("userAgent"),
    }
    _check_text(op, params, event.get("headers"))
    return Request(
        op=op,
        interface=Interface.APIGW,
        method=_string(http, "method").upper(),
        params=freeze(params),
        body=_body(event),
        identity=freeze(identity),
        request_id=_request_id(context),
        headers=_headers(event.get("headers")),
        raw_event=event,
    )


def from_sqs_record(record: Any) -> Request:
    """Normalize one SQS record whose body is ``{"OpType": "<operation>", ...params}``."""
    if not _is_mapping(record):
        raise BadRequest(f"an SQS record must be an object, not {_describe(record)}")
    message_id = record.get("messageId")
    body = record.get("body")
    if not isinstance(body, str):
        raise BadRequest("the SQS record has no body")
    try:
        message = parse_bounded_json(body, "the SQS message body", _SMALLER_MESSAGE)
    except ValueError as exc:
        raise BadRequest(
            f'the SQS message body is not JSON ({exc}); send {{"OpType": "<operation>", ...}}'
        ) from None
    if not isinstance(message, dict):
        raise BadRequest(
            f"the SQS message body is {_describe(message)}; "
            'send a JSON object {"OpType": "<operation>", ...}'
        )
    op = message.pop("OpType", None)
    if not isinstance(op, str):
        raise BadRequest(
            'the SQS message has no "OpType" string naming the operation to run '
            f"(fields found: {', '.join(sorted(message)) or 'none'})"
        )
    _check_text(op, message, None, fields="the SQS message's field")
    attributes = record.get("attributes")
    sender = attributes.get("SenderId") if _is_mapping(attributes) else None
    identity = {
        "caller": sender,
        "senderId": sender,
        "eventSourceARN": record.get("eventSourceARN"),
    }
    return Request(
        op=op,
        interface=Interface.SQS,
        method="POST",
        params=_frozen(message, "the SQS message"),
        identity=freeze(identity),
        request_id=message_id if isinstance(message_id, str) and message_id else new_request_id(),
        raw_event=record,
    )


def from_direct_event(event: Mapping[str, Any]) -> Request:
    """Normalize a direct Lambda invocation: ``{"OpType", "Method", "Params", "Body"}``."""
    unknown = sorted(str(k) for k in event if k not in DIRECT_EVENT_KEYS)
    if unknown:
        raise BadRequest(
            f"a direct invocation takes the fields {', '.join(sorted(DIRECT_EVENT_KEYS))}; "
            f"unknown: {', '.join(unknown)} (operation parameters go in Params)"
        )
    op = _string(event, "OpType")
    method = event.get("Method", "GET")
    params = event.get("Params")
    params = {} if params is None else params
    body = event.get("Body")
    if not isinstance(method, str):
        raise BadRequest(f"Method must be GET or POST, not {_describe(method)}")
    if not _is_mapping(params):
        raise BadRequest(f"Params must be an object of parameters, not {_describe(params)}")
    if body is not None and not isinstance(body, str):
        raise BadRequest(f"Body must be text, not {_describe(body)}")
    _check_text(op, params, None, fields="Params")
    if body is not None:
        _check_body(body, "Body")
    return Request(
        op=op,
        interface=Interface.DIRECT,
        method=method.upper(),
        params=_frozen(params, "Params"),
        body=body,
        raw_event=event,
    )


# -------------------------------------------------------------------------
# Field readers: each says which field is wrong and what it should be.
# -------------------------------------------------------------------------


def _is_mapping(value: Any) -> TypeGuard[Mapping[str, Any]]:
    # Events are dicts: test that first, as the ABC check is slow on the request path.
    return type(value) is dict or isinstance(value, Mapping)


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    return f"a {type(value).__name__}" if not isinstance(value, str) else "a string"


def _mapping(event: Mapping[str, Any], key: str, *, required: bool = True) -> Mapping[str, Any]:
    value = event.get(key)
    if _is_mapping(value):
        return value
    if value is None and not required:
        return {}
    raise BadRequest(f"the event's {key} must be an object, not {_describe(value)}")


def _string(event: Mapping[str, Any], key: str) -> str:
    value = event.get(key)
    if not isinstance(value, str):
        raise BadRequest(f"the event's {key} must be a string, not {_describe(value)}")
    return value


def _frozen(value: Mapping[str, Any], what: str) -> Mapping[str, Any]:
    try:
        frozen: Mapping[str, Any] = freeze(value)
    except RecursionError:
        raise BadRequest(f"{what} is nested too deeply") from None
    return frozen


def _proxy_path(event: Mapping[str, Any]) -> str | None:
    path_parameters = event.get("pathParameters")
    if path_parameters is None:
        return None
    if not _is_mapping(path_parameters):
        found = _describe(path_parameters)
        raise BadRequest(f"the event's pathParameters must be an object or null, not {found}")
    proxy = path_parameters.get("proxy")
    if proxy is None:
        return None
    if not isinstance(proxy, str):
        raise BadRequest(
            f"the event's pathParameters.proxy must be a string, not {_describe(proxy)}"
        )
    return proxy


def _single_params(raw: Any, field: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not _is_mapping(raw) or not _TEXT.issuperset(map(type, raw.values())):
        raise BadRequest(f"the event's {field} must map names to strings")
    return {str(k): v for k, v in raw.items()}


def _multi_params(raw: Any, field: str) -> dict[str, str | tuple[str, ...]]:
    if not _is_mapping(raw):
        raise BadRequest(f"the event's {field} must map names to lists of strings")
    params: dict[str, str | tuple[str, ...]] = {}
    for key, values in raw.items():
        if type(values) is not list or not _TEXT.issuperset(map(type, values)):
            raise BadRequest(f"the event's {field}[{key!r}] must be a list of strings")
        if values:
            params[str(key)] = values[0] if len(values) == 1 else tuple(values)
    return params


#: Query-string values are text (exactly ``str``: events are parsed JSON).
_TEXT = frozenset({str})


def _headers(raw: Any) -> Mapping[str, str]:
    if type(raw) is dict:
        return _Headers(raw.copy())  # a copy: a later change of the event changes nothing
    return _Headers(dict(raw) if _is_mapping(raw) else {})


class _Headers(Mapping[str, str]):
    """Read-only request headers, names lower-cased (text values only).

    Made from a copy of the event's headers taken at normalization; the names are
    lower-cased on first use, as most operations never read a header.
    """

    __slots__ = ("_lower", "_raw")

    def __init__(self, raw: dict[Any, Any]) -> None:
        self._raw = raw
        self._lower: dict[str, str] | None = None

    def _headers(self) -> dict[str, str]:
        lower = self._lower
        if lower is None:
            lower = {str(k).lower(): v for k, v in self._raw.items() if type(v) is str}
            self._lower = lower
        return lower

    def __getitem__(self, name: str) -> str:
        return self._headers()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._headers())

    def __len__(self) -> int:
        return len(self._headers())

    def __contains__(self, name: object) -> bool:
        return name in self._headers()

    def __repr__(self) -> str:
        return repr(self._headers())


def _body(event: Mapping[str, Any]) -> str | None:
    body = event.get("body")
    if body is None:
        return None
    if not isinstance(body, str):
        raise BadRequest(f"the event's body must be a string or null, not {_describe(body)}")
    encoded = event.get("isBase64Encoded", False)
    if not isinstance(encoded, bool):
        raise BadRequest(f"the event's isBase64Encoded must be true or false, not {encoded!r}")
    if not encoded:
        _check_body(body, "the body")
        return body
    try:
        raw = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("the body is marked isBase64Encoded but is not valid base64") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the body must be UTF-8 text") from None


# -------------------------------------------------------------------------
# Text that UTF-8 cannot encode (a lone surrogate, which JSON's \ud800 can carry)
# cannot be stored, logged or answered: it is refused where it arrives, by name.
# -------------------------------------------------------------------------


_SURROGATE = "holds a lone surrogate, which UTF-8 cannot encode"


def _lone_surrogate(text: str) -> bool:
    return not text.isascii() and unencodable(text)  # isascii: no scan, a flag of str


def _refuse(field: str, where: str, text: str) -> BadRequest:
    return BadRequest(
        f"{field} holds text that UTF-8 cannot encode (a lone surrogate): {excerpt(text)}; "
        "send UTF-8 text",
        details=[{"where": where, "what": _SURROGATE}],
    )


def _check_value(value: Any, field: str, where: str) -> None:
    """Refuse a JSON-like value holding text UTF-8 cannot encode, naming where it is.

    Iterative, however deep the value (its depth is refused later, by freezing it);
    the place is spelt out only for text that is refused.
    """
    # Each pending value with its place: (parent place, key), None for ``where``.
    pending: list[tuple[Any, Any]] = [(value, None)]
    while pending:
        current, place = pending.pop()
        if type(current) is str:
            if _lone_surrogate(current):
                raise _refuse(field, _spelt(where, place), current)
        elif _is_mapping(current):
            for name, item in current.items():
                if isinstance(name, str) and _lone_surrogate(name):
                    raise _refuse(f"a name in {field}", _spelt(where, place), name)
                if type(item) is not str or not item.isascii():
                    pending.append((item, (place, f".{name}")))
        elif isinstance(current, list | tuple):
            pending.extend(
                (item, (place, f"[{index}]"))
                for index, item in enumerate(current)
                if type(item) is not str or not item.isascii()
            )


def _spelt(where: str, place: Any) -> str:
    parts: list[str] = []
    while place is not None:
        place, part = place
        parts.append(part)
    return where + "".join(reversed(parts))


def _check_text(
    op: str, params: Mapping[str, Any], headers: Any, *, fields: str = "the query parameter"
) -> None:
    """Refuse a name, parameter or header holding text UTF-8 cannot encode.

    :raises BadRequest: naming the field, its text quoted with escapes.
    """
    if _lone_surrogate(op):
        raise _refuse("the operation name (path)", "path", op)
    for name, value in params.items():
        if _lone_surrogate(name):
            raise _refuse(f"the name of {fields} {excerpt(name)}", "params", name)
        kind = type(value)
        if kind in _NO_TEXT:
            continue
        if kind is str:  # the common case: a query string's value, an SQS text field
            if _lone_surrogate(value):
                raise _refuse(f"{fields} {name!r}", f"params.{name}", value)
            continue
        _check_value(value, f"{fields} {name!r}", f"params.{name}")
    if type(headers) is dict or _is_mapping(headers):
        for name, value in headers.items():
            if isinstance(name, str) and _lone_surrogate(name):
                raise _refuse(f"the name of the header {excerpt(name)}", "headers", name)
            if isinstance(value, str) and _lone_surrogate(value):
                raise _refuse(f"the header {name!r}", f"headers.{name}", value)


#: Types of a JSON value that hold no text to check.
_NO_TEXT = frozenset({int, float, bool, type(None)})


def _check_body(body: str, field: str) -> None:
    if _lone_surrogate(body):
        position = next(i for i, c in enumerate(body) if "\ud800" <= c <= "\udfff")
        raise BadRequest(
            f"{field} holds text that UTF-8 cannot encode (a lone surrogate, character "
            f"{position + 1}); send UTF-8 text",
            details=[{"where": "body", "what": _SURROGATE}],
        )


def event_request_id(event: Any) -> str:
    """The API Gateway request id of an event that may be malformed (a fresh id without one)."""
    context = event.get("requestContext") if _is_mapping(event) else None
    return _request_id(context if _is_mapping(context) else {})


def _request_id(context: Mapping[str, Any]) -> str:
    request_id = context.get("requestId") if context else None
    return request_id if isinstance(request_id, str) and request_id else new_request_id()
