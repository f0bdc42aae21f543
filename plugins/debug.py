"""``debug/publishreportnow`` (SQS): write a debug report to ``LoggingS3Path``.

The report is one gzip-compressed JSON document: versions, plugins, operations,
the configuration dump, the Scheduler table, the State table, the managed
instances and the recent events. Each section is gathered on its own: one that
fails is named under ``errors`` and the others are still written.

A section that cannot be gathered is named under ``errors`` with why, in words the
answer may carry (AWS's classification: throttled, unavailable, refused); the
exception itself is under ``error_details``, in the report only, and in the log.

The object is ``<LoggingS3Path><GroupName>/debug-report-<request id>.json.gz``; an
SQS message delivered twice writes the same object twice (the operation is
idempotent).

How a failure is reported:

S3's errors are classified by :func:`clonesquad_interact.errors.from_aws`:

* no ``LoggingS3Path`` (or not an ``s3://`` URL) or no ``GroupName`` (both checked
  before anything is gathered), or S3 refusing the write for good
  (``AccessDenied``, ``NoSuchBucket``, a request it finds invalid...): the message
  failed permanently (a 424). It is logged whole, with the reason, and not sent back
  to the queue: retrying cannot succeed until an operator fixes the deployment (the
  bucket policy, the function's role, the setting), who then sends the message again;
* S3 throttling, its own 5xx, a timeout or an unreachable endpoint: a 503 with
  ``Retry-After``; the message goes back to the queue and is retried (then, after the
  queue's ``maxReceiveCount``, moved to its dead-letter queue).
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import time
from collections.abc import Callable
from importlib.resources import files
from typing import Any

import structlog

from clonesquad_interact import (
    Deployment,
    InteractError,
    Interface,
    Operation,
    Request,
    ServiceUnavailable,
    __version__,
    hookimpl,
)
from clonesquad_interact.errors import aws_error_name, from_aws
from clonesquad_interact.precomputed import state_table

logger = structlog.get_logger(__name__)

#: State values longer than this are summarized in the report.
LONGEST_VALUE = 4096
#: Events in the report (the most recent).
RECENT_EVENTS = 200


class ReportNotWritten(InteractError):
    """The report cannot be written until the deployment is fixed (the message fails for good)."""

    status = 424
    kind = "ReportNotWritten"


@hookimpl
def register_operations() -> list[Operation]:
    return [
        Operation(
            route="debug/publishreportnow",
            handler=publish_report,
            summary="Write a debug report (compressed JSON) to LoggingS3Path.",
            schema=files("clonesquad_interact.schemas") / "debug-publishreportnow.json",
            interfaces={Interface.SQS, Interface.DIRECT},
            methods={"POST"},
        )
    ]


def publish_report(request: Request) -> dict[str, Any]:
    """Gather the report and put it to S3; answers where it was written."""
    deployment: Deployment = request.deployment
    bucket, prefix = _logging_location(deployment)
    group = deployment.settings.get("GroupName")
    if group is None:
        raise ReportNotWritten(
            "debug reports are written under the GroupName, which is not set: set the "
            "Interact function's GroupName, then send the message again"
        )
    key = f"{prefix}{group}/debug-report-{request.request_id}.json.gz"
    report = gather(deployment, request.request_id)
    import gzip  # imported by the request that writes a report

    body = gzip.compress(json.dumps(report, default=str, sort_keys=True).encode(), compresslevel=9)
    s3 = deployment.aws.client("s3")
    try:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType="application/json",
            ContentEncoding="gzip",
        )
    except Exception as exc:
        mapped = from_aws(exc)
        if mapped is None:
            raise
        code = aws_error_name(exc)
        where = f"s3://{bucket}/{key}"
        if not mapped.retryable:
            fix = (
                f"the bucket {bucket!r} does not exist: set LoggingS3Path to a bucket that does"
                if code == "NoSuchBucket"
                else "allow the Interact function's role s3:PutObject on LoggingS3Path"
            )
            raise ReportNotWritten(
                f"S3 refused the debug report at {where} ({code}): {fix}, then send the "
                "message again",
                details=[{"s3_error": code}],
            ) from exc
        raise ServiceUnavailable(
            f"S3 did not take the debug report at {where} ({code}); it will be retried",
            details=[{"s3_error": code}],
        ) from exc
    return {"report": f"s3://{bucket}/{key}", "errors": report["errors"]}


def _problem(exc: Exception) -> str:
    """Why a section could not be gathered, in words an answer may hold (never AWS's
    message text: the report's ``error_details`` and the log have it)."""
    if isinstance(exc, InteractError):
        return exc.message
    mapped = from_aws(exc)
    if mapped is not None:
        return mapped.message
    return f"it could not be gathered ({type(exc).__name__}); the log has the details"


def _logging_location(deployment: Deployment) -> tuple[str, str]:
    """The bucket and key prefix of ``LoggingS3Path``."""
    path = deployment.settings.get("LoggingS3Path")
    if path is None or not path.startswith("s3://") or len(path) <= len("s3://"):
        raise ReportNotWritten(
            "debug reports go to LoggingS3Path, which is not set to an s3:// URL: set the "
            "Interact function's LoggingS3Path (s3://bucket/prefix/), then send the message again"
        )
    bucket, _, prefix = path.removeprefix("s3://").partition("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return bucket, prefix


# -------------------------------------------------------------------------
# The report
# -------------------------------------------------------------------------


def gather(deployment: Deployment, request_id: str) -> dict[str, Any]:
    """The report: every section that could be gathered, and why the others could not."""
    sections: dict[str, Callable[[Deployment], Any]] = {
        "versions": _versions,
        "plugins": _plugins,
        "operations": _operations,
        "configuration": _configuration,
        "scheduler": _scheduler,
        "state": _state,
        "instances": _instances,
        "events": _events,
    }
    report: dict[str, Any] = {
        "generated_at": time.time(),
        "request_id": request_id,
        "group_name": deployment.settings.get("GroupName"),
        "discovery": deployment.settings.discovery(),
    }
    errors: dict[str, str] = {}
    details: dict[str, str] = {}
    for name, section in sections.items():
        try:
            report[name] = section(deployment)
        except Exception as exc:
            logger.warning("debug report section not gathered", section=name, exc_info=exc)
            errors[name] = _problem(exc)
            details[name] = repr(exc)
    report["errors"] = errors
    report["error_details"] = details
    return report


def _instances(deployment: Deployment) -> dict[str, Any]:
    from .instances import describe_fleet

    return describe_fleet(deployment).all_metadata()


def _versions(deployment: Deployment) -> dict[str, str]:
    versions = {"clonesquad-interact": __version__, "python": platform.python_version()}
    for distribution in ("boto3", "botocore", "pluggy", "jsonschema", "structlog"):
        try:
            versions[distribution] = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            versions[distribution] = "not installed"
    return versions


def _plugins(deployment: Deployment) -> list[dict[str, Any]]:
    return [
        {
            "name": info.name,
            "hooks": list(info.hooks),
            "distribution": info.distribution,
            "version": info.version,
        }
        for info in deployment.plugins()
    ]


def _operations(deployment: Deployment) -> list[dict[str, Any]]:
    return [
        {
            "name": op.title,
            **({"regex": op.name} if op.is_regex else {}),
            "methods": sorted(op.methods),
            "interfaces": sorted(op.interfaces),
            "plugin": op.plugin,
            "cache": str(op.cache),
        }
        for op in sorted(deployment.operations, key=lambda op: op.title)
    ]


def _configuration(deployment: Deployment) -> dict[str, Any]:
    entries = deployment.configuration.entries(unstable=True)
    return {key: entry.dump() for key, entry in entries.items()}


def _scheduler(deployment: Deployment) -> dict[str, str]:
    items = deployment.table("SchedulerTable").scan()
    return {key: item.value for key, item in sorted(items.items())}


def _state(deployment: Deployment) -> dict[str, str]:
    table = state_table(deployment)
    if table is None:
        raise ValueError("the deployment names no StateTable")
    return {
        key: item.value if len(item.value) <= LONGEST_VALUE else f"<{len(item.value)} characters>"
        for key, item in sorted(table.scan().items())
    }


def _events(deployment: Deployment) -> list[dict[str, Any]]:
    from boto3.dynamodb.types import TypeDeserializer

    table = deployment.table("EventTable", hash_key="EventDate")
    deserialize = TypeDeserializer().deserialize
    items = sorted(table.scan().items(), reverse=True)[:RECENT_EVENTS]
    return [
        {attribute: deserialize(value) for attribute, value in item.attributes.items()}
        for _, item in items
    ]
