"""Inputs and answers at the edges: nothing escapes the handler, every bad input is a 4xx."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from clonesquad_interact import (
    BadRequest,
    Interface,
    Middleware,
    PluginError,
    Request,
    Response,
    hookimpl,
)
from clonesquad_interact.log import configure_logging
from clonesquad_interact.rendering import LAMBDA_RESPONSE_LIMIT
from clonesquad_interact.testing import InteractClient, apigw_rest_event, sqs_record

from helpers import OperationsPlugin, build, make_operation

ANY_PARAMS = {"properties": {"params": {"additionalProperties": True}}}
SQS: dict[str, Any] = {"interfaces": {"sqs", "direct"}, "methods": {"POST"}}


def raising(error: Exception) -> Any:
    def handler(request: Request) -> Any:
        raise error

    return handler


@pytest.mark.parametrize(
    "error",
    [
        BadRequest("bad", headers={"X-A": "a\nb"}),
        BadRequest("bad", details=[object()]),
    ],
)
def test_an_error_that_cannot_be_answered_as_is_becomes_a_500(error: Exception) -> None:
    client = InteractClient(build(OperationsPlugin(make_operation("e", handler=raising(error)))))
    response = client.get("/e")
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "InternalError"


def test_middleware_answering_something_else_than_a_response_is_a_500() -> None:
    class Broken:
        __name__ = "broken"

        @hookimpl
        def register_middleware(self) -> list[Middleware]:
            return [lambda request, operation, call_next: {"not": "a response"}]  # type: ignore[list-item,return-value]

    dispatcher = build(OperationsPlugin(make_operation("op")), Broken())
    with capture_logs() as logs:
        response = InteractClient(dispatcher).get("/op")
    assert response.status_code == 500
    (line,) = logs
    assert "not a Response" in str(line["exc_info"])


def test_the_log_line_is_ascii_json_whatever_the_name() -> None:
    stream = io.StringIO()
    configure_logging(stream=stream, force=True)
    try:
        answer = build().handle({"OpType": "\ud800bad", "Params": {"v": float("nan")}})
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        structlog.reset_defaults()
    assert answer["statusCode"] == 400  # a lone surrogate: refused where it arrives, named
    assert stream.getvalue().isascii()
    assert "'\\ud800bad'" in lines[-1]["error"]


def test_a_later_logging_configuration_reaches_the_request_line() -> None:
    dispatcher = build()
    first, second = io.StringIO(), io.StringIO()
    try:
        configure_logging(stream=first, force=True)
        dispatcher.call("")
        configure_logging(stream=second, force=True)
        dispatcher.call("")
    finally:
        structlog.reset_defaults()
    assert len(first.getvalue().splitlines()) == 1
    assert len(second.getvalue().splitlines()) == 1


def test_a_body_nested_deep_enough_to_break_validation_is_a_400() -> None:
    schema = {
        "$defs": {"n": {"type": "array", "items": {"$ref": "#/$defs/n"}}},
        "properties": {"body": {"$ref": "#/$defs/n"}},
    }
    client = InteractClient(
        build(
            OperationsPlugin(make_operation("d", methods={"POST"}, body="document", schema=schema))
        )
    )
    for depth in (300, 900):
        response = client.post("/d", body="[" * depth + "]" * depth)
        assert response.status_code == 400, depth
        assert "nested too deeply" in response.json()["error"]["message"]


def test_typed_values_are_not_confused_by_what_was_remembered() -> None:
    schema = {"properties": {"params": {"properties": {"b": {"type": "boolean"}}}}}
    everywhere: dict[str, Any] = {"interfaces": {"sqs", "direct", "apigw"}, "methods": {"POST"}}
    dispatcher = build(OperationsPlugin(make_operation("b", schema=schema, **everywhere)))
    for interface in (Interface.SQS, Interface.DIRECT, Interface.APIGW):
        assert dispatcher.call("b", method="POST", params={"b": True}, interface=interface).ok
        refused = dispatcher.call("b", method="POST", params={"b": 1}, interface=interface)
        assert refused.status == 400


@pytest.mark.parametrize("value", ["9" * 5000, "1e999", "-1e999"])
def test_numbers_too_large_are_a_400(value: str) -> None:
    schema = {
        "properties": {
            "params": {"properties": {"n": {"type": "integer"}, "f": {"type": "number"}}}
        }
    }
    client = InteractClient(build(OperationsPlugin(make_operation("n", schema=schema))))
    for name in ("n", "f"):
        response = client.get("/n", params={name: value})
        assert response.status_code == 400
        assert response.json()["error"]["details"][0]["where"] == f"params.{name}"


@pytest.mark.parametrize(
    ("body", "fmt"),
    [
        ('{"v": 1e999}', "json"),
        ("v: " + "9" * 5000 + "\n", "yaml"),
        ("v: !!binary aGVsbG8=\n", "yaml"),
        ("v: !!timestamp 2024-01-01\n", "yaml"),
        ("v: !!set {a, b}\n", "yaml"),
    ],
)
def test_documents_with_values_json_cannot_hold_are_a_400(body: str, fmt: str) -> None:
    client = InteractClient(
        build(OperationsPlugin(make_operation("d", methods={"POST"}, body="document", schema={})))
    )
    response = client.post("/d", body=body, params={"format": fmt})
    assert response.status_code == 400
    assert response.json()["error"]["type"] in ("BadRequest", "ValidationFailed")


def test_an_sqs_message_with_nan_is_recorded_as_failed() -> None:
    client = InteractClient(build(OperationsPlugin(make_operation("m", schema=ANY_PARAMS, **SQS))))
    record = sqs_record('{"OpType": "m", "f": NaN}')
    with capture_logs() as logs:
        assert client.sqs([record]) == {"batchItemFailures": []}
    assert [e["outcome"] for e in logs if e["event"] == "sqs.record"] == ["failed"]


def test_anchors_are_followed_and_a_missing_one_stops_start_up() -> None:
    schema = {
        "$defs": {"count": {"$anchor": "count", "type": "integer"}},
        "properties": {
            "params": {"properties": {"n": {"$ref": "#count"}, "k": {"const": {"$ref": "x"}}}}
        },
    }
    client = InteractClient(build(OperationsPlugin(make_operation("a", schema=schema))))
    assert client.get("/a", params={"n": "1"}).status_code == 200
    missing = {"properties": {"params": {"properties": {"n": {"$ref": "#nowhere"}}}}}
    with pytest.raises(PluginError, match="points to nothing"):
        build(OperationsPlugin(make_operation("a", schema=missing)))
    with pytest.raises(PluginError, match=re.escape("must be JSON Schema 2020-12")):
        build(OperationsPlugin(make_operation("a", schema={"$schema": 5})))


def test_an_answer_that_cannot_be_rendered_logs_the_status_the_caller_gets() -> None:
    client = InteractClient(
        build(OperationsPlugin(make_operation("v", handler=lambda r: {"v": float("nan")})))
    )
    with capture_logs() as logs:
        response = client.get("/v")
    assert response.status_code == 500
    assert [(e["event"], e["status"]) for e in logs] == [("request", 500)]


@pytest.mark.parametrize(
    "value", [{"v": float("nan")}, "x" * (LAMBDA_RESPONSE_LIMIT + 1)], ids=["nan", "too-large"]
)
def test_direct_invocations_keep_their_shape_when_the_answer_cannot_be_sent(value: Any) -> None:
    dispatcher = build(OperationsPlugin(make_operation("v", handler=lambda r: value)))
    answer = dispatcher.handle({"OpType": "v"})
    assert answer["statusCode"] == 500
    assert isinstance(answer["body"], dict)
    assert "isBase64Encoded" not in answer


def test_a_direct_response_with_bad_headers_is_a_500() -> None:
    dispatcher = build(
        OperationsPlugin(
            make_operation("v", handler=lambda r: Response(body="x", headers={"A": "b\rc"}))
        )
    )
    assert dispatcher.handle(apigw_rest_event("GET", "/v"))["statusCode"] == 500


@pytest.mark.parametrize(
    "query",
    [
        {"delay": "9" * 5000},
        {"delay": ["1", "2"]},
        {"delay": "\uff11\uff12"},  # full-width digits
        {"delay": " "},
        {"delay": "0x10"},
        {"delay": "5", "unknown": "x"},
    ],
)
def test_hostile_reschedule_parameters_are_a_400_naming_them(
    deployed_client: InteractClient, query: dict[str, Any]
) -> None:
    response = deployed_client.get("/control/reschedulenow", params=query)
    assert response.status_code == 400, response.text
    message = response.json()["error"]
    assert "delay" in json.dumps(message) or "unknown" in json.dumps(message)


CONTROL = "/control/instances/unstoppable"


@pytest.mark.parametrize(
    ("path", "query", "named"),
    [
        (CONTROL, {"mode": "ADD"}, "mode"),
        (CONTROL, {"mode": ["add", "delete"]}, "mode"),
        (CONTROL, {"mode": "add", "ttl": "hours=1,hours=2"}, "ttl"),
        (CONTROL, {"mode": "add", "ttl": "9" * 250}, "ttl"),  # past any date
        (CONTROL, {"mode": "add", "ttl": "-5"}, "ttl"),
        (CONTROL, {"mode": "add", "ttl": "9" * 300}, "ttl"),
        (CONTROL, {"mode": "add", "ttl": "\uff15"}, "ttl"),  # a full-width digit
        (CONTROL, {"excluded": "yes please"}, "excluded"),
        (CONTROL, {"excluded": ["true", "false"]}, "excluded"),
        (CONTROL, {"instanceids": ["i-1"] * 1001}, "instanceids"),
        (CONTROL, {"instancenames": "x" * 70000}, "instancenames"),
        (CONTROL, {"subfleetnames": ["y" * 300, "z"]}, "subfleetnames"),
        (CONTROL, {"Mode": "add"}, "Mode"),
        ("/backup", {"force": "1"}, "force"),
        ("/backup", {"format": "xml"}, "format"),
        ("/fleet/metadata", {"instanceid": "i-0aaaaaaaaaaaaaaaa"}, "instanceid"),
        ("/fleet/metadata", {"format": "csv"}, "format"),
        ("/cloudwatch/metriccache", {"ttl": "60"}, "ttl"),
        ("/cloudwatch/metriccache", {"format": ["json", "yaml"]}, "format"),
        ("/control/reschedulenow", {"delay": "60", "Delay": "1"}, "Delay"),
    ],
)
def test_hostile_parameters_of_the_fleet_operations_are_a_400_naming_them(
    deployed_client: InteractClient, path: str, query: dict[str, Any], named: str
) -> None:
    response = deployed_client.get(path, params=query)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert named in json.dumps(error), error
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ('{"Tags": {"Name": "(a+)*(?=b)"}}', "Tags"),
        ('{"Tags": {"Name": "a*{1,99999}"}}', "Tags"),
        ('{"Tags": {"Name": "x*\\\\1"}}', "Tags"),
        ('{"Tags": {"Name": "x*{2}"}}', "Tags"),
        ('{"Tags": {"Name": ["x"]}}', "Tags"),
        ('{"Tags": ["Name"]}', "Tags"),
        ('{"InstanceIds": "i-1"}', "InstanceIds"),
        ('{"InstanceNames": [1]}', "InstanceNames"),
        ('{"SubfleetNames": {"a": 1}}', "SubfleetNames"),
        ('{"Excluded": "true"}', "Excluded"),
        ('{"Tag": {}}', "Tag"),
        ('"just text"', "body"),
        ('{"Tags": {"\\ud800": "x"}}', "Tags"),
        ('{"Tags": {"Name": "w*\\udfff"}}', "Tags"),
    ],
)
def test_hostile_filter_documents_are_a_400_naming_the_field(
    deployed_client: InteractClient, body: str, named: str
) -> None:
    response = deployed_client.post(CONTROL, body=body, params={"mode": "add"})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert named in json.dumps(error), error


@pytest.mark.parametrize(
    ("message", "named"),
    [
        ({"OpType": "backup", "extra": 1}, "extra"),
        ({"OpType": "control/reschedulenow", "delay": [1]}, "delay"),
        ({"OpType": "control/reschedulenow", "delay": {"s": 1}}, "delay"),
    ],
)
def test_hostile_sqs_messages_of_the_fleet_operations_fail_for_good_naming_the_field(
    deployed_client: InteractClient, message: dict[str, Any], named: str
) -> None:
    with capture_logs() as logs:
        assert deployed_client.sqs(message) == {"batchItemFailures": []}
    [line] = [entry for entry in logs if entry["event"] == "sqs.record"]
    assert line["outcome"] == "failed"
    assert line["status"] == 400
    assert named in json.dumps(line["error"], default=str)
