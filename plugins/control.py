"""``control/reschedulenow``: ask CloneSquad's main function to run a scheduling pass soon.

The main function runs when its queue (``MainSQSQueue``) delivers a heartbeat, and skips
a pass it made less than a period ago (it remembers when in the State item
``main.last_call_date``). Rescheduling deletes that item, then sends the heartbeat
``{"SQSHeartBeat": {"Reason": "NEED_UPDATE", ...}}`` delayed by ``delay`` seconds (0 to
900, SQS's limit). In that order: a failure between the two leaves only a deleted
date, which a retry deletes again before sending.
"""

from __future__ import annotations

import json
from importlib.resources import files

from clonesquad_interact import (
    Deployment,
    Interface,
    Operation,
    Request,
    ValidationFailed,
    hookimpl,
)

#: The State item in which the main function keeps the date of its last pass.
LAST_CALL_KEY = "main.last_call_date"
#: The heartbeat the main function's queue takes.
HEARTBEAT = {
    "SQSHeartBeat": {
        "Reason": "NEED_UPDATE",
        "CallerFunction": "control_reschedulenow",
        "LambdaFunction": "Interact",
    }
}
#: SQS's longest ``DelaySeconds``.
MAX_DELAY = 900


@hookimpl
def register_operations() -> list[Operation]:
    return [
        Operation(
            route="control/reschedulenow",
            handler=reschedule_now,
            summary="Make CloneSquad's main function run a scheduling pass after delay seconds.",
            schema=files("clonesquad_interact.schemas") / "control-reschedulenow.json",
            interfaces={Interface.APIGW, Interface.SQS, Interface.DIRECT},
            methods={"GET", "POST"},
            description=(
                "Deletes the State item main.last_call_date, then sends the heartbeat "
                "message to the main function's queue (MainSQSQueue) with DelaySeconds = "
                "delay (0 to 900, default 0)."
            ),
        )
    ]


def delay_of(request: Request) -> int:
    """The ``delay`` parameter in seconds (0 when absent).

    :raises ValidationFailed: it is not a whole number of seconds from 0 to 900.
    """
    value = request.params.get("delay", 0)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DELAY:
        raise ValidationFailed(
            f"delay must be a whole number of seconds from 0 to {MAX_DELAY}, not {value!r}",
            details=[{"where": "params.delay", "what": f"an integer from 0 to {MAX_DELAY}"}],
        )
    return value


def reschedule_now(request: Request) -> str:
    """Delete ``main.last_call_date``, then send the delayed heartbeat."""
    deployment: Deployment = request.deployment
    delay = delay_of(request)
    queue = deployment.settings.require("MainSQSQueue")
    state = deployment.table("StateTable")
    state.delete(LAST_CALL_KEY)
    deployment.client("sqs").send_message(
        QueueUrl=queue, MessageBody=json.dumps(HEARTBEAT), DelaySeconds=delay
    )
    return f"On-demand rescheduling request acknowledged. Reschedule in {delay} second(s)..."
