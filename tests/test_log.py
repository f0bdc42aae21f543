"""The per-request line: written directly under configure_logging, through structlog otherwise."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from clonesquad_interact.log import JSONLines, LineLogger, configure_logging

from helpers import OperationsPlugin, build, make_operation

FIELDS: dict[str, Any] = {
    "op": "configuration/app.disable",
    "interface": "apigw",
    "method": "GET",
    "status": 200,
    "duration_ms": 0.123,
    "request_id": "c0ffee00-1111-4222-8333-944455556666",
    "operation": "configuration/(.+)",
    "plugin": "tests",
    "odd": float("nan"),
    "name": "caf\u00e9 \ud800",
}


@pytest.fixture(autouse=True)
def _frozen_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """One timestamp for every line, so that lines written apart can be compared."""
    monkeypatch.setattr(time, "time", lambda: 1_767_225_600.25)
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


class OtherFactory(structlog.WriteLoggerFactory):
    """The same writer, but not the factory ``configure_logging`` installs: no direct path."""


def both_paths(level: str, method: str, fields: dict[str, Any], **bound: Any) -> tuple[str, str]:
    """The text the direct path and structlog write for the same call."""
    written = []
    for factory in (structlog.WriteLoggerFactory, OtherFactory):
        stream = io.StringIO()
        configure_logging(level, stream=stream, force=True)
        structlog.configure(logger_factory=factory(stream))
        logger = LineLogger("tests")
        structlog.contextvars.bind_contextvars(**bound)
        logger.log(method, "request", dict(fields))
        structlog.contextvars.clear_contextvars()
        assert logger.direct is (factory is structlog.WriteLoggerFactory)
        written.append(stream.getvalue())
    return written[0], written[1]


@pytest.mark.parametrize("method", ["info", "error", "warning", "debug"])
@pytest.mark.parametrize("level", ["DEBUG", "INFO", "ERROR"])
def test_the_direct_path_writes_the_bytes_structlog_writes(level: str, method: str) -> None:
    direct, through_structlog = both_paths(level, method, FIELDS, request_id="x", user="u")
    assert direct == through_structlog
    levels = logging.getLevelNamesMapping()
    written = levels[method.upper()] >= levels[level]
    assert direct.count("\n") == (1 if written else 0)
    if written:
        line = json.loads(direct)
        assert list(line) == [*FIELDS, "event", "user", "level", "timestamp"]
        assert line["timestamp"] == "2026-01-01T00:00:00.250000Z"
        assert line["request_id"] == FIELDS["request_id"]  # the call's own value wins


def test_the_direct_path_writes_a_traceback_as_structlog_does() -> None:
    try:
        raise KeyError("k")
    except KeyError as exc:
        error = exc
    direct, through_structlog = both_paths("INFO", "error", {**FIELDS, "exc_info": error})
    assert direct == through_structlog
    assert "KeyError" in json.loads(direct)["exception"]


def test_any_other_configuration_goes_through_structlog() -> None:
    logger = LineLogger("tests")
    configure_logging(stream=io.StringIO(), force=True)
    logger.log("info", "request", dict(FIELDS))
    directs = [logger.direct]
    for change in (
        {"processors": [structlog.processors.JSONRenderer()]},
        {"processors": [JSONLines(), JSONLines()]},
        {"wrapper_class": structlog.BoundLogger},
        {"context_class": type("Context", (dict,), {})},
    ):
        configure_logging(stream=io.StringIO(), force=True)
        structlog.configure(**change)
        with capture_logs() as logs:
            logger.log("info", "request", dict(FIELDS))
        directs.append(logger.direct)
        assert [entry["event"] for entry in logs] == ["request"]
    assert directs == [True, False, False, False, False]


def test_capture_logs_sees_the_request_line_and_gives_it_back() -> None:
    stream = io.StringIO()
    configure_logging(stream=stream, force=True)
    dispatcher = build(OperationsPlugin(make_operation("op")))
    dispatcher.call("op")
    with capture_logs() as logs:
        dispatcher.call("op")
    dispatcher.call("op")
    assert [(entry["event"], entry["op"], entry["status"]) for entry in logs] == [
        ("request", "op", 200)
    ]
    assert [json.loads(line)["op"] for line in stream.getvalue().splitlines()] == ["op", "op"]


def test_a_request_line_is_the_same_through_either_path() -> None:
    lines = []
    for factory in (structlog.WriteLoggerFactory, OtherFactory):
        stream = io.StringIO()
        configure_logging(stream=stream, force=True)
        structlog.configure(logger_factory=factory(stream))
        build(OperationsPlugin(make_operation("op"))).call("op", params={"format": "json"})
        (line,) = stream.getvalue().splitlines()
        lines.append(line)
    direct, through_structlog = (json.loads(line) for line in lines)
    # Both lines carry the duration as a number (its value is the machine's business).
    assert isinstance(direct["duration_ms"], float | int)
    assert isinstance(through_structlog["duration_ms"], float | int)
    direct["duration_ms"] = through_structlog["duration_ms"] = 0
    direct["request_id"] = through_structlog["request_id"] = "-"
    assert list(direct) == list(through_structlog)
    assert direct == through_structlog
