"""The scheduler operations on a Scheduler table in moto."""

from __future__ import annotations

import json
import time

import pytest

from aws_calls import RawTable, counting
from clonesquad_interact import AWS, Dispatcher
from clonesquad_interact.testing import InteractClient

CRON = "cron(0 8 ? * MON-FRI *),ec2.schedule.min_instance_count=3"


@pytest.fixture
def table(deployment: dict[str, str], aws_clients: AWS) -> RawTable:
    return RawTable(aws_clients.client("dynamodb"), deployment["SchedulerTable"])


def test_the_dump_lists_the_tables_entries_and_skips_expired_ones(
    deployed_client: InteractClient, table: RawTable, deployment: dict[str, str]
) -> None:
    table.put_item(Item={"Key": "morning", "Value": CRON})
    table.put_item(Item={"Key": "gone", "Value": "x", "ExpirationTime": int(time.time()) - 5})
    dump = deployed_client.get("scheduler").json()
    assert dump == {
        "morning": {
            "Key": "morning",
            "Value": CRON,
            "ExpirationTime": None,
            "ConfigurationOrigin": f"DynamoDB scheduler table '{deployment['SchedulerTable']}'",
        }
    }
    assert deployed_client.get("scheduler", {"raw": "true", "format": "yaml"}).yaml() == {
        "morning": CRON
    }


def test_an_empty_table_dumps_as_an_empty_document(deployed_client: InteractClient) -> None:
    answer = deployed_client.get("scheduler")
    assert (answer.status_code, answer.json()) == (200, {})


def test_an_import_merges_restore_replaces_and_empty_values_delete(
    deployed_client: InteractClient, table: RawTable
) -> None:
    table.put_item(Item={"Key": "old", "Value": "x"})
    table.put_item(Item={"Key": "kept", "Value": "y"})
    merged = deployed_client.post("scheduler", json.dumps({"new": CRON, "old": ""}))
    assert merged.text == "Ok (2 key(s) processed)"
    assert table.content() == {"kept": "y", "new": CRON}
    restored = deployed_client.post(
        "scheduler", f"evening: '{CRON}'\n", {"format": "yaml", "restore": "true"}
    )
    assert restored.status_code == 200
    assert table.content() == {"evening": CRON}
    refused = deployed_client.post("scheduler", "{}", {"restore": "true"})
    assert refused.status_code == 400
    assert table.content() == {"evening": CRON}


def test_an_import_of_many_entries_is_one_transaction(
    deployed: Dispatcher, deployed_client: InteractClient, table: RawTable
) -> None:
    document = {f"entry{n}": CRON for n in range(51)}
    with counting(deployed, "dynamodb") as calls:
        assert deployed_client.post("scheduler", json.dumps(document)).status_code == 200
    assert calls == {"dynamodb.TransactWriteItems": 1}
    assert len(table.content()) == 51


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', '{"a": {"b": 1}}', "{"])
def test_a_bad_document_writes_nothing(
    deployed_client: InteractClient, table: RawTable, body: str
) -> None:
    table.put_item(Item={"Key": "kept", "Value": "y"})
    assert deployed_client.post("scheduler", body).status_code == 400
    assert table.content() == {"kept": "y"}


def test_one_entry_is_read_and_written_with_a_ttl(
    deployed: Dispatcher, deployed_client: InteractClient, table: RawTable
) -> None:
    with counting(deployed, "dynamodb") as calls:
        written = deployed_client.post("scheduler/Morning", CRON + "\n", {"ttl": "hours=2"})
    assert calls == {"dynamodb.PutItem": 1}
    assert (written.status_code, written.text) == (200, CRON)
    item = table.get("Morning")
    assert item is not None
    assert abs(int(item["ExpirationTime"]) - (time.time() + 7200)) < 5
    with counting(deployed, "dynamodb") as calls:
        read = deployed_client.get("scheduler/Morning")
    assert calls == {"dynamodb.GetItem": 1}
    assert read.text == CRON
    assert deployed_client.get("scheduler/morning").status_code == 404


def test_a_bad_ttl_writes_nothing_and_an_empty_body_deletes(
    deployed_client: InteractClient, table: RawTable
) -> None:
    assert deployed_client.post("scheduler/x", CRON, {"ttl": "later"}).status_code == 400
    assert table.content() == {}
    table.put_item(Item={"Key": "x", "Value": CRON})
    assert deployed_client.post("scheduler/x", "").status_code == 200
    assert table.content() == {}
    missing = deployed_client.get("scheduler/x")
    assert missing.status_code == 404
    assert "GET scheduler" in missing.json()["error"]["message"]
