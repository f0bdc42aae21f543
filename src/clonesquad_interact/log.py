"""Logging set-up, for applications only, and the loggers of the lines every request writes.

The library itself never configures logging: each module takes
``structlog.get_logger(__name__)`` (or, for the line every request writes, a
:class:`CachedLogger`) and leaves the configuration to the program that runs it.
The Lambda handler and the command line call :func:`configure_logging`, which
writes one JSON object per line, with structlog's documented fast path: an orjson
serializer, a bytes logger and a filtering bound logger.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from typing import Any, TextIO

import orjson
import structlog
from structlog.typing import EventDict, Processor

__all__ = ["CachedLogger", "configure_logging", "dumps_line"]


class CachedLogger:
    """A module's logger, bound once per structlog configuration.

    structlog's lazy proxy (``structlog.get_logger()``) binds a new logger on every
    call, unless loggers are cached on first use; and a logger cached that way keeps
    the configuration it was made under for good. This one keeps its bound logger
    while ``structlog.get_config()`` shows the same processors, wrapper class,
    logger factory and context class (what a bound logger is made of), and binds a
    new one when any of them changes, so that a later configuration
    (``configure_logging(force=True)``, a program's own ``structlog.configure``,
    ``structlog.testing.capture_logs()``) reaches the next line.

    :param name: the logger's name (the module's ``__name__``).
    """

    __slots__ = ("_bound", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        #: (what the logger was made of, the logger), replaced as a whole.
        self._bound: tuple[tuple[Any, ...], Any] | None = None

    def get(self) -> Any:
        """The bound logger of the current configuration."""
        config = structlog.get_config()
        bound = self._bound
        if bound is not None:
            processors, wrapper_class, logger_factory, context_class = bound[0]
            if (
                config["processors"] is processors
                and config["wrapper_class"] is wrapper_class
                and config["logger_factory"] is logger_factory
                and config["context_class"] is context_class
            ):
                return bound[1]
        made_of = (
            config["processors"],
            config["wrapper_class"],
            config["logger_factory"],
            config["context_class"],
        )
        logger = structlog.get_logger(self._name).bind()
        self._bound = (made_of, logger)
        return logger


def dumps_line(event_dict: EventDict, **_: Any) -> bytes:
    """The event as one JSON object: values JSON cannot hold are written as their ``repr``.

    orjson first; what it refuses (a cycle, an integer past 64 bits, a lone
    surrogate in a name) the standard library writes, in ASCII, and a value even
    that refuses becomes its ``repr``. A log line is never lost to its content.
    """
    try:
        return orjson.dumps(event_dict, default=repr, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        pass
    try:
        return json.dumps(event_dict, default=repr, ensure_ascii=True).encode()
    except (TypeError, ValueError, RecursionError):
        flat = {str(key): _loggable(value) for key, value in event_dict.items()}
        return json.dumps(flat, ensure_ascii=True).encode()


def _loggable(value: Any) -> Any:
    if isinstance(value, str | int | bool) or value is None:
        return value
    if isinstance(value, float):
        return value if value - value == 0 else repr(value)
    return repr(value)


def _text_line(event_dict: EventDict, **kwargs: Any) -> str:
    return dumps_line(event_dict, **kwargs).decode()


def configure_logging(
    level: str | int | None = None, *, stream: TextIO | None = None, force: bool = False
) -> None:
    """Log JSON lines (context variables, level, ISO UTC timestamp, tracebacks as text).

    Does nothing if structlog is already configured, unless ``force``.

    :param level: the least level written; default from ``LOG_LEVEL``, else ``INFO``.
    :param stream: where lines go; default standard output (CloudWatch Logs in Lambda).
        A stream with a binary ``buffer`` (standard output and error) gets the bytes
        orjson makes; another text stream, their text.
    """
    if structlog.is_configured() and not force:
        return
    name = level if level is not None else os.environ.get("LOG_LEVEL", "INFO")
    number = (
        name
        if isinstance(name, int)
        else logging.getLevelNamesMapping().get(name.upper(), logging.INFO)
    )
    stream = stream or sys.stdout
    binary = getattr(stream, "buffer", None)
    factory: Any
    serializer: Callable[..., str | bytes]
    if binary is not None:
        stream.flush()  # what was printed before comes first
        factory, serializer = structlog.BytesLoggerFactory(binary), dumps_line
    else:
        factory, serializer = structlog.WriteLoggerFactory(stream), _text_line
    processors: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        structlog.processors.JSONRenderer(serializer=serializer),
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(number),
        logger_factory=factory,
        # Not cached: a later configuration (force=True, capture_logs in tests) must
        # reach the module loggers that already logged.
        cache_logger_on_first_use=False,
    )
