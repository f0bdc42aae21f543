"""The local consumer of the Interact queue: what succeeds is deleted, what fails comes back
and, past the redrive count, lands in the dead-letter queue (on moto)."""

from __future__ import annotations

import json

import boto3
import pytest
import structlog.testing

from clonesquad_interact import Interface, Operation, ServiceUnavailable, hookimpl
from clonesquad_interact.local.consumer import QueueConsumer, lambda_record
from clonesquad_interact.testing import sample_event

DRAFT = "https://json-schema.org/draft/2020-12/schema"


class QueueOperations:
    """One operation that works, one whose AWS is unavailable (worth retrying)."""

    def __init__(self) -> None:
        self.served: list[str] = []

    @hookimpl
    def register_operations(self):
        return [
            Operation(
                route="queue/fine",
                handler=self.fine,
                summary="Works.",
                interfaces={Interface.SQS},
                schema={"$schema": DRAFT, "properties": {"params": {"additionalProperties": True}}},
            ),
            Operation(
                route="queue/flaky",
                handler=self.flaky,
                summary="Always unavailable.",
                interfaces={Interface.SQS},
                schema={"$schema": DRAFT},
            ),
        ]

    def fine(self, request):
        self.served.append(request.params["n"])
        return "ok"

    def flaky(self, request):
        raise ServiceUnavailable("not now", retry_after=1)


@pytest.fixture
def operations():
    return QueueOperations()


@pytest.fixture
def interact_plugins(operations):
    return [operations]


@pytest.fixture
def sqs(deployment):
    client = boto3.client("sqs")
    # Failed messages come back at once, so that the test need not wait.
    client.set_queue_attributes(
        QueueUrl=deployment["InteractQueue"], Attributes={"VisibilityTimeout": "0"}
    )
    return client


@pytest.fixture
def consumer(deployment, interact_dispatcher, sqs):
    return QueueConsumer(
        interact_dispatcher.handle, sqs, deployment["InteractQueue"], region="eu-west-3"
    )


def count(sqs, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def test_served_messages_are_deleted(deployment, sqs, consumer, operations):
    url = deployment["InteractQueue"]
    for n in range(12):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"OpType": "queue/fine", "n": n}))
    received = 0
    while received < 12:
        got = consumer.poll()
        assert got, "messages were lost"
        received += got
    assert sorted(operations.served) == list(range(12))
    assert count(sqs, url) == 0


def test_a_message_that_can_never_succeed_is_deleted(deployment, sqs, consumer):
    url = deployment["InteractQueue"]
    sqs.send_message(QueueUrl=url, MessageBody="not json")
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"OpType": "no/such/operation"}))
    assert consumer.poll() == 2
    assert count(sqs, url) == 0
    assert count(sqs, deployment["InteractDeadLetterQueue"]) == 0


def test_a_failed_message_comes_back_then_goes_to_the_dead_letter_queue(
    deployment, sqs, consumer, operations
):
    url, dead_letters = deployment["InteractQueue"], deployment["InteractDeadLetterQueue"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"OpType": "queue/flaky"}))
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"OpType": "queue/fine", "n": 1}))
    assert consumer.poll() == 2
    assert operations.served == [1]
    # The failed one is received again, up to maxReceiveCount (3) times...
    assert consumer.poll() == 1
    assert consumer.poll() == 1
    # ...then SQS moves it to the dead-letter queue.
    assert consumer.poll() == 0
    assert count(sqs, url) == 0
    moved = sqs.receive_message(QueueUrl=dead_letters)["Messages"]
    assert [json.loads(m["Body"])["OpType"] for m in moved] == ["queue/flaky"]


def test_the_consumer_thread_stops(consumer):
    consumer.wait_seconds = 0
    consumer.start()
    assert consumer.running
    consumer.stop()
    assert not consumer.running


def test_records_have_the_shape_lambda_gives_them(deployment, sqs):
    url = deployment["InteractQueue"]
    sqs.send_message(
        QueueUrl=url,
        MessageBody="{}",
        MessageAttributes={
            "kind": {"DataType": "String", "StringValue": "x"},
            "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )
    (message,) = sqs.receive_message(
        QueueUrl=url, AttributeNames=["All"], MessageAttributeNames=["All"]
    )["Messages"]
    record = lambda_record(message, "arn:aws:sqs:eu-west-3:123456789012:q", "eu-west-3")
    sample = sample_event("sqs_record")
    assert set(sample) <= set(record)
    assert set(sample["attributes"]) <= set(record["attributes"])
    assert record["eventSource"] == "aws:sqs"
    assert record["messageAttributes"]["kind"]["stringValue"] == "x"
    assert record["messageAttributes"]["raw"]["binaryValue"] == "AAE="


class FailingDeletes:
    """An SQS client whose batch deletes fail for their first entry."""

    def __init__(self, sqs) -> None:
        self.sqs = sqs

    def __getattr__(self, name):
        return getattr(self.sqs, name)

    def delete_message_batch(self, QueueUrl, Entries):
        answer = (
            self.sqs.delete_message_batch(QueueUrl=QueueUrl, Entries=Entries[1:])
            if len(Entries) > 1
            else {}
        )
        failed = {"Id": Entries[0]["Id"], "SenderFault": True, "Code": "ReceiptHandleIsInvalid"}
        return {**answer, "Failed": [*answer.get("Failed", []), failed]}


def test_a_failed_delete_is_logged(deployment, interact_dispatcher, sqs):
    url = deployment["InteractQueue"]
    sent = sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"OpType": "queue/fine", "n": 1}))
    consumer = QueueConsumer(
        interact_dispatcher.handle, FailingDeletes(sqs), url, region="eu-west-3"
    )
    with structlog.testing.capture_logs() as logs:
        assert consumer.poll() == 1
    (failure,) = [log for log in logs if log["event"].startswith("message not deleted")]
    assert failure["message_id"] == sent["MessageId"]
    assert failure["code"] == "ReceiptHandleIsInvalid"
