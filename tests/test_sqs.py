"""SQS batches: each message is done, returned to the queue, or recorded whole as failed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from botocore.exceptions import ClientError
from structlog.testing import capture_logs

import faults
from clonesquad_interact import Forbidden, Request, ServiceUnavailable, hookimpl
from clonesquad_interact.testing import InteractClient, sqs_record

from helpers import OperationsPlugin, build, make_operation

SQS: dict[str, Any] = {"interfaces": {"sqs"}, "methods": {"POST"}}
EVENTS_SCHEMA = {
    "properties": {
        "params": {
            "properties": {"Events": {"type": "array", "items": {"type": "string"}}},
            "required": ["Events"],
        }
    }
}


class Acknowledger:
    """An idempotent SQS operation, and a few that fail in each way."""

    __name__ = "acknowledger"

    def __init__(self) -> None:
        self.acknowledged: set[str] = set()
        self.deliveries = 0

    def ack(self, request: Request) -> str:
        self.deliveries += 1
        self.acknowledged.update(request.params["Events"])
        return f"{len(request.params['Events'])} acknowledged"

    @hookimpl
    def register_operations(self) -> list[Any]:
        def throttled(request: Request) -> None:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "x"}}, "PutItem")

        def unavailable(request: Request) -> None:
            raise ServiceUnavailable("the table is being restored")

        def bug(request: Request) -> None:
            raise RuntimeError("unexpected")

        return [
            make_operation("notify/ackevent", handler=self.ack, schema=EVENTS_SCHEMA, **SQS),
            make_operation("slow", handler=throttled, **SQS),
            make_operation("unavailable", handler=unavailable, **SQS),
            make_operation("bug", handler=bug, **SQS),
            make_operation("secret", **SQS),
            make_operation("fleet/status"),
        ]

    @hookimpl
    def authorize_request(self, request: Request) -> None:
        if request.op == "secret":
            raise Forbidden("senders may not run secret")


@pytest.fixture
def plugin() -> Acknowledger:
    return Acknowledger()


@pytest.fixture
def client(plugin: Acknowledger) -> InteractClient:
    # Unexpected errors answer 500 here, as in Lambda, instead of failing the test.
    return InteractClient(build(plugin))


def test_a_mixed_batch_returns_only_the_retryable_messages(
    client: InteractClient, plugin: Acknowledger
) -> None:
    good = sqs_record({"OpType": "Notify/AckEvent", "Events": ["2026-11-25 08:00:00"]})
    permanent = {
        "not json": sqs_record("{oops"),
        "json array": sqs_record("[1, 2]"),
        "no OpType": sqs_record({"Events": []}),
        "unknown op": sqs_record({"OpType": "no/such"}),
        "wrong interface": sqs_record({"OpType": "fleet/status"}),
        "invalid params": sqs_record({"OpType": "notify/ackevent", "Events": "not-a-list", "x": 1}),
        "denied": sqs_record({"OpType": "secret"}),
    }
    retryable = {
        "throttled": sqs_record({"OpType": "slow"}),
        "unavailable": sqs_record({"OpType": "unavailable"}),
        "unexpected": sqs_record({"OpType": "bug"}),
    }
    batch = [good, *permanent.values(), *retryable.values()]
    with capture_logs() as logs:
        answer = client.sqs(batch)
    assert answer == {
        "batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in retryable.values()]
    }
    assert plugin.acknowledged == {"2026-11-25 08:00:00"}
    outcomes = {entry["message_id"]: entry for entry in logs if entry["event"] == "sqs.record"}
    done = outcomes[good["messageId"]]
    assert (done["outcome"], done["status"], done["answer"]) == ("done", 200, "1 acknowledged")
    for reason, record in permanent.items():
        entry = outcomes[record["messageId"]]
        expected = "refused" if reason == "denied" else "failed"
        assert entry["outcome"] == expected, reason
        assert entry["record"] == record, reason  # the whole message is kept in the log
        assert entry["error"], reason
        assert entry["log_level"] == "error"
    for record in retryable.values():
        assert outcomes[record["messageId"]]["outcome"] == "retry"
    unavailable = outcomes[retryable["unavailable"]["messageId"]]
    assert (unavailable["status"], unavailable["error"]) == (503, "the table is being restored")


def test_a_structured_answer_is_logged_as_one_line_of_bounded_length() -> None:
    from clonesquad_interact.sqs import ANSWER_LIMIT

    def big(request: Request) -> dict[str, Any]:
        return {"lines": ["x\ny"] * 1000}

    client = InteractClient(build(OperationsPlugin(make_operation("big", handler=big, **SQS))))
    with capture_logs() as logs:
        assert client.sqs({"OpType": "big"}) == {"batchItemFailures": []}
    (entry,) = [e for e in logs if e["event"] == "sqs.record"]
    assert entry["answer"].startswith('{"lines":["x\\ny",')
    assert len(entry["answer"]) == ANSWER_LIMIT
    assert entry["answer"].endswith("…")


@pytest.mark.parametrize(
    ("body", "logged"),
    [
        ({"n": 1, "when": None}, '{"n":1,"when":null}'),
        ({1: "one"}, '{"1":"one"}'),  # a name that is not text, written as JSON writes it
        ({"big": 2**70}, '{"big":1180591620717411303424}'),  # past what orjson holds
        ({"text": "\ud800"}, '{"text":"\\ud800"}'),  # a lone surrogate, escaped
        ({"set": {1}}, '{"set":"{1}"}'),  # a value JSON has not: its text
    ],
)
def test_the_answer_on_the_line_is_its_json_text(body: Any, logged: str) -> None:
    def answer(request: Request) -> Any:
        return body

    client = InteractClient(build(OperationsPlugin(make_operation("a", handler=answer, **SQS))))
    with capture_logs() as logs:
        assert client.sqs({"OpType": "a"}) == {"batchItemFailures": []}
    (entry,) = [e for e in logs if e["event"] == "sqs.record"]
    assert entry["answer"] == logged


def test_a_redelivered_message_is_harmless(client: InteractClient, plugin: Acknowledger) -> None:
    message = {"OpType": "notify/ackevent", "Events": ["a", "b"]}
    first = sqs_record(message, message_id="m-1")
    again = sqs_record(message, message_id="m-1", receive_count=2)
    assert client.sqs([first]) == {"batchItemFailures": []}
    assert client.sqs([again]) == {"batchItemFailures": []}
    assert plugin.acknowledged == {"a", "b"}
    assert plugin.deliveries == 2


def test_the_sender_is_the_identity_and_params_are_the_other_fields(plugin: Acknowledger) -> None:
    seen: list[Request] = []
    recorder = OperationsPlugin(
        make_operation(
            "debug/publishreportnow",
            handler=lambda r: seen.append(r),
            schema={"properties": {"params": {"additionalProperties": True}}},
            **SQS,
        ),
        name="recorder",
    )
    client = InteractClient(build(recorder))
    record = sqs_record(
        {"OpType": "Debug/PublishReportNow", "Reason": "manual"},
        sender_id="AROAEXAMPLE:operator-session",
    )
    assert client.sqs(record) == {"batchItemFailures": []}
    (request,) = seen
    assert request.op == "Debug/PublishReportNow"
    assert request.method == "POST"
    assert dict(request.params) == {"Reason": "manual"}
    assert request.caller == "AROAEXAMPLE:operator-session"
    assert request.request_id == record["messageId"]


def test_a_retryable_record_without_a_message_id_returns_the_whole_batch() -> None:
    client = InteractClient(build(Acknowledger()))
    record = sqs_record({"OpType": "slow"})
    del record["messageId"]
    answer = client.sqs([record])
    # An empty identifier makes Lambda treat the whole batch as failed: nothing is lost.
    assert answer == {"batchItemFailures": [{"itemIdentifier": ""}]}


def test_records_from_another_service_are_refused_whole() -> None:
    dispatcher = build(Acknowledger())
    answer = dispatcher.handle({"Records": [{"eventSource": "aws:sns", "Sns": {}}]})
    assert answer["statusCode"] == 400
    assert "only SQS records" in answer["body"]


def test_a_message_nested_too_deeply_is_recorded_as_failed_not_raised(
    client: InteractClient,
) -> None:
    deep = '{"OpType": "notify/ackevent", "Events": ' + "[" * 5000 + "]" * 5000 + "}"
    record = sqs_record(deep)
    with capture_logs() as logs:
        assert client.sqs([record]) == {"batchItemFailures": []}
    (entry,) = [e for e in logs if e["event"] == "sqs.record"]
    assert entry["outcome"] == "failed"
    assert "nested too deeply" in entry["error"]


def test_a_record_that_breaks_the_dispatcher_goes_back_to_the_queue(
    plugin: Acknowledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    dispatcher = build(plugin)

    def broken(request: Request) -> Any:
        raise RuntimeError("a bug outside any operation")

    monkeypatch.setattr(dispatcher, "dispatch_quietly", broken)
    record = sqs_record({"OpType": "notify/ackevent", "Events": ["x"]})
    with capture_logs() as logs:
        answer = dispatcher.handle({"Records": [record]})
    assert answer == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    (entry,) = logs
    assert (entry["outcome"], entry["exc_info"]) == ("retry", True)


def test_each_message_is_one_line_with_the_facts_of_its_request(client: InteractClient) -> None:
    good = sqs_record({"OpType": "Notify/AckEvent", "Events": ["e-1"]}, message_id="m-1")
    invalid = sqs_record({"OpType": "notify/ackevent", "Events": 3}, message_id="m-2")
    throttled = sqs_record({"OpType": "slow"}, message_id="m-3")
    with capture_logs() as logs:
        client.sqs([good, invalid, throttled])
    assert [entry["event"] for entry in logs] == ["sqs.record"] * 3  # no separate request line
    done, failed, retry = logs
    assert (done["message_id"], done["outcome"]) == ("m-1", "done")
    assert done["answer"] == "1 acknowledged"
    for entry in logs:
        assert entry["interface"] == "sqs"
        assert entry["method"] == "POST"
        assert entry["plugin"] == "acknowledger"
        assert isinstance(entry["duration_ms"], float)
        assert entry["request_id"] == entry["message_id"]
    assert (done["op"], done["operation"]) == ("Notify/AckEvent", "notify/ackevent")
    assert done["status"] == 200
    assert (failed["outcome"], failed["status"], failed["log_level"]) == ("failed", 400, "error")
    assert "Events" in failed["error"]
    assert failed["record"] == invalid
    assert (retry["outcome"], retry["operation"]) == ("retry", "slow")
    assert retry["log_level"] == "warning"


def test_a_bug_in_an_operation_is_an_error_line_with_its_traceback(client: InteractClient) -> None:
    with capture_logs() as logs:
        answer = client.sqs(sqs_record({"OpType": "bug"}, message_id="m-9"))
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-9"}]}
    (entry,) = logs
    assert (entry["event"], entry["outcome"]) == ("sqs.record", "retry")
    assert entry["log_level"] == "error"
    assert isinstance(entry["exc_info"], RuntimeError)
    assert entry["operation"] == "bug"


# -------------------------------------------------------------------------
# AWS faults met by a message, injected into the real DynamoDB client
# -------------------------------------------------------------------------


@pytest.fixture
def acknowledging(deployment: dict[str, str], aws_clients: Any) -> Any:
    """A dispatcher on moto with an event held in the EventLog table."""
    from aws_calls import RawTable
    from clonesquad_interact import Dispatcher

    events = RawTable(aws_clients.client("dynamodb"), deployment["EventTable"], "EventDate")
    events.put_item(Item={"EventDate": "2026-11-20 14:52:01", "EventType": "x"})
    dispatcher = Dispatcher(entry_points=False, raise_unexpected=False, aws=aws_clients)
    return dispatcher, events


@pytest.mark.parametrize(
    "fault",
    [faults.ACCESS_DENIED, faults.VALIDATION, faults.Fault(400, "AccessDenied")],
    ids=lambda f: f.code,
)
def test_an_aws_call_refused_for_good_fails_the_message_for_good(
    acknowledging: Any, fault: faults.Fault, monkeypatch: pytest.MonkeyPatch
) -> None:
    dispatcher, events = acknowledging
    record = sqs_record({"OpType": "notify/ackevent", "Events": ["2026-11-20 14:52:01"]})
    dynamodb = dispatcher.aws.client("dynamodb")
    writes = {"TransactWriteItems"}
    with capture_logs() as logs, faults.injected(dynamodb, writes, fault) as made:
        answer = dispatcher.handle({"Records": [record]}, None)
    assert made == ["TransactWriteItems"]  # not retried by botocore either
    assert answer == {"batchItemFailures": []}, "recorded as failed, not sent back to the DLQ"
    (line,) = [line for line in logs if line["event"] == "sqs.record"]
    assert (line["outcome"], line["status"]) == ("failed", 500)
    assert line["record"] == record  # the whole message is kept in the log
    assert fault.code in line["error"]
    assert faults.MESSAGE not in line["error"]
    assert len(events.items()) == 1


@pytest.mark.parametrize(
    "fault",
    [faults.THROTTLING, faults.INTERNAL_SERVER_ERROR, faults.SERVICE_UNAVAILABLE],
    ids=lambda f: f.code,
)
def test_a_transient_aws_failure_returns_the_message(
    acknowledging: Any, fault: faults.Fault, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.retries.standard import ExponentialBackoff

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
    dispatcher, events = acknowledging
    record = sqs_record({"OpType": "notify/ackevent", "Events": ["2026-11-20 14:52:01"]})
    dynamodb = dispatcher.aws.client("dynamodb")
    with capture_logs() as logs, faults.injected(dynamodb, {"TransactWriteItems"}, fault) as made:
        answer = dispatcher.handle({"Records": [record]}, None)
    assert len(made) > 1  # botocore's own retries ran first
    assert answer == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    (line,) = [line for line in logs if line["event"] == "sqs.record"]
    assert (line["outcome"], line["status"]) == ("retry", 503)
    assert len(events.items()) == 1
    assert dispatcher.handle({"Records": [record]}, None) == {"batchItemFailures": []}
    assert events.items() == []


def _events_message(count: int) -> str:
    """An ackevent message of ``count`` values: its object, two keys, "OpType"'s
    value, the list of events and ``count - 5`` events."""
    events = ", ".join(f'"2020-11-20 14:52:{n % 60:02}"' for n in range(count - 5))
    return f'{{"OpType": "notify/ackevent", "Events": [{events}]}}'


def _served(client: InteractClient, body: str) -> Mapping[str, Any]:
    with capture_logs() as logs:
        assert client.sqs([sqs_record(body)]) == {"batchItemFailures": []}  # not retried
    (entry,) = [e for e in logs if e["event"] == "sqs.record"]
    return entry


def test_a_message_of_more_than_10000_values_fails_for_good(
    client: InteractClient, plugin: Acknowledger
) -> None:
    entry = _served(client, _events_message(10_001))
    assert entry["outcome"] == "failed"
    assert entry["status"] == 400
    assert "the SQS message body holds more than 10000 values at line 1, column " in entry["error"]
    assert plugin.deliveries == 0
    assert _served(client, _events_message(10_000))["outcome"] == "done"
    assert plugin.deliveries == 1


def test_a_message_nested_more_than_32_levels_fails_for_good(client: InteractClient) -> None:
    def nested(levels: int) -> str:
        return '{"OpType": "notify/ackevent", "Events": ' + "[" * levels + "]" * levels + "}"

    entry = _served(client, nested(32))  # the message's object is the 33rd level
    assert entry["outcome"] == "failed"
    assert (
        "the SQS message body is nested too deeply (more than 32 levels at line 1, column 72)"
        in (entry["error"])
    )
    at_limit = _served(client, nested(31))
    assert at_limit["outcome"] == "failed"  # by its schema: events are strings
    assert "nested" not in at_limit["error"]


def test_a_message_larger_than_6_mib_fails_for_good(
    client: InteractClient, plugin: Acknowledger
) -> None:
    body = '{"OpType": "notify/ackevent", "Events": ["' + "x" * 6 * 1024 * 1024 + '"]}'
    entry = _served(client, body)
    assert entry["outcome"] == "failed"
    assert entry["status"] == 413
    assert "the SQS message body is larger than 6291456 bytes" in entry["error"]
    assert plugin.deliveries == 0
