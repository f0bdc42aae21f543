"""The Lambda entry point ``clonesquad_interact.lambda_handler.handler`` on sample events."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from clonesquad_interact.lambda_handler import get_dispatcher, handler
from clonesquad_interact.manager import ENV_BLOCK, ENV_PLUGINS

from helpers import sample

EVENTS = Path(__file__).parent / "events"

APIGW_SAMPLES = [
    "apigw_rest_get_configuration_key",
    "apigw_rest_root",
    "apigw_rest_mixed_case",
    "apigw_rest_post_base64",
    "apigw_rest_no_request_context",
    "apigw_rest_query_smuggling",
    "apigw_http_v2",
    "apigw_http_v2_default_stage",
]
MISSING_PLUGIN = "clonesquad_interact_tests_no_such_plugin_module"
ERROR_FIELDS = {"type", "message", "details", "request_id"}


class LambdaContext:
    """The attributes of the Lambda context object that the handler may read."""

    function_name = "CloneSquad-Interact-test"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:eu-west-3:111111111111:function:CloneSquad-Interact-test"
    memory_limit_in_mb = 512
    aws_request_id = "8f5f1c2e-6a3b-4d4e-9c1f-0a2b3c4d5e6f"
    log_group_name = "/aws/lambda/CloneSquad-Interact-test"
    log_stream_name = "2026/11/25/[$LATEST]0123456789abcdef0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


@pytest.fixture(autouse=True)
def fresh_dispatcher(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test builds the warm container's dispatcher anew, inside moto.

    The handler configures logging on its first event unless it is configured
    already; while ``capture_logs`` is active it is, so the handler leaves the
    test session's logging as it found it (with no logger cached on the JSON
    configuration), and what was not configured before is not configured after.
    """
    monkeypatch.delenv(ENV_PLUGINS, raising=False)
    monkeypatch.delenv(ENV_BLOCK, raising=False)
    was_configured = structlog.is_configured()
    get_dispatcher.cache_clear()
    with capture_logs():
        yield
    get_dispatcher.cache_clear()
    if not was_configured:
        structlog.reset_defaults()


def assert_proxy_answer(answer: Any) -> None:
    """What API Gateway accepts as a proxy answer (anything else is a 502)."""
    assert isinstance(answer, dict)
    assert set(answer) == {"statusCode", "headers", "body", "isBase64Encoded"}
    assert type(answer["statusCode"]) is int
    assert 100 <= answer["statusCode"] <= 599
    assert isinstance(answer["headers"], dict)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in answer["headers"].items())
    assert isinstance(answer["body"], str)
    assert answer["isBase64Encoded"] is False
    json.dumps(answer)


def error_of(answer: dict[str, Any]) -> dict[str, Any]:
    """The ``error`` object of an API Gateway error answer, checked for shape."""
    body = json.loads(answer["body"])
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == ERROR_FIELDS
    assert isinstance(error["type"], str)
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["details"], list)
    assert isinstance(error["request_id"], str)
    assert error["request_id"]
    assert error["request_id"] == answer["headers"]["X-Request-Id"]
    return error


# -------------------------------------------------------------------------
# API Gateway
# -------------------------------------------------------------------------


def test_get_root_lists_the_operations() -> None:
    event = sample("apigw_rest_root")
    answer = handler(event, LambdaContext())
    assert_proxy_answer(answer)
    assert answer["statusCode"] == 200
    assert answer["headers"]["Content-Type"] == "application/json"
    assert answer["headers"]["X-Request-Id"] == event["requestContext"]["requestId"]
    operations = json.loads(answer["body"])["operations"]
    assert isinstance(operations, list)
    assert {"name": "", "methods": ["GET"], "summary": operations[0]["summary"]} in operations
    for operation in operations:
        # a regex route is named by its path template, its regex beside it
        assert set(operation) - {"regex"} == {"name", "methods", "summary"}
        assert ("regex" in operation) == ("{" in operation["name"])
        assert isinstance(operation["summary"], str)
        assert operation["summary"]
    names = [operation["name"] for operation in operations]
    assert names == sorted(names)


def test_get_root_without_a_context_object() -> None:
    answer = handler(sample("apigw_rest_root"), None)
    assert_proxy_answer(answer)
    assert answer["statusCode"] == 200


def test_get_root_through_the_http_api() -> None:
    event = sample("apigw_http_v2_default_stage")
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/"
    answer = handler(event, LambdaContext())
    assert_proxy_answer(answer)
    assert answer["statusCode"] == 200
    assert answer["headers"]["X-Request-Id"] == "CbTHxK2nCGYEMRw="
    assert "operations" in json.loads(answer["body"])


@pytest.mark.parametrize("name", APIGW_SAMPLES)
def test_every_api_gateway_sample_gets_a_valid_proxy_answer(name: str) -> None:
    event = sample(name)
    answer = handler(event, LambdaContext())
    assert_proxy_answer(answer)
    request_id = event.get("requestContext", {}).get("requestId")
    if request_id is not None:
        assert answer["headers"]["X-Request-Id"] == request_id
    if answer["statusCode"] >= 400:
        assert error_of(answer)["request_id"] == answer["headers"]["X-Request-Id"]


def test_mixed_case_path_is_not_folded_to_another_operation() -> None:
    answer = handler(sample("apigw_rest_mixed_case"), LambdaContext())
    assert_proxy_answer(answer)
    assert answer["statusCode"] == 404
    error = error_of(answer)
    assert error["type"] == "NotFound"
    assert "'Configuration/App.Disable'" in error["message"]


def test_undecodable_body_answers_400_with_the_api_gateway_request_id() -> None:
    event = sample("apigw_rest_post_base64")
    event["body"] = "%%% not base64 %%%"
    answer = handler(event, LambdaContext())
    assert_proxy_answer(answer)
    assert answer["statusCode"] == 400
    error = error_of(answer)
    assert error["type"] == "BadRequest"
    assert "base64" in error["message"]
    assert error["request_id"] == event["requestContext"]["requestId"]


# -------------------------------------------------------------------------
# Events that are not ours
# -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(None, id="None"),
        pytest.param([], id="list"),
        pytest.param({}, id="empty-dict"),
        pytest.param(42, id="int"),
        pytest.param("text", id="str"),
        pytest.param({"Records": []}, id="no-records"),
        pytest.param(
            {"detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2"},
            id="eventbridge",
        ),
    ],
)
def test_unusable_events_get_a_400_proxy_answer(event: Any) -> None:
    with capture_logs() as logs:
        answer = handler(event, LambdaContext())
    assert_proxy_answer(answer)
    assert answer["statusCode"] == 400
    assert answer["headers"]["Content-Type"] == "application/json"
    error = error_of(answer)
    assert error["type"] == "BadRequest"
    assert "expected" in error["message"] or "Records" in error["message"]
    rejected = [entry for entry in logs if entry["event"] == "event rejected"]
    assert [entry["request_id"] for entry in rejected] == [error["request_id"]]
    assert rejected[0]["log_level"] == "error"


def test_unusable_events_get_different_request_ids() -> None:
    first = error_of(handler({}, None))
    second = error_of(handler({}, None))
    assert first["request_id"] != second["request_id"]


# -------------------------------------------------------------------------
# SQS
# -------------------------------------------------------------------------


def malformed_batch() -> dict[str, Any]:
    """The SQS batch sample, with bodies that no operation can run, and one more record."""
    event = sample("sqs_batch")
    records = event["Records"]
    records[0]["body"] = "OpType=Notify/AckEvent"
    records[1]["body"] = '["notify/ackevent", "2026-11-25 08:12:30.000014+00:00"]'
    records[2]["body"] = '{"Events": ["2026-11-25 08:12:30.000014+00:00"]}'
    extra = copy.deepcopy(records[0])
    extra["messageId"] = "7c2b9e4a-1d3f-4a5b-8c6d-9e0f1a2b3c4d"
    extra["body"] = '{"OpType": 42}'
    records.append(extra)
    return event


def test_sqs_batch_of_malformed_records_is_consumed_and_each_record_is_logged_whole() -> None:
    event = malformed_batch()
    records = copy.deepcopy(event["Records"])
    with capture_logs() as logs:
        answer = handler(event, LambdaContext())
    assert answer == {"batchItemFailures": []}
    failed = [entry for entry in logs if entry["event"] == "sqs.record"]
    assert [entry["message_id"] for entry in failed] == [r["messageId"] for r in records]
    for entry, record in zip(failed, records, strict=True):
        assert entry["outcome"] == "failed"
        assert entry["log_level"] == "error"
        assert entry["record"] == record
        assert "OpType" in entry["error"]


def test_sqs_message_for_an_unknown_operation_is_logged_and_not_retried() -> None:
    event = sample("sqs_batch")
    del event["Records"][1:]
    record = event["Records"][0]
    record["body"] = json.dumps({"OpType": "no-such/operation-for-tests"})
    with capture_logs() as logs:
        answer = handler(event, LambdaContext())
    assert answer == {"batchItemFailures": []}
    [entry] = [entry for entry in logs if entry["event"] == "sqs.record"]
    assert entry["message_id"] == record["messageId"]
    assert entry["outcome"] == "failed"
    assert entry["status"] == 404
    assert entry["record"] == record
    assert "no-such/operation-for-tests" in entry["error"]


# -------------------------------------------------------------------------
# Direct invocations
# -------------------------------------------------------------------------


def test_direct_invocation_of_the_root_returns_data() -> None:
    answer = handler({"OpType": ""}, LambdaContext())
    assert answer["statusCode"] == 200
    assert "isBase64Encoded" not in answer
    assert answer["headers"]["Content-Type"] == "application/json"
    assert isinstance(answer["body"], dict)
    operations = answer["body"]["operations"]
    assert "" in [operation["name"] for operation in operations]
    json.dumps(answer)


def test_direct_invocation_with_an_unknown_field_returns_the_error_as_data() -> None:
    answer = handler({"OpType": "", "format": "yaml"}, LambdaContext())
    assert answer["statusCode"] == 400
    error = answer["body"]["error"]
    assert set(error) == ERROR_FIELDS
    assert error["type"] == "BadRequest"
    assert "format" in error["message"]
    assert error["request_id"] == answer["headers"]["X-Request-Id"]


# -------------------------------------------------------------------------
# Plugins that cannot be loaded
# -------------------------------------------------------------------------


@pytest.fixture
def broken_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_PLUGINS, MISSING_PLUGIN)
    get_dispatcher.cache_clear()


@pytest.mark.usefixtures("broken_plugins")
@pytest.mark.parametrize("name", ["apigw_rest_root", "apigw_http_v2"])
def test_broken_plugins_api_gateway_gets_a_500_with_a_request_id(name: str) -> None:
    with capture_logs() as logs:
        answer = handler(sample(name), LambdaContext())
    assert_proxy_answer(answer)
    assert answer["statusCode"] == 500
    error = error_of(answer)
    assert error["type"] == "InternalError"
    assert error["request_id"] in error["message"]
    assert MISSING_PLUGIN not in answer["body"]
    [entry] = [entry for entry in logs if entry["event"] == "the dispatcher cannot start"]
    assert entry["log_level"] == "error"
    assert entry["request_id"] == error["request_id"]
    assert MISSING_PLUGIN in entry["error"]


@pytest.mark.usefixtures("broken_plugins")
def test_broken_plugins_sqs_batch_is_returned_whole() -> None:
    event = sample("sqs_batch")
    message_ids = [record["messageId"] for record in event["Records"]]
    answer = handler(event, LambdaContext())
    assert answer == {"batchItemFailures": [{"itemIdentifier": m} for m in message_ids]}


@pytest.mark.usefixtures("broken_plugins")
def test_broken_plugins_are_tried_again_on_the_next_event(monkeypatch: pytest.MonkeyPatch) -> None:
    assert handler(sample("apigw_rest_root"), None)["statusCode"] == 500
    monkeypatch.delenv(ENV_PLUGINS)
    assert handler(sample("apigw_rest_root"), None)["statusCode"] == 200


@pytest.mark.usefixtures("broken_plugins")
def test_broken_plugins_answer_carries_the_api_gateway_request_id() -> None:
    event = sample("apigw_rest_root")
    answer = handler(event, LambdaContext())
    assert answer["headers"]["X-Request-Id"] == event["requestContext"]["requestId"]


@pytest.mark.usefixtures("broken_plugins")
def test_broken_plugins_direct_invocation_gets_a_direct_answer() -> None:
    answer = handler({"OpType": ""}, LambdaContext())
    assert answer["statusCode"] == 500
    assert isinstance(answer["body"], dict)
    assert answer["body"]["error"]["type"] == "InternalError"


# -------------------------------------------------------------------------
# python -m clonesquad_interact.lambda_handler
# -------------------------------------------------------------------------


def run_module(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in (ENV_PLUGINS, ENV_BLOCK)}
    return subprocess.run(
        [sys.executable, "-m", "clonesquad_interact.lambda_handler", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
        check=False,
    )


def test_module_serves_an_event_file() -> None:
    result = run_module(str(EVENTS / "apigw_rest_root.json"))
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert_proxy_answer(answer)
    assert answer["statusCode"] == 200
    assert "operations" in json.loads(answer["body"])
    # The log goes to standard error, one JSON object per line.
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    [request_line] = [line for line in lines if line["event"] == "request"]
    assert request_line["status"] == 200
    assert request_line["request_id"] == answer["headers"]["X-Request-Id"]
    assert request_line["level"] == "info"


def test_module_serves_an_event_from_standard_input() -> None:
    result = run_module("-", stdin=json.dumps({"OpType": ""}))
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["statusCode"] == 200
    assert "operations" in answer["body"]


def test_module_with_a_missing_file_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-event.json"
    result = run_module(str(missing))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert any(line.startswith("error: cannot read the event") for line in lines)
    assert str(missing) in result.stderr


def test_module_with_a_file_that_is_not_json_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_text("resource: /\n", encoding="utf-8")
    result = run_module(str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert "error: cannot read the event" in result.stderr
