"""Logging set-up, for applications only.

The library itself never configures logging: each module takes
``structlog.get_logger(__name__)`` and leaves the configuration to the program
that runs it. The Lambda handler and the command line call
:func:`configure_logging`, which writes one JSON object per line.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import sys
import time
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict

from .formats import json_encoder

__all__ = ["JSONLines", "LineLogger", "configure_logging", "context_var"]


#: ``json.dumps(default=repr, allow_nan=False)``, built once. ASCII output survives
#: any stream (a lone surrogate in a name cannot break the line).
_encode_line = json_encoder(repr, ensure_ascii=True)


class JSONLines:
    """A structlog processor that writes the event as one JSON line, in one step.

    It does what ``merge_contextvars``, ``add_log_level``,
    ``TimeStamper(fmt="iso", utc=True)``, ``format_exc_info`` and ``JSONRenderer``
    do in a chain, at the cost of one call: the request path logs a line for every
    request. Values JSON cannot hold are written as their ``repr``.
    """

    __slots__ = ("_second",)

    def __init__(self) -> None:
        #: (second, its ISO text), replaced as one value so that threads agree.
        self._second: tuple[int, str] = (-1, "")

    def _timestamp(self) -> str:
        now = time.time()
        second, prefix = self._second
        if not 0 <= now - second < 1:
            second = int(now)
            prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = (second, prefix)
        # %d takes the float and keeps whole microseconds, cheaper than int() and a format spec.
        return "%s.%06dZ" % (prefix, (now - second) * 1_000_000)  # noqa: UP031

    def __call__(self, logger: Any, method_name: str, event_dict: EventDict) -> str:
        event_dict = structlog.contextvars.merge_contextvars(logger, method_name, event_dict)
        event_dict["level"] = "warning" if method_name == "warn" else method_name
        event_dict["timestamp"] = self._timestamp()
        if "exc_info" in event_dict:
            event_dict = structlog.processors.format_exc_info(logger, method_name, event_dict)
        try:
            return _encode_line(event_dict)
        except (TypeError, ValueError, RecursionError):  # NaN, keys that are not text, cycles
            return _encode_line({str(k): _loggable(v) for k, v in event_dict.items()})


def context_var(key: str) -> contextvars.ContextVar[Any]:
    """The context variable behind structlog's ``bind_contextvars(key=...)``.

    Setting it is what ``bind_contextvars`` does, and resetting it with the token
    what ``reset_contextvars`` does, without their per-call lookups; structlog keeps
    one variable per key, so ``merge_contextvars``, ``unbind_contextvars`` and
    ``clear_contextvars`` all see the value. For the request path, which sets and
    resets the request ids on every request.
    """
    token = structlog.contextvars.bind_contextvars(**{key: None})[key]
    token.var.reset(token)
    return token.var


def _loggable(value: Any) -> Any:
    if isinstance(value, str | int | bool) or value is None:
        return value
    if isinstance(value, float):
        return (
            value if value == value and value not in (float("inf"), float("-inf")) else repr(value)
        )
    return repr(value)


#: The filtering wrappers ``structlog.make_filtering_bound_logger`` gives for the
#: standard levels (it hands out one class per level), and their levels.
_WRAPPER_LEVELS: dict[Any, int] = {
    structlog.make_filtering_bound_logger(level): level
    for level in (
        logging.NOTSET,
        logging.DEBUG,
        logging.INFO,
        logging.WARNING,
        logging.ERROR,
        logging.CRITICAL,
    )
}
_METHOD_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


#: Keys of the request line that a context variable of the same name does not change.
_REQUEST_KEYS = frozenset(
    {"op", "interface", "method", "status", "duration_ms", "request_id", "operation", "plugin"}
    | {"event"}
)
#: Keys :class:`JSONLines` writes itself, or reads: a context variable so named
#: changes the line's layout, which is then made the long way.
_PROCESSOR_KEYS = frozenset({"level", "timestamp", "exc_info"})
_text = json.encoder.encode_basestring_ascii
_PREFIX = structlog.contextvars.STRUCTLOG_KEY_PREFIX
_PREFIX_LENGTH = len(_PREFIX)


#: How each context variable seen enters the request line: the JSON text before its
#: value (``, "key": ``), ``_SKIP`` (not structlog's, or a key the line has already),
#: or ``_LONG_WAY`` (the line must then be made by :class:`JSONLines`).
_VAR_PARTS: dict[contextvars.ContextVar[Any], str] = {}
_VAR_PARTS_LIMIT = 1024
_SKIP = ""
_LONG_WAY = "\0"


def _var_part(var: contextvars.ContextVar[Any]) -> str:
    name = var.name
    if not name.startswith(_PREFIX):
        part = _SKIP
    else:
        key = name[_PREFIX_LENGTH:]
        part = f", {_text(key)}: "
        if key in _REQUEST_KEYS:
            part = _SKIP
        elif key in _PROCESSOR_KEYS or part in _VAR_PARTS.values():
            part = _LONG_WAY  # a key the processor writes, or a second variable of that name
    if len(_VAR_PARTS) >= _VAR_PARTS_LIMIT:
        # Past the limit nothing is forgotten (a forgotten variable could hide a
        # second one of the same name): a variable not seen yet takes the long way.
        return _LONG_WAY
    _VAR_PARTS[var] = part
    return part


#: Interface and method names as JSON text (a few values, on every line).
_QUOTED: dict[str, str] = {}
_QUOTED_LIMIT = 64


def _quoted(value: str) -> str:
    text = _QUOTED.get(value)
    if text is None:
        text = _text(value)
        if len(_QUOTED) < _QUOTED_LIMIT:
            _QUOTED[value] = text
    return text


def _context_text() -> str | None:
    """What ``merge_contextvars`` adds to the request line, as JSON text (``""``: nothing).

    ``None`` when the long way must make the line: a context key the processor
    owns, or a value JSON cannot hold as it is.
    """
    text = ""
    for var, value in contextvars.copy_context().items():
        part = _VAR_PARTS.get(var)
        if part is None:
            part = _var_part(var)
        if part is _SKIP or value is Ellipsis:
            continue
        if part is _LONG_WAY:
            return None
        if type(value) is str:
            text += part + _text(value)
            continue
        try:
            text += part + _encode_line(value)
        except (TypeError, ValueError, RecursionError):
            return None
    return text


class LineLogger:
    """Logs one line, on the request path, through structlog's current configuration.

    The structlog logger is bound once per configuration, which saves structlog's
    lookup of the configuration on each call. When the configuration is the one
    :func:`configure_logging` installs (its :class:`JSONLines` processor alone, a
    ``WriteLoggerFactory``, a standard-level filtering wrapper, ``dict`` contexts),
    the line is made by that same processor from the same event dict (the fields,
    then ``event``) and written by a logger of that same factory, at the same
    levels: the bytes structlog would write, without its per-call machinery. Any
    other configuration (``structlog.testing.capture_logs()``, which changes the
    processors in place, or a program's own) goes through structlog.
    """

    __slots__ = ("_name", "_served", "_state")

    def __init__(self, name: str) -> None:
        self._name = name
        #: Per (operation, plugin) of the request line, its JSON text.
        self._served: dict[tuple[str, str | None], str] = {}
        #: (configuration key, bound structlog logger, fast path or None)
        self._state: tuple[tuple[Any, ...], Any, tuple[JSONLines, Any, int] | None] = (
            (),
            None,
            None,
        )

    @property
    def direct(self) -> bool:
        """Whether the configuration last seen lets lines skip structlog's call chain."""
        return self._state[2] is not None

    def log(self, method: str, event: str, fields: dict[str, Any]) -> None:
        """Log ``event`` with ``fields`` (taken over) at ``method`` (``"info"``, ``"error"``...)."""
        state = self._current()
        fast = state[2]
        if fast is None:
            getattr(state[1], method)(event, **fields)
            return
        processor, writer, min_level = fast
        if _METHOD_LEVELS[method] < min_level:
            return
        fields["event"] = event
        getattr(writer, method)(processor(writer, method, fields))

    def log_request(
        self,
        method: str,
        op: str,
        interface: str,
        http_method: str,
        status: int,
        duration_ms: float,
        request_id: str,
        operation: str | None = None,
        plugin: str | None = None,
        error: str | None = None,
        exception: BaseException | None = None,
    ) -> None:
        """Log the ``request`` line: what :meth:`log` writes for these fields, in this order.

        ``operation`` and ``plugin`` are left out when ``operation`` is ``None``,
        ``error`` and ``exc_info`` (``exception``) when they are ``None``. On the
        direct path, a served request's line is filled into a template (its
        operation's part written once), as :class:`JSONLines` would write it.
        """
        fast = self._current()[2]
        if (
            fast is not None
            and operation is not None
            and error is None
            and exception is None
            and type(status) is int
            and type(duration_ms) is float
            and duration_ms - duration_ms == 0  # finite: JSONLines writes NaN as text
        ):
            processor, writer, min_level = fast
            if _METHOD_LEVELS[method] < min_level:
                return
            # The layout of a line with no error, filled in: the fields in their order,
            # ``event``, the context, ``level``, ``timestamp``. Made the long way when
            # the context or a value is not one the layout can take.
            context = _context_text()
            if context is not None:
                served = self._served.get((operation, plugin))
                try:
                    if served is None:
                        served = _encode_line({"operation": operation, "plugin": plugin})[1:-1]
                        self._served[(operation, plugin)] = served
                    line = (
                        f'{{"op": {_text(op)}, "interface": {_quoted(interface)}, '
                        f'"method": {_quoted(http_method)}, "status": {status!r}, '
                        f'"duration_ms": {duration_ms!r}, "request_id": {_text(request_id)}, '
                        f'{served}, "event": "request"{context}, "level": "{method}", '
                        f'"timestamp": "{processor._timestamp()}"}}'
                    )
                except (TypeError, ValueError, RecursionError):  # not text where text is due
                    pass
                else:
                    getattr(writer, method)(line)
                    return
        fields: dict[str, Any] = {
            "op": op,
            "interface": interface,
            "method": http_method,
            "status": status,
            "duration_ms": duration_ms,
            "request_id": request_id,
        }
        if operation is not None:
            fields["operation"] = operation
            fields["plugin"] = plugin
        if error is not None:
            fields["error"] = error
        if exception is not None:
            fields["exc_info"] = exception
        self.log(method, "request", fields)

    def _current(self) -> tuple[tuple[Any, ...], Any, tuple[JSONLines, Any, int] | None]:
        """The state for structlog's configuration as it is now (bound again if it changed)."""
        config = structlog.get_config()
        processors = config["processors"]
        # The list itself (configure() replaces it) and its first processor with its
        # length (capture_logs() changes it in place): enough to tell whether the
        # direct path, which needs exactly one JSONLines, still holds.
        key = (
            config["logger_factory"],
            config["wrapper_class"],
            config["context_class"],
            id(processors),
            len(processors),
            processors[0] if processors else None,
        )
        state = self._state
        if key != state[0]:
            state = self._state = self._bind(key, config)
        return state

    def _bind(
        self, key: tuple[Any, ...], config: dict[str, Any]
    ) -> tuple[tuple[Any, ...], Any, tuple[JSONLines, Any, int] | None]:
        processors = config["processors"]
        factory = config["logger_factory"]
        level = _WRAPPER_LEVELS.get(config["wrapper_class"])
        fast: tuple[JSONLines, Any, int] | None = None
        if (
            len(processors) == 1
            and type(processors[0]) is JSONLines
            and type(factory) is structlog.WriteLoggerFactory
            and level is not None
            and config["context_class"] is dict
        ):
            fast = (processors[0], factory(self._name), level)
        return key, structlog.get_logger(self._name).bind(), fast


def configure_logging(
    level: str | int | None = None, *, stream: TextIO | None = None, force: bool = False
) -> None:
    """Log JSON lines (context variables, level, ISO UTC timestamp, tracebacks as text).

    Does nothing if structlog is already configured, unless ``force``.

    :param level: the least level written; default from ``LOG_LEVEL``, else ``INFO``.
    :param stream: where lines go; default standard output (CloudWatch Logs in Lambda).
    """
    if structlog.is_configured() and not force:
        return
    name = level if level is not None else os.environ.get("LOG_LEVEL", "INFO")
    number = (
        name
        if isinstance(name, int)
        else logging.getLevelNamesMapping().get(name.upper(), logging.INFO)
    )
    structlog.configure(
        processors=[JSONLines()],
        wrapper_class=structlog.make_filtering_bound_logger(number),
        logger_factory=structlog.WriteLoggerFactory(stream or sys.stdout),
        # Not cached: a later configuration (force=True, capture_logs in tests) must
        # reach the module loggers that already logged.
        cache_logger_on_first_use=False,
    )
