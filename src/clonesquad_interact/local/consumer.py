"""The Interact queue consumed as Lambda's SQS event source does it.

A thread long-polls the queue, hands each batch to the handler as the SQS event
Lambda builds, and deletes the messages the answer does not list in
``batchItemFailures`` (the event source's ``ReportBatchItemFailures``). A listed
message stays in the queue: it comes back after the visibility timeout, and past
the redrive policy's ``maxReceiveCount`` SQS moves it to the dead-letter queue.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

import structlog

__all__ = ["QueueConsumer", "lambda_record"]

logger = structlog.get_logger(__name__)

#: Lambda's default batch size for an SQS event source.
BATCH_SIZE = 10


class QueueConsumer:
    """Consumes ``queue_url`` with ``sqs`` (a boto3 client) and hands batches to ``handle``.

    :param wait_seconds: the long poll's wait; stopping takes at most that long.
    """

    def __init__(
        self,
        handle: Callable[[dict[str, Any], Any], Any],
        sqs: Any,
        queue_url: str,
        *,
        region: str,
        wait_seconds: int = 1,
    ) -> None:
        self.handle = handle
        self.sqs = sqs
        self.queue_url = queue_url
        self.region = region
        self.wait_seconds = wait_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._arn: str | None = None

    @property
    def queue_arn(self) -> str:
        """The queue's ARN (``eventSourceARN``)."""
        if self._arn is None:
            attributes = self.sqs.get_queue_attributes(
                QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
            )
            self._arn = str(attributes["Attributes"]["QueueArn"])
        return self._arn

    @property
    def running(self) -> bool:
        """Whether the consuming thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Consume in a thread until :meth:`stop`."""
        self._thread = threading.Thread(target=self._run, name="queue-consumer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current poll (and the batch it brought)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception as exc:  # the endpoint went away, throttling...: wait, then again
                logger.warning("queue poll failed", queue=self.queue_url, error=repr(exc))
                self._stop.wait(self.wait_seconds)

    def poll(self) -> int:
        """Receive one batch, serve it, delete what succeeded; the number of messages received."""
        received = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=BATCH_SIZE,
            WaitTimeSeconds=self.wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = received.get("Messages") or []
        if not messages:
            return 0
        arn = self.queue_arn
        records = [lambda_record(m, arn, self.region) for m in messages]
        answer = self.handle({"Records": records}, None)
        failed = _failures(answer, records)
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), BATCH_SIZE):
            chunk = done[start : start + BATCH_SIZE]
            deleted = self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)
                ],
            )
            for failure in deleted.get("Failed") or []:
                message = chunk[int(failure["Id"])]
                logger.warning(
                    "message not deleted: it will be received again",
                    message_id=message["MessageId"],
                    code=failure.get("Code"),
                    reason=failure.get("Message"),
                    queue=self.queue_url,
                )
        if failed:
            logger.info("messages back to the queue", count=len(failed), queue=self.queue_url)
        return len(messages)


def _failures(answer: Any, records: list[dict[str, Any]]) -> set[str]:
    """The message ids to leave in the queue; every one when the answer is not understood."""
    every = {str(r["messageId"]) for r in records}
    if not isinstance(answer, Mapping) or not isinstance(answer.get("batchItemFailures"), list):
        return every
    failed: set[str] = set()
    for item in answer["batchItemFailures"]:
        identifier = item.get("itemIdentifier") if isinstance(item, Mapping) else None
        if not isinstance(identifier, str) or identifier not in every:
            return every  # Lambda treats an unusable identifier as the whole batch failing
        failed.add(identifier)
    return failed


def lambda_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """The record Lambda builds for a message received from SQS."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": {
            name: _attribute(value)
            for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    import base64

    binary = value.get("BinaryValue")
    attribute: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues") or []),
        "binaryListValues": [
            base64.b64encode(v).decode() for v in value.get("BinaryListValues") or []
        ],
        "dataType": value.get("DataType", "String"),
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if binary is not None:
        attribute["binaryValue"] = base64.b64encode(binary).decode()
    return attribute
