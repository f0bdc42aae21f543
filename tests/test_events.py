"""Normalization of Lambda events (``clonesquad_interact.events``) on realistic samples.

The samples in ``tests/events/`` are shaped as AWS delivers them; variants are
built from them with ``copy.deepcopy`` and field edits.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from clonesquad_interact import (
    BadRequest,
    Body,
    Dispatcher,
    Interface,
    Operation,
    Request,
    hookimpl,
)
from clonesquad_interact.events import (
    EventKind,
    classify,
    from_apigw_http,
    from_apigw_rest,
    from_direct_event,
    from_sqs_record,
)
from clonesquad_interact.request import thaw

from helpers import sample

EVENTS = Path(__file__).parent / "events"

INSTANCE_CALLER = "AROA4XZPU6QWEXAMPLE02:i-0f3c5e2a9b8d71c46"
INSTANCE_ARN = (
    "arn:aws:sts::111111111111:assumed-role/CloneSquad-test-InstanceRole/i-0f3c5e2a9b8d71c46"
)


def sqs_record_sample(index: int = 0) -> dict[str, Any]:
    """A private copy of one record of the SQS batch sample."""
    record: dict[str, Any] = sample("sqs_batch")["Records"][index]
    return record


def rest_without_proxy(path: str) -> dict[str, Any]:
    """The root REST sample (no ``pathParameters``) with another ``path``."""
    event = sample("apigw_rest_root")
    event["path"] = path
    return event


def rest_with_proxy(proxy: str) -> dict[str, Any]:
    """The configuration-key REST sample with another ``{proxy+}`` value (and path)."""
    event = sample("apigw_rest_get_configuration_key")
    event["pathParameters"] = {"proxy": proxy}
    event["path"] = f"/{proxy}"
    event["requestContext"]["path"] = f"/v1/{proxy}"
    return event


def with_query(event: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
    """Set a REST event's query string the way API Gateway fills both fields."""
    event["multiValueQueryStringParameters"] = copy.deepcopy(query) or None
    event["queryStringParameters"] = {k: v[-1] for k, v in query.items()} or None
    return event


def sqs_body(record: dict[str, Any], body: str) -> dict[str, Any]:
    record["body"] = body
    return record


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


# -------------------------------------------------------------------------
# classify
# -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("apigw_rest_get_configuration_key", EventKind.APIGW_REST),
        ("apigw_rest_root", EventKind.APIGW_REST),
        ("apigw_rest_mixed_case", EventKind.APIGW_REST),
        ("apigw_rest_post_base64", EventKind.APIGW_REST),
        ("apigw_rest_no_request_context", EventKind.APIGW_REST),
        ("apigw_rest_query_smuggling", EventKind.APIGW_REST),
        ("apigw_http_v2", EventKind.APIGW_HTTP),
        ("apigw_http_v2_default_stage", EventKind.APIGW_HTTP),
        ("sqs_batch", EventKind.SQS),
    ],
)
def test_classify_samples(name: str, kind: EventKind) -> None:
    assert classify(sample(name)) is kind


def test_classify_direct_invocation() -> None:
    assert classify({"OpType": "fleet/status"}) is EventKind.DIRECT
    assert classify({"OpType": "", "Method": "GET", "Params": {}}) is EventKind.DIRECT


def test_classify_http_api_payload_1_0_is_rest_shaped() -> None:
    # HTTP APIs can send payload format 1.0, which has "version": "1.0" and the REST fields.
    event = sample("apigw_rest_get_configuration_key")
    event["version"] = "1.0"
    assert classify(event) is EventKind.APIGW_REST


def test_classify_does_not_take_a_query_parameter_for_a_direct_invocation() -> None:
    # A REST event whose query string carries OpType is still a REST event.
    assert classify(sample("apigw_rest_query_smuggling")) is EventKind.APIGW_REST


SCHEDULED_EVENT = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "111111111111",
    "time": "2026-11-25T08:20:00Z",
    "region": "eu-west-3",
    "resources": ["arn:aws:events:eu-west-3:111111111111:rule/CloneSquad-Main-test"],
    "detail": {},
}

SNS_EVENT = {
    "Records": [
        {
            "EventSource": "aws:sns",
            "EventVersion": "1.0",
            "EventSubscriptionArn": (
                "arn:aws:sns:eu-west-3:111111111111:CloneSquad-Notifications-test"
                ":9a2e5c1b-3d4f-4a6b-8c0d-2e4f6a8b0c1d"
            ),
            "Sns": {
                "Type": "Notification",
                "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
                "TopicArn": "arn:aws:sns:eu-west-3:111111111111:CloneSquad-Notifications-test",
                "Subject": None,
                "Message": '{"OpType": "notify/ackevent", "Events": []}',
                "Timestamp": "2026-11-25T08:10:00.123Z",
                "SignatureVersion": "1",
                "MessageAttributes": {},
            },
        }
    ]
}

S3_EVENT = {
    "Records": [
        {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "eu-west-3",
            "eventTime": "2026-11-25T08:10:00.000Z",
            "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": "clonesquad-config"}, "object": {"key": "config.yaml"}},
        }
    ]
}


@pytest.mark.parametrize(
    ("event", "fragments"),
    [
        pytest.param(None, ["null", "expected an API Gateway proxy event"], id="None"),
        pytest.param([], ["a list", "expected an API Gateway proxy event"], id="list"),
        pytest.param([{"OpType": "fleet/status"}], ["a list"], id="list-of-events"),
        pytest.param({}, ["keys: none", "SQS batch", "direct invocation"], id="empty-dict"),
        pytest.param(42, ["expected an API Gateway proxy event"], id="int"),
        pytest.param("text", ["a string", "expected"], id="str"),
        pytest.param(
            {**SCHEDULED_EVENT, "detail-type": "EC2 Instance State-change Notification"},
            ["detail-type", "source", "expected an API Gateway proxy event", "scheduled event"],
            id="eventbridge-other-event",
        ),
        pytest.param({"foo": 1, "bar": 2}, ["bar, foo"], id="unknown-keys"),
        pytest.param(S3_EVENT, ["aws:sqs", "aws:s3"], id="s3-records"),
        pytest.param({"Records": []}, ["non-empty list"], id="no-records"),
        pytest.param({"Records": {"messageId": "x"}}, ["non-empty list"], id="records-not-a-list"),
        pytest.param(
            {"Records": [sqs_record_sample(), S3_EVENT["Records"][0]]},
            ["aws:s3", "aws:sqs"],
            id="sqs-and-s3-records",
        ),
    ],
)
def test_classify_refuses_other_events_with_a_clear_message(
    event: Any, fragments: list[str]
) -> None:
    with pytest.raises(BadRequest) as raised:
        classify(event)
    assert raised.value.status == 400
    for fragment in fragments:
        assert fragment in raised.value.message


def test_classify_refuses_sns_records() -> None:
    with pytest.raises(BadRequest, match="only SQS records"):
        classify(copy.deepcopy(SNS_EVENT))


def test_classify_names_the_sns_source_it_refuses() -> None:
    with pytest.raises(BadRequest) as raised:
        classify(copy.deepcopy(SNS_EVENT))
    assert "aws:sns" in raised.value.message


# -------------------------------------------------------------------------
# API Gateway REST (payload 1.0)
# -------------------------------------------------------------------------


def test_rest_configuration_key_sample() -> None:
    event = sample("apigw_rest_get_configuration_key")
    request = from_apigw_rest(event)
    assert request.op == "configuration/ec2.schedule.min_instance_count"
    assert request.interface is Interface.APIGW
    assert request.method == "GET"
    assert dict(request.params) == {"format": "yaml", "tag": ("a", "b")}
    assert request.format == "yaml"
    assert request.body is None
    assert request.request_id == "c0a8f3e1-5b7d-4f2a-9e6c-1d3b5a7f9e20"
    assert request.raw_event is event
    assert request.path_args == ()
    assert request.deployment is None


def test_rest_identity_is_the_request_context_identity() -> None:
    event = sample("apigw_rest_get_configuration_key")
    request = from_apigw_rest(event)
    assert request.identity is not None
    assert thaw(request.identity) == event["requestContext"]["identity"]
    assert request.identity["caller"] == INSTANCE_CALLER
    assert request.identity["userArn"] == INSTANCE_ARN
    assert request.caller == INSTANCE_CALLER


def test_rest_root_sample() -> None:
    request = from_apigw_rest(sample("apigw_rest_root"))
    assert request.op == ""
    assert request.method == "GET"
    assert dict(request.params) == {}
    assert request.body is None
    assert request.request_id == "3e5d7f91-2c4a-4b6e-8d0f-a1c3e5b7d9f2"


def test_rest_mixed_case_sample_keeps_the_case() -> None:
    request = from_apigw_rest(sample("apigw_rest_mixed_case"))
    assert request.op == "Configuration/App.Disable"


def test_rest_op_comes_from_the_proxy_path_parameter_before_path() -> None:
    # Behind a custom domain, path carries the base path mapping; {proxy+} does not.
    event = sample("apigw_rest_get_configuration_key")
    event["path"] = "/interact/configuration/ec2.schedule.min_instance_count"
    assert from_apigw_rest(event).op == "configuration/ec2.schedule.min_instance_count"


@pytest.mark.parametrize(
    "proxy",
    [
        "Configuration/App.Disable",
        "configuration//app.disable",
        "configuration/app.disable/",
        "configuration/a%2Fb",
        "configuration/%2E%2E/metadata",
        "configuration/./app.disable",
        "configuration/app%20disable",
        "CONFIGURATION",
    ],
)
def test_rest_proxy_is_kept_literally(proxy: str) -> None:
    assert from_apigw_rest(rest_with_proxy(proxy)).op == proxy


@pytest.mark.parametrize(
    ("path", "op"),
    [
        ("/", ""),
        ("/fleet/status", "fleet/status"),
        ("//fleet/status", "/fleet/status"),
        ("/Configuration//App.Disable", "Configuration//App.Disable"),
        ("/configuration/a%2Fb", "configuration/a%2Fb"),
        ("/Fleet/Status/", "Fleet/Status/"),
        ("fleet/status", "fleet/status"),
    ],
)
def test_rest_without_proxy_op_is_path_minus_one_leading_slash(path: str, op: str) -> None:
    assert from_apigw_rest(rest_without_proxy(path)).op == op


@pytest.mark.parametrize("path_parameters", [None, {}, {"id": "i-0f3c5e2a9b8d71c46"}])
def test_rest_path_parameters_without_proxy_fall_back_to_path(
    path_parameters: dict[str, str] | None,
) -> None:
    event = rest_without_proxy("/fleet/status")
    event["pathParameters"] = path_parameters
    assert from_apigw_rest(event).op == "fleet/status"


@pytest.mark.parametrize("method", ["GET", "POST", "get", "Post"])
def test_rest_method_is_upper_case(method: str) -> None:
    event = sample("apigw_rest_root")
    event["httpMethod"] = method
    assert from_apigw_rest(event).method == method.upper()


def test_rest_single_value_parameters_when_there_is_no_multi_value_field() -> None:
    event = sample("apigw_rest_root")
    event["queryStringParameters"] = {"format": "json", "subfleet": "web"}
    event["multiValueQueryStringParameters"] = None
    assert dict(from_apigw_rest(event).params) == {"format": "json", "subfleet": "web"}


def test_rest_multi_value_parameters_win_over_the_single_value_field() -> None:
    # API Gateway puts the last value of a repeated parameter in queryStringParameters.
    event = sample("apigw_rest_get_configuration_key")
    assert event["queryStringParameters"]["tag"] == "b"
    params = from_apigw_rest(event).params
    assert params["tag"] == ("a", "b")
    assert params["format"] == "yaml"


def test_rest_parameter_given_once_is_a_string() -> None:
    event = with_query(sample("apigw_rest_root"), {"format": ["yaml"], "tag": ["only"]})
    params = from_apigw_rest(event).params
    assert params["tag"] == "only"
    assert isinstance(params["tag"], str)


def test_rest_parameter_repeated_three_times_keeps_order_and_duplicates() -> None:
    event = with_query(sample("apigw_rest_root"), {"tag": ["b", "a", "b"]})
    assert from_apigw_rest(event).params["tag"] == ("b", "a", "b")


def test_rest_empty_parameter_value_is_kept() -> None:
    event = with_query(sample("apigw_rest_root"), {"dryrun": [""]})
    assert from_apigw_rest(event).params["dryrun"] == ""


def test_rest_no_query_string() -> None:
    event = sample("apigw_rest_mixed_case")
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert dict(from_apigw_rest(event).params) == {}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("queryStringParameters", {"format": 1}),
        ("queryStringParameters", ["format=json"]),
        ("multiValueQueryStringParameters", {"format": "json"}),
        ("multiValueQueryStringParameters", {"format": [1]}),
    ],
)
def test_rest_malformed_query_fields_are_bad_requests(field: str, value: Any) -> None:
    event = sample("apigw_rest_root")
    event["queryStringParameters"] = None
    event["multiValueQueryStringParameters"] = None
    event[field] = value
    with pytest.raises(BadRequest, match=field):
        from_apigw_rest(event)


def test_rest_base64_body_is_decoded() -> None:
    event = sample("apigw_rest_post_base64")
    request = from_apigw_rest(event)
    assert request.method == "POST"
    assert request.op == "configuration"
    assert request.format == "yaml"
    assert request.body == base64.b64decode(event["body"]).decode("utf-8")
    assert request.body.startswith("# CloneSquad configuration")
    assert "ec2.schedule.min_instance_count: 2\n" in request.body


def test_rest_text_body_is_kept_as_is_when_not_base64_encoded() -> None:
    event = sample("apigw_rest_post_base64")
    text = base64.b64decode(event["body"]).decode("utf-8")
    event["body"], event["isBase64Encoded"] = text, False
    assert from_apigw_rest(event).body == text


def test_rest_base64_flag_on_a_text_body_is_not_taken_for_text() -> None:
    # A YAML document is not base64: marked as such, it is refused, not passed on garbled.
    event = sample("apigw_rest_post_base64")
    event["body"] = "app.disable: 1\n"
    with pytest.raises(BadRequest, match="base64"):
        from_apigw_rest(event)


@pytest.mark.parametrize("body", ["not base64!", "YWJj=ZGVm", "YWJjZA"])
def test_rest_invalid_base64_body_is_a_bad_request(body: str) -> None:
    event = sample("apigw_rest_post_base64")
    event["body"] = body
    with pytest.raises(BadRequest, match="isBase64Encoded but is not valid base64"):
        from_apigw_rest(event)


@pytest.mark.parametrize("raw", [b"\xff\xfe\x00a", b"caf\xe9: 1\n", b"\x80"])
def test_rest_non_utf8_body_is_a_bad_request(raw: bytes) -> None:
    event = sample("apigw_rest_post_base64")
    event["body"] = base64.b64encode(raw).decode("ascii")
    with pytest.raises(BadRequest, match="UTF-8"):
        from_apigw_rest(event)


def test_rest_utf8_body_with_accents_is_decoded() -> None:
    event = sample("apigw_rest_post_base64")
    text = "description: « flotte été »\n"
    event["body"] = base64.b64encode(text.encode("utf-8")).decode("ascii")
    assert from_apigw_rest(event).body == text


def test_rest_non_string_body_is_a_bad_request() -> None:
    event = sample("apigw_rest_post_base64")
    event["body"], event["isBase64Encoded"] = {"app.disable": 1}, False
    with pytest.raises(BadRequest, match="body"):
        from_apigw_rest(event)


def test_rest_without_request_context() -> None:
    event = sample("apigw_rest_no_request_context")
    assert "requestContext" not in event
    first = from_apigw_rest(event)
    second = from_apigw_rest(event)
    assert first.op == "fleet/status"
    assert first.method == "GET"
    assert first.identity is None
    assert first.caller is None
    assert is_uuid(first.request_id)
    assert first.request_id != second.request_id


def test_rest_request_context_without_identity_or_request_id() -> None:
    event = sample("apigw_rest_root")
    del event["requestContext"]["identity"]
    del event["requestContext"]["requestId"]
    request = from_apigw_rest(event)
    assert request.identity is None
    assert is_uuid(request.request_id)


def test_rest_missing_http_method_is_a_bad_request() -> None:
    event = sample("apigw_rest_root")
    del event["httpMethod"]
    with pytest.raises(BadRequest, match="httpMethod"):
        from_apigw_rest(event)


def test_rest_headers_are_lower_cased() -> None:
    event = sample("apigw_rest_get_configuration_key")
    headers = from_apigw_rest(event).headers
    assert set(headers) == {name.lower() for name in event["headers"]}
    assert all(name == name.lower() for name in headers)
    assert headers["x-amz-date"] == event["headers"]["X-Amz-Date"]
    assert headers["host"] == "pq264fab39.execute-api.eu-west-3.amazonaws.com"


def test_rest_null_headers_give_no_headers() -> None:
    event = sample("apigw_rest_root")
    event["headers"] = None
    assert dict(from_apigw_rest(event).headers) == {}


def test_request_is_frozen() -> None:
    request = from_apigw_rest(sample("apigw_rest_get_configuration_key"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.op = "configuration/app.disable"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.method = "POST"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.identity = None  # type: ignore[misc]


def test_request_params_identity_and_headers_are_read_only() -> None:
    request = from_apigw_rest(sample("apigw_rest_get_configuration_key"))
    with pytest.raises(TypeError):
        request.params["format"] = "json"  # type: ignore[index]
    with pytest.raises(TypeError):
        del request.params["tag"]  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        request.params["tag"].append("c")
    assert request.identity is not None
    with pytest.raises(TypeError):
        request.identity["caller"] = "AIDAEXAMPLEOPERATOR"  # type: ignore[index]
    with pytest.raises(TypeError):
        request.headers["host"] = "evil.example.com"  # type: ignore[index]


def test_request_does_not_change_when_the_event_is_changed_afterwards() -> None:
    event = sample("apigw_rest_get_configuration_key")
    request = from_apigw_rest(event)
    event["multiValueQueryStringParameters"]["tag"].append("c")
    event["multiValueQueryStringParameters"]["dryrun"] = ["true"]
    event["requestContext"]["identity"]["caller"] = "AIDAEXAMPLEOPERATOR"
    event["headers"]["Host"] = "evil.example.com"
    assert dict(request.params) == {"format": "yaml", "tag": ("a", "b")}
    assert request.caller == INSTANCE_CALLER
    assert request.headers["host"] == "pq264fab39.execute-api.eu-west-3.amazonaws.com"


# -------------------------------------------------------------------------
# Query-string smuggling: parameters never change route, method, body or identity
# -------------------------------------------------------------------------


def test_smuggled_query_parameters_are_only_parameters() -> None:
    event = sample("apigw_rest_query_smuggling")
    request = from_apigw_rest(event)
    assert request.op == "metadata"
    assert request.method == "GET"
    assert request.body is None
    assert request.identity is not None
    assert thaw(request.identity) == event["requestContext"]["identity"]
    assert dict(request.params) == {"OpType": "configuration/x", "httpMethod": "POST", "body": "1"}


SMUGGLED_QUERIES = {
    "sample": None,
    "op-names": {
        "OpType": ["configuration/x"],
        "op": ["configuration/x"],
        "proxy": ["configuration/x"],
        "path": ["/configuration/x"],
        "resource": ["/{proxy+}"],
        "pathParameters": ['{"proxy": "configuration/x"}'],
    },
    "methods": {"httpMethod": ["POST"], "Method": ["POST"], "method": ["POST"]},
    "bodies": {"body": ["app.disable: 1"], "Body": ["1"], "isBase64Encoded": ["true"]},
    "identity": {
        "caller": ["AIDAEXAMPLEOPERATOR"],
        "identity": ['{"caller": "AIDAEXAMPLEOPERATOR"}'],
        "requestContext": ['{"identity": {}}'],
    },
    "repeated": {"OpType": ["metadata", "configuration/x"], "httpMethod": ["GET", "POST"]},
}


def smuggling_event(variant: str) -> dict[str, Any]:
    event = sample("apigw_rest_query_smuggling")
    query = SMUGGLED_QUERIES[variant]
    if query is not None:
        with_query(event, query)
    return event


@pytest.mark.parametrize("variant", list(SMUGGLED_QUERIES))
def test_smuggled_query_does_not_change_the_request(variant: str) -> None:
    event = smuggling_event(variant)
    identity = copy.deepcopy(event["requestContext"]["identity"])
    request = from_apigw_rest(event)
    assert request.op == "metadata"
    assert request.method == "GET"
    assert request.body is None
    assert request.identity is not None
    assert thaw(request.identity) == identity
    assert set(request.params) == set(event["multiValueQueryStringParameters"])


class RecordingPlugin:
    """Operations ``metadata`` (GET) and ``configuration/(.*)`` (GET, POST) that record calls."""

    def __init__(self, *, metadata_params: dict[str, Any] | None = None) -> None:
        self.metadata_params = metadata_params if metadata_params is not None else {}
        self.metadata_calls: list[Request] = []
        self.configuration_calls: list[Request] = []

    @hookimpl
    def register_operations(self) -> list[Operation]:
        return [
            Operation(
                route="metadata",
                handler=self.metadata,
                summary="Test metadata.",
                schema={
                    "type": "object",
                    "properties": {"params": {"type": "object", **self.metadata_params}},
                },
            ),
            Operation(
                route=re.compile("configuration/(.*)"),
                handler=self.configuration,
                summary="Test configuration key.",
                methods=frozenset({"GET", "POST"}),
                body=Body.TEXT,
                schema={
                    "type": "object",
                    "properties": {"params": {"type": "object", "additionalProperties": True}},
                },
            ),
        ]

    def metadata(self, request: Request) -> dict[str, Any]:
        self.metadata_calls.append(request)
        return {"served": "metadata"}

    def configuration(self, request: Request) -> dict[str, Any]:
        self.configuration_calls.append(request)
        return {"served": "configuration", "key": request.path_args[0]}


def recording_dispatcher(plugin: RecordingPlugin) -> Dispatcher:
    return Dispatcher(
        [plugin], builtins=False, entry_points=False, environ={}, raise_unexpected=True
    )


def test_recording_plugin_serves_configuration_when_asked_for_it() -> None:
    # The control for the tests below: a real configuration request reaches its handler.
    plugin = RecordingPlugin()
    event = with_query(rest_with_proxy("configuration/ec2.schedule.min_instance_count"), {})
    answer = recording_dispatcher(plugin).handle(event, None)
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"]) == {
        "served": "configuration",
        "key": "ec2.schedule.min_instance_count",
    }
    assert len(plugin.configuration_calls) == 1
    assert plugin.metadata_calls == []


@pytest.mark.parametrize("variant", [v for v in SMUGGLED_QUERIES if v != "repeated"])
def test_smuggled_query_never_reaches_another_operation(variant: str) -> None:
    plugin = RecordingPlugin()
    event = smuggling_event(variant)
    answer = recording_dispatcher(plugin).handle(event, None)
    assert plugin.configuration_calls == []
    assert plugin.metadata_calls == []
    assert answer["statusCode"] == 400
    error = json.loads(answer["body"])["error"]
    assert error["type"] == "ValidationFailed"
    assert "'metadata'" in error["message"]
    assert error["request_id"] == event["requestContext"]["requestId"]
    assert all(problem["where"].startswith("params") for problem in error["details"])


def test_smuggled_repeated_query_never_reaches_another_operation() -> None:
    plugin = RecordingPlugin()
    answer = recording_dispatcher(plugin).handle(smuggling_event("repeated"), None)
    assert plugin.configuration_calls == []
    assert plugin.metadata_calls == []
    assert answer["statusCode"] == 400


@pytest.mark.parametrize("variant", list(SMUGGLED_QUERIES))
def test_smuggled_query_accepted_by_an_open_schema_still_runs_metadata_as_get(variant: str) -> None:
    plugin = RecordingPlugin(metadata_params={"additionalProperties": True})
    event = smuggling_event(variant)
    answer = recording_dispatcher(plugin).handle(event, None)
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"]) == {"served": "metadata"}
    assert plugin.configuration_calls == []
    [request] = plugin.metadata_calls
    assert request.op == "metadata"
    assert request.method == "GET"
    assert request.body is None
    assert request.caller == INSTANCE_CALLER
    assert set(request.params) == set(event["multiValueQueryStringParameters"])


# -------------------------------------------------------------------------
# API Gateway HTTP API (payload 2.0)
# -------------------------------------------------------------------------


def test_http_sample() -> None:
    event = sample("apigw_http_v2")
    request = from_apigw_http(event)
    assert request.op == "fleet/status"
    assert request.interface is Interface.APIGW
    assert request.method == "GET"
    assert request.body is None
    assert request.request_id == "CbTGnF0WCGYEJPQ="
    assert request.raw_event is event
    assert request.headers["x-amz-date"] == "20261125T081700Z"


def test_http_repeated_parameter_comes_from_raw_query_string() -> None:
    event = sample("apigw_http_v2")
    # API Gateway joins repeated values with commas in queryStringParameters.
    assert event["queryStringParameters"]["subfleet"] == "web,batch"
    params = from_apigw_http(event).params
    assert dict(params) == {"format": "yaml", "subfleet": ("web", "batch")}


def test_http_comma_in_a_single_value_is_not_a_repetition() -> None:
    event = sample("apigw_http_v2")
    event["rawQueryString"] = "tag=a%2Cb&format=json"
    event["queryStringParameters"] = {"tag": "a,b", "format": "json"}
    assert dict(from_apigw_http(event).params) == {"tag": "a,b", "format": "json"}


def test_http_query_values_are_percent_decoded() -> None:
    event = sample("apigw_http_v2")
    event["rawQueryString"] = "key=ec2.schedule%2Fmin&note=two+words&empty="
    event["queryStringParameters"] = {"key": "ec2.schedule/min", "note": "two words", "empty": ""}
    params = from_apigw_http(event).params
    assert dict(params) == {"key": "ec2.schedule/min", "note": "two words", "empty": ""}


def test_http_without_raw_query_string_uses_query_string_parameters() -> None:
    event = sample("apigw_http_v2")
    del event["rawQueryString"]
    event["queryStringParameters"] = {"format": "json"}
    assert dict(from_apigw_http(event).params) == {"format": "json"}


def test_http_empty_query() -> None:
    event = sample("apigw_http_v2_default_stage")
    assert event["rawQueryString"] == ""
    assert dict(from_apigw_http(event).params) == {}


def test_http_cookies_are_not_parameters() -> None:
    event = sample("apigw_http_v2")
    assert event["cookies"]
    request = from_apigw_http(event)
    assert not any("cs-session" in str(value) for value in request.params.values())
    assert "cookie" not in request.headers


def test_http_identity_is_mapped_from_the_iam_authorizer() -> None:
    event = sample("apigw_http_v2")
    iam = event["requestContext"]["authorizer"]["iam"]
    request = from_apigw_http(event)
    assert request.identity is not None
    assert request.identity["caller"] == iam["callerId"] == INSTANCE_CALLER
    assert request.identity["user"] == iam["userId"]
    assert request.identity["userArn"] == INSTANCE_ARN
    assert request.identity["accountId"] == "111111111111"
    assert request.identity["accessKey"] == "ASIA4XZPU6QWEXAMPLE2"
    assert request.identity["principalOrgId"] == "o-a1b2c3d4e5"
    assert request.identity["sourceIp"] == event["requestContext"]["http"]["sourceIp"]
    assert request.identity["userAgent"] == event["requestContext"]["http"]["userAgent"]
    assert request.caller == INSTANCE_CALLER


def test_http_without_authorizer_has_no_caller() -> None:
    event = sample("apigw_http_v2")
    del event["requestContext"]["authorizer"]
    request = from_apigw_http(event)
    assert request.caller is None
    assert request.identity is not None
    assert request.identity["sourceIp"] == "172.31.42.17"


def test_http_default_stage_op_comes_from_raw_path() -> None:
    event = sample("apigw_http_v2_default_stage")
    assert "pathParameters" not in event
    assert event["requestContext"]["stage"] == "$default"
    request = from_apigw_http(event)
    assert request.op == "fleet/status"
    assert request.request_id == "CbTHxK2nCGYEMRw="


@pytest.mark.parametrize(
    ("raw_path", "op"),
    [
        ("/v1/fleet/status", "v1/fleet/status"),
        ("/", ""),
        ("//fleet/status", "/fleet/status"),
        ("/Configuration//App.Disable", "Configuration//App.Disable"),
        ("/configuration/a%2Fb", "configuration/a%2Fb"),
        ("/$default", "$default"),
    ],
)
def test_http_default_stage_raw_path_is_kept_literally(raw_path: str, op: str) -> None:
    event = sample("apigw_http_v2_default_stage")
    event["rawPath"] = event["requestContext"]["http"]["path"] = raw_path
    assert from_apigw_http(event).op == op


@pytest.mark.parametrize(
    ("raw_path", "op"),
    [
        ("/v1/fleet/status", "fleet/status"),
        ("/v1/Configuration//App.Disable", "Configuration//App.Disable"),
        ("/v1/configuration/a%2Fb", "configuration/a%2Fb"),
        ("/v1//fleet/status", "/fleet/status"),
        ("/v1/", ""),
        ("/v1", ""),
        ("/v10/fleet/status", "v10/fleet/status"),
        ("/V1/fleet/status", "V1/fleet/status"),
    ],
)
def test_http_named_stage_without_path_parameters_removes_the_stage(raw_path: str, op: str) -> None:
    event = sample("apigw_http_v2")
    del event["pathParameters"]
    event["routeKey"] = event["requestContext"]["routeKey"] = "$default"
    event["rawPath"] = event["requestContext"]["http"]["path"] = raw_path
    assert from_apigw_http(event).op == op


@pytest.mark.parametrize(
    "proxy", ["Configuration/App.Disable", "configuration//app.disable", "configuration/a%2Fb"]
)
def test_http_proxy_path_parameter_is_kept_literally_and_wins(proxy: str) -> None:
    event = sample("apigw_http_v2")
    event["pathParameters"] = {"proxy": proxy}
    event["rawPath"] = "/v1/fleet/status"
    assert from_apigw_http(event).op == proxy


def test_http_base64_body_is_decoded() -> None:
    event = sample("apigw_http_v2")
    event["requestContext"]["http"]["method"] = "POST"
    event["body"] = base64.b64encode(b"app.disable: 1\n").decode("ascii")
    event["isBase64Encoded"] = True
    request = from_apigw_http(event)
    assert request.method == "POST"
    assert request.body == "app.disable: 1\n"


def test_http_invalid_base64_body_is_a_bad_request() -> None:
    event = sample("apigw_http_v2")
    event["body"], event["isBase64Encoded"] = "***", True
    with pytest.raises(BadRequest, match="base64"):
        from_apigw_http(event)


def test_http_without_http_context_is_a_bad_request() -> None:
    event = sample("apigw_http_v2")
    del event["requestContext"]["http"]
    with pytest.raises(BadRequest, match="http"):
        from_apigw_http(event)


def test_http_request_is_read_only() -> None:
    request = from_apigw_http(sample("apigw_http_v2"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.op = "configuration"  # type: ignore[misc]
    with pytest.raises(TypeError):
        request.params["subfleet"] = "web"  # type: ignore[index]
    assert request.identity is not None
    with pytest.raises(TypeError):
        request.identity["caller"] = "AIDAEXAMPLEOPERATOR"  # type: ignore[index]


# -------------------------------------------------------------------------
# SQS records
# -------------------------------------------------------------------------


def test_sqs_record_sample() -> None:
    record = sqs_record_sample(0)
    request = from_sqs_record(record)
    assert request.op == "Notify/AckEvent"
    assert request.interface is Interface.SQS
    assert request.method == "POST"
    assert dict(request.params) == {"Events": ("2026-11-25 08:10:00.123456+00:00",)}
    assert request.body is None
    assert request.request_id == "059f36b4-87a3-44ab-83d2-661975830a7d"
    assert request.caller == INSTANCE_CALLER
    assert request.identity is not None
    assert request.identity["senderId"] == INSTANCE_CALLER
    assert request.identity["eventSourceARN"] == record["eventSourceARN"]
    assert request.raw_event is record


@pytest.mark.parametrize("index", [0, 1, 2])
def test_sqs_batch_records(index: int) -> None:
    record = sqs_record_sample(index)
    request = from_sqs_record(record)
    message = json.loads(record["body"])
    assert request.op == message.pop("OpType")
    assert thaw(request.params) == message
    assert request.request_id == record["messageId"]
    assert request.caller == record["attributes"]["SenderId"]
    assert request.method == "POST"


def test_sqs_op_type_case_is_kept() -> None:
    ops = [from_sqs_record(sqs_record_sample(i)).op for i in range(3)]
    assert ops == ["Notify/AckEvent", "notify/ackevent", "Debug/PublishReportNow"]


def test_sqs_body_fields_cannot_set_method_identity_or_body() -> None:
    record = sqs_body(
        sqs_record_sample(0),
        json.dumps(
            {
                "OpType": "Notify/AckEvent",
                "Method": "GET",
                "httpMethod": "GET",
                "caller": "AIDAEXAMPLEOPERATOR",
                "identity": {"caller": "AIDAEXAMPLEOPERATOR"},
                "body": "x",
                "messageId": "forged",
            }
        ),
    )
    request = from_sqs_record(record)
    assert request.method == "POST"
    assert request.caller == INSTANCE_CALLER
    assert request.body is None
    assert request.request_id == record["messageId"]
    assert set(request.params) == {
        "Method",
        "httpMethod",
        "caller",
        "identity",
        "body",
        "messageId",
    }


def test_sqs_params_are_read_only() -> None:
    request = from_sqs_record(sqs_record_sample(1))
    with pytest.raises(TypeError):
        request.params["Events"] = ()  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.op = "debug/publishreportnow"  # type: ignore[misc]


def test_sqs_record_without_message_id_gets_a_generated_request_id() -> None:
    record = sqs_record_sample(0)
    del record["messageId"]
    assert is_uuid(from_sqs_record(record).request_id)


def test_sqs_record_without_attributes_has_no_caller() -> None:
    record = sqs_record_sample(0)
    del record["attributes"]
    request = from_sqs_record(record)
    assert request.caller is None
    assert request.op == "Notify/AckEvent"


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        pytest.param("OpType=notify/ackevent", ["not JSON", '"OpType"'], id="not-json"),
        pytest.param('{"OpType": "notify/ackevent",', ["not JSON", '"OpType"'], id="truncated"),
        pytest.param("", ["not JSON"], id="empty"),
        pytest.param('["notify/ackevent"]', ["a list", '"OpType"'], id="array"),
        pytest.param('"notify/ackevent"', ["a string", '"OpType"'], id="string"),
        pytest.param("null", ["null", '"OpType"'], id="null"),
        pytest.param('{"Events": []}', ['"OpType"', "fields found: Events"], id="no-optype"),
        pytest.param("{}", ['"OpType"', "fields found: none"], id="empty-object"),
        pytest.param('{"optype": "notify/ackevent"}', ['"OpType"', "optype"], id="wrong-case"),
        pytest.param('{"OpType": 42, "Events": []}', ['"OpType" string'], id="number-optype"),
        pytest.param('{"OpType": null}', ['"OpType" string'], id="null-optype"),
        pytest.param('{"OpType": ["notify/ackevent"]}', ['"OpType" string'], id="list-optype"),
    ],
)
def test_sqs_malformed_bodies_are_bad_requests(body: str, fragments: list[str]) -> None:
    with pytest.raises(BadRequest) as raised:
        from_sqs_record(sqs_body(sqs_record_sample(0), body))
    assert raised.value.status == 400
    for fragment in fragments:
        assert fragment in raised.value.message


def test_sqs_record_without_body_is_a_bad_request() -> None:
    record = sqs_record_sample(0)
    del record["body"]
    with pytest.raises(BadRequest, match="no body"):
        from_sqs_record(record)


@pytest.mark.parametrize("record", [None, "text", ["record"]])
def test_sqs_record_that_is_not_an_object_is_a_bad_request(record: Any) -> None:
    with pytest.raises(BadRequest, match="must be an object"):
        from_sqs_record(record)


# -------------------------------------------------------------------------
# Direct invocations
# -------------------------------------------------------------------------


def test_direct_event_with_every_field() -> None:
    event = {
        "OpType": "configuration/app.disable",
        "Method": "post",
        "Params": {"ttl": "minutes=30", "tag": ["a", "b"]},
        "Body": "1",
    }
    request = from_direct_event(event)
    assert request.op == "configuration/app.disable"
    assert request.interface is Interface.DIRECT
    assert request.method == "POST"
    assert dict(request.params) == {"ttl": "minutes=30", "tag": ("a", "b")}
    assert request.body == "1"
    assert request.identity is None
    assert is_uuid(request.request_id)
    assert request.raw_event is event


def test_direct_event_defaults() -> None:
    request = from_direct_event({"OpType": ""})
    assert request.op == ""
    assert request.method == "GET"
    assert dict(request.params) == {}
    assert request.body is None


def test_direct_event_keeps_op_literally() -> None:
    assert from_direct_event({"OpType": "Configuration//App.Disable"}).op == (
        "Configuration//App.Disable"
    )


def test_direct_params_cannot_change_the_op() -> None:
    request = from_direct_event({"OpType": "metadata", "Params": {"OpType": "configuration/x"}})
    assert request.op == "metadata"
    assert dict(request.params) == {"OpType": "configuration/x"}


@pytest.mark.parametrize(
    ("event", "unknown"),
    [
        ({"OpType": "fleet/status", "format": "yaml"}, "format"),
        ({"OpType": "fleet/status", "params": {"format": "yaml"}}, "params"),
        ({"OpType": "fleet/status", "httpMethod": "POST"}, "httpMethod"),
        ({"OpType": "fleet/status", "requestContext": {"identity": {}}}, "requestContext"),
        ({"OpType": "fleet/status", "Identity": {"caller": "x"}}, "Identity"),
    ],
)
def test_direct_event_unknown_field_is_named(event: Any, unknown: str) -> None:
    with pytest.raises(BadRequest) as raised:
        from_direct_event(event)
    message = raised.value.message
    assert f"unknown: {unknown}" in message
    assert "Params" in message


def test_direct_event_lists_every_unknown_field() -> None:
    with pytest.raises(BadRequest, match="unknown: format, ttl"):
        from_direct_event({"OpType": "fleet/status", "ttl": "3600", "format": "yaml"})


@pytest.mark.parametrize(
    ("event", "fragment"),
    [
        ({}, "OpType"),
        ({"OpType": 42}, "OpType"),
        ({"OpType": None}, "OpType"),
        ({"OpType": "x", "Method": 1}, "Method"),
        ({"OpType": "x", "Params": ["format=yaml"]}, "Params"),
        ({"OpType": "x", "Params": "format=yaml"}, "Params"),
        ({"OpType": "x", "Body": {"app.disable": 1}}, "Body"),
    ],
)
def test_direct_event_malformed_fields_are_bad_requests(event: Any, fragment: str) -> None:
    with pytest.raises(BadRequest, match=fragment):
        from_direct_event(event)


def test_headers_are_a_read_only_mapping_that_compares_as_one() -> None:
    event = sample("apigw_rest_get_configuration_key")
    headers = from_apigw_rest(event).headers
    expected = {name.lower(): value for name, value in event["headers"].items()}
    assert headers == expected
    assert dict(headers) == expected
    assert len(headers) == len(expected)
    assert "host" in headers
    assert "Host" not in headers
    assert headers.get("X-Amz-Date") is None
    assert repr(expected) in repr(from_apigw_rest(event))
    assert from_apigw_rest(event) == from_apigw_rest(event)
