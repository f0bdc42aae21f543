"""The demo: who may call the local API, and a small fleet and configuration to look at.

The demo credentials sign requests to ``clonesquad-interact serve`` only: they
are checked by the local gateway, never sent to AWS. The operator is an IAM
user; the instance principal is the role of one demo instance, with temporary
credentials (a session token), so that ``metadata`` answers about that instance.

The demo's Scheduler entries switch its parameter sets (``workday``, ``night``,
``weekend``), and the demo starts as if ``serve`` had been firing them all along:
``config.active_parameter_set`` holds the set of the entry that fired last (in the
deployment's ``TimeZone``), written as that scheduled write would have been.
"""

from __future__ import annotations

import datetime
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import yaml

from ..configuration import parse_duration
from ..layers import ACTIVE_SET_KEY
from ..schedules import is_entry_name, parse_entry, time_zone
from ..settings import Settings
from .eventbridge import last_firing
from .sigv4 import Principal

__all__ = [
    "ACCOUNT_ID",
    "DEMO_FIRED_ENTRY",
    "INSTANCE_ACCESS_KEY",
    "INSTANCE_SECRET_KEY",
    "INSTANCE_SESSION_TOKEN",
    "OPERATOR",
    "OPERATOR_ACCESS_KEY",
    "OPERATOR_SECRET_KEY",
    "SET_KEYS",
    "ActiveSet",
    "DemoFleet",
    "active_set_at",
    "configuration_url",
    "instance_principal",
    "seed_demo",
]

# Published demo credentials: they open the local gateway only, never AWS.
#: moto's account.
ACCOUNT_ID = "123456789012"
OPERATOR_ACCESS_KEY = "AKIACLONESQUADDEMO01"
OPERATOR_SECRET_KEY = "clonesquad-demo-operator-secret"  # noqa: S105
INSTANCE_ACCESS_KEY = "ASIACLONESQUADDEMO02"
INSTANCE_SECRET_KEY = "clonesquad-demo-instance-secret"  # noqa: S105
INSTANCE_SESSION_TOKEN = "clonesquad-demo-instance-session-token"  # noqa: S105
INSTANCE_ROLE_ID = "AROACLONESQUADDEMOROLE"
INSTANCE_ROLE_NAME = "CloneSquadDemoInstanceRole"

_NO_COGNITO: Mapping[str, Any] = MappingProxyType(
    {
        "cognitoIdentityPoolId": None,
        "cognitoIdentityId": None,
        "cognitoAuthenticationType": None,
        "cognitoAuthenticationProvider": None,
        "principalOrgId": None,
        "vpcId": None,
        "vpceId": None,
    }
)

OPERATOR = Principal(
    name="operator",
    access_key=OPERATOR_ACCESS_KEY,
    secret_key=OPERATOR_SECRET_KEY,
    identity=MappingProxyType(
        {
            **_NO_COGNITO,
            "accountId": ACCOUNT_ID,
            "accessKey": OPERATOR_ACCESS_KEY,
            "caller": "AIDACLONESQUADDEMOOPERATOR",
            "user": "AIDACLONESQUADDEMOOPERATOR",
            "userArn": f"arn:aws:iam::{ACCOUNT_ID}:user/clonesquad-demo-operator",
        }
    ),
)


def instance_principal(instance_id: str) -> Principal:
    """The temporary credentials of ``instance_id``'s role, as its metadata service gives them."""
    return Principal(
        name=f"instance {instance_id}",
        access_key=INSTANCE_ACCESS_KEY,
        secret_key=INSTANCE_SECRET_KEY,
        session_token=INSTANCE_SESSION_TOKEN,
        identity=MappingProxyType(
            {
                **_NO_COGNITO,
                "accountId": ACCOUNT_ID,
                "accessKey": INSTANCE_ACCESS_KEY,
                "caller": f"{INSTANCE_ROLE_ID}:{instance_id}",
                "user": f"{INSTANCE_ROLE_ID}:{instance_id}",
                "userArn": (
                    f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{INSTANCE_ROLE_NAME}/{instance_id}"
                ),
            }
        ),
    )


@dataclass(frozen=True, slots=True)
class ActiveSet:
    """The parameter set the demo's entries have made active at a moment."""

    #: The set's name (``config.active_parameter_set``).
    name: str
    #: The Scheduler entry that set it.
    entry: str
    #: When the entry fired (UTC).
    fired_at: datetime.datetime
    #: When the write expires (``None``: permanent), the entry's ``TTL=`` or else
    #: ``config.default_ttl`` after it fired.
    expires_at: datetime.datetime | None


@dataclass(frozen=True, slots=True)
class DemoFleet:
    """What :func:`seed_demo` created."""

    #: instance id -> ``running`` or ``stopped``
    instances: Mapping[str, str]
    #: The instance whose role the instance principal is.
    caller_instance: str
    #: The subfleet member.
    subfleet_instance: str
    #: ``EventDate`` of the events in the EventLog table, not yet acknowledged.
    events: tuple[str, ...]
    #: The parameter set active when the demo was seeded (``None``: none).
    active_set: ActiveSet | None = None


#: The fleet: (name, instance type, availability zone letter, state, subfleet).
_FLEET = (
    ("demo-1", "t3.micro", "a", "running", None),
    ("demo-2", "t3.micro", "b", "running", None),
    ("demo-3", "t3.small", "c", "running", None),
    ("demo-4", "t3.micro", "a", "stopped", None),
    ("demo-5", "t3.small", "b", "stopped", None),
    ("demo-static-1", "t3.medium", "c", "running", "static"),
)
#: The keys the demo's parameter sets hold. Not ``ec2.schedule.min_instance_count`` nor
#: ``ec2.schedule.desired_instance_count``: the specification's examples read and write
#: those, and an active set holding them would answer its value instead.
SET_KEYS = ("ec2.schedule.scaleout.rate", "ec2.schedule.scalein.disable")
#: Keys of the Configuration table (the ``ConfigurationURLs`` document sets others),
#: with three parameter sets (``[<set>]<key>`` items) that the scheduler activates:
#: working hours scale out fast and never in, nights and weekends slowly.
_CONFIGURATION = {
    "ec2.schedule.desired_instance_count": "3",
    "app.run_period": "minutes=1",
    "[workday]ec2.schedule.scaleout.rate": "10",
    "[workday]ec2.schedule.scalein.disable": "1",
    "[night]ec2.schedule.scaleout.rate": "2",
    "[night]ec2.schedule.scalein.disable": "0",
    "[weekend]ec2.schedule.scaleout.rate": "1",
    "[weekend]ec2.schedule.scalein.disable": "0",
}
_URL_DOCUMENT = {
    "ec2.schedule.min_instance_count": "2",
    "app.disable": "0",
}
#: The entry of :data:`_SCHEDULER` that fires every minute (``serve`` fires it).
DEMO_FIRED_ENTRY = "demo-reschedule"
#: A deployment's Scheduler entries: a parameter set for every moment of the week, in
#: the deployment's zone (``workday`` from 08:00 to 19:00 on week days, ``night`` from
#: 19:00 for 13 hours, ``weekend`` from Saturday 08:00 until Monday's ``workday``), a
#: backup at noon UTC, and a rescheduling every minute.
_SCHEDULER = {
    "demo-workday-start": "localcron(0 8 ? * MON-FRI *),config.active_parameter_set=workday",
    "demo-workday-end": (
        "localcron(0 19 ? * MON-FRI *),config.active_parameter_set=night,TTL=hours=13"
    ),
    "demo-weekend": "localcron(0 8 ? * SAT *),config.active_parameter_set=weekend",
    "demo-noon-backup": "cron(0 12 * * ? *),interact:backup",
    DEMO_FIRED_ENTRY: "rate(1 minute),interact:control/reschedulenow?delay=60",
    "#demo-disabled": "rate(1 minute),app.disable=1",
}


def active_set_at(now: datetime.datetime, zone: datetime.tzinfo) -> ActiveSet | None:
    """The parameter set that the demo's Scheduler entries have made active at ``now``,
    had they fired on their schedules (in ``zone``, as ``serve`` fires them): the set
    of the entry that fired last, unless that write has expired (``None`` then, and
    when no entry fired within a week)."""
    entries = {}
    for name, value in _SCHEDULER.items():
        if not is_entry_name(name):
            continue
        entry = parse_entry(name, value)
        sets = [a.value for a in entry.actions if a.kind == "set" and a.target == ACTIVE_SET_KEY]
        if sets:
            entries[name] = (entry, sets[-1])
    fired = last_firing({name: e.schedule for name, (e, _) in entries.items()}, zone, now)
    if fired is None:
        return None
    name, when = fired
    entry, parameter_set = entries[name]
    ttl = entry.ttl if entry.ttl is not None else _default_ttl()
    expires = when + datetime.timedelta(seconds=ttl) if ttl else None
    if expires is not None and expires <= now:
        return None
    return ActiveSet(parameter_set, name, when, expires)


def _default_ttl() -> float:
    """The demo's ``config.default_ttl`` in seconds (the table's, else the document's;
    unset: 0, permanent)."""
    value = _CONFIGURATION.get("config.default_ttl", _URL_DOCUMENT.get("config.default_ttl"))
    return parse_duration(str(value)) if value else 0.0


def seed_demo(
    session: Any,
    settings: Mapping[str, str],
    *,
    endpoint_url: str | None,
    now: datetime.datetime | None = None,
) -> DemoFleet:
    """Create the demo fleet, configuration, schedule and events in a provisioned deployment.

    :param settings: the deployment settings (``GroupName``, table names, ``LoggingS3Path``;
        ``TimeZone``, else the environment's, is the zone of the entries' ``localcron``).
    :param now: the moment the demo starts at (default: now); the events are dated
        before it, and ``config.active_parameter_set`` is :func:`active_set_at` it.
    :returns: what was created; ``settings`` is not changed (the caller sets
        ``ConfigurationURLs`` to :func:`configuration_url`).
    """
    now = now if now is not None else datetime.datetime.now(datetime.UTC)

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=endpoint_url)

    group = settings["GroupName"]
    region = session.region_name
    ec2 = client("ec2")
    instances: dict[str, str] = {}
    caller = subfleet = ""
    for name, instance_type, zone, state, subfleet_name in _FLEET:
        tags = [{"Key": "Name", "Value": name}, {"Key": "clonesquad:group-name", "Value": group}]
        if subfleet_name:
            tags.append({"Key": "clonesquad:subfleet-name", "Value": subfleet_name})
        started = ec2.run_instances(
            ImageId="ami-12c6146b",
            MinCount=1,
            MaxCount=1,
            InstanceType=instance_type,
            Placement={"AvailabilityZone": f"{region}{zone}"},
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
        )
        instance_id = started["Instances"][0]["InstanceId"]
        instances[instance_id] = state
        if subfleet_name:
            subfleet = instance_id
        elif not caller and state == "running":
            caller = instance_id
    stopped = [i for i, state in instances.items() if state == "stopped"]
    if stopped:
        ec2.stop_instances(InstanceIds=stopped)

    dynamodb = client("dynamodb")
    for setting, values in (("ConfigurationTable", _CONFIGURATION), ("SchedulerTable", _SCHEDULER)):
        for key, value in values.items():
            dynamodb.put_item(
                TableName=settings[setting], Item={"Key": {"S": key}, "Value": {"S": value}}
            )
    bucket = _bucket(settings["LoggingS3Path"])
    client("s3").put_object(
        Bucket=bucket,
        Key=DOCUMENT_KEY,
        Body=yaml.safe_dump(_URL_DOCUMENT).encode(),
        ContentType="application/yaml",
    )
    # The zone the dispatcher reads: the settings', else the environment's, else the region's.
    local_zone = time_zone(
        Settings({**os.environ, **settings}).get("TimeZone"), session.region_name
    )
    active = active_set_at(now, local_zone)
    if active is not None:
        item = {"Key": {"S": ACTIVE_SET_KEY}, "Value": {"S": active.name}}
        if active.expires_at is not None:
            item["ExpirationTime"] = {"N": str(math.ceil(active.expires_at.timestamp()))}
        dynamodb.put_item(TableName=settings["ConfigurationTable"], Item=item)
    events = _seed_events(dynamodb, settings["EventTable"], caller, now)
    return DemoFleet(MappingProxyType(instances), caller, subfleet, events, active)


def configuration_url(settings: Mapping[str, str]) -> str:
    """Where the demo's ``ConfigurationURLs`` document is (next to the reports)."""
    return f"s3://{_bucket(settings['LoggingS3Path'])}/{DOCUMENT_KEY}"


def _bucket(path: str) -> str:
    return path.removeprefix("s3://").partition("/")[0]


#: The key of the demo's ``ConfigurationURLs`` document in the logging bucket.
DOCUMENT_KEY = "configuration/demo.yaml"


def _seed_events(
    dynamodb: Any, table: str, instance_id: str, now: datetime.datetime
) -> tuple[str, ...]:
    expires = str(int((now + datetime.timedelta(days=7)).timestamp()))
    dates = []
    for minutes, kind in ((12, "scale_up"), (7, "instance_transitions"), (2, "noticeable_event")):
        date = str(now - datetime.timedelta(minutes=minutes))
        dates.append(date)
        metadata = {"InstanceIds": [instance_id], "Demo": True}
        dynamodb.put_item(
            TableName=table,
            Item={
                "EventDate": {"S": date},
                "EventType": {"S": kind},
                "Metadata": {"S": json.dumps(metadata)},
                "ExpirationTime": {"N": expires},
            },
        )
    return tuple(dates)
