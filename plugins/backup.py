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
  "MetadataRecordLastUpdatedAt"}`` (see :mod:`.maintenance`).

A missing ``MetadataAndBackupS3Path`` is an error before anything is read. An S3 error
is classified by :func:`clonesquad_interact.errors.from_aws`: S3 refusing a write for
good (access denied, no such bucket, a request it finds invalid) fails the request
permanently (a 424; an SQS message is logged whole and not retried); throttling, S3's
own 5xx, a timeout or an unreachable endpoint is a 503 with ``Retry-After`` (an SQS
message goes back to the queue). Every object is written again on a retry.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

from clonesquad_interact import (
    Deployment,
    InteractError,
    Interface,
    Operation,
    Request,
    ServiceUnavailable,
    hookimpl,
)
from clonesquad_interact.configuration import nest_parameter_sets
from clonesquad_interact.errors import aws_error_name, from_aws

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


def _instances(deployment: Deployment) -> list[dict[str, Any]]:
    from .instances import GONE, GROUP_TAG, SUBFLEET_TAG
    from .maintenance import naive

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
                record = {**naive(instance), "_Hostname": tags.get("Name")}
                if tags.get(SUBFLEET_TAG):
                    record["_SubfleetName"] = tags[SUBFLEET_TAG]
                found.append(record)
    return found


def _volumes(deployment: Deployment, instances: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from .maintenance import naive

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
        volumes += [naive(volume) for volume in page.get("Volumes", ())]
    return volumes


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
    from .maintenance import SSM_ENABLE_KEY, maintenance_windows  # for a backup only

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
        mapped = from_aws(exc)
        if mapped is None:
            raise
        code = aws_error_name(exc)
        where = f"s3://{bucket}/{key}"
        if not mapped.retryable:
            fix = (
                f"the bucket {bucket!r} does not exist: set {SETTING} to a bucket that does"
                if code == "NoSuchBucket"
                else f"allow the Interact function's role s3:PutObject on {SETTING}"
            )
            raise BackupNotWritten(
                f"S3 refused the backup at {where} ({code}): {fix}, then call backup again",
                details=[{"s3_error": code}],
            ) from exc
        raise ServiceUnavailable(
            f"S3 did not take the backup at {where} ({code}); try again (it is idempotent)",
            details=[{"s3_error": code}],
        ) from exc
