"""EventBridge scheduled events: the rules of Scheduler entries firing.

The main function of a deployment keeps one EventBridge rule per Scheduler entry
(``CS-Cron-<GroupName>-<hash>``, see :mod:`.schedules`), whose target is the
Interact function, with EventBridge's own payload::

    {"detail-type": "Scheduled Event", "source": "aws.events",
     "resources": ["arn:aws:events:<region>:<account>:rule/CS-Cron-demo-6c9db665ff"], ...}

For each rule of the event, the entry whose rule name it is gets found again in the
Scheduler table, and its actions run in order: a configuration write (with the
entry's ``TTL=``, else ``config.default_ttl``; 0 is permanent), or an operation run
in-process (``interact:backup``, ``interact:control/reschedulenow?delay=60``). Each
action is one ``scheduled.action`` log line.

Outcomes: a rule that matches no entry (it was changed or deleted since the rule was
made) is a warning, not a failure. An action that fails for good (a value that does
not fit its key, an operation answering 4xx, AWS refusing for good) is logged with
the whole event. A failure worth trying again (throttling, an AWS service
unavailable: an operation answering 409, 429, 502, 503 or 504) makes the handler raise
:exc:`ScheduledEventFailed` once every action was tried, so that Lambda's retry of
asynchronous invocations runs the event again (its actions are idempotent).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import structlog

from .configuration import as_bool, parse_duration
from .deployment import Deployment
from .errors import (
    InteractError,
    InternalError,
    ScheduledEventFailed,
    excerpt,
    from_aws,
    unencodable,
)
from .keyvalue import write_key
from .request import Interface, Request, freeze
from .response import Response
from .schedules import (
    BACKUP_ENTRY_PREFIX,
    RULE_PREFIX,
    Action,
    ScheduleEntry,
    clonesquad_path,
    is_entry_name,
    parse_entry,
    rule_names,
    time_zone,
    utc_schedule,
)

__all__ = [
    "Resolved",
    "ScheduledEventFailed",
    "entries_of",
    "entry_of",
    "handle_scheduled",
    "is_scheduled_event",
    "resolve",
]

logger = structlog.get_logger(__name__)

#: The ``detail-type`` EventBridge gives the events of schedule rules.
DETAIL_TYPE = "Scheduled Event"
#: How far back the rule names of daylight saving time's other state are looked for.
DST_LOOKBACK = timedelta(days=1)
_ARN = re.compile(r"arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]+:rule/(?P<name>[^/]+)")


class Runner(Protocol):
    """What runs a scheduled event's actions (the dispatcher)."""

    #: Re-raise unexpected exceptions (tests) instead of treating them as worth retrying.
    raise_unexpected: bool

    @property
    def deployment(self) -> Deployment: ...

    def dispatch(self, request: Request) -> Response: ...

    def authorize(self, request: Request) -> None: ...


def is_scheduled_event(event: Mapping[str, Any]) -> bool:
    """Whether ``event`` is EventBridge's event of a schedule rule."""
    return event.get("source") == "aws.events" and event.get("detail-type") == DETAIL_TYPE


@dataclass(frozen=True, slots=True)
class Resolved:
    """A rule of a scheduled event, and the entry it fires (``None``: none matches)."""

    rule: str
    entry: ScheduleEntry | None = None
    #: Why no entry runs (no match, not a rule of this deployment, an unusable entry).
    reason: str | None = None


@dataclass
class _Outcome:
    actions: list[dict[str, Any]] = field(default_factory=list)
    retry: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def entries_of(deployment: Deployment) -> dict[str, str]:
    """The entries the main function makes rules of: the Scheduler table's (not the
    comments, parameter-set items or the reserved name), and the periodic backup's when
    ``MetadataAndBackupS3Path`` is set and ``backup.cron`` is not ``disabled``."""
    group = deployment.settings.group_name
    items = deployment.table("SchedulerTable").scan()
    entries = {k: i.value for k, i in items.items() if is_entry_name(k, group) and i.value}
    if deployment.settings.get("MetadataAndBackupS3Path"):
        configuration = deployment.configuration
        schedule = configuration.value("backup.cron") if "backup.cron" in configuration.keys else ""
        if schedule and schedule.strip() != "disabled":
            zone = time_zone(deployment.settings.get("TimeZone"), deployment.aws.region)
            converted = utc_schedule(schedule.strip(), zone, datetime.now(UTC))
            entries[f"{BACKUP_ENTRY_PREFIX}{group}"] = f"{converted}{BACKUP_ACTION}"
    return entries


#: The action of the periodic backup entry.
BACKUP_ACTION = ",interact:backup"


def entry_of(name: str, value: str) -> ScheduleEntry:
    """Entry ``name`` parsed. The periodic backup's value is made by gluing ``backup.cron``
    and its action, so a ``,`` of the schedule (``cron(0 6,18 * * ? *)``) is read as
    part of the schedule, not as the start of an action.

    :raises ValueError: the value is not an entry.
    """
    if name.startswith(BACKUP_ENTRY_PREFIX) and value.endswith(BACKUP_ACTION):
        schedule = value[: -len(BACKUP_ACTION)]
        value = schedule.replace("\\,", ",").replace(",", "\\,") + BACKUP_ACTION
    return parse_entry(name, value)


def _shown(resource: Any) -> str:
    """A resource that names no rule of ours, as the answer and the log show it: as it
    is, or (too long, not text, text UTF-8 cannot encode) a short escaped excerpt."""
    if isinstance(resource, str) and len(resource) <= 200 and not unencodable(resource):
        return resource
    return excerpt(resource, 200)


def resolve(deployment: Deployment, event: Mapping[str, Any]) -> list[Resolved]:
    """The rules of ``event`` and the entries they fire (reads the Scheduler table)."""
    group = deployment.settings.group_name
    resources = event.get("resources")
    if not isinstance(resources, list) or not resources:
        return [Resolved("(none)", reason="the event has no resources: no rule fired it")]
    prefix = f"{RULE_PREFIX}{group}-"
    zone = time_zone(deployment.settings.get("TimeZone"), deployment.aws.region)
    now = datetime.now(UTC)
    moments = {now, now - DST_LOOKBACK, _event_time(event) or now}
    entries: dict[str, str] | None = None
    resolved: list[Resolved] = []
    for arn in resources:
        match = _ARN.fullmatch(arn) if isinstance(arn, str) else None
        if match is None or not match["name"].startswith(prefix):
            resolved.append(
                Resolved(
                    _shown(arn),
                    reason=f"not a rule of group {group!r} (its rules are named {prefix}<hash>)",
                )
            )
            continue
        rule = match["name"]
        if entries is None:
            entries = entries_of(deployment)
        found = [
            (name, value)
            for name, value in entries.items()
            if rule in rule_names(group, name, value, zone, moments)
        ]
        if not found:
            resolved.append(
                Resolved(
                    rule,
                    reason=(
                        f"no Scheduler entry has rule {rule} (of {len(entries)} entries): the "
                        "entry was changed or deleted since; the main function deletes the rule"
                    ),
                )
            )
            continue
        name, value = found[0]
        try:
            resolved.append(Resolved(rule, entry_of(name, value)))
        except ValueError as exc:
            resolved.append(Resolved(rule, reason=f"entry {name!r} cannot run: {exc}"))
    return resolved


def _event_time(event: Mapping[str, Any]) -> datetime | None:
    text = event.get("time")
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def handle_scheduled(runner: Runner, event: Mapping[str, Any]) -> dict[str, Any]:
    """Run the entries that ``event``'s rules fire; what was done, for the log and replay.

    :raises ScheduledEventFailed: an action failed in a way worth trying again (after
        every action was tried), or the Scheduler table could not be read for now.
    """
    deployment = runner.deployment
    event_id = str(event.get("id") or "")
    try:
        if as_bool(deployment.configuration.value("cron.disable")):
            logger.warning("scheduled.event", outcome="skipped", reason="cron.disable is 1")
            return {"outcome": "skipped", "rules": []}
        resolved = resolve(deployment, event)
    except Exception as exc:
        return _unreadable(runner, event, exc)
    outcome = _Outcome()
    rules: list[dict[str, Any]] = []
    for item in resolved:
        if item.entry is None:
            logger.warning(
                "scheduled.event", rule=item.rule, outcome="no entry", reason=item.reason
            )
            rules.append({"rule": item.rule, "entry": None, "reason": item.reason})
            continue
        before = len(outcome.actions)
        ttl = _ttl(deployment, item.entry)
        for index, action in enumerate(item.entry.actions):
            _run(runner, event, item, action, ttl, f"{event_id}:{item.rule}:{index}", outcome)
        done: dict[str, Any] = {
            "rule": item.rule,
            "entry": item.entry.name,
            "actions": outcome.actions[before:],
        }
        if item.entry.ignored_records:
            done["ignored_records"] = item.entry.ignored_records
            logger.warning(
                "scheduled.entry",
                rule=item.rule,
                entry=item.entry.name,
                ignored_records=item.entry.ignored_records,
                reason="the value holds several ';'-separated records: only the first runs",
            )
        rules.append(done)
    ran = any(item.entry is not None for item in resolved)
    result = (
        "retry" if outcome.retry else "failed" if outcome.failed else "done" if ran else "no entry"
    )
    if outcome.failed:
        logger.error(
            "scheduled.event", outcome="failed", failed=outcome.failed, scheduled_event=dict(event)
        )
    if outcome.retry:
        logger.warning(
            "scheduled.event", outcome="retry", retry=outcome.retry, scheduled_event=dict(event)
        )
        raise ScheduledEventFailed(
            f"{len(outcome.retry)} action(s) failed for now, to run again: "
            + "; ".join(outcome.retry)
        )
    if not outcome.failed:
        logger.info("scheduled.event", outcome=result, rules=[r["rule"] for r in rules])
    return {"outcome": result, "rules": rules}


#: Statuses worth trying again: a concurrent writer, throttling, AWS unavailable.
TRANSIENT = frozenset({409, 429, 502, 503, 504})


def _unreadable(runner: Runner, event: Mapping[str, Any], exc: Exception) -> dict[str, Any]:
    """The Scheduler table or the configuration could not be read: raise to be retried,
    or log the event whole when trying again cannot help."""
    error = exc if isinstance(exc, InteractError) else from_aws(exc)
    if error is None and runner.raise_unexpected:
        raise exc
    message = error.message if error is not None else f"{type(exc).__name__}: {exc}"
    if error is not None and error.status in TRANSIENT:
        logger.warning("scheduled.event", outcome="retry", error=message)
        raise ScheduledEventFailed(message) from exc
    logger.error(
        "scheduled.event",
        outcome="failed",
        error=message,
        scheduled_event=dict(event),
        exc_info=exc if error is None else None,
    )
    return {"outcome": "failed", "error": message, "rules": []}


def _ttl(deployment: Deployment, entry: ScheduleEntry) -> float | None:
    """Seconds the entry's configuration writes last: its ``TTL=``, else
    ``config.default_ttl`` (0 or unreadable: permanent)."""
    if entry.ttl is not None:
        return entry.ttl
    configuration = deployment.configuration
    if "config.default_ttl" not in configuration.keys:
        return None
    try:
        seconds = parse_duration(configuration.value("config.default_ttl"))
    except ValueError:
        return None
    return seconds if seconds > 0 else None


#: The principal the requests of a scheduled event are made for (access policies name it).
SERVICE = "events.amazonaws.com"


def _identity(event: Mapping[str, Any], rule: str) -> Mapping[str, Any]:
    """Who a scheduled event's requests are from: EventBridge, for the rule's ARN."""
    region, account = event.get("region"), event.get("account")
    identity: dict[str, Any] = {"caller": f"scheduler:{rule}", "rule": rule, "service": SERVICE}
    if isinstance(region, str) and isinstance(account, str) and region and account:
        identity["sourceArn"] = f"arn:aws:events:{region}:{account}:rule/{rule}"
    frozen: Mapping[str, Any] = freeze(identity)
    return frozen


def _run(
    runner: Runner,
    event: Mapping[str, Any],
    item: Resolved,
    action: Action,
    ttl: float | None,
    request_id: str,
    outcome: _Outcome,
) -> None:
    assert item.entry is not None
    fields: dict[str, Any] = {"rule": item.rule, "entry": item.entry.name, "action": action.text}
    identity = _identity(event, item.rule)
    try:
        if action.kind == "call":
            response = runner.dispatch(
                Request(
                    op=_operation_name(runner.deployment, action.target),
                    interface=Interface.DIRECT,
                    method="GET",
                    params=freeze(dict(action.params or {})),
                    identity=identity,
                    request_id=request_id,
                    raw_event=event,
                )
            )
            status, answer = response.status, _text(response.body)
        else:
            # Authorized as the request that writes it through the API would be, so
            # that an entry cannot write what its author may not.
            runner.authorize(
                Request(
                    op=f"configuration/{action.target}",
                    interface=Interface.DIRECT,
                    method="POST",
                    body=action.value,
                    identity=identity,
                    request_id=request_id,
                    raw_event=event,
                )
            )
            status, answer = _write(runner.deployment, action, ttl), None
    except Exception as exc:
        error = exc if isinstance(exc, InteractError) else from_aws(exc)
        if error is None:
            if runner.raise_unexpected:
                raise
            logger.exception("scheduled.action", **fields)
            error = InternalError(f"{type(exc).__name__} (a bug: the log has the traceback)")
        status, answer = error.status, error.message
    retry = status in TRANSIENT
    result = "done" if status < 400 else "retry" if retry else "failed"
    fields.update(outcome=result, status=status)
    if ttl is not None and action.kind == "set":
        fields["ttl"] = ttl
    if answer is not None:
        fields["answer" if result == "done" else "error"] = answer
    outcome.actions.append(dict(fields))
    if result == "done":
        logger.info("scheduled.action", **fields)
    elif retry:
        logger.warning("scheduled.action", **fields)
        outcome.retry.append(f"{action.text}: {answer}")
    else:
        logger.error("scheduled.action", **fields)
        outcome.failed.append(f"{action.text}: {answer}")


def _operation_name(deployment: Deployment, path: str) -> str:
    """The operation an ``interact:<path>`` runs: ``path`` when an operation has that
    name; else ``path`` as CloneSquad reads it (lower case, empty segments dropped,
    percent-decoded), so that an entry written for CloneSquad (``interact:Backup``)
    runs here too."""
    for operation in deployment.operations:
        route = operation.route
        if route == path if isinstance(route, str) else route.fullmatch(path):
            return path
    return clonesquad_path(path)


def _write(deployment: Deployment, action: Action, ttl: float | None) -> int:
    """Write a configuration action to the Configuration table, checked against its key."""
    configuration = deployment.configuration
    key = action.target
    write_key(
        configuration.table,
        key,
        action.value,
        ttl=None if ttl is None else str(ttl),
        registration=configuration.registration_for(key),
    )
    return 200


def _text(body: Any) -> str:
    text = body if isinstance(body, str) else str(body)
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:299] + "…"
