"""control/reschedulenow: waking CloneSquad's main function up, from API Gateway and SQS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from aws_calls import RawTable
from clonesquad_interact import AWS, Dispatcher
from clonesquad_interact.testing import InteractClient

HEARTBEAT = {
    "SQSHeartBeat": {
        "Reason": "NEED_UPDATE",
        "CallerFunction": "control_reschedulenow",
        "LambdaFunction": "Interact",
    }
}


@pytest.fixture
def state(deployment: dict[str, str], aws_clients: AWS) -> RawTable:
    table = RawTable(aws_clients.client("dynamodb"), deployment["StateTable"])
    table.put_item(Item={"Key": "main.last_call_date", "Value": "2024-01-08 21:05:55.836748+00:00"})
    return table


@pytest.fixture
def calls(deployed: Dispatcher) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """The DynamoDB and SQS calls of the dispatcher, in order, with their parameters
    (the session's shared clients: the hook is taken off after the test)."""
    made: list[tuple[str, dict[str, Any]]] = []
    clients = [deployed.aws.client(service) for service in ("dynamodb", "sqs")]
    for client in clients:
        client.meta.events.register(
            "provide-client-params",
            lambda params, model, **_: made.append((model.name, dict(params))),
            unique_id="control-calls",
        )
    yield made
    for client in clients:
        client.meta.events.unregister("provide-client-params", unique_id="control-calls")


def main_queue_messages(deployment: dict[str, str], aws_clients: AWS) -> list[Any]:
    answer = aws_clients.client("sqs").receive_message(
        QueueUrl=deployment["MainSQSQueue"], MaxNumberOfMessages=10, WaitTimeSeconds=0
    )
    return [json.loads(message["Body"]) for message in answer.get("Messages", ())]


def test_get_deletes_the_last_call_date_then_sends_the_heartbeat(
    deployment: dict[str, str],
    aws_clients: AWS,
    deployed_client: InteractClient,
    state: RawTable,
    calls: list[tuple[str, dict[str, Any]]],
) -> None:
    answer = deployed_client.get("/control/reschedulenow")
    assert answer.status_code == 200, answer.text
    assert (
        answer.text == "On-demand rescheduling request acknowledged. Reschedule in 0 second(s)..."
    )
    assert state.get("main.last_call_date") is None
    assert main_queue_messages(deployment, aws_clients) == [HEARTBEAT]
    made = [(name, params) for name, params in calls if name in {"DeleteItem", "SendMessage"}]
    assert [name for name, _ in made] == ["DeleteItem", "SendMessage"]
    assert made[1][1]["DelaySeconds"] == 0
    assert made[1][1]["QueueUrl"] == deployment["MainSQSQueue"]


def test_the_delay_reaches_sqs_and_the_answer(
    deployed_client: InteractClient, state: RawTable, calls: list[tuple[str, dict[str, Any]]]
) -> None:
    answer = deployed_client.get("/control/reschedulenow", params={"delay": "60"})
    assert answer.text.endswith("Reschedule in 60 second(s)...")
    sent = [params for name, params in calls if name == "SendMessage"]
    assert [params["DelaySeconds"] for params in sent] == [60]


def test_an_sqs_message_reschedules(
    deployed_client: InteractClient, state: RawTable, calls: list[tuple[str, dict[str, Any]]]
) -> None:
    answer = deployed_client.sqs({"OpType": "Control/RescheduleNow", "delay": 900})
    assert answer == {"batchItemFailures": []}
    assert state.get("main.last_call_date") is None
    assert [p["DelaySeconds"] for name, p in calls if name == "SendMessage"] == [900]


@pytest.mark.parametrize("delay", ["901", "-1", "abc", "1.5", "", "1e3"])
def test_a_bad_delay_is_a_400_naming_it_and_nothing_is_done(
    deployed_client: InteractClient,
    state: RawTable,
    calls: list[tuple[str, dict[str, Any]]],
    delay: str,
) -> None:
    answer = deployed_client.get("/control/reschedulenow", params={"delay": delay})
    assert answer.status_code == 400, answer.text
    assert "delay" in answer.text
    assert "Traceback" not in answer.text
    assert state.get("main.last_call_date") is not None
    assert not [name for name, _ in calls if name in {"DeleteItem", "SendMessage"}]


@pytest.mark.parametrize("delay", [901, -1, 1.5, True, "x", None])
def test_a_bad_delay_in_an_sqs_message_fails_for_good(
    deployed_client: InteractClient, state: RawTable, delay: Any
) -> None:
    answer = deployed_client.sqs({"OpType": "control/reschedulenow", "delay": delay})
    assert answer == {"batchItemFailures": []}, "refused for good, not sent back"
    assert state.get("main.last_call_date") is not None


def test_without_the_main_queue_nothing_is_deleted(
    deployment: dict[str, str], aws_clients: AWS, state: RawTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MainSQSQueue")
    client = InteractClient(Dispatcher(entry_points=False, aws=aws_clients))
    answer = client.get("/control/reschedulenow")
    assert answer.status_code == 500
    assert "MainSQSQueue" in answer.text
    assert state.get("main.last_call_date") is not None
