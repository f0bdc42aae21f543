"""The dispatcher: event in, operation run, answer out.

::

    event -> normalize -> Request -> route -> authorize -> validate -> middleware
          -> operation -> Response -> render

A :class:`Dispatcher` is built once (per warm Lambda container, per test) with
its own plugin manager; routes and schemas are compiled then, and every request
after that only looks things up.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any

import structlog

from .configuration import ConfigurationKey
from .errors import BadRequest, Forbidden, InteractError, PluginError, ServiceUnavailable
from .events import (
    EventKind,
    classify,
    event_request_id,
    from_apigw_http,
    from_apigw_rest,
    from_direct_event,
    from_sqs_record,
)
from .manager import PluginSet, load_plugins
from .middleware import Middleware, chain
from .operation import Operation
from .rendering import error_response, to_apigw, to_direct, unexpected_response
from .request import Interface, Request, freeze
from .response import Response
from .routing import Match, Router
from .validation import InputSchema, SchemaStore

__all__ = ["Dispatcher"]

logger = structlog.get_logger(__name__)

_NORMALIZERS = MappingProxyType(
    {
        EventKind.APIGW_REST: from_apigw_rest,
        EventKind.APIGW_HTTP: from_apigw_http,
        EventKind.DIRECT: from_direct_event,
    }
)

#: AWS error codes that mean "slow down": the message is retried later.
_THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "SlowDown",
        "LimitExceededException",
        "TransactionInProgressException",
    }
)


class Dispatcher:
    """Routes requests to the operations that plugins contribute.

    :param plugins: plugin objects (modules, classes, instances) to register after
        the built-ins, the entry points and ``CLONESQUAD_INTERACT_PLUGINS``.
    :param block: plugin names not to load.
    :param environ: where ``CLONESQUAD_INTERACT_*`` settings are read (default ``os.environ``).
    :param builtins: whether to load the built-in plugins.
    :param entry_points: whether to load plugins from installed distributions.
    :param raise_unexpected: re-raise unexpected exceptions instead of answering
        500 (test clients set it so that a bug fails the test where it happens).
    :raises PluginError: a plugin cannot be loaded, or the contributions conflict.
    """

    def __init__(
        self,
        plugins: Iterable[object] = (),
        *,
        block: Iterable[str] = (),
        environ: Mapping[str, str] | None = None,
        builtins: bool = True,
        entry_points: bool = True,
        raise_unexpected: bool = False,
    ) -> None:
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.raise_unexpected = raise_unexpected
        self.plugins: PluginSet = load_plugins(
            plugins, environ=self.environ, block=block, builtins=builtins, entry_points=entry_points
        )
        self.router = Router(
            replace(operation, plugin=name)
            for name, operation in self.plugins.contributions("register_operations", Operation)
        )
        store = SchemaStore()
        self._schemas: dict[Operation, InputSchema] = {
            operation: store.compile(operation) for operation in self.router.operations
        }
        self.configuration_keys: Mapping[str, ConfigurationKey] = _keys(
            self.plugins.contributions("register_configuration_keys", ConfigurationKey)
        )
        middlewares: list[Middleware] = []
        for name, middleware in self.plugins.contributions("register_middleware", object):
            if not callable(middleware):
                raise PluginError(
                    f"plugin {name!r} returned {middleware!r} as middleware; it is not callable"
                )
            middlewares.append(middleware)
        self._run = chain(middlewares, _invoke)
        authorize = self.plugins.manager.hook.authorize_request
        self._authorize = authorize if authorize.get_hookimpls() else None
        self._log: Any = None

    @property
    def operations(self) -> tuple[Operation, ...]:
        """Every registered operation."""
        return self.router.operations

    def schema(self, operation: Operation) -> dict[str, Any]:
        """A copy of the checked schema of ``operation``, as validation uses it."""
        return copy.deepcopy(self._schemas[operation].schema)

    # ---------------------------------------------------------------------
    # Entry points
    # ---------------------------------------------------------------------

    def handle(self, event: Any, context: Any = None) -> dict[str, Any]:
        """Serve one Lambda event; never raises (unless ``raise_unexpected``).

        :returns: an API Gateway proxy answer, an SQS ``batchItemFailures`` answer,
            or for a direct invocation ``{"statusCode", "headers", "body"}``.
        """
        kind: EventKind | None = None
        try:
            kind = classify(event)
            if kind is EventKind.SQS:
                return self._handle_sqs(event["Records"])
            request = _NORMALIZERS[kind](event)
        except InteractError as error:
            return self._unusable_event(event, kind, error)
        except Exception:
            if self.raise_unexpected:
                raise
            return self._unusable_event(event, kind, None)
        response = self.dispatch(request)
        fmt = request.format if response.status < 400 else "json"
        try:
            if kind is EventKind.DIRECT:
                return to_direct(response, request.request_id)
            return to_apigw(response, fmt, request.request_id)
        except Exception:
            logger.exception("answer cannot be rendered", request_id=request.request_id)
            if self.raise_unexpected:
                raise
            return to_apigw(unexpected_response(request.request_id), "json", request.request_id)

    def _unusable_event(
        self, event: Any, kind: EventKind | None, error: InteractError | None
    ) -> dict[str, Any]:
        """Answer an event that cannot become a request (``error`` None: a bug of ours)."""
        request_id = event_request_id(event)
        response = (
            error_response(error, request_id)
            if error is not None
            else unexpected_response(request_id)
        )
        fields = {
            "kind": kind.value if kind is not None else "unknown",
            "status": response.status,
            "request_id": request_id,
        }
        if error is None:
            logger.exception("event rejected", **fields)
        elif kind is None:  # not an event of ours: a trigger is misconfigured
            logger.error("event rejected", error=error.message, **fields)
        else:
            logger.warning("event rejected", error=error.message, **fields)
        if kind is EventKind.DIRECT:
            return to_direct(response, request_id)
        return to_apigw(response, "json", request_id)

    def call(
        self,
        op: str,
        *,
        method: str = "GET",
        params: Mapping[str, Any] | None = None,
        body: str | None = None,
        identity: Mapping[str, Any] | None = None,
        interface: Interface = Interface.DIRECT,
    ) -> Response:
        """Run an operation in-process, with no event built, and return its :class:`Response`."""
        request = Request(
            op=op,
            interface=interface,
            method=method.upper(),
            params=freeze(params or {}),
            body=body,
            identity=freeze(identity) if identity is not None else None,
        )
        return self.dispatch(request)

    def dispatch(self, request: Request) -> Response:
        """Route, authorize, validate and run ``request``; errors become responses.

        Logs one line per request: operation, interface, method, status, duration,
        request id, the plugin that served it, and for a failure its error (with the
        traceback of an unexpected one).
        """
        started = time.perf_counter()
        tokens = structlog.contextvars.bind_contextvars(request_id=request.request_id)
        try:
            response, operation, error, exception = self._serve(request)
            fields: dict[str, Any] = {
                "op": request.op,
                "interface": request.interface.value,
                "method": request.method,
                "status": response.status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                "request_id": request.request_id,
            }
            if operation is not None:
                fields["operation"] = operation.name
                fields["plugin"] = operation.plugin
            if error is not None:
                fields["error"] = error.message
            if exception is not None:
                fields["exc_info"] = exception
            log = self._request_logger()
            if response.status >= 500:
                log.error("request", **fields)
            else:
                log.info("request", **fields)
        finally:
            structlog.contextvars.reset_contextvars(**tokens)
        if exception is not None and error is None and self.raise_unexpected:
            raise exception
        return response

    def _request_logger(self) -> Any:
        """The logger of the per-request line, bound on first use (it is on every request's path).

        Bound after the application configured logging, and it follows
        ``capture_logs()``, which changes the configured processors in place.
        """
        if self._log is None:
            self._log = structlog.get_logger(__name__).bind()
        return self._log

    def _serve(
        self, request: Request
    ) -> tuple[Response, Operation | None, InteractError | None, Exception | None]:
        """The pipeline's steps: the response, the operation, the error and the exception."""
        operation: Operation | None = None
        try:
            match = self.router.resolve(request.op, request.interface, request.method)
            operation = match.operation
            if self._authorize is not None:
                routed = replace(
                    request, path_args=match.args, path_params=match.kwargs, dispatcher=self
                )
                self._check_authorization(routed, operation)
            params, parsed_body = self._schemas[operation].validate(request, operation)
            request = _routed(request, match, params, parsed_body, self)
            return self._run(request, operation), operation, None, None
        except InteractError as error:
            return error_response(error, request.request_id), operation, error, None
        except Exception as exc:
            mapped = _aws_error(exc)
            if mapped is not None:
                return error_response(mapped, request.request_id), operation, mapped, exc
            return unexpected_response(request.request_id), operation, None, exc

    # ---------------------------------------------------------------------
    # Steps
    # ---------------------------------------------------------------------

    def _check_authorization(self, request: Request, operation: Operation) -> None:
        assert self._authorize is not None
        decisions = self._authorize(request=request, operation=operation)
        if any(decision is False for decision in decisions):
            raise Forbidden(
                f"the caller may not run operation {operation.name!r} (denied by an "
                "authorization plugin)"
            )

    def _handle_sqs(self, records: list[Any]) -> dict[str, Any]:
        """Serve each record; answer the ones to receive again (``batchItemFailures``)."""
        failures: list[dict[str, str]] = []
        for record in records:
            message_id = record.get("messageId") if isinstance(record, Mapping) else None
            if not self._serve_record(record, message_id):
                # An unusable id makes Lambda return the whole batch: nothing is lost.
                failures.append(
                    {"itemIdentifier": message_id if isinstance(message_id, str) else ""}
                )
        return {"batchItemFailures": failures}

    def _serve_record(self, record: Any, message_id: Any) -> bool:
        """Serve one SQS record; ``False`` if it should come back (a retryable failure).

        A record that can never succeed is logged whole, with its message id, and
        acknowledged.
        """
        op: str | None = None
        try:
            request = from_sqs_record(record)
            op = request.op
            response = self.dispatch(request)
        except BadRequest as error:
            status, message = error.status, error.message
        except Exception:
            if self.raise_unexpected:
                raise
            logger.exception("sqs.record", message_id=message_id, outcome="retry", record=record)
            return False
        else:
            if response.ok:
                logger.info("sqs.record", message_id=message_id, op=op, outcome="done")
                return True
            status, message = response.status, _message(response)
        if status >= 500 or status == 429:
            logger.warning(
                "sqs.record", message_id=message_id, op=op, outcome="retry", status=status
            )
            return False
        logger.error(
            "sqs.record",
            message_id=message_id,
            op=op,
            outcome="failed",
            status=status,
            error=message,
            record=record,
        )
        return True


def _routed(
    request: Request,
    match: Match,
    params: Mapping[str, Any],
    parsed_body: Any,
    dispatcher: Dispatcher,
) -> Request:
    """The request as the operation sees it (built directly: it is on every request's path)."""
    return Request(
        op=request.op,
        interface=request.interface,
        method=request.method,
        params=params,
        body=request.body,
        identity=request.identity,
        request_id=request.request_id,
        path_args=match.args,
        path_params=match.kwargs,
        parsed_body=parsed_body,
        headers=request.headers,
        raw_event=request.raw_event,
        dispatcher=dispatcher,
    )


def _invoke(request: Request, operation: Operation) -> Response:
    result = operation.handler(request)
    return result if isinstance(result, Response) else Response(body=result)


def _keys(contributions: list[tuple[str, Any]]) -> Mapping[str, ConfigurationKey]:
    keys: dict[str, ConfigurationKey] = {}
    for name, key in contributions:
        other = keys.get(key.key)
        if other is not None:
            first, second = sorted((other.plugin, name))
            raise PluginError(
                f"configuration key {key.key!r} is declared by two plugins: "
                f"{first!r} and {second!r}"
            )
        keys[key.key] = replace(key, plugin=name)
    return MappingProxyType(keys)


def _aws_error(exc: Exception) -> InteractError | None:
    """Map AWS throttling and connection trouble to a retryable 503; others are unexpected."""
    if not type(exc).__module__.startswith("botocore"):
        return None
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _THROTTLING_CODES:
            return ServiceUnavailable(f"AWS is throttling requests ({code}); try again shortly")
        return None
    if isinstance(exc, ConnectionError | HTTPClientError):
        return ServiceUnavailable(
            f"an AWS service could not be reached ({type(exc).__name__}); try again shortly"
        )
    return None


def _message(response: Response) -> Any:
    body = response.body
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        return body["error"].get("message")
    return body
