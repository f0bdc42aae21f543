"""Scheduler entries: what a Scheduler table item means, how it is checked, and the
name of the EventBridge rule that fires it.

An entry is a ``Key`` (the entry's name) and a ``Value`` written as a CloneSquad
meta string: a schedule, then ``,``-separated actions::

    scale-up-morning: cron(0 8 * * ? *),ec2.schedule.min_instance_count=3
    night:            localcron(0 20 * * ? *),config.active_parameter_set=night,TTL=hours=12
    reschedule:       rate(5 minutes),interact:control/reschedulenow?delay=60

The schedule is ``cron(...)`` or ``rate(...)`` as EventBridge takes them, or
``localcron(...)``: a cron expression in the deployment's ``TimeZone`` (its minute
and hour fields are turned into UTC). Each action is ``key=value`` (a
Configuration table write; ``key`` alone writes the boolean true), or
``interact:<operation>[?query]`` (the operation, run in-process). ``TTL=<duration>``
gives the configuration writes a lifetime. A backslash keeps a ``,`` ``;`` or ``=``
from separating (``cron(0 6\\,18 * * ? *)``).

The main function of the deployment keeps one EventBridge rule per entry, named
``CS-Cron-<GroupName>-`` and the first 10 hexadecimal digits of the SHA-256 of
``<entry>:<zone abbreviation>:<DST offset>:<value>``: a change of the value, of the
zone or of daylight saving time gives the entry a new rule.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl, unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .configuration import ConfigurationKey, base_key, parse_duration, to_text
from .keyvalue import MAX_TTL, check_value_of
from .metastrings import parse_meta_string

__all__ = [
    "BACKUP_ENTRY_PREFIX",
    "DAYS",
    "INTERACT_PREFIX",
    "MONTHS",
    "REGION_ZONES",
    "RULE_PREFIX",
    "Action",
    "ScheduleEntry",
    "check_schedule",
    "clonesquad_path",
    "cron_field_matches",
    "cron_value",
    "entry_problem",
    "is_entry_name",
    "parse_entry",
    "rule_name",
    "rule_names",
    "time_zone",
    "utc_schedule",
]

#: Rules of a deployment are named ``CS-Cron-<GroupName>-<hash>``.
RULE_PREFIX = "CS-Cron-"
#: The entry the main function adds for the periodic backup (``CS-PeriodicBackup-<GroupName>``).
BACKUP_ENTRY_PREFIX = "CS-PeriodicBackup-"
#: Actions that run an operation.
INTERACT_PREFIX = "interact:"
#: The meta key that gives configuration writes a lifetime.
TTL_KEY = "TTL"
#: A meta key that CloneSquad ignores (not an action).
IGNORED_KEYS = frozenset({"schedule"})


@dataclass(frozen=True, slots=True)
class Action:
    """One action of an entry."""

    #: ``set`` (a Configuration table write) or ``call`` (an operation run in-process).
    kind: str
    #: The configuration key written (``[set]key`` for a parameter set), or the operation.
    target: str
    #: ``set``: the text written (``""`` deletes the key).
    value: str = ""
    #: ``call``: the query string's parameters (the last value of a repeated name).
    params: Mapping[str, str] | None = None

    @property
    def text(self) -> str:
        """The action as the entry writes it (for logs)."""
        if self.kind == "call":
            query = "&".join(f"{k}={v}" for k, v in (self.params or {}).items())
            return f"{INTERACT_PREFIX}{self.target}" + (f"?{query}" if query else "")
        return f"{self.target}={self.value}"


@dataclass(frozen=True, slots=True)
class ScheduleEntry:
    """A parsed Scheduler entry."""

    name: str
    value: str
    #: The schedule as written (``cron(...)``, ``rate(...)`` or ``localcron(...)``).
    schedule: str
    actions: tuple[Action, ...]
    #: ``TTL=``: seconds the configuration writes last, ``None`` when not given.
    ttl: float | None = None
    #: The ``;``-separated records after the first: CloneSquad runs only the first.
    ignored_records: int = 0


def is_entry_name(name: str, group_name: str | None = None) -> bool:
    """Whether the main function turns table item ``name`` into a rule: not a comment
    (``#...``), not a parameter-set item (``[set]key``), not the reserved backup entry."""
    if not name or name.startswith("#") or re.match(r"\[[^\]]+\]", name):
        return False
    return group_name is None or name != f"{BACKUP_ENTRY_PREFIX}{group_name}"


def parse_entry(name: str, value: str) -> ScheduleEntry:
    """The schedule and actions of an entry (its schedule's syntax checked, nothing
    checked against a deployment). Only the value's first ``;``-separated record is
    read, as CloneSquad reads it; :attr:`ScheduleEntry.ignored_records` counts the others.

    :raises ValueError: saying what is wrong with the value.
    """
    records = parse_meta_string(value)
    if not records:
        raise ValueError(
            "the value is empty: write a schedule, then ,-separated actions, such as "
            "cron(0 8 * * ? *),ec2.schedule.min_instance_count=3"
        )
    # CloneSquad's main function runs the first record and ignores the others.
    record = dict(records[0])
    schedule = str(record.pop("_"))
    problem = check_schedule(schedule)
    if problem is not None:
        raise ValueError(problem)
    ttl: float | None = None
    actions: list[Action] = []
    for key, raw in record.items():
        if key == TTL_KEY:
            ttl = _ttl(raw)
        elif key in IGNORED_KEYS:
            continue
        elif key.startswith(INTERACT_PREFIX):
            actions.append(_call(key, raw))
        elif not key:
            raise ValueError("an action has no key before its '=': write key=value")
        else:
            actions.append(Action("set", key, "1" if raw is True else str(raw)))
    if not actions:
        raise ValueError(
            f"the entry has a schedule ({schedule!r}) but no action: add ,key=value or "
            ",interact:<operation>"
        )
    return ScheduleEntry(name, value, schedule, tuple(actions), ttl, len(records) - 1)


def _ttl(raw: Any) -> float:
    if raw is True:
        raise ValueError("TTL needs a duration: TTL=3600 or TTL=hours=12")
    try:
        seconds = parse_duration(str(raw))
    except ValueError as exc:
        raise ValueError(f"TTL={raw}: {exc}") from None
    if not 0 < seconds <= MAX_TTL:
        raise ValueError(f"TTL={raw} must be more than 0 seconds and at most {MAX_TTL}")
    return seconds


def _call(key: str, raw: Any) -> Action:
    # The meta string splits an option at its first '=': the query string's first
    # '=' ends up there; put it back.
    text = key[len(INTERACT_PREFIX) :] + ("" if raw is True else f"={raw}")
    path, _, query = text.partition("?")
    params = dict(parse_qsl(query, keep_blank_values=True))
    return Action("call", path.strip("/"), params=params)


def clonesquad_path(path: str) -> str:
    """``path`` as CloneSquad reads an ``interact:`` path: lower case, empty segments
    dropped, percent-decoded (``Control//RescheduleNow`` is ``control/reschedulenow``)."""
    return unquote("/".join(part for part in path.lower().split("/") if part))


# -------------------------------------------------------------------------
# Schedules
# -------------------------------------------------------------------------

_CRON = re.compile(r"cron\((?P<body>[^()]*)\)")
_LOCALCRON = re.compile(r"localcron\((?P<body>[^()]*)\)")
_RATE = re.compile(r"rate\((?P<body>[^()]*)\)")
_RATE_BODY = re.compile(r"(?P<n>[0-9]+) (?P<unit>minutes?|hours?|days?)")
#: The names the month field takes, ``JAN`` (1) to ``DEC`` (12).
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
#: The names the day-of-week field takes, ``SUN`` (1) to ``SAT`` (7).
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
#: Per cron field: its name, its range, the words it takes, the special characters.
_FIELDS = (
    ("minutes", 0, 59, (), ""),
    ("hours", 0, 23, (), ""),
    ("day-of-month", 1, 31, (), "?LW"),
    ("month", 1, 12, MONTHS, ""),
    ("day-of-week", 1, 7, DAYS, "?L#"),
    ("year", 1970, 2199, (), ""),
)
_ITEM = re.compile(r"(?P<start>\*|[0-9A-Z]+)(?:-(?P<end>[0-9A-Z]+))?(?:/(?P<step>[0-9]+))?")


def check_schedule(text: str) -> str | None:
    """Why ``text`` is not a schedule EventBridge takes (after ``localcron`` conversion),
    or ``None``."""
    rate = _RATE.fullmatch(text)
    if rate is not None:
        return _rate_problem(rate["body"])
    cron = _CRON.fullmatch(text) or _LOCALCRON.fullmatch(text)
    if cron is not None:
        return _cron_problem(cron["body"])
    return (
        f"the schedule {text!r} is none of cron(<6 fields>), rate(<n> <unit>) or "
        "localcron(<6 fields>), as EventBridge writes them (lower case)"
    )


def _rate_problem(body: str) -> str | None:
    match = _RATE_BODY.fullmatch(body.strip())
    if match is None:
        return f"rate({body}) must be rate(<n> minutes|hours|days), such as rate(5 minutes)"
    n, unit = int(match["n"]), match["unit"]
    if n == 0:
        return f"rate({body}): the number must be 1 or more"
    if (n == 1) != (not unit.endswith("s")):
        right = f"{n} {unit.rstrip('s')}" + ("" if n == 1 else "s")
        return f"rate({body}): EventBridge takes rate({right}) (singular for 1, plural else)"
    return None


def _cron_problem(body: str) -> str | None:
    fields = body.split()
    if len(fields) != 6:
        return (
            f"cron({body}) has {len(fields)} field(s); EventBridge takes 6: minutes hours "
            "day-of-month month day-of-week year, such as cron(0 8 * * ? *)"
        )
    for text, (name, low, high, words, special) in zip(fields, _FIELDS, strict=True):
        problem = _field_problem(text.upper(), low, high, words, special)
        if problem is not None:
            return f"cron({body}): the {name} field {text!r} {problem}"
    if (fields[2] == "?") == (fields[4] == "?"):
        return (
            f"cron({body}): exactly one of day-of-month and day-of-week must be '?' "
            "(EventBridge cannot take both, nor neither)"
        )
    return None


def _field_problem(
    text: str, low: int, high: int, words: Sequence[str], special: str
) -> str | None:
    if text in ("*", "?") and (text == "*" or "?" in special):
        return None
    for item in text.split(","):
        if special and item.strip("0123456789") in ("L", "W", "LW") and "L" in special:
            continue  # L, 5L, 15W, LW: last day, nearest weekday
        if "#" in item and "#" in special:
            day, _, nth = item.partition("#")
            if _value(day, low, high, words) is None or nth not in "12345" or len(nth) != 1:
                return "must be <day>#<1 to 5>"
            continue
        match = _ITEM.fullmatch(item)
        if match is None:
            return f"has {item!r}, which is not a value, a range a-b, a list or a step /n"
        start, end = match["start"], match["end"]
        if start != "*" and _value(start, low, high, words) is None:
            return f"has {start!r}, outside {low} to {high}" + (
                f" (or {words[0]} to {words[-1]})" if words else ""
            )
        if end is not None and (start == "*" or _value(end, low, high, words) is None):
            return f"has the range {item!r}, outside {low} to {high}"
        if match["step"] is not None and int(match["step"]) == 0:
            return f"has the step {item!r}, which must be at least 1"
    return None


def _value(text: str, low: int, high: int, words: Sequence[str]) -> int | None:
    if text.isdigit():
        number = int(text)
        return number if low <= number <= high else None
    return words.index(text) + low if text in words else None


def cron_field_matches(
    text: str, value: int, low: int, high: int, words: Sequence[str] = ()
) -> bool:
    """Whether the cron field ``text`` (upper case) takes ``value``, the field's values
    being ``low`` to ``high`` and ``words`` its names (the first stands for ``low``):
    ``*`` and ``?`` take any; else one of its ``,``-separated items does: a value
    (``8``, ``MON``), a range (``MON-FRI``), a step (``*/15``, ``5/15``: from 5 to
    ``high``; ``6-18/3``). ``L``, ``W`` and ``#`` are not read here.

    :raises ValueError: an item is none of those, or its step is 0.
    """
    if text in ("*", "?"):
        return True
    for item in text.split(","):
        body, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"the step of {item!r} must be at least 1")
        if body == "*":
            start, end = low, high
        else:
            first, _, last = body.partition("-")
            start = cron_value(first, low, words)
            end = cron_value(last, low, words) if last else (high if step_text else start)
        if start <= value <= end and (value - start) % step == 0:
            return True
    return False


def cron_value(text: str, low: int, words: Sequence[str] = ()) -> int:
    """The number that cron value ``text`` stands for: a number as written, or the place
    of a name in ``words`` (the first standing for ``low``).

    :raises ValueError: ``text`` is neither.
    """
    return words.index(text) + low if text in words else int(text)


# -------------------------------------------------------------------------
# Time zones, localcron, rule names
# -------------------------------------------------------------------------


#: The zone CloneSquad gives a deployment that sets no ``TimeZone``, by region: that of
#: the region's city, for the regions CloneSquad knows (the others are in UTC).
REGION_ZONES: Mapping[str, str] = MappingProxyType(
    {
        "us-east-1": "America/New_York",
        "us-east-2": "America/New_York",
        "us-west-1": "America/Los_Angeles",
        "us-west-2": "America/Los_Angeles",
        "af-south-1": "Africa/Johannesburg",
        "ap-east-1": "Asia/Hong_Kong",
        "ap-south-1": "Asia/Kolkata",
        "ap-northeast-1": "Asia/Tokyo",
        "ap-northeast-2": "Asia/Seoul",
        "ap-northeast-3": "Asia/Tokyo",
        "ap-southeast-1": "Asia/Singapore",
        "ap-southeast-2": "Australia/Sydney",
        "ca-central-1": "America/Toronto",
        "eu-central-1": "Europe/Berlin",
        "eu-west-1": "Europe/Dublin",
        "eu-west-2": "Europe/London",
        "eu-west-3": "Europe/Paris",
        "eu-south-1": "Europe/Rome",
        "eu-north-1": "Europe/Stockholm",
        "me-south-1": "Asia/Bahrain",
        "sa-east-1": "America/Sao_Paulo",
    }
)


def time_zone(name: str | None, region: str | None = None) -> tzinfo:
    """The deployment's zone: its ``TimeZone`` setting; when it sets none, the zone of
    its ``region`` (:data:`REGION_ZONES`), as CloneSquad's; else (or for a zone this
    machine does not know) UTC."""
    if not name:
        name = REGION_ZONES.get(region or "")
        if name is None:
            return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def utc_schedule(schedule: str, zone: tzinfo, when: datetime) -> str:
    """The schedule EventBridge is given: ``localcron(...)`` turned into ``cron(...)``
    in UTC with the zone's offset at ``when`` (only the minute and hour fields, item by
    item; the day fields are kept); any other schedule as it is."""
    match = _LOCALCRON.fullmatch(schedule)
    if match is None:
        return schedule
    fields = match["body"].split()
    if len(fields) != 6:
        return schedule
    offset = when.astimezone(zone).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    fields[0] = _shift(fields[0], lambda m: (m - minutes) % 60)
    fields[1] = _shift(fields[1], lambda h: ((h * 60 - minutes) // 60) % 24)
    return f"cron({' '.join(fields)})"


def _shift(field: str, convert: Callable[[int], int]) -> str:
    items = []
    for item in field.split(","):
        ends = item.split("-")
        if len(ends) <= 2 and all(end.isdigit() for end in ends):
            items.append("-".join(str(convert(int(end))) for end in ends))
        else:
            items.append(item)  # *, */10, 0/15: kept
    return ",".join(items)


def rule_name(group_name: str, name: str, value: str, zone: tzinfo, when: datetime) -> str:
    """The EventBridge rule the main function keeps for entry ``name`` at ``when``."""
    local = when.astimezone(zone)
    digest = hashlib.sha256(
        f"{name}:{local.strftime('%Z')}:{local.dst() or timedelta(0)}:{value}".encode()
    ).hexdigest()
    return f"{RULE_PREFIX}{group_name}-{digest[:10]}"


def rule_names(
    group_name: str, name: str, value: str, zone: tzinfo, moments: Iterable[datetime]
) -> set[str]:
    """The names entry ``name``'s rule has had at any of ``moments`` (a rule made before a
    change of daylight saving time keeps its name until the main function replaces it),
    and the name that CloneSquad's first releases gave it (a hash of ``<entry>:<value>``)."""
    names = {rule_name(group_name, name, value, zone, when) for when in moments}
    digest = hashlib.sha256(f"{name}:{value}".encode()).hexdigest()
    names.add(f"{RULE_PREFIX}{group_name}-{digest[:10]}")
    return names


# -------------------------------------------------------------------------
# Checks on write
# -------------------------------------------------------------------------


def entry_problem(
    name: str,
    value: str,
    keys: Mapping[str, ConfigurationKey],
    has_operation: Callable[[str], bool],
    *,
    zone: tzinfo = UTC,
) -> str | None:
    """Why ``value`` cannot be written as entry ``name``, or ``None``: its schedule, then
    each action (a configuration write must fit its key's format; an operation must
    exist). Comments (``#...``) and parameter-set items are not checked: the main
    function ignores them."""
    if not is_entry_name(name):
        return None
    try:
        entry = parse_entry(name, value)
    except ValueError as exc:
        return str(exc)
    problem = check_schedule(utc_schedule(entry.schedule, zone, datetime.now(UTC)))
    if problem is not None:
        return problem
    for action in entry.actions:
        if action.kind == "call":
            if not has_operation(action.target):
                return (
                    f"{INTERACT_PREFIX}{action.target}: there is no such operation "
                    "(GET / lists them)"
                )
            continue
        key = action.target
        registration = keys.get(base_key(key))
        text = to_text(action.value, registration.format if registration else None)
        problem = check_value_of(key, text, registration)
        if problem is not None:
            return f"action {key}={action.value}: {problem}"
    return None
