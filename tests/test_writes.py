"""Documents written all or nothing: transactions, their limits, concurrent restores,
AWS faults part-way and the request's time budget."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.retries.standard import ExponentialBackoff

import faults
from aws_calls import RawTable
from clonesquad_interact import AWS, Dispatcher
from clonesquad_interact.testing import InteractClient, apigw_rest_event

from helpers import fill

#: The item restores count with (documented in the README).
VERSION_KEY = "#clonesquad-interact.version"
WRITES = {"BatchWriteItem", "TransactWriteItems", "PutItem", "DeleteItem"}


def entry(token: str) -> str:
    """A value both tables take: any text for an undeclared configuration key, and a
    Scheduler entry (a schedule, then an action)."""
    return f"rate(1 day),custom.value={token}"


OLD = {f"custom.key.{n:03}": entry("old") for n in range(30)}
NEW = {key: entry("new") for key in OLD}


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's retries still run, without sleeping between them."""
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)


@pytest.fixture(params=["ConfigurationTable", "SchedulerTable"])
def table_op(request: pytest.FixtureRequest, deployment: dict[str, str], aws_clients: AWS) -> Any:
    setting = request.param
    op = "configuration" if setting == "ConfigurationTable" else "scheduler"
    return op, RawTable(aws_clients.client("dynamodb"), deployment[setting])


def content(table: RawTable) -> dict[str, str]:
    """The table's keys and values, without the version item of restores."""
    return {key: value for key, value in table.content().items() if key != VERSION_KEY}


@pytest.mark.parametrize("fault", faults.FAULTS, ids=lambda f: f.code)
@pytest.mark.parametrize("restore", [False, True])
def test_a_fault_part_way_leaves_the_old_or_the_new_document_whole(
    deployed_client: InteractClient,
    deployed: Dispatcher,
    table_op: Any,
    fault: faults.Fault,
    restore: bool,
) -> None:
    op, table = table_op
    fill(table, {**OLD, "stale.key": entry("x")})
    params = {"restore": "true"} if restore else {}
    dynamodb = deployed.aws.client("dynamodb")
    # Every write after the first fails: a document written in parts is left half-written.
    with faults.injected(dynamodb, WRITES, fault, when=lambda n: n > 0):
        answer = deployed_client.post(op, json.dumps(NEW), params)
    written = content(table)
    expected_new = NEW if restore else {**NEW, "stale.key": entry("x")}
    assert written in ({**OLD, "stale.key": entry("x")}, expected_new)
    assert answer.status_code == (200 if written == expected_new else answer.status_code)
    assert faults.MESSAGE not in answer.text


@pytest.mark.parametrize("fault", faults.FAULTS, ids=lambda f: f.code)
def test_a_failed_transaction_writes_nothing_and_says_what_to_do(
    deployed_client: InteractClient, deployed: Dispatcher, table_op: Any, fault: faults.Fault
) -> None:
    op, table = table_op
    fill(table, OLD)
    with faults.injected(deployed.aws.client("dynamodb"), WRITES, fault) as made:
        answer = deployed_client.post(op, json.dumps(NEW), {"restore": "true"})
    assert content(table) == OLD
    assert faults.MESSAGE not in answer.text
    assert "Traceback" not in answer.text
    if fault is faults.ACCESS_DENIED:
        assert answer.status_code == 500
        assert "AccessDeniedException" in answer.json()["error"]["message"]
        assert len(made) == 1
    else:
        assert answer.status_code == 503, answer.text
        assert int(answer.headers["Retry-After"]) > 0
        assert len(made) == 3  # botocore's own retries ran


def test_a_document_of_more_than_100_keys_is_a_413_that_says_how_to_split_it(
    deployed_client: InteractClient, table_op: Any
) -> None:
    op, table = table_op
    document = {f"k{n}": entry("v") for n in range(101)}
    answer = deployed_client.post(op, json.dumps(document))
    assert answer.status_code == 413, answer.text
    message = answer.json()["error"]["message"]
    assert "101 keys" in message
    assert "at most 100 keys each" in message
    assert content(table) == {}
    assert (
        deployed_client.post(op, json.dumps(dict(list(document.items())[:100]))).status_code == 200
    )


def test_a_document_over_4_mb_is_a_413(deployed_client: InteractClient, table_op: Any) -> None:
    op, table = table_op
    document = {f"k{n}": entry("v" * 380_000) for n in range(11)}
    answer = deployed_client.post(op, json.dumps(document))
    assert answer.status_code == 413, answer.text
    assert content(table) == {}


def test_a_restore_that_would_delete_too_many_keys_is_a_413_that_writes_nothing(
    deployed_client: InteractClient, table_op: Any
) -> None:
    op, table = table_op
    fill(table, {f"old{n}": entry("v") for n in range(90)})
    answer = deployed_client.post(
        op, json.dumps({f"new{n}": entry("v") for n in range(10)}), {"restore": "true"}
    )
    assert answer.status_code == 413, answer.text
    message = answer.json()["error"]["message"]
    assert "90 of them keys of the table absent from the document" in message
    assert len(content(table)) == 90


def test_two_concurrent_restores_cannot_both_succeed(
    deployed_client: InteractClient, deployed: Dispatcher, table_op: Any
) -> None:
    op, table = table_op
    dynamodb = deployed.aws.client("dynamodb")
    answers: list[Any] = []

    def other_restore(**_: Any) -> None:
        if not answers:  # between the first restore's read and its write
            answers.append(None)
            answers[0] = deployed_client.post(
                op, json.dumps({"b": entry("2")}), {"restore": "true"}
            )

    for name in ("BatchWriteItem", "TransactWriteItems"):
        dynamodb.meta.events.register(f"before-call.dynamodb.{name}", other_restore, name)
    try:
        first = deployed_client.post(op, json.dumps({"a": entry("1")}), {"restore": "true"})
    finally:
        for name in ("BatchWriteItem", "TransactWriteItems"):
            dynamodb.meta.events.unregister(f"before-call.dynamodb.{name}", unique_id=name)
    assert answers[0].status_code == 200
    assert first.status_code == 409, first.text
    assert "send the request again" in first.json()["error"]["message"]
    assert content(table) == {"b": entry("2")}
    again = deployed_client.post(op, json.dumps({"a": entry("1")}), {"restore": "true"})
    assert again.status_code == 200
    assert content(table) == {"a": entry("1")}


def test_a_restore_does_not_delete_a_value_written_after_its_scan(
    deployed_client: InteractClient, deployed: Dispatcher, table_op: Any
) -> None:
    op, table = table_op
    fill(table, {"a": entry("1"), "b": entry("1")})
    dynamodb = deployed.aws.client("dynamodb")
    done: list[int] = []

    def concurrent_write(**_: Any) -> None:
        if not done:
            done.append(0)
            done[0] = deployed_client.post(f"{op}/b", entry("2")).status_code

    for name in ("BatchWriteItem", "TransactWriteItems"):
        dynamodb.meta.events.register(f"before-call.dynamodb.{name}", concurrent_write, name)
    try:
        answer = deployed_client.post(op, json.dumps({"a": entry("3")}), {"restore": "true"})
    finally:
        for name in ("BatchWriteItem", "TransactWriteItems"):
            dynamodb.meta.events.unregister(f"before-call.dynamodb.{name}", unique_id=name)
    assert done == [200]
    assert answer.status_code == 409, answer.text
    assert content(table) == {"a": entry("1"), "b": entry("2")}


def test_the_version_item_is_hidden_and_reserved(
    deployed_client: InteractClient, table_op: Any
) -> None:
    op, _ = table_op
    assert (
        deployed_client.post(op, json.dumps({"a": entry("1")}), {"restore": "true"}).status_code
        == 200
    )
    assert deployed_client.get(op, {"raw": "true"}).json() == {"a": entry("1")}
    refused = deployed_client.post(op, json.dumps({VERSION_KEY: "9"}))
    assert refused.status_code == 400
    assert "reserved" in refused.text


class LambdaContext:
    """What the Lambda runtime passes: the time left before the function is stopped."""

    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_a_request_with_too_little_time_left_writes_nothing_and_answers_503(
    deployed: Dispatcher, table_op: Any
) -> None:
    op, table = table_op
    event = apigw_rest_event("POST", op, body=json.dumps({"a": entry("1")}))
    answer = deployed.handle(event, LambdaContext(remaining_ms=1000))
    assert answer["statusCode"] == 503, answer
    assert "ran out of time" in json.loads(answer["body"])["error"]["message"]
    assert content(table) == {}
    answer = deployed.handle(event, LambdaContext(remaining_ms=60_000))
    assert answer["statusCode"] == 200
    assert content(table) == {"a": entry("1")}


def test_no_attempt_of_an_aws_call_starts_past_the_deadline_a_retry_neither(
    deployed: Dispatcher, aws_clients: AWS, deployment: dict[str, str]
) -> None:
    client = deployed.aws.client("dynamodb")

    def slow(**_: Any) -> None:  # the first attempt is throttled, and slow to say so
        time.sleep(1.5)

    event = apigw_rest_event("POST", "configuration/app.disable", body="1")
    client.meta.events.register_first("needs-retry.dynamodb.PutItem", slow, unique_id="slow")
    try:
        with faults.injected(client, {"PutItem"}, faults.THROTTLING) as made:
            answer = deployed.handle(event, LambdaContext(remaining_ms=2_500))
    finally:
        client.meta.events.unregister("needs-retry.dynamodb.PutItem", unique_id="slow")
    assert answer["statusCode"] == 503, answer
    assert "ran out of time before it could call dynamodb PutItem" in answer["body"]
    assert answer["headers"]["Retry-After"] == "1"
    assert made == ["PutItem"]  # botocore's retry was not sent
    table = RawTable(aws_clients.client("dynamodb"), deployment["ConfigurationTable"])
    assert table.get("app.disable") is None
