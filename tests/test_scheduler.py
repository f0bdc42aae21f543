"""The scheduler operations on a Scheduler table in moto."""

from __future__ import annotations

import json
import time
import urllib.parse
from typing import Any

import pytest

from aws_calls import RawTable, counting
from clonesquad_interact import AWS, Dispatcher
from clonesquad_interact.testing import InteractClient

CRON = "cron(0 8 ? * MON-FRI *),ec2.schedule.min_instance_count=3"


@pytest.fixture
def table(deployment: dict[str, str], aws_clients: AWS) -> RawTable:
    return RawTable(aws_clients.client("dynamodb"), deployment["SchedulerTable"])


def test_the_dump_is_the_flat_mapping_clonesquad_answers_without_expired_entries(
    deployed_client: InteractClient, table: RawTable
) -> None:
    table.put_item(Item={"Key": "morning", "Value": CRON})
    table.put_item(Item={"Key": "#note", "Value": "anything"})
    table.put_item(Item={"Key": "gone", "Value": "x", "ExpirationTime": int(time.time()) - 5})
    expected = {"#note": "anything", "morning": CRON}
    assert deployed_client.get("scheduler").json() == expected
    assert deployed_client.get("scheduler", {"format": "yaml"}).yaml() == expected
    # CloneSquad's callers send raw=true: the same answer
    assert deployed_client.get("scheduler", {"raw": "true", "format": "yaml"}).yaml() == expected


@pytest.mark.parametrize("word", ["YAML", "Yaml"])
def test_format_is_read_in_any_case_as_clonesquad_reads_it(
    deployed_client: InteractClient, table: RawTable, word: str
) -> None:
    table.put_item(Item={"Key": "morning", "Value": CRON})
    answer = deployed_client.get("scheduler", {"format": word})
    assert answer.status_code == 200, answer.text
    assert answer.content_type == "application/yaml"
    assert answer.yaml() == {"morning": CRON}


def test_parameter_set_items_nest_under_their_set_and_post_takes_them_back(
    deployed_client: InteractClient, table: RawTable
) -> None:
    """CloneSquad answers its table's ``[<set>]<key>`` items nested (its table dict);
    a set named as a plain entry stays flat, so that nothing is lost."""
    table.put_item(Item={"Key": "morning", "Value": CRON})
    table.put_item(Item={"Key": "[weekend]morning", "Value": "cron(0 10 ? * SAT *),app.disable=0"})
    table.put_item(Item={"Key": "[weekend]evening", "Value": "cron(0 22 ? * SUN *),app.disable=1"})
    table.put_item(Item={"Key": "[morning]x", "Value": "y"})
    before = table.content()
    expected = {
        "[morning]x": "y",
        "morning": CRON,
        "weekend": {
            "evening": "cron(0 22 ? * SUN *),app.disable=1",
            "morning": "cron(0 10 ? * SAT *),app.disable=0",
        },
    }
    dumped = deployed_client.get("scheduler")
    assert dumped.json() == expected
    assert list(dumped.json()) == sorted(expected)
    yaml_dump = deployed_client.get("scheduler", {"format": "yaml"})
    assert yaml_dump.yaml() == expected
    for text in (dumped.text, yaml_dump.text):
        table.client.delete_item(TableName=table.name, Key={"Key": {"S": "[weekend]evening"}})
        restored = deployed_client.post("scheduler", text, {"restore": "true"})
        assert restored.status_code == 200, restored.text
        assert table.content() == before


#: Entries as a CloneSquad deployment writes them (the facts sheet's examples).
ENTRIES = {
    "scale-up-morning": "cron(0 8 * * ? *),ec2.schedule.min_instance_count=3",
    "twice-a-day": "cron(0 6\\,18 * * ? *),config.active_parameter_set=min-desired-count-50-pcent",
    "local-noon": "localcron(0 12 * * ? *),ec2.schedule.desired_instance_count=100%",
    "every-5-min": "rate(5 minutes),interact:control/reschedulenow",
    "hourly-backup": "rate(1 hour),interact:backup",
    "soon": "rate(5 minutes),interact:control/reschedulenow?delay=60",
    "night": "cron(0 20 * * ? *),[night]ec2.schedule.min_instance_count=1,TTL=hours=12",
}


def test_what_get_answers_post_takes_back_unchanged(
    deployed_client: InteractClient, table: RawTable
) -> None:
    for key, value in ENTRIES.items():
        table.put_item(Item={"Key": key, "Value": value})
    dumped = deployed_client.get("scheduler")
    yaml_dump = deployed_client.get("scheduler", {"format": "yaml"})
    table.client.delete_item(TableName=table.name, Key={"Key": {"S": "night"}})
    restored = deployed_client.post("scheduler", dumped.text, {"restore": "true"})
    assert restored.status_code == 200, restored.text
    assert table.content() == ENTRIES
    table.client.delete_item(TableName=table.name, Key={"Key": {"S": "night"}})
    again = deployed_client.post("scheduler", yaml_dump.text, {"restore": "true"})
    assert again.status_code == 200, again.text  # YAML is read as YAML, format or not
    assert table.content() == ENTRIES


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("ec2.schedule.min_instance_count=3", "is none of cron"),
        ("Cron(0 8 * * ? *),app.disable=1", "lower case"),
        ("cron(0 8 * * ?),app.disable=1", "has 5 field(s)"),
        ("cron(0 8 * * * *),app.disable=1", "exactly one of day-of-month and day-of-week"),
        ("cron(0 24 * * ? *),app.disable=1", "hours field"),
        ("cron(0 8 ? * FUNDAY *),app.disable=1", "day-of-week field"),
        ("rate(1 minutes),app.disable=1", "rate(1 minute)"),
        ("rate(5 seconds),app.disable=1", "minutes|hours|days"),
        ("localcron(0 12 * *),app.disable=1", "has 4 field(s)"),
        ("rate(5 minutes)", "no action"),
        ("rate(5 minutes),ec2.schedule.min_instance_count=lots", "PositiveInteger"),
        ("rate(5 minutes),[night]ec2.schedule.min_instance_count=-1", "PositiveInteger"),
        ("rate(5 minutes),interact:no/such/operation", "no such operation"),
        ("rate(5 minutes),app.disable=1,TTL=later", "TTL=later"),
        ("cron(*/0 8 * * ? *),app.disable=1", "at least 1"),
        ("rate(5 minutes),app.disable=lots;rate(1 day),app.disable=0", "app.disable=lots"),
    ],
)
def test_a_bad_entry_is_a_400_naming_it_and_nothing_is_written(
    deployed_client: InteractClient, table: RawTable, value: str, says: str
) -> None:
    document = {"good": CRON, "faulty-entry": value}
    answer = deployed_client.post("scheduler", json.dumps(document))
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert "'faulty-entry'" in error["message"]
    assert says in error["message"]
    assert error["details"][0]["entry"] == "faulty-entry"
    assert table.content() == {}
    one = deployed_client.post("scheduler/faulty-entry", value)
    assert one.status_code == 400, one.text
    assert "'faulty-entry'" in one.json()["error"]["message"]
    assert says in one.json()["error"]["message"]
    assert table.content() == {}


def test_an_entry_of_several_records_is_taken_and_only_its_first_is_checked(
    deployed_client: InteractClient, table: RawTable
) -> None:
    # CloneSquad runs the first ';'-record of an entry and ignores the others, so an
    # entry written for it with several records is taken as it is.
    value = "rate(5 minutes),app.disable=1;not a schedule,app.disable=lots"
    answer = deployed_client.post("scheduler", json.dumps({"two-records": value}))
    assert answer.status_code == 200, answer.text
    assert table.content() == {"two-records": value}
    assert deployed_client.get("scheduler").json() == {"two-records": value}


def test_an_interact_path_written_as_clonesquad_reads_it_is_taken(
    deployed_client: InteractClient, table: RawTable
) -> None:
    # CloneSquad folds the path's case and drops its empty segments.
    value = "rate(5 minutes),interact:Control//RescheduleNow?delay=5"
    answer = deployed_client.post("scheduler/legacy", value)
    assert answer.status_code == 200, answer.text
    assert table.content() == {"legacy": value}
    refused = deployed_client.post("scheduler/other", "rate(5 minutes),interact:No//Such")
    assert refused.status_code == 400
    assert "no such operation" in refused.json()["error"]["message"]


def test_comments_and_deletions_are_not_checked(
    deployed_client: InteractClient, table: RawTable
) -> None:
    table.put_item(Item={"Key": "old", "Value": CRON})
    document = {"#later": "not a schedule yet", "old": None}
    assert deployed_client.post("scheduler", json.dumps(document)).status_code == 200
    assert table.content() == {"#later": "not a schedule yet"}


def test_an_empty_table_dumps_as_an_empty_document(deployed_client: InteractClient) -> None:
    answer = deployed_client.get("scheduler")
    assert (answer.status_code, answer.json()) == (200, {})


def test_an_import_merges_restore_replaces_and_empty_values_delete(
    deployed_client: InteractClient, table: RawTable
) -> None:
    table.put_item(Item={"Key": "old", "Value": "x"})
    table.put_item(Item={"Key": "kept", "Value": "y"})
    merged = deployed_client.post("scheduler", json.dumps({"new": CRON, "old": ""}))
    assert merged.status_code == 200, merged.text
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
    assert calls == {"dynamodb.BatchGetItem": 1, "dynamodb.TransactWriteItems": 1}
    assert len(table.content()) == 51


@pytest.mark.parametrize(
    "body", ["[1, 2]", '"text"', '{"a": {"b": {"c": 1}}}', '{"a]": {"b": 1}}', "{"]
)
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


# -- dumps in pages ---------------------------------------------------------------------

#: An entry of the largest size POST scheduler/<entry> takes, about 380 KB.
BIG = "cron(0 19 ? * MON-FRI *),custom.key.a=" + "x" * 380_000


def fill(client: InteractClient) -> dict[str, str]:
    """17 entries of 380 KB, each one written by POST: 6.5 MB in all."""
    values = {f"big.{n:02}": BIG for n in range(17)}
    for key, value in values.items():
        written = client.post(f"scheduler/{key}", value)
        assert written.status_code == 200, written.text[:300]
    return values


def read_pages(client: InteractClient, query: dict[str, str]) -> list[dict[str, Any]]:
    """Every page from ``query`` on, following each page's ``X-Next-Page``."""
    pages: list[dict[str, Any]] = []
    while True:
        answer = client.get("scheduler", query)
        assert answer.status_code == 200, answer.text[:300]
        pages.append(answer.yaml() if query.get("format") == "yaml" else answer.json())
        following = answer.headers.get("X-Next-Page")
        if following is None:
            return pages
        after = query.get("after")
        query = dict(urllib.parse.parse_qsl(following))
        assert query["after"] == max(pages[-1])
        assert after is None or query["after"] > after


@pytest.mark.parametrize("params", [{}, {"raw": "true"}, {"format": "yaml"}])
def test_a_dump_too_large_for_one_answer_is_a_413_saying_how_to_ask_for_less(
    deployed_client: InteractClient, params: dict[str, str]
) -> None:
    fill(deployed_client)
    answer = deployed_client.get("scheduler", params)
    assert answer.status_code == 413, answer.text[:300]
    error = answer.json()["error"]
    assert error["type"] == "PayloadTooLarge"
    assert "17 entries" in error["message"]
    for advice in ("limit=", "prefix=", "after=", "X-Next-Page"):
        assert advice in error["message"]
    assert len(answer.text) < 2000
    too_many = deployed_client.get("scheduler", {**params, "limit": "100"})
    assert too_many.status_code == 413
    assert "ask for smaller pages: limit=" in too_many.json()["error"]["message"]
    part = deployed_client.get("scheduler", {**params, "prefix": "big.0"})
    assert part.status_code == 200, part.text[:300]
    shown = part.yaml() if "format" in params else part.json()
    assert shown == {f"big.{n:02}": BIG for n in range(10)}


@pytest.mark.parametrize("params", [{}, {"format": "yaml"}])
def test_a_large_table_read_in_pages_is_exactly_the_table(
    deployed_client: InteractClient, table: RawTable, params: dict[str, str]
) -> None:
    values = fill(deployed_client)
    table.put_item(Item={"Key": "morning", "Value": CRON})
    pages = read_pages(deployed_client, {**params, "limit": "5"})
    assert [len(page) for page in pages] == [5, 5, 5, 3]
    merged: dict[str, Any] = {}
    for page in pages:
        assert not set(page) & set(merged), "no entry on two pages"
        merged.update(page)
    assert merged == {**values, "morning": CRON} == table.content()
    assert list(merged) == sorted(merged)


def test_a_page_never_splits_a_parameter_set_and_each_page_is_a_document_post_takes(
    deployed_client: InteractClient, table: RawTable
) -> None:
    for name in ("evening", "morning", "noon"):
        table.put_item(Item={"Key": name, "Value": CRON})
    for n in range(3):
        table.put_item(Item={"Key": f"[night]entry{n}", "Value": f"rate({n + 2} hours),x=1"})
        table.put_item(Item={"Key": f"[day]entry{n}", "Value": f"rate({n + 2} days),x=1"})
    table.put_item(Item={"Key": "[morning]x", "Value": "y"})  # a set named as an entry: flat
    before = table.content()
    whole = deployed_client.get("scheduler").json()
    assert set(whole["night"]) == set(whole["day"]) == {f"entry{n}" for n in range(3)}
    pages = read_pages(deployed_client, {"limit": "2"})
    assert [list(page) for page in pages] == [["[morning]x", "day"], ["evening", "morning"],
                                               ["night", "noon"]]  # fmt: skip
    merged: dict[str, Any] = {}
    for page in pages:
        merged.update(page)
    assert merged == whole
    # every page is a document of its own: written back one by one, they are the table
    assert deployed_client.post("scheduler", "{}", {"restore": "true", "confirm": "true"})
    assert table.content() == {}
    for page in pages:
        written = deployed_client.post("scheduler", json.dumps(page))
        assert written.status_code == 200, written.text
    assert table.content() == before
    # a prefix selects the table's items by name: part of a set, nested as it is
    part = deployed_client.get("scheduler", {"prefix": "[night]entry1"}).json()
    assert part == {"night": {"entry1": whole["night"]["entry1"]}}
    after = deployed_client.get("scheduler", {"after": "morning"}).json()
    assert after == {"night": whole["night"], "noon": CRON}


def test_the_unpaged_dump_is_unchanged_and_post_takes_it_back(
    deployed_client: InteractClient, table: RawTable
) -> None:
    for key, value in ENTRIES.items():
        table.put_item(Item={"Key": key, "Value": value})
    table.put_item(Item={"Key": "[weekend]morning", "Value": CRON})
    plain = deployed_client.get("scheduler")
    assert "X-Next-Page" not in plain.headers
    assert plain.json() == {**ENTRIES, "weekend": {"morning": CRON}}
    # a limit that holds everything answers the same, with no next page
    whole = deployed_client.get("scheduler", {"limit": "100"})
    assert (whole.json(), "X-Next-Page" in whole.headers) == (plain.json(), False)
    before = table.content()
    table.client.delete_item(TableName=table.name, Key={"Key": {"S": "night"}})
    restored = deployed_client.post("scheduler", plain.text, {"restore": "true"})
    assert restored.status_code == 200, restored.text
    assert table.content() == before


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "many"}, {"pages": "2"}])
def test_a_bad_page_parameter_is_a_400(
    deployed_client: InteractClient, params: dict[str, str]
) -> None:
    assert deployed_client.get("scheduler", params).status_code == 400


def test_the_openapi_document_describes_the_scheduler_dump_in_pages(deployed: Dispatcher) -> None:
    from clonesquad_interact.openapi import openapi_document

    document = openapi_document(deployed)
    dump = document["paths"]["/v1/scheduler"]["get"]
    parameters = {parameter["name"]: parameter for parameter in dump["parameters"]}
    assert {"prefix", "limit", "after", "raw"} <= set(parameters)
    assert parameters["limit"]["schema"]["type"] == "integer"
    assert parameters["limit"]["schema"]["minimum"] == 1
    assert "X-Next-Page" in parameters["limit"]["description"]
    assert "parameter set" in parameters["limit"]["description"]
    assert "X-Next-Page" in dump["responses"]["200"]["headers"]
    assert "limit=" in dump["responses"]["413"]["description"]
    for path in ("/v1/configuration", "/v1/scheduler"):
        assert "X-Next-Page" in document["paths"][path]["get"]["responses"]["200"]["headers"]
        assert "headers" not in document["paths"][path]["post"]["responses"]["200"]
