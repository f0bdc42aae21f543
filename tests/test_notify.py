"""notify/ackevent: acknowledging events in the EventLog table, from SQS and API Gateway."""

from __future__ import annotations

import json
from typing import Any

import pytest

from aws_calls import RawTable
from clonesquad_interact import AWS
from clonesquad_interact.testing import InteractClient, sqs_record

DATES = ["2020-11-20 14:52:01.386924", "2020-11-20 14:53:01.386924", "2020-11-20 14:54:01.1"]


@pytest.fixture
def events(deployment: dict[str, str], aws_clients: AWS) -> RawTable:
    table = RawTable(aws_clients.client("dynamodb"), deployment["EventTable"], "EventDate")
    for date in DATES:
        table.put_item(Item={"EventDate": date, "EventType": "scale_out", "Metadata": "{}"})
    return table


def dates(table: RawTable) -> set[str]:
    return {item["EventDate"] for item in table.items()}


def test_an_sqs_message_deletes_the_acknowledged_events(
    deployed_client: InteractClient, events: RawTable
) -> None:
    answer = deployed_client.sqs({"OpType": "notify/ackevent", "Events": DATES[:2]})
    assert answer == {"batchItemFailures": []}
    assert dates(events) == {DATES[2]}


def test_a_redelivered_message_and_an_unknown_date_are_not_errors(
    deployed_client: InteractClient, events: RawTable
) -> None:
    record = sqs_record({"OpType": "Notify/AckEvent", "Events": [DATES[0], "1999-01-01 00:00"]})
    assert deployed_client.sqs([record]) == {"batchItemFailures": []}
    again = sqs_record(json.loads(record["body"]), message_id=record["messageId"], receive_count=2)
    assert deployed_client.sqs([again]) == {"batchItemFailures": []}
    assert dates(events) == set(DATES[1:])
    answer = deployed_client.call("notify/ackevent", method="POST", Events=[DATES[0]])
    assert answer.body == "Ok (0 event(s) acknowledged, 1 unknown or already acknowledged)"


def test_the_specs_eventdata_spelling_and_a_single_string_are_accepted(
    deployed_client: InteractClient, events: RawTable
) -> None:
    batch: list[dict[str, Any]] = [
        {"OpType": "notify/ackevent", "EventData": [DATES[0]]},
        {"OpType": "notify/ackevent", "Events": DATES[1]},
    ]
    assert deployed_client.sqs(batch) == {"batchItemFailures": []}
    assert dates(events) == {DATES[2]}


def test_api_gateway_acknowledges_with_repeated_parameters(
    deployed_client: InteractClient, events: RawTable
) -> None:
    answer = deployed_client.post("notify/ackevent", params={"Events": DATES[:2]})
    assert answer.status_code == 200
    assert answer.text == "Ok (2 event(s) acknowledged)"
    assert dates(events) == {DATES[2]}
    assert deployed_client.get("notify/ackevent").status_code == 405


def test_a_message_without_events_is_recorded_as_failed_not_retried(
    deployed_client: InteractClient, events: RawTable
) -> None:
    from structlog.testing import capture_logs

    record = sqs_record({"OpType": "notify/ackevent"})
    with capture_logs() as logs:
        assert deployed_client.sqs([record]) == {"batchItemFailures": []}
    assert any(record["messageId"] == entry.get("message_id") for entry in logs)
    assert dates(events) == set(DATES)
    answer = deployed_client.post("notify/ackevent")
    assert answer.status_code == 400
    assert "Events" in answer.json()["error"]["message"]


def test_kept_records_are_marked_with_the_first_acknowledgement_date(
    deployed_client: InteractClient, events: RawTable, deployment: dict[str, str], aws_clients: AWS
) -> None:
    configuration = RawTable(aws_clients.client("dynamodb"), deployment["ConfigurationTable"])
    configuration.put_item(Item={"Key": "notify.event.keep_acked_records", "Value": "1"})
    first = deployed_client.call("notify/ackevent", method="POST", Events=[DATES[0], "unknown"])
    assert first.body == "Ok (1 event(s) acknowledged, 1 unknown or already acknowledged)"
    marked = events.get(DATES[0])
    assert marked is not None
    assert marked["EventType"] == "scale_out"
    second = deployed_client.call("notify/ackevent", method="POST", Events=[DATES[0]])
    assert second.body == "Ok (0 event(s) acknowledged, 1 unknown or already acknowledged)"
    assert events.get(DATES[0]) == marked
    assert dates(events) == set(DATES)
    assert events.get("unknown") is None


def test_acknowledging_works_in_a_deployment_without_a_configuration_table(
    events: RawTable, aws_clients: AWS, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clonesquad_interact import Dispatcher

    monkeypatch.delenv("ConfigurationTable")
    client = InteractClient(Dispatcher(entry_points=False, aws=aws_clients))
    assert client.sqs({"OpType": "notify/ackevent", "Events": [DATES[0]]}) == {
        "batchItemFailures": []
    }
    assert dates(events) == set(DATES[1:])


@pytest.mark.parametrize("transport", ["query", "json body", "yaml body", "sqs", "direct"])
def test_one_contract_over_every_transport(
    deployed_client: InteractClient, events: RawTable, transport: str
) -> None:
    """The same parameters mean the same, however they arrive."""
    given = DATES[:2]
    if transport == "query":
        answer = deployed_client.post("/notify/ackevent", body="", params={"Events": given})
        assert answer.status_code == 200
        text = answer.text
    elif transport == "json body":
        answer = deployed_client.post("/notify/ackevent", body=json.dumps({"Events": given}))
        assert answer.status_code == 200
        text = answer.text
    elif transport == "yaml body":
        body = "Events:\n" + "".join(f"  - '{date}'\n" for date in given)
        answer = deployed_client.post("/notify/ackevent", body=body, params={"format": "yaml"})
        assert answer.status_code == 200
        text = answer.text
    elif transport == "sqs":
        outcome = deployed_client.sqs({"OpType": "notify/ackevent", "Events": given})
        assert outcome == {"batchItemFailures": []}
        text = "Ok (2 event(s) acknowledged)"
    else:
        text = deployed_client.call("notify/ackevent", method="POST", Events=given).body
    assert text == "Ok (2 event(s) acknowledged)"
    assert dates(events) == {DATES[2]}
