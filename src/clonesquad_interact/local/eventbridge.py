"""EventBridge's part in a local run: the Scheduler entries' rules fire on their schedule.

On AWS, CloneSquad's main function keeps one EventBridge rule per Scheduler entry
and EventBridge sends the Interact function a scheduled event when a rule's
schedule comes. A local run has no EventBridge (moto keeps rules but never fires
them), so :class:`LocalEventBridge` does it: every few seconds it reads the
Scheduler table, and hands the handler the event EventBridge would send for each
entry whose time has come, with the rule name the main function gives the entry.

* ``rate(n unit)``: every ``n`` units, the first time ``n`` units after the entry is
  first seen (as EventBridge does after a rule is made);
* ``cron(...)`` and ``localcron(...)``: at each UTC minute the expression matches
  (``L``, ``W`` and ``#`` are not played: such an entry is logged once, never fired).

A scheduled event whose handling raises (a failure worth trying again) is handed
again after one minute, then two, as Lambda retries an asynchronous invocation.

:func:`last_firing` looks the other way: which ``cron(...)`` or ``localcron(...)``
entry this player would have fired last before a moment (the demo seeds what its
entries would have written by then).
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import structlog

from ..deployment import Deployment
from ..scheduled import entries_of, entry_of
from ..schedules import DAYS, MONTHS, cron_field_matches, rule_name, time_zone, utc_schedule

__all__ = ["LocalEventBridge", "cron_matches", "last_firing", "scheduled_event"]

logger = structlog.get_logger(__name__)

#: Seconds of each rate unit.
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
#: Seconds before Lambda's first and second retries of a failed asynchronous invocation.
RETRY_DELAYS = (60.0, 120.0)
_RATE = re.compile(r"rate\((?P<n>[0-9]+) (?P<unit>minute|hour|day)s?\)")
_CRON = re.compile(r"cron\((?P<body>[^()]*)\)")


def scheduled_event(rule: str, *, region: str, account: str, when: datetime) -> dict[str, Any]:
    """The event EventBridge sends a target when rule ``rule`` fires at ``when``."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{account}:rule/{rule}"],
        "detail": {},
    }


def cron_matches(expression: str, when: datetime) -> bool | None:
    """Whether the EventBridge ``cron(...)`` expression fires at UTC minute ``when``
    (``None``: it uses what this player does not play, ``L``, ``W`` or ``#``)."""
    match = _CRON.fullmatch(expression)
    if match is None:
        return None
    fields = match["body"].upper().split()
    if len(fields) != 6 or any(c in fields[2] for c in "LW") or any(c in fields[4] for c in "L#"):
        return None
    when = when.astimezone(UTC)
    weekday = (when.weekday() + 1) % 7 + 1  # EventBridge: 1 is Sunday
    checks = (
        (fields[0], when.minute, 0, 59, ()),
        (fields[1], when.hour, 0, 23, ()),
        (fields[2], when.day, 1, 31, ()),
        (fields[3], when.month, 1, 12, MONTHS),
        (fields[4], weekday, 1, 7, DAYS),
        (fields[5], when.year, 1970, 2199, ()),
    )
    return all(
        cron_field_matches(text, value, low, high, words)
        for text, value, low, high, words in checks
    )


#: How far back :func:`last_firing` looks: a week, and a day for a change of daylight
#: saving time.
LOOKBACK = timedelta(days=8)


def last_firing(
    schedules: Mapping[str, str], zone: tzinfo, now: datetime, *, within: timedelta = LOOKBACK
) -> tuple[str, datetime] | None:
    """Which of ``schedules`` (name -> ``cron(...)`` or ``localcron(...)``) fired last at
    or before ``now``, and at which UTC minute, as :class:`LocalEventBridge` fires them
    (``localcron`` turned into UTC with ``zone``'s offset of each minute); of two firing
    in the same minute, the first in ``schedules``' order. A ``rate(...)`` (whose
    firings depend on when it was first seen) and what the player does not play are
    never found; ``None``: none fired within ``within``."""
    minute = now.astimezone(UTC).replace(second=0, microsecond=0)
    earliest = minute - within
    converted: dict[tuple[str, timedelta | None], str] = {}
    while minute > earliest:
        offset = minute.astimezone(zone).utcoffset()
        for name, schedule in schedules.items():
            utc = converted.get((name, offset))
            if utc is None:
                utc = converted[(name, offset)] = utc_schedule(schedule, zone, minute)
            if cron_matches(utc, minute):
                return name, minute
        minute -= timedelta(minutes=1)
    return None


@dataclass
class _Retry:
    due: float
    event: dict[str, Any]
    attempt: int


class LocalEventBridge:
    """Fires the Scheduler entries' rules of ``deployment`` by calling ``handle(event, None)``.

    :param handle: the Lambda handler (the dispatcher's ``handle``).
    :param account: the account id the events carry.
    :param tick: seconds between two reads of the Scheduler table.
    """

    def __init__(
        self,
        handle: Callable[[dict[str, Any], Any], Any],
        deployment: Deployment,
        *,
        region: str,
        account: str,
        tick: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.handle = handle
        self.deployment = deployment
        self.region = region
        self.account = account
        self.tick = tick
        self.clock = clock
        #: rate rules: when each fires next.
        self._next: dict[str, float] = {}
        #: cron rules: the last minute each fired.
        self._fired: dict[str, int] = {}
        self._retries: list[_Retry] = []
        self._unplayable: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Fire in a thread until :meth:`stop`."""
        self._thread = threading.Thread(target=self._run, name="local-eventbridge", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.tick):
            try:
                self.fire_due()
            except Exception as exc:  # the table cannot be read now: next tick
                logger.warning("local eventbridge: cannot read the schedule", error=repr(exc))

    def due(self, now: float) -> list[str]:
        """The rules whose time has come at ``now`` (each one once)."""
        group = self.deployment.settings.group_name
        zone = time_zone(self.deployment.settings.get("TimeZone"), self.deployment.aws.region)
        moment = datetime.fromtimestamp(now, UTC)
        minute = int(now // 60)
        rules: list[str] = []
        seen: set[str] = set()
        for name, value in entries_of(self.deployment).items():
            try:
                schedule = utc_schedule(entry_of(name, value).schedule, zone, moment)
            except ValueError:
                continue
            rule = rule_name(group, name, value, zone, moment)
            seen.add(rule)
            rate = _RATE.fullmatch(schedule)
            if rate is not None:
                period = int(rate["n"]) * _UNITS[rate["unit"]]
                next_time = self._next.setdefault(rule, now + period)
                if now >= next_time:
                    self._next[rule] = next_time + period * (1 + (now - next_time) // period)
                    rules.append(rule)
                continue
            matches = cron_matches(schedule, moment)
            if matches is None:
                if rule not in self._unplayable:
                    self._unplayable.add(rule)
                    logger.info("local eventbridge: not played", entry=name, schedule=schedule)
            elif matches and self._fired.get(rule) != minute:
                self._fired[rule] = minute
                rules.append(rule)
        for gone in set(self._next) - seen:
            del self._next[gone]
        return rules

    def fire_due(self) -> int:
        """Hand the handler the events due now, and the retries due; how many were handed."""
        now = self.clock()
        when = datetime.fromtimestamp(now, UTC)
        handed = 0
        for retry in [r for r in self._retries if r.due <= now]:
            self._retries.remove(retry)
            self._fire(retry.event, retry.attempt)
            handed += 1
        for rule in self.due(now):
            event = scheduled_event(rule, region=self.region, account=self.account, when=when)
            logger.info("local eventbridge: rule fired", rule=rule)
            self._fire(event, 0)
            handed += 1
        return handed

    def _fire(self, event: dict[str, Any], attempt: int) -> None:
        try:
            self.handle(event, None)
        except Exception as exc:  # as Lambda does: try again later, twice
            if attempt < len(RETRY_DELAYS):
                delay = RETRY_DELAYS[attempt]
                logger.warning(
                    "local eventbridge: the event failed, retried later",
                    rule=event["resources"][0],
                    error=str(exc),
                    retry_in_seconds=delay,
                )
                self._retries.append(_Retry(self.clock() + delay, event, attempt + 1))
            else:
                logger.error(
                    "local eventbridge: the event failed after Lambda's retries",
                    rule=event["resources"][0],
                    error=str(exc),
                )
