"""The examples of the specification (INTERACTING.md), run as written against ``serve``.

Each awscurl command is the specification's own, with its API Gateway URL
(``https://pq264fab39.execute-api.eu-west-3.amazonaws.com/v1/``) replaced by the one
``serve`` prints, in a shell environment made of the banner's ``export`` line; each SQS
payload is sent to the queue the banner prints. The answers are checked for the status
and shape the specification describes.

Where the specification's synopsis names another operation than the one it documents
(``discovery`` and ``cloudwatch/metriccache`` show the URL of ``allmetadatas`` and
``cloudwatch/sentmetrics``), the documented operation is called. What cannot run as
written is listed in the README, next to the examples (Operations, over each transport).
"""

from __future__ import annotations

import gzip
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clonesquad_interact.local import demo
from serving import PATIENCE, Server, serving

#: The API Gateway URL of the specification's examples.
SPEC_API = "https://pq264fab39.execute-api.eu-west-3.amazonaws.com/v1/"
EVENT_TABLE = "CloneSquad-demo-EventLog"
CONFIGURATION_TABLE = "CloneSquad-demo-Configuration"
SCHEDULER_TABLE = "CloneSquad-demo-Scheduler"
REPORTS = ("clonesquad-demo-logging", "reports/demo/")

#: The values ``metadata``'s ``State`` and ``Status`` take, as the specification lists them
#: (``stopped``, ``stopping``: ``describe_instances``' other states, for ``allmetadatas``).
STATES = {"pending", "running", "error", "bounced", "draining", "stopped", "stopping"}
STATUSES = {
    "ok",
    "impaired",
    "insufficient-data",
    "not-applicable",
    "initializing",
    "unhealthy",
    "az_evicted",
}
#: What each key of a configuration dump carries, as the specification's example shows.
DUMP_FIELDS = {
    "ConfigurationOrigin",
    "DefaultValue",
    "Description",
    "Format",
    "Key",
    "Stable",
    "Status",
    "Value",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from serving(tmp_path_factory)


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (it comes with the test extra)")
    return found


def _shell(server: Server, *, instance: bool = False) -> dict[str, str]:
    """The environment of a shell that ran the banner's ``export`` line.

    ``instance``: as on the demo instance, whose role's credentials awscurl finds there.
    """
    line = next(line for line in server.banner.splitlines() if "export AWS_ACCESS_KEY_ID" in line)
    exported = line.split("export ", 1)[1]
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    for word in shlex.split(exported):
        name, value = word.split("=", 1)
        environ[name] = value
    environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environ.get('PATH', '')}"
    if instance:
        environ.update(
            AWS_ACCESS_KEY_ID=demo.INSTANCE_ACCESS_KEY,
            AWS_SECRET_ACCESS_KEY=demo.INSTANCE_SECRET_KEY,
            AWS_SESSION_TOKEN=demo.INSTANCE_SESSION_TOKEN,
        )
    return environ


def _run(server: Server, command: str, *, cwd: Path | None = None, instance: bool = False) -> str:
    """Run the specification's ``command`` (its ``# `` prompt dropped); returns its output."""
    argv = shlex.split(command.replace(SPEC_API, server.api))
    assert argv[0] == "awscurl", command
    done = subprocess.run(
        [_tool("awscurl"), *argv[1:]],
        capture_output=True,
        text=True,
        env=_shell(server, instance=instance),
        cwd=cwd,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _json(server: Server, command: str, *, instance: bool = False) -> Any:
    output = _run(server, command, instance=instance)
    try:
        return json.loads(output)
    except ValueError:
        pytest.fail(f"{command!r} answered no JSON:\n{output}")


def _check_metadata(answer: dict[str, Any]) -> None:
    assert set(answer) == {"Instance", "InstanceId", "LocatedInAZWithIssues"}
    assert answer["InstanceId"].startswith("i-")
    assert isinstance(answer["LocatedInAZWithIssues"], bool)
    instance = answer["Instance"]
    assert {"AvailabilityZone", "State", "Status", "Tags"} <= set(instance)
    assert instance["AvailabilityZone"].startswith("eu-west-3")
    assert instance["State"] in STATES
    assert instance["Status"] in STATUSES
    tags = {tag["Key"]: tag["Value"] for tag in instance["Tags"]}
    assert all(set(tag) == {"Key", "Value"} for tag in instance["Tags"])
    assert tags["clonesquad:group-name"] == "demo"


def _wait(condition: Any, what: str) -> Any:
    deadline = time.monotonic() + PATIENCE
    while not (found := condition()):
        assert time.monotonic() < deadline, what
        time.sleep(0.2)
    return found


# ---------------------------------------------------------------------------------------
# API Gateway
# ---------------------------------------------------------------------------------------


def test_metadata(server):
    # Callable from the managed instances only: run as the demo instance.
    answer = _json(server, f"awscurl {SPEC_API}metadata", instance=True)
    _check_metadata(answer)
    assert answer["InstanceId"] == server.instance
    assert answer["Instance"]["State"] == "running"


def test_allmetadatas(server):
    answer = _json(server, f"awscurl {SPEC_API}allmetadatas")
    assert server.instance in answer
    for instance_id, metadata in answer.items():
        _check_metadata(metadata)
        assert metadata["InstanceId"] == instance_id


def test_discovery(server):
    answer = _json(server, f"awscurl {SPEC_API}discovery")
    assert set(answer) == {"discovery", "identity"}
    discovery = answer["discovery"]
    assert discovery["GroupName"] == "demo"
    assert discovery["ApplicationName"] == "CloneSquad"
    assert discovery["ConfigurationTable"] == CONFIGURATION_TABLE
    assert discovery["SchedulerTable"] == SCHEDULER_TABLE
    assert discovery["EventTable"] == EVENT_TABLE
    assert discovery["InteractQueue"] == server.queue_url
    identity = answer["identity"]
    assert identity["accessKey"] == demo.OPERATOR_ACCESS_KEY
    for name in ("accountId", "caller", "user", "userArn", "sourceIp", "userAgent"):
        assert isinstance(identity[name], str), name
    for name in ("cognitoAuthenticationProvider", "cognitoIdentityId", "principalOrgId"):
        assert name in identity


def test_configuration_dump(server):
    dump = _json(server, f"awscurl {SPEC_API}configuration?format=json")
    assert "app.disable" in dump
    for key, entry in dump.items():
        assert set(entry) >= DUMP_FIELDS, key
        assert entry["Key"] == key
    disable = dump["app.disable"]
    assert disable["Format"] == "Bool"
    assert disable["Stable"] is True
    assert disable["DefaultValue"] == 0
    assert disable["Value"] == "0"
    assert disable["Description"]
    assert disable["ConfigurationOrigin"] in disable["Status"]


#: A file of 12 keys, each set to its default.
CONFIGFILE = """\
app.disable: 0
app.run_period: seconds=20
cloudwatch.dashboard.use_default: 1
ec2.az.evict_instances_when_az_faulty: '0'
ec2.instance.max_start_instance_at_once: 25
ec2.instance.max_stop_instance_at_once: 25
ec2.schedule.scaleout.rate: 5
ec2.schedule.scaleout.period: minutes=10
ec2.schedule.scalein.rate: 3
ec2.schedule.scalein.period: minutes=10
ec2.schedule.draining.instance_cooldown: minutes=2
notify.event.longterm.ttl: days=5
"""


def test_configuration_upload(server, tmp_path):
    (tmp_path / "configfile.yaml").write_text(CONFIGFILE)
    output = _run(
        server,
        f"awscurl -X POST -d @configfile.yaml {SPEC_API}configuration?format=json",
        cwd=tmp_path,
    )
    assert output.strip() == "Ok (12 key(s) processed)"
    items = server.client("dynamodb").scan(TableName=CONFIGURATION_TABLE)["Items"]
    values = {item["Key"]["S"]: item["Value"]["S"] for item in items}
    assert values["ec2.schedule.scaleout.rate"] == "5"
    assert values["ec2.schedule.draining.instance_cooldown"] == "minutes=2"
    assert values["app.disable"] == "0"


def test_configuration_key_read_then_write(server):
    key = f"{SPEC_API}configuration/ec2.schedule.min_instance_count"
    assert _run(server, f"awscurl {key}").strip() == "2"
    assert _run(server, f"awscurl -X POST -d 3 {key}").strip() == "3"
    assert _run(server, f"awscurl {key}").strip() == "3"
    item = server.client("dynamodb").get_item(
        TableName=CONFIGURATION_TABLE, Key={"Key": {"S": "ec2.schedule.min_instance_count"}}
    )
    assert item["Item"]["Value"]["S"] == "3"


def test_scheduler_as_configuration(server, tmp_path):
    # "follows the same semantic than API configuration": a dump taken back as it is,
    # and one entry read and written by its name.
    entries = _json(server, f"awscurl {SPEC_API}scheduler?format=json")
    assert entries
    assert all(isinstance(value, str) for value in entries.values())
    (tmp_path / "scheduler.json").write_text(json.dumps(entries))
    output = _run(
        server, f"awscurl -X POST -d @scheduler.json {SPEC_API}scheduler?format=json", cwd=tmp_path
    )
    assert output.strip() == f"Ok ({len(entries)} key(s) processed)"
    entry = f"{SPEC_API}scheduler/spec-example"
    written = "cron(0 6 * * ? *),ec2.schedule.min_instance_count=2"
    assert _run(server, f"awscurl -X POST -d '{written}' {entry}").strip() == written
    assert _run(server, f"awscurl {entry}").strip() == written


def test_cloudwatch_sentmetrics(server):
    metrics = _json(server, f"awscurl {SPEC_API}cloudwatch/sentmetrics")
    assert metrics
    names = {metric["MetricName"] for metric in metrics}
    assert "RunningInstances" in names
    for metric in metrics:
        assert metric["Dimensions"][0] == {"Name": "GroupName", "Value": "demo"}
        assert metric["StorageResolution"] == 60
        assert isinstance(metric["Timestamp"], str)
        assert metric["Unit"]
        assert isinstance(metric["Value"], float)


def test_cloudwatch_metriccache(server):
    cache = _json(server, f"awscurl {SPEC_API}cloudwatch/metriccache")
    assert cache
    for metric in cache:
        fields = {"Id", "Label", "StatusCode", "Timestamps", "Values", "_MetricId"}
        assert fields | {"_SamplingTime"} <= set(metric)
        assert metric["_MetricId"].startswith("CloneSquad-demo-i-")
        assert len(metric["Timestamps"]) == len(metric["Values"])


def test_fleet_status(server):
    status = _json(server, f"awscurl {SPEC_API}fleet/status")
    fleet = status["AutoscaledFleet"]
    assert set(fleet) >= {
        "FaultyFleetSize",
        "ManagedFleetSize",
        "MaximumFleetSize",
        "RunningFleetSize",
        "ServingFleetSize",
        "ServingFleet_vs_ManagedFleetSizePourcentage",
        "ServingFleet_vs_MaximumFleetSizePourcentage",
    }
    assert all(isinstance(value, int) for value in fleet.values())
    assert fleet["ManagedFleetSize"] >= fleet["MaximumFleetSize"] >= fleet["ServingFleetSize"]
    assert fleet["ServingFleet_vs_MaximumFleetSizePourcentage"] == int(
        100 * fleet["ServingFleetSize"] / fleet["MaximumFleetSize"]
    )


# ---------------------------------------------------------------------------------------
# SQS
# ---------------------------------------------------------------------------------------


def _held(server: Server, date: str) -> bool:
    item = server.client("dynamodb").get_item(TableName=EVENT_TABLE, Key={"EventDate": {"S": date}})
    return "Item" in item


@pytest.mark.parametrize("field", ["EventData", "Events"])
def test_notify_ackevent_message(server, field):
    # The specification's payload, its missing quote after EventData put back; Events
    # is the name CloneSquad's code reads.
    date = f"2026-12-02 08:00:00.00000{len(field)}+00:00"
    server.client("dynamodb").put_item(
        TableName=EVENT_TABLE,
        Item={"EventDate": {"S": date}, "ExpirationTime": {"N": "4102444800"}},
    )
    payload = '{\n\t"OpType": "notify/ackevent",\n\t"' + field + '": ["' + date + '"]\n}'
    subprocess.run(
        [
            *(_tool("aws"), "sqs", "send-message", "--endpoint-url", server.aws),
            *("--queue-url", server.queue_url, "--message-body", payload),
        ],
        capture_output=True,
        text=True,
        env=_shell(server),
        timeout=120,
        check=True,
    )
    _wait(lambda: not _held(server, date), "the event was not acknowledged")


def test_debug_publishreportnow_message(server):
    sent = server.client("sqs").send_message(
        QueueUrl=server.queue_url, MessageBody='{\n    "OpType": "Debug/PublishReportNow"\n}'
    )
    bucket, prefix = REPORTS
    key = f"{prefix}debug-report-{sent['MessageId']}.json.gz"
    s3 = server.client("s3")

    def published() -> bool:
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=key)
        return bool(listed.get("Contents"))

    _wait(published, "no debug report was published")
    report = json.loads(gzip.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
    assert isinstance(report, dict)
    assert report


# ---------------------------------------------------------------------------------------
# Access control
# ---------------------------------------------------------------------------------------


def _spec_policy(principal: str) -> dict[str, Any]:
    """The specification's policy, its placeholders those of ``serve``, with the
    ``Principal`` that a policy inside the function needs (IAM attaches it to one)."""
    resource = (
        "arn:aws:execute-api:region:<account-id>:pq264fab39/v1/GET/configuration/"
        "ec2.schedule.min_instance_count"
    )
    resource = resource.replace("region", "eu-west-3", 1)
    resource = resource.replace("<account-id>", demo.ACCOUNT_ID).replace("pq264fab39", "local")
    statement = {"Effect": "Allow", "Action": ["execute-api:Invoke"], "Resource": [resource]}
    return {"Version": "2012-10-17", "Statement": [{**statement, "Principal": {"AWS": principal}}]}


def test_the_policy_example_as_the_functions_access_policy(tmp_path_factory):
    policy = tmp_path_factory.mktemp("policy") / "policy.json"
    operator = f"arn:aws:iam::{demo.ACCOUNT_ID}:user/clonesquad-demo-operator"
    policy.write_text(json.dumps(_spec_policy(operator)))
    environ = {"CLONESQUAD_INTERACT_ACCESS_POLICY": policy.as_uri()}
    for guarded in serving(tmp_path_factory, "--no-queue", env=environ):
        key = f"{SPEC_API}configuration/ec2.schedule.min_instance_count"
        assert _run(guarded, f"awscurl {key}").strip() == "2"
        for refused in (f"awscurl -X POST -d 3 {key}", f"awscurl {SPEC_API}configuration"):
            answer = json.loads(_run(guarded, refused))
            assert answer["error"]["type"] == "Forbidden", refused
