"""The testing support itself: fixtures on moto, event builders shaped as AWS sends them."""

from __future__ import annotations

import os
from typing import Any

import boto3
import pytest

from clonesquad_interact import Request
from clonesquad_interact.testing import (
    OPERATOR_IDENTITY,
    InteractClient,
    apigw_http_event,
    apigw_rest_event,
    instance_identity,
    sqs_event,
)

from helpers import OperationsPlugin, make_operation


def count_tables(request: Request) -> int:
    """An operation that calls AWS: how many DynamoDB tables there are."""
    return len(boto3.client("dynamodb").list_tables()["TableNames"])


@pytest.fixture
def interact_plugins() -> list[Any]:
    return [OperationsPlugin(make_operation("tables", handler=count_tables), name="tables")]


def test_the_aws_fixture_sends_boto3_to_moto_with_fake_credentials(aws: None) -> None:
    assert os.environ["AWS_DEFAULT_REGION"] == "eu-west-3"
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName="CloneSquad-test-Configuration",
        KeySchema=[{"AttributeName": "Key", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "Key", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    assert dynamodb.list_tables()["TableNames"] == ["CloneSquad-test-Configuration"]


def test_the_ready_client_serves_the_fixture_plugins_inside_moto(
    interact_client: InteractClient,
) -> None:
    assert interact_client.get("/tables").text == "0"
    boto3.client("sqs").create_queue(QueueName="unrelated")
    boto3.client("dynamodb").create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "Key", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "Key", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    assert interact_client.get("/tables").text == "1"
    assert interact_client.call("tables").body == 1


def test_rest_events_keep_the_path_as_typed_and_put_repeated_values_in_both_maps() -> None:
    event = apigw_rest_event("GET", "/Configuration//x?tag=a", params={"tag": "b", "on": True})
    assert event["path"] == "/Configuration//x"
    assert event["pathParameters"] == {"proxy": "Configuration//x"}
    assert event["multiValueQueryStringParameters"] == {"tag": ["a", "b"], "on": ["true"]}
    assert event["queryStringParameters"] == {"tag": "b", "on": "true"}
    assert event["requestContext"]["path"] == "/v1/Configuration//x"
    assert event["requestContext"]["identity"] == dict(OPERATOR_IDENTITY)
    root = apigw_rest_event("GET", "/")
    assert (root["resource"], root["pathParameters"]) == ("/", None)


def test_http_api_events_put_the_stage_in_the_raw_path_and_join_repeated_values() -> None:
    event = apigw_http_event(
        "POST",
        "/fleet/status",
        params={"x": ["1", "2"]},
        body=b"\x00",
        identity=instance_identity("i-0abc"),
    )
    assert event["rawPath"] == "/v1/fleet/status"
    assert event["rawQueryString"] == "x=1&x=2"
    assert event["queryStringParameters"] == {"x": "1,2"}
    assert event["isBase64Encoded"] is True
    assert (
        event["requestContext"]["authorizer"]["iam"]["callerId"] == "AROA4XZPU6QWEXAMPLE02:i-0abc"
    )


def test_sqs_events_hold_one_record_per_message_with_the_body_digest() -> None:
    import hashlib

    event = sqs_event([{"OpType": "a"}, "raw text"])
    first, second = event["Records"]
    assert first["eventSource"] == "aws:sqs"
    assert first["messageId"] != second["messageId"]
    assert second["body"] == "raw text"
    assert second["md5OfBody"] == hashlib.md5(b"raw text", usedforsecurity=False).hexdigest()
