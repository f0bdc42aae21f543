"""SQS batches: every message is done, returned to the queue, or recorded whole as failed.

The Lambda event source must be configured with ``ReportBatchItemFailures``: the
answer ``{"batchItemFailures": [{"itemIdentifier": messageId}, ...]}`` sends back
exactly the messages worth trying again (a 5xx, throttling, an unexpected error).
A message that can never succeed (not JSON, no ``OpType``, unknown operation,
wrong interface, invalid parameters, or an AWS call that AWS refuses for good:
access denied, a request it finds invalid) is logged whole, with its message id,
and acknowledged; so is a message refused (403: its sender is not one the queue
accepts, or an authorization plugin denies it), which is never run. Every
message's outcome is one ``sqs.record`` line: ``done`` with the answer
(``Ok (1 event(s) acknowledged)``), ``retry``, ``failed`` or ``refused`` with the
reason; a message that became a request has the fields of its request line
(operation, plugin, duration...) in the same line.

With ``CLONESQUAD_INTERACT_SQS_SENDERS`` set (patterns on the record's
``SenderId``, ``*`` and ``?`` as wildcards), a message from any other sender is
refused before its body is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import orjson
import structlog

from .errors import AWSCallRefused, BadRequest, PayloadTooLarge, excerpt, logged_name
from .events import from_sqs_record
from .globs import GlobSet
from .log import CachedLogger
from .request import Request
from .response import Response

__all__ = ["SENDERS_SETTING", "all_failed", "handle_batch", "sender_allowlist"]

logger = structlog.get_logger(__name__)
#: The logger of the ``sqs.record`` line, written for every message.
record_logger = CachedLogger(__name__)

#: The setting that lists the senders whose messages are run.
SENDERS_SETTING = "CLONESQUAD_INTERACT_SQS_SENDERS"


def sender_allowlist(environ: Mapping[str, str]) -> GlobSet | None:
    """The ``SenderId`` patterns of :data:`SENDERS_SETTING` (comma- or space-separated),
    ``None`` when it is unset (every sender's messages are run)."""
    text = environ.get(SENDERS_SETTING, "")
    patterns = [p for p in text.replace(",", " ").split() if p]
    return GlobSet(patterns) if patterns else None


class Dispatch(Protocol):
    """What serves the messages of a batch (the dispatcher)."""

    #: Re-raise unexpected exceptions instead of returning the message to the queue.
    raise_unexpected: bool
    #: The senders whose messages are run (``None``: every sender's).
    sqs_senders: GlobSet | None

    def dispatch_quietly(self, request: Request) -> tuple[Response, dict[str, Any]]:
        """Serve ``request``; the response and the fields of its request line, unwritten."""
        ...


def handle_batch(dispatcher: Dispatch, records: list[Any]) -> dict[str, Any]:
    """Serve each record; answer the ones to receive again."""
    failures: list[dict[str, str]] = []
    for record in records:
        message_id = _message_id(record)
        if not _serve_record(dispatcher, record, message_id):
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}


def all_failed(records: list[Any]) -> dict[str, Any]:
    """The answer that returns every record of a batch to the queue."""
    return {"batchItemFailures": [{"itemIdentifier": _message_id(r)} for r in records]}


def _message_id(record: Any) -> str:
    # An unusable id ("") makes Lambda return the whole batch: nothing is lost.
    usable = type(record) is dict or isinstance(record, Mapping)
    message_id = record.get("messageId") if usable else None
    return message_id if isinstance(message_id, str) else ""


def _serve_record(dispatcher: Dispatch, record: Any, message_id: str) -> bool:
    """Serve one record; ``False`` if it should come back (a retryable failure)."""
    senders = dispatcher.sqs_senders
    if senders is not None:
        sender = _sender_id(record)
        if sender is None or not senders.matches(sender):
            logger.error(
                "sqs.record",
                message_id=message_id,
                outcome="refused",
                status=403,
                error=(
                    f"the sender {excerpt(sender) if sender is not None else '(none)'} is not "
                    f"one that {SENDERS_SETTING} lists: the message is not run"
                ),
                record=record,
            )
            return True
    op: str | None = None
    fields: dict[str, Any] = {}
    kind: str | None
    try:
        request = from_sqs_record(record)
        op = request.op
        response, fields = dispatcher.dispatch_quietly(request)
    except (BadRequest, PayloadTooLarge) as error:  # the message cannot be a request
        status, message, kind = error.status, error.message, error.kind
    except Exception:
        if dispatcher.raise_unexpected:
            raise
        logger.exception("sqs.record", message_id=message_id, outcome="retry", record=record)
        return False
    else:
        if response.ok:
            fields.update(
                message_id=message_id,
                outcome="done",
                status=response.status,
                answer=_answer_text(response.body),
            )
            record_logger.get().info("sqs.record", **fields)
            return True
        status = response.status
        message, kind = _error_of(response)
    fields.update(
        message_id=message_id,
        op=logged_name(op) if op is not None else None,
        status=status,
        error=message,
    )
    retryable = status >= 500 or status in (409, 429)  # 409: a concurrent writer
    if retryable and kind not in _PERMANENT_KINDS:
        fields["outcome"] = "retry"
        if status == 500:  # an internal error (a bug: the line carries its traceback)
            record_logger.get().error("sqs.record", **fields)
        else:  # throttling, a service unavailable for now, a concurrent writer
            record_logger.get().warning("sqs.record", **fields)
        return False
    fields.update(outcome="refused" if status == 403 else "failed", record=record)
    record_logger.get().error("sqs.record", **fields)
    return True


def _sender_id(record: Any) -> str | None:
    attributes = record.get("attributes") if isinstance(record, Mapping) else None
    sender = attributes.get("SenderId") if isinstance(attributes, Mapping) else None
    return sender if isinstance(sender, str) else None


#: Error types of a server-side failure that trying again cannot fix.
_PERMANENT_KINDS = frozenset({AWSCallRefused.kind})


def _error_of(response: Response) -> tuple[Any, str | None]:
    """The message and the type of an error answer."""
    body = response.body
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        kind = body["error"].get("type")
        return body["error"].get("message"), kind if isinstance(kind, str) else None
    return body, None


#: How much of an answer the ``sqs.record`` line shows.
ANSWER_LIMIT = 500


def _answer_text(body: Any) -> str:
    """The answer as one line of text, at most :data:`ANSWER_LIMIT` characters."""
    if isinstance(body, str):
        text = body
    else:
        try:
            text = orjson.dumps(body, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        except TypeError:  # what orjson refuses: an integer past 64 bits, a lone surrogate
            import json

            text = json.dumps(body, default=str, separators=(",", ":"))
    text = " ".join(text.split())
    return text if len(text) <= ANSWER_LIMIT else text[: ANSWER_LIMIT - 1] + "…"
