"""SSM maintenance windows: which fleets of the deployment are in maintenance, and the
``SSM Maintenance Window override`` layer that this makes.

A fleet's windows are the enabled SSM maintenance windows named by its most specific
configuration key that names an existing one: the subfleet's
``ssm.feature.maintenance_window.subfleet.<name>.defaults`` (or the main fleet's
``...mainfleet.defaults``), then (subfleets) ``...subfleet.__all__.defaults``, the
group's ``...defaults``, the global ``...global_defaults``; ``{GroupName}`` and
``{SubfleetName}`` are filled in. A fleet is in maintenance from
``ssm.feature.maintenance_window.start_ahead`` before a window starts until its
``Duration`` (hours) has passed. A window starts at its ``NextExecutionTime`` (as SSM
answers it) and at each time its ``Schedule`` gives (``cron(...)`` in its
``ScheduleTimezone``, ``ScheduleOffset`` days later; ``rate(...)`` from its
``StartDate``; ``at(...)``), within its ``StartDate`` and ``EndDate``: SSM moves
``NextExecutionTime`` to the following run once a window starts, so the schedule is
what tells that one is running now.

With ``ssm.enable`` and ``ssm.feature.maintenance_window`` on, a fleet in maintenance
puts ``override:`` entries in the layer (see :func:`maintenance_layer`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from clonesquad_interact import ConfigurationKey, Deployment, NotFound
from clonesquad_interact.configuration import as_bool, parse_duration
from clonesquad_interact.layers import BUILT_IN, MAINTENANCE_LAYER, Entry, Layer
from clonesquad_interact.metastrings import parse_list
from clonesquad_interact.schedules import DAYS, MONTHS, cron_field_matches, cron_value

from .instances import GONE, GROUP_TAG, SUBFLEET_TAG

__all__ = [
    "MAIN_FLEET",
    "concrete_keys",
    "in_maintenance",
    "maintenance_layer",
    "maintenance_windows",
    "naive",
    "subfleet_names",
]

#: Reads the effective value of one configuration key.
Reader = Callable[[str], Entry]

SSM_ENABLE_KEY = "ssm.enable"
FEATURE_KEY = "ssm.feature.maintenance_window"
START_AHEAD_KEY = "ssm.feature.maintenance_window.start_ahead"
#: The configuration keys that name a fleet's SSM maintenance windows, least specific
#: first: the global default, the group's, then the main fleet's or a subfleet's.
GLOBAL_WINDOWS_KEY = "ssm.feature.maintenance_window.global_defaults"
GROUP_WINDOWS_KEY = "ssm.feature.maintenance_window.defaults"
MAIN_FLEET_WINDOWS_KEY = "ssm.feature.maintenance_window.mainfleet.defaults"
ALL_SUBFLEETS_WINDOWS_KEY = "ssm.feature.maintenance_window.subfleet.__all__.defaults"
SUBFLEET_WINDOWS_KEY = "ssm.feature.maintenance_window.subfleet.{SubfleetName}.defaults"
MAIN_FLEET_MIN_KEY = "ssm.feature.maintenance_window.mainfleet.ec2.schedule.min_instance_count"
SUBFLEET_MIN_KEY = (
    "ssm.feature.maintenance_window.subfleet.{SubfleetName}.ec2.schedule.min_instance_count"
)
FORCE_RUNNING_KEY = "ssm.feature.maintenance_window.subfleet.{SubfleetName}.force_running"
#: What a key reads when nothing declares it and no layer sets it (the catalogue's defaults).
_FALLBACKS = {
    MAIN_FLEET_MIN_KEY: "100%",
    SUBFLEET_MIN_KEY: "100%",
    FORCE_RUNNING_KEY: "1",
    START_AHEAD_KEY: "minutes=15",
}
MAIN_FLEET = "__main__"
PLACEHOLDER = "{SubfleetName}"
#: The state a subfleet forced to run is given.
RUNNING = "running"
#: How far around now a schedule is looked at, at most (a longer ``start_ahead`` is cut).
MAX_SPAN = timedelta(days=8)


# -------------------------------------------------------------------------
# The deployment's subfleets and their keys
# -------------------------------------------------------------------------


def subfleet_names(deployment: Deployment) -> list[str]:
    """The names of the deployment's subfleets, sorted: the ``clonesquad:subfleet-name``
    tags of its instances (one paginated ``DescribeInstances``)."""
    ec2 = deployment.client("ec2")
    filters = [{"Name": f"tag:{GROUP_TAG}", "Values": [deployment.settings.group_name]}]
    names: set[str] = set()
    for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
        for reservation in page.get("Reservations", ()):
            for instance in reservation.get("Instances", ()):
                if instance.get("State", {}).get("Name") in GONE:
                    continue
                for tag in instance.get("Tags", ()):
                    if tag.get("Key") == SUBFLEET_TAG and tag.get("Value"):
                        names.add(tag["Value"])
    return sorted(names)


def concrete_keys(
    keys: Mapping[str, ConfigurationKey], subfleets: Iterable[str]
) -> dict[str, ConfigurationKey]:
    """The keys of each subfleet: every declared ``{SubfleetName}`` template with the
    subfleet's name filled in (in its name and default), as stable as the template."""
    templates = [key for name, key in keys.items() if PLACEHOLDER in name]
    made: dict[str, ConfigurationKey] = {}
    for subfleet in subfleets:
        for template in templates:
            default_value = template.default_value
            if isinstance(default_value, str):
                default_value = default_value.replace(PLACEHOLDER, subfleet)
            made[template.key.replace(PLACEHOLDER, subfleet)] = replace(
                template,
                key=template.key.replace(PLACEHOLDER, subfleet),
                default=template.default.replace(PLACEHOLDER, subfleet),
                default_value=default_value,
            )
    return made


def _fleet_value(read: Reader, template: str, subfleet: str | None) -> str:
    """The value of a fleet's key: the subfleet's own key when a layer sets it, else the
    template's value (``{SubfleetName}`` filled in)."""
    if subfleet is not None and PLACEHOLDER in template:
        try:
            entry = read(template.replace(PLACEHOLDER, subfleet))
        except NotFound:
            entry = None
        if entry is not None and entry.origin != BUILT_IN:
            return _text(entry)
    try:
        value = _text(read(template))
    except NotFound:  # no plugin declares it (the catalogue is blocked) and no layer sets it
        value = _FALLBACKS.get(template, "")
    return value.replace(PLACEHOLDER, subfleet or "")


def _text(entry: Entry) -> str:
    if entry.value is None:
        return entry.registration.default if entry.registration is not None else ""
    return entry.value


# -------------------------------------------------------------------------
# Windows and whether a fleet is in maintenance
# -------------------------------------------------------------------------


def _window_names(
    deployment: Deployment, read: Reader, key: str, subfleet: str | None
) -> list[str]:
    group = deployment.settings.group_name
    return [
        name.replace("{GroupName}", group).replace(PLACEHOLDER, subfleet or "")
        for name in parse_list(_fleet_value(read, key, subfleet))
    ]


def naive(value: Any) -> Any:
    """Datetimes as UTC-naive strings, recursively."""
    if isinstance(value, datetime):
        return str(value.astimezone(UTC).replace(tzinfo=None))
    if isinstance(value, dict):
        return {k: naive(v) for k, v in value.items()}
    if isinstance(value, list):
        return [naive(v) for v in value]
    return value


def _time(text: Any, zone: tzinfo = UTC) -> datetime | None:
    """An ISO 8601 time as SSM writes it (``Z`` or an offset; none: in ``zone``)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=zone)


def _zone(name: Any) -> tzinfo:
    if not isinstance(name, str) or not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):  # not a zone this machine knows
        return UTC


def _hours(window: Mapping[str, Any]) -> timedelta:
    try:
        return timedelta(hours=float(window.get("Duration") or 0))
    except (TypeError, ValueError):
        return timedelta(0)


def in_maintenance(window: Mapping[str, Any], now: datetime, ahead: float) -> bool:
    """Whether ``now`` is within ``ahead`` seconds before a start of ``window`` or
    within its ``Duration`` after one."""
    duration = _hours(window)
    early = timedelta(seconds=max(0.0, ahead))
    nxt = _time(window.get("NextExecutionTime"))
    if nxt is not None and nxt - early <= now < nxt + duration:
        return True
    zone = _zone(window.get("ScheduleTimezone"))
    first = _time(window.get("StartDate"), zone)
    last = _time(window.get("EndDate"), zone)
    # a window that started exactly ``duration`` ago has ended
    low, high = now - duration + timedelta(seconds=1), now + min(early, MAX_SPAN)
    starts = _starts(str(window.get("Schedule") or ""), window, zone, first or nxt, low, high)
    for start in starts:
        within = (first is None or start >= first) and (last is None or start <= last)
        if within and start - early <= now < start + duration:
            return True
    return False


_CRON = re.compile(r"cron\((?P<body>[^()]*)\)", re.IGNORECASE)
_RATE = re.compile(r"rate\((?P<n>[0-9]+) (?P<unit>minute|hour|day)s?\)", re.IGNORECASE)
_AT = re.compile(r"at\((?P<when>[^()]*)\)", re.IGNORECASE)
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}


def _starts(
    schedule: str,
    window: Mapping[str, Any],
    zone: tzinfo,
    reference: datetime | None,
    low: datetime,
    high: datetime,
) -> Iterable[datetime]:
    """The starts ``schedule`` gives from ``low`` to ``high`` (at most one for cron)."""
    schedule = schedule.strip()
    at = _AT.fullmatch(schedule)
    if at is not None:
        when = _time(at["when"], zone)
        return [when] if when is not None and low <= when <= high else []
    rate = _RATE.fullmatch(schedule)
    if rate is not None:
        if reference is None:
            return []
        step = timedelta(seconds=int(rate["n"]) * _UNITS[rate["unit"].lower()])
        if step <= timedelta(0):
            return []
        start = reference - step * ((reference - low) // step)  # the first at or after low
        found: list[datetime] = []
        while start <= high and len(found) < 10_000:
            found.append(start)
            start += step
        return found
    cron = _CRON.fullmatch(schedule)
    if cron is None:
        return []
    try:
        offset = timedelta(days=int(window.get("ScheduleOffset") or 0))
    except (TypeError, ValueError):
        offset = timedelta(0)
    found_start = _first_cron_match(cron["body"], (low - offset).astimezone(zone),
                                    (high - offset).astimezone(zone))  # fmt: skip
    return [] if found_start is None else [found_start + offset]


def _first_cron_match(body: str, low: datetime, high: datetime) -> datetime | None:
    """The first local minute from ``low`` to ``high`` that the cron fields match
    (``None``: none, or fields this reader does not know)."""
    fields = body.upper().split()
    if len(fields) != 6:
        return None
    zone = low.tzinfo
    wall = low.replace(tzinfo=None, second=0, microsecond=0)
    if wall < low.replace(tzinfo=None):
        wall += timedelta(minutes=1)
    end = high.replace(tzinfo=None)
    try:
        while wall <= end:
            if not _day_matches(fields, wall):
                wall = (wall + timedelta(days=1)).replace(hour=0, minute=0)
            elif not cron_field_matches(fields[1], wall.hour, 0, 23, ()):
                wall = (wall + timedelta(hours=1)).replace(minute=0)
            elif cron_field_matches(fields[0], wall.minute, 0, 59, ()):
                return wall.replace(tzinfo=zone)
            else:
                wall += timedelta(minutes=1)
    except ValueError:  # a field this reader cannot read
        return None
    return None


def _day_matches(fields: Sequence[str], day: datetime) -> bool:
    if not cron_field_matches(fields[3], day.month, 1, 12, MONTHS):
        return False
    if not cron_field_matches(fields[5], day.year, 1970, 2199, ()):
        return False
    return _day_of_month(fields[2], day) and _day_of_week(fields[4], day)


def _last_day(day: datetime) -> int:
    following = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return (following - timedelta(days=1)).day


def _day_of_month(text: str, day: datetime) -> bool:
    if text == "L":
        return day.day == _last_day(day)
    if "W" in text or "L" in text:
        raise ValueError(text)
    return cron_field_matches(text, day.day, 1, 31, ())


def _day_of_week(text: str, day: datetime) -> bool:
    weekday = (day.weekday() + 1) % 7 + 1  # cron: 1 is Sunday
    if "#" in text:
        name, _, nth = text.partition("#")
        return cron_value(name, 1, DAYS) == weekday and (day.day - 1) // 7 + 1 == int(nth)
    if text.endswith("L") and text != "L":
        return cron_value(text[:-1], 1, DAYS) == weekday and day.day + 7 > _last_day(day)
    if text == "L":
        return weekday == 7
    return cron_field_matches(text, weekday, 1, 7, DAYS)


def maintenance_windows(
    deployment: Deployment,
    subfleets: Sequence[str],
    now: datetime,
    read: Reader | None = None,
) -> list[dict[str, Any]]:
    """One record per fleet (``__main__``, then each subfleet): the enabled SSM
    maintenance windows that apply to it (``MaintenanceWindows``), whether it is in
    maintenance now (``IsMaintenanceTime``) and its next window
    (``NextMaintenanceWindowDetails``). One paginated ``DescribeMaintenanceWindows``,
    none when no key names a window.

    :param read: how configuration keys are read (default: one read per key).
    """
    configuration = deployment.configuration
    reader: Reader = read or (lambda key: configuration.entry(key, table_required=False))
    levels: dict[str, list[list[str]]] = {
        MAIN_FLEET: [
            _window_names(deployment, reader, key, None)
            for key in (MAIN_FLEET_WINDOWS_KEY, GROUP_WINDOWS_KEY, GLOBAL_WINDOWS_KEY)
        ]
    }
    for subfleet in subfleets:
        levels[subfleet] = [
            _window_names(deployment, reader, key, subfleet)
            for key in (
                SUBFLEET_WINDOWS_KEY,
                ALL_SUBFLEETS_WINDOWS_KEY,
                GROUP_WINDOWS_KEY,
                GLOBAL_WINDOWS_KEY,
            )
        ]
    wanted = sorted({name for names in levels.values() for level in names for name in level})
    windows: dict[str, list[dict[str, Any]]] = {}
    if wanted:
        ssm = deployment.client("ssm")
        pages = ssm.get_paginator("describe_maintenance_windows").paginate(
            Filters=[{"Key": "Name", "Values": wanted}, {"Key": "Enabled", "Values": ["true"]}]
        )
        for page in pages:
            for window in page.get("WindowIdentities", ()):
                if window.get("Enabled") is False:
                    continue
                windows.setdefault(window.get("Name", ""), []).append(naive(window))
    try:
        ahead = parse_duration(_fleet_value(reader, START_AHEAD_KEY, None))
    except ValueError:
        ahead = 0.0
    stamp = str(now)
    records = []
    for fleet, names in levels.items():
        found: list[dict[str, Any]] = []
        for level in names:
            found = [w for name in level for w in windows.get(name, ())]
            if found:
                break
        timed = sorted(
            ((when, w) for w in found if (when := _time(w.get("NextExecutionTime"))) is not None),
            key=lambda pair: pair[0],
        )
        records.append(
            {
                "Fleet": fleet,
                "MaintenanceWindows": found,
                "IsMaintenanceTime": any(in_maintenance(w, now, ahead) for w in found),
                "NextMaintenanceWindowDetails": timed[0][1] if timed else None,
                "MetadataRecordLastUpdatedAt": stamp,
            }
        )
    return records


# -------------------------------------------------------------------------
# The layer
# -------------------------------------------------------------------------


def maintenance_layer(
    deployment: Deployment, read: Reader, subfleets: Sequence[str], now: datetime
) -> Layer | None:
    """The ``SSM Maintenance Window override`` layer: ``None`` (and no SSM call) unless
    ``ssm.enable`` and ``ssm.feature.maintenance_window`` are on and a fleet is in
    maintenance.

    * the main fleet in maintenance: ``override:ec2.schedule.min_instance_count`` =
      ``ssm.feature.maintenance_window.mainfleet.ec2.schedule.min_instance_count``
      (``100%``: every instance runs);
    * a subfleet in maintenance: ``override:subfleet.<name>.ec2.schedule.min_instance_count``
      = its ``ssm.feature.maintenance_window.subfleet.<name>.ec2.schedule.min_instance_count``
      (``100%``), and, while its ``...subfleet.<name>.force_running`` is on (the default),
      ``override:subfleet.<name>.state`` = ``running``, so that a stopped subfleet is
      started for its window.
    """
    enabled = (_fleet_value(read, key, None) for key in (SSM_ENABLE_KEY, FEATURE_KEY))
    if not all(as_bool(value) for value in enabled):
        return None
    values: dict[str, str] = {}
    for record in maintenance_windows(deployment, subfleets, now, read):
        if not record["IsMaintenanceTime"]:
            continue
        fleet = record["Fleet"]
        if fleet == MAIN_FLEET:
            values["override:ec2.schedule.min_instance_count"] = _fleet_value(
                read, MAIN_FLEET_MIN_KEY, None
            )
            continue
        minimum = _fleet_value(read, SUBFLEET_MIN_KEY, fleet)
        values[f"override:subfleet.{fleet}.ec2.schedule.min_instance_count"] = minimum
        if as_bool(_fleet_value(read, FORCE_RUNNING_KEY, fleet)):
            values[f"override:subfleet.{fleet}.state"] = RUNNING
    if not values:
        return None
    return Layer(MAINTENANCE_LAYER, dict(sorted(values.items())))
