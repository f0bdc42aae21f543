"""serve's EventBridge: the Scheduler entries' rules fired on their schedule, and the
demo's deployment (its entries, its parameter sets) that it fires."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from aws_calls import RawTable
from clonesquad_interact import AWS, Dispatcher
from clonesquad_interact.local.demo import DEMO_FIRED_ENTRY, seed_demo
from clonesquad_interact.local.eventbridge import LocalEventBridge, cron_matches
from clonesquad_interact.schedules import entry_problem, rule_name, time_zone

#: Monday 2026-11-30 08:00 UTC.
MONDAY_8 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "fires"),
    [
        ("cron(0 8 * * ? *)", True),
        ("cron(0 8 ? * MON-FRI *)", True),
        ("cron(0 8 ? * 2 *)", True),  # EventBridge's 1 is Sunday
        ("cron(0 8 ? * SAT,SUN *)", False),
        ("cron(*/15 6-9 * * ? *)", True),
        ("cron(5/15 * * * ? *)", False),
        ("cron(0 8 30 NOV ? 2026)", True),
        ("cron(0 8 1 * ? *)", False),
        ("cron(0 9 * * ? *)", False),
    ],
)
def test_a_cron_expression_fires_at_the_minutes_it_names(expression: str, fires: bool) -> None:
    assert cron_matches(expression, MONDAY_8) is fires


def test_what_the_player_does_not_play_is_said() -> None:
    assert cron_matches("cron(0 8 L * ? *)", MONDAY_8) is None
    assert cron_matches("cron(0 8 ? * 2#1 *)", MONDAY_8) is None
    assert cron_matches("rate(5 minutes)", MONDAY_8) is None


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now.timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def scheduler(deployment: dict[str, str], aws_clients: AWS) -> RawTable:
    return RawTable(aws_clients.client("dynamodb"), deployment["SchedulerTable"])


def test_rate_and_cron_entries_fire_as_eventbridge_fires_their_rules(
    deployed: Dispatcher, scheduler: RawTable, aws_clients: AWS, deployment: dict[str, str]
) -> None:
    scheduler.put_item(Item={"Key": "often", "Value": "rate(2 minutes),app.disable=1"})
    scheduler.put_item(Item={"Key": "morning", "Value": "cron(0 8 * * ? *),app.run_period=60"})
    clock = Clock(MONDAY_8)
    handed: list[dict[str, Any]] = []

    def handle(event: dict[str, Any], context: Any) -> Any:
        handed.append(event)
        return deployed.handle(event, context)

    bridge = LocalEventBridge(
        handle, deployed.deployment, region="eu-west-3", account="123456789012", clock=clock
    )
    assert bridge.fire_due() == 1  # the cron entry's minute; a rate's first is a period away
    assert bridge.fire_due() == 0  # once per minute
    clock.now += 119
    assert bridge.fire_due() == 0
    clock.now += 1
    assert bridge.fire_due() == 1
    rules = [event["resources"][0].rpartition("/")[2] for event in handed]
    zone = time_zone(None, "eu-west-3")  # the deployment sets no TimeZone: its region's
    assert rules == [
        rule_name("test", "morning", "cron(0 8 * * ? *),app.run_period=60", zone, MONDAY_8),
        rule_name("test", "often", "rate(2 minutes),app.disable=1", zone, MONDAY_8),
    ]
    assert handed[0]["detail-type"] == "Scheduled Event"
    assert handed[0]["time"] == "2026-11-30T08:00:00Z"
    configuration = RawTable(aws_clients.client("dynamodb"), deployment["ConfigurationTable"])
    assert configuration.content() == {"app.run_period": "60", "app.disable": "1"}


def test_a_failed_event_is_handed_again_as_lambda_retries(deployed: Dispatcher) -> None:
    clock = Clock(MONDAY_8)
    attempts: list[float] = []

    def failing(event: dict[str, Any], context: Any) -> Any:
        attempts.append(clock.now)
        raise RuntimeError("for now")

    bridge = LocalEventBridge(
        failing, deployed.deployment, region="eu-west-3", account="123456789012", clock=clock
    )
    scheduler = RawTable(
        deployed.aws.client("dynamodb"), deployed.settings.require("SchedulerTable")
    )
    scheduler.put_item(Item={"Key": "morning", "Value": "cron(0 8 * * ? *),app.disable=1"})
    for _ in range(200):
        bridge.fire_due()
        clock.now += 2
    start = MONDAY_8.timestamp()
    assert attempts == [start, start + 60, start + 60 + 120]


def test_the_demo_seeds_a_deployment_whose_entry_serve_fires_every_minute(
    deployment: dict[str, str], aws_clients: AWS
) -> None:
    session = boto3.session.Session(region_name=aws_clients.region)
    seed_demo(session, deployment, endpoint_url=None)
    dispatcher = Dispatcher(entry_points=False, raise_unexpected=True, aws=aws_clients)
    dynamodb = aws_clients.client("dynamodb")
    entries = RawTable(dynamodb, deployment["SchedulerTable"]).content()
    assert DEMO_FIRED_ENTRY in entries
    for name, value in entries.items():  # every entry is one POST scheduler takes
        assert entry_problem(name, value, dispatcher.configuration_keys, lambda op: True) is None
    configuration = RawTable(dynamodb, deployment["ConfigurationTable"]).content()
    for name in ("workday", "night", "weekend"):  # a set for each moment of the week
        assert f"[{name}]ec2.schedule.scaleout.rate" in configuration
    assert configuration["config.active_parameter_set"] in ("workday", "night", "weekend")
    # Tuesday 03:00: no cron entry is due, the every-minute one comes after a minute.
    clock = Clock(datetime(2026, 12, 1, 3, 0, 30, tzinfo=UTC))
    bridge = LocalEventBridge(
        dispatcher.handle,
        dispatcher.deployment,
        region="eu-west-3",
        account="123456789012",
        clock=clock,
    )
    assert bridge.fire_due() == 0
    clock.now += 60
    assert bridge.fire_due() == 1
    queue = aws_clients.client("sqs").get_queue_attributes(
        QueueUrl=deployment["MainSQSQueue"], AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )
    assert queue["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"
    assert json.loads(json.dumps(entries))  # the dump a user sees is plain JSON
