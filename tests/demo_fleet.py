"""A demo fleet of EC2 instances in moto, and a counter of the AWS calls a dispatcher makes.

The fleet of group ``test`` (:data:`clonesquad_interact.testing.DEPLOYMENT_ENVIRONMENT`):

=================  ==========  =========  ========  =====================================
name               AZ          state      health    other
=================  ==========  =========  ========  =====================================
web                eu-west-3a  running    ok        on-demand, t3.micro, tag Name=web
spot               eu-west-3b  running    ok        spot, m5.large, scaling state bounced
impaired           eu-west-3a  running    impaired  t3.micro
stopped            eu-west-3b  stopped    -         t3.micro
draining           eu-west-3a  running    ok        scaling state draining
error              eu-west-3a  stopped    -         scaling state error
evicted            eu-west-3c  running    ok        eu-west-3c is impaired (an AZ with issues)
db-running         eu-west-3a  running    ok        subfleet db
db-stopped         eu-west-3b  stopped    -         subfleet db
unmanaged          eu-west-3a  running    ok        no clonesquad tag
other-group        eu-west-3a  running    ok        group other
=================  ==========  =========  ========  =====================================
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from clonesquad_interact import Dispatcher
from clonesquad_interact.testing import DEPLOYMENT_ENVIRONMENT, provision
from clonesquad_interact.testing.pytest_plugin import AWS_TEST_ENVIRONMENT

GROUP = "test"
AMI = "ami-12c6146b"
ACCOUNT = "123456789012"
REGION = "eu-west-3"

#: name -> (AZ, instance type, spot, tags besides the group's, stop it)
LAYOUT: dict[str, tuple[str, str, bool, dict[str, str], bool]] = {
    "web": ("eu-west-3a", "t3.micro", False, {"Name": "web"}, False),
    "spot": ("eu-west-3b", "m5.large", True, {}, False),
    "impaired": ("eu-west-3a", "t3.micro", False, {}, False),
    "stopped": ("eu-west-3b", "t3.micro", False, {}, True),
    "draining": ("eu-west-3a", "m5.large", False, {}, False),
    "error": ("eu-west-3a", "m5.large", False, {}, True),
    "evicted": ("eu-west-3c", "m5.large", False, {}, False),
    "db-running": ("eu-west-3a", "m5.large", False, {"clonesquad:subfleet-name": "db"}, False),
    "db-stopped": ("eu-west-3b", "m5.large", False, {"clonesquad:subfleet-name": "db"}, True),
}
SCALING_STATES = {"spot": "bounced", "draining": "draining", "error": "error"}


@dataclass(frozen=True)
class DemoFleet:
    """Instance ids by name, and each instance's tags as EC2 returns them."""

    ids: dict[str, str]
    tags: dict[str, list[dict[str, str]]]

    def __getitem__(self, name: str) -> str:
        return self.ids[name]


@dataclass(frozen=True)
class Demo:
    """A provisioned deployment in moto with the demo fleet launched."""

    settings: dict[str, str]
    fleet: DemoFleet

    def dispatcher(self, *plugins: object) -> Dispatcher:
        """A fresh dispatcher (a cold container) on the deployment."""
        return Dispatcher(plugins, entry_points=False, raise_unexpected=True)

    def clean(self, dispatcher: Dispatcher) -> Dispatcher:
        """``dispatcher`` (a module's warm one) as each test starts with it: the
        deployment reset (:meth:`reset`), nothing cached."""
        self.reset()
        dispatcher.cache.clear()
        return dispatcher

    def reset(self) -> None:
        """Forget what a test wrote: configuration, and State items other than scaling states."""
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        for setting in ("ConfigurationTable", "StateTable"):
            table = self.settings[setting]
            for item in dynamodb.scan(TableName=table)["Items"]:
                if not item["Key"]["S"].startswith("ec2.instance.scaling.state."):
                    dynamodb.delete_item(TableName=table, Key={"Key": item["Key"]})


def running_demo() -> Iterator[Demo]:
    """Start moto, provision a deployment and launch the demo fleet, for a module's tests.

    The fleet is slow to launch in moto: a module launches it once, and each test
    calls :meth:`Demo.reset` (through its fixtures) to start from the same state.
    """
    from moto import mock_aws

    with pytest.MonkeyPatch.context() as monkeypatch:
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
            monkeypatch.delenv(name, raising=False)
        for name, value in AWS_TEST_ENVIRONMENT.items():
            monkeypatch.setenv(name, value)
        with mock_aws():
            settings = provision(DEPLOYMENT_ENVIRONMENT)
            for name, value in settings.items():
                monkeypatch.setenv(name, value)
            yield Demo(settings, launch(monkeypatch, settings["StateTable"]))


def launch(monkeypatch: pytest.MonkeyPatch, state_table: str) -> DemoFleet:
    """Launch the demo fleet in moto, write the scaling states, mark the impaired parts."""
    ec2 = boto3.client("ec2", region_name=REGION)
    ids: dict[str, str] = {}
    tags: dict[str, list[dict[str, str]]] = {}
    for name, (zone, instance_type, spot, extra, _) in LAYOUT.items():
        instance_tags = [{"Key": "clonesquad:group-name", "Value": GROUP}]
        instance_tags += [{"Key": k, "Value": v} for k, v in extra.items()]
        ids[name] = _run(ec2, instance_tags, zone, instance_type, spot=spot)
        tags[name] = instance_tags
    ids["unmanaged"] = _run(ec2, [{"Key": "Name", "Value": "x"}], "eu-west-3a")
    ids["other-group"] = launch_managed(ec2, "other")
    ec2.stop_instances(InstanceIds=[ids[n] for n, layout in LAYOUT.items() if layout[4]])
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    for name, state in SCALING_STATES.items():
        dynamodb.put_item(
            TableName=state_table,
            Item={
                "Key": {"S": f"ec2.instance.scaling.state.{ids[name]}"},
                "Value": {"S": state},
            },
        )
    mark_impaired(monkeypatch, {ids["impaired"]})
    mark_zone(monkeypatch, "eu-west-3c", "impaired")
    return DemoFleet(ids, tags)


def launch_managed(ec2: Any, group: str = GROUP, **tags: str) -> str:
    """Launch one t3.micro instance in moto that ``group`` manages, with more ``tags``
    (``Name="web-1"``; a name that is not an identifier: ``**{"clonesquad:subfleet-name": "db"}``).

    :returns: its instance id.
    """
    instance_tags = [{"Key": "clonesquad:group-name", "Value": group}]
    instance_tags += [{"Key": key, "Value": value} for key, value in tags.items()]
    return _run(ec2, instance_tags)


def _run(
    ec2: Any,
    tags: list[dict[str, str]],
    zone: str | None = None,
    instance_type: str = "t3.micro",
    *,
    spot: bool = False,
) -> str:
    arguments: dict[str, Any] = {
        "ImageId": AMI,
        "MinCount": 1,
        "MaxCount": 1,
        "InstanceType": instance_type,
        "TagSpecifications": [{"ResourceType": "instance", "Tags": tags}],
    }
    if zone is not None:
        arguments["Placement"] = {"AvailabilityZone": zone}
    if spot:
        arguments["InstanceMarketOptions"] = {"MarketType": "spot"}
    instance_id: str = ec2.run_instances(**arguments)["Instances"][0]["InstanceId"]
    return instance_id


#: What to do when :func:`moto_internals_problems` finds some.
MOTO_INTERNALS_HELP = (
    "tests/demo_fleet.py marks instances impaired and Availability Zones with issues by "
    "patching moto's internals (moto has no API for either), and this moto version "
    "changed them: update mark_impaired() and mark_zone() to the new names"
)


def moto_internals_problems() -> list[str]:
    """What :func:`mark_impaired` and :func:`mark_zone` need of moto's internals and miss."""
    from moto.ec2.models import ec2_backends
    from moto.ec2.models.instances import Instance

    problems = [
        f"moto.ec2.models.instances.Instance.{name} is no longer a property"
        for name in ("instance_status", "state_code")
        if not isinstance(getattr(Instance, name, None), property)
    ]
    backend = ec2_backends[ACCOUNT][REGION]
    get_zone = getattr(backend, "get_zone_by_name", None)
    if get_zone is None:
        problems.append("the EC2 backend has no get_zone_by_name()")
    else:
        zone = get_zone(f"{REGION}a")
        if getattr(zone, "state", None) != "available":
            problems.append(f"an Availability Zone has no state 'available': {vars(zone)!r}")
    return problems


def _require_moto_internals() -> None:
    problems = moto_internals_problems()
    assert not problems, f"{MOTO_INTERNALS_HELP}: {'; '.join(problems)}"


def mark_impaired(monkeypatch: pytest.MonkeyPatch, instance_ids: set[str]) -> None:
    """Make moto report these running instances' status checks as impaired."""
    from moto.ec2.models.instances import Instance

    _require_moto_internals()
    healthy = Instance.instance_status

    def instance_status(self: Any) -> dict[str, Any]:
        if self.id in instance_ids and self.state_code == 16:
            return {"Status": "impaired", "Details": [{"Name": "reachability", "Status": "failed"}]}
        return healthy.fget(self)  # type: ignore[attr-defined,no-any-return]

    monkeypatch.setattr(Instance, "instance_status", property(instance_status))


def mark_zone(monkeypatch: pytest.MonkeyPatch, zone_name: str, state: str) -> None:
    """Make moto report an Availability Zone in ``state`` (until the test ends)."""
    from moto.ec2.models import ec2_backends

    _require_moto_internals()
    backend = ec2_backends[ACCOUNT][REGION]
    zone = backend.get_zone_by_name(zone_name)
    assert zone is not None
    monkeypatch.setattr(zone, "state", state)


class CallCounter:
    """Counts the AWS calls made through a dispatcher's clients (botocore events)."""

    SERVICES = ("dynamodb", "ec2", "cloudwatch", "s3")

    def __init__(self, dispatcher: Dispatcher, services: Iterable[str] = SERVICES) -> None:
        self.calls: Counter[str] = Counter()
        for service in services:
            client = dispatcher.aws.client(service)
            client.meta.events.register("before-call.*.*", self._count)

    def _count(self, event_name: str, **kwargs: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        self.calls[f"{service}.{operation}"] += 1

    def take(self) -> dict[str, int]:
        """The calls counted since the last take, by ``service.Operation``."""
        calls = dict(sorted(self.calls.items()))
        self.calls.clear()
        return calls


@contextmanager
def iam_denying(*actions: str) -> Iterator[str]:
    """Moto checks IAM in the block, and the environment's credentials are those of an
    IAM user allowed everything but ``actions``.

    Clients created in the block (a fresh dispatcher's) sign with that user's keys, so
    that moto refuses those actions (``AccessDenied``, 403) as IAM would.

    :returns: (in the ``with``) the user's ARN.
    """
    import json
    import uuid

    from moto.core import enable_iam_authentication

    iam = boto3.client("iam")
    name = f"denied-{uuid.uuid4().hex[:8]}"
    arn: str = iam.create_user(UserName=name)["User"]["Arn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Action": list(actions), "Resource": "*"},
        ],
    }
    iam.put_user_policy(UserName=name, PolicyName="deny", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
        for variable in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            monkeypatch.delenv(variable, raising=False)
        with enable_iam_authentication():
            yield arn


@contextmanager
def refusing(
    client: Any, operation: str, code: str, status: int, *, only_if_sent: bytes | None = None
) -> Iterator[list[str]]:
    """``client`` answers ``operation`` with the AWS error ``code`` while in the block.

    The answer takes botocore's own way (a ``before-call`` handler that gives the
    response): the client raises the error class it models for ``code``, shaped as
    AWS shapes it. Used where moto cannot be made to refuse (throttling, or a denial
    of a service whose IAM checks moto does not answer in the service's protocol).

    :param only_if_sent: refuse only the requests whose body holds these bytes.
    :returns: (in the ``with``) the operations refused so far.
    """
    from botocore.awsrequest import AWSResponse, HTTPHeaders

    refused: list[str] = []
    service = client.meta.service_model.service_id.hyphenize()
    event = f"before-call.{service}.{operation}"

    def refuse(params: dict[str, Any], **kwargs: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        body = params.get("body") or b""
        body = body.encode() if isinstance(body, str) else body
        if only_if_sent is not None and only_if_sent not in body:
            return None
        refused.append(operation)
        error = {"Code": code, "Message": f"{code} (refused by the test)"}
        http = AWSResponse(params.get("url", ""), status, HTTPHeaders(), None)
        return http, {"Error": error, "ResponseMetadata": {"HTTPStatusCode": status}}

    client.meta.events.register(event, refuse)
    try:
        yield refused
    finally:
        client.meta.events.unregister(event, refuse)
