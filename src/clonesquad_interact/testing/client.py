"""A test client that sends real events through the real handler, in-process."""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..dispatcher import Dispatcher
from ..request import Interface
from ..response import Response
from .builders import (
    OPERATOR_IDENTITY,
    Body,
    Params,
    apigw_http_event,
    apigw_rest_event,
    sqs_record,
)

__all__ = ["ClientResponse", "InteractClient"]


class _Default(enum.Enum):
    """The client's own identity, when a request does not name one."""

    IDENTITY = 0


@dataclass(frozen=True)
class ClientResponse:
    """What API Gateway would have sent back to the caller."""

    status_code: int
    headers: Mapping[str, str]
    text: str
    #: The proxy answer the handler returned, as API Gateway received it.
    raw: Mapping[str, Any] = field(repr=False)

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.text)

    def yaml(self) -> Any:
        """The body parsed as YAML."""
        return yaml.safe_load(self.text)

    @property
    def ok(self) -> bool:
        """Whether the status is a success (2xx)."""
        return 200 <= self.status_code < 300

    @property
    def content_type(self) -> str:
        """The ``Content-Type`` header."""
        return self.headers.get("Content-Type", "")


class InteractClient:
    """Calls a dispatcher the way API Gateway, SQS and in-process callers do.

    :param dispatcher: the dispatcher to call; by default one is built with
        ``plugins`` and ``raise_unexpected=True``, so that a bug in an operation
        fails the test with its own traceback instead of a 500.
    :param identity: the caller's ``requestContext.identity`` for API Gateway requests.
    :param http_api: send API Gateway HTTP API (payload 2.0) events instead of REST ones.
    """

    def __init__(
        self,
        dispatcher: Dispatcher | None = None,
        *,
        plugins: Iterable[object] = (),
        identity: Mapping[str, Any] | None = OPERATOR_IDENTITY,
        http_api: bool = False,
        stage: str = "v1",
    ) -> None:
        self.dispatcher = dispatcher or Dispatcher(plugins, raise_unexpected=True)
        self.identity = identity
        self.http_api = http_api
        self.stage = stage

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Body = None,
        headers: Mapping[str, str] | None = None,
        identity: Mapping[str, Any] | _Default | None = _Default.IDENTITY,
    ) -> ClientResponse:
        """Send an API Gateway request for ``path`` (as the caller types it after the stage)."""
        build = apigw_http_event if self.http_api else apigw_rest_event
        event = build(
            method,
            path,
            params=params,
            body=body,
            headers=headers,
            identity=self.identity if identity is _Default.IDENTITY else identity,
            stage=self.stage,
        )
        answer = self.dispatcher.handle(event, None)
        return ClientResponse(
            status_code=answer["statusCode"],
            headers=answer["headers"],
            text=answer["body"],
            raw=answer,
        )

    def get(self, path: str, params: Params | None = None, **kwargs: Any) -> ClientResponse:
        """``GET path``."""
        return self.request("GET", path, params=params, **kwargs)

    def post(
        self, path: str, body: Body = None, params: Params | None = None, **kwargs: Any
    ) -> ClientResponse:
        """``POST path`` with ``body`` (text; bytes are sent base64-encoded; data as JSON)."""
        return self.request("POST", path, params=params, body=body, **kwargs)

    def sqs(
        self, messages: Mapping[str, Any] | str | Sequence[Mapping[str, Any] | str]
    ) -> dict[str, Any]:
        """Deliver one message, or a batch, as an SQS event; returns the batch answer.

        A message is a mapping (sent as JSON), a ``str`` (sent as is) or an already
        built record (from :func:`~clonesquad_interact.testing.sqs_record`, to choose
        its ``messageId``, for example to deliver it again).
        """
        batch = [messages] if isinstance(messages, Mapping | str) else list(messages)
        records = [
            m if isinstance(m, Mapping) and "eventSource" in m else sqs_record(m) for m in batch
        ]
        return self.dispatcher.handle({"Records": records}, None)

    def call(
        self,
        op: str,
        /,
        *,
        method: str = "GET",
        body: str | None = None,
        identity: Mapping[str, Any] | None = None,
        **params: Any,
    ) -> Response:
        """Run an operation in-process (no event built); returns its ``Response``."""
        return self.dispatcher.call(
            op,
            method=method,
            params=params,
            body=body,
            identity=identity,
            interface=Interface.DIRECT,
        )
