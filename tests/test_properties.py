"""Generated events, well-formed to broken, through the production handler on moto.

For every event: the handler answers (it never raises), the answer has the caller's
shape and UTF-8 can send it, nothing unexpected happened inside (no exception
logged), input the caller controls is never answered with a 5xx, SQS returns no
message to the queue and names only messages of the batch, and a refused request
wrote nothing: no successful AWS write call was made while it was served, and the
deployment's tables, scanned with the plain client, are as they were.

One deployment (tables, queues, bucket, the demo fleet, the precomputed blob) is set
up for the module; the numbers of examples are the profile's (``tests/conftest.py``).
The ``hardened`` tests serve the same kinds of events with every opt-in setting on
(an access policy, an SQS sender allowlist, lenient names): the same properties hold,
and what the policy or the allowlist refuses is never run.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

import event_strategies as events
from aws_calls import RawTable
from clonesquad_interact import AWS, Dispatcher
from clonesquad_interact.routing import LENIENT_SETTING
from clonesquad_interact.schedules import rule_names, time_zone
from clonesquad_interact.sqs import SENDERS_SETTING
from clonesquad_interact.testing import (
    OPERATOR_IDENTITY,
    apigw_rest_event,
    instance_identity,
    sqs_record,
)
from hypothesis_profiles import examples
from seeded import seeded_deployment

#: The setting naming the access policy (the policy plugin's ``POLICY_SETTING``).
POLICY_SETTING = "CLONESQUAD_INTERACT_ACCESS_POLICY"

#: AWS calls that only read (every other call is a write).
READS = ("Get", "Describe", "List", "Scan", "Query", "BatchGet", "Head", "Receive")
#: The tables compared before and after a refused event.
TABLES = ("ConfigurationTable", "SchedulerTable", "StateTable", "EventTable")
#: Answer fields of an API Gateway proxy integration.
PROXY_FIELDS = {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}


@dataclass
class Deployment:
    """The deployment under test, and what the clients wrote while serving each request."""

    dispatcher: Dispatcher
    settings: dict[str, str]
    world: events.World
    #: (request id, ``service.Operation``) of each successful write call.
    writes: list[tuple[str | None, str]] = field(default_factory=list)
    snapshot: dict[str, dict[str, Any]] = field(default_factory=dict)

    def tables(self) -> dict[str, dict[str, Any]]:
        """Every item of the compared tables, read from moto's own tables.

        (Read there rather than with ``Scan``: moto's serializer would take most of the
        suite's time. ``test_documents_are_written_whole_or_not_at_all`` scans.)
        """
        from moto.dynamodb.models import dynamodb_backends

        backend = dynamodb_backends[self.world.account][self.world.region]
        return {
            setting: {
                repr(item.hash_key): item.to_json()
                for item in backend.get_table(self.settings[setting]).all_items()
            }
            for setting in TABLES
        }


def _record_writes(writes: list[tuple[str | None, str]]) -> Callable[..., None]:
    def after_call(**kwargs: Any) -> None:
        model = kwargs["model"]
        if model.name.startswith(READS) or kwargs["http_response"].status_code >= 300:
            return
        request_id = structlog.contextvars.get_contextvars().get("request_id")
        writes.append((request_id, f"{model.service_model.service_name}.{model.name}"))

    return after_call


def _rules(seeded: Any) -> list[str]:
    """The rule names of the Scheduler table's entries (as the main function names them)."""
    scheduler = RawTable(
        seeded.dispatcher.aws.client("dynamodb"), seeded.settings["SchedulerTable"]
    )
    group = seeded.settings["GroupName"]
    now = [datetime.datetime.now(datetime.UTC)]
    # The deployment's zone: its TimeZone, else its region's (as CloneSquad names rules).
    zone = time_zone(seeded.settings.get("TimeZone"), seeded.dispatcher.aws.region)
    return sorted(
        rule
        for key, value in scheduler.content().items()
        for rule in rule_names(group, key, value, zone, now)
    )


@pytest.fixture(scope="module")
def deployment(aws_clients: AWS) -> Iterator[Deployment]:
    with seeded_deployment(aws_clients) as seeded:
        world = events.World(
            instance_ids=sorted(seeded.fleet.instances),
            event_dates=list(seeded.fleet.events),
            rules=_rules(seeded),
        )
        served = Deployment(seeded.dispatcher, seeded.settings, world)
        hook = _record_writes(served.writes)
        clients = [aws_clients.client(s) for s in ("dynamodb", "s3", "sqs", "ec2")]
        for client in clients:
            client.meta.events.register("after-call", hook, unique_id="record-writes")
        served.snapshot = served.tables()
        try:
            yield served
        finally:
            for client in clients:
                client.meta.events.unregister("after-call", unique_id="record-writes")


#: The opt-in access policy of the ``hardened`` tests: anyone may read, the operator
#: may also write (but not the control operations), and nobody else may write.
HARDENED_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "execute-api:Invoke",
            "Resource": "arn:aws:execute-api:*:*:*/*/GET/*",
            "Principal": "*",
        },
        {
            "Effect": "Allow",
            "Action": "execute-api:Invoke",
            "Resource": "arn:aws:execute-api:*:*:*/*/POST/*",
            "Principal": {"AWS": OPERATOR_IDENTITY["userArn"]},
        },
        {
            "Effect": "Deny",
            "Action": "execute-api:Invoke",
            "Resource": "arn:aws:execute-api:*:*:*/*/*/control/*",
            "Principal": "*",
        },
    ],
}
#: The senders the ``hardened`` tests' queue takes messages from.
HARDENED_SENDER = "AROA4XZPU6QWEXAMPLE02:i-0aaa"


@pytest.fixture(scope="module")
def hardened(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> Dispatcher:
    """A dispatcher of the same deployment with every opt-in setting on."""
    policy = tmp_path_factory.mktemp("policy") / "policy.json"
    policy.write_text(json.dumps(HARDENED_POLICY), "utf-8")
    environ = {
        **os.environ,
        **deployment.settings,
        POLICY_SETTING: policy.as_uri(),
        SENDERS_SETTING: HARDENED_SENDER,
        LENIENT_SETTING: "true",
    }
    dispatcher = Dispatcher(
        entry_points=False, raise_unexpected=False, aws=deployment.dispatcher.aws, environ=environ
    )
    assert dispatcher.lenient
    assert dispatcher.sqs_senders is not None
    assert "clonesquad_interact.plugins.policy" in [i.name for i in dispatcher.plugins.describe()]
    return dispatcher


def sendable(answer: Any) -> None:
    """What the Lambda runtime does with an answer: JSON, then UTF-8."""
    json.dumps(answer, ensure_ascii=False).encode("utf-8")


def check_proxy_answer(answer: Mapping[str, Any]) -> None:
    """A proxy answer API Gateway accepts (else it answers 502)."""
    assert set(answer) <= PROXY_FIELDS, answer
    assert type(answer["statusCode"]) is int
    assert 200 <= answer["statusCode"] <= 599
    headers = answer.get("headers", {})
    assert all(type(k) is str and type(v) is str for k, v in headers.items()), headers
    assert not any("\r" in v or "\n" in v for v in headers.values()), headers
    assert type(answer.get("body", "")) is str
    assert type(answer.get("isBase64Encoded", False)) is bool


def check_direct_answer(answer: Mapping[str, Any]) -> None:
    assert set(answer) <= {"statusCode", "headers", "body"}, answer
    assert type(answer["statusCode"]) is int
    assert 200 <= answer["statusCode"] <= 599


def serve(
    deployment: Deployment, event: Any, dispatcher: Dispatcher | None = None
) -> tuple[dict[str, Any], list[MutableMapping[str, Any]]]:
    """Serve ``event`` (with the deployment's dispatcher, or ``dispatcher`` on the same
    deployment) and check what holds for every event; the answer and the log."""
    deployment.writes.clear()
    with capture_logs() as logs:
        answer = (dispatcher or deployment.dispatcher).handle(event)
    assert isinstance(answer, dict)
    sendable(answer)
    unexpected = [line for line in logs if "exc_info" in line]
    assert not unexpected, unexpected
    refused = {
        line["request_id"] for line in logs if line["event"] == "request" and line["status"] >= 400
    } | {
        line["message_id"]
        for line in logs
        if line["event"] == "sqs.record" and line["outcome"] != "done"
    }
    done = any(
        line.get("outcome") == "done" or line.get("status", 400) < 400
        for line in logs
        if line["event"] != "sqs.record" or "outcome" in line
    )
    wrote = [write for write in deployment.writes if write[0] in refused or not done]
    assert not wrote, f"refused requests wrote: {wrote}"
    if any(write[1].startswith("dynamodb.") for write in deployment.writes):
        deployment.snapshot = deployment.tables()
    elif not done and _could_write(logs):
        assert deployment.tables() == deployment.snapshot, "a refused event changed the tables"
    return answer, logs


def _could_write(logs: list[MutableMapping[str, Any]]) -> bool:
    """Whether one of the requests served asked for a write (the tables are then compared)."""
    return any(
        line["event"] in ("sqs.record", "scheduled.event", "scheduled.action")
        or (line["event"] == "request" and line["method"] != "GET")
        or str(line.get("op", "")).startswith("control/")
        for line in logs
    )


def check_status(answer: Mapping[str, Any], event: Any) -> None:
    status = answer["statusCode"]
    body = answer.get("body")
    assert status < 500, (status, body, event)


@examples(2500)
@given(data=st.data())
def test_rest_api_events(deployment: Deployment, data: st.DataObject) -> None:
    event = data.draw(events.apigw_events(deployment.world, http_api=False))
    answer, _ = serve(deployment, event)
    if "batchItemFailures" not in answer:
        check_proxy_answer(answer)
        check_status(answer, event)


@examples(2000)
@given(data=st.data())
def test_http_api_events(deployment: Deployment, data: st.DataObject) -> None:
    event = data.draw(events.apigw_events(deployment.world, http_api=True))
    answer, _ = serve(deployment, event)
    if "batchItemFailures" not in answer:
        check_proxy_answer(answer)
        check_status(answer, event)


@examples(1500)
@given(data=st.data())
def test_sqs_batches(deployment: Deployment, data: st.DataObject) -> None:
    event = data.draw(events.sqs_events(deployment.world))
    answer, logs = serve(deployment, event)
    if "batchItemFailures" not in answer:  # not a batch any more: a 400
        check_proxy_answer(answer)
        check_status(answer, event)
        return
    assert set(answer) == {"batchItemFailures"}
    records = event["Records"]
    given = [r.get("messageId") for r in records if isinstance(r, dict)]
    ids = {i for i in given if isinstance(i, str)}
    for failure in answer["batchItemFailures"]:
        assert set(failure) == {"itemIdentifier"}
        assert failure["itemIdentifier"] in ids or failure["itemIdentifier"] == "", failure
    # Nothing the sender controls is worth retrying: every message is done or failed for good.
    assert answer["batchItemFailures"] == [], [line for line in logs if line.get("outcome")]
    outcomes = [line for line in logs if line["event"] == "sqs.record"]
    assert len(outcomes) == len(records)


@examples(1500)
@given(data=st.data())
def test_direct_invocations(deployment: Deployment, data: st.DataObject) -> None:
    event = data.draw(events.direct_events(deployment.world))
    answer, _ = serve(deployment, event)
    if "batchItemFailures" in answer:
        return
    if isinstance(event, dict) and "OpType" in event and "Records" not in event:
        check_direct_answer(answer)
    else:
        check_proxy_answer(answer)
    check_status(answer, event)


@examples(1000)
@given(data=st.data())
def test_scheduled_events(deployment: Deployment, data: st.DataObject) -> None:
    event = data.draw(events.scheduled_events(deployment.world))
    answer, logs = serve(deployment, event)
    if "rules" in answer:  # a scheduled event: what its rules did
        assert answer["outcome"] != "retry", answer
        actions = [line for line in logs if line["event"] == "scheduled.action"]
        assert all(line["status"] < 500 for line in actions), actions
        return
    if "batchItemFailures" in answer:
        return
    if isinstance(event, dict) and "OpType" in event and "Records" not in event:
        check_direct_answer(answer)
    else:
        check_proxy_answer(answer)
    check_status(answer, event)


@examples(800)
@given(data=st.data())
def test_hardened_api_gateway_events(
    deployment: Deployment, hardened: Dispatcher, data: st.DataObject
) -> None:
    http_api = data.draw(st.booleans())
    event = data.draw(events.apigw_events(deployment.world, http_api=http_api))
    answer, logs = serve(deployment, event, hardened)
    if "batchItemFailures" in answer:
        return
    check_proxy_answer(answer)
    check_status(answer, event)
    lines = [line for line in logs if line["event"] == "request"]
    for line in lines:
        if str(line.get("op", "")).lower().startswith("control/") and line["status"] < 400:
            raise AssertionError(f"the policy denies control operations: {line}")


@examples(600)
@given(data=st.data())
def test_hardened_sqs_batches(
    deployment: Deployment, hardened: Dispatcher, data: st.DataObject
) -> None:
    event = data.draw(events.sqs_events(deployment.world))
    answer, logs = serve(deployment, event, hardened)
    if "batchItemFailures" not in answer:
        check_proxy_answer(answer)
        check_status(answer, event)
        return
    assert answer["batchItemFailures"] == [], [line for line in logs if line.get("outcome")]
    records = [line for line in logs if line["event"] == "sqs.record"]
    assert len(records) == len(event["Records"])
    ran = {line["request_id"] for line in logs if line["event"] == "request"}
    for line in records:
        record = line.get("record")
        attributes = record.get("attributes") if isinstance(record, dict) else None
        sender = attributes.get("SenderId") if isinstance(attributes, dict) else None
        if sender != HARDENED_SENDER:
            # Refused before its body is read: never run, logged whole, not retried.
            assert line["outcome"] in ("refused", "failed"), line
            assert line.get("message_id") not in ran, line
    refused = [line for line in records if line["outcome"] == "refused"]
    for line in refused:
        assert line["status"] == 403, line


@examples(400)
@given(data=st.data())
def test_hardened_direct_and_scheduled_events(
    deployment: Deployment, hardened: Dispatcher, data: st.DataObject
) -> None:
    event = data.draw(
        st.one_of(events.direct_events(deployment.world), events.scheduled_events(deployment.world))
    )
    answer, logs = serve(deployment, event, hardened)
    if "rules" in answer:
        assert answer["outcome"] != "retry", answer
        actions = [line for line in logs if line["event"] == "scheduled.action"]
        assert all(line["status"] < 500 for line in actions), actions
        return
    if "batchItemFailures" in answer:
        return
    if isinstance(event, dict) and "OpType" in event and "Records" not in event:
        check_direct_answer(answer)
    else:
        check_proxy_answer(answer)
    check_status(answer, event)


def test_the_hardened_settings_refuse_what_they_should(
    deployment: Deployment, hardened: Dispatcher
) -> None:
    """The generated runs above are only worth something if the settings bite."""
    instance = deployment.world.instance_ids[0]
    write = apigw_rest_event(
        "POST", "configuration/app.disable", body="0", identity=instance_identity(instance)
    )
    answer, _ = serve(deployment, write, hardened)
    assert answer["statusCode"] == 403, answer
    # Lenient names route the spelling IAM saw as ``CONTROL//RESCHEDULENOW``; the policy,
    # evaluated on the routed name, denies it.
    control = apigw_rest_event("POST", "CONTROL//RESCHEDULENOW")
    answer, _ = serve(deployment, control, hardened)
    assert answer["statusCode"] == 403, answer
    assert "control/reschedulenow" in answer["body"], answer
    answer, _ = serve(deployment, apigw_rest_event("GET", "Configuration//app.disable"), hardened)
    assert answer["statusCode"] == 200, answer
    stranger = sqs_record({"OpType": "notify/ackevent"}, sender_id="AROAOTHER:i-0bbb")
    answer, logs = serve(deployment, {"Records": [stranger]}, hardened)
    assert answer == {"batchItemFailures": []}
    assert [line["outcome"] for line in logs if line["event"] == "sqs.record"] == ["refused"]


def _content(table: RawTable) -> dict[str, str]:
    return table.content()


@examples(1500)
@given(
    op=st.sampled_from(["configuration", "scheduler"]),
    document=events.documents,
    restore=st.booleans(),
    fmt=st.sampled_from(["json", "json", "yaml"]),
)
def test_documents_are_written_whole_or_not_at_all(
    deployment: Deployment, op: str, document: dict[str, Any], restore: bool, fmt: str
) -> None:
    setting = "ConfigurationTable" if op == "configuration" else "SchedulerTable"
    table = RawTable(deployment.dispatcher.aws.client("dynamodb"), deployment.settings[setting])
    before = table.content()
    params = {"format": fmt, **({"restore": "true", "confirm": "true"} if restore else {})}
    body = json.dumps(document)  # JSON is YAML too
    answer, _ = serve(deployment, apigw_rest_event("POST", op, params=params, body=body))
    check_proxy_answer(answer)
    check_status(answer, document)
    after = table.content()
    if answer["statusCode"] != 200:
        assert after == before
        return
    for key, value in document.items():
        if value is None or value == "":
            assert key not in after, key
        elif not isinstance(value, list | dict):  # an empty list is no value: either
            assert key in after, key
    if any(isinstance(value, dict) for value in document.values()):
        return  # a mapping writes parameter-set items, under names of their own
    for key, value in before.items():
        if key not in document:
            assert after.get(key) == (None if restore else value), key


# What the generators found, kept as plain examples.


@pytest.mark.parametrize(
    "change",
    [
        {"httpMethod": "\ud800"},
        {"queryStringParameters": {"\ud800": ""}, "multiValueQueryStringParameters": None},
        {"httpMethod": "X" * 100_000},
    ],
    ids=["surrogate method", "surrogate parameter name", "huge method"],
)
def test_a_refusal_quoting_what_was_sent_can_be_sent(
    deployment: Deployment, change: dict[str, Any]
) -> None:
    event = {**apigw_rest_event("GET", "configuration"), **change}
    answer, _ = serve(deployment, event)
    check_proxy_answer(answer)
    assert 400 <= answer["statusCode"] < 500
    assert len(answer["body"]) < 2_000


def test_a_scheduled_event_naming_no_rule_of_ours_answers_what_can_be_sent(
    deployment: Deployment,
) -> None:
    event = {
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "resources": ["\ud800", "x" * 10_000],
        "detail": {},
    }
    answer, _ = serve(deployment, event)
    assert answer["outcome"] == "no entry"
    assert all(len(rule["rule"]) < 300 for rule in answer["rules"])
