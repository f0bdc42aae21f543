"""The request line: one JSON object per request, written through structlog's configuration."""

from __future__ import annotations

import datetime
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from clonesquad_interact.log import configure_logging, dumps_line

from helpers import OperationsPlugin, build, make_operation


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_served_request_writes_one_line_with_its_facts() -> None:
    stream = io.StringIO()
    configure_logging(stream=stream, force=True)
    build(OperationsPlugin(make_operation("op"))).call("op")
    (line,) = lines(stream)
    assert line["event"] == "request"
    assert line["level"] == "info"
    assert (line["op"], line["interface"], line["method"], line["status"]) == (
        "op",
        "direct",
        "GET",
        200,
    )
    assert (line["operation"], line["plugin"]) == ("op", "test-plugin")
    assert isinstance(line["duration_ms"], float)
    assert isinstance(line["request_id"], str)
    assert line["request_id"]
    assert "error" not in line
    assert "exception" not in line
    stamp = datetime.datetime.fromisoformat(line["timestamp"])
    assert stamp.utcoffset() == datetime.timedelta(0)
    assert line["timestamp"].endswith("Z")


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
    assert [line["op"] for line in lines(stream)] == ["op", "op"]


def test_an_unknown_operation_is_logged_with_its_error() -> None:
    with capture_logs() as logs:
        build(OperationsPlugin(make_operation("op"))).call("nothing/here")
    (entry,) = logs
    assert entry["status"] == 404
    assert entry["log_level"] == "info"
    assert "nothing/here" in entry["error"]
    assert "operation" not in entry


def test_a_failing_operation_is_logged_as_an_error_with_its_traceback() -> None:
    def broken(request: Any) -> Any:
        raise KeyError("k")

    stream = io.StringIO()
    configure_logging(stream=stream, force=True)
    build(OperationsPlugin(make_operation("op", handler=broken))).call("op")
    (line,) = lines(stream)
    assert (line["level"], line["status"]) == ("error", 500)
    assert "KeyError" in line["exception"]


def test_lines_below_the_level_are_not_written() -> None:
    stream = io.StringIO()
    configure_logging("ERROR", stream=stream, force=True)
    logger = structlog.get_logger("tests")
    logger.info("request", status=200)
    assert stream.getvalue() == ""
    logger.error("request", status=503)
    assert [line["status"] for line in lines(stream)] == [503]


def test_context_variables_join_the_line_and_the_call_wins() -> None:
    stream = io.StringIO()
    configure_logging(stream=stream, force=True)
    structlog.contextvars.bind_contextvars(user="u", request_id="from-context")
    structlog.get_logger("tests").info("request", request_id="from-call")
    (line,) = lines(stream)
    assert (line["user"], line["request_id"]) == ("u", "from-call")


def test_the_request_id_is_bound_while_a_request_is_served() -> None:
    seen: list[Any] = []

    def handler(request: Any) -> Any:
        seen.append(structlog.contextvars.get_contextvars().get("request_id"))
        return {}

    dispatcher = build(OperationsPlugin(make_operation("op", handler=handler)))
    with capture_logs() as logs:
        dispatcher.call("op")
    assert seen == [logs[0]["request_id"]]
    assert "request_id" not in structlog.contextvars.get_contextvars()


@pytest.mark.parametrize(
    "value",
    [
        {"odd": float("nan"), "name": "caf\u00e9"},
        {"name": "lone \ud800 surrogate"},
        {"big": 2**70},
        {1: "a key that is not text"},
        {"object": object()},
    ],
)
def test_a_line_holds_what_json_cannot_without_being_lost(value: dict[Any, Any]) -> None:
    line = json.loads(dumps_line(dict(value)))
    assert len(line) == len(value)


def test_a_line_that_holds_a_cycle_is_still_written() -> None:
    stream = io.StringIO()
    configure_logging(stream=stream, force=True)
    cycle: list[Any] = []
    cycle.append(cycle)
    structlog.get_logger("tests").info("request", cycle=cycle, status=200)
    (line,) = lines(stream)
    assert line["status"] == 200
    assert isinstance(line["cycle"], str)


def test_a_binary_stream_gets_the_bytes() -> None:
    buffer = io.BytesIO()
    stream = io.TextIOWrapper(buffer, encoding="utf-8")
    configure_logging(stream=stream, force=True)
    structlog.get_logger("tests").info("request", name="caf\u00e9")
    assert json.loads(buffer.getvalue())["name"] == "caf\u00e9"


def test_configure_logging_leaves_a_configuration_it_did_not_make() -> None:
    structlog.configure(processors=[structlog.processors.KeyValueRenderer()])
    configure_logging(stream=io.StringIO())
    assert isinstance(
        structlog.get_config()["processors"][0], structlog.processors.KeyValueRenderer
    )


def test_a_cached_logger_is_bound_once_per_configuration() -> None:
    from clonesquad_interact.log import CachedLogger

    first, second = io.StringIO(), io.StringIO()
    cached = CachedLogger("tests.cached")
    configure_logging(stream=first, force=True)
    bound = cached.get()
    assert cached.get() is bound  # the same logger while the configuration stays
    bound.info("one")
    configure_logging(stream=second, force=True)
    assert cached.get() is not bound
    cached.get().info("two")
    with capture_logs() as logs:
        cached.get().info("three")
    assert [line["event"] for line in lines(first)] == ["one"]
    assert [line["event"] for line in lines(second)] == ["two"]
    assert [entry["event"] for entry in logs] == ["three"]
