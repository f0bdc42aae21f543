"""The managed EC2 fleet, as EC2 and the State table describe it now.

Not a plugin itself: the ``fleet`` and ``metrics`` plugins compute their data from
a :class:`Fleet`, read with :func:`describe_fleet`.

* Managed instances carry the tag ``clonesquad:group-name`` = ``GroupName``
  (terminated and shutting-down ones are gone); subfleet members also carry
  ``clonesquad:subfleet-name``; the others make the autoscaled fleet.
* An instance's health (``Status``) is the worse of its instance and system status
  checks (``describe_instance_status`` with ``IncludeAllInstances``).
* AZs with issues are those that ``describe_availability_zones`` reports
  ``impaired``, ``unavailable`` or ``constrained`` (not ``available`` nor
  ``information``, a notice), plus those (names or ids) listed in
  ``ec2.az.unavailable_list``.
* An instance's scaling state (``error``, ``bounced``, ``draining``...) is the value
  of ``ec2.instance.scaling.state.<instance-id>`` in the State table.
* A Spot instance's last interruption notice and rebalance recommendation are the
  dates that the main function keeps in ``ec2.instance.spot.event.<instance-id>.interrupted_at``
  and ``...rebalance_recommended_at`` (v0.27.1's ``SpotDetails``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

from clonesquad_interact import Deployment
from clonesquad_interact.precomputed import state_table
from clonesquad_interact.production import Production

from .shapes import flat_record

T = TypeVar("T")

GROUP_TAG = "clonesquad:group-name"
SUBFLEET_TAG = "clonesquad:subfleet-name"
#: The State table keys of the scaling states: this prefix, then the instance id.
SCALING_STATE_PREFIX = "ec2.instance.scaling.state."
#: The State table keys of a Spot instance's events: this prefix, the instance id, then
#: a suffix of :data:`SPOT_EVENTS`.
SPOT_EVENT_PREFIX = "ec2.instance.spot.event."
#: v0.27.1's ``SpotDetails`` field -> the suffix of its State table key.
SPOT_EVENTS = MappingProxyType(
    {"InterruptedAt": ".interrupted_at", "RebalanceRecommendedAt": ".rebalance_recommended_at"}
)
UNAVAILABLE_AZS_KEY = "ec2.az.unavailable_list"

ACTIVE = frozenset({"pending", "running"})
STOPPED = frozenset({"stopping", "stopped"})
GONE = frozenset({"shutting-down", "terminated"})
UNHEALTHY = frozenset({"impaired", "unhealthy"})
#: ``describe_availability_zones`` states of an AZ with issues (the others are
#: ``available`` and ``information``).
AZ_ISSUE_STATES = frozenset({"impaired", "unavailable", "constrained"})
#: Scaling states that replace a pending or running instance's ``State``.
ADVISORY_STATES = frozenset({"bounced", "draining"})
#: ``StateReason`` codes of a spot instance that AWS interrupted.
SPOT_INTERRUPTIONS = frozenset({"Server.SpotInstanceShutdown", "Server.SpotInstanceTermination"})
#: Health ranks: the worse of the instance and system checks wins.
_HEALTH_RANK = MappingProxyType({"impaired": 4, "insufficient-data": 3, "initializing": 2, "ok": 1})
#: Burstable instance types: the t families (t2, t3, t3a, t4g...).
BURSTABLE_TYPE = re.compile(r"t\d")
#: Instance ids per ``describe_instance_status``.
IDS_PER_CALL = 100


@dataclass(frozen=True, slots=True)
class Instance:
    """One managed instance."""

    instance_id: str
    availability_zone: str
    #: EC2's ``State.Name``: pending, running, stopping, stopped...
    state: str
    #: The worse of the status checks: ok, impaired, initializing, not-applicable...
    health: str
    tags: tuple[Mapping[str, str], ...]
    instance_type: str
    spot: bool
    #: ``StateReason.Code``, ``""`` when EC2 gives none.
    state_reason: str
    #: The scaling state from the State table, ``""`` when there is none.
    scaling_state: str
    #: A Spot instance's events (``SpotDetails`` fields) that the State table holds.
    spot_events: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def subfleet(self) -> str | None:
        """The subfleet it belongs to, ``None`` for the autoscaled fleet."""
        for tag in self.tags:
            if tag.get("Key") == SUBFLEET_TAG:
                return tag.get("Value") or None
        return None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def spot_interrupted(self) -> bool:
        return self.spot and self.state_reason in SPOT_INTERRUPTIONS

    @property
    def burstable(self) -> bool:
        """Whether it earns CPU credits (t2, t3, t3a, t4g...; not trn1)."""
        return BURSTABLE_TYPE.match(self.instance_type) is not None


@dataclass(frozen=True, slots=True)
class Fleet:
    """The managed instances of a group, sorted by id, and the AZs with issues."""

    group_name: str
    instances: tuple[Instance, ...]
    azs_with_issues: frozenset[str]
    #: The ARNs of the target groups the group manages (v0.27.1's ``TargetGroups``).
    target_groups: tuple[str, ...] = ()

    def in_az_with_issues(self, instance: Instance) -> bool:
        return instance.availability_zone in self.azs_with_issues

    def find(self, instance_id: str) -> Instance | None:
        return next((i for i in self.instances if i.instance_id == instance_id), None)

    # -- metadata ---------------------------------------------------------

    def metadata(self, instance: Instance) -> dict[str, Any]:
        """The ``metadata`` of one instance."""
        state = instance.state
        if instance.scaling_state == "error":
            state = "error"
        elif instance.active and instance.scaling_state in ADVISORY_STATES:
            state = instance.scaling_state
        status = instance.health
        if instance.state == "running" and self.in_az_with_issues(instance):
            status = "az_evicted"
        return {
            "InstanceId": instance.instance_id,
            "LocatedInAZWithIssues": self.in_az_with_issues(instance),
            "Instance": {
                "AvailabilityZone": instance.availability_zone,
                "State": state,
                "Status": status,
                "Tags": [dict(tag) for tag in instance.tags],
            },
        }

    def all_metadata(self) -> dict[str, dict[str, Any]]:
        """The ``metadata`` of every managed instance, by instance id."""
        return {i.instance_id: self.metadata(i) for i in self.instances}

    def release_record(self, instance: Instance) -> dict[str, Any]:
        """The v0.27.1 flat metadata record of one instance."""
        record = {
            **flat_record(self.metadata(instance)),
            "InstanceType": instance.instance_type,
            "SpotInstance": instance.spot,
            "TargetGroups": {
                "Arns": list(self.target_groups),
                "NbOfTargetGroups": len(self.target_groups),
            },
        }
        if instance.spot:
            record["SpotDetails"] = {name: instance.spot_events.get(name) for name in SPOT_EVENTS}
        return dict(sorted(record.items()))

    def release_metadata(self) -> list[dict[str, Any]]:
        """The v0.27.1 flat metadata records of every managed instance, by instance id."""
        return [self.release_record(i) for i in self.instances]

    # -- indicators -------------------------------------------------------

    @property
    def autoscaled(self) -> tuple[Instance, ...]:
        return tuple(i for i in self.instances if i.subfleet is None)

    def counts(self) -> dict[str, int]:
        """Instance counts of the autoscaled fleet, by indicator."""
        fleet = self.autoscaled
        serving = [
            i
            for i in fleet
            if i.state == "running" and i.health == "ok" and i.scaling_state != "draining"
        ]
        unstartable = [
            i
            for i in fleet
            if not i.active
            and (i.scaling_state == "error" or i.spot_interrupted or self.in_az_with_issues(i))
        ]
        return {
            "managed": len(fleet),
            "maximum": len(fleet) - len(unstartable),
            "running": sum(i.active for i in fleet),
            "pending": sum(i.state == "pending" for i in fleet),
            "stopping": sum(i.state == "stopping" for i in fleet),
            "stopped": sum(i.state == "stopped" for i in fleet),
            "serving": len(serving),
            "faulty": sum(i.active and i.health in UNHEALTHY for i in fleet),
            "draining": sum(i.active and i.scaling_state == "draining" for i in fleet),
            "bounced": sum(i.active and i.scaling_state == "bounced" for i in fleet),
            "error": sum(i.scaling_state == "error" for i in fleet),
            "az_evicted": sum(i.state == "running" and self.in_az_with_issues(i) for i in fleet),
        }

    def status(self) -> dict[str, Any]:
        """The ``fleet/status`` document."""
        counts = self.counts()
        return {
            "AutoscaledFleet": {
                "FaultyFleetSize": counts["faulty"],
                "ManagedFleetSize": counts["managed"],
                "MaximumFleetSize": counts["maximum"],
                "RunningFleetSize": counts["running"],
                "ServingFleetSize": counts["serving"],
                "ServingFleet_vs_ManagedFleetSizePourcentage": _percent(
                    counts["serving"], counts["managed"]
                ),
                "ServingFleet_vs_MaximumFleetSizePourcentage": _percent(
                    counts["serving"], counts["maximum"]
                ),
            },
            "Subfleets": self.subfleets(),
        }

    def subfleets(self) -> list[dict[str, Any]]:
        """Each subfleet: name, running (or pending) and stopped instances, size."""
        members: dict[str, list[Instance]] = {}
        for instance in self.instances:
            if instance.subfleet is not None:
                members.setdefault(instance.subfleet, []).append(instance)
        return [
            {
                "Name": name,
                "RunningInstances": [i.instance_id for i in instances if i.active],
                "StoppedInstances": [i.instance_id for i in instances if i.state in STOPPED],
                "SubfleetSize": len(instances),
            }
            for name, instances in sorted(members.items())
        ]


def _percent(part: int, whole: int) -> int:
    return int(100 * part / whole) if whole else 0


# -------------------------------------------------------------------------
# Reading the fleet
# -------------------------------------------------------------------------


def describe_fleet(
    deployment: Deployment, instance_ids: Sequence[str] = (), *, target_groups: bool = False
) -> Fleet:
    """The managed fleet now: EC2 (three calls for up to 100 instances), one
    ``GetItem`` of the configuration and one ``BatchGetItem`` per 100 instances.

    :param instance_ids: only these instances (those of them that the group manages).
    :param target_groups: also read the target groups the group manages (for v0.27.1's
        records): one paginated ``GetResources`` of the tagging API.
    """
    group = deployment.settings.group_name
    ec2 = deployment.aws.client("ec2")
    described = list(_described_instances(ec2, group, instance_ids))
    ids = [d["InstanceId"] for d in described]
    health = _health(ec2, ids)
    spot_ids = [d["InstanceId"] for d in described if d.get("InstanceLifecycle") == "spot"]
    scaling, spot_events = _state_items(deployment, ids, spot_ids)
    azs = _azs_with_issues(ec2, deployment.configuration.get_list(UNAVAILABLE_AZS_KEY))
    instances = tuple(
        sorted(
            (
                Instance(
                    instance_id=d["InstanceId"],
                    availability_zone=d.get("Placement", {}).get("AvailabilityZone", ""),
                    state=d.get("State", {}).get("Name", ""),
                    health=health.get(d["InstanceId"], "not-applicable"),
                    tags=tuple({"Key": t["Key"], "Value": t["Value"]} for t in d.get("Tags", ())),
                    instance_type=d.get("InstanceType", ""),
                    spot=d.get("InstanceLifecycle") == "spot",
                    state_reason=d.get("StateReason", {}).get("Code", ""),
                    scaling_state=scaling.get(d["InstanceId"], ""),
                    spot_events=MappingProxyType(spot_events.get(d["InstanceId"], {})),
                )
                for d in described
            ),
            key=lambda i: i.instance_id,
        )
    )
    groups = _target_groups(deployment, group) if target_groups else ()
    return Fleet(group, instances, azs, groups)


def _target_groups(deployment: Deployment, group: str) -> tuple[str, ...]:
    """The ARNs of the target groups tagged ``clonesquad:group-name`` = ``group``."""
    tagging = deployment.aws.client("resourcegroupstaggingapi")
    pages = tagging.get_paginator("get_resources").paginate(
        TagFilters=[{"Key": GROUP_TAG, "Values": [group]}],
        ResourceTypeFilters=["elasticloadbalancing:targetgroup"],
    )
    arns = {
        mapping["ResourceARN"]
        for page in pages
        for mapping in page.get("ResourceTagMappingList", ())
        if mapping.get("ResourceARN")
    }
    return tuple(sorted(arns))


def _described_instances(
    ec2: Any, group: str, instance_ids: Sequence[str]
) -> Iterator[Mapping[str, Any]]:
    filters = [{"Name": f"tag:{GROUP_TAG}", "Values": [group]}]
    if instance_ids:  # a filter, not InstanceIds: an unknown id is no error
        filters.append({"Name": "instance-id", "Values": list(instance_ids)})
    paginator = ec2.get_paginator("describe_instances")
    pages = paginator.paginate(Filters=filters)
    for page in pages:
        for reservation in page.get("Reservations", ()):
            for instance in reservation.get("Instances", ()):
                if instance.get("State", {}).get("Name") not in GONE:
                    yield instance


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _health(ec2: Any, ids: Sequence[str]) -> dict[str, str]:
    """Each instance's health: the worse of its instance and system status checks."""
    health: dict[str, str] = {}
    for chunk in chunks(ids, IDS_PER_CALL):
        arguments: dict[str, Any] = {"InstanceIds": list(chunk), "IncludeAllInstances": True}
        while True:
            answer = ec2.describe_instance_status(**arguments)
            for status in answer.get("InstanceStatuses", ()):
                checks = [
                    status.get("InstanceStatus", {}).get("Status", "not-applicable"),
                    status.get("SystemStatus", {}).get("Status", "not-applicable"),
                ]
                health[status["InstanceId"]] = max(checks, key=lambda c: _HEALTH_RANK.get(c, 0))
            token = answer.get("NextToken")
            if not token:
                break
            arguments["NextToken"] = token
    return health


def _azs_with_issues(ec2: Any, configured: Iterable[str]) -> frozenset[str]:
    """Names of the AZs EC2 reports with issues or that the configuration lists."""
    zones = ec2.describe_availability_zones().get("AvailabilityZones", ())
    by_id = {zone.get("ZoneId"): zone.get("ZoneName") for zone in zones}
    names = {zone["ZoneName"] for zone in zones if zone.get("State") in AZ_ISSUE_STATES}
    for entry in configured:
        names.add(by_id.get(entry) or entry)
    return frozenset(names)


def scaling_states(deployment: Deployment, ids: Sequence[str]) -> dict[str, str]:
    """The scaling state of each instance that has one (``BatchGetItem``, 100 keys a call)."""
    return _state_items(deployment, ids, ())[0]


def _state_items(
    deployment: Deployment, ids: Sequence[str], spot_ids: Sequence[str]
) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """The scaling state of each instance that has one, and the Spot events of the
    ``spot_ids`` (``SpotDetails`` field -> date) that the State table holds, read
    together (``BatchGetItem``, 100 keys a call)."""
    table = state_table(deployment)
    if table is None or not ids:
        return {}, {}
    spot_keys = {
        SPOT_EVENT_PREFIX + instance_id + suffix: (instance_id, name)
        for instance_id in spot_ids
        for name, suffix in SPOT_EVENTS.items()
    }
    items = table.batch_get([SCALING_STATE_PREFIX + i for i in ids] + list(spot_keys))
    scaling: dict[str, str] = {}
    events: dict[str, dict[str, str]] = {}
    for key, item in items.items():
        if key in spot_keys:
            instance_id, name = spot_keys[key]
            events.setdefault(instance_id, {})[name] = item.value
        else:
            scaling[key.removeprefix(SCALING_STATE_PREFIX)] = item.value.strip().lower()
    return scaling, events


def shared_fleet(production: Production) -> Fleet:
    """The fleet, described once per run of the producers and shared by them."""
    return production.shared(
        "fleet", lambda: describe_fleet(production.deployment, target_groups=True)
    )
