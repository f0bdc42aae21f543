"""AWS faults injected into the real boto3 clients with botocore's events.

A fault answers a call with the HTTP status and error body the service would send,
before anything is sent; botocore parses it, and its own retries run, exactly as
they would against AWS.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import (
    BotoCoreError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)


class _Raw:
    """The raw body botocore reads from an ``AWSResponse``."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


@dataclass(frozen=True)
class Fault:
    """An AWS error class: the HTTP status and the error code the service answers."""

    status: int
    code: str


@dataclass(frozen=True)
class Raised:
    """A fault that never gets an answer: botocore raises ``error`` (a timeout, a
    connection that cannot be made), as its HTTP layer would."""

    error: type[BotoCoreError]

    @property
    def code(self) -> str:
        return self.error.__name__

    def exception(self, url: str) -> BotoCoreError:
        return self.error(endpoint_url=url, error=MESSAGE)


#: One fault of each class the library must tell apart.
THROTTLING = Fault(400, "ThrottlingException")
THROUGHPUT = Fault(400, "ProvisionedThroughputExceededException")
INTERNAL_SERVER_ERROR = Fault(500, "InternalServerError")
SERVICE_UNAVAILABLE = Fault(503, "ServiceUnavailable")
ACCESS_DENIED = Fault(400, "AccessDeniedException")
VALIDATION = Fault(400, "ValidationException")
FAULTS = (THROTTLING, THROUGHPUT, INTERNAL_SERVER_ERROR, SERVICE_UNAVAILABLE, ACCESS_DENIED)
#: EC2's throttling (its query protocol answers 503).
EC2_THROTTLING = Fault(503, "RequestLimitExceeded")
READ_TIMEOUT = Raised(ReadTimeoutError)
CONNECT_TIMEOUT = Raised(ConnectTimeoutError)
UNREACHABLE = Raised(EndpointConnectionError)
#: Every class: throttling, a service's 5xx, timeouts and unreachable endpoints (worth
#: retrying: 503 with Retry-After), access denied and a refused request (permanent).
ALL_FAULTS: tuple[Fault | Raised, ...] = (
    *FAULTS,
    VALIDATION,
    READ_TIMEOUT,
    CONNECT_TIMEOUT,
    UNREACHABLE,
)
#: One of each class (a timeout and an unreachable endpoint stand for the connection errors).
CLASSES: tuple[Fault | Raised, ...] = (
    THROTTLING,
    INTERNAL_SERVER_ERROR,
    SERVICE_UNAVAILABLE,
    READ_TIMEOUT,
    UNREACHABLE,
    ACCESS_DENIED,
    VALIDATION,
)
#: The faults a later try may not meet.
TRANSIENT = frozenset(
    {THROTTLING, THROUGHPUT, INTERNAL_SERVER_ERROR, SERVICE_UNAVAILABLE}
    | {READ_TIMEOUT, CONNECT_TIMEOUT, UNREACHABLE}
)

MESSAGE = "secret AWS message text that must never reach a caller"


def _response(fault: Fault, request: Any, protocol: str) -> AWSResponse:
    """The error answer as the service's protocol writes it."""
    headers = HTTPHeaders()
    if protocol == "ec2":
        body = (
            f"<Response><Errors><Error><Code>{fault.code}</Code><Message>{MESSAGE}</Message>"
            "</Error></Errors><RequestID>fault</RequestID></Response>"
        ).encode()
        headers["Content-Type"] = "text/xml"
    elif protocol in ("query", "rest-xml"):
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{fault.code}</Code>"
            f"<Message>{MESSAGE}</Message></Error><RequestId>fault</RequestId></ErrorResponse>"
        ).encode()
        headers["Content-Type"] = "text/xml"
    else:
        body = json.dumps(
            {"__type": f"com.amazonaws.dynamodb.v20120810#{fault.code}", "message": MESSAGE}
        ).encode()
        headers["x-amzn-ErrorType"] = fault.code
        headers["Content-Type"] = "application/x-amz-json-1.0"
    return AWSResponse(request.url, fault.status, headers, _Raw(body))


@contextmanager
def injected(
    client: Any,
    operations: set[str],
    fault: Fault | Raised,
    *,
    when: Callable[[int], bool] = lambda n: True,
) -> Iterator[list[str]]:
    """Answer ``client``'s calls of ``operations`` with ``fault`` (the ``n``-th call, from
    0, when ``when(n)``); yields the list of calls made, faulty or not."""
    made: list[str] = []
    urls: dict[int, str] = {}
    protocol = client.meta.service_model.protocol

    def send(request: Any, **kwargs: Any) -> AWSResponse | None:
        name = kwargs.get("event_name", "").rsplit(".", 1)[-1]
        if name not in operations:
            return None
        request.url = urls.setdefault(id(request), request.url)
        made.append(name)
        if not when(len(made) - 1):
            return None
        # Every before-send handler runs: moto's must not see the call it did not get.
        url, request.url = request.url, "https://fault.invalid/"
        if isinstance(fault, Raised):
            raise fault.exception(url)
        return _response(fault, request, protocol)

    client.meta.events.register_first("before-send", send, unique_id="inject-fault")
    try:
        yield made
    finally:
        client.meta.events.unregister("before-send", unique_id="inject-fault")
