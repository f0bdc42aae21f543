"""``notify/ackevent``: acknowledge CloneSquad events so that they stop repeating.

SQS delivers at least once, so acknowledging is idempotent: an event acknowledged
twice, or one the EventLog table does not hold, is counted, not an error. The events
of a request are acknowledged all or none (one transaction of at most 100).
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
from clonesquad_interact.aws import check_time
from clonesquad_interact.errors import Conflict, PayloadTooLarge, ValidationFailed, aws_error_code
from clonesquad_interact.tables import TRANSACTION_SIZE, KeyValueTable, check_key

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
    """Delete the events (or, with ``notify.event.keep_acked_records``, mark them
    acknowledged), all of them or none: one ``TransactWriteItems``."""
    deployment: Deployment = request.deployment
    dates = event_dates(request.params)
    if len(dates) > TRANSACTION_SIZE:
        raise PayloadTooLarge(
            f"{len(dates)} events cannot be acknowledged at once: send at most "
            f"{TRANSACTION_SIZE} in each request (they are acknowledged all or none)",
            details=[{"where": "params.Events", "count": len(dates), "limit": TRANSACTION_SIZE}],
        )
    table = deployment.table("EventTable", hash_key="EventDate")
    keep = deployment.configuration.get_bool(KEEP_ACKED_RECORDS) if dates else False
    held = table.batch_get(dates) if dates else {}
    if keep:
        acted = [date for date in dates if date in held and "AckDate" not in held[date].attributes]
    else:
        acted = [date for date in dates if date in held]
    _write(table, acted, keep)
    unknown = len(dates) - len(acted)
    text = f"Ok ({len(acted)} event(s) acknowledged"
    if unknown:
        text += f", {unknown} unknown or already acknowledged"
    return text + ")"


def _write(table: KeyValueTable, dates: list[str], keep: bool) -> None:
    """Delete (or mark, with ``keep``) the events of ``dates`` in one transaction.

    :raises Conflict: an event to mark was deleted meanwhile (nothing was written; the
        request may be sent again).
    """
    if not dates:
        return
    key = "EventDate"
    actions: list[dict[str, Any]]
    if keep:
        now = datetime.datetime.now(datetime.UTC).isoformat()
        actions = [
            {
                "Update": {
                    "TableName": table.name,
                    "Key": {key: {"S": date}},
                    "UpdateExpression": "SET AckDate = if_not_exists(AckDate, :now)",
                    "ConditionExpression": "attribute_exists(EventDate)",
                    "ExpressionAttributeValues": {":now": {"S": now}},
                }
            }
            for date in dates
        ]
    else:
        actions = [
            {"Delete": {"TableName": table.name, "Key": {key: {"S": date}}}} for date in dates
        ]
    check_time(f"write to {table.name!r}")
    try:
        table.client.transact_write_items(TransactItems=actions)
    except Exception as exc:
        if aws_error_code(exc) != "TransactionCanceledException":
            raise
        raise Conflict(
            "an event to acknowledge changed while this request wrote; nothing was "
            "acknowledged: send the request again"
        ) from None
