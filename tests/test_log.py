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


@pytest.mark.parametrize(
    "value",
    [
        {k: v for k, v in FIELDS.items() if k != "odd"},
        {"nested": {"list": [1, 2.5, None, True, "x"], "tuple": (1, "\u2603")}, 3: "int key"},
        {"object": object, "set": {1}},
        {"quote": 'a "b" \\ c\n\t\x00'},
    ],
    ids=["request-line", "nested", "repr", "escapes"],
)
def test_the_line_encoder_writes_what_json_writes(value: dict[Any, Any]) -> None:
    from clonesquad_interact import log

    assert log._encode_line(value) == json.dumps(value, default=repr, allow_nan=False)


def test_the_line_encoder_refuses_what_json_refuses() -> None:
    from clonesquad_interact import log

    with pytest.raises(ValueError, match="Out of range float"):
        log._encode_line({"odd": float("nan")})
    with pytest.raises(TypeError, match="keys must be"):
        log._encode_line({("tuple", "key"): 1})


def test_a_line_that_holds_a_cycle_is_still_written() -> None:
    stream = io.StringIO()
    configure_logging(stream=stream, force=True)
    cycle: list[Any] = []
    cycle.append(cycle)
    LineLogger("tests").log("info", "request", {"cycle": cycle, "status": 200})
    line = json.loads(stream.getvalue())
    assert line["status"] == 200
    assert line["cycle"] == "[[...]]"


def test_a_context_var_is_the_one_structlog_binds() -> None:
    from clonesquad_interact.log import context_var

    var = context_var("tenant")
    assert var is context_var("tenant")
    token = var.set("t-1")
    try:
        assert structlog.contextvars.get_contextvars() == {"tenant": "t-1"}
        structlog.contextvars.bind_contextvars(tenant="t-2")
        assert var.get() == "t-2"
        structlog.contextvars.unbind_contextvars("tenant")
        assert structlog.contextvars.get_contextvars() == {}
    finally:
        var.reset(token)
    assert structlog.contextvars.get_contextvars() == {}


# -------------------------------------------------------------------------
# The request line
# -------------------------------------------------------------------------

REQUEST: dict[str, Any] = {
    "op": 'configuration/caf\u00e9 "x" \\ \ud800',
    "interface": "apigw",
    "http_method": "GET",
    "status": 200,
    "duration_ms": 0.123,
    "request_id": "c0ffee00-1111-4222-8333-944455556666",
    "operation": "configuration/(.+)",
    "plugin": "tests",
}


def request_lines(method: str, request: dict[str, Any], **bound: Any) -> tuple[str, str, bool]:
    """The request line as the direct path and as structlog write it, and whether the
    direct path filled the template in."""
    written = []
    templated = False
    for factory in (structlog.WriteLoggerFactory, OtherFactory):
        stream = io.StringIO()
        configure_logging("DEBUG", stream=stream, force=True)
        structlog.configure(logger_factory=factory(stream))
        logger = LineLogger("tests")
        tokens = structlog.contextvars.bind_contextvars(**bound)
        try:
            logger.log_request(method, **request)
        finally:
            structlog.contextvars.reset_contextvars(**tokens)
        if factory is structlog.WriteLoggerFactory:
            templated = bool(logger._served)
        written.append(stream.getvalue())
    return written[0], written[1], templated


@pytest.mark.parametrize(
    ("bound", "templated"),
    [
        ({}, True),
        ({"aws_request_id": "5e2b6a1c"}, True),
        ({"aws_request_id": "5e2b6a1c", "tenant": 7, "tags": {"a": [1, None]}}, True),
        ({"request_id": "from-the-context", "op": "ignored"}, True),  # the call's values win
        ({"odd": float("nan")}, False),  # written as text, the long way
        ({"level": "shadow"}, False),  # a key the processor owns
        ({"timestamp": 1}, False),
    ],
    ids=["no-context", "aws-id", "values", "shadowed", "nan", "level", "timestamp"],
)
@pytest.mark.parametrize("method", ["info", "error"])
def test_the_request_line_is_written_as_structlog_writes_it(
    method: str, bound: dict[str, Any], templated: bool
) -> None:
    direct, through_structlog, used_template = request_lines(method, REQUEST, **bound)
    assert direct == through_structlog
    assert used_template is templated
    line = json.loads(direct)
    assert line["op"] == REQUEST["op"]
    assert line["level"] == method
    assert line["event"] == "request"
    assert list(line)[:9] == [
        "op",
        "interface",
        "method",
        "status",
        "duration_ms",
        "request_id",
        "operation",
        "plugin",
        "event",
    ]


@pytest.mark.parametrize(
    "change",
    [
        {"operation": None, "plugin": None},
        {"error": "no such operation"},
        {"status": True},
        {"duration_ms": 1},
        {"op": b"bytes"},
        {"plugin": None},
        {"duration_ms": float("nan")},
        {"duration_ms": float("inf")},
    ],
    ids=[
        "unrouted",
        "error",
        "bool-status",
        "int-duration",
        "bytes-op",
        "no-plugin",
        "nan-duration",
        "inf-duration",
    ],
)
def test_request_lines_the_template_does_not_take_are_written_the_long_way(
    change: dict[str, Any],
) -> None:
    request = {**REQUEST, **change}
    direct, through_structlog, _ = request_lines("info", request, aws_request_id="a")
    assert direct == through_structlog
    line = json.loads(direct)
    assert ("operation" in line) is (request["operation"] is not None)
    assert line.get("error") == change.get("error")


def test_a_request_line_with_an_exception_has_its_traceback() -> None:
    try:
        raise KeyError("k")
    except KeyError as exc:
        error = exc
    request = {**REQUEST, "status": 500, "exception": error}
    direct, through_structlog, templated = request_lines("error", request)
    assert direct == through_structlog
    assert not templated
    assert "KeyError" in json.loads(direct)["exception"]


def test_a_request_line_below_the_level_is_not_written() -> None:
    stream = io.StringIO()
    configure_logging("ERROR", stream=stream, force=True)
    logger = LineLogger("tests")
    logger.log_request("info", **REQUEST)
    assert stream.getvalue() == ""
    logger.log_request("error", **{**REQUEST, "status": 503})
    assert json.loads(stream.getvalue())["status"] == 503


def test_two_context_variables_of_one_name_are_merged_as_structlog_merges_them() -> None:
    import contextvars

    twin: contextvars.ContextVar[Any] = contextvars.ContextVar("structlog_twin", default=...)
    token = twin.set("made by hand")
    try:
        direct, through_structlog, _ = request_lines("info", REQUEST, twin="bound")
        assert direct == through_structlog
        assert json.loads(direct)["twin"] in {"made by hand", "bound"}
        direct, through_structlog, _ = request_lines("info", REQUEST)
        assert direct == through_structlog
        assert json.loads(direct)["twin"] == "made by hand"
    finally:
        twin.reset(token)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (1_767_225_600.25, "2026-01-01T00:00:00.250000Z"),
        (1_767_225_600.0, "2026-01-01T00:00:00.000000Z"),
        (1_767_225_659.5, "2026-01-01T00:00:59.500000Z"),
        (1_767_225_601.125, "2026-01-01T00:00:01.125000Z"),
    ],
)
def test_timestamps_are_utc_with_whole_microseconds(
    monkeypatch: pytest.MonkeyPatch, now: float, expected: str
) -> None:
    processor = JSONLines()
    for clock in (now - 3601.0, now):  # an earlier second first: the cached one is replaced
        monkeypatch.setattr(time, "time", lambda clock=clock: clock)
        stamp = processor._timestamp()
    assert stamp == expected
    monkeypatch.setattr(time, "time", lambda: now + 0.0000004)  # under a microsecond later
    assert processor._timestamp() == expected


def test_context_variables_past_the_remembered_ones_take_the_long_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import contextvars

    from clonesquad_interact import log

    monkeypatch.setattr(log, "_VAR_PARTS", {})
    direct, through_structlog, templated = request_lines("info", REQUEST, first="1")
    assert (direct == through_structlog, templated) == (True, True)
    monkeypatch.setattr(log, "_VAR_PARTS_LIMIT", len(log._VAR_PARTS))  # full from now on
    assert request_lines("info", REQUEST, first="1")[2]  # the remembered ones still do
    twin: contextvars.ContextVar[Any] = contextvars.ContextVar("structlog_first", default=...)
    token = twin.set("made by hand")
    try:  # not remembered: it cannot be told from structlog's own "first"
        direct, through_structlog, templated = request_lines("info", REQUEST, first="1")
    finally:
        twin.reset(token)
    assert (direct == through_structlog, templated) == (True, False)
    assert direct.count('"first"') == 1
