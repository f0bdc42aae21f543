"""debug/publishreportnow: a compressed JSON report in LoggingS3Path, or a failure said."""

from __future__ import annotations

import gzip
import json
from collections.abc import MutableMapping
from typing import Any

import boto3
import pytest
from structlog.testing import capture_logs

import faults
from clonesquad_interact import Dispatcher
from clonesquad_interact.testing import InteractClient, sqs_record
from demo_fleet import CallCounter, launch_managed, refusing

BUCKET = "clonesquad-test-logging"


@pytest.fixture
def instance_id(deployment: dict[str, str]) -> str:
    return launch_managed(boto3.client("ec2"), "test")


@pytest.fixture
def client(deployment: dict[str, str]) -> InteractClient:
    return InteractClient(Dispatcher(entry_points=False, raise_unexpected=True))


def reports() -> dict[str, Any]:
    s3 = boto3.client("s3")
    found = {}
    for entry in s3.list_objects_v2(Bucket=BUCKET).get("Contents", ()):
        stored = s3.get_object(Bucket=BUCKET, Key=entry["Key"])
        assert stored["ContentEncoding"] == "gzip"
        assert stored["ContentType"] == "application/json"
        found[entry["Key"]] = json.loads(gzip.decompress(stored["Body"].read()))
    return found


def outcomes(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [entry for entry in logs if entry["event"] == "sqs.record"]


def test_the_report_is_written_to_logging_s3_path(
    deployment: dict[str, str], client: InteractClient, instance_id: str
) -> None:
    dynamodb = boto3.client("dynamodb")
    put = dynamodb.put_item
    put(TableName=deployment["SchedulerTable"], Item={"Key": {"S": "cron(0 8 * * ? *)"},
        "Value": {"S": "ec2.schedule.min_instance_count=2"}})  # fmt: skip
    put(TableName=deployment["StateTable"], Item={"Key": {"S": "small"}, "Value": {"S": "1"}})
    put(TableName=deployment["StateTable"], Item={"Key": {"S": "big"}, "Value": {"S": "x" * 5000}})
    for date in ("2026-11-20 10:00:00", "2026-11-21 10:00:00"):
        put(TableName=deployment["EventTable"], Item={"EventDate": {"S": date},
            "EventType": {"S": "scale_up"}, "Count": {"N": "2"}})  # fmt: skip
    message = sqs_record({"OpType": "Debug/PublishReportNow"}, message_id="m-1")
    assert client.sqs(message) == {"batchItemFailures": []}
    assert client.sqs(message) == {"batchItemFailures": []}, "delivered twice: same object"
    written = reports()
    assert list(written) == ["reports/test/debug-report-m-1.json.gz"]
    report = written["reports/test/debug-report-m-1.json.gz"]
    assert report["errors"] == {}
    assert (report["request_id"], report["group_name"]) == ("m-1", "test")
    assert report["discovery"]["StateTable"] == deployment["StateTable"]
    assert report["versions"]["clonesquad-interact"]
    plugins = {p["name"]: p for p in report["plugins"]}
    debug = plugins["clonesquad_interact.plugins.debug"]
    assert (debug["distribution"], debug["version"]) == (
        "clonesquad-interact",
        report["versions"]["clonesquad-interact"],
    )
    operations = {op["name"]: op for op in report["operations"]}
    assert operations["debug/publishreportnow"]["interfaces"] == ["direct", "sqs"]
    assert operations["fleet/status"]["cache"] == "shared"
    # a regex route named as its path template, its regex beside it
    assert operations["configuration/{key}"]["regex"] == "configuration/(?P<key>.+)"
    assert "regex" not in operations["fleet/status"]
    assert report["configuration"]["ec2.az.unavailable_list"]["Format"] == "StringList"
    assert report["scheduler"] == {"cron(0 8 * * ? *)": "ec2.schedule.min_instance_count=2"}
    assert report["state"] == {"big": "<5000 characters>", "small": "1"}
    assert list(report["instances"]) == [instance_id]
    assert report["instances"][instance_id]["Instance"]["State"] == "running"
    assert [e["EventDate"] for e in report["events"]] == [
        "2026-11-21 10:00:00",
        "2026-11-20 10:00:00",
    ]
    assert report["events"][0]["Count"] == "2"


def test_a_section_that_cannot_be_gathered_is_named_and_the_rest_written(
    deployment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EventTable")
    client = InteractClient(Dispatcher(entry_points=False, raise_unexpected=True))
    assert client.sqs({"OpType": "debug/publishreportnow"}) == {"batchItemFailures": []}
    (report,) = reports().values()
    assert list(report["errors"]) == ["events"]
    assert "EventTable" in report["errors"]["events"]
    assert "events" not in report
    assert report["instances"] == {}


@pytest.mark.parametrize("setting", ["LoggingS3Path", "GroupName"])
def test_without_a_setting_the_message_fails_for_good_before_gathering(
    deployment: dict[str, str], monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    monkeypatch.delenv(setting)
    client = InteractClient(Dispatcher(entry_points=False, raise_unexpected=True))
    counter = CallCounter(client.dispatcher)
    with capture_logs() as logs:
        answer = client.sqs(sqs_record({"OpType": "Debug/PublishReportNow"}, message_id="m-2"))
    assert answer == {"batchItemFailures": []}, "acknowledged: retrying cannot succeed"
    (outcome,) = outcomes(logs)
    assert (outcome["outcome"], outcome["message_id"]) == ("failed", "m-2")
    assert outcome["status"] == 424
    assert setting in outcome["error"]
    assert outcome["record"]["messageId"] == "m-2", "the message is logged whole"
    assert counter.take() == {}, "nothing gathered"


def test_access_denied_by_the_bucket_fails_the_message_for_good(
    client: InteractClient,
) -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{BUCKET}/*",
            }
        ],
    }
    boto3.client("s3").put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(policy))
    with capture_logs() as logs:
        answer = client.sqs(sqs_record({"OpType": "Debug/PublishReportNow"}, message_id="m-3"))
    assert answer == {"batchItemFailures": []}
    (outcome,) = outcomes(logs)
    assert outcome["outcome"] == "failed"
    assert "AccessDenied" in outcome["error"]
    assert "s3:PutObject" in outcome["error"]
    assert outcome["status"] == 424


def test_s3_throttling_sends_the_message_back_to_the_queue(client: InteractClient) -> None:
    with refusing(client.dispatcher.aws.client("s3"), "PutObject", "SlowDown", 503):
        answer = client.sqs(sqs_record({"OpType": "Debug/PublishReportNow"}, message_id="m-4"))
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-4"}]}


def test_the_report_is_no_api_gateway_operation(client: InteractClient) -> None:
    assert client.get("/debug/publishreportnow").status_code == 405


def test_a_direct_report_while_ec2_throttles_answers_without_aws_text(
    deployment: dict[str, str], instance_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.retries.standard import ExponentialBackoff

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
    dispatcher = Dispatcher(entry_points=False, raise_unexpected=False)
    ec2 = dispatcher.aws.client("ec2")
    event = {"OpType": "debug/publishreportnow", "Method": "POST"}
    calls = {"DescribeInstances", "DescribeInstanceStatus", "DescribeAvailabilityZones"}
    with faults.injected(ec2, calls, faults.EC2_THROTTLING) as made:
        answer = dispatcher.handle(event, None)
    assert len(made) == 3  # one call, botocore's two retries: then it gave up
    assert answer["statusCode"] == 200, answer
    assert faults.MESSAGE not in json.dumps(answer)
    assert "Traceback" not in json.dumps(answer)
    errors = answer["body"]["errors"]
    assert list(errors) == ["instances"]
    assert "throttling" in errors["instances"]
    assert "RequestLimitExceeded" in errors["instances"]
    (report,) = reports().values()
    assert report["errors"] == errors
    assert "RequestLimitExceeded" in report["error_details"]["instances"]
