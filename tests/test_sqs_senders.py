"""The SQS sender allowlist: a message from a sender not listed is refused, never run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from aws_calls import RawTable
from clonesquad_interact import AWS, Dispatcher
from clonesquad_interact.sqs import SENDERS_SETTING, sender_allowlist

EVENTS = Path(__file__).parent / "events"
#: The sample batch: two instances acknowledge events, a debug job asks for a report.
BATCH: dict[str, Any] = json.loads((EVENTS / "sqs_batch.json").read_text())
DATES = [
    "2026-11-25 08:10:00.123456+00:00",
    "2026-11-25 08:12:30.000014+00:00",
    "2026-11-25 08:13:00.517208+00:00",
]


@pytest.fixture
def events(deployment: dict[str, str], aws_clients: AWS) -> RawTable:
    table = RawTable(aws_clients.client("dynamodb"), deployment["EventTable"], "EventDate")
    for date in DATES:
        table.put_item(Item={"EventDate": date, "EventType": "scale_out", "Metadata": "{}"})
    return table


def dates(table: RawTable) -> set[str]:
    return {item["EventDate"] for item in table.items()}


def serve(monkeypatch: pytest.MonkeyPatch, aws_clients: AWS, senders: str | None) -> Any:
    if senders is not None:
        monkeypatch.setenv(SENDERS_SETTING, senders)
    dispatcher = Dispatcher(entry_points=False, raise_unexpected=True, aws=aws_clients)
    with capture_logs() as logs:
        answer = dispatcher.handle(json.loads(json.dumps(BATCH)), None)
    records = {e["message_id"]: e for e in logs if e["event"] == "sqs.record"}
    return answer, records


def test_only_listed_senders_are_run(
    monkeypatch: pytest.MonkeyPatch, aws_clients: AWS, events: RawTable
) -> None:
    # The instances' role (any session), not the debug job's role.
    answer, records = serve(monkeypatch, aws_clients, "AROA4XZPU6QWEXAMPLE02:i-*")
    assert answer == {"batchItemFailures": []}, "a refused message is not retried"
    assert dates(events) == set(), "the listed senders' messages ran"
    first, second, debug = (r["messageId"] for r in BATCH["Records"])
    assert records[first]["outcome"] == records[second]["outcome"] == "done"
    refused = records[debug]
    assert (refused["outcome"], refused["status"]) == ("refused", 403)
    assert "AROA4XZPU6QWEXAMPLE07:cs-debug-report-dump" in refused["error"]
    assert SENDERS_SETTING in refused["error"]
    assert refused["record"]["messageId"] == debug, "the refused message is recorded whole"
    assert "op" not in refused, "its body is not even read"


def test_a_refused_message_is_never_run(
    monkeypatch: pytest.MonkeyPatch, aws_clients: AWS, events: RawTable
) -> None:
    answer, records = serve(monkeypatch, aws_clients, "AROA4XZPU6QWEXAMPLE02:i-0a9e7c5b3d1f24680")
    assert answer == {"batchItemFailures": []}
    assert dates(events) == {DATES[0]}, "only the second instance's acknowledgement ran"
    outcomes = [records[r["messageId"]]["outcome"] for r in BATCH["Records"]]
    assert outcomes == ["refused", "done", "refused"]


def test_without_the_setting_every_sender_is_run(
    monkeypatch: pytest.MonkeyPatch, aws_clients: AWS, events: RawTable
) -> None:
    monkeypatch.delenv(SENDERS_SETTING, raising=False)
    _, records = serve(monkeypatch, aws_clients, None)
    assert dates(events) == set()
    assert "refused" not in {r["outcome"] for r in records.values()}


def test_a_record_without_a_sender_is_refused(
    monkeypatch: pytest.MonkeyPatch, aws_clients: AWS, events: RawTable
) -> None:
    monkeypatch.setenv(SENDERS_SETTING, "*")
    dispatcher = Dispatcher(entry_points=False, raise_unexpected=True, aws=aws_clients)
    batch = json.loads(json.dumps(BATCH))
    del batch["Records"][0]["attributes"]["SenderId"]
    with capture_logs() as logs:
        assert dispatcher.handle(batch, None) == {"batchItemFailures": []}
    assert dates(events) == {DATES[0]}
    (refused,) = [e for e in logs if e.get("outcome") == "refused"]
    assert "(none)" in refused["error"]


def test_patterns_are_globs_with_literal_punctuation() -> None:
    senders = sender_allowlist({SENDERS_SETTING: " AROAX:a.b+c , AIDA1 "})
    assert senders is not None
    assert senders.matches("AROAX:a.b+c")
    assert senders.matches("AIDA1")
    assert not senders.matches("AROAX:aXb+c")
    assert not senders.matches("AROAX:a.bbc")
    assert sender_allowlist({SENDERS_SETTING: " , "}) is None
    assert sender_allowlist({}) is None
