"""``notify/ackevent``: acknowledge CloneSquad events so that they stop repeating.

SQS delivers at least once, so acknowledging is idempotent: an event acknowledged
twice, or one the EventLog table does not hold, is counted, not an error.
"""

from __future__ import annotations

import datetime
from importlib.resources import files
from typing import Any

from clonesquad_interact import (
    Deployment,
    Interface,
    Operation,
    Request,
    hookimpl,
)
from clonesquad_interact.errors import ValidationFailed
from clonesquad_interact.tables import KeyValueTable, check_key, expired

SCHEMAS = files("clonesquad_interact.schemas")

KEEP_ACKED_RECORDS = "notify.event.keep_acked_records"  # declared by the catalogue plugin


@hookimpl
def register_operations() -> list[Operation]:
    return [
        Operation(
            route="notify/ackevent",
            handler=acknowledge,
            summary="Acknowledge CloneSquad events (by EventDate) so that they are not repeated.",
            schema=SCHEMAS / "notify-ackevent.json",
            interfaces={Interface.SQS, Interface.APIGW, Interface.DIRECT},
            methods={"POST"},
        )
    ]


def event_dates(params: Any) -> list[str]:
    """The ``EventDate`` values to acknowledge, from ``Events`` (or ``EventData``)."""
    given = [params[name] for name in ("Events", "EventData") if name in params]
    if not given:
        raise ValidationFailed(
            "give the EventDate of each event to acknowledge in Events (a list of strings)",
            details=[{"where": "params.Events", "what": "required"}],
        )
    dates: list[str] = []
    for value in given:
        dates.extend([value] if isinstance(value, str) else value)
    unique = list(dict.fromkeys(date for date in dates if date))
    for date in unique:
        # A date DynamoDB cannot take is refused whole, before anything is acknowledged
        # (over SQS: a permanent failure, not retried).
        check_key(date, "params.Events")
    return unique


def acknowledge(request: Request) -> str:
    """Delete each event (or, with ``notify.event.keep_acked_records``, mark it acknowledged)."""
    deployment: Deployment = request.deployment
    dates = event_dates(request.params)
    table = deployment.table("EventTable", hash_key="EventDate")
    keep = deployment.configuration.get_bool(KEEP_ACKED_RECORDS) if dates else False
    acknowledged = sum(1 for date in dates if (_mark(table, date) if keep else table.delete(date)))
    unknown = len(dates) - acknowledged
    text = f"Ok ({acknowledged} event(s) acknowledged"
    if unknown:
        text += f", {unknown} unknown or already acknowledged"
    return text + ")"


def _mark(table: KeyValueTable, date: str) -> bool:
    """Set ``AckDate`` on a held event (the first acknowledgement's date is kept)."""
    from botocore.exceptions import ClientError

    now = datetime.datetime.now(datetime.UTC).isoformat()
    try:
        answer = table.client.update_item(
            TableName=table.name,
            Key={"EventDate": {"S": date}},
            UpdateExpression="SET AckDate = if_not_exists(AckDate, :now)",
            ConditionExpression="attribute_exists(EventDate)",
            ExpressionAttributeValues={":now": {"S": now}},
            ReturnValues="ALL_OLD",
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    old = answer.get("Attributes", {})
    return "AckDate" not in old and not expired(old, table.clock())
