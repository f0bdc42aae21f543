"""A copy of a deployment's data, for an embedded AWS to serve (``replay --embedded``).

:func:`read_deployment` reads, from the AWS a session designates (the real one,
a profile, or an endpoint), what a deployment's Interact function reads: every
item of the five tables its settings name, and the ``s3://`` documents of its
``ConfigurationURLs``. The source is only read: its clients refuse any call
but the few reads the copy makes, before it leaves. :func:`write_copy` writes the
copy into the embedded AWS under the same names, so the settings stay the same.

The EC2 instances are not copied (their ids would change): answers computed live
from EC2 see no instances, while those served from the State table's precomputed
data are the deployment's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..testing.deployment import TABLE_HASH_KEYS

__all__ = ["CopyError", "DeploymentCopy", "read_deployment", "read_only", "write_copy"]

#: The only calls made to the source.
SOURCE_CALLS = frozenset({"Scan", "DescribeTable", "GetObject"})
#: BatchWriteItem's limit.
_BATCH = 25


class CopyError(Exception):
    """The deployment cannot be copied; the message says why and what to do."""


@dataclass(frozen=True)
class DeploymentCopy:
    """What was read from a deployment."""

    group_name: str
    #: The source's region (the embedded AWS takes it, so ARNs and URLs look alike).
    region: str
    #: By setting (``ConfigurationTable``...): the table's name and its items.
    tables: Mapping[str, tuple[str, list[dict[str, Any]]]]
    #: ``ConfigurationURLs`` as the deployment has it.
    configuration_urls: str = ""
    #: The ``s3://`` documents of ``ConfigurationURLs``, by URL.
    documents: Mapping[str, bytes] = field(default_factory=dict)

    @property
    def settings(self) -> dict[str, str]:
        """The settings that name what was copied."""
        names = {setting: name for setting, (name, _) in self.tables.items()}
        return {"GroupName": self.group_name, **names}

    def describe(self) -> str:
        """One line for an operator: what was copied."""
        tables = ", ".join(f"{name} ({len(items)})" for name, items in self.tables.values())
        documents = f"; {len(self.documents)} configuration document(s)" * bool(self.documents)
        return f"copied the items of {tables}{documents}"


def read_deployment(
    session: Any, environ: Mapping[str, str], *, endpoint_url: str | None = None
) -> DeploymentCopy:
    """Read the deployment that ``environ``'s settings name, with ``session``.

    :raises CopyError: a setting is missing, or the source cannot be read.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    group = environ.get("GroupName")
    names = {setting: environ.get(setting) for setting in TABLE_HASH_KEYS}
    missing = [s for s in ("GroupName", "ConfigurationTable") if not environ.get(s)]
    if missing:
        raise CopyError(
            f"the deployment to copy is named by its settings: set {', '.join(missing)} (and "
            "SchedulerTable, StateTable, EventTable, LongTermEventTable, ConfigurationURLs as "
            "the deployment's Interact function has them), or give --no-copy to replay "
            "against the demo deployment"
        )
    assert group is not None
    region = session.region_name
    if not region:
        raise CopyError("the deployment to copy needs a region: set AWS_REGION or give --region")
    dynamodb = read_only(session.client("dynamodb", endpoint_url=endpoint_url))
    tables: dict[str, tuple[str, list[dict[str, Any]]]] = {}
    documents: dict[str, bytes] = {}
    urls = environ.get("ConfigurationURLs") or environ.get("ConfigurationURL") or ""
    try:
        for setting, name in names.items():
            if not name:
                continue
            items: list[dict[str, Any]] = []
            for page in dynamodb.get_paginator("scan").paginate(TableName=name):
                items.extend(page.get("Items", []))
            tables[setting] = (name, items)
        s3 = None
        for url in urls.replace(";", " ").split():
            if not url.startswith("s3://"):
                continue
            s3 = s3 or read_only(session.client("s3", endpoint_url=endpoint_url))
            bucket, _, key = url.removeprefix("s3://").partition("/")
            documents[url] = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except (BotoCoreError, ClientError) as exc:
        where = endpoint_url or "AWS"
        raise CopyError(f"cannot read the deployment to copy at {where}: {exc}") from None
    return DeploymentCopy(group, str(region), tables, urls, documents)


def read_only(client: Any) -> Any:
    """``client``, refusing any call but the copy's reads before it leaves."""

    def before_call(model: Any, **_: Any) -> None:
        if model.name not in SOURCE_CALLS:
            raise CopyError(f"the copy only reads its source; {model.name} was refused")

    client.meta.events.register("before-call.*.*", before_call)
    return client


def write_copy(copy: DeploymentCopy, client: Any, region: str) -> None:
    """Write ``copy`` into the (provisioned) embedded AWS; ``client(service)`` makes its
    clients. The tables exist already, under the copy's names."""
    dynamodb = client("dynamodb")
    for name, items in copy.tables.values():
        for start in range(0, len(items), _BATCH):
            requests = [{"PutRequest": {"Item": item}} for item in items[start : start + _BATCH]]
            pending: dict[str, Any] = {name: requests}
            while pending:  # moto writes every item; a real endpoint may leave some
                pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems")
    if copy.documents:
        s3 = client("s3")
        buckets = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        for url, body in copy.documents.items():
            bucket, _, key = url.removeprefix("s3://").partition("/")
            if bucket not in buckets:
                location = {} if region == "us-east-1" else {"LocationConstraint": region}
                s3.create_bucket(Bucket=bucket, CreateBucketConfiguration=location)
                buckets.add(bucket)
            s3.put_object(Bucket=bucket, Key=key, Body=body)
