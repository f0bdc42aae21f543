"""``clonesquad-interact replay``: recorded Lambda events served again, for evidence.

An operator moving from CloneSquad's own Interact function to this one replays
what the old function received (API Gateway and SQS events, scheduled ones) and
reads, operation by operation, how the new one answers. Events come from JSON
files, directories of them, or an S3 prefix laid out as CloneSquad archives them
(``<LoggingS3Path>InteractEvents/<date>.json``, one event per object, written when
``app.archive_interact_events`` is on). Each is served in-process, as the Lambda
handler serves it, against the AWS the caller prepared.

A scheduled event (an EventBridge rule of a Scheduler entry) is summarized under
``scheduled:<entry>``, the entry whose rule it is now (``scheduled:(no entry)``, a
404, when no entry has that rule any more); without ``--allow-writes`` it is not run
but its summary says what it would do.

Writes are refused unless asked for: an event that asks for one (an API Gateway
``POST``, an SQS message, a direct ``POST``, a scheduled event) is skipped, and
any AWS call that is not a read (``Get*``, ``Describe*``, ``List*``, ``Scan``,
``Query``, ``BatchGet*``, ``Head*``) that an operation makes anyway is refused
before it leaves (a botocore ``before-call`` hook), and counted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from .dispatcher import Dispatcher
from .errors import BadRequest, InteractError, from_aws
from .events import from_sqs_record
from .request import Interface
from .scheduled import Resolved, ScheduledEventFailed, is_scheduled_event, resolve

__all__ = ["READ_PREFIXES", "Outcome", "Recorded", "Summary", "read_events", "replay"]

#: AWS operations that only read (the others are refused without ``allow_writes``).
READ_PREFIXES = ("Get", "Describe", "List", "Scan", "Query", "BatchGet", "Head", "Select")
#: The services whose clients are watched for writes.
SERVICES = ("dynamodb", "s3", "sqs", "ec2", "cloudwatch")
#: How many failures each operation's summary shows.
FIRST_FAILURES = 3


@dataclass(frozen=True, slots=True)
class Recorded:
    """One recorded event and where it came from (``error``: it could not be read)."""

    source: str
    event: Any = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one operation call of a replayed event came to."""

    source: str
    operation: str
    #: ``2xx``, ``4xx``, ``5xx``, ``skipped`` (a write, not asked for) or ``unreadable``.
    status_class: str
    status: int | None = None
    reason: str | None = None
    #: AWS calls refused because they write.
    writes_refused: tuple[str, ...] = ()


@dataclass
class Summary:
    """Per operation: how many, by status class, the first few failures, and the first
    few events skipped and why (a scheduled event: what it would do)."""

    operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: int = 0

    def add(self, outcome: Outcome) -> None:
        entry = self.operations.setdefault(
            outcome.operation,
            {"count": 0, "status": {}, "writes_refused": 0, "failures": [], "skipped": []},
        )
        entry["count"] += 1
        entry["status"][outcome.status_class] = entry["status"].get(outcome.status_class, 0) + 1
        entry["writes_refused"] += len(outcome.writes_refused)
        if outcome.status_class == "skipped" and len(entry["skipped"]) < FIRST_FAILURES:
            entry["skipped"].append({"source": outcome.source, "reason": outcome.reason})
        failed = outcome.status_class in ("4xx", "5xx", "unreadable") or outcome.writes_refused
        if failed and len(entry["failures"]) < FIRST_FAILURES:
            reason = outcome.reason or ""
            if outcome.writes_refused:
                reason = f"{reason} (writes refused: {', '.join(outcome.writes_refused)})".strip()
            entry["failures"].append(
                {"source": outcome.source, "status": outcome.status, "reason": reason}
            )

    @property
    def failed(self) -> bool:
        """Whether any call answered an error or could not be read."""
        return any(
            entry["status"].get(kind)
            for entry in self.operations.values()
            for kind in ("4xx", "5xx", "unreadable")
        )

    def as_dict(self) -> dict[str, Any]:
        return {"events": self.events, "operations": dict(sorted(self.operations.items()))}

    def text(self) -> str:
        """The summary for a terminal."""
        lines = [f"{self.events} event(s) replayed"]
        for name, entry in sorted(self.operations.items()):
            status = ", ".join(f"{kind} {n}" for kind, n in sorted(entry["status"].items()))
            refused = f"; {entry['writes_refused']} write(s) refused" * bool(
                entry["writes_refused"]
            )
            lines.append(f"{name or '(root)'}: {entry['count']} ({status}){refused}")
            for failure in entry["failures"]:
                lines.append(
                    f"    {failure['source']}: {failure['status'] or '-'} {failure['reason']}"
                )
            for skipped in entry["skipped"]:
                lines.append(f"    {skipped['source']}: skipped, {skipped['reason']}")
        return "\n".join(lines)


# -------------------------------------------------------------------------
# Reading recorded events
# -------------------------------------------------------------------------


def read_events(sources: Iterable[str], s3: Callable[[], Any]) -> Iterator[Recorded]:
    """The events of each source: a JSON file (one event, or a list of them), a
    directory (its ``*.json`` files, recursively, in name order), or an
    ``s3://bucket/prefix`` (its ``.json`` objects, in key order).

    :param s3: makes the S3 client that reads ``s3://`` sources (called once, if needed).
    """
    client: Any = None
    for source in sources:
        if source.startswith("s3://"):
            if client is None:
                client = s3()
            yield from _s3_events(client, source)
            continue
        path = Path(source)
        if path.is_dir():
            for file in sorted(path.rglob("*.json")):
                yield from _file_events(file)
        else:
            yield from _file_events(path)


def _file_events(path: Path) -> Iterator[Recorded]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        yield Recorded(str(path), error=f"cannot read it: {exc}")
        return
    yield from _parsed(str(path), text)


def _s3_events(client: Any, url: str) -> Iterator[Recorded]:
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    paginator = client.get_paginator("list_objects_v2")
    keys = [
        item["Key"]
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents", [])
        if item["Key"].endswith(".json")
    ]
    for key in sorted(keys):
        source = f"s3://{bucket}/{key}"
        try:
            text = client.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
        except Exception as exc:  # one unreadable object does not stop the replay
            yield Recorded(source, error=f"cannot read it: {exc}")
            continue
        yield from _parsed(source, text)


def _parsed(source: str, text: str) -> Iterator[Recorded]:
    try:
        document = json.loads(text)
    except ValueError as exc:
        yield Recorded(source, error=f"not JSON: {exc}")
        return
    if isinstance(document, list):
        for index, event in enumerate(document):
            yield Recorded(f"{source}[{index}]", event)
    else:
        yield Recorded(source, document)


# -------------------------------------------------------------------------
# Serving them again
# -------------------------------------------------------------------------


def replay(
    recorded: Iterable[Recorded],
    *,
    allow_writes: bool = False,
    dispatcher: Dispatcher | None = None,
    progress: Callable[[int], None] | None = None,
    progress_every: float = 2.0,
) -> Summary:
    """Serve each recorded event; the summary of what they came to.

    :param progress: called with the number of events done so far, at most once
        every ``progress_every`` seconds.
    """
    dispatcher = dispatcher or Dispatcher()
    refused: list[str] = []
    if not allow_writes:
        _refuse_writes(dispatcher, refused)
    summary = Summary()
    last = time.monotonic()
    for item in recorded:
        summary.events += 1
        for outcome in _outcomes(dispatcher, item, allow_writes, refused):
            summary.add(outcome)
        if progress is not None and time.monotonic() - last >= progress_every:
            progress(summary.events)
            last = time.monotonic()
    return summary


def _refuse_writes(dispatcher: Dispatcher, refused: list[str]) -> None:
    from botocore.exceptions import ClientError

    def before_call(model: Any, **kwargs: Any) -> None:
        name = str(model.name)
        if not name.startswith(READ_PREFIXES):
            refused.append(name)
            raise ClientError(
                {
                    "Error": {
                        "Code": "AccessDenied",
                        "Message": f"replay refuses {name} (a write): run it with --allow-writes",
                    }
                },
                name,
            )

    for service in SERVICES:
        dispatcher.aws.client(service).meta.events.register("before-call.*.*", before_call)


def _outcomes(
    dispatcher: Dispatcher, item: Recorded, allow_writes: bool, refused: list[str]
) -> Iterator[Outcome]:
    if item.error is not None or not isinstance(item.event, Mapping):
        reason = item.error or "not a Lambda event (a JSON object)"
        yield Outcome(item.source, "(unreadable)", "unreadable", reason=reason)
        return
    event = item.event
    records = event.get("Records")
    if isinstance(records, list):
        for index, record in enumerate(records):
            source = f"{item.source}#{index}"
            operation = _sqs_operation(dispatcher, record)
            if not allow_writes:
                yield _skipped(source, operation, "an SQS message")
                continue
            yield _served(source, operation, refused, partial(_sqs_answer, dispatcher, record))
        return
    if is_scheduled_event(event):
        yield _scheduled(dispatcher, item.source, event, allow_writes, refused)
        return
    method, op, interface = _call_of(event)
    operation = _title(dispatcher, op, interface, method) if op is not None else "(unknown)"
    if method != "GET" and not allow_writes:
        yield _skipped(item.source, operation, f"a {method}")
        return
    yield _served(item.source, operation, refused, lambda: _handled(dispatcher, event))


def _scheduled(
    dispatcher: Dispatcher,
    source: str,
    event: Mapping[str, Any],
    allow_writes: bool,
    refused: list[str],
) -> Outcome:
    """The outcome of a scheduled event: the entry its rule fires now, and what it did
    (or, read-only, would do)."""
    try:
        resolved = resolve(dispatcher.deployment, event)
    except Exception as exc:
        error = exc if isinstance(exc, InteractError) else from_aws(exc)
        reason = error.message if error is not None else f"{type(exc).__name__}: {exc}"
        return Outcome(source, "scheduled:(unreadable)", "5xx", 500, reason)
    entries = [r for r in resolved if r.entry is not None]
    if not entries:
        reason = "; ".join(r.reason or "" for r in resolved)
        return Outcome(source, "scheduled:(no entry)", "4xx", 404, reason)
    operation = f"scheduled:{', '.join(_entry_name(r) for r in entries)}"
    if not allow_writes:
        plan = "; ".join(
            f"rule {r.rule} runs {', '.join(a.text for a in _actions(r))}" for r in entries
        )
        return Outcome(
            source, operation, "skipped", reason=f"{plan}: --allow-writes runs it (it may write)"
        )
    return _served(source, operation, refused, lambda: _scheduled_answer(dispatcher, event))


def _entry_name(resolved: Resolved) -> str:
    assert resolved.entry is not None
    return resolved.entry.name


def _actions(resolved: Resolved) -> tuple[Any, ...]:
    assert resolved.entry is not None
    return resolved.entry.actions


def _scheduled_answer(dispatcher: Dispatcher, event: Mapping[str, Any]) -> tuple[int, str | None]:
    try:
        done = dispatcher.handle(dict(event), None)
    except ScheduledEventFailed as exc:
        return 503, f"to be retried: {exc}"
    for rule in done.get("rules", ()):
        for action in rule.get("actions", ()):
            if action.get("outcome") != "done":
                return int(action.get("status", 500)), f"{action['action']}: {action.get('error')}"
    if done.get("outcome") == "failed":
        return 500, str(done.get("error"))
    return 200, None


def _skipped(source: str, operation: str, what: str) -> Outcome:
    return Outcome(source, operation, "skipped", reason=f"{what} may write: --allow-writes runs it")


def _served(
    source: str, operation: str, refused: list[str], serve: Callable[[], tuple[int, str | None]]
) -> Outcome:
    del refused[:]
    try:
        status, reason = serve()
    except Exception as exc:  # the handler never raises; a bug in it is still reported
        status, reason = 500, f"{type(exc).__name__}: {exc}"
    return Outcome(
        source, operation, f"{status // 100}xx", status, reason, writes_refused=tuple(refused)
    )


def _handled(dispatcher: Dispatcher, event: Mapping[str, Any]) -> tuple[int, str | None]:
    answer = dispatcher.handle(dict(event), None)
    if not isinstance(answer, Mapping) or "statusCode" not in answer:
        return 200, None
    status = int(answer["statusCode"])
    return status, _reason(answer.get("body")) if status >= 400 else None


def _sqs_answer(dispatcher: Dispatcher, record: Any) -> tuple[int, str | None]:
    try:
        response = dispatcher.dispatch(from_sqs_record(record))
    except BadRequest as error:
        return error.status, error.message
    return response.status, _reason(response.body) if response.status >= 400 else None


def _reason(body: Any) -> str | None:
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            return str(body)[:300]
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            return str(error.get("message"))
        if "message" in body:
            return str(body["message"])
    return None


def _call_of(event: Mapping[str, Any]) -> tuple[str, str | None, Interface]:
    """The method, operation name and interface of an API Gateway or direct event."""
    if "OpType" in event:
        return str(event.get("Method") or "GET").upper(), str(event["OpType"]), Interface.DIRECT
    context = event.get("requestContext")
    http = context.get("http") if isinstance(context, Mapping) else None
    method = event.get("httpMethod") or (http.get("method") if isinstance(http, Mapping) else None)
    params = event.get("pathParameters")
    proxy = params.get("proxy") if isinstance(params, Mapping) else None
    path = proxy if isinstance(proxy, str) else str(event.get("path") or event.get("rawPath") or "")
    return str(method or "GET").upper(), path.removeprefix("/"), Interface.APIGW


def _sqs_operation(dispatcher: Dispatcher, record: Any) -> str:
    try:
        body = json.loads(record["body"])
        return _title(dispatcher, str(body["OpType"]), Interface.SQS, "POST")
    except (TypeError, KeyError, ValueError):
        return "(unknown)"


def _title(dispatcher: Dispatcher, op: str, interface: Interface, method: str) -> str:
    """The operation's name as people read it (``configuration/{key}``), else ``op``."""
    try:
        return str(dispatcher.router.resolve(op, interface, method).operation.title)
    except InteractError:
        return op
