"""replay: recorded Lambda events (files, directories, CloneSquad's S3 archive) served again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aws_calls import RawTable
from clonesquad_interact import AWS, Dispatcher, Request, hookimpl
from clonesquad_interact.cli import main
from clonesquad_interact.replay import Recorded, read_events, replay
from clonesquad_interact.testing import apigw_rest_event, sqs_record

from helpers import make_operation

EVENTS = Path(__file__).parent / "events"
DATES = ["2026-12-01 19:13:42.471382+00:00", "2026-12-01 19:14:42.471382+00:00"]
#: A scheduled event as EventBridge sends it for the rule of entry ``ENTRY``.
SCHEDULED = json.loads((EVENTS / "scheduled_event_scale_up.json").read_text())
ENTRY = ("scale-up-morning", "cron(0 8 * * ? *),ec2.schedule.min_instance_count=3")
#: A scheduled event of a rule that no entry has any more.
STALE = {**SCHEDULED, "resources": ["arn:aws:events:eu-west-1:111122223333:rule/CS-Cron-test-0"]}


@pytest.fixture
def events(
    deployment: dict[str, str], aws_clients: AWS, monkeypatch: pytest.MonkeyPatch
) -> RawTable:
    monkeypatch.setenv("TimeZone", "UTC")  # the zone the sample events' rules were named in
    table = RawTable(aws_clients.client("dynamodb"), deployment["EventTable"], "EventDate")
    for date in DATES:
        table.put_item(Item={"EventDate": date, "EventType": "scale_out", "Metadata": "{}"})
    scheduler = RawTable(aws_clients.client("dynamodb"), deployment["SchedulerTable"])
    scheduler.put_item(Item={"Key": ENTRY[0], "Value": ENTRY[1]})
    return table


def configured(deployment: dict[str, str], aws_clients: AWS) -> dict[str, str]:
    return RawTable(aws_clients.client("dynamodb"), deployment["ConfigurationTable"]).content()


def archive(directory: Path) -> Path:
    """Events in the layout of CloneSquad's archive: ``InteractEvents/<date>.json``."""
    folder = directory / "InteractEvents"
    folder.mkdir(parents=True)
    recorded = {
        "2026-12-01 19:00:00.000001+00:00": apigw_rest_event("GET", "/fleet/status"),
        "2026-12-01 19:00:01.000001+00:00": apigw_rest_event(
            "GET", "/configuration/notify.event.keep_acked_records?format=json"
        ),
        "2026-12-01 19:00:02.000001+00:00": {
            "Records": [sqs_record({"OpType": "notify/ackevent", "Events": DATES})]
        },
        "2026-12-01 19:00:03.000001+00:00": SCHEDULED,
        "2026-12-01 19:00:03.500001+00:00": STALE,
        "2026-12-01 19:00:04.000001+00:00": apigw_rest_event("GET", "/no/such/operation"),
    }
    for date, event in recorded.items():
        (folder / f"{date}.json").write_text(json.dumps(event))
    return folder


def dispatcher() -> Dispatcher:
    return Dispatcher(entry_points=False)


def test_the_sample_events_are_replayed_and_summarized(deployment: dict[str, str]) -> None:
    summary = replay(read_events([str(EVENTS)], s3=_no_s3), dispatcher=dispatcher())
    files = sorted(EVENTS.glob("*.json"))
    assert summary.events == len(files)
    operations = summary.as_dict()["operations"]
    assert operations["fleet/status"]["status"]["2xx"] >= 1
    # SQS messages and POSTs may write: skipped unless asked for
    assert operations["notify/ackevent"]["status"] == {"skipped": 2}
    failure = operations["configuration/{key}"]["failures"][0]
    assert failure["source"].endswith("apigw_rest_get_configuration_key.json")
    assert failure["status"] == 400
    assert "unknown parameter" in failure["reason"]


def test_an_archive_is_replayed_read_only(
    tmp_path: Path, events: RawTable, deployment: dict[str, str], aws_clients: AWS
) -> None:
    folder = archive(tmp_path)
    summary = replay(read_events([str(folder)], s3=_no_s3), dispatcher=dispatcher())
    operations = summary.as_dict()["operations"]
    assert summary.events == 6
    assert operations["fleet/status"]["status"] == {"2xx": 1}
    assert operations["configuration/{key}"]["status"] == {"2xx": 1}
    assert operations["notify/ackevent"]["status"] == {"skipped": 1}
    assert operations["no/such/operation"]["status"] == {"4xx": 1}
    assert {item["EventDate"] for item in events.items()} == set(DATES), "nothing written"
    # the scheduled event: the entry its rule fires, and what it would do
    assert operations["scheduled:scale-up-morning"]["status"] == {"skipped": 1}
    assert configured(deployment, aws_clients) == {}, "nothing written"
    stale = operations["scheduled:(no entry)"]
    assert stale["status"] == {"4xx": 1}
    assert "no Scheduler entry has rule CS-Cron-test-0" in stale["failures"][0]["reason"]
    assert summary.failed


def test_read_only_a_scheduled_event_says_what_it_would_do(events: RawTable) -> None:
    summary = replay([Recorded("e", SCHEDULED)], dispatcher=dispatcher())
    entry = summary.as_dict()["operations"]["scheduled:scale-up-morning"]
    assert entry["status"] == {"skipped": 1}
    rule = SCHEDULED["resources"][0].rpartition("/")[2]
    assert entry["skipped"][0]["reason"].startswith(
        f"rule {rule} runs ec2.schedule.min_instance_count=3: --allow-writes runs it"
    )
    assert f"e: skipped, rule {rule} runs" in summary.text()


def test_with_allow_writes_the_messages_and_the_scheduled_events_run(
    tmp_path: Path, events: RawTable, deployment: dict[str, str], aws_clients: AWS
) -> None:
    folder = archive(tmp_path)
    summary = replay(
        read_events([str(folder)], s3=_no_s3), dispatcher=dispatcher(), allow_writes=True
    )
    operations = summary.as_dict()["operations"]
    assert operations["notify/ackevent"]["status"] == {"2xx": 1}
    assert operations["scheduled:scale-up-morning"]["status"] == {"2xx": 1}
    assert configured(deployment, aws_clients) == {"ec2.schedule.min_instance_count": "3"}
    assert list(events.items()) == []


def test_a_scheduled_event_that_fails_for_now_is_a_5xx(
    events: RawTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    import faults

    served = dispatcher()
    with faults.injected(served.aws.client("dynamodb"), {"PutItem"}, faults.THROTTLING):
        summary = replay([Recorded("e", SCHEDULED)], dispatcher=served, allow_writes=True)
    entry = summary.as_dict()["operations"]["scheduled:scale-up-morning"]
    assert entry["status"] == {"5xx": 1}
    assert "to be retried" in entry["failures"][0]["reason"]


class Writer:
    """A GET operation that writes anyway (as a cache refresh might)."""

    @hookimpl
    def register_operations(self) -> list[Any]:
        def handler(request: Request) -> str:
            request.deployment.table("StateTable").client.put_item(
                TableName=request.deployment.settings.get("StateTable"),
                Item={"Key": {"S": "written"}, "Value": {"S": "1"}},
            )
            return "written"

        return [make_operation("writer", handler=handler)]


def test_a_write_made_by_a_read_is_refused_before_it_leaves(
    deployment: dict[str, str], aws_clients: AWS
) -> None:
    state = RawTable(aws_clients.client("dynamodb"), deployment["StateTable"], "Key")
    recorded = [Recorded("e1", apigw_rest_event("GET", "/writer"))]
    summary = replay(recorded, dispatcher=Dispatcher(entry_points=False, plugins=[Writer()]))
    entry = summary.as_dict()["operations"]["writer"]
    assert entry["writes_refused"] == 1
    assert entry["status"] == {"5xx": 1}
    assert "writes refused: PutItem" in entry["failures"][0]["reason"]
    assert list(state.items()) == []
    allowed = replay(
        recorded,
        dispatcher=Dispatcher(entry_points=False, plugins=[Writer()]),
        allow_writes=True,
    )
    assert allowed.as_dict()["operations"]["writer"]["status"] == {"2xx": 1}
    assert [item["Key"] for item in state.items()] == ["written"]


def test_events_are_read_from_an_s3_prefix(
    tmp_path: Path, events: RawTable, aws_clients: AWS
) -> None:
    s3 = aws_clients.client("s3")
    s3.create_bucket(
        Bucket="old-logging", CreateBucketConfiguration={"LocationConstraint": "eu-west-3"}
    )
    folder = archive(tmp_path)
    for file in folder.iterdir():
        s3.put_object(
            Bucket="old-logging", Key=f"logs/InteractEvents/{file.name}", Body=file.read_bytes()
        )
    s3.put_object(Bucket="old-logging", Key="logs/InteractEvents/broken.json", Body=b"{oops")
    s3.put_object(Bucket="old-logging", Key="logs/other/x.json", Body=b"{}")
    recorded = list(read_events(["s3://old-logging/logs/InteractEvents/"], s3=lambda: s3))
    assert len(recorded) == 7
    assert recorded[0].source == (
        "s3://old-logging/logs/InteractEvents/2026-12-01 19:00:00.000001+00:00.json"
    )
    summary = replay(recorded, dispatcher=dispatcher())
    operations = summary.as_dict()["operations"]
    assert operations["(unreadable)"]["failures"][0]["reason"].startswith("not JSON")
    assert operations["fleet/status"]["status"] == {"2xx": 1}
    assert operations["scheduled:scale-up-morning"]["status"] == {"skipped": 1}
    allowed = replay(recorded, dispatcher=dispatcher(), allow_writes=True)
    assert allowed.as_dict()["operations"]["scheduled:scale-up-morning"]["status"] == {"2xx": 1}


def test_progress_is_reported_on_long_runs(deployment: dict[str, str]) -> None:
    seen: list[int] = []
    recorded = [Recorded(f"e{i}", apigw_rest_event("GET", "/")) for i in range(3)]
    replay(recorded, dispatcher=dispatcher(), progress=seen.append, progress_every=0)
    assert seen == [1, 2, 3]


def test_the_command_prints_the_summary_as_json(
    tmp_path: Path, events: RawTable, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = archive(tmp_path)
    code = main(["replay", "--json", str(folder)])
    out = json.loads(capsys.readouterr().out)
    assert code == 3, "an event answered an error"
    assert out["events"] == 6
    assert out["operations"]["notify/ackevent"]["status"] == {"skipped": 1}
    code = main(["replay", str(folder / "2026-12-01 19:00:00.000001+00:00.json")])
    assert code == 0
    assert capsys.readouterr().out.splitlines() == [
        "1 event(s) replayed",
        "fleet/status: 1 (2xx 1)",
    ]


def _no_s3() -> Any:
    raise AssertionError("no S3 source here")
