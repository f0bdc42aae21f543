"""replay --embedded: the events served against a copy of the deployment, never the deployment.

The deployment is a moto server of its own (another process: moto keeps one state
per process, and the embedded AWS is moto's server in this one), provisioned as a
CloneSquad deployment with tables of its own names and data. The replay copies it
into the embedded AWS, runs every event there, writes included, and the source is
left exactly as it was.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from clonesquad_interact.cli import main
from clonesquad_interact.local.copy import CopyError, read_deployment, read_only
from clonesquad_interact.testing import apigw_rest_event, sqs_record
from clonesquad_interact.testing.deployment import provision

REGION = "eu-west-1"
GROUP = "prod"
#: The deployment's settings, with table names no embedded default would pick.
SETTINGS = {
    "GroupName": GROUP,
    "ConfigurationTable": "cs-prod-ConfigurationTable-1A2B3C",
    "SchedulerTable": "cs-prod-SchedulerTable-1A2B3C",
    "StateTable": "cs-prod-StateTable-1A2B3C",
    "EventTable": "cs-prod-EventTable-1A2B3C",
    "LongTermEventTable": "cs-prod-LongTermEventTable-1A2B3C",
    "LoggingS3Path": "s3://cs-prod-logging/clonesquad/",
    "ConfigurationURLs": "s3://cs-prod-config/site.yaml",
}
EVENTS = ["2026-12-01 19:13:42.471382+00:00", "2026-12-01 19:14:42.471382+00:00"]
#: How long the source's moto server may take to start (a hang past it, not a slowness).
PATIENCE = 60.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def source() -> Iterator[str]:
    """A moto server in a process of its own: the deployment's AWS."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + PATIENCE
    while True:
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=2):
                break
        except OSError:
            assert process.poll() is None, "moto's server stopped"
            assert time.monotonic() < deadline, "moto's server did not start"
            time.sleep(0.2)
    yield url
    process.terminate()
    process.wait(timeout=PATIENCE)


def _session() -> Any:
    return boto3.session.Session(
        aws_access_key_id="source", aws_secret_access_key="source", region_name=REGION
    )


@pytest.fixture
def deployment(source: str) -> dict[str, str]:
    """The deployment at ``source``, made anew: its tables hold what a running one holds."""
    urllib.request.urlopen(
        urllib.request.Request(f"{source}/moto-api/reset", method="POST"), timeout=30
    ).close()
    session = _session()
    made = provision(SETTINGS, session=session, endpoint_url=source)
    dynamodb = session.client("dynamodb", endpoint_url=source)
    items = {
        "ConfigurationTable": [
            {"Key": {"S": "ec2.schedule.min_instance_count"}, "Value": {"S": "4"}},
            {"Key": {"S": "site.only.in.prod"}, "Value": {"S": "yes"}},
        ],
        "SchedulerTable": [
            {
                "Key": {"S": "prod-nightly-scale-down"},
                "Value": {"S": "cron(0 8 * * ? *),app.disable=0"},
            }
        ],
        "EventTable": [{"EventDate": {"S": date}, "EventType": {"S": "x"}} for date in EVENTS],
    }
    for setting, rows in items.items():
        for row in rows:
            dynamodb.put_item(TableName=SETTINGS[setting], Item=row)
    s3 = session.client("s3", endpoint_url=source)
    s3.create_bucket(
        Bucket="cs-prod-config", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    s3.put_object(Bucket="cs-prod-config", Key="site.yaml", Body=b"app.run_period: 45\n")
    return made


def _content(source: str) -> dict[str, Any]:
    """Everything the deployment's tables and buckets hold."""
    session = _session()
    dynamodb = session.client("dynamodb", endpoint_url=source)
    s3 = session.client("s3", endpoint_url=source)
    tables = {
        name: sorted(json.dumps(i, sort_keys=True) for i in dynamodb.scan(TableName=name)["Items"])
        for name in dynamodb.list_tables()["TableNames"]
    }
    objects = {
        bucket["Name"]: [
            o["Key"] for o in s3.list_objects_v2(Bucket=bucket["Name"]).get("Contents", [])
        ]
        for bucket in s3.list_buckets()["Buckets"]
    }
    return {"tables": tables, "objects": objects}


def _archive(directory: Path) -> Path:
    """Events in the layout of CloneSquad's archive, reads and writes."""
    folder = directory / "InteractEvents"
    folder.mkdir(parents=True)
    recorded = {
        "2026-12-01 19:00:00.000001+00:00": apigw_rest_event(
            "GET", "/configuration/site.only.in.prod"
        ),
        "2026-12-01 19:00:01.000001+00:00": apigw_rest_event(
            "GET", "/scheduler/prod-nightly-scale-down"
        ),
        "2026-12-01 19:00:02.000001+00:00": apigw_rest_event(
            "GET", "/configuration/app.run_period"
        ),
        "2026-12-01 19:00:03.000001+00:00": {
            "Records": [sqs_record({"OpType": "notify/ackevent", "Events": EVENTS})]
        },
        "2026-12-01 19:00:04.000001+00:00": apigw_rest_event(
            "POST", "/configuration/app.disable", body="1"
        ),
    }
    for date, event in recorded.items():
        (folder / f"{date}.json").write_text(json.dumps(event))
    return folder


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator's shell: the deployment's settings and credentials for its AWS."""
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    for name, value in SETTINGS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "source")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "source")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


def test_events_run_against_a_copy_and_the_deployment_is_untouched(
    deployment, source, environ, tmp_path, capsys
):
    before = _content(source)
    folder = _archive(tmp_path)
    code = main(
        [
            "replay",
            "--embedded",
            "--copy-from-endpoint-url",
            source,
            "--allow-writes",
            "--json",
            str(folder),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    operations = json.loads(captured.out)["operations"]
    # Only a copy of this deployment has these: an empty or demo one answers 404.
    assert operations["configuration/{key}"]["status"] == {"2xx": 3}, operations
    assert operations["scheduler/{key}"]["status"] == {"2xx": 1}, operations
    assert operations["notify/ackevent"]["status"] == {"2xx": 1}, operations
    assert "copied the items of cs-prod-ConfigurationTable-1A2B3C (2)" in captured.err
    assert "1 configuration document(s)" in captured.err
    # The writes (an acknowledgement, a configuration key) went to the copy.
    assert _content(source) == before


def test_the_copy_reads_a_profiles_aws(deployment, source, environ, tmp_path, monkeypatch, capsys):
    config = tmp_path / "config"
    config.write_text(f"[profile prod]\nregion = {REGION}\nendpoint_url = {source}\n")
    credentials = tmp_path / "credentials"
    credentials.write_text("[prod]\naws_access_key_id = source\naws_secret_access_key = source\n")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    folder = _archive(tmp_path)
    code = main(["replay", "--embedded", "--copy-from-profile", "prod", "--json", str(folder)])
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    operations = json.loads(captured.out)["operations"]
    assert operations["configuration/{key}"]["status"] == {"2xx": 2, "skipped": 1}


def test_the_copy_reads_everything_and_its_clients_refuse_writes(deployment, source):
    session = _session()
    copy = read_deployment(session, SETTINGS, endpoint_url=source)
    assert copy.tables["EventTable"][0] == SETTINGS["EventTable"]
    assert len(copy.tables["EventTable"][1]) == 2
    assert copy.documents == {"s3://cs-prod-config/site.yaml": b"app.run_period: 45\n"}
    guarded = read_only(session.client("dynamodb", endpoint_url=source))
    with pytest.raises(CopyError, match="PutItem was refused"):
        guarded.put_item(TableName=SETTINGS["EventTable"], Item={"EventDate": {"S": "new"}})
    assert len(guarded.scan(TableName=SETTINGS["EventTable"])["Items"]) == 2


def test_a_deployment_not_named_is_a_clear_error(environ, monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("GroupName")
    code = main(["replay", "--embedded", str(tmp_path)])
    err = capsys.readouterr().err
    assert code != 0
    assert "set GroupName" in err
    assert "--no-copy" in err
    with pytest.raises(CopyError, match="set GroupName"):
        read_deployment(_session(), {})


def test_copy_options_need_embedded(environ, tmp_path, capsys):
    code = main(["replay", "--copy-from-endpoint-url", "http://127.0.0.1:1", str(tmp_path)])
    assert code == 2
    assert "add --embedded" in capsys.readouterr().err


def test_no_copy_replays_against_the_demo_deployment(environ, monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("GroupName")  # nothing to copy, and nothing asked to be
    folder = _archive(tmp_path)
    code = main(["replay", "--embedded", "--no-copy", "--json", str(folder)])
    captured = capsys.readouterr()
    # the demo deployment has neither the deployment's own key nor its scheduler entry
    operations = json.loads(captured.out)["operations"]
    assert code == 3, captured.err
    assert operations["scheduler/{key}"]["status"] == {"4xx": 1}
    assert "copied" not in captured.err
