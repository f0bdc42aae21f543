"""The shapes of the fleet data, in both releases of CloneSquad that wrote it.

Not a plugin itself: the ``fleet`` plugin reads the precomputed data with these.

* The specification's shapes (and those a spec-era deployment precomputes):
  ``metadata`` is a mapping of instance id to
  ``{"InstanceId", "LocatedInAZWithIssues", "Instance": {"AvailabilityZone", "State",
  "Status", "Tags"}}`` (the spec-era writer leaves ``InstanceId`` out of the record);
  ``fleet/status`` is ``{"AutoscaledFleet": {..., "FaultyFleetSize"}, "Subfleets": [...]}``.
* The shapes of release v0.27.1: ``metadata`` is a list of flat records
  (``AvailabilityZone``, ``InstanceId``, ``InstanceName``, ``InstanceType``,
  ``LocatedInAZWithIssues``, ``SpotInstance``, ``State``, ``Status``, ``SubfleetName``,
  ``Tags``, ``TargetGroups``, and ``SpotDetails`` for a Spot instance),
  ``fleet/status`` is wrapped in ``{"EC2": ...}``, its autoscaled fleet says
  ``UnhealthyFleetSize`` and its subfleets carry counts.

Every function here takes what a writer of either release wrote and returns one
shape, or ``None`` when the value is in neither (it is then computed live).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "RELEASE_ONLY_FIELDS",
    "SHAPES_KEY",
    "SPECIFICATION",
    "V0_27_1",
    "flat_metadata",
    "flat_record",
    "release_records",
    "release_status",
    "spec_metadata",
    "spec_status",
]

#: The configuration key that selects the shapes of ``metadata`` and ``fleet/status``.
SHAPES_KEY = "interact.answer_shapes"
SPECIFICATION = "specification"
V0_27_1 = "v0.27.1"

NAME_TAG = "Name"
SUBFLEET_TAG = "clonesquad:subfleet-name"


def _tag(tags: Any, name: str) -> str | None:
    if not isinstance(tags, list):
        return None
    for tag in tags:
        if isinstance(tag, Mapping) and tag.get("Key") == name:
            value = tag.get("Value")
            return value if isinstance(value, str) and value else None
    return None


def _instance_id(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# -------------------------------------------------------------------------
# metadata
# -------------------------------------------------------------------------


def spec_record(flat: Mapping[str, Any]) -> dict[str, Any]:
    """The specification's record of one instance from a v0.27.1 flat record."""
    tags = flat.get("Tags")
    return {
        "InstanceId": flat["InstanceId"],
        "LocatedInAZWithIssues": bool(flat.get("LocatedInAZWithIssues", False)),
        "Instance": {
            "AvailabilityZone": flat.get("AvailabilityZone"),
            "State": flat.get("State"),
            "Status": flat.get("Status"),
            "Tags": tags if isinstance(tags, list) else [],
        },
    }


def spec_metadata(value: Any) -> dict[str, dict[str, Any]] | None:
    """The specification's ``metadata`` mapping (by instance id, ``InstanceId`` in each
    record) from a blob of either release."""
    if isinstance(value, list):
        return {
            record["InstanceId"]: spec_record(record)
            for record in value
            if isinstance(record, Mapping) and _instance_id(record.get("InstanceId"))
        }
    if isinstance(value, Mapping):
        return {
            instance_id: {**record, "InstanceId": instance_id}
            for instance_id, record in value.items()
            if _instance_id(instance_id) and isinstance(record, Mapping)
        }
    return None


#: The fields of a v0.27.1 record that the specification's record does not hold: a
#: record converted from the specification's has them ``null`` (unknown), except
#: ``SpotDetails``, which v0.27.1 writes for Spot instances only.
RELEASE_ONLY_FIELDS = ("InstanceType", "SpotInstance", "TargetGroups")


def flat_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """The v0.27.1 flat record of one instance from the specification's record.

    The fields that the specification's record does not hold
    (:data:`RELEASE_ONLY_FIELDS`) are ``None``.
    """
    instance = record.get("Instance")
    details: Mapping[str, Any] = instance if isinstance(instance, Mapping) else {}
    tags = details.get("Tags")
    return {
        "AvailabilityZone": details.get("AvailabilityZone"),
        "InstanceId": record["InstanceId"],
        "InstanceName": _tag(tags, NAME_TAG),
        "LocatedInAZWithIssues": bool(record.get("LocatedInAZWithIssues", False)),
        "State": details.get("State"),
        "Status": details.get("Status"),
        "SubfleetName": _tag(tags, SUBFLEET_TAG),
        "Tags": tags if isinstance(tags, list) else [],
        **dict.fromkeys(RELEASE_ONLY_FIELDS),
    }


def flat_metadata(value: Any) -> list[dict[str, Any]] | None:
    """The v0.27.1 ``fleet/metadata`` list of flat records from a blob of either release
    (a v0.27.1 list as its writer ordered it, a spec-era mapping by instance id)."""
    if isinstance(value, list):
        return [
            dict(record)
            for record in value
            if isinstance(record, Mapping) and _instance_id(record.get("InstanceId"))
        ]
    records = spec_metadata(value)
    if records is None:
        return None
    return [flat_record(records[instance_id]) for instance_id in sorted(records)]


def release_records(value: Any) -> dict[str, dict[str, Any]] | None:
    """The v0.27.1 flat records by instance id, from a blob of either release (every
    field a v0.27.1 record holds is kept)."""
    records = flat_metadata(value)
    if records is None:
        return None
    return {record["InstanceId"]: record for record in records}


# -------------------------------------------------------------------------
# fleet/status
# -------------------------------------------------------------------------


def _spec_subfleet(subfleet: Mapping[str, Any]) -> dict[str, Any]:
    running = subfleet.get("RunningInstances")
    stopped = subfleet.get("StoppedInstances")
    return {
        "Name": subfleet.get("Name"),
        "RunningInstances": running if isinstance(running, list) else [],
        "StoppedInstances": stopped if isinstance(stopped, list) else [],
        "SubfleetSize": subfleet.get("SubfleetSize", 0),
    }


def spec_status(value: Any) -> dict[str, Any] | None:
    """The specification's ``fleet/status`` from a blob of either release
    (v0.27.1's ``UnhealthyFleetSize`` is read as ``FaultyFleetSize``)."""
    if not isinstance(value, Mapping):
        return None
    wrapped = value.get("EC2")
    if isinstance(wrapped, Mapping):
        fleet = wrapped.get("AutoscaledFleet")
        if not isinstance(fleet, Mapping):
            return None
        autoscaled = {k: v for k, v in fleet.items() if k != "UnhealthyFleetSize"}
        if "UnhealthyFleetSize" in fleet:
            autoscaled["FaultyFleetSize"] = fleet["UnhealthyFleetSize"]
        subfleets = wrapped.get("Subfleets")
        return {
            "AutoscaledFleet": dict(sorted(autoscaled.items())),
            "Subfleets": [
                _spec_subfleet(s)
                for s in (subfleets if isinstance(subfleets, list) else [])
                if isinstance(s, Mapping)
            ],
        }
    if isinstance(value.get("AutoscaledFleet"), Mapping):
        return dict(value)
    return None


def release_status(status: Mapping[str, Any]) -> dict[str, Any]:
    """The v0.27.1 ``fleet/status`` (``{"EC2": ...}``) from the specification's."""
    fleet = status.get("AutoscaledFleet")
    autoscaled = {k: v for k, v in (fleet or {}).items() if k != "FaultyFleetSize"}
    if isinstance(fleet, Mapping) and "FaultyFleetSize" in fleet:
        autoscaled["UnhealthyFleetSize"] = fleet["FaultyFleetSize"]
    subfleets = status.get("Subfleets")
    return {
        "EC2": {
            "AutoscaledFleet": dict(sorted(autoscaled.items())),
            "Subfleets": [
                {
                    **subfleet,
                    "RunningInstanceCount": len(subfleet.get("RunningInstances", [])),
                    "StoppedInstanceCount": len(subfleet.get("StoppedInstances", [])),
                }
                for subfleet in (subfleets if isinstance(subfleets, list) else [])
                if isinstance(subfleet, Mapping)
            ],
        }
    }
