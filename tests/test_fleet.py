"""metadata, allmetadatas, fleet/metadata and fleet/status on the demo fleet, from every source."""

from __future__ import annotations

import base64
import gzip
import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from clonesquad_interact import Dispatcher, Request, hookimpl
from clonesquad_interact.producer import produce
from clonesquad_interact.testing import InteractClient, instance_identity
from demo_fleet import CallCounter, Demo, iam_denying, mark_zone, running_demo

AGE = "X-Clonesquad-Data-Age"
SOURCE = "X-Clonesquad-Data-Source"


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    yield from running_demo()


@pytest.fixture(scope="module")
def warm(demo: Demo) -> Dispatcher:
    """One dispatcher for the module (its clients are slow to create)."""
    return demo.dispatcher()


@pytest.fixture
def dispatcher(demo: Demo, warm: Dispatcher) -> Dispatcher:
    return demo.clean(warm)


@pytest.fixture
def client(dispatcher: Dispatcher) -> InteractClient:
    return InteractClient(dispatcher)


def tags(demo: Demo, name: str) -> list[dict[str, str]]:
    return demo.fleet.tags[name]


def expected_metadata(demo: Demo, name: str, az: str, state: str, status: str) -> dict[str, Any]:
    return {
        "InstanceId": demo.fleet[name],
        "LocatedInAZWithIssues": az == "eu-west-3c",
        "Instance": {
            "AvailabilityZone": az,
            "State": state,
            "Status": status,
            "Tags": tags(demo, name),
        },
    }


#: name -> (AZ, State, Status) as metadata reports them.
EXPECTED = {
    "web": ("eu-west-3a", "running", "ok"),
    "spot": ("eu-west-3b", "bounced", "ok"),
    "impaired": ("eu-west-3a", "running", "impaired"),
    "stopped": ("eu-west-3b", "stopped", "not-applicable"),
    "draining": ("eu-west-3a", "draining", "ok"),
    "error": ("eu-west-3a", "error", "not-applicable"),
    "evicted": ("eu-west-3c", "running", "az_evicted"),
    "db-running": ("eu-west-3a", "running", "ok"),
    "db-stopped": ("eu-west-3b", "stopped", "not-applicable"),
}


def all_expected(demo: Demo) -> dict[str, Any]:
    return {
        demo.fleet[name]: expected_metadata(demo, name, *fields)
        for name, fields in EXPECTED.items()
    }


def expected_status(demo: Demo) -> dict[str, Any]:
    # autoscaled: web, spot, impaired, stopped, draining, error, evicted (7)
    # running: web, spot, impaired, draining, evicted; serving: web, spot, evicted
    # not startable: error (scaling state error)
    return {
        "AutoscaledFleet": {
            "FaultyFleetSize": 1,
            "ManagedFleetSize": 7,
            "MaximumFleetSize": 6,
            "RunningFleetSize": 5,
            "ServingFleetSize": 3,
            "ServingFleet_vs_ManagedFleetSizePourcentage": 42,
            "ServingFleet_vs_MaximumFleetSizePourcentage": 50,
        },
        "Subfleets": [
            {
                "Name": "db",
                "RunningInstances": [demo.fleet["db-running"]],
                "StoppedInstances": [demo.fleet["db-stopped"]],
                "SubfleetSize": 2,
            }
        ],
    }


def write_clonesquad_blob(demo: Demo, data: dict[str, Any], expiration_time: int) -> None:
    """The blob exactly as a CloneSquad deployment writes it."""
    blob = base64.b64encode(
        gzip.compress(json.dumps({"data": data}).encode("utf-8"), compresslevel=9)
    ).decode("ascii")
    boto3.client("dynamodb").put_item(
        TableName=demo.settings["StateTable"],
        Item={
            "Key": {"S": "interact.precomputed"},
            "Value": {"S": blob},
            "ExpirationTime": {"N": str(expiration_time)},
        },
    )


# -------------------------------------------------------------------------
# Live
# -------------------------------------------------------------------------


def test_fleet_status_live_counts_the_autoscaled_fleet_and_lists_subfleets(
    demo: Demo, client: InteractClient
) -> None:
    answer = client.get("/fleet/status")
    assert answer.status_code == 200
    assert answer.json() == expected_status(demo)
    assert (answer.headers[SOURCE], answer.headers[AGE]) == ("live", "0")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_metadata_live_for_each_managed_instance(
    demo: Demo, client: InteractClient, name: str
) -> None:
    answer = client.get("/metadata", identity=instance_identity(demo.fleet[name]))
    assert answer.status_code == 200, answer.text
    assert answer.json() == expected_metadata(demo, name, *EXPECTED[name])
    assert answer.headers[SOURCE] == "live"


def test_allmetadatas_live(demo: Demo, client: InteractClient) -> None:
    answer = client.get("/allmetadatas")
    assert answer.status_code == 200
    assert answer.json() == all_expected(demo)
    assert answer.headers[SOURCE] == "live"


def test_configured_unavailable_azs_by_name_or_id(demo: Demo, client: InteractClient) -> None:
    zones = boto3.client("ec2").describe_availability_zones()["AvailabilityZones"]
    zone_b = next(z["ZoneId"] for z in zones if z["ZoneName"] == "eu-west-3b")
    assert client.post("/configuration/ec2.az.unavailable_list", body=zone_b).status_code == 200
    spot = client.get("/metadata", identity=instance_identity(demo.fleet["spot"])).json()
    assert spot["LocatedInAZWithIssues"] is True
    assert spot["Instance"]["Status"] == "az_evicted"
    fleet = client.get("/fleet/status").json()["AutoscaledFleet"]
    # "stopped" (eu-west-3b) can no longer be started
    assert fleet["MaximumFleetSize"] == 5
    assert fleet["ServingFleet_vs_MaximumFleetSizePourcentage"] == 60


def test_unavailable_azs_are_a_semicolon_separated_list_as_clonesquad_writes_it(
    demo: Demo, client: InteractClient
) -> None:
    # CloneSquad's StringList syntax: items separated by ';', empty items dropped.
    written = client.post("/configuration/ec2.az.unavailable_list", body="eu-west-3a;;eu-west-3b;")
    assert written.status_code == 200
    for name in ("web", "spot"):
        answer = client.get("/metadata", identity=instance_identity(demo.fleet[name])).json()
        assert answer["LocatedInAZWithIssues"] is True, name


@pytest.mark.parametrize(
    ("state", "issues"),
    [("information", False), ("impaired", True), ("unavailable", True), ("constrained", True)],
)
def test_azs_with_issues_are_those_ec2_reports_impaired_unavailable_or_constrained(
    demo: Demo, client: InteractClient, monkeypatch: pytest.MonkeyPatch, state: str, issues: bool
) -> None:
    mark_zone(monkeypatch, "eu-west-3b", state)
    spot = client.get("/metadata", identity=instance_identity(demo.fleet["spot"])).json()
    assert spot["LocatedInAZWithIssues"] is issues
    assert spot["Instance"]["Status"] == ("az_evicted" if issues else "ok")
    fleet = client.get("/fleet/status").json()["AutoscaledFleet"]
    assert fleet["MaximumFleetSize"] == (5 if issues else 6), "stopped is in eu-west-3b"


# -------------------------------------------------------------------------
# Precomputed: written by the producer, or by a CloneSquad deployment
# -------------------------------------------------------------------------


def test_a_blob_written_by_the_producer_is_served_as_computed(
    demo: Demo, dispatcher: Dispatcher
) -> None:
    report = produce(dispatcher)
    assert set(report.written) >= {"metadata", "fleet/status"}
    assert report.failed == {}
    client = InteractClient(dispatcher)
    counter = CallCounter(dispatcher)
    status = client.get("/fleet/status")
    assert status.json() == expected_status(demo)
    assert status.headers[SOURCE] == "precomputed"
    assert int(status.headers[AGE]) >= 0
    for name, fields in EXPECTED.items():
        answer = client.get("/metadata", identity=instance_identity(demo.fleet[name]))
        assert answer.json() == expected_metadata(demo, name, *fields)
        assert answer.headers[SOURCE] == "precomputed"
    assert client.get("/allmetadatas").json() == all_expected(demo)
    assert not any(call.startswith("ec2.") for call in counter.take()), "no live computation"


def test_a_blob_written_by_a_clonesquad_deployment_is_served_as_is(
    demo: Demo, client: InteractClient
) -> None:
    web = demo.fleet["web"]
    status = {"AutoscaledFleet": {"FaultyFleetSize": 0, "ManagedFleetSize": 20}}
    metadata = {
        web: {
            "InstanceId": web,
            "LocatedInAZWithIssues": False,
            "Instance": {"AvailabilityZone": "eu-west-3a", "State": "running", "Status": "ok",
                         "Tags": [{"Key": "Name", "Value": "MyInstanceName"}]},
        }
    }  # fmt: skip
    write_clonesquad_blob(
        demo, {"fleet/status": status, "metadata": metadata}, int(time.time()) + 300
    )
    answer = client.get("/fleet/status")
    assert answer.json() == status
    assert (answer.headers[SOURCE], answer.headers[AGE]) == ("precomputed", "unknown")
    assert client.get("/metadata", identity=instance_identity(web)).json() == metadata[web]
    assert client.get("/allmetadatas").json() == metadata


def test_metadata_of_an_instance_newer_than_the_blob_is_looked_up_live(
    demo: Demo, dispatcher: Dispatcher
) -> None:
    web = demo.fleet["web"]
    blob = {"metadata": {web: expected_metadata(demo, "web", *EXPECTED["web"])}}
    write_clonesquad_blob(demo, blob, int(time.time()) + 300)
    client = InteractClient(dispatcher)
    counter = CallCounter(dispatcher, ["ec2"])
    listed = client.get("/metadata", identity=instance_identity(web))
    assert listed.headers[SOURCE] == "precomputed"
    assert counter.take() == {}
    # "impaired" booted after the blob was computed: EC2 is asked about it alone.
    described: list[Any] = []
    dispatcher.aws.client("ec2").meta.events.register(
        "provide-client-params.ec2.DescribeInstances",
        lambda params, **kwargs: described.append(params["Filters"]),
    )
    fresh = client.get("/metadata", identity=instance_identity(demo.fleet["impaired"]))
    assert fresh.status_code == 200, fresh.text
    assert fresh.json() == expected_metadata(demo, "impaired", *EXPECTED["impaired"])
    assert fresh.headers[SOURCE] == "live"
    assert described[0][-1] == {"Name": "instance-id", "Values": [demo.fleet["impaired"]]}
    # An instance that EC2 does not show as managed is still a 404.
    unmanaged = client.get("/metadata", identity=instance_identity(demo.fleet["unmanaged"]))
    assert unmanaged.status_code == 404


def test_an_expired_blob_is_ignored(demo: Demo, client: InteractClient) -> None:
    write_clonesquad_blob(demo, {"fleet/status": {"stale": True}}, int(time.time()) - 1)
    answer = client.get("/fleet/status")
    assert answer.json() == expected_status(demo)
    assert answer.headers[SOURCE] == "live"


def test_a_corrupt_blob_is_ignored(demo: Demo, client: InteractClient) -> None:
    boto3.client("dynamodb").put_item(
        TableName=demo.settings["StateTable"],
        Item={"Key": {"S": "interact.precomputed"}, "Value": {"S": "bm90IGd6aXA="}},
    )
    assert client.get("/fleet/status").headers[SOURCE] == "live"


@pytest.mark.usefixtures("dispatcher")  # a deployment with no precomputed data
def test_data_that_aws_refuses_for_good_is_a_500_without_retry_after(demo: Demo) -> None:
    with iam_denying("ec2:DescribeInstances") as user:
        answer = InteractClient(demo.dispatcher()).get("/fleet/status")
    assert answer.status_code == 500
    assert "Retry-After" not in answer.headers
    error = answer.json()["error"]
    assert error["type"] == "AWSCallRefused"
    assert "AccessDenied" in error["message"]
    assert "fleet/status" in error["message"]
    assert user not in answer.text, "the answer does not echo AWS's message"


# -------------------------------------------------------------------------
# metadata: who may call it
# -------------------------------------------------------------------------


def test_metadata_without_identity_is_a_403_that_says_how_to_call(
    client: InteractClient,
) -> None:
    answer = client.get("/metadata", identity=None)
    assert answer.status_code == 403
    assert "instance role" in answer.json()["error"]["message"]


def test_metadata_from_a_caller_that_is_no_instance_is_a_403(client: InteractClient) -> None:
    answer = client.get("/metadata")  # the operator's IAM user
    assert answer.status_code == 403
    message = answer.json()["error"]["message"]
    assert "is not an EC2 instance" in message
    assert "instance role" in message


@pytest.mark.parametrize("name", ["unmanaged", "other-group"])
def test_metadata_of_an_instance_the_group_does_not_manage_is_a_404(
    demo: Demo, client: InteractClient, name: str
) -> None:
    answer = client.get("/metadata", identity=instance_identity(demo.fleet[name]))
    assert answer.status_code == 404
    assert demo.fleet[name] in answer.json()["error"]["message"]


def test_metadata_of_another_instance_is_denied_without_a_plugin(
    demo: Demo, client: InteractClient
) -> None:
    identity = instance_identity(demo.fleet["web"])
    other = client.get("/metadata", {"instanceid": demo.fleet["spot"]}, identity=identity)
    assert other.status_code == 403
    assert demo.fleet["spot"] in other.json()["error"]["message"]
    own = client.get("/metadata", {"instanceid": demo.fleet["web"]}, identity=identity)
    assert own.status_code == 200
    assert client.get("/metadata", {"instanceid": "web"}, identity=identity).status_code == 400


class OperatorsMayReadMetadata:
    """Lets the IAM user ``operator`` read any instance's metadata."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    @hookimpl
    def authorize_access(self, request: Request, action: str, resource: str) -> bool | None:
        self.asked.append((action, resource))
        arn = (request.identity or {}).get("userArn", "")
        return True if arn.endswith(":user/operator") else None


class NobodyReadsTheSpotInstance:
    def __init__(self, spot: str) -> None:
        self.spot = spot

    @hookimpl
    def authorize_access(self, resource: str) -> bool | None:
        return False if resource == self.spot else None


def test_an_authorization_plugin_can_allow_reading_another_instance(demo: Demo) -> None:
    allow = OperatorsMayReadMetadata()
    client = InteractClient(demo.dispatcher(allow))
    spot = demo.fleet["spot"]
    answer = client.get("/metadata", {"instanceid": spot})
    assert answer.status_code == 200
    assert answer.json() == expected_metadata(demo, "spot", *EXPECTED["spot"])
    assert allow.asked == [("metadata", spot)]
    # An instance is not the operator: still denied.
    denied = client.get(
        "/metadata", {"instanceid": spot}, identity=instance_identity(demo.fleet["web"])
    )
    assert denied.status_code == 403


def test_any_authorization_plugin_can_deny(demo: Demo) -> None:
    spot = demo.fleet["spot"]
    client = InteractClient(
        demo.dispatcher(OperatorsMayReadMetadata(), NobodyReadsTheSpotInstance(spot))
    )
    assert client.get("/metadata", {"instanceid": spot}).status_code == 403
    assert client.get("/metadata", {"instanceid": demo.fleet["web"]}).status_code == 200


# -------------------------------------------------------------------------
# What each answer costs in AWS calls
# -------------------------------------------------------------------------


def test_aws_calls_of_fleet_status_live_precomputed_and_warm(
    demo: Demo, dispatcher: Dispatcher
) -> None:
    client = InteractClient(dispatcher)
    counter = CallCounter(dispatcher)
    assert client.get("/fleet/status").headers["X-Clonesquad-Cache"] == "miss"
    assert counter.take() == {
        # scaling states; the configuration keys ec2.az.unavailable_list and
        # interact.answer_shapes (one BatchGetItem each)
        "dynamodb.BatchGetItem": 3,
        "dynamodb.GetItem": 2,  # cache index, precomputed blob
        "ec2.DescribeAvailabilityZones": 1,
        "ec2.DescribeInstanceStatus": 1,
        "ec2.DescribeInstances": 1,
    }
    assert client.get("/fleet/status").headers["X-Clonesquad-Cache"] == "hit"
    assert counter.take() == {"dynamodb.GetItem": 1}, "a warm cached answer: one GetItem"
    produce(dispatcher)
    counter.take()
    precomputed = client.get("/fleet/status")
    assert precomputed.headers["X-Clonesquad-Cache"] == "miss", "the producer wrote"
    assert precomputed.headers[SOURCE] == "precomputed"
    # cache index, precomputed blob; interact.answer_shapes
    assert counter.take() == {"dynamodb.GetItem": 2, "dynamodb.BatchGetItem": 1}
    assert client.get("/fleet/status").headers["X-Clonesquad-Cache"] == "hit"
    assert counter.take() == {"dynamodb.GetItem": 1}


def test_aws_calls_of_metadata_live(demo: Demo, dispatcher: Dispatcher) -> None:
    client = InteractClient(dispatcher)
    counter = CallCounter(dispatcher)
    client.get("/metadata", identity=instance_identity(demo.fleet["web"]))
    # GetItem: the cache index, the blob; BatchGetItem: the scaling states, and the
    # keys ec2.az.unavailable_list, metadata.instance_role_names and interact.answer_shapes.
    assert counter.take() == {
        "dynamodb.BatchGetItem": 4,
        "dynamodb.GetItem": 2,
        "ec2.DescribeAvailabilityZones": 1,
        "ec2.DescribeInstanceStatus": 1,
        "ec2.DescribeInstances": 1,
    }
    client.get("/metadata", identity=instance_identity(demo.fleet["web"]))
    assert counter.take() == {"dynamodb.GetItem": 1}


def test_metadata_can_require_the_callers_role_to_be_an_instance_role(
    demo: Demo, client: InteractClient
) -> None:
    web = demo.fleet["web"]
    own_role = instance_identity(web)  # a session of CloneSquadInstanceRole named after web
    posing = instance_identity(web, role_name="SomeOtherRole")
    assert client.get("/metadata", identity=posing).status_code == 200  # no list: any role
    written = client.post(
        "/configuration/metadata.instance_role_names", "CloneSquadInstanceRole;SpareRole"
    )
    assert written.status_code == 200
    assert client.get("/metadata", identity=own_role).status_code == 200
    refused = client.get("/metadata", identity=posing)
    assert refused.status_code == 403
    assert "metadata.instance_role_names" in refused.json()["error"]["message"]
    other_session = {**own_role, "userArn": own_role["userArn"].rsplit("/", 1)[0] + "/i-0ffff"}
    assert client.get("/metadata", identity=other_session).status_code == 403
