"""Rendering: a :class:`Response` becomes what each caller expects, here and only here.

* API Gateway: a proxy answer (``statusCode`` int, ``headers`` of strings, ``body``
  text, ``isBase64Encoded`` false) that API Gateway always accepts;
* a direct Lambda invocation: the status, headers and the body as JSON data;
* SQS: no answer per message (the batch answer is built by the dispatcher);
* in-process calls: the :class:`Response` itself.

Errors become responses in :func:`error_response`, the one place that shapes them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Set
from typing import Any

from .errors import InteractError, unencodable
from .formats import CONTENT_TYPES, dump, jsonable
from .response import Response

__all__ = [
    "LAMBDA_RESPONSE_LIMIT",
    "error_body",
    "error_response",
    "render_body",
    "to_apigw",
    "to_direct",
    "unexpected_response",
]

#: Lambda refuses a synchronous answer above 6 MB, and API Gateway then answers 502.
#: Leave room for the headers and the JSON envelope around the body.
LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024 - 64 * 1024


def error_body(kind: str, message: str, request_id: str, details: Any = ()) -> dict[str, Any]:
    """The one shape of every error answer.

    Text that UTF-8 cannot encode (a lone surrogate the caller sent, quoted in the
    message or the details) is written with escapes, so that the answer can be sent.
    """
    return {
        "error": {
            "type": kind,
            "message": _sendable(message),
            "details": _sendable(jsonable(details)),
            "request_id": request_id,
        }
    }


def _sendable(value: Any) -> Any:
    """``value`` with each lone surrogate of its text (keys too) written as an escape."""
    if isinstance(value, str):
        if not unencodable(value):
            return value
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_sendable(key): _sendable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_sendable(item) for item in value]
    return value


def error_response(error: InteractError, request_id: str) -> Response:
    """The response for an :class:`InteractError`."""
    return Response(
        body=error_body(error.kind, error.message, request_id, error.details),
        status=error.status,
        headers=error.headers,
    )


def unexpected_response(request_id: str) -> Response:
    """The response for an unexpected failure: no detail, only the id to find the log with."""
    return Response(
        body=error_body(
            "InternalError",
            f"an unexpected error occurred; the log has the details under request id {request_id}",
            request_id,
        ),
        status=500,
    )


def render_body(body: Any, fmt: str) -> tuple[str, str]:
    """Return ``(text, content_type)`` for a response body.

    Mappings and lists are documents in ``fmt`` (``json`` or ``yaml``); text is
    ``text/plain``; other scalars (numbers, booleans, DynamoDB's decimals, dates) are
    written as JSON writes them, in ``text/plain``; ``None`` is an empty body.

    :raises TypeError: a value has no JSON form.
    :raises ValueError: a number is not finite (JSON has no NaN).
    """
    if body is None:
        return "", CONTENT_TYPES["text"]
    if isinstance(body, str):
        return body, CONTENT_TYPES["text"]
    if type(body) is dict or isinstance(body, Mapping | list | tuple | Set):
        fmt = fmt if fmt in ("json", "yaml") else "json"
        return dump(body, fmt), CONTENT_TYPES[fmt]
    scalar = jsonable(body)
    return (scalar if isinstance(scalar, str) else dump(scalar, "json")), CONTENT_TYPES["text"]


def _headers(response: Response, content_type: str, request_id: str) -> dict[str, str]:
    headers = {"Content-Type": content_type, "X-Request-Id": request_id}
    for name, value in response.headers.items():
        headers[str(name)] = str(value)
    return headers


def to_apigw(response: Response, fmt: str, request_id: str) -> dict[str, Any]:
    """Render for API Gateway (REST and HTTP API accept the same proxy answer).

    :raises TypeError: the body holds a value that has no JSON form (a bug in the
        operation: the caller turns it into a 500).
    """
    text, content_type = render_body(response.body, fmt)
    # Lambda sends the whole answer as JSON, where a character may take up to 12 bytes.
    if len(text) * 12 > LAMBDA_RESPONSE_LIMIT:
        size = len(json.dumps(text))
        if size > LAMBDA_RESPONSE_LIMIT:
            return to_apigw(_too_large(size, request_id), "json", request_id)
    return {
        "statusCode": response.status,
        "headers": _headers(response, content_type, request_id),
        "body": text,
        "isBase64Encoded": False,
    }


def to_direct(response: Response, fmt: str, request_id: str) -> dict[str, Any]:
    """Render for a direct Lambda invocation: the body stays JSON data (``fmt`` is unused).

    :raises TypeError: the body holds a value that has no JSON form.
    :raises ValueError: the body holds a number JSON cannot hold (NaN, infinity).
    """
    body = jsonable(response.body)
    size = len(dump(body, "json").encode())
    if size > LAMBDA_RESPONSE_LIMIT:
        return to_direct(_too_large(size, request_id), fmt, request_id)
    content_type = (
        CONTENT_TYPES["text"] if body is None or isinstance(body, str) else CONTENT_TYPES["json"]
    )
    return {
        "statusCode": response.status,
        "headers": _headers(response, content_type, request_id),
        "body": body,
    }


def _too_large(size: int, request_id: str) -> Response:
    return error_response(
        InteractError(
            f"the answer ({size} bytes as Lambda sends it) is larger than what Lambda can "
            "return (6 MB); ask for less"
        ),
        request_id,
    )
