"""Every class of AWS fault, injected into the real DynamoDB client, on reads, document
writes, per-key writes and acknowledgements over SQS.

A fault is answered (or raised) in botocore's ``before-send`` event, so botocore's own
retries run. After every fault: the answer is a 503 with ``Retry-After`` (throttling,
a service's 5xx, a timeout, an unreachable endpoint) or a 500 naming only the error
code (access denied, a refused request); over SQS the message goes back to the queue;
no AWS text reaches the caller; the table holds its old state or its new one, never a
mix; and once the fault is gone, the same request succeeds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.retries.standard import ExponentialBackoff

import faults
from aws_calls import RawTable
from clonesquad_interact import AWS, Dispatcher
from clonesquad_interact.testing import InteractClient, sqs_record

WRITES = {"BatchWriteItem", "TransactWriteItems", "PutItem", "DeleteItem", "UpdateItem"}
READS = {"GetItem", "Scan", "BatchGetItem", "Query"}
EVENTS = (
    "2026-12-01 19:13:42.471382+00:00",
    "2026-12-01 19:14:00.000001+00:00",
    "2026-12-01 19:15:30.120000+00:00",
)
OLD = {f"custom.key.{n:02}": "old" for n in range(8)}
STALE = {"stale.key": "x"}
NEW = {key: "new" for key in OLD}
#: Scheduler entries are checked on write: a schedule and what it sets.
ENTRY = "cron(0 19 ? * MON-FRI *),ec2.schedule.min_instance_count=1"
NEW_ENTRIES = dict.fromkeys(OLD, ENTRY)


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's retries still run, without sleeping between them."""
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)


@dataclass
class Setup:
    client: InteractClient
    dispatcher: Dispatcher
    tables: dict[str, RawTable]


@pytest.fixture
def setup(deployment: dict[str, str], aws_clients: AWS) -> Setup:
    dispatcher = Dispatcher(entry_points=False, raise_unexpected=False, aws=aws_clients)
    dynamodb = aws_clients.client("dynamodb")
    tables = {
        "configuration": RawTable(dynamodb, deployment["ConfigurationTable"]),
        "scheduler": RawTable(dynamodb, deployment["SchedulerTable"]),
        "events": RawTable(dynamodb, deployment["EventTable"], hash_key="EventDate"),
    }
    for key, value in {**OLD, **STALE}.items():
        tables["configuration"].put_item(Item={"Key": key, "Value": value})
        tables["scheduler"].put_item(Item={"Key": key, "Value": value})
    for date in EVENTS:
        tables["events"].put_item(Item={"EventDate": date, "Type": "scale_out"})
    return Setup(InteractClient(dispatcher), dispatcher, tables)


@dataclass(frozen=True)
class Scenario:
    """A request, the DynamoDB calls to fault, and the table it may change."""

    name: str
    send: Callable[[InteractClient], Any]
    operations: set[str]
    table: str
    #: The table's content after success (``None``: a read, the table does not change).
    new: dict[str, str] | None = None
    sqs: bool = False
    #: Set before the request (configuration keys), so that the faulted path runs.
    configuration: dict[str, str] = field(default_factory=dict)


def _post(path: str, body: Any, params: dict[str, str] | None = None) -> Callable[..., Any]:
    text = body if isinstance(body, str) else json.dumps(body)
    return lambda client: client.post(path, text, params)


def _ack(*dates: str) -> Callable[..., Any]:
    record = sqs_record({"OpType": "notify/ackevent", "Events": list(dates)})
    return lambda client: client.sqs([record])


SCENARIOS = [
    Scenario("read a key", lambda c: c.get("configuration/custom.key.01"), READS, "configuration"),
    Scenario("dump the configuration", lambda c: c.get("configuration"), READS, "configuration"),
    Scenario(
        "dump the scheduler", lambda c: c.get("scheduler", {"raw": "true"}), READS, "scheduler"
    ),
    Scenario("read a scheduler key", lambda c: c.get("scheduler/stale.key"), READS, "scheduler"),
    Scenario(
        "write a document",
        _post("configuration", NEW),
        WRITES,
        "configuration",
        new={**NEW, **STALE},
    ),
    Scenario(
        "restore a document",
        _post("configuration", NEW, {"restore": "true"}),
        WRITES,
        "configuration",
        new=NEW,
    ),
    Scenario(
        "write a scheduler document",
        _post("scheduler", {**NEW_ENTRIES, "stale.key": None}),
        WRITES,
        "scheduler",
        new=NEW_ENTRIES,
    ),
    Scenario(
        "write one key",
        _post("configuration/custom.key.03", "new"),
        WRITES,
        "configuration",
        new={**OLD, **STALE, "custom.key.03": "new"},
    ),
    Scenario("acknowledge an event", _ack(EVENTS[0]), WRITES, "events", new={}, sqs=True),
    Scenario("acknowledge events", _ack(*EVENTS), WRITES, "events", new={}, sqs=True),
    Scenario(
        "mark events acknowledged",
        _ack(*EVENTS),
        WRITES,
        "events",
        sqs=True,
        configuration={"notify.event.keep_acked_records": "1"},
    ),
]


def content(table: RawTable) -> dict[str, str]:
    if table.hash_key == "EventDate":
        return {item["EventDate"]: item.get("AckDate", "") for item in table.items()}
    return table.content()


def expected_new(scenario: Scenario, old: dict[str, str]) -> dict[str, str]:
    if scenario.new is not None:
        return scenario.new if scenario.table != "events" else _events_after(scenario, old)
    if scenario.configuration:  # acknowledged events are kept, marked
        return {date: "marked" for date in old}
    return old


def _events_after(scenario: Scenario, old: dict[str, str]) -> dict[str, str]:
    acknowledged = {EVENTS[0]} if scenario.name == "acknowledge an event" else set(EVENTS)
    return {date: mark for date, mark in old.items() if date not in acknowledged}


def _marked(state: dict[str, str]) -> dict[str, str]:
    return {date: "marked" if mark else "" for date, mark in state.items()}


def check_answer(scenario: Scenario, answer: Any, fault: faults.Fault | faults.Raised) -> None:
    text = json.dumps(answer) if scenario.sqs else answer.text
    assert faults.MESSAGE not in text
    assert "Traceback" not in text
    if scenario.sqs:
        # Not done: worth retrying, the message goes back to the queue; refused for good,
        # it is recorded whole as failed (the log) and not sent back.
        expected = 1 if fault in faults.TRANSIENT else 0
        assert len(answer["batchItemFailures"]) == expected, answer
        return
    if fault in faults.TRANSIENT:
        assert answer.status_code == 503, answer.text
        assert int(answer.headers["Retry-After"]) > 0
        assert answer.json()["error"]["type"] == "ServiceUnavailable"
    else:
        assert answer.status_code == 500, answer.text
        assert "Retry-After" not in answer.headers
        assert fault.code in answer.json()["error"]["message"]


#: Each scenario with its faults on every call, and (for writes) on the calls after the first.
CASES = [
    pytest.param(scenario, when, id=f"{scenario.name}-{when}")
    for scenario in SCENARIOS
    for when in ("every call", "part-way")
    if when == "every call" or scenario.new is not None or scenario.configuration
]


@pytest.mark.parametrize("fault", faults.CLASSES, ids=lambda f: f.code)
@pytest.mark.parametrize(("scenario", "when"), CASES)
def test_a_fault_leaves_the_old_or_the_new_state_and_says_what_to_do(
    setup: Setup, scenario: Scenario, fault: faults.Fault | faults.Raised, when: str
) -> None:
    for key, value in scenario.configuration.items():
        setup.tables["configuration"].put_item(Item={"Key": key, "Value": value})
    table = setup.tables[scenario.table]
    old = content(table)
    new = expected_new(scenario, old)
    dynamodb = setup.dispatcher.aws.client("dynamodb")
    first_faulted = 0 if when == "every call" else 1
    with faults.injected(
        dynamodb, scenario.operations, fault, when=lambda n: n >= first_faulted
    ) as made:
        answer = scenario.send(setup.client)
    after = content(table)
    state = _marked(after) if scenario.configuration else after
    done = (not scenario.sqs and answer.status_code == 200) or (
        scenario.sqs and answer["batchItemFailures"] == [] and state == new
    )
    if done:  # part-way came after the last call: the request is whole
        assert state == new
    else:
        assert state in (old if not scenario.configuration else _marked(old), new), state
        check_answer(scenario, answer, fault)
        if fault in faults.TRANSIENT and when == "every call":
            assert len(made) >= 3, made  # botocore's own retries ran
    # The fault gone, the same request finishes the work.
    again = scenario.send(setup.client)
    if scenario.sqs:
        assert again["batchItemFailures"] == [], again
    else:
        assert again.status_code == 200, again.text
    final = content(table)
    assert (_marked(final) if scenario.configuration else final) == new
