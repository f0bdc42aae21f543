"""EventBridge scheduled events of Scheduler entries' rules, served against moto."""

from __future__ import annotations

import copy
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from structlog.testing import capture_logs

import faults
from aws_calls import RawTable
from clonesquad_interact import AWS, BadRequest, Dispatcher
from clonesquad_interact.events import EventKind, classify
from clonesquad_interact.lambda_handler import handler
from clonesquad_interact.scheduled import ScheduledEventFailed
from clonesquad_interact.schedules import rule_name, utc_schedule

EVENTS = Path(__file__).parent / "events"
SCALE_UP = ("scale-up-morning", "cron(0 8 * * ? *),ec2.schedule.min_instance_count=3")
RESCHEDULE = ("reschedule-soon", "rate(5 minutes),interact:control/reschedulenow?delay=60")


def sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"scheduled_event_{name}.json").read_text())
    return event


def event_of(rule: str) -> dict[str, Any]:
    """EventBridge's event for ``rule``, as the samples are."""
    event = copy.deepcopy(sample("scale_up"))
    event["resources"] = [f"arn:aws:events:eu-west-3:123456789012:rule/{rule}"]
    return event


def rule_of(name: str, value: str, group: str = "test") -> str:
    return rule_name(group, name, value, UTC, datetime.now(UTC))


@pytest.fixture(autouse=True)
def in_utc(deployment: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The deployments of these tests set ``TimeZone`` to UTC (tests of other zones
    set theirs, or unset it)."""
    monkeypatch.setenv("TimeZone", "UTC")


@pytest.fixture
def scheduler(deployment: dict[str, str], aws_clients: AWS) -> RawTable:
    return RawTable(aws_clients.client("dynamodb"), deployment["SchedulerTable"])


@pytest.fixture
def configuration(deployment: dict[str, str], aws_clients: AWS) -> RawTable:
    return RawTable(aws_clients.client("dynamodb"), deployment["ConfigurationTable"])


@pytest.fixture
def lenient(deployment: dict[str, str], aws_clients: AWS) -> Dispatcher:
    """As in production: a bug is logged, never raised to the test."""
    return Dispatcher(entry_points=False, aws=aws_clients)


def test_the_rule_name_is_the_one_the_main_function_gives() -> None:
    # The facts sheet's example (3.4), and the samples' rules.
    assert rule_of(*SCALE_UP, group="demo") == "CS-Cron-demo-6c9db665ff"
    assert sample("scale_up")["resources"] == [
        f"arn:aws:events:eu-west-3:123456789012:rule/{rule_of(*SCALE_UP)}"
    ]
    assert sample("reschedule")["resources"][0].endswith(f"rule/{rule_of(*RESCHEDULE)}")
    # The zone's abbreviation and daylight saving time are part of the name.
    paris = ZoneInfo("Europe/Paris")
    winter = rule_name("demo", *SCALE_UP, paris, datetime(2026, 1, 15, tzinfo=UTC))
    summer = rule_name("demo", *SCALE_UP, paris, datetime(2026, 7, 15, tzinfo=UTC))
    assert len({winter, summer, rule_of(*SCALE_UP, group="demo")}) == 3


def test_localcron_turns_the_minute_and_hour_fields_into_utc() -> None:
    july = datetime(2026, 7, 15, tzinfo=UTC)
    assert utc_schedule("localcron(0 12 * * ? *)", ZoneInfo("Europe/Paris"), july) == (
        "cron(0 10 * * ? *)"
    )
    kolkata = ZoneInfo("Asia/Kolkata")
    assert utc_schedule("localcron(0 12,3 ? * MON-FRI *)", kolkata, july) == (
        "cron(30 6,21 ? * MON-FRI *)"
    )
    assert utc_schedule("localcron(*/10 8-18 * * ? *)", ZoneInfo("Europe/Paris"), july) == (
        "cron(*/10 6-16 * * ? *)"
    )
    assert utc_schedule("rate(5 minutes)", kolkata, july) == "rate(5 minutes)"


def test_a_scheduled_event_is_its_own_kind_and_other_eventbridge_events_are_refused() -> None:
    assert classify(sample("scale_up")) is EventKind.SCHEDULED
    other = {**sample("scale_up"), "detail-type": "EC2 Instance State-change Notification"}
    with pytest.raises(BadRequest, match="scheduled event"):
        classify(other)


def test_the_entry_of_the_rule_writes_the_configuration_permanently_by_default(
    deployed: Dispatcher, scheduler: RawTable, configuration: RawTable
) -> None:
    scheduler.put_item(Item={"Key": SCALE_UP[0], "Value": SCALE_UP[1]})
    scheduler.put_item(Item={"Key": "other", "Value": "rate(1 day),app.disable=1"})
    with capture_logs() as logs:
        done = deployed.handle(sample("scale_up"))
    assert done["outcome"] == "done"
    item = configuration.get("ec2.schedule.min_instance_count")
    assert item is not None
    assert (item["Value"], item.get("ExpirationTime")) == ("3", None)
    assert configuration.get("app.disable") is None  # the other entry did not run
    actions = [line for line in logs if line["event"] == "scheduled.action"]
    assert [(a["entry"], a["action"], a["outcome"]) for a in actions] == [
        ("scale-up-morning", "ec2.schedule.min_instance_count=3", "done")
    ]
    assert actions[0]["rule"] == rule_of(*SCALE_UP)


def test_config_default_ttl_applies_and_the_entrys_ttl_wins_over_it(
    deployed: Dispatcher, scheduler: RawTable, configuration: RawTable
) -> None:
    configuration.put_item(Item={"Key": "config.default_ttl", "Value": "300"})
    scheduler.put_item(Item={"Key": SCALE_UP[0], "Value": SCALE_UP[1]})
    night = "cron(0 20 * * ? *),[night]ec2.schedule.min_instance_count=1,app.disable,TTL=hours=2"
    scheduler.put_item(Item={"Key": "night", "Value": night})
    deployed.handle(sample("scale_up"))
    deployed.handle(event_of(rule_of("night", night)))
    now = time.time()
    default = configuration.get("ec2.schedule.min_instance_count")
    assert default is not None
    assert abs(int(default["ExpirationTime"]) - (now + 300)) < 10
    in_set = configuration.get("[night]ec2.schedule.min_instance_count")
    flag = configuration.get("app.disable")
    assert in_set is not None
    assert flag is not None
    assert abs(int(in_set["ExpirationTime"]) - (now + 7200)) < 10
    assert (in_set["Value"], flag["Value"]) == ("1", "1")  # a flag is a Bool CloneSquad reads
    assert abs(int(flag["ExpirationTime"]) - (now + 7200)) < 10


def test_an_entry_of_several_records_runs_its_first_as_the_main_function_does(
    deployed: Dispatcher, scheduler: RawTable, configuration: RawTable
) -> None:
    value = "rate(5 minutes),app.disable=1,TTL=600;rate(1 day),ec2.schedule.min_instance_count=7"
    scheduler.put_item(Item={"Key": "two-records", "Value": value})
    with capture_logs() as logs:
        done = deployed.handle(event_of(rule_of("two-records", value)))
    assert done["outcome"] == "done"
    assert done["rules"][0]["ignored_records"] == 1
    flag = configuration.get("app.disable")
    assert flag is not None
    assert flag["Value"] == "1"
    assert abs(int(flag["ExpirationTime"]) - (time.time() + 600)) < 10
    assert configuration.get("ec2.schedule.min_instance_count") is None
    ignored = [line for line in logs if line["event"] == "scheduled.entry"]
    assert [(line["entry"], line["ignored_records"]) for line in ignored] == [("two-records", 1)]


def test_a_rule_that_matches_no_entry_is_logged_not_a_crash(
    lenient: Dispatcher, scheduler: RawTable, configuration: RawTable
) -> None:
    scheduler.put_item(Item={"Key": SCALE_UP[0], "Value": SCALE_UP[1] + "0"})  # changed since
    with capture_logs() as logs:
        done = lenient.handle(sample("scale_up"))
    assert done["outcome"] == "no entry"
    assert done["rules"][0]["entry"] is None
    assert configuration.items() == []
    warning = next(line for line in logs if line.get("outcome") == "no entry")
    assert warning["log_level"] == "warning"
    assert rule_of(*SCALE_UP) in warning["reason"]
    foreign = lenient.handle(event_of("CS-Cron-othergroup-0123456789"))
    assert "not a rule of group 'test'" in foreign["rules"][0]["reason"]


@pytest.mark.parametrize("fault", [faults.THROTTLING, faults.SERVICE_UNAVAILABLE])
def test_a_transient_aws_failure_raises_so_that_lambda_retries(
    lenient: Dispatcher,
    scheduler: RawTable,
    configuration: RawTable,
    fault: faults.Fault,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scheduler.put_item(Item={"Key": SCALE_UP[0], "Value": SCALE_UP[1]})
    with (
        faults.injected(lenient.aws.client("dynamodb"), {"PutItem"}, fault),
        pytest.raises(ScheduledEventFailed, match=r"ec2\.schedule\.min_instance_count=3"),
    ):
        lenient.handle(sample("scale_up"))
    assert configuration.items() == []
    # the retry that Lambda makes succeeds
    assert lenient.handle(sample("scale_up"))["outcome"] == "done"
    assert configuration.get("ec2.schedule.min_instance_count") is not None


def test_the_lambda_handler_raises_for_a_transient_failure(
    deployment: dict[str, str], scheduler: RawTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    scheduler.put_item(Item={"Key": SCALE_UP[0], "Value": SCALE_UP[1]})
    from clonesquad_interact import lambda_handler

    lambda_handler.get_dispatcher.cache_clear()
    try:
        dispatcher = lambda_handler.get_dispatcher()
        with (
            faults.injected(dispatcher.aws.client("dynamodb"), {"Scan"}, faults.THROTTLING),
            pytest.raises(ScheduledEventFailed, match="throttling"),
        ):
            handler(sample("scale_up"), None)
        assert handler(sample("scale_up"), None)["outcome"] == "done"
    finally:
        lambda_handler.get_dispatcher.cache_clear()


def test_a_permanent_failure_is_logged_with_the_whole_event(
    lenient: Dispatcher, scheduler: RawTable, configuration: RawTable
) -> None:
    # Written by the original's API, which checks nothing: not a PositiveInteger.
    bad = "cron(0 8 * * ? *),ec2.schedule.min_instance_count=lots,app.disable=1"
    scheduler.put_item(Item={"Key": "bad", "Value": bad})
    with capture_logs() as logs:
        done = lenient.handle(event_of(rule_of("bad", bad)))
    assert done["outcome"] == "failed"
    assert configuration.get("ec2.schedule.min_instance_count") is None
    assert configuration.get("app.disable") is not None  # the next action still ran
    failed = next(line for line in logs if line["event"] == "scheduled.event")
    assert failed["log_level"] == "error"
    assert failed["scheduled_event"] == event_of(rule_of("bad", bad))
    assert "PositiveInteger" in failed["failed"][0]
    scheduler.put_item(Item={"Key": SCALE_UP[0], "Value": SCALE_UP[1]})
    with faults.injected(lenient.aws.client("dynamodb"), {"PutItem"}, faults.ACCESS_DENIED):
        denied = lenient.handle(sample("scale_up"))
    assert denied["outcome"] == "failed"
    assert "AccessDeniedException" in denied["rules"][0]["actions"][0]["error"]


def test_cron_disable_stops_the_entries(
    deployed: Dispatcher, scheduler: RawTable, configuration: RawTable
) -> None:
    scheduler.put_item(Item={"Key": SCALE_UP[0], "Value": SCALE_UP[1]})
    configuration.put_item(Item={"Key": "cron.disable", "Value": "1"})
    assert deployed.handle(sample("scale_up"))["outcome"] == "skipped"
    assert configuration.get("ec2.schedule.min_instance_count") is None


# -------------------------------------------------------------------------
# interact:<path> entries
# -------------------------------------------------------------------------


def test_interact_reschedulenow_with_its_query_string(
    deployed: Dispatcher, deployment: dict[str, str], aws_clients: AWS, scheduler: RawTable
) -> None:
    state = RawTable(aws_clients.client("dynamodb"), deployment["StateTable"])
    state.put_item(Item={"Key": "main.last_call_date", "Value": "2026-12-01 08:00:00+00:00"})
    scheduler.put_item(Item={"Key": RESCHEDULE[0], "Value": RESCHEDULE[1]})
    sent: list[dict[str, Any]] = []
    sqs = deployed.aws.client("sqs")  # the session's shared client: the hook is taken off
    sqs.meta.events.register(
        "provide-client-params.sqs.SendMessage",
        lambda params, **_: sent.append(dict(params)),
        unique_id="sent-messages",
    )
    try:
        done = deployed.handle(sample("reschedule"))
    finally:
        sqs.meta.events.unregister(
            "provide-client-params.sqs.SendMessage", unique_id="sent-messages"
        )
    action = done["rules"][0]["actions"][0]
    assert (action["action"], action["status"]) == ("interact:control/reschedulenow?delay=60", 200)
    assert action["answer"].endswith("Reschedule in 60 second(s)...")
    assert state.get("main.last_call_date") is None
    assert [(m["QueueUrl"], m["DelaySeconds"]) for m in sent] == [(deployment["MainSQSQueue"], 60)]
    attributes = aws_clients.client("sqs").get_queue_attributes(
        QueueUrl=deployment["MainSQSQueue"], AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"


@pytest.fixture
def bucket(deployment: dict[str, str], aws_clients: AWS, monkeypatch: pytest.MonkeyPatch) -> str:
    name = "backups-bucket"
    aws_clients.client("s3").create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": aws_clients.region}
    )
    monkeypatch.setenv("MetadataAndBackupS3Path", f"s3://{name}/cs/")
    return name


def backed_up(aws_clients: AWS, bucket: str) -> list[str]:
    listed = aws_clients.client("s3").list_objects_v2(Bucket=bucket).get("Contents", ())
    return sorted(item["Key"] for item in listed)


def test_interact_backup_writes_the_backup(
    bucket: str, aws_clients: AWS, scheduler: RawTable
) -> None:
    entry = "rate(1 hour),interact:backup"
    scheduler.put_item(Item={"Key": "hourly-backup", "Value": entry})
    dispatcher = Dispatcher(entry_points=False, raise_unexpected=True, aws=aws_clients)
    done = dispatcher.handle(event_of(rule_of("hourly-backup", entry)))
    assert done["rules"][0]["actions"][0]["status"] == 200
    keys = backed_up(aws_clients, bucket)
    assert any(key.endswith("-scheduler-cs-test.yaml") and "/latest-" in key for key in keys)
    assert any("metadata/configuration/" in key for key in keys)


def test_the_periodic_backup_entry_of_the_main_function_is_found(
    bucket: str, aws_clients: AWS, scheduler: RawTable
) -> None:
    # CS-PeriodicBackup-<group> is made from backup.cron, never stored in the table;
    # a table item of that name is ignored (reserved).
    scheduler.put_item(Item={"Key": "CS-PeriodicBackup-test", "Value": "rate(1 day),app.disable=1"})
    dispatcher = Dispatcher(entry_points=False, raise_unexpected=True, aws=aws_clients)
    done = dispatcher.handle(sample("periodic_backup"))
    assert done["rules"][0]["entry"] == "CS-PeriodicBackup-test"
    assert [a["action"] for a in done["rules"][0]["actions"]] == ["interact:backup"]
    assert backed_up(aws_clients, bucket)


def test_an_interact_call_that_fails_for_good_is_logged_and_not_retried(
    lenient: Dispatcher, scheduler: RawTable
) -> None:
    # No MetadataAndBackupS3Path: backup cannot work until the deployment changes.
    entry = "rate(1 hour),interact:backup"
    scheduler.put_item(Item={"Key": "hourly-backup", "Value": entry})
    with capture_logs() as logs:
        done = lenient.handle(event_of(rule_of("hourly-backup", entry)))
    assert done["outcome"] == "failed"
    assert done["rules"][0]["actions"][0]["status"] == 424
    assert any(
        line.get("event") == "scheduled.event" and "scheduled_event" in line for line in logs
    )


def test_a_backup_cron_with_commas_still_runs_the_backup(
    bucket: str, aws_clients: AWS, deployment: dict[str, str], configuration: RawTable
) -> None:
    # CloneSquad glues backup.cron and ",interact:backup": its own comma must not split it.
    configuration.put_item(Item={"Key": "backup.cron", "Value": "cron(0 6,18 * * ? *)"})
    value = "cron(0 6,18 * * ? *),interact:backup"
    dispatcher = Dispatcher(entry_points=False, raise_unexpected=True, aws=aws_clients)
    done = dispatcher.handle(event_of(rule_of("CS-PeriodicBackup-test", value)))
    assert [a["action"] for a in done["rules"][0]["actions"]] == ["interact:backup"]
    assert done["outcome"] == "done"
    assert backed_up(aws_clients, bucket)


def test_a_localcron_entry_of_a_deployment_in_another_zone(
    deployment: dict[str, str],
    aws_clients: AWS,
    scheduler: RawTable,
    configuration: RawTable,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TimeZone", "Europe/Paris")
    value = "localcron(0 12 * * ? *),app.disable=1"
    scheduler.put_item(Item={"Key": "local-noon", "Value": value})
    dispatcher = Dispatcher(entry_points=False, raise_unexpected=True, aws=aws_clients)
    paris = rule_name("test", "local-noon", value, ZoneInfo("Europe/Paris"), datetime.now(UTC))
    assert paris != rule_of("local-noon", value)  # the zone is part of the rule's name
    assert dispatcher.handle(event_of(rule_of("local-noon", value)))["outcome"] == "no entry"
    assert dispatcher.handle(event_of(paris))["outcome"] == "done"
    assert configuration.content() == {"app.disable": "1"}


def test_an_interact_path_written_for_clonesquad_runs_as_clonesquad_reads_it(
    deployed: Dispatcher, deployment: dict[str, str], aws_clients: AWS, scheduler: RawTable
) -> None:
    # Written by the original's API, which checks nothing; it folds the case.
    value = "rate(5 minutes),interact:/Control//RescheduleNow?delay=5"
    scheduler.put_item(Item={"Key": "legacy", "Value": value})
    done = deployed.handle(event_of(rule_of("legacy", value)))
    assert done["outcome"] == "done"
    assert done["rules"][0]["actions"][0]["answer"].endswith("Reschedule in 5 second(s)...")


def test_an_entry_that_writes_a_bool_as_a_word_stores_the_1_or_0_the_main_function_reads(
    deployed: Dispatcher, scheduler: RawTable, configuration: RawTable
) -> None:
    scheduler.put_item(Item={"Key": SCALE_UP[0], "Value": "cron(0 8 * * ? *),app.disable=true"})
    event = event_of(rule_of(SCALE_UP[0], "cron(0 8 * * ? *),app.disable=true"))
    assert deployed.handle(event)["outcome"] == "done"
    item = configuration.get("app.disable")
    assert item is not None
    assert item["Value"] == "1"


def test_a_deployment_that_sets_no_zone_is_in_its_regions_as_clonesquads(
    aws_clients: AWS,
    scheduler: RawTable,
    configuration: RawTable,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The deployment is in eu-west-3 (Paris): its rules are named in Europe/Paris.
    monkeypatch.delenv("TimeZone")
    deployed = Dispatcher(entry_points=False, raise_unexpected=True, aws=aws_clients)
    scheduler.put_item(Item={"Key": SCALE_UP[0], "Value": SCALE_UP[1]})
    paris = rule_name("test", *SCALE_UP, ZoneInfo("Europe/Paris"), datetime.now(UTC))
    assert paris != rule_of(*SCALE_UP)
    assert deployed.handle(event_of(rule_of(*SCALE_UP)))["outcome"] == "no entry"
    assert deployed.handle(event_of(paris))["outcome"] == "done"
    assert configuration.content() == {"ec2.schedule.min_instance_count": "3"}


def test_an_entry_that_sets_the_minimum_as_a_percentage_runs_whole(
    deployed: Dispatcher, scheduler: RawTable, configuration: RawTable
) -> None:
    value = (
        "cron(0 8 * * ? *),ec2.schedule.min_instance_count=100%,"
        "ec2.schedule.desired_instance_count=100%"
    )
    scheduler.put_item(Item={"Key": "full", "Value": value})
    done = deployed.handle(event_of(rule_of("full", value)))
    assert done["outcome"] == "done", done
    assert configuration.content() == {
        "ec2.schedule.min_instance_count": "100%",
        "ec2.schedule.desired_instance_count": "100%",
    }
