"""backup: the tables and the fleet's metadata written to S3 as CloneSquad lays them out."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from structlog.testing import capture_logs

from aws_calls import RawTable, counting
from clonesquad_interact import AWS, Dispatcher
from clonesquad_interact.testing import InteractClient, apigw_rest_event, sqs_record
from demo_fleet import launch_managed, refusing


@pytest.fixture
def bucket(deployment: dict[str, str], aws_clients: AWS, monkeypatch: pytest.MonkeyPatch) -> str:
    name = "backups-bucket"
    s3 = aws_clients.client("s3")
    region = aws_clients.region or "us-east-1"
    if region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    monkeypatch.setenv("MetadataAndBackupS3Path", f"s3://{name}/root//cs/")
    configuration = RawTable(aws_clients.client("dynamodb"), deployment["ConfigurationTable"])
    configuration.put_item(Item={"Key": "ec2.schedule.min_instance_count", "Value": "2"})
    configuration.put_item(Item={"Key": "[night]ec2.schedule.min_instance_count", "Value": "1"})
    scheduler = RawTable(aws_clients.client("dynamodb"), deployment["SchedulerTable"])
    scheduler.put_item(Item={"Key": "every-5-min", "Value": "rate(5 minutes),interact:backup"})
    launch_managed(aws_clients.client("ec2"), deployment["GroupName"], Name="web-1")
    return name


def objects(aws_clients: AWS, bucket: str) -> dict[str, str]:
    s3 = aws_clients.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", ())]
    return {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode() for key in keys}


def test_backup_writes_every_object_in_clonesquads_layout(
    deployment: dict[str, str], aws_clients: AWS, bucket: str
) -> None:
    dispatcher = Dispatcher(entry_points=False, raise_unexpected=True, aws=aws_clients)
    with counting(dispatcher, "s3", "dynamodb", "ec2", "sts") as calls:
        answer = InteractClient(dispatcher).get("/backup")
    assert answer.status_code == 200, answer.text
    group, region = deployment["GroupName"], aws_clients.region
    account = aws_clients.client("sts").get_caller_identity()["Account"]
    part = f"accountid={account}/region={region}/groupname={group}"
    found = objects(aws_clients, bucket)
    assert sorted(answer.json()["written"]) == sorted(f"s3://{bucket}/{key}" for key in found)
    assert all(key.startswith("root/cs/") for key in found), "empty path segments dropped"
    latest = found[
        f"root/cs/backups/{part}/latest-{account}-{region}-configuration-cs-{group}.yaml"
    ]
    assert yaml.safe_load(latest) == {
        "ec2.schedule.min_instance_count": "2",
        "night": {"ec2.schedule.min_instance_count": "1"},
    }
    archives = [k for k in found if f"backups/{part}/archive/" in k]
    assert len(archives) == 2
    assert all(k.endswith(f"-{account}-{region}-scheduler-cs-{group}.yaml") or
               k.endswith(f"-{account}-{region}-configuration-cs-{group}.yaml")
               for k in archives)  # fmt: skip
    lines = found[
        f"root/cs/metadata/configuration/{part}/configuration{account}-{region}-{group}-cs-{group}.json"
    ]
    records = [json.loads(line) for line in lines.splitlines()]
    assert [(r["Key"], r["Value"]) for r in records] == [("ec2.schedule.min_instance_count", "2")]
    assert "MetadataRecordLastUpdatedAt" in records[0]
    instances = found[
        f"root/cs/metadata/instances/{part}/{account}-{region}-managed-instances-cs-{group}.json"
    ]
    [instance] = [json.loads(line) for line in instances.splitlines()]
    assert instance["_Hostname"] == "web-1"
    assert "_SubfleetName" not in instance
    discovery = json.loads(
        found[f"root/cs/metadata/discovery/{part}/{account}-{region}-discovery-cs-{group}.json"]
    )
    assert discovery["GroupName"] == group
    assert discovery["Subfleets"] == []
    assert dict(calls) == {
        "sts.GetCallerIdentity": 1,
        "dynamodb.BatchGetItem": 1,  # the configuration key ssm.enable
        "dynamodb.Scan": 2,  # the Configuration and Scheduler tables
        "ec2.DescribeInstances": 1,
        "ec2.DescribeVolumes": 1,
        "s3.PutObject": 9,
    }


def test_without_the_setting_nothing_is_read(deployment: dict[str, str], aws_clients: AWS) -> None:
    dispatcher = Dispatcher(entry_points=False, raise_unexpected=True, aws=aws_clients)
    with counting(dispatcher, "s3", "dynamodb", "ec2", "sts") as calls:
        answer = InteractClient(dispatcher).get("/backup")
    assert answer.status_code == 424
    assert "MetadataAndBackupS3Path" in answer.json()["error"]["message"]
    assert sum(calls.values()) == 0


def test_a_missing_bucket_fails_for_good_and_says_so(
    deployment: dict[str, str], aws_clients: AWS, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MetadataAndBackupS3Path", "s3://no-such-bucket-here/x")
    dispatcher = Dispatcher(entry_points=False, aws=aws_clients)
    client = InteractClient(dispatcher)
    answer = client.get("/backup")
    assert answer.status_code == 424, answer.text
    assert "NoSuchBucket" in answer.text
    message = sqs_record({"OpType": "backup"}, message_id="backup-1")
    with capture_logs() as logs:
        assert client.sqs(message) == {"batchItemFailures": []}, "not retried"
    [line] = [entry for entry in logs if entry["event"] == "sqs.record"]
    assert line["outcome"] == "failed"
    assert "NoSuchBucket" in line["error"]
    assert line["record"] == message, "the message is recorded whole"


def test_s3_throttling_is_a_503_to_retry_and_the_message_goes_back(
    deployment: dict[str, str], aws_clients: AWS, bucket: str
) -> None:
    dispatcher = Dispatcher(entry_points=False, aws=aws_clients)
    client = InteractClient(dispatcher)
    with refusing(dispatcher.aws.client("s3"), "PutObject", "SlowDown", 503) as refused:
        answer = client.get("/backup")
        assert answer.status_code == 503, answer.text
        assert int(answer.headers["Retry-After"]) > 0
        assert "SlowDown" in answer.json()["error"]["message"]
        assert "refused by the test" not in answer.text, "no AWS error text in the answer"
        message = sqs_record({"OpType": "backup"}, message_id="backup-2")
        assert client.sqs(message) == {"batchItemFailures": [{"itemIdentifier": "backup-2"}]}
    assert refused, "S3 was asked"
    assert client.get("/backup").status_code == 200, "a retry writes every object"


@pytest.mark.parametrize("params", [{"x": "1"}, {"format": "xml"}])
def test_unknown_parameters_are_a_400(
    deployment: dict[str, str], aws_clients: AWS, params: dict[str, Any]
) -> None:
    client = InteractClient(Dispatcher(entry_points=False, aws=aws_clients))
    assert client.get("/backup", params=params).status_code == 400


# -------------------------------------------------------------------------
# Maintenance windows (with ssm.enable)
# -------------------------------------------------------------------------


def windows_object(aws_clients: AWS, bucket: str) -> list[dict[str, Any]]:
    [key] = [k for k in objects(aws_clients, bucket) if "/maintenance-windows/" in k]
    assert key.endswith("-maintenance-windows-cs-test.json")
    assert "/metadata/maintenance-windows/accountid=" in key
    text = objects(aws_clients, bucket)[key]
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def ssm_enabled(deployment: dict[str, str], aws_clients: AWS, bucket: str) -> None:
    configuration = RawTable(aws_clients.client("dynamodb"), deployment["ConfigurationTable"])
    configuration.put_item(Item={"Key": "ssm.enable", "Value": "1"})
    subfleet = {"clonesquad:subfleet-name": "db"}
    launch_managed(aws_clients.client("ec2"), deployment["GroupName"], **subfleet)


def test_without_ssm_enable_no_maintenance_windows_are_written(
    deployment: dict[str, str], aws_clients: AWS, bucket: str
) -> None:
    dispatcher = Dispatcher(entry_points=False, raise_unexpected=True, aws=aws_clients)
    with counting(dispatcher, "ssm") as calls:
        assert InteractClient(dispatcher).get("/backup").status_code == 200
    assert not [k for k in objects(aws_clients, bucket) if "maintenance-windows" in k]
    assert sum(calls.values()) == 0


def test_with_ssm_enable_each_fleets_windows_are_written(
    deployment: dict[str, str], aws_clients: AWS, bucket: str, ssm_enabled: None
) -> None:
    ssm = aws_clients.client("ssm")
    made = {
        name: ssm.create_maintenance_window(
            Name=name, Schedule="cron(0 8 ? * SUN *)", Duration=2, Cutoff=1,
            AllowUnassociatedTargets=True,
        )["WindowId"]
        for name in ("CS-test", "CS-test-Subfleet.db", "CS-other")
    }  # fmt: skip
    dispatcher = Dispatcher(entry_points=False, raise_unexpected=True, aws=aws_clients)
    with counting(dispatcher, "ssm") as calls:
        answer = InteractClient(dispatcher).get("/backup")
    assert answer.status_code == 200, answer.text
    assert dict(calls) == {"ssm.DescribeMaintenanceWindows": 1}
    assert len(answer.json()["written"]) == 10
    records = {record["Fleet"]: record for record in windows_object(aws_clients, bucket)}
    assert list(records) == ["__main__", "db"]
    main, db = records["__main__"], records["db"]
    # The main fleet has no window of its own: the group's applies.
    assert [w["Name"] for w in main["MaintenanceWindows"]] == ["CS-test"]
    assert [w["Name"] for w in db["MaintenanceWindows"]] == ["CS-test-Subfleet.db"]
    assert main["MaintenanceWindows"][0]["WindowId"] == made["CS-test"]
    assert (main["IsMaintenanceTime"], main["NextMaintenanceWindowDetails"]) == (False, None)
    assert set(main) == {"Fleet", "MaintenanceWindows", "IsMaintenanceTime",
                         "NextMaintenanceWindowDetails", "MetadataRecordLastUpdatedAt"}  # fmt: skip


def test_a_fleet_is_in_maintenance_from_start_ahead_before_its_next_window(
    deployment: dict[str, str], aws_clients: AWS, bucket: str, ssm_enabled: None
) -> None:
    """SSM says when a window next runs (moto does not): its answer is given here the way
    botocore lets an event handler give one."""
    from botocore.awsrequest import AWSResponse, HTTPHeaders

    now = datetime.now(UTC)

    def at(minutes: int) -> str:
        return (now + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%MZ")

    windows = [
        {"WindowId": "mw-0aaaaaaaaaaaaaaa1", "Name": "CS-test", "Enabled": True, "Duration": 2,
         "Cutoff": 1, "NextExecutionTime": at(10)},
        {"WindowId": "mw-0aaaaaaaaaaaaaaa2", "Name": "CS-test-Subfleet.db", "Enabled": True,
         "Duration": 1, "Cutoff": 0, "NextExecutionTime": at(60)},
    ]  # fmt: skip

    def answer(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        http = AWSResponse(params.get("url", ""), 200, HTTPHeaders(), None)
        return http, {"WindowIdentities": windows, "ResponseMetadata": {"HTTPStatusCode": 200}}

    dispatcher = Dispatcher(entry_points=False, raise_unexpected=True, aws=aws_clients)
    ssm = dispatcher.aws.client("ssm")  # the session's client: the handler must not stay
    ssm.meta.events.register("before-call.ssm.DescribeMaintenanceWindows", answer)
    try:
        assert InteractClient(dispatcher).get("/backup").status_code == 200
    finally:
        ssm.meta.events.unregister("before-call.ssm.DescribeMaintenanceWindows", answer)
    records = {record["Fleet"]: record for record in windows_object(aws_clients, bucket)}
    assert records["__main__"]["IsMaintenanceTime"] is True, "within 15 minutes of its start"
    assert records["__main__"]["NextMaintenanceWindowDetails"]["NextExecutionTime"] == at(10)
    assert records["db"]["IsMaintenanceTime"] is False, "an hour away"
    assert records["db"]["NextMaintenanceWindowDetails"]["Name"] == "CS-test-Subfleet.db"


class _Context:
    """A Lambda context with ``remaining_ms`` left."""

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_an_s3_call_is_not_started_past_the_deadline(
    deployment: dict[str, str], aws_clients: AWS, bucket: str
) -> None:
    dispatcher = Dispatcher(entry_points=False, aws=aws_clients)
    s3 = aws_clients.client("s3")

    def slow(**_: Any) -> None:  # the deadline passes while the first object is made
        time.sleep(1.5)

    s3.meta.events.register("request-created.s3.PutObject", slow, unique_id="slow")
    try:
        answer = dispatcher.handle(apigw_rest_event("GET", "backup"), _Context(2_500))
    finally:
        s3.meta.events.unregister("request-created.s3.PutObject", unique_id="slow")
    assert answer["statusCode"] == 503, answer
    assert "ran out of time before it could call s3 PutObject" in answer["body"]
    assert objects(aws_clients, bucket) == {}
