"""Logging set-up, for applications only.

The library itself never configures logging: each module takes
``structlog.get_logger(__name__)`` and leaves the configuration to the program
that runs it. The Lambda handler and the command line call
:func:`configure_logging`, which writes one JSON object per line.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict

__all__ = ["JSONLines", "configure_logging"]


#: Built once: ``json.dumps`` with options builds an encoder on every call. ASCII
#: output survives any stream (a lone surrogate in a name cannot break the line).
_ENCODER = json.JSONEncoder(default=repr, allow_nan=False)


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
        if int(now) != second:
            second = int(now)
            prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = (second, prefix)
        return f"{prefix}.{int((now - second) * 1_000_000):06d}Z"

    def __call__(self, logger: Any, method_name: str, event_dict: EventDict) -> str:
        event_dict = structlog.contextvars.merge_contextvars(logger, method_name, event_dict)
        event_dict["level"] = "warning" if method_name == "warn" else method_name
        event_dict["timestamp"] = self._timestamp()
        if "exc_info" in event_dict:
            event_dict = structlog.processors.format_exc_info(logger, method_name, event_dict)
        try:
            return _ENCODER.encode(event_dict)
        except (TypeError, ValueError):  # NaN, keys that are not text: write them as text
            return _ENCODER.encode({str(k): _loggable(v) for k, v in event_dict.items()})


def _loggable(value: Any) -> Any:
    if isinstance(value, str | int | bool) or value is None:
        return value
    if isinstance(value, float):
        return (
            value if value == value and value not in (float("inf"), float("-inf")) else repr(value)
        )
    return repr(value)


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
