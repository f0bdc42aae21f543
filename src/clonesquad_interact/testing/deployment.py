"""The AWS resources of a CloneSquad deployment, created for tests and local runs.

:func:`provision` creates, with the boto3 clients of the current environment (moto
in tests, moto's server for ``clonesquad-interact serve``), what a deployment has:
the DynamoDB tables with their key schemas and TTL attribute, the Interact queue
with its dead-letter queue, and the logging bucket. :data:`DEPLOYMENT_ENVIRONMENT`
holds the settings that name them, as a deployment gives them to its function.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ..aws import AWS

__all__ = ["DEPLOYMENT_ENVIRONMENT", "TABLE_HASH_KEYS", "provision"]

GROUP_NAME = "test"

#: The settings of a deployment of group ``test`` (queue URL and region filled by
#: :func:`provision`).
DEPLOYMENT_ENVIRONMENT: Mapping[str, str] = MappingProxyType(
    {
        "GroupName": GROUP_NAME,
        "ApplicationName": "CloneSquad",
        "ConfigurationTable": f"CloneSquad-{GROUP_NAME}-Configuration",
        "SchedulerTable": f"CloneSquad-{GROUP_NAME}-Scheduler",
        "StateTable": f"CloneSquad-{GROUP_NAME}-State",
        "EventTable": f"CloneSquad-{GROUP_NAME}-EventLog",
        "LongTermEventTable": f"CloneSquad-{GROUP_NAME}-EventLog-LongTerm",
        "LoggingS3Path": f"s3://clonesquad-{GROUP_NAME}-logging/reports/",
    }
)

#: The setting naming each table, and the table's hash key.
TABLE_HASH_KEYS: Mapping[str, str] = MappingProxyType(
    {
        "ConfigurationTable": "Key",
        "SchedulerTable": "Key",
        "StateTable": "Key",
        "EventTable": "EventDate",
        "LongTermEventTable": "EventDate",
    }
)

QUEUE_NAME = f"CloneSquad-Interact-{GROUP_NAME}"


def provision(
    environ: Mapping[str, str] = DEPLOYMENT_ENVIRONMENT,
    *,
    session: Any = None,
    endpoint_url: str | None = None,
    aws: AWS | None = None,
    max_receive_count: int = 3,
) -> dict[str, str]:
    """Create the tables, the queues and the bucket that ``environ`` names.

    :param environ: the deployment settings (table names, ``LoggingS3Path``, ``GroupName``).
    :param session: the boto3 session to use (default: a new one).
    :param endpoint_url: the AWS endpoint (moto's server), if not the default.
    :param aws: clients to use instead of ``session`` and ``endpoint_url``.
    :param max_receive_count: receives before a message moves to the dead-letter queue.
    :returns: ``environ`` with ``InteractQueue`` (the queue URL),
        ``InteractDeadLetterQueue`` and ``MainSQSQueue`` added.
    """
    import boto3

    session = session or boto3.session.Session()

    def client(service: str) -> Any:
        if aws is not None:
            return aws.client(service)
        return session.client(service, endpoint_url=endpoint_url)

    dynamodb = client("dynamodb")
    for setting, hash_key in TABLE_HASH_KEYS.items():
        name = environ.get(setting)
        if not name:
            continue
        dynamodb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": hash_key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": hash_key, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "ExpirationTime"},
        )
    result = dict(environ)
    group = environ.get("GroupName", GROUP_NAME)
    sqs = client("sqs")
    dead_letters = sqs.create_queue(QueueName=f"CloneSquad-Interact-{group}-DLQ")["QueueUrl"]
    dead_letters_arn = sqs.get_queue_attributes(QueueUrl=dead_letters, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    queue = sqs.create_queue(
        QueueName=f"CloneSquad-Interact-{group}",
        Attributes={
            "VisibilityTimeout": "30",
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dead_letters_arn, "maxReceiveCount": max_receive_count}
            ),
        },
    )["QueueUrl"]
    result["InteractQueue"] = queue
    result["InteractDeadLetterQueue"] = dead_letters
    # The queue of CloneSquad's main function, which control/reschedulenow wakes up.
    result["MainSQSQueue"] = sqs.create_queue(QueueName=f"CloneSquad-Main-{group}")["QueueUrl"]
    logging_path = environ.get("LoggingS3Path", "")
    if logging_path.startswith("s3://"):
        bucket = logging_path.removeprefix("s3://").split("/", 1)[0]
        s3 = client("s3")
        region = (aws.region if aws is not None else session.region_name) or "us-east-1"
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region}
            )
    return result
