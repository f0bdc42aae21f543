"""Logging set-up, for applications only.

The library itself never configures logging: each module takes
``structlog.get_logger(__name__)`` and leaves the configuration to the program
that runs it. The Lambda handler and the command line call
:func:`configure_logging`, which writes one JSON object per line.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

import structlog

__all__ = ["configure_logging"]


def configure_logging(
    level: str | int | None = None, *, stream: TextIO | None = None, force: bool = False
) -> None:
    """Log JSON lines (``merge_contextvars`` first, ISO UTC timestamps, tracebacks as text).

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
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(sort_keys=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(number),
        logger_factory=structlog.WriteLoggerFactory(stream or sys.stdout),
        # Not cached: a later configuration (force=True, capture_logs in tests) must
        # reach the module loggers that already logged.
        cache_logger_on_first_use=False,
    )
