"""CloneSquad's configuration model: parameter sets, ``override:`` entries, the active
set, ``config.loaded_files``, the dump's fields, raw dumps and imports, and dumps in
pages, on a Configuration table in moto holding what CloneSquad's tools write."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from aws_calls import RawTable, counting
from clonesquad_interact import AWS, Dispatcher
from clonesquad_interact.testing import InteractClient

KEY = "ec2.schedule.min_instance_count"
#: A parameter set of internal:predefined.config.yaml.
PREDEFINED_SET = "min-desired-count-50-pcent"


@pytest.fixture
def table(deployment: dict[str, str], aws_clients: AWS) -> RawTable:
    return RawTable(aws_clients.client("dynamodb"), deployment["ConfigurationTable"])


def client_of(aws_clients: AWS) -> InteractClient:
    """A client of a fresh dispatcher (a cold container: documents read anew)."""
    return InteractClient(Dispatcher(entry_points=False, raise_unexpected=True, aws=aws_clients))


@pytest.fixture
def client(deployment: dict[str, str], aws_clients: AWS) -> InteractClient:
    return client_of(aws_clients)


@pytest.fixture
def dispatcher_client(
    deployment: dict[str, str], aws_clients: AWS
) -> tuple[Dispatcher, InteractClient]:
    dispatcher = Dispatcher(entry_points=False, raise_unexpected=True, aws=aws_clients)
    return dispatcher, InteractClient(dispatcher)


def origin_of(table: RawTable) -> str:
    return f"DynamoDB configuration table '{table.name}'"


def read(client: InteractClient, key: str = KEY) -> str:
    answer = client.get(f"configuration/{key}")
    assert answer.status_code == 200, answer.text
    return answer.text


# -- resolution -----------------------------------------------------------------


def test_a_parameter_set_of_the_table_made_active_by_the_table(
    client: InteractClient, table: RawTable
) -> None:
    table.put_item(Item={"Key": f"[night]{KEY}", "Value": "1"})
    table.put_item(Item={"Key": KEY, "Value": "3"})
    assert read(client) == "3"  # no active set: the plain item
    table.put_item(Item={"Key": "config.active_parameter_set", "Value": "night"})
    assert read(client) == "1"
    entry = client.get("configuration").json()[KEY]
    assert entry["Value"] == "1"
    assert entry["ConfigurationOrigin"] == origin_of(table)
    assert entry["Status"] == f"Key found in '{origin_of(table)}' (ParameterSet='night')"
    assert entry["Override"] is False
    assert entry["DefaultValue"] == 0  # as CloneSquad registers it: a number
    assert entry["Format"] == "PositiveInteger"
    # set items are not keys of their own, in a dump or a read
    everything = client.get("configuration", {"unstable": "true"}).json()
    assert not [name for name in everything if name.startswith("[")]
    assert client.get(f"configuration/[night]{KEY}").status_code == 404


def test_precedence_is_per_layer_not_parameter_sets_first(
    client: InteractClient, table: RawTable
) -> None:
    # the table activates a set that only the predefined document defines
    table.put_item(
        Item={"Key": "config.active_parameter_set", "Value": "min-desired-count-50-pcent"}
    )
    assert read(client) == "50%"
    entry = client.get("configuration").json()[KEY]
    assert entry["Status"] == (
        "Key found in 'internal:predefined.config.yaml' (ParameterSet='min-desired-count-50-pcent')"
    )
    # a plain item of the table is a higher layer than the predefined set
    table.put_item(Item={"Key": KEY, "Value": "3"})
    assert read(client) == "3"
    # and a set of the table beats the table's plain item
    table.put_item(Item={"Key": f"[min-desired-count-50-pcent]{KEY}", "Value": "7"})
    assert read(client) == "7"


def test_an_override_entry_wins_over_every_layer_and_is_listed_on_its_own(
    client: InteractClient, table: RawTable
) -> None:
    table.put_item(Item={"Key": "config.active_parameter_set", "Value": "night"})
    table.put_item(Item={"Key": f"[night]{KEY}", "Value": "1"})
    table.put_item(Item={"Key": f"[night]override:{KEY}", "Value": "8"})  # sets are not read
    table.put_item(Item={"Key": f"override:{KEY}", "Value": "9"})
    assert read(client) == "9"
    dump = client.get("configuration").json()
    assert dump[KEY]["Value"] == "9"
    assert dump[KEY]["Override"] is True
    assert dump[KEY]["Status"] == f"Key found in '{origin_of(table)}'"
    assert dump[KEY]["DefaultValue"] == 0
    listed = dump[f"override:{KEY}"]  # kept in a stable dump: its key is stable
    assert listed == {
        "ConfigurationOrigin": origin_of(table),
        "Key": f"override:{KEY}",
        "Override": True,
        "Stable": True,
        "Status": f"Key found in '{origin_of(table)}'",
        "Value": "9",
    }
    assert read(client, f"override:{KEY}") == "9"


def test_an_override_in_a_document_beats_the_table(
    deployment: dict[str, str],
    table: RawTable,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    aws_clients: AWS,
) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(f"override:{KEY}: 5\n")
    monkeypatch.setenv("ConfigurationURLs", f"file://{site}")
    table.put_item(Item={"Key": KEY, "Value": "3"})
    client = client_of(aws_clients)
    assert read(client) == "5"
    entry = client.get("configuration").json()[KEY]
    assert (entry["Value"], entry["Override"], entry["ConfigurationOrigin"]) == (
        5,
        True,
        f"file://{site}",
    )


def test_the_active_set_named_by_a_document_selects_a_set_of_the_table(
    deployment: dict[str, str],
    table: RawTable,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    aws_clients: AWS,
) -> None:
    site = tmp_path / "site.yaml"
    site.write_text("config.active_parameter_set: night\n")
    monkeypatch.setenv("ConfigurationURLs", f"file://{site}")
    table.put_item(Item={"Key": f"[night]{KEY}", "Value": "1"})
    table.put_item(Item={"Key": f"[day]{KEY}", "Value": "6"})
    client = client_of(aws_clients)
    assert read(client) == "1"
    dump = client.get("configuration").json()
    assert dump["config.active_parameter_set"]["Value"] == "night"
    assert dump["config.active_parameter_set"]["ConfigurationOrigin"] == f"file://{site}"
    # the table is the highest layer: its active set wins over the document's
    table.put_item(Item={"Key": "config.active_parameter_set", "Value": "day"})
    assert read(client) == "6"


def test_an_active_set_that_no_layer_defines_is_logged(
    client: InteractClient, table: RawTable
) -> None:
    table.put_item(Item={"Key": "config.active_parameter_set", "Value": "nowhere"})
    with capture_logs() as logs:
        assert client.get("configuration").status_code == 200
    assert [entry["parameter_set"] for entry in logs if "parameter_set" in entry] == ["nowhere"]
    assert read(client) == "2"


def test_a_document_value_set_to_null_has_no_value(
    deployment: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    aws_clients: AWS,
) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(f"{KEY}:\napp.disable: true\n")
    monkeypatch.setenv("ConfigurationURLs", f"file://{site}")
    client = client_of(aws_clients)
    assert client.get(f"configuration/{KEY}").status_code == 404
    assert client.get("configuration").json()[KEY]["Value"] is None
    assert read(client, "app.disable") == "1"  # a Bool as CloneSquad reads it
    assert client.dispatcher.configuration.get_int(KEY) == 0  # operations: the default


# -- config.loaded_files ----------------------------------------------------------


def test_loaded_files_of_the_table_are_layers_below_the_configuration_urls(
    deployment: dict[str, str],
    table: RawTable,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    aws_clients: AWS,
) -> None:
    loaded = tmp_path / "loaded.yaml"
    chained = tmp_path / "chained.yaml"
    site = tmp_path / "site.yaml"
    loaded.write_text(
        f"{KEY}: 4\napp.disable: 1\nconfig.loaded_files: file://{chained}\n"
        "night:\n  ec2.schedule.desired_instance_count: 50%\n"
    )
    site.write_text(f"{KEY}: 5\n")
    chained.write_text("app.disable: 0\n")
    monkeypatch.setenv("ConfigurationURLs", f"file://{site}")
    client = client_of(aws_clients)
    assert read(client) == "5"
    assert read(client, "app.disable") == "0"  # no loaded files yet: the default
    table.put_item(Item={"Key": "config.loaded_files", "Value": f"file://{loaded}"})
    table.put_item(Item={"Key": "config.active_parameter_set", "Value": "night"})
    # read at once (the table names other documents), not after a minute
    assert read(client) == "5"  # ConfigurationURLs sit above config.loaded_files
    assert read(client, "ec2.schedule.desired_instance_count") == "50%"
    dump = client.get("configuration").json()
    # a document a loaded one chains comes after ConfigurationURLs
    assert dump["app.disable"]["Value"] == 0
    assert dump["app.disable"]["ConfigurationOrigin"] == f"file://{chained}"
    site.write_text("")
    fresh = client_of(aws_clients)
    assert read(fresh) == "4"
    assert fresh.get("configuration").json()[KEY]["ConfigurationOrigin"] == f"file://{loaded}"


def test_a_chain_of_documents_stops_at_the_depth_limit(
    deployment: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    aws_clients: AWS,
) -> None:
    documents = [tmp_path / f"d{n:02}.yaml" for n in range(14)]
    for n, document in enumerate(documents):
        following = f"config.loaded_files: file://{documents[n + 1]}\n" if n < 13 else ""
        document.write_text(f"{KEY}: {n + 10}\n{following}")
    monkeypatch.setenv("ConfigurationURLs", f"file://{documents[0]}")
    with capture_logs() as logs:
        client = client_of(aws_clients)
        value = int(read(client))
    # predefined, custom, then documents until 10 have been read
    assert value == 10 + 7
    assert any("too deep" in entry["event"] for entry in logs)


# -- costs --------------------------------------------------------------------------


def test_a_key_read_is_one_batch_get_and_documents_are_read_once_a_minute(
    deployment: dict[str, str],
    table: RawTable,
    monkeypatch: pytest.MonkeyPatch,
    aws_clients: AWS,
) -> None:
    s3 = aws_clients.client("s3")
    s3.create_bucket(
        Bucket="cs-config", CreateBucketConfiguration={"LocationConstraint": "eu-west-3"}
    )
    s3.put_object(Bucket="cs-config", Key="site.yaml", Body=b"app.disable: 1\n")
    monkeypatch.setenv("ConfigurationURLs", "s3://cs-config/site.yaml")
    # The Scheduler's usual entry: a set of internal:predefined.config.yaml made active
    # by the table, and the table's own item of that set.
    table.put_item(Item={"Key": "config.active_parameter_set", "Value": PREDEFINED_SET})
    table.put_item(Item={"Key": f"[{PREDEFINED_SET}]{KEY}", "Value": "7"})
    dispatcher = Dispatcher(entry_points=False, raise_unexpected=True, aws=aws_clients)
    client = InteractClient(dispatcher)
    with counting(dispatcher, "dynamodb", "s3") as calls:
        assert read(client) == "7"
    # cold: the active set is not known yet, and its item is asked in the same call
    assert calls == {"dynamodb.BatchGetItem": 1, "s3.GetObject": 1}
    with counting(dispatcher, "dynamodb", "s3") as calls:
        assert read(client) == "7"
        assert read(client, "app.disable") == "1"
    assert calls == {"dynamodb.BatchGetItem": 2}
    with counting(dispatcher, "dynamodb", "s3") as calls:
        client.get("configuration")
    assert calls == {"dynamodb.Scan": 1}


def test_a_cold_read_asks_the_sets_of_the_documents_and_a_warm_one_the_last_seen(
    deployment: dict[str, str], table: RawTable, aws_clients: AWS
) -> None:
    table.put_item(Item={"Key": "config.active_parameter_set", "Value": PREDEFINED_SET})
    dispatcher = Dispatcher(entry_points=False, raise_unexpected=True, aws=aws_clients)
    client = InteractClient(dispatcher)
    asked: list[list[str]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        keys = params["RequestItems"][table.name]["Keys"]
        asked.append([key["Key"]["S"] for key in keys])

    events = dispatcher.aws.client("dynamodb").meta.events
    hook = "provide-client-params.dynamodb.BatchGetItem"
    events.register(hook, record, unique_id="record-keys")
    try:
        read(client)
        read(client)
    finally:
        events.unregister(hook, unique_id="record-keys")
    predefined = ["min-desired-count-0-pcent", "min-desired-count-100-pcent", PREDEFINED_SET]
    assert {f"[{name}]{KEY}" for name in predefined} <= set(asked[0])
    assert len(asked[0]) == len(set(asked[0])) <= 100
    assert [name for name in asked[1] if name.startswith("[")] == [f"[{PREDEFINED_SET}]{KEY}"]


def test_a_set_named_only_by_the_table_costs_one_get_item_more_when_first_seen(
    deployment: dict[str, str], table: RawTable, aws_clients: AWS
) -> None:
    table.put_item(Item={"Key": "config.active_parameter_set", "Value": "night"})
    table.put_item(Item={"Key": f"[night]{KEY}", "Value": "1"})
    table.put_item(Item={"Key": f"[weekend]{KEY}", "Value": "0"})
    dispatcher = Dispatcher(entry_points=False, raise_unexpected=True, aws=aws_clients)
    client = InteractClient(dispatcher)
    with counting(dispatcher, "dynamodb") as calls:
        assert read(client) == "1"
    assert calls == {"dynamodb.BatchGetItem": 1, "dynamodb.GetItem": 1}
    with counting(dispatcher, "dynamodb") as calls:
        assert read(client) == "1"
    assert calls == {"dynamodb.BatchGetItem": 1}
    # the Scheduler switches sets: the first read after it asks the new set's item
    table.put_item(Item={"Key": "config.active_parameter_set", "Value": "weekend"})
    with counting(dispatcher, "dynamodb") as calls:
        assert read(client) == "0"
        assert read(client) == "0"
    assert calls == {"dynamodb.BatchGetItem": 2, "dynamodb.GetItem": 1}
    # and back: a set met before is asked with the key, as the latest one is
    table.put_item(Item={"Key": "config.active_parameter_set", "Value": "night"})
    with counting(dispatcher, "dynamodb") as calls:
        assert read(client) == "1"
    assert calls == {"dynamodb.BatchGetItem": 1}


# -- dumps, imports -------------------------------------------------------------------


def test_raw_nests_parameter_sets_and_a_nested_import_writes_set_items(
    client: InteractClient, table: RawTable
) -> None:
    document = {
        "app.disable": True,
        "config.active_parameter_set": "night",
        "night": {KEY: 1, "app.disable": False},
        "weekend": {"ec2.schedule.desired_instance_count": "10%"},
    }
    answer = client.post("configuration", json.dumps(document))
    assert answer.status_code == 200, answer.text
    assert answer.text == "Ok (4 key(s) processed)"  # top-level entries
    assert table.content() == {
        "app.disable": "1",  # as CloneSquad's main function reads a Bool
        "config.active_parameter_set": "night",
        f"[night]{KEY}": "1",
        "[night]app.disable": "0",
        "[weekend]ec2.schedule.desired_instance_count": "10%",
    }
    assert read(client) == "1"
    assert read(client, "app.disable") == "0"
    raw = client.get("configuration", {"raw": "true"}).json()
    assert raw == {
        "app.disable": "1",
        "config.active_parameter_set": "night",
        "night": {KEY: "1", "app.disable": "0"},
        "weekend": {"ec2.schedule.desired_instance_count": "10%"},
    }
    # restore: a set's items absent from the document go, as do absent sets
    raw["night"] = {KEY: "2"}
    del raw["weekend"]
    restored = client.post("configuration", json.dumps(raw), {"restore": "true"})
    assert restored.status_code == 200, restored.text
    assert table.content() == {
        "app.disable": "1",
        "config.active_parameter_set": "night",
        f"[night]{KEY}": "2",
    }
    yaml_raw = client.get("configuration", {"raw": "true", "format": "yaml"})
    again = client.post("configuration", yaml_raw.text, {"format": "yaml", "restore": "true"})
    assert again.status_code == 200
    assert table.content()[f"[night]{KEY}"] == "2"


def test_a_set_item_and_an_override_are_checked_as_their_key(
    client: InteractClient, table: RawTable
) -> None:
    for name in (f"[night]{KEY}", f"override:{KEY}"):
        refused = client.post(f"configuration/{name}", "-1")
        assert refused.status_code == 400
        assert "PositiveInteger" in refused.json()["error"]["message"]
        assert client.post(f"configuration/{name}", "2").status_code == 200
    refused = client.post("configuration", json.dumps({"night": {"app.disable": "maybe"}}))
    assert refused.status_code == 400
    assert refused.json()["error"]["details"][0]["where"] == "body.night.app.disable"
    assert table.content() == {f"[night]{KEY}": "2", f"override:{KEY}": "2"}


def test_stable_keys_by_default_unstable_ones_and_undeclared_ones_on_request(
    client: InteractClient, table: RawTable
) -> None:
    table.put_item(Item={"Key": "my.own.key", "Value": "x"})
    table.put_item(Item={"Key": "#a comment", "Value": "x"})
    stable = client.get("configuration").json()
    assert all(entry["Stable"] for entry in stable.values())
    assert "app.default_ttl" not in stable
    assert "my.own.key" not in stable
    everything = client.get("configuration", {"unstable": "true"}).json()
    assert everything["app.default_ttl"]["Stable"] is False
    assert everything["app.default_ttl"]["Value"] == "300"
    assert everything["my.own.key"]["Value"] == "x"
    assert "#a comment" not in everything
    assert set(stable) < set(everything)
    assert len(everything) > 147


# -- dumps in pages ---------------------------------------------------------------------


def fill(table: RawTable) -> dict[str, str]:
    """17 values of 389 KB, each one a value POST accepts: 6.6 MB in all."""
    values = {f"big.{n:02}": chr(ord("a") + n) * 389_000 for n in range(17)}
    for key, value in values.items():
        table.put_item(Item={"Key": key, "Value": value})
    return values


@pytest.mark.parametrize("params", [{"unstable": "true"}, {"raw": "true"}])
def test_a_dump_too_large_for_one_answer_is_a_413_saying_how_to_ask_for_less(
    client: InteractClient, table: RawTable, params: dict[str, str]
) -> None:
    fill(table)
    answer = client.get("configuration", params)
    assert answer.status_code == 413, answer.text[:300]
    message = answer.json()["error"]["message"]
    for advice in ("limit=", "prefix=", "after="):
        assert advice in message
    assert len(answer.text) < 2000
    assert client.get("configuration", {**params, "prefix": "big."}).status_code == 413
    smaller = client.get("configuration", {**params, "prefix": "big.0"})
    assert smaller.status_code == 200
    assert len(smaller.json()) == 10


@pytest.mark.parametrize("params", [{"unstable": "true"}, {"raw": "true"}])
def test_a_large_dump_is_read_in_pages(
    client: InteractClient, table: RawTable, params: dict[str, str]
) -> None:
    values = fill(table)
    seen: dict[str, Any] = {}
    query: dict[str, str] = {**params, "limit": "5", "prefix": "big."}
    pages = 0
    while True:
        answer = client.get("configuration", query)
        assert answer.status_code == 200, answer.text[:300]
        page = answer.json()
        assert len(page) <= 5
        assert not set(page) & set(seen)
        seen.update(page)
        pages += 1
        following = answer.headers.get("X-Next-Page")
        if following is None:
            break
        query = dict(urllib.parse.parse_qsl(following))
        assert (query["limit"], query["prefix"], query["after"]) == ("5", "big.", max(page))
    assert pages == 4
    shown = {key: entry if "raw" in params else entry["Value"] for key, entry in seen.items()}
    assert shown == values
    too_many = client.get("configuration", {**params, "limit": "100"})
    assert too_many.status_code == 413
    assert "limit=" in too_many.json()["error"]["message"]


def test_raw_pages_never_split_a_parameter_set(client: InteractClient, table: RawTable) -> None:
    """A page of ``raw=true`` holds whole top-level entries of the document: each
    parameter set with all its items, so that every page is a document of its own and
    the pages merged are the whole dump."""
    for name in ("a", "b", "z"):
        table.put_item(Item={"Key": f"custom.{name}", "Value": name})
    for n in range(3):
        table.put_item(Item={"Key": f"[night]{KEY}.{n}", "Value": str(n)})
        table.put_item(Item={"Key": f"[day]{KEY}.{n}", "Value": str(n)})
    whole = client.get("configuration", {"raw": "true"}).json()
    assert set(whole["night"]) == {f"{KEY}.{n}" for n in range(3)}
    query: dict[str, str] = {"raw": "true", "limit": "2"}
    pages: list[dict[str, Any]] = []
    while True:
        answer = client.get("configuration", query)
        assert answer.status_code == 200, answer.text[:300]
        pages.append(answer.json())
        assert len(pages[-1]) <= 2
        following = answer.headers.get("X-Next-Page")
        if following is None:
            break
        query = dict(urllib.parse.parse_qsl(following))
        assert query["after"] == max(pages[-1])
    merged: dict[str, Any] = {}
    for page in pages:
        assert not set(page) & set(merged), "no entry on two pages"
        merged.update(page)
    assert merged == whole
    assert [list(page) for page in pages] == [["custom.a", "custom.b"], ["custom.z", "day"],
                                               ["night"]]  # fmt: skip
    # a prefix selects items by name: part of a set, nested as it is
    part = client.get("configuration", {"raw": "true", "prefix": "[night]"}).json()
    assert part == {"night": whole["night"]}


def test_the_worked_example_of_the_readme(
    deployment: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aws_clients: AWS
) -> None:
    assert read(client_of(aws_clients)) == "2"
    site = tmp_path / "site.yaml"
    site.write_text(f"config.active_parameter_set: night\nnight:\n  {KEY}: 1\n")
    monkeypatch.setenv("ConfigurationURLs", f"file://{site}")
    client = client_of(aws_clients)
    assert read(client) == "1"
    steps = [
        (KEY, "3", "3"),
        (f"[night]{KEY}", "4", "4"),
        ("config.active_parameter_set", "min-desired-count-50-pcent", "3"),
        (f"override:{KEY}", "0", "0"),
    ]
    for name, value, expected in steps:
        assert client.post(f"configuration/{name}", value).status_code == 200
        assert read(client) == expected, name
    assert client.get("configuration").json()[KEY]["Override"] is True


def test_the_openapi_document_describes_the_dump_in_pages(deployed: Dispatcher) -> None:
    from clonesquad_interact.openapi import openapi_document

    document = openapi_document(deployed)
    dump = document["paths"]["/v1/configuration"]["get"]
    parameters = {parameter["name"]: parameter for parameter in dump["parameters"]}
    assert {"prefix", "limit", "after", "unstable", "raw"} <= set(parameters)
    assert parameters["limit"]["schema"]["type"] == "integer"
    assert "X-Next-Page" in parameters["limit"]["description"]
    assert "limit=" in dump["responses"]["413"]["description"]


def test_the_parsed_copies_of_the_shipped_documents_are_the_yaml_files() -> None:
    from importlib.resources import files

    import yaml

    resources = files("clonesquad_interact.resources")
    parsed = json.loads((resources / "internal-documents.json").read_text("utf-8"))
    for name in ("predefined.config.yaml", "custom.config.yaml"):
        assert parsed["documents"][name] == yaml.safe_load((resources / name).read_text()), name


def test_a_restore_leaves_an_expiring_item_that_holds_the_value_as_it_is(
    client: InteractClient, table: RawTable
) -> None:
    import time

    expires = int(time.time()) + 3600
    table.put_item(Item={"Key": KEY, "Value": "3", "ExpirationTime": expires})
    table.put_item(Item={"Key": "app.disable", "Value": "1", "ExpirationTime": expires})
    raw = client.get("configuration", {"raw": "true"}).json()
    raw["app.disable"] = "0"
    assert client.post("configuration", json.dumps(raw), {"restore": "true"}).status_code == 200
    kept = table.get(KEY)
    assert kept is not None
    assert (kept["Value"], int(kept["ExpirationTime"])) == ("3", expires)
    changed = table.get("app.disable")
    assert changed is not None
    assert changed["Value"] == "0"
    assert "ExpirationTime" not in changed


def test_a_merge_leaves_an_expiring_item_that_holds_the_value_as_it_is(
    dispatcher_client: tuple[Dispatcher, InteractClient], table: RawTable
) -> None:
    """Importing a document again (a plain merge, no restore) does not make a
    temporary value permanent: CloneSquad skips the write of an item that expires and
    already holds the value; a new value is written permanent, as CloneSquad writes it."""
    import time

    dispatcher, client = dispatcher_client
    expires = int(time.time()) + 3600
    table.put_item(Item={"Key": KEY, "Value": "3", "ExpirationTime": expires})
    table.put_item(Item={"Key": f"[night]{KEY}", "Value": "1", "ExpirationTime": expires})
    table.put_item(Item={"Key": "app.disable", "Value": "1", "ExpirationTime": expires})
    gone = int(time.time()) - 10  # expired, not yet deleted by DynamoDB
    table.put_item(Item={"Key": "ec2.schedule.desired_instance_count", "Value": "2",
                         "ExpirationTime": gone})  # fmt: skip
    document = {KEY: "3", "night": {KEY: "1"}, "app.disable": "0",
                "ec2.schedule.desired_instance_count": "2"}  # fmt: skip
    with counting(dispatcher, "dynamodb") as calls:
        answer = client.post("configuration", json.dumps(document))
    assert answer.status_code == 200, answer.text
    assert calls == {"dynamodb.BatchGetItem": 1, "dynamodb.TransactWriteItems": 1}
    for key in (KEY, f"[night]{KEY}"):
        kept = table.get(key)
        assert kept is not None
        assert int(kept["ExpirationTime"]) == expires, key
    changed = table.get("app.disable")
    assert changed is not None
    assert (changed["Value"], "ExpirationTime" in changed) == ("0", False)
    back = table.get("ec2.schedule.desired_instance_count")
    assert back is not None
    assert "ExpirationTime" not in back, "an expired item is written again, permanent"
    assert client.get("configuration/ec2.schedule.desired_instance_count").text == "2"


def test_a_set_named_as_a_plain_key_is_dumped_raw_as_flat_items(
    client: InteractClient, table: RawTable
) -> None:
    # CloneSquad's own reader fails on such a table; its raw dump here restores it whole
    table.put_item(Item={"Key": "night", "Value": "plain"})
    table.put_item(Item={"Key": f"[night]{KEY}", "Value": "1"})
    table.put_item(Item={"Key": f"[day]{KEY}", "Value": "2"})
    raw = client.get("configuration", {"raw": "true"}).json()
    assert raw == {"[night]" + KEY: "1", "day": {KEY: "2"}, "night": "plain"}
    before = table.content()
    assert client.post("configuration", json.dumps(raw), {"restore": "true"}).status_code == 200
    assert table.content() == before


@pytest.mark.parametrize(
    ("sent", "stored"),
    [("true", "1"), ("Yes", "1"), (" on", "1"), ("False", "0"), ("no", "0"), ("1", "1")],
)
def test_a_bool_written_as_a_word_is_stored_as_the_1_or_0_the_main_function_reads(
    client: InteractClient, table: RawTable, sent: str, stored: str
) -> None:
    # CloneSquad's main function reads a Bool key as an integer: "true" would break it
    answer = client.post("configuration/app.disable", sent)
    assert (answer.status_code, answer.text) == (200, stored)
    answer = client.post("configuration/[night]app.disable", sent)
    assert (answer.status_code, answer.text) == (200, stored)
    document = {"app.disable": sent, "override:app.disable": sent, "night": {"app.disable": sent}}
    answer = client.post("configuration", json.dumps(document))
    assert answer.status_code == 200, answer.text
    assert table.content() == {
        "app.disable": stored,
        "override:app.disable": stored,
        "[night]app.disable": stored,
    }
    assert read(client, "app.disable") == stored


def test_an_s3_url_is_read_with_its_empty_path_segments_dropped(
    deployment: dict[str, str], monkeypatch: pytest.MonkeyPatch, aws_clients: AWS
) -> None:
    s3 = aws_clients.client("s3")
    s3.create_bucket(
        Bucket="cs-config", CreateBucketConfiguration={"LocationConstraint": "eu-west-3"}
    )
    s3.put_object(Bucket="cs-config", Key="a/x.yaml", Body=f"{KEY}: 9\n".encode())
    monkeypatch.setenv("ConfigurationURLs", "s3://cs-config//a//x.yaml")
    assert read(client_of(aws_clients)) == "9"
