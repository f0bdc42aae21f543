"""The demo starts with the parameter set its own Scheduler entries have made active.

For fixed moments of the week (and in a zone other than UTC), the seeded
``config.active_parameter_set`` is the set of the entry that fired last, written as
that scheduled write was (its ``TTL=`` counted from the firing), and
``GET configuration/<key>`` answers the set's value, its dump naming the set as
CloneSquad's does. The dispatcher reads the table at the same moment (its
configuration's clock), so that a write that lasts until then is seen.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import boto3
import pytest

from aws_calls import RawTable
from clonesquad_interact import AWS, Dispatcher
from clonesquad_interact.local.demo import SET_KEYS, active_set_at, seed_demo
from clonesquad_interact.local.eventbridge import LocalEventBridge, last_firing
from clonesquad_interact.local.serve import active_set_line
from clonesquad_interact.schedules import time_zone

#: The values each demo set holds, by set.
SET_VALUES = {
    "workday": {"ec2.schedule.scaleout.rate": "10", "ec2.schedule.scalein.disable": "1"},
    "night": {"ec2.schedule.scaleout.rate": "2", "ec2.schedule.scalein.disable": "0"},
    "weekend": {"ec2.schedule.scaleout.rate": "1", "ec2.schedule.scalein.disable": "0"},
}

#: (moment, TimeZone, active set, entry that set it, when it fired (UTC), its TTL)
MOMENTS = [
    # Tuesday 09:30: the working day started at 08:00, with no TTL (config.default_ttl: 0)
    (datetime(2026, 12, 1, 9, 30, tzinfo=UTC), None, "workday", "demo-workday-start",
     datetime(2026, 12, 1, 8, 0, tzinfo=UTC), None),
    # Tuesday 03:00: Monday's 19:00 entry, for 13 hours
    (datetime(2026, 12, 1, 3, 0, tzinfo=UTC), None, "night", "demo-workday-end",
     datetime(2026, 11, 30, 19, 0, tzinfo=UTC), timedelta(hours=13)),
    # Saturday 06:00: still Friday's night; Saturday 10:00: the weekend since 08:00
    (datetime(2026, 12, 5, 6, 0, tzinfo=UTC), None, "night", "demo-workday-end",
     datetime(2026, 12, 4, 19, 0, tzinfo=UTC), timedelta(hours=13)),
    (datetime(2026, 12, 5, 10, 0, tzinfo=UTC), None, "weekend", "demo-weekend",
     datetime(2026, 12, 5, 8, 0, tzinfo=UTC), None),
    # Monday 03:00: the weekend lasts until the working day starts
    (datetime(2026, 11, 30, 3, 0, tzinfo=UTC), None, "weekend", "demo-weekend",
     datetime(2026, 11, 28, 8, 0, tzinfo=UTC), None),
    # Tuesday 07:30 UTC is 08:30 in Paris: the working day started at 07:00 UTC
    (datetime(2026, 12, 1, 7, 30, tzinfo=UTC), "Europe/Paris", "workday", "demo-workday-start",
     datetime(2026, 12, 1, 7, 0, tzinfo=UTC), None),
    # Tuesday 18:30 UTC is 19:30 in Paris: the night since 18:00 UTC
    (datetime(2026, 12, 1, 18, 30, tzinfo=UTC), "Europe/Paris", "night", "demo-workday-end",
     datetime(2026, 12, 1, 18, 0, tzinfo=UTC), timedelta(hours=13)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("now", "zone", "name", "entry", "fired", "ttl"),
    MOMENTS,
    ids=[f"{m[0]:%a-%H%M}-{m[1] or 'UTC'}" for m in MOMENTS],
)
def test_the_seeded_demo_serves_the_set_its_entries_made_active(
    deployment: dict[str, str],
    aws_clients: AWS,
    monkeypatch: pytest.MonkeyPatch,
    now: datetime,
    zone: str | None,
    name: str,
    entry: str,
    fired: datetime,
    ttl: timedelta | None,
) -> None:
    monkeypatch.setenv("TimeZone", zone or "UTC")
    session = boto3.session.Session(region_name=aws_clients.region)
    fleet = seed_demo(session, deployment, endpoint_url=None, now=now)
    active = fleet.active_set
    assert active is not None
    assert (active.name, active.entry, active.fired_at) == (name, entry, fired)
    assert active.expires_at == (fired + ttl if ttl is not None else None)
    dynamodb = aws_clients.client("dynamodb")
    (item,) = [
        item
        for item in dynamodb.scan(TableName=deployment["ConfigurationTable"])["Items"]
        if item["Key"]["S"] == "config.active_parameter_set"
    ]
    assert item["Value"]["S"] == name
    if ttl is None:
        assert "ExpirationTime" not in item
    else:  # as the scheduled write made when the entry fired
        assert int(item["ExpirationTime"]["N"]) == int((fired + ttl).timestamp())

    dispatcher = Dispatcher(entry_points=False, raise_unexpected=True, aws=aws_clients)
    dispatcher.configuration.clock = lambda: now.timestamp()
    table = deployment["ConfigurationTable"]
    for key in SET_KEYS:
        answer = dispatcher.call(f"configuration/{key}")
        assert answer.status == 200, answer.body
        assert answer.body == SET_VALUES[name][key]
    dump = dispatcher.call("configuration").body
    assert dump["config.active_parameter_set"]["Value"] == name
    for key in SET_KEYS:
        shown = dump[key]
        assert shown["Value"] == SET_VALUES[name][key]
        origin = f"DynamoDB configuration table '{table}'"
        assert shown["ConfigurationOrigin"] == origin
        assert shown["Status"] == f"Key found in '{origin}' (ParameterSet='{name}')"
        assert shown["Description"]
    assert name in active_set_line(fleet)
    assert entry in active_set_line(fleet)


def test_every_moment_of_the_week_has_a_set_and_it_is_what_serve_fires_next() -> None:
    # Each hour of a week (Paris, across the change to winter time): a set is active,
    # and it changes only where an entry of the demo fires.
    zone = ZoneInfo("Europe/Paris")
    start = datetime(2026, 10, 24, 0, 30, tzinfo=UTC)  # Saturday; Sunday 25 changes the time
    seen = set()
    for hour in range(24 * 8):
        moment = start + timedelta(hours=hour)
        active = active_set_at(moment, zone)
        assert active is not None, moment
        assert active.fired_at <= moment
        assert active.expires_at is None or active.expires_at > moment
        local = active.fired_at.astimezone(zone)
        assert (local.hour, local.minute) in {(8, 0), (19, 0)}
        seen.add(active.name)
    assert seen == set(SET_VALUES)


def test_the_last_firing_is_the_one_the_player_fires(
    deployed: Dispatcher, deployment: dict[str, str], aws_clients: AWS
) -> None:
    # What last_firing finds backwards is what LocalEventBridge fires forwards.
    zone = time_zone("Europe/Paris")
    schedules = {"morning": "localcron(0 8 ? * MON-FRI *)", "weekly": "cron(30 6 ? * SUN *)"}
    monday = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)  # 08:00 in Paris
    assert last_firing(schedules, zone, monday) == ("morning", monday)
    assert last_firing(schedules, zone, monday - timedelta(seconds=1)) == (
        "weekly",
        datetime(2026, 11, 29, 6, 30, tzinfo=UTC),
    )
    assert last_firing({"often": "rate(1 minute)"}, zone, monday) is None
    assert last_firing(schedules, zone, monday, within=timedelta(hours=1)) == ("morning", monday)
    weekly = {"weekly": schedules["weekly"]}
    assert last_firing(weekly, zone, monday, within=timedelta(hours=1)) is None

    scheduler = RawTable(aws_clients.client("dynamodb"), deployment["SchedulerTable"])
    value = "cron(0 7 ? * MON-FRI *),app.disable=0"
    scheduler.put_item(Item={"Key": "morning", "Value": value})
    now = [monday.timestamp() + 10]
    fired: list[float] = []
    bridge = LocalEventBridge(
        lambda event, context: fired.append(now[0]),
        deployed.deployment,
        region="eu-west-3",
        account="123456789012",
        clock=lambda: now[0],
    )
    assert bridge.fire_due() == 1
    assert fired == [monday.timestamp() + 10]
    later = monday + timedelta(hours=3)
    assert last_firing({"morning": "cron(0 7 ? * MON-FRI *)"}, UTC, later) == ("morning", monday)
