"""Bad input is a 4xx that says what was wrong, quotes little of it, and can be sent:
lone surrogates, numbers DynamoDB cannot store, keys over its 2048 bytes, huge names,
records of other sources."""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from structlog.testing import capture_logs

from aws_calls import RawTable
from clonesquad_interact import AWS, Dispatcher, Request
from clonesquad_interact.formats import MAX_DEPTH, MAX_DOCUMENT_BYTES, MAX_NODES
from clonesquad_interact.testing import (
    InteractClient,
    apigw_http_event,
    apigw_rest_event,
    sqs_record,
)

from helpers import OperationsPlugin, build, make_operation

LONG_KEY = "k" * 2049
OPS = ["configuration", "scheduler"]


@pytest.fixture
def lenient(deployment: dict[str, str], aws_clients: AWS) -> Dispatcher:
    """A dispatcher that answers a bug with a 500, as in production."""
    return Dispatcher(entry_points=False, raise_unexpected=False, aws=aws_clients)


@pytest.fixture
def client(lenient: Dispatcher) -> InteractClient:
    return InteractClient(lenient)


def sendable(answer: Mapping[str, Any]) -> None:
    """The Lambda runtime can send the answer: UTF-8 encodes it as JSON."""
    json.dumps(dict(answer), ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"\\ud800": null}', "body["),
        ('{"good.key": "bad \\udfff value"}', "body.good.key"),
    ],
)
def test_a_lone_surrogate_in_a_document_is_a_400_naming_the_field(
    client: InteractClient, deployment: dict[str, str], op: str, body: str, field: str
) -> None:
    answer = client.post(op, body)
    sendable(answer.raw)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert field in json.dumps(error["details"]) + error["message"]
    assert "surrogate" in error["message"] + json.dumps(error["details"])


@pytest.mark.parametrize("op", OPS)
def test_a_lone_surrogate_in_a_per_key_write_is_a_400(client: InteractClient, op: str) -> None:
    answer = client.post(f"{op}/some.key", "value \udc80")
    sendable(answer.raw)
    assert answer.status_code == 400, answer.text


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("ttl", ["1" + "0" * 130, "1e40", "days=1e39"])
def test_a_ttl_dynamodb_cannot_store_is_a_400_and_writes_nothing(
    client: InteractClient, deployment: dict[str, str], aws_clients: AWS, op: str, ttl: str
) -> None:
    setting = "ConfigurationTable" if op == "configuration" else "SchedulerTable"
    table = RawTable(aws_clients.client("dynamodb"), deployment[setting])
    answer = client.post(f"{op}/some.key", "rate(1 day),custom.value=1", {"ttl": ttl})
    assert answer.status_code == 400, answer.text
    assert "ttl" in answer.json()["error"]["message"]
    assert len(answer.json()["error"]["message"]) < 300
    assert table.content() == {}


@pytest.mark.parametrize("op", OPS)
def test_a_read_of_a_key_over_2048_bytes_is_a_400(client: InteractClient, op: str) -> None:
    answer = client.get(f"{op}/{LONG_KEY}")
    assert answer.status_code == 400, answer.text
    message = answer.json()["error"]["message"]
    assert "2048 bytes" in message
    assert len(message) < 400


def test_an_ackevent_with_a_date_over_2048_bytes_fails_for_good(
    lenient: Dispatcher, deployment: dict[str, str], aws_clients: AWS
) -> None:
    events = RawTable(aws_clients.client("dynamodb"), deployment["EventTable"], "EventDate")
    events.put_item(Item={"EventDate": "2020-11-20 14:52:01", "EventType": "x"})
    record = sqs_record({"OpType": "notify/ackevent", "Events": ["2020-11-20 14:52:01", LONG_KEY]})
    with capture_logs() as logs:
        answer = lenient.handle({"Records": [record]}, None)
    assert answer == {"batchItemFailures": []}  # not sent back to be retried
    assert [line.get("outcome") for line in logs if line["event"] == "sqs.record"] == ["failed"]
    assert len(events.items()) == 1  # refused whole: nothing acknowledged


def test_a_huge_unknown_name_is_quoted_short_in_the_404(client: InteractClient) -> None:
    name = "x" * 1_000_000
    with capture_logs() as logs:
        answer = client.get(name)
    assert answer.status_code == 404
    assert len(answer.text) < 2_000
    [line] = [line for line in logs if line["event"] == "request"]
    assert line["op"].startswith("x" * 256)
    assert line["op"].endswith("(1000000 characters)")
    assert len(line["op"]) < 300


def test_a_lone_surrogate_in_an_operation_name_is_a_400_that_can_be_sent(
    client: InteractClient,
) -> None:
    answer = client.get("no\udc00such")
    sendable(answer.raw)
    assert answer.status_code == 400
    assert "operation name (path)" in answer.json()["error"]["message"]


def _rest(**fields: Any) -> dict[str, Any]:
    event = apigw_rest_event("GET", "configuration/app.disable")
    for name, value in fields.items():
        event[name] = {**(event.get(name) or {}), **value} if isinstance(value, dict) else value
    return event


def _http(**fields: Any) -> dict[str, Any]:
    event = apigw_http_event("GET", "configuration/app.disable")
    for name, value in fields.items():
        event[name] = {**(event.get(name) or {}), **value} if isinstance(value, dict) else value
    return event


@pytest.mark.parametrize(
    ("event", "where", "named"),
    [
        (_rest(queryStringParameters={"format": "js\udc80on"}), "params.format", "'format'"),
        (_rest(queryStringParameters={"fo\udc80": "json"}), "params", "'fo\\udc80'"),
        (
            _rest(multiValueQueryStringParameters={"format": ["json", "x\ud800"]}),
            "params.format[1]",
            "'format'",
        ),
        (_rest(headers={"X-Trace": "a\udfffb"}), "headers.X-Trace", "'X-Trace'"),
        (_rest(headers={"X-\udc00": "1"}), "headers", "'X-\\udc00'"),
        (_rest(pathParameters={"proxy": "configuration/a\udc80"}), "path", "path"),
        (
            _http(rawQueryString="format=yaml", headers={"accept": "\ud800"}),
            "headers.accept",
            "'accept'",
        ),
        (_http(rawPath="/v1/configuration/\udc80", pathParameters=None), "path", "path"),
        (
            _rest(body='{"ttl": "\udc80"}'),
            "body",
            "the body",
        ),
    ],
    ids=[
        "query-value",
        "query-name",
        "repeated-query-value",
        "header-value",
        "header-name",
        "path",
        "http-api-header",
        "http-api-path",
        "raw-body",
    ],
)
def test_text_utf8_cannot_encode_is_a_400_naming_the_field(
    lenient: Dispatcher, event: dict[str, Any], where: str, named: str
) -> None:
    answer = lenient.handle(event, None)
    sendable(answer)
    assert answer["statusCode"] == 400, answer
    error = json.loads(answer["body"])["error"]
    assert named in error["message"]
    assert "lone surrogate" in error["message"]
    assert [d["where"] for d in error["details"]] == [where]


def test_an_sqs_message_holding_text_utf8_cannot_encode_fails_for_good(
    lenient: Dispatcher, deployment: dict[str, str], aws_clients: AWS
) -> None:
    events = RawTable(aws_clients.client("dynamodb"), deployment["EventTable"], "EventDate")
    events.put_item(Item={"EventDate": "2020-11-20 14:52:01", "EventType": "x"})
    record = sqs_record(
        '{"OpType": "notify/ackevent", "Events": ["2020-11-20 14:52:01", "\\udc80"]}'
    )
    with capture_logs() as logs:
        answer = lenient.handle({"Records": [record]}, None)
    assert answer == {"batchItemFailures": []}  # not sent back to be retried
    (line,) = [line for line in logs if line["event"] == "sqs.record"]
    assert line["outcome"] == "failed"
    assert "the SQS message's field 'Events'" in line["error"]
    assert len(events.items()) == 1


def test_direct_params_holding_text_utf8_cannot_encode_are_a_400(lenient: Dispatcher) -> None:
    answer = lenient.handle(
        {"OpType": "configuration", "Params": {"format": "yaml", "x": {"y": ["\udc80"]}}}, None
    )
    sendable(answer)
    assert answer["statusCode"] == 400
    assert "Params 'x'" in answer["body"]["error"]["message"]
    assert answer["body"]["error"]["details"][0]["where"] == "params.x.y[0]"


@pytest.mark.parametrize("source", [["aws:sqs"], {"a": 1}, 7, None])
def test_records_whose_event_source_is_not_text_are_a_400(lenient: Dispatcher, source: Any) -> None:
    event = {"Records": [{"messageId": "m1", "eventSource": source, "body": "{}"}]}
    answer = lenient.handle(event, None)
    assert answer["statusCode"] == 400, answer


def test_a_document_key_too_long_is_quoted_short(client: InteractClient) -> None:
    body = json.dumps({"y" * 100_000: "1"})
    event = apigw_rest_event("POST", "configuration", body=body)
    answer = client.dispatcher.handle(event, None)
    assert answer["statusCode"] == 400
    assert len(answer["body"]) < 2_000


CONTROL = "control/instances/unstoppable"


@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        (CONTROL, {"mode": "add\udc00"}, "mode"),
        (CONTROL, {"mode": "add", "ttl": "hours=1\ud800"}, "ttl"),
        (CONTROL, {"mode": "add", "ttl": "1" + "0" * 130}, "ttl"),
        (CONTROL, {"mode": "add", "ttl": "days=1e39"}, "ttl"),
        (CONTROL, {"excluded": "tr\udfffue"}, "excluded"),
        ("control/reschedulenow", {"delay": "6\ud8000"}, "delay"),
        ("backup", {"format": "json\ud800"}, "format"),
    ],
)
def test_bad_parameters_of_the_fleet_operations_are_a_400_that_can_be_sent(
    client: InteractClient, path: str, params: dict[str, str], named: str
) -> None:
    answer = client.get(path, params)
    sendable(answer.raw)
    assert answer.status_code == 400, answer.text
    assert named in json.dumps(answer.json()["error"])
    assert len(answer.text) < 2_000


def test_instance_ids_with_lone_surrogates_are_a_400_and_write_nothing(
    client: InteractClient, deployment: dict[str, str], aws_clients: AWS
) -> None:
    state = RawTable(aws_clients.client("dynamodb"), deployment["StateTable"])
    answer = client.get(CONTROL, {"instanceids": "i-0\udc00", "mode": "add"})
    sendable(answer.raw)
    assert answer.status_code == 400, answer.text
    assert "'instanceids'" in answer.json()["error"]["message"]
    assert state.get("ec2.control.state") is None, "nothing written"


def test_a_filter_document_too_large_is_refused_before_any_aws_call(
    client: InteractClient,
) -> None:
    tags = {f"tag-{n}": "v*" for n in range(51)}
    answer = client.post(CONTROL, json.dumps({"Tags": tags}), {"mode": "add"})
    assert answer.status_code == 400, answer.text
    assert "Tags" in json.dumps(answer.json()["error"])
    ids = {"InstanceIds": ["i-0"] * 1001}
    assert client.post(CONTROL, json.dumps(ids), {"mode": "add"}).status_code == 400


# -------------------------------------------------------------------------
# Documents are bounded whether JSON or YAML: 6 MiB, 10,000 values, 32 levels
# -------------------------------------------------------------------------


def _any_document(request: Request) -> Any:
    return {"length": len(request.parsed_body)}


@pytest.fixture
def documents() -> Dispatcher:
    """A dispatcher whose ``POST doc`` takes any document."""
    doc = make_operation("doc", _any_document, methods={"POST"}, body="document")
    return build(OperationsPlugin(doc), raise_unexpected=True)


def _post(dispatcher: Dispatcher, body: str, op: str = "doc") -> tuple[int, Any]:
    answer = dispatcher.handle(apigw_rest_event("POST", op, body=body), None)
    sendable(answer)
    assert len(answer["body"]) < 2_000
    return answer["statusCode"], json.loads(answer["body"])


def _nested(levels: int) -> Any:
    value: Any = 0
    for level in range(levels):
        value = [value] if level % 2 else {"k": value}
    return value


def _values(count: int) -> Any:
    """A document of exactly ``count`` values (a mapping's keys are values)."""
    keys = (count - 3) // 2  # the mapping, "list" and its list are the other three
    document: dict[str, Any] = {f"k{n}": n for n in range(keys)}
    document["list"] = [0] * (count - 3 - 2 * keys)
    return document


def _as(document: Any, syntax: str) -> str:
    if syntax == "yaml":
        return yaml.safe_dump(document, default_flow_style=False)
    return json.dumps(document, indent=1)


def test_the_documents_of_these_tests_hold_what_they_say() -> None:
    def count(value: Any) -> int:
        if isinstance(value, dict):
            return 1 + sum(1 + count(v) for v in value.values())
        if isinstance(value, list):
            return 1 + sum(count(v) for v in value)
        return 1

    def depth(value: Any) -> int:
        children = value.values() if isinstance(value, dict) else value
        if isinstance(value, dict | list):
            return 1 + max((depth(child) for child in children), default=0)
        return 0

    assert [count(_values(n)) for n in (10_000, 10_001)] == [10_000, 10_001]
    assert [depth(_nested(n)) for n in (32, 33)] == [32, 33]


@pytest.mark.parametrize("syntax", ["json", "yaml"])
def test_a_document_at_the_limits_is_read(documents: Dispatcher, syntax: str) -> None:
    for document in (_values(MAX_NODES), _nested(MAX_DEPTH)):
        status, answer = _post(documents, _as(document, syntax))
        assert status == 200, answer
    # Commas, colons and brackets inside strings are text, not values or levels.
    punctuated = {"a": ",:[{" * 20_000, "b": "[" * 100}
    assert _post(documents, _as(punctuated, syntax)) == (200, {"length": 2})


@pytest.mark.parametrize("syntax", ["json", "yaml"])
@pytest.mark.parametrize(
    ("document", "said"),
    [
        (_values(MAX_NODES + 1), f"the body holds more than {MAX_NODES} values at line "),
        (
            _nested(MAX_DEPTH + 1),
            f"the body is nested too deeply (more than {MAX_DEPTH} levels at ",
        ),
        ([0] * 1_000_000, f"the body holds more than {MAX_NODES} values at line "),
    ],
    ids=["10001-values", "33-levels", "a-million-values"],
)
def test_a_document_over_the_limits_is_a_400_naming_the_limit(
    documents: Dispatcher, syntax: str, document: Any, said: str
) -> None:
    status, answer = _post(documents, _as(document, syntax))
    assert status == 400
    assert said in answer["error"]["message"]


def test_json_far_over_the_limits_is_refused_before_it_is_parsed(
    documents: Dispatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clonesquad_interact import formats

    decoded: list[str] = []
    decode = formats._DECODER.decode
    monkeypatch.setattr(formats, "_DECODER", SimpleNamespace(decode=decoded.append))
    for body in ("[0" + ", 0" * 1_000_000 + "]", "[0" + ",0" * 30_000 + "]", "[" * 100_000):
        status, answer = _post(documents, body)
        assert status == 400, answer
    assert decoded == []
    monkeypatch.setattr(formats, "_DECODER", SimpleNamespace(decode=decode))
    assert _post(documents, json.dumps(_values(MAX_NODES)))[0] == 200


def test_a_document_nested_far_too_deeply_is_a_400(documents: Dispatcher) -> None:
    status, answer = _post(documents, "[" * 100_000 + "]" * 100_000)
    assert status == 400
    assert (
        "nested too deeply (more than 32 levels at line 1, column 33)" in answer["error"]["message"]
    )


@pytest.mark.parametrize("syntax", ["json", "yaml"])
def test_a_document_larger_than_6_mib_is_a_413(documents: Dispatcher, syntax: str) -> None:
    at_limit = '"' + "x" * (MAX_DOCUMENT_BYTES - 2) + '"'
    assert _post(documents, at_limit) == (200, {"length": MAX_DOCUMENT_BYTES - 2})
    for body in (
        _as(["x" * MAX_DOCUMENT_BYTES], syntax),
        _as(["é" * (MAX_DOCUMENT_BYTES // 2)], syntax),  # fewer characters than bytes
    ):
        status, answer = _post(documents, body)
        assert status == 413
        assert f"larger than {MAX_DOCUMENT_BYTES} bytes" in answer["error"]["message"]


@pytest.mark.parametrize(
    ("body", "status", "said"),
    [
        (json.dumps(_values(MAX_NODES + 1)), 400, f"more than {MAX_NODES} values"),
        (json.dumps({"app.disable": _nested(MAX_DEPTH)}), 400, "nested too deeply"),
        (json.dumps({"app.disable": "x" * MAX_DOCUMENT_BYTES}), 413, "bytes"),
    ],
    ids=["values", "levels", "bytes"],
)
def test_a_configuration_document_over_the_limits_writes_nothing(
    client: InteractClient,
    deployment: dict[str, str],
    aws_clients: AWS,
    body: str,
    status: int,
    said: str,
) -> None:
    table = RawTable(aws_clients.client("dynamodb"), deployment["ConfigurationTable"])
    code, answer = _post(client.dispatcher, body, "configuration")
    assert code == status, answer
    assert said in answer["error"]["message"]
    assert table.content() == {}
