"""``backup`` (API Gateway ``GET``, and SQS): the Configuration and Scheduler tables and
the fleet's metadata, written to S3 under ``MetadataAndBackupS3Path`` as CloneSquad
writes them.

With ``P`` = ``accountid=<account>/region=<region>/groupname=<group>`` and ``<now>`` the
time of the backup (``str()`` of a UTC datetime), the objects are:

* ``backups/P/archive/<now>-<account>-<region>-configuration-cs-<group>.yaml`` and
  ``backups/P/latest-<account>-<region>-configuration-cs-<group>.yaml``: the
  Configuration table as YAML (parameter sets nested), which ``POST configuration``
  reads back; the same for the Scheduler table (``-scheduler-``);
* ``metadata/configuration/P/configuration<account>-<region>-<group>-cs-<group>.json``
  and ``metadata/scheduler/P/scheduler...``: JSON Lines of
  ``{"Key", "Value", "MetadataRecordLastUpdatedAt"}`` (top-level keys only);
* ``metadata/instances/P/<account>-<region>-managed-instances-cs-<group>.json``: JSON
  Lines of the managed instances as EC2 describes them, with ``_Hostname`` (the ``Name``
  tag, or null) and ``_SubfleetName`` (for subfleet members);
* ``metadata/volumes/P/<account>-<region>-managed-volumes-cs-<group>.json``: JSON Lines
  of the EBS volumes attached to them;
* ``metadata/discovery/P/<account>-<region>-discovery-cs-<group>.json``: the deployment
  settings, ``MetadataRecordLastUpdatedAt`` and ``Subfleets``;
* with ``ssm.enable`` on,
  ``metadata/maintenance-windows/P/<account>-<region>-maintenance-windows-cs-<group>.json``:
  JSON Lines, one record per fleet (``__main__``, then each subfleet) of
  ``{"Fleet", "MaintenanceWindows", "IsMaintenanceTime", "NextMaintenanceWindowDetails",
  "MetadataRecordLastUpdatedAt"}`` (see :func:`maintenance_windows`).

A missing ``MetadataAndBackupS3Path`` is an error before anything is read. S3 refusing
a write for good (access denied, no such bucket) fails the request permanently (an
SQS message is logged whole and not retried); throttling or another S3 error is a 503
(an SQS message goes back to the queue). Every object is written again on a retry.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from typing import Any

from clonesquad_interact import (
    Deployment,
    InteractError,
    Interface,
    NotFound,
    Operation,
    Request,
    ServiceUnavailable,
    hookimpl,
)
from clonesquad_interact.configuration import nest_parameter_sets

from .debug import PERMANENT_S3_ERRORS, PERMANENT_S3_STATUSES
from .instances import GONE, GROUP_TAG, SUBFLEET_TAG

SETTING = "MetadataAndBackupS3Path"


class BackupNotWritten(InteractError):
    """The backup cannot be written until the deployment is fixed (fails for good)."""

    status = 424
    kind = "BackupNotWritten"


@hookimpl
def register_operations() -> list[Operation]:
    return [
        Operation(
            route="backup",
            handler=backup,
            summary="Write the configuration, the scheduler and the fleet's metadata to S3.",
            schema=files("clonesquad_interact.schemas") / "backup.json",
            interfaces={Interface.APIGW, Interface.SQS, Interface.DIRECT},
            methods={"GET", "POST"},
        )
    ]


def _location(deployment: Deployment) -> tuple[str, str]:
    path = deployment.settings.get(SETTING)
    if path is None or path == "None" or not path.startswith("s3://") or path == "s3://":
        raise BackupNotWritten(
            f"backups go to {SETTING}, which is not set to an s3:// URL: set the Interact "
            f"function's {SETTING} (s3://bucket/prefix), then call backup again",
            details=[{"setting": SETTING}],
        )
    bucket, _, prefix = path.removeprefix("s3://").partition("/")
    return bucket, "/".join(part for part in prefix.split("/") if part)


def _table_dict(deployment: Deployment, setting: str) -> dict[str, Any]:
    """A KV table as ``{key: value}``, parameter-set items ``[set]key`` nested."""
    items = deployment.table(setting).scan()
    return nest_parameter_sets({key: item.value for key, item in items.items()})


def _lines(records: list[Any]) -> str:
    return "".join(json.dumps(record, default=str, sort_keys=True) + "\n" for record in records)


def _naive(value: Any) -> Any:
    """Datetimes as UTC-naive strings, recursively."""
    if isinstance(value, datetime):
        return str(value.astimezone(UTC).replace(tzinfo=None))
    if isinstance(value, dict):
        return {k: _naive(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_naive(v) for v in value]
    return value


def _instances(deployment: Deployment) -> list[dict[str, Any]]:
    ec2 = deployment.client("ec2")
    group = deployment.settings.group_name
    found = []
    filters = [{"Name": f"tag:{GROUP_TAG}", "Values": [group]}]
    for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
        for reservation in page.get("Reservations", ()):
            for instance in reservation.get("Instances", ()):
                if instance.get("State", {}).get("Name") in GONE:
                    continue
                tags = {t["Key"]: t["Value"] for t in instance.get("Tags", ())}
                record = {**_naive(instance), "_Hostname": tags.get("Name")}
                if tags.get(SUBFLEET_TAG):
                    record["_SubfleetName"] = tags[SUBFLEET_TAG]
                found.append(record)
    return found


def _volumes(deployment: Deployment, instances: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = [
        mapping["Ebs"]["VolumeId"]
        for instance in instances
        for mapping in instance.get("BlockDeviceMappings", ())
        if "Ebs" in mapping
    ]
    if not ids:
        return []
    ec2 = deployment.client("ec2")
    volumes = []
    for page in ec2.get_paginator("describe_volumes").paginate(VolumeIds=ids):
        volumes += [_naive(volume) for volume in page.get("Volumes", ())]
    return volumes


# -------------------------------------------------------------------------
# Maintenance windows
# -------------------------------------------------------------------------

SSM_ENABLE_KEY = "ssm.enable"
START_AHEAD_KEY = "ssm.feature.maintenance_window.start_ahead"
#: The configuration keys that name a fleet's SSM maintenance windows, least specific
#: first: the global default, the group's, then the main fleet's or a subfleet's.
GLOBAL_WINDOWS_KEY = "ssm.feature.maintenance_window.global_defaults"
GROUP_WINDOWS_KEY = "ssm.feature.maintenance_window.defaults"
MAIN_FLEET_WINDOWS_KEY = "ssm.feature.maintenance_window.mainfleet.defaults"
ALL_SUBFLEETS_WINDOWS_KEY = "ssm.feature.maintenance_window.subfleet.__all__.defaults"
SUBFLEET_WINDOWS_KEY = "ssm.feature.maintenance_window.subfleet.{SubfleetName}.defaults"
MAIN_FLEET = "__main__"


def _window_names(deployment: Deployment, key: str, subfleet: str | None) -> list[str]:
    """The window names a key gives, ``{GroupName}`` and ``{SubfleetName}`` filled in."""
    configuration = deployment.configuration
    if "{SubfleetName}" in key and subfleet is not None:
        try:
            names = configuration.get_list(key.replace("{SubfleetName}", subfleet))
        except NotFound:  # the concrete key is set nowhere: the template's value
            names = configuration.get_list(key)
    else:
        names = configuration.get_list(key)
    group = deployment.settings.group_name
    return [
        name.replace("{GroupName}", group).replace("{SubfleetName}", subfleet or "")
        for name in names
    ]


def _execution_time(window: dict[str, Any]) -> datetime | None:
    """A window's ``NextExecutionTime`` (ISO 8601, as SSM writes it), when it has one."""
    text = window.get("NextExecutionTime")
    if not isinstance(text, str) or not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def maintenance_windows(
    deployment: Deployment, subfleets: list[str], now: datetime
) -> list[dict[str, Any]]:
    """One record per fleet: the enabled SSM maintenance windows that apply to it, whether
    it is in maintenance now, and its next window.

    A fleet's windows are those named by its most specific configuration key that names
    an existing enabled window: the subfleet's (or ``mainfleet``'s), then (subfleets)
    ``subfleet.__all__``'s, the group's, the global default's. It is in maintenance from
    ``ssm.feature.maintenance_window.start_ahead`` before a window's
    ``NextExecutionTime`` to the end of its ``Duration`` (hours); its next window is the
    one with the soonest ``NextExecutionTime``. One paginated ``DescribeMaintenanceWindows``.
    """
    levels: dict[str, list[list[str]]] = {
        MAIN_FLEET: [
            _window_names(deployment, key, None)
            for key in (MAIN_FLEET_WINDOWS_KEY, GROUP_WINDOWS_KEY, GLOBAL_WINDOWS_KEY)
        ]
    }
    for subfleet in subfleets:
        levels[subfleet] = [
            _window_names(deployment, key, subfleet)
            for key in (
                SUBFLEET_WINDOWS_KEY,
                ALL_SUBFLEETS_WINDOWS_KEY,
                GROUP_WINDOWS_KEY,
                GLOBAL_WINDOWS_KEY,
            )
        ]
    wanted = sorted({name for names in levels.values() for level in names for name in level})
    windows: dict[str, list[dict[str, Any]]] = {}
    if wanted:
        ssm = deployment.client("ssm")
        pages = ssm.get_paginator("describe_maintenance_windows").paginate(
            Filters=[{"Key": "Name", "Values": wanted}, {"Key": "Enabled", "Values": ["true"]}]
        )
        for page in pages:
            for window in page.get("WindowIdentities", ()):
                windows.setdefault(window.get("Name", ""), []).append(_naive(window))
    ahead = deployment.configuration.get_duration(START_AHEAD_KEY)
    stamp = str(now)
    records = []
    for fleet, names in levels.items():
        found: list[dict[str, Any]] = []
        for level in names:
            found = [w for name in level for w in windows.get(name, ())]
            if found:
                break
        timed = sorted(
            ((when, w) for w in found if (when := _execution_time(w)) is not None),
            key=lambda pair: pair[0],
        )
        in_maintenance = any(
            when - timedelta(seconds=ahead)
            <= now
            < when + timedelta(hours=float(w.get("Duration") or 0))
            for when, w in timed
        )
        records.append(
            {
                "Fleet": fleet,
                "MaintenanceWindows": found,
                "IsMaintenanceTime": in_maintenance,
                "NextMaintenanceWindowDetails": timed[0][1] if timed else None,
                "MetadataRecordLastUpdatedAt": stamp,
            }
        )
    return records


# -------------------------------------------------------------------------
# The operation
# -------------------------------------------------------------------------


def backup(request: Request) -> dict[str, Any]:
    """Write every object; answers where, and which keys."""
    deployment: Deployment = request.deployment
    bucket, prefix = _location(deployment)
    group = deployment.settings.group_name
    account = deployment.client("sts").get_caller_identity()["Account"]
    region = deployment.aws.region or ""
    moment = datetime.fromtimestamp(deployment.clock(), UTC)
    now = str(moment)
    part = f"accountid={account}/region={region}/groupname={group}"
    objects: dict[str, str] = {}
    import yaml  # here: a cold start that serves another operation does not import it

    for name, setting in (("configuration", "ConfigurationTable"), ("scheduler", "SchedulerTable")):
        document = _table_dict(deployment, setting)
        text = yaml.safe_dump(document, default_flow_style=False)
        stem = f"{account}-{region}-{name}-cs-{group}.yaml"
        objects[f"backups/{part}/archive/{now}-{stem}"] = text
        objects[f"backups/{part}/latest-{stem}"] = text
        records = [
            {"Key": key, "Value": value, "MetadataRecordLastUpdatedAt": now}
            for key, value in document.items()
            if not isinstance(value, dict)
        ]
        metadata = f"metadata/{name}/{part}/{name}{account}-{region}-{group}-cs-{group}.json"
        objects[metadata] = _lines(records)
    instances = _instances(deployment)
    volumes = _volumes(deployment, instances)
    stem = f"{account}-{region}"
    objects[f"metadata/instances/{part}/{stem}-managed-instances-cs-{group}.json"] = _lines(
        instances
    )
    objects[f"metadata/volumes/{part}/{stem}-managed-volumes-cs-{group}.json"] = _lines(volumes)
    subfleets = sorted({i["_SubfleetName"] for i in instances if "_SubfleetName" in i})
    discovery = {**deployment.settings.discovery(), "MetadataRecordLastUpdatedAt": now,
                 "Subfleets": subfleets}  # fmt: skip
    objects[f"metadata/discovery/{part}/{stem}-discovery-cs-{group}.json"] = json.dumps(
        discovery, sort_keys=True
    )
    if deployment.configuration.get_bool(SSM_ENABLE_KEY):
        windows = maintenance_windows(deployment, subfleets, moment)
        key = f"metadata/maintenance-windows/{part}/{stem}-maintenance-windows-cs-{group}.json"
        objects[key] = _lines(windows)
    s3 = deployment.client("s3")
    written = []
    for key, body in objects.items():
        full = f"{prefix}/{key}" if prefix else key
        _put(s3, bucket, full, body)
        written.append(f"s3://{bucket}/{full}")
    return {"written": written}


def _put(s3: Any, bucket: str, key: str, body: str) -> None:
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body.encode(), ACL="bucket-owner-full-control")
    except Exception as exc:
        error = getattr(exc, "response", None)
        if not isinstance(error, dict):
            raise
        status = error.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = str(error.get("Error", {}).get("Code") or "")
        if not code or code.isdigit():
            code = {403: "AccessDenied", 404: "NoSuchBucket"}.get(status, f"HTTP {status}")
        where = f"s3://{bucket}/{key}"
        if code in PERMANENT_S3_ERRORS or status in PERMANENT_S3_STATUSES:
            raise BackupNotWritten(
                f"S3 refused the backup at {where} ({code}): allow the Interact function's "
                f"role s3:PutObject on {SETTING}, then call backup again",
                details=[{"s3_error": code}],
            ) from exc
        raise ServiceUnavailable(
            f"S3 did not take the backup at {where} ({code}); try again (it is idempotent)",
            details=[{"s3_error": code}],
        ) from exc
