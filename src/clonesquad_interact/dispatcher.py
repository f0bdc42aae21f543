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
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

import structlog

from .aws import AWS, deadline_of, reset_deadline, set_deadline
from .cache import ResponseCache
from .configuration import ConfigurationKey
from .deployment import Deployment
from .emf import RequestMetrics
from .errors import (
    Forbidden,
    InteractError,
    PluginError,
    ScheduledEventFailed,
    from_aws,
    logged_name,
)
from .events import (
    EventKind,
    classify,
    event_request_id,
    from_apigw_http,
    from_apigw_rest,
    from_direct_event,
)
from .layers import LayeredConfiguration
from .log import CachedLogger
from .manager import PluginSet, load_plugins
from .middleware import Middleware, chain
from .operation import Operation
from .rendering import error_response, to_apigw, to_direct, unexpected_response
from .request import Interface, Request, freeze
from .response import Response, answer
from .routing import LENIENT_SETTING, Router
from .settings import Settings
from .sqs import all_failed, handle_batch, sender_allowlist
from .tables import KeyValueTable
from .validation import InputSchema, SchemaStore

__all__ = ["Dispatcher"]

logger = structlog.get_logger(__name__)
#: The logger of the request line, written for every request.
request_logger = CachedLogger(__name__)

_NORMALIZERS = MappingProxyType(
    {
        EventKind.APIGW_REST: from_apigw_rest,
        EventKind.APIGW_HTTP: from_apigw_http,
        EventKind.DIRECT: from_direct_event,
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
    :param aws: the boto3 clients to use (default: created on first use, from ``environ``).
    :param lazy_schemas: compile each operation's schema when it first runs, and check
        it with jsonschema when jsonschema is first needed for it (the Lambda handler's
        choice: a cold container does only the work its requests need, and valid input
        for a schema within the compiled check never imports jsonschema; a broken schema
        found then answers 500 and logs why). By default every schema is checked when
        the dispatcher is built, so that tests find a broken one.
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
        aws: AWS | None = None,
        lazy_schemas: bool = False,
    ) -> None:
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.raise_unexpected = raise_unexpected
        #: The deployment settings (``GroupName``, table names...), read once.
        self.settings = Settings(self.environ)
        #: boto3 clients, created on first use.
        self.aws = aws if aws is not None else AWS(self.environ)
        #: Per-operation metrics in the request lines (EMF), when configured.
        self.metrics = RequestMetrics.from_environ(self.environ)
        #: The SQS senders whose messages are run (``CLONESQUAD_INTERACT_SQS_SENDERS``).
        self.sqs_senders = sender_allowlist(self.environ)
        self.plugins: PluginSet = load_plugins(
            plugins, environ=self.environ, block=block, builtins=builtins, entry_points=entry_points
        )
        #: API Gateway names matched as CloneSquad matches them (``LENIENT_SETTING``).
        self.lenient = _enabled(self.environ.get(LENIENT_SETTING))
        self.router = Router(
            (
                replace(operation, plugin=name)
                for name, operation in self.plugins.contributions("register_operations", Operation)
            ),
            lenient=self.lenient,
        )
        self._store = SchemaStore(check=not lazy_schemas)
        self._schemas: dict[Operation, InputSchema] = {}
        if not lazy_schemas:
            for operation in self.router.operations:
                self._schema_of(operation)
        self.configuration_keys: Mapping[str, ConfigurationKey] = MappingProxyType(
            {
                name: replace(key, plugin=plugin)
                for name, (plugin, key) in self.plugins.named_contributions(
                    "register_configuration_keys",
                    ConfigurationKey,
                    lambda key: key.key,
                    "configuration key {name} is declared",
                    gives_way=lambda key: key.catalogued,
                ).items()
            }
        )
        #: The effective configuration (defaults, ``ConfigurationURLs``, the table).
        self.configuration = LayeredConfiguration(self.configuration_keys, self.settings, self.aws)
        middlewares: list[Middleware] = []
        for name, middleware in self.plugins.contributions("register_middleware", object):
            if not callable(middleware):
                raise PluginError(
                    f"plugin {name!r} returned {middleware!r} as middleware; it is not callable"
                )
            middlewares.append(middleware)
        #: Answers of the operations declared cacheable, kept for the warm container.
        self.cache = ResponseCache()
        self._run = chain([*middlewares, self.cache], _invoke)
        #: The chain without the cache, for the requests it has nothing to do for.
        self._run_uncached = chain(middlewares, _invoke)
        authorize = self.plugins.manager.hook.authorize_request
        self._authorize = authorize if authorize.get_hookimpls() else None
        #: What operations use: settings, configuration, tables, clients, the clock.
        self.deployment = Deployment(
            self.settings,
            self.configuration,
            self.aws,
            operations=self.router.operations,
            plugins=self.plugins.describe,
            access=self._allows,
        )

    @property
    def operations(self) -> tuple[Operation, ...]:
        """Every registered operation."""
        return self.router.operations

    def table(
        self,
        setting: str,
        *,
        hash_key: str = "Key",
        clock: Callable[[], float] = time.time,
    ) -> KeyValueTable:
        """The DynamoDB table named by ``setting`` (``"SchedulerTable"``...).

        :raises SettingMissing: the setting is not configured (a 500 that names it).
        """
        return self.deployment.table(setting, hash_key=hash_key, clock=clock)

    def schema(self, operation: Operation) -> dict[str, Any]:
        """A copy of the checked schema of ``operation``, as validation uses it.

        :raises PluginError: the schema cannot be read or is not a valid JSON Schema.
        """
        compiled = self._schema_of(operation)
        compiled.check()
        return copy.deepcopy(compiled.schema)

    def _schema_of(self, operation: Operation) -> InputSchema:
        """The checked, compiled schema of ``operation`` (checked on first use).

        :raises PluginError: the schema cannot be read or is not a valid JSON Schema.
        """
        schema = self._schemas.get(operation)
        if schema is None:
            schema = self._schemas[operation] = self._store.compile(operation)
        return schema

    # ---------------------------------------------------------------------
    # Entry points
    # ---------------------------------------------------------------------

    def handle(self, event: Any, context: Any = None) -> dict[str, Any]:
        """Serve one Lambda event; never raises (unless ``raise_unexpected``), but for
        a scheduled event whose actions failed in a way worth trying again.

        :returns: an API Gateway proxy answer, an SQS ``batchItemFailures`` answer,
            for a direct invocation ``{"statusCode", "headers", "body"}``, and for an
            EventBridge scheduled event what its entries did.
        :raises ScheduledEventFailed: so that Lambda's retry of asynchronous
            invocations runs the scheduled event again.
        """
        token = set_deadline(deadline_of(context))
        try:
            return self._handle(event)
        finally:
            reset_deadline(token)

    def _handle(self, event: Any) -> dict[str, Any]:
        kind: EventKind | None = None
        try:
            kind = classify(event)
            if kind is EventKind.SQS:
                return handle_batch(self, event["Records"])
            if kind is EventKind.SCHEDULED:
                from .scheduled import handle_scheduled  # imported for scheduled events only

                return handle_scheduled(self, event)
            request = _NORMALIZERS[kind](event)
        except ScheduledEventFailed:
            raise  # Lambda runs the asynchronous invocation again
        except InteractError as error:
            return self._unusable_event(event, kind, error)
        except Exception:
            if self.raise_unexpected:
                raise
            if kind is EventKind.SQS:
                logger.exception("sqs batch failed; every message goes back to the queue")
                return all_failed(event["Records"])
            return self._unusable_event(event, kind, None)
        render = to_direct if kind is EventKind.DIRECT else to_apigw
        rendered = self._process(request, render)[1]
        assert rendered is not None
        return rendered

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
        return self._process(request, None)[0]

    def authorize(self, request: Request) -> None:
        """Refuse what the authorization plugins refuse, without running anything: for
        work done without an operation of its own (a scheduled event's configuration
        write is authorized as ``POST configuration/<key>``). Nothing is checked, or
        routed, when no plugin authorizes requests.

        :raises Forbidden: a plugin denies it.
        :raises NotFound: no operation serves the name (nothing to authorize it as).
        """
        if self._authorize is None:
            return
        match = self.router.resolve(request.op, request.interface, request.method)
        routed = replace(
            request,
            path_args=match.args,
            path_params=match.kwargs,
            deployment=self.deployment,
        )
        self._check_authorization(routed, match.operation)

    def dispatch_quietly(self, request: Request) -> tuple[Response, dict[str, Any]]:
        """:meth:`dispatch`, leaving the request's line to the caller: the response and the
        line's fields (an SQS message's line carries them, with the message's outcome).

        The line is written here all the same when an unexpected exception is about to
        be raised (``raise_unexpected``).
        """
        response, _, fields = self._process(request, None, quiet=True)
        return response, fields

    # ---------------------------------------------------------------------
    # Steps
    # ---------------------------------------------------------------------

    def _process(
        self, request: Request, render: Renderer | None, *, quiet: bool = False
    ) -> tuple[Response, dict[str, Any] | None, dict[str, Any]]:
        """Serve, render (when ``render`` is given), then log the request's line (unless
        ``quiet``): the response, the rendered answer and the line's fields.

        Rendering happens before the line is written, so that the line tells the
        status the caller really gets.
        """
        started = time.perf_counter_ns()
        tokens = structlog.contextvars.bind_contextvars(request_id=request.request_id)
        sent = request.op
        ignored: tuple[str, ...] = ()
        try:
            if self.lenient and request.interface is Interface.APIGW:
                request, ignored = self._lenient(request)
            response, operation, error, exception = self._serve(request)
            if ignored:
                response = replace(
                    response, headers={**response.headers, IGNORED_HEADER: _names(ignored)}
                )
            rendered = None
            if render is not None:
                fmt = request.format if response.status < 400 else "json"
                try:
                    rendered = render(response, fmt, request.request_id)
                except Exception as exc:  # the operation answered what cannot be sent
                    response, error, exception = unexpected_response(request.request_id), None, exc
                    rendered = render(response, "json", request.request_id)
            fields = self._request_line(
                request, response, operation, error, exception, started, sent
            )
            raising = exception is not None and error is None and self.raise_unexpected
            if raising or not quiet:
                _write_request_line(fields, response.status)
        finally:
            structlog.contextvars.reset_contextvars(**tokens)
        if raising:
            assert exception is not None
            raise exception
        return response, rendered, fields

    def _serve(
        self, request: Request
    ) -> tuple[Response, Operation | None, InteractError | None, Exception | None]:
        """The pipeline's steps: the response, the operation, the error and the exception.

        The operation gets a new request: the one given, with what routing and
        validation found, and the deployment.
        """
        operation: Operation | None = None
        try:
            match = self.router.resolve(request.op, request.interface, request.method)
            operation = match.operation
            if self._authorize is not None:
                routed = replace(
                    request,
                    op=self.router.routed_name(request.op, match)
                    if request.interface is Interface.SQS
                    else request.op,
                    path_args=match.args,
                    path_params=match.kwargs,
                    deployment=self.deployment,
                )
                self._check_authorization(routed, operation)
            params, parsed_body = self._schema_of(operation).validate(request, operation)
            request = replace(
                request,
                params=params,
                path_args=match.args,
                path_params=match.kwargs,
                parsed_body=parsed_body,
                deployment=self.deployment,
            )
            run = self._run if ResponseCache.needed(request, operation) else self._run_uncached
            response = run(request, operation)
            if not isinstance(response, Response):
                raise TypeError(
                    f"a middleware of operation {operation.title!r} answered {response!r}, "
                    "not a Response"
                )
            return response, operation, None, None
        except InteractError as error:
            try:
                return error_response(error, request.request_id), operation, error, None
            except Exception as exc:  # the error itself cannot be answered (headers, details)
                return unexpected_response(request.request_id), operation, None, exc
        except Exception as exc:
            mapped = from_aws(exc)
            if mapped is not None:
                return error_response(mapped, request.request_id), operation, mapped, exc
            return unexpected_response(request.request_id), operation, None, exc

    def _request_line(
        self,
        request: Request,
        response: Response,
        operation: Operation | None,
        error: InteractError | None,
        exception: Exception | None,
        started: int,
        sent: str | None = None,
    ) -> dict[str, Any]:
        """The fields of the request's line."""
        fields: dict[str, Any] = {
            "op": logged_name(request.op),
            "interface": request.interface.value,
            "method": request.method,
            "status": response.status,
            "duration_ms": (time.perf_counter_ns() - started) // 1000 / 1000,
            "request_id": request.request_id,
        }
        if sent is not None and sent != request.op:
            fields["sent"] = logged_name(sent)
        if operation is not None:
            fields["operation"] = operation.title
            fields["plugin"] = operation.plugin
        if error is not None:
            fields["error"] = error.message
        if exception is not None:
            fields["exc_info"] = exception
        if self.metrics is not None:
            title = operation.title if operation is not None else "(unrouted)"
            fields.update(
                self.metrics.fields(
                    title, fields["interface"], response.status, fields["duration_ms"]
                )
            )
        return fields

    def _lenient(self, request: Request) -> tuple[Request, tuple[str, ...]]:
        """``request`` named as routed and without the query parameters its operation
        does not take, and those parameters' names (lenient names)."""
        name = self.router.lenient_name(request.op)
        if name is not None and name != request.op:
            request = replace(request, op=name)
        if not request.params:
            return request, ()
        try:
            operation = self.router.resolve(request.op, request.interface, request.method).operation
            known = self._schema_of(operation).param_names
        except Exception:  # no route, or a broken schema: serving says what is wrong
            return request, ()
        if known is None:
            return request, ()
        ignored = tuple(name for name in request.params if name not in known)
        if ignored:
            kept = {name: value for name, value in request.params.items() if name in known}
            request = replace(request, params=MappingProxyType(kept))
        return request, ignored

    def _allows(self, request: Request, action: str, resource: str) -> bool:
        """Denied unless some ``authorize_access`` implementation returns ``True``, and none
        returns ``False``."""
        hook = self.plugins.manager.hook.authorize_access
        decisions = hook(request=request, action=action, resource=resource)
        return any(d is True for d in decisions) and not any(d is False for d in decisions)

    def _check_authorization(self, request: Request, operation: Operation) -> None:
        assert self._authorize is not None
        decisions = self._authorize(request=request, operation=operation)
        if any(decision is False for decision in decisions):
            raise Forbidden(
                f"the caller may not run operation {operation.title!r} (denied by an "
                "authorization plugin)"
            )

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
        render = to_direct if kind is EventKind.DIRECT else to_apigw
        return render(response, "json", request_id)


def _write_request_line(fields: dict[str, Any], status: int) -> None:
    try:
        if status >= 500:
            request_logger.get().error("request", **fields)
        else:
            request_logger.get().info("request", **fields)
    except Exception as exc:  # a broken log must not break the answer
        print(f"clonesquad-interact: the request line cannot be logged: {exc!r}", file=sys.stderr)


#: The answer header naming the query parameters lenient names ignored.
IGNORED_HEADER = "X-Clonesquad-Ignored-Parameters"
#: The longest value of :data:`IGNORED_HEADER`.
_IGNORED_LENGTH = 1000


def _enabled(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _names(names: Iterable[str]) -> str:
    """Parameter names for a header: percent-encoded (any text can be sent), comma-joined,
    cut after :data:`_IGNORED_LENGTH` characters."""
    text = ", ".join(quote(name, safe="", errors="backslashreplace") for name in names)
    return text if len(text) <= _IGNORED_LENGTH else f"{text[: _IGNORED_LENGTH - 3]}..."


#: ``render(response, format, request_id)``: the answer in the caller's shape.
Renderer = Callable[[Response, str, str], dict[str, Any]]


def _invoke(request: Request, operation: Operation) -> Response:
    result = operation.handler(request)
    return result if isinstance(result, Response) else answer(result)
