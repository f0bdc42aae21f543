"""Every class of AWS fault, on the reads of the fleet operations (precomputed or live)
and on the S3 writes of ``backup`` and ``debug/publishreportnow``: each is classified
once, by ``errors.from_aws``.

Throttling, a service's 5xx, a read or connect timeout: a 503 with ``Retry-After`` (over
SQS, the message goes back to the queue). Access denied and a refused request: a
permanent failure that names the error code (the fleet operations: a 500 without
``Retry-After``; backup and the debug report: a 424 that says what to fix; over SQS the
message is recorded whole as failed and not sent back). No AWS message text and no
traceback reaches an answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import pytest
from botocore.retries.standard import ExponentialBackoff
from structlog.testing import capture_logs

import faults
from clonesquad_interact import AWS, Dispatcher
from clonesquad_interact.testing import InteractClient, instance_identity, sqs_record
from seeded import Seeded, seeded_deployment

PERMANENT_STATUS = {"fleet": 500, "backup": 424, "debug": 424}

#: One fault of each class the brief names.
FAULT_CLASSES: tuple[faults.Fault | faults.Raised, ...] = (
    faults.THROTTLING,
    faults.INTERNAL_SERVER_ERROR,
    faults.SERVICE_UNAVAILABLE,
    faults.READ_TIMEOUT,
    faults.CONNECT_TIMEOUT,
    faults.ACCESS_DENIED,
    faults.VALIDATION,
)
READS = {"GetItem", "BatchGetItem", "Query", "Scan"}


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's retries still run, without sleeping between them."""
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)


@pytest.fixture(scope="module")
def seeded(aws_clients: AWS) -> Iterator[Seeded]:
    with seeded_deployment(aws_clients) as deployment:
        yield deployment


@pytest.fixture
def dispatcher(seeded: Seeded, aws_clients: AWS) -> Dispatcher:
    """A fresh production dispatcher: no answer cached by an earlier test."""
    return Dispatcher(entry_points=False, raise_unexpected=False, aws=aws_clients)


def _metadata(client: InteractClient, seeded: Seeded) -> Any:
    identity = instance_identity(seeded.fleet.caller_instance)
    return client.get("metadata", identity=identity)


def _get(path: str) -> Callable[[InteractClient, Seeded], Any]:
    return lambda client, seeded: client.get(path)


FLEET_REQUESTS = {
    "fleet/status": _get("fleet/status"),
    "fleet/metadata": _get("fleet/metadata"),
    "allmetadatas": _get("allmetadatas"),
    "metadata": _metadata,
    "cloudwatch/sentmetrics": _get("cloudwatch/sentmetrics"),
    "cloudwatch/metriccache": _get("cloudwatch/metriccache"),
}


def transient(fault: faults.Fault | faults.Raised) -> bool:
    return fault in faults.TRANSIENT


def check_api_answer(
    answer: Any, fault: faults.Fault | faults.Raised, permanent_status: int
) -> None:
    """The answer of an API Gateway (or direct) request that met ``fault``."""
    assert faults.MESSAGE not in answer.text
    assert "Traceback" not in answer.text
    error = answer.json()["error"]
    if transient(fault):
        assert answer.status_code == 503, answer.text
        assert int(answer.headers["Retry-After"]) > 0
        assert error["type"] == "ServiceUnavailable"
    else:
        assert answer.status_code == permanent_status, answer.text
        assert "Retry-After" not in answer.headers
        assert fault.code in error["message"]


def check_sqs_answer(
    answer: dict[str, Any],
    logs: Sequence[Mapping[str, Any]],
    fault: faults.Fault | faults.Raised,
    message_id: str,
) -> None:
    """The batch answer (and the record's log line) of a message that met ``fault``."""
    text = json.dumps(answer)
    assert faults.MESSAGE not in text
    assert "Traceback" not in text
    (line,) = [entry for entry in logs if entry["event"] == "sqs.record"]
    assert faults.MESSAGE not in str(line.get("error", ""))
    if transient(fault):
        assert answer == {"batchItemFailures": [{"itemIdentifier": message_id}]}
        assert line["outcome"] == "retry"
    else:  # failed for good: recorded whole, not sent back
        assert answer == {"batchItemFailures": []}
        assert line["outcome"] == "failed", line
        assert fault.code in line["error"]
        assert line["record"]["messageId"] == message_id


@pytest.mark.parametrize("fault", FAULT_CLASSES, ids=lambda f: f.code)
@pytest.mark.parametrize("path", sorted(FLEET_REQUESTS))
def test_a_fault_on_the_reads_of_a_fleet_operation_is_classified(
    seeded: Seeded, dispatcher: Dispatcher, path: str, fault: faults.Fault | faults.Raised
) -> None:
    client = InteractClient(dispatcher)
    with faults.injected(dispatcher.aws.client("dynamodb"), READS, fault) as made:
        answer = FLEET_REQUESTS[path](client, seeded)
    assert made, "the operation reads DynamoDB"
    check_api_answer(answer, fault, PERMANENT_STATUS["fleet"])
    if not transient(fault):
        assert answer.json()["error"]["type"] == "AWSCallRefused"
    assert FLEET_REQUESTS[path](client, seeded).status_code == 200, "the fault gone, it works"


def _s3_fault(dispatcher: Dispatcher, fault: faults.Fault | faults.Raised) -> Any:
    return faults.injected(dispatcher.aws.client("s3"), {"PutObject"}, fault)


@pytest.mark.parametrize("fault", FAULT_CLASSES, ids=lambda f: f.code)
def test_a_fault_on_the_s3_writes_of_a_backup_is_classified_over_api_gateway(
    dispatcher: Dispatcher, fault: faults.Fault | faults.Raised
) -> None:
    client = InteractClient(dispatcher)
    with _s3_fault(dispatcher, fault) as made:
        answer = client.get("backup")
    assert made
    check_api_answer(answer, fault, PERMANENT_STATUS["backup"])
    if not transient(fault):
        assert answer.json()["error"]["type"] == "BackupNotWritten"
        assert "MetadataAndBackupS3Path" in answer.json()["error"]["message"]
    assert client.get("backup").status_code == 200


@pytest.mark.parametrize("fault", FAULT_CLASSES, ids=lambda f: f.code)
@pytest.mark.parametrize("op", ["backup", "debug/publishreportnow"])
def test_a_fault_on_the_s3_writes_is_classified_over_sqs(
    dispatcher: Dispatcher, op: str, fault: faults.Fault | faults.Raised
) -> None:
    client = InteractClient(dispatcher)
    record = sqs_record({"OpType": op}, message_id="m-1")
    with _s3_fault(dispatcher, fault) as made, capture_logs() as logs:
        answer = client.sqs(record)
    assert made
    check_sqs_answer(answer, logs, fault, "m-1")
    assert client.sqs(record) == {"batchItemFailures": []}, "the fault gone, it is done"


@pytest.mark.parametrize("fault", FAULT_CLASSES, ids=lambda f: f.code)
def test_a_fault_on_the_s3_write_of_a_direct_debug_report_is_classified(
    dispatcher: Dispatcher, fault: faults.Fault | faults.Raised
) -> None:
    event = {"OpType": "debug/publishreportnow", "Method": "POST"}
    with _s3_fault(dispatcher, fault) as made:
        answer = dispatcher.handle(event, None)
    assert made
    text = json.dumps(answer)
    assert faults.MESSAGE not in text
    assert "Traceback" not in text
    error = answer["body"]["error"]
    if transient(fault):
        assert answer["statusCode"] == 503, answer
        assert error["type"] == "ServiceUnavailable"
    else:
        assert answer["statusCode"] == PERMANENT_STATUS["debug"], answer
        assert error["type"] == "ReportNotWritten"
        assert fault.code in error["message"]
        assert "LoggingS3Path" in error["message"]


@pytest.mark.parametrize(
    ("code", "status", "name", "retryable"),
    [
        ("403", 403, "AccessDenied", False),
        ("404", 404, "NotFound", False),
        ("", 503, "HTTP 503", True),
        ("SlowDown", 503, "SlowDown", True),
        ("InvalidRequest", 400, "InvalidRequest", False),
    ],
)
def test_an_answer_without_an_error_code_is_named_by_its_status(
    code: str, status: int, name: str, retryable: bool
) -> None:
    from botocore.exceptions import ClientError

    from clonesquad_interact.errors import aws_error_name, from_aws

    answer: Any = {
        "Error": {"Code": code, "Message": faults.MESSAGE},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    error = ClientError(answer, "PutObject")
    mapped = from_aws(error)
    assert aws_error_name(error) == name
    assert mapped is not None
    assert mapped.retryable is retryable
    assert name in mapped.message
    assert faults.MESSAGE not in mapped.message


def test_a_call_without_an_answer_is_named_by_its_exception() -> None:
    from botocore.exceptions import ReadTimeoutError

    from clonesquad_interact.errors import aws_error_name, from_aws

    error = ReadTimeoutError(endpoint_url="https://dynamodb", error=faults.MESSAGE)
    assert aws_error_name(error) == "ReadTimeoutError"
    mapped = from_aws(error)
    assert mapped is not None
    assert mapped.status == 503
    assert mapped.retryable
    assert faults.MESSAGE not in mapped.message
