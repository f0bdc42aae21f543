"""The fleet data that CloneSquad's main function precomputes, in both of its releases' shapes.

Each blob is built here the way the writer of that release encodes it (sorted keys,
default separators, gzip level 9 stamped with the time 1, base64), not with the
library's encoder.
"""

from __future__ import annotations

import base64
import gzip
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from clonesquad_interact import Dispatcher
from clonesquad_interact.precomputed import decode, decode_value, encode_value
from clonesquad_interact.producer import produce
from clonesquad_interact.testing import InteractClient, instance_identity
from demo_fleet import CallCounter, Demo, running_demo

AGE = "X-Clonesquad-Data-Age"
SOURCE = "X-Clonesquad-Data-Source"


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    yield from running_demo()


@pytest.fixture(scope="module")
def warm(demo: Demo) -> Dispatcher:
    return demo.dispatcher()


@pytest.fixture
def dispatcher(demo: Demo, warm: Dispatcher) -> Dispatcher:
    operation = next(op for op in warm.operations if op.name == "cloudwatch/metriccache")
    operation.handler.__self__._kept = None  # type: ignore[attr-defined]
    return demo.clean(warm)


@pytest.fixture
def client(dispatcher: Dispatcher) -> InteractClient:
    return InteractClient(dispatcher)


def clonesquad_encoding(value: Any) -> str:
    """A JSON value encoded as CloneSquad's main function encodes it."""
    text = json.dumps(value, sort_keys=True, default=str)
    return base64.b64encode(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=1)).decode()


def put_state(demo: Demo, key: str, value: str, ttl: int = 240) -> None:
    boto3.client("dynamodb").put_item(
        TableName=demo.settings["StateTable"],
        Item={
            "Key": {"S": key},
            "Value": {"S": value},
            "ExpirationTime": {"N": str(int(time.time()) + ttl)},
        },
    )


def put_blob(demo: Demo, data: dict[str, Any]) -> None:
    put_state(demo, "interact.precomputed", clonesquad_encoding({"data": data}))


TAGS = [{"Key": "Name", "Value": "web-1"}, {"Key": "clonesquad:group-name", "Value": "test"}]
TARGET_GROUP = "arn:aws:elasticloadbalancing:eu-west-3:123456789012:targetgroup/tg/0123456789abcdef"


def v0_27_1_record(instance_id: str, **fields: Any) -> dict[str, Any]:
    """A flat metadata record as v0.27.1's main function writes it."""
    return {
        "AvailabilityZone": "eu-west-3b",
        "InstanceId": instance_id,
        "InstanceName": "web-1",
        "InstanceType": "t3.micro",
        "LocatedInAZWithIssues": False,
        "SpotDetails": {"InterruptedAt": None, "RebalanceRecommendedAt": None},
        "SpotInstance": True,
        "State": "running",
        "Status": "ok",
        "SubfleetName": None,
        "Tags": TAGS,
        "TargetGroups": {"Arns": [], "NbOfTargetGroups": 0},
        **fields,
    }  # fmt: skip


V0_27_1_STATUS = {
    "EC2": {
        "AutoscaledFleet": {"ManagedFleetSize": 20, "MaximumFleetSize": 19, "RunningFleetSize": 17,
                            "ServingFleetSize": 17,
                            "ServingFleet_vs_ManagedFleetSizePourcentage": 85,
                            "ServingFleet_vs_MaximumFleetSizePourcentage": 89,
                            "UnhealthyFleetSize": 1},
        "Subfleets": [{"Name": "batch", "RunningInstanceCount": 0, "RunningInstances": [],
                       "StoppedInstanceCount": 2,
                       "StoppedInstances": ["i-0bbbbbbbbbbbbbbbb", "i-0cccccccccccccccc"],
                       "SubfleetSize": 2}],
    }
}  # fmt: skip
SPEC_STATUS = {
    "AutoscaledFleet": {"FaultyFleetSize": 1, "ManagedFleetSize": 20, "MaximumFleetSize": 19,
                        "RunningFleetSize": 17, "ServingFleetSize": 17,
                        "ServingFleet_vs_ManagedFleetSizePourcentage": 85,
                        "ServingFleet_vs_MaximumFleetSizePourcentage": 89},
    "Subfleets": [{"Name": "batch", "RunningInstances": [],
                   "StoppedInstances": ["i-0bbbbbbbbbbbbbbbb", "i-0cccccccccccccccc"],
                   "SubfleetSize": 2}],
}  # fmt: skip
SENT = [
    {"Dimensions": [{"Name": "GroupName", "Value": "test"}], "MetricName": "RunningInstances",
     "StorageResolution": 60, "Timestamp": "2024-01-08 21:05:55.836748+00:00", "Unit": "Count",
     "Value": 17.0}
]  # fmt: skip


def spec_record(instance_id: str) -> dict[str, Any]:
    return {
        "InstanceId": instance_id,
        "LocatedInAZWithIssues": False,
        "Instance": {
            "AvailabilityZone": "eu-west-3b",
            "State": "running",
            "Status": "ok",
            "Tags": TAGS,
        },
    }  # fmt: skip


# -------------------------------------------------------------------------
# The encoding
# -------------------------------------------------------------------------


def test_values_are_encoded_byte_for_byte_as_clonesquad_encodes_them() -> None:
    value = {"b": [1, 2.5, None], "a": {"z": "é", "when": "2024-01-08 21:05:55+00:00"}}
    encoded = encode_value(value)
    assert encoded == clonesquad_encoding(value)
    assert base64.b64decode(encoded)[:10] == bytes.fromhex("1f8b08000100000002ff")
    assert decode_value(encoded) == value


@pytest.mark.parametrize(
    "stored",
    [
        clonesquad_encoding({"data": {"x": 1}}),
        "b'" + clonesquad_encoding({"data": {"x": 1}}) + "'",
        json.dumps({"data": {"x": 1}}),
    ],
    ids=["base64-gzip", "bytes-wrapper", "plain-json"],
)
def test_a_blob_is_read_in_each_form_its_writers_leave(stored: str) -> None:
    assert dict(decode(stored).data) == {"x": 1}


def test_a_blob_in_no_known_form_is_refused() -> None:
    with pytest.raises(ValueError, match="neither"):
        decode("not a blob")


# -------------------------------------------------------------------------
# A v0.27.1 blob
# -------------------------------------------------------------------------


def test_every_field_of_a_v0_27_1_record_is_served_in_the_v0_27_1_shapes(
    demo: Demo, client: InteractClient
) -> None:
    web, spot = demo.fleet["web"], demo.fleet["spot"]
    on_demand = v0_27_1_record(web, SpotInstance=False, InstanceType="m5.large")
    del on_demand["SpotDetails"]  # v0.27.1 writes SpotDetails for Spot instances only
    spotted = v0_27_1_record(
        spot,
        SpotDetails={"InterruptedAt": None, "RebalanceRecommendedAt": "2024-01-08 20:40:06+00:00"},
        TargetGroups={"Arns": [TARGET_GROUP], "NbOfTargetGroups": 1},
        SubfleetName="batch",
    )
    put_blob(demo, {"metadata": [on_demand, spotted]})
    assert client.post("/configuration/interact.answer_shapes", body="v0.27.1").status_code == 200
    # The demo's spot instance is bounced in the State table: that State wins, as it
    # does in CloneSquad's answer.
    for instance_id, record in ((web, on_demand), (spot, {**spotted, "State": "bounced"})):
        answer = client.get("/metadata", identity=instance_identity(instance_id))
        assert answer.headers[SOURCE] == "precomputed"
        assert answer.json() == record
    assert client.get("/fleet/metadata").json() == [on_demand, spotted]


def test_metadata_from_a_blob_has_the_scaling_state_the_state_table_holds_now(
    demo: Demo, client: InteractClient
) -> None:
    web = demo.fleet["web"]
    put_blob(demo, {"metadata": [v0_27_1_record(web)]})
    key = f"ec2.instance.scaling.state.{web}"
    put_state(demo, key, "draining")
    try:
        answer = client.get("/metadata", identity=instance_identity(web))
        assert answer.headers[SOURCE] == "precomputed"
        assert answer.json()["Instance"]["State"] == "draining", "written since the blob"
        assert client.post("/configuration/interact.answer_shapes", body="v0.27.1").ok
        assert client.get("/metadata", identity=instance_identity(web)).json()["State"] == (
            "draining"
        )
    finally:
        boto3.client("dynamodb").delete_item(
            TableName=demo.settings["StateTable"], Key={"Key": {"S": key}}
        )


def test_a_v0_27_1_blob_is_served_in_the_specifications_shapes(
    demo: Demo, client: InteractClient
) -> None:
    web, spot = demo.fleet["web"], demo.fleet["spot"]
    records = [v0_27_1_record(web), v0_27_1_record(spot, State="draining", InstanceName=None)]
    put_blob(
        demo, {"metadata": records, "fleet/status": V0_27_1_STATUS, "cloudwatch/sentmetrics": SENT}
    )
    answer = client.get("/metadata", identity=instance_identity(web))
    assert answer.status_code == 200, answer.text
    assert answer.json() == spec_record(web)
    assert answer.headers[SOURCE] == "precomputed"
    expected_spot = spec_record(spot)
    expected_spot["Instance"]["State"] = "draining"
    assert client.get("/allmetadatas").json() == {web: spec_record(web), spot: expected_spot}
    assert client.get("/fleet/metadata").json() == records
    status = client.get("/fleet/status")
    assert status.json() == SPEC_STATUS
    assert status.headers[SOURCE] == "precomputed"
    assert client.get("/cloudwatch/sentmetrics").json() == SENT


def test_the_v0_27_1_shapes_when_the_configuration_asks_for_them(
    demo: Demo, client: InteractClient
) -> None:
    web = demo.fleet["web"]
    put_blob(demo, {"metadata": [v0_27_1_record(web)], "fleet/status": V0_27_1_STATUS})
    assert client.post("/configuration/interact.answer_shapes", body="v0.27.1").status_code == 200
    answer = client.get("/metadata", identity=instance_identity(web)).json()
    assert answer["State"] == "running", "a top-level State, as the original's watcher reads"
    assert answer == v0_27_1_record(web), "every field of the blob's record, as it wrote it"
    status = client.get("/fleet/status").json()
    assert status["EC2"]["AutoscaledFleet"] == V0_27_1_STATUS["EC2"]["AutoscaledFleet"]
    assert status["EC2"]["Subfleets"] == V0_27_1_STATUS["EC2"]["Subfleets"]


# -------------------------------------------------------------------------
# A spec-era blob
# -------------------------------------------------------------------------


def test_a_spec_era_blob_is_served_with_instance_ids(demo: Demo, client: InteractClient) -> None:
    web = demo.fleet["web"]
    record = spec_record(web)
    del record["InstanceId"]  # the spec-era writer keys records by id, without it inside
    status = {"AutoscaledFleet": SPEC_STATUS["AutoscaledFleet"]}
    put_blob(demo, {"metadata": {web: record}, "fleet/status": status})
    assert client.get("/metadata", identity=instance_identity(web)).json() == spec_record(web)
    assert client.get("/allmetadatas").json() == {web: spec_record(web)}
    flat = client.get("/fleet/metadata").json()
    assert flat == [
        {"AvailabilityZone": "eu-west-3b", "InstanceId": web, "InstanceName": "web-1",
         "InstanceType": None, "LocatedInAZWithIssues": False, "SpotInstance": None,
         "State": "running", "Status": "ok", "SubfleetName": None,
         "Tags": record["Instance"]["Tags"], "TargetGroups": None}
    ]  # fmt: skip
    assert client.get("/fleet/status").json() == status
    assert client.post("/configuration/interact.answer_shapes", body="v0.27.1").status_code == 200
    assert client.get("/metadata", identity=instance_identity(web)).json() == flat[0], (
        "what a spec-era blob does not say is null"
    )


def test_the_v0_27_1_shapes_from_a_spec_era_blob(demo: Demo, client: InteractClient) -> None:
    put_blob(demo, {"fleet/status": SPEC_STATUS})
    assert client.post("/configuration/interact.answer_shapes", body="v0.27.1").status_code == 200
    assert client.get("/fleet/status").json() == V0_27_1_STATUS


def test_data_in_neither_shape_is_computed_live(demo: Demo, client: InteractClient) -> None:
    put_blob(demo, {"metadata": "unexpected", "fleet/status": ["unexpected"]})
    web = demo.fleet["web"]
    answer = client.get("/metadata", identity=instance_identity(web))
    assert answer.status_code == 200
    assert answer.headers[SOURCE] == "live"
    assert answer.json()["InstanceId"] == web
    status = client.get("/fleet/status")
    assert status.headers[SOURCE] == "live"
    assert "FaultyFleetSize" in status.json()["AutoscaledFleet"]


def test_fleet_metadata_live_is_the_list_of_flat_records(
    demo: Demo, client: InteractClient
) -> None:
    answer = client.get("/fleet/metadata")
    assert answer.headers[SOURCE] == "live"
    records = answer.json()
    assert isinstance(records, list)
    assert [r["InstanceId"] for r in records] == sorted(r["InstanceId"] for r in records)
    web = next(r for r in records if r["InstanceId"] == demo.fleet["web"])
    assert web["InstanceName"] == "web"
    assert (web["State"], web["InstanceType"], web["SpotInstance"]) == (
        "running",
        "t3.micro",
        False,
    )
    assert "SpotDetails" not in web, "v0.27.1 writes SpotDetails for Spot instances only"
    assert web["TargetGroups"] == {"Arns": [], "NbOfTargetGroups": 0}


def test_live_v0_27_1_records_carry_spot_details_and_the_managed_target_groups(
    demo: Demo, client: InteractClient
) -> None:
    spot = demo.fleet["spot"]
    put_state(demo, f"ec2.instance.spot.event.{spot}.rebalance_recommended_at",
              "2024-01-08 20:40:06.748674+00:00", ttl=1200)  # fmt: skip
    ec2, elb = boto3.client("ec2"), boto3.client("elbv2")
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    tags = {"managed": [{"Key": "clonesquad:group-name", "Value": "test"}], "other": []}
    arns = {
        name: elb.create_target_group(Name=f"tg-{name}", Protocol="HTTP", Port=80, VpcId=vpc,
                                      **({"Tags": t} if t else {}))["TargetGroups"][0]
        ["TargetGroupArn"]
        for name, t in tags.items()
    }  # fmt: skip
    try:
        records = {r["InstanceId"]: r for r in client.get("/fleet/metadata").json()}
        assert records[spot]["SpotInstance"] is True
        assert records[spot]["SpotDetails"] == {
            "InterruptedAt": None,
            "RebalanceRecommendedAt": "2024-01-08 20:40:06.748674+00:00",
        }
        managed = {"Arns": [arns["managed"]], "NbOfTargetGroups": 1}
        assert all(r["TargetGroups"] == managed for r in records.values()), "every instance"
        assert client.post("/configuration/interact.answer_shapes", body="v0.27.1").ok
        answer = client.get("/metadata", identity=instance_identity(spot))
        assert answer.headers[SOURCE] == "live"
        assert answer.json() == records[spot]
    finally:
        for arn in arns.values():
            elb.delete_target_group(TargetGroupArn=arn)


# -------------------------------------------------------------------------
# cloudwatch/metriccache: the main function's State item
# -------------------------------------------------------------------------


def test_metric_cache_serves_the_main_functions_state_item_with_its_age(
    demo: Demo, dispatcher: Dispatcher
) -> None:
    sampled = datetime.now(UTC) - timedelta(seconds=90)
    cached = [
        {"Id": "id1", "Label": "AWS/EC2 i-0aaaaaaaaaaaaaaaa CPUUtilization",
         "StatusCode": "Complete", "Timestamps": [str(sampled)], "Values": [59.0],
         "_MetricId": "CloneSquad-test-i-0aaaaaaaaaaaaaaaa-00", "_SamplingTime": str(sampled)}
    ]  # fmt: skip
    put_state(demo, "cloudwatch.metrics.cache", clonesquad_encoding(cached), ttl=86400)
    calls: list[str] = []
    dispatcher.aws.client("cloudwatch").meta.events.register(
        "before-call.cloudwatch", lambda model, **_: calls.append(model.name)
    )
    answer = InteractClient(dispatcher).get("/cloudwatch/metriccache")
    assert answer.json() == cached
    assert answer.headers[SOURCE] == "precomputed"
    assert 90 <= int(answer.headers[AGE]) < 600
    assert calls == [], "no GetMetricData while the main function keeps the cache"


def test_metric_cache_is_read_live_without_the_state_item(dispatcher: Dispatcher) -> None:
    answer = InteractClient(dispatcher).get("/cloudwatch/metriccache")
    assert answer.status_code == 200
    assert answer.headers[SOURCE] == "live"


def test_the_producer_writes_the_v0_27_1_layout(demo: Demo, dispatcher: Dispatcher) -> None:
    produce(dispatcher, only=("metadata", "fleet/status"))
    item = boto3.client("dynamodb").get_item(
        TableName=demo.settings["StateTable"], Key={"Key": {"S": "interact.precomputed"}}
    )["Item"]
    data = json.loads(gzip.decompress(base64.b64decode(item["Value"]["S"])))["data"]
    assert isinstance(data["metadata"], list)
    web = next(r for r in data["metadata"] if r["InstanceId"] == demo.fleet["web"])
    assert (web["State"], web["InstanceName"], web["SubfleetName"]) == ("running", "web", None)
    assert set(web) == set(v0_27_1_record(web)) - {"SpotDetails"}, "every field v0.27.1 writes"
    spot = next(r for r in data["metadata"] if r["InstanceId"] == demo.fleet["spot"])
    assert set(spot) == set(v0_27_1_record(spot))
    assert set(data["fleet/status"]) == {"EC2"}
    assert "UnhealthyFleetSize" in data["fleet/status"]["EC2"]["AutoscaledFleet"]
    ttl = int(item["ExpirationTime"]["N"]) - time.time()
    assert 200 < ttl <= 241, "CloneSquad's rule: max(2 * app.run_period, 240) seconds"


# -------------------------------------------------------------------------
# What each answer costs in AWS calls
# -------------------------------------------------------------------------


def test_aws_calls_of_fleet_metadata_and_metric_cache(demo: Demo, dispatcher: Dispatcher) -> None:
    client = InteractClient(dispatcher)
    counter = CallCounter(dispatcher, [*CallCounter.SERVICES, "resourcegroupstaggingapi"])
    assert client.get("/fleet/metadata").headers[SOURCE] == "live"
    assert counter.take() == {
        # scaling states and Spot events; the configuration key ec2.az.unavailable_list
        "dynamodb.BatchGetItem": 2,
        "dynamodb.GetItem": 2,  # cache index, precomputed blob
        "ec2.DescribeAvailabilityZones": 1,
        "ec2.DescribeInstanceStatus": 1,
        "ec2.DescribeInstances": 1,
        "resource-groups-tagging-api.GetResources": 1,  # the managed target groups
    }
    put_blob(demo, {"metadata": [v0_27_1_record(demo.fleet["web"])]})
    dispatcher.cache.clear()
    assert client.get("/fleet/metadata").headers[SOURCE] == "precomputed"
    assert counter.take() == {"dynamodb.GetItem": 2}, "cache index, precomputed blob"
    assert client.get("/metadata", identity=instance_identity(demo.fleet["web"])).ok
    # GetItem: cache index, blob and the instance's scaling state; BatchGetItem: the
    # configuration keys metadata.instance_role_names and interact.answer_shapes
    assert counter.take() == {"dynamodb.GetItem": 3, "dynamodb.BatchGetItem": 2}
    put_state(demo, "cloudwatch.metrics.cache", clonesquad_encoding([]), ttl=86400)
    assert client.get("/cloudwatch/metriccache").headers[SOURCE] == "precomputed"
    assert counter.take() == {"dynamodb.GetItem": 1}, "cloudwatch.metrics.cache (never cached)"
