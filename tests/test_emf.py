"""Per-operation metrics: the request line read as CloudWatch reads embedded metric format."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest

from clonesquad_interact import BadRequest, Dispatcher, PluginError, Request
from clonesquad_interact.log import configure_logging
from clonesquad_interact.testing import InteractClient

from helpers import OperationsPlugin, make_operation

NAMESPACE = "CloneSquad/Interact"
UNITS = {"Count", "Milliseconds"}


def refuse(request: Request) -> None:
    raise BadRequest("no")


def crash(request: Request) -> None:
    raise RuntimeError("bug")


def lines(environ: dict[str, str], *paths: str) -> list[dict[str, Any]]:
    plugin = OperationsPlugin(
        make_operation(re.compile(r"hello/(?P<name>[^/]+)")),
        make_operation("refused", handler=refuse),
        make_operation("crash", handler=crash),
    )
    stream = io.StringIO()
    configure_logging(stream=stream, force=True)
    dispatcher = Dispatcher(
        [plugin], builtins=False, entry_points=False, environ={"GroupName": "g", **environ}
    )
    client = InteractClient(dispatcher)
    for path in paths:
        client.get(path)
    parsed = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [line for line in parsed if line.get("event") == "request"]


def extracted(line: dict[str, Any]) -> list[tuple[str, tuple[tuple[str, str], ...], str, Any]]:
    """The metrics CloudWatch extracts from a line: (namespace, dimensions, name, value),
    checking the line as the EMF specification requires."""
    meta = line["_aws"]
    assert isinstance(meta["Timestamp"], int)
    assert meta["Timestamp"] > 1_600_000_000_000, "milliseconds since the epoch"
    found = []
    for directive in meta["CloudWatchMetrics"]:
        assert isinstance(directive["Namespace"], str)
        assert directive["Namespace"]
        for dimension_set in directive["Dimensions"]:
            assert 1 <= len(dimension_set) <= 30
            values = tuple((name, line[name]) for name in dimension_set)
            assert all(isinstance(value, str) and value for _, value in values)
            for metric in directive["Metrics"]:
                assert metric["Unit"] in UNITS
                value = line[metric["Name"]]
                assert isinstance(value, int | float)
                found.append((directive["Namespace"], values, metric["Name"], value))
    return found


def test_metrics_are_off_unless_a_namespace_is_configured():
    (line,) = lines({}, "/hello/world")
    assert "_aws" not in line
    assert "Requests" not in line


def test_each_request_line_carries_its_operations_metrics():
    ok, refused, crashed, unknown = lines(
        {"CLONESQUAD_INTERACT_METRICS_NAMESPACE": NAMESPACE},
        "/hello/world",
        "/refused",
        "/crash",
        "/no/such",
    )
    metrics = {
        (values, name): value
        for line in (ok, refused, crashed, unknown)
        for namespace, values, name, value in extracted(line)
        if namespace == NAMESPACE
    }
    hello = (("Operation", "hello/{name}"),)
    assert metrics[(hello, "Requests")] == 1
    assert metrics[(hello, "ClientErrors")] == metrics[(hello, "ServerErrors")] == 0
    assert metrics[(hello, "Latency")] == ok["duration_ms"]
    assert metrics[((("Operation", "refused"),), "ClientErrors")] == 1
    assert metrics[((("Operation", "crash"),), "ServerErrors")] == 1
    assert metrics[((("Operation", "(unrouted)"),), "ClientErrors")] == 1
    assert ok["operation"] == "hello/{name}", "the line names the route as its path template"


def test_the_dimensions_come_from_the_configuration():
    (line,) = lines(
        {
            "CLONESQUAD_INTERACT_METRICS_NAMESPACE": NAMESPACE,
            "CLONESQUAD_INTERACT_METRICS_DIMENSIONS": "GroupName, Operation,Interface",
        },
        "/hello/world",
    )
    dimensions = {values for _, values, _, _ in extracted(line)}
    assert dimensions == {
        (("GroupName", "g"), ("Operation", "hello/{name}"), ("Interface", "apigw"))
    }


def test_an_unknown_dimension_stops_start_up():
    with pytest.raises(PluginError, match="unknown dimension"):
        Dispatcher(
            builtins=False,
            entry_points=False,
            environ={
                "CLONESQUAD_INTERACT_METRICS_NAMESPACE": NAMESPACE,
                "CLONESQUAD_INTERACT_METRICS_DIMENSIONS": "Colour",
            },
        )
