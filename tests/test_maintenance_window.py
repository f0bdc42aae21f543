"""``with_maintenance_window=true``: the ``SSM Maintenance Window override`` layer that
active SSM maintenance windows make, and the keys of each subfleet, on moto's SSM and
EC2 with windows made as an operator makes them (``CreateMaintenanceWindow`` with a
cron schedule)."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aws_calls import RawTable, counting
from clonesquad_interact import AWS, Dispatcher
from clonesquad_interact.testing import InteractClient
from demo_fleet import launch_managed, refusing

from helpers import fill

KEY = "ec2.schedule.min_instance_count"
LAYER = "SSM Maintenance Window override"
WITH = {"with_maintenance_window": "true"}
#: The keys that turn the layer on.
SSM_ON = {"ssm.enable": "1", "ssm.feature.maintenance_window": "1"}
#: The built-in plugin's module (installed as clonesquad_interact.plugins).
maintenance = importlib.import_module("clonesquad_interact.plugins.maintenance")


@pytest.fixture
def table(deployment: dict[str, str], aws_clients: AWS) -> RawTable:
    return RawTable(aws_clients.client("dynamodb"), deployment["ConfigurationTable"])


@pytest.fixture
def fleet(deployment: dict[str, str], aws_clients: AWS) -> None:
    """A main fleet instance and a member of subfleet ``db``."""
    ec2 = aws_clients.client("ec2")
    launch_managed(ec2, deployment["GroupName"], Name="web-1")
    launch_managed(ec2, deployment["GroupName"], **{"clonesquad:subfleet-name": "db"})


@pytest.fixture
def ssm_on(table: RawTable, fleet: None) -> None:
    fill(table, SSM_ON)


def started(minutes_ago: int, zone: str = "UTC") -> str:
    """A weekly cron (``ScheduleTimezone`` ``zone``) that started ``minutes_ago`` ago
    (negative: that starts later)."""
    from zoneinfo import ZoneInfo

    when = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).astimezone(ZoneInfo(zone))
    day = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")[when.weekday()]
    return f"cron({when.minute} {when.hour} ? * {day} *)"


def make_window(aws_clients: AWS, name: str, schedule: str, *, hours: int = 2, **more: Any) -> str:
    window: str = aws_clients.client("ssm").create_maintenance_window(
        Name=name,
        Schedule=schedule,
        Duration=hours,
        Cutoff=1,
        AllowUnassociatedTargets=False,
        **more,
    )["WindowId"]
    return window


def dump(client: InteractClient, **params: str) -> dict[str, Any]:
    answer = client.get("configuration", {**WITH, "unstable": "true", **params})
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


# -- without the parameter: nothing changes ----------------------------------------


def test_without_the_parameter_the_answer_and_the_calls_are_unchanged(
    deployed: Dispatcher, deployed_client: InteractClient, aws_clients: AWS, ssm_on: None
) -> None:
    make_window(aws_clients, "CS-test", started(30))
    with counting(deployed, "dynamodb", "ec2", "ssm") as calls:
        assert deployed_client.get(f"configuration/{KEY}").text == "2"
    assert dict(calls) == {"dynamodb.BatchGetItem": 1}
    with counting(deployed, "dynamodb", "ec2", "ssm") as calls:
        entries = deployed_client.get("configuration", {"unstable": "true"}).json()
    assert dict(calls) == {"dynamodb.Scan": 1}
    assert not [e for e in entries.values() if e["ConfigurationOrigin"] == LAYER]
    assert "subfleet.db.state" not in entries


# -- the main fleet --------------------------------------------------------------


def test_the_main_fleet_in_its_window_runs_every_instance(
    deployed: Dispatcher, deployed_client: InteractClient, aws_clients: AWS, ssm_on: None
) -> None:
    make_window(aws_clients, "CS-test", started(30))  # the group's window: CS-{GroupName}
    with counting(deployed, "dynamodb", "ec2", "ssm") as calls:
        answer = deployed_client.get(f"configuration/{KEY}", WITH)
    assert (answer.status_code, answer.text) == (200, "100%")
    assert dict(calls) == {
        "dynamodb.Scan": 1,
        "ec2.DescribeInstances": 1,
        "ssm.DescribeMaintenanceWindows": 1,
    }
    entries = dump(deployed_client)
    override = entries[f"override:{KEY}"]
    assert override["ConfigurationOrigin"] == LAYER
    assert override["Override"] is True
    assert override["Value"] == "100%"
    assert override["Status"] == f"Key found in '{LAYER}'"
    assert "DefaultValue" not in override
    resolved = entries[KEY]
    assert (resolved["Value"], resolved["Override"]) == ("100%", True)
    assert resolved["ConfigurationOrigin"] == LAYER
    # the stable dump lists it too (override: of a stable key)
    assert f"override:{KEY}" in deployed_client.get("configuration", WITH).json()
    # the group's window is every fleet's that has none of its own
    assert entries["override:subfleet.db.state"]["Value"] == "running"


def test_the_main_fleets_minimum_is_the_operators_and_beats_the_tables_override(
    deployed_client: InteractClient, aws_clients: AWS, table: RawTable, ssm_on: None
) -> None:
    make_window(aws_clients, "CS-test-Mainfleet", started(10))
    key = "ssm.feature.maintenance_window.mainfleet.ec2.schedule.min_instance_count"
    fill(table, {key: "50%", f"override:{KEY}": "1"})
    assert deployed_client.get(f"configuration/{KEY}", WITH).text == "50%", "the highest layer wins"
    assert deployed_client.get(f"configuration/{KEY}").text == "1", "the table's override otherwise"


def test_a_window_that_has_not_started_or_has_ended_makes_no_layer(
    deployed: Dispatcher, deployed_client: InteractClient, aws_clients: AWS, ssm_on: None
) -> None:
    make_window(aws_clients, "CS-test", started(-60))  # starts in an hour
    make_window(aws_clients, "CS-test-Subfleet.db", started(180), hours=2)  # ended an hour ago
    assert deployed_client.get(f"configuration/{KEY}", WITH).text == "2"
    entries = dump(deployed_client)
    assert not [name for name, e in entries.items() if e["ConfigurationOrigin"] == LAYER]


def test_a_fleet_is_in_maintenance_from_start_ahead_before_its_window(
    deployed_client: InteractClient, aws_clients: AWS, table: RawTable, ssm_on: None
) -> None:
    make_window(aws_clients, "CS-test", started(-10))  # in 10 minutes; start_ahead is 15
    assert deployed_client.get(f"configuration/{KEY}", WITH).text == "100%"
    table.put_item(Item={"Key": "ssm.feature.maintenance_window.start_ahead", "Value": "300"})
    assert deployed_client.get(f"configuration/{KEY}", WITH).text == "2"


def test_a_window_in_the_operators_time_zone(
    deployed_client: InteractClient, aws_clients: AWS, ssm_on: None
) -> None:
    make_window(aws_clients, "CS-test", started(30, "Asia/Tokyo"), ScheduleTimezone="Asia/Tokyo")
    assert deployed_client.get(f"configuration/{KEY}", WITH).text == "100%"


# -- subfleets -------------------------------------------------------------------


def test_a_subfleet_in_its_window_is_forced_to_run(
    deployed_client: InteractClient, aws_clients: AWS, ssm_on: None
) -> None:
    make_window(aws_clients, "CS-test-Subfleet.db", started(30))
    entries = dump(deployed_client)
    assert entries["override:subfleet.db.state"]["Value"] == "running"
    assert entries["override:subfleet.db.ec2.schedule.min_instance_count"]["Value"] == "100%"
    assert entries["subfleet.db.state"]["ConfigurationOrigin"] == LAYER
    assert entries[KEY]["Value"] == 2, "the main fleet is not in maintenance"
    assert deployed_client.get("configuration/subfleet.db.state", WITH).text == "running"


def test_force_running_off_keeps_the_subfleets_state(
    deployed_client: InteractClient, aws_clients: AWS, table: RawTable, ssm_on: None
) -> None:
    make_window(aws_clients, "CS-test-Subfleet.db", started(30))
    key = "ssm.feature.maintenance_window.subfleet.db.force_running"
    fill(table, {key: "0", "subfleet.db.state": "stopped"})
    entries = dump(deployed_client)
    assert "override:subfleet.db.state" not in entries
    assert entries["subfleet.db.state"]["Value"] == "stopped"
    assert entries["override:subfleet.db.ec2.schedule.min_instance_count"]["Value"] == "100%"


def test_windows_shared_by_every_subfleet_and_the_template_minimum(
    deployed_client: InteractClient, aws_clients: AWS, table: RawTable, ssm_on: None
) -> None:
    make_window(aws_clients, "CS-test-Subfleet.__all__", started(30))
    template = (
        "ssm.feature.maintenance_window.subfleet.{SubfleetName}.ec2.schedule.min_instance_count"
    )
    table.put_item(Item={"Key": template, "Value": "3"})
    entries = dump(deployed_client)
    assert entries["override:subfleet.db.ec2.schedule.min_instance_count"]["Value"] == "3"
    assert f"override:{KEY}" not in entries, "a subfleets' window is not the main fleet's"


def test_the_subfleets_keys_are_registered(
    deployed_client: InteractClient, fleet: None, deployed: Dispatcher
) -> None:
    with counting(deployed, "ec2", "ssm") as calls:
        entries = deployed_client.get("configuration", WITH).json()
    assert dict(calls) == {"ec2.DescribeInstances": 1}, "SSM is off: no SSM call"
    state = entries["subfleet.db.state"]
    assert state["Stable"] is True
    assert (state["Value"], state["DefaultValue"], state["Format"]) == (
        "undefined",
        "undefined",
        "String",
    )
    assert "subfleet.{SubfleetName}.state" in entries, "the templates stay listed"
    assert entries["ssm.feature.maintenance_window.subfleet.db.force_running"]["Stable"] is True
    assert "ssm.feature.maintenance_window.subfleet.db.defaults" not in entries, "unstable"
    unstable = dump(deployed_client)
    defaults = unstable["ssm.feature.maintenance_window.subfleet.db.defaults"]
    assert defaults["Value"] == "CS-{GroupName}-Subfleet.db"
    assert deployed_client.get("configuration/subfleet.db.state").status_code == 404


def test_writes_check_the_subfleets_keys(
    deployed_client: InteractClient, fleet: None, table: RawTable
) -> None:
    key = "subfleet.db.ec2.schedule.min_instance_count"
    refused = deployed_client.post(f"configuration/{key}", "lots", params=WITH)
    assert refused.status_code == 400, refused.text
    assert "IntegerOrPercentage" in refused.json()["error"]["message"]
    document = deployed_client.post("configuration", {key: "lots"}, params=WITH)
    assert document.status_code == 400, document.text
    assert table.get(key) is None, "nothing was written"
    assert deployed_client.post(f"configuration/{key}", "3", params=WITH).text == "3"
    assert deployed_client.post("configuration", {key: "50%"}, params=WITH).status_code == 200
    assert table.get(key) == {"Key": key, "Value": "50%"}


# -- failures of SSM -----------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "answer"),
    [("ThrottlingException", 400, 503), ("AccessDeniedException", 400, 500)],
)
def test_a_failure_of_ssm_is_classified_as_every_aws_error(
    deployment: dict[str, str],
    aws_clients: AWS,
    ssm_on: None,
    code: str,
    status: int,
    answer: int,
) -> None:
    make_window(aws_clients, "CS-test", started(30))
    dispatcher = Dispatcher(entry_points=False, aws=aws_clients)
    client = InteractClient(dispatcher)
    ssm = dispatcher.aws.client("ssm")
    with refusing(ssm, "DescribeMaintenanceWindows", code, status) as refused:
        result = client.get(f"configuration/{KEY}", WITH)
    assert refused
    assert result.status_code == answer, result.text
    assert code in result.json()["error"]["message"]
    assert "refused by the test" not in result.text, "no AWS error text in the answer"
    if answer == 503:
        assert int(result.headers["Retry-After"]) > 0


# -- when a window is running ----------------------------------------------------

NOW = datetime(2026, 12, 8, 9, 30, tzinfo=UTC)  # a Tuesday, the second of the month


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        ({"Schedule": "cron(0 9 ? * TUE#2 *)", "Duration": 2}, True),
        ({"Schedule": "cron(0 9 ? * TUE#1 *)", "Duration": 2}, False),
        ({"Schedule": "cron(0 9 ? * 3L *)", "Duration": 2}, False),
        ({"Schedule": "cron(0 9 8 * ? *)", "Duration": 1}, True),
        ({"Schedule": "cron(0 8 8 * ? *)", "Duration": 1}, False),
        ({"Schedule": "cron(0 9 7 * ? *)", "Duration": 1, "ScheduleOffset": 1}, True),
        ({"Schedule": "cron(0 10 ? * TUE *)", "Duration": 1, "ScheduleTimezone": "Europe/Paris"},
         True),
        ({"Schedule": "at(2026-12-08T09:00:00)", "Duration": 1}, True),
        ({"Schedule": "rate(3 hours)", "Duration": 1, "StartDate": "2026-12-01T00:00:00Z"},
         True),
        ({"Schedule": "rate(3 hours)", "Duration": 1, "StartDate": "2026-12-01T01:00:00Z"},
         False),
        ({"Schedule": "cron(0 9 ? * TUE *)", "Duration": 2, "EndDate": "2026-12-01T00:00:00Z"},
         False),
        ({"Schedule": "cron(0 9 ? * TUE *)", "Duration": 2, "StartDate": "2026-12-09T00:00:00Z"},
         False),
        ({"Schedule": "cron(0 9 LW * ? *)", "Duration": 2}, False),
        ({"Schedule": "cron(40 9 ? * TUE *)", "Duration": 1}, True),  # 10 minutes ahead
        ({"NextExecutionTime": "2026-12-08T09:40Z", "Duration": 1}, True),
    ],
)  # fmt: skip
def test_when_a_window_is_running(window: dict[str, Any], expected: bool) -> None:
    assert maintenance.in_maintenance(window, NOW, 15 * 60) is expected


def test_without_the_catalogue_the_parameter_reads_the_keys_defaults(
    deployment: dict[str, str], aws_clients: AWS, table: RawTable, fleet: None
) -> None:
    """A deployment that blocks CloneSquad's catalogue declares none of the SSM keys:
    the layer reads them from the table, else as the catalogue's defaults."""
    blocked = Dispatcher(
        entry_points=False, raise_unexpected=True, aws=aws_clients,
        block=["clonesquad_interact.plugins.catalogue"],
    )  # fmt: skip
    client = InteractClient(blocked)
    assert client.get(f"configuration/{KEY}", WITH).text == "2"
    fill(table, SSM_ON)
    make_window(aws_clients, "CS-test", started(30))
    table.put_item(Item={"Key": "ssm.feature.maintenance_window.defaults", "Value": "CS-test"})
    assert client.get(f"configuration/{KEY}", WITH).text == "100%"
