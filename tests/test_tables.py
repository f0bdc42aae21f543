"""Settings, AWS clients, table access and value formats."""

from __future__ import annotations

from typing import Any

import pytest

from aws_calls import RawTable, counting
from clonesquad_interact import (
    AWS,
    ConfigurationKey,
    Dispatcher,
    KeyValueTable,
    PluginError,
    ServiceUnavailable,
    SettingMissing,
    Settings,
    parse_duration,
)
from clonesquad_interact.configuration import check_value, to_text
from clonesquad_interact.tables import BATCH_SIZE

# -- settings ------------------------------------------------------------------


def test_settings_are_read_once_and_a_missing_one_names_itself() -> None:
    environ = {"GroupName": " test ", "StateTable": "", "AWS_SECRET_ACCESS_KEY": "secret"}
    settings = Settings(environ)
    environ["GroupName"] = "changed"
    assert settings.group_name == "test"
    assert settings.get("StateTable") is None
    with pytest.raises(SettingMissing, match="setting StateTable is not configured") as caught:
        settings.require("StateTable")
    assert caught.value.status == 500
    assert settings.discovery() == {"GroupName": "test"}


@pytest.mark.parametrize(
    ("environ", "urls"),
    [
        ({}, ()),
        (
            {"ConfigurationURLs": "s3://a/b.yaml;file:///c.yaml"},
            ("s3://a/b.yaml", "file:///c.yaml"),
        ),
        ({"ConfigurationURLs": " https://x/y  s3://a/b ;"}, ("https://x/y", "s3://a/b")),
        ({"ConfigurationURL": "s3://legacy/c.yaml"}, ("s3://legacy/c.yaml",)),
    ],
)
def test_configuration_urls_are_split_in_order(
    environ: dict[str, str], urls: tuple[str, ...]
) -> None:
    assert Settings(environ).configuration_urls == urls


def test_building_a_dispatcher_creates_no_aws_client() -> None:
    dispatcher = Dispatcher(entry_points=False, environ={})
    assert dispatcher.aws._clients == {}


def test_clients_have_pinned_retries_and_timeouts_shorter_than_api_gateway(aws: None) -> None:
    aws_clients = AWS({"AWS_REGION": "eu-west-3", "AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    client = aws_clients.client("dynamodb")
    assert aws_clients.client("dynamodb") is client
    config = client.meta.config
    assert config.retries["mode"] == "standard"
    attempts = config.retries["total_max_attempts"]
    assert attempts == 3
    assert attempts * (config.connect_timeout + config.read_timeout) < 29
    assert client.meta.region_name == "eu-west-3"
    assert client.meta.endpoint_url == "http://127.0.0.1:9"


# -- tables ----------------------------------------------------------------------


@pytest.fixture
def table(deployment: dict[str, str], aws_clients: AWS) -> KeyValueTable:
    return KeyValueTable(aws_clients.client("dynamodb"), deployment["StateTable"])


def test_reads_ignore_expired_items(table: KeyValueTable, aws_clients: AWS) -> None:
    raw = RawTable(aws_clients.client("dynamodb"), table.name)
    raw.put_item(Item={"Key": "old", "Value": "1", "ExpirationTime": 1000})
    raw.put_item(Item={"Key": "live", "Value": "2", "ExpirationTime": 5000})
    table.clock = lambda: 2000.0
    assert table.get("old") is None
    live = table.get("live")
    assert live is not None
    assert (live.value, live.expiration_time) == ("2", 5000)
    assert set(table.scan()) == {"live"}
    assert table.delete("old") is False
    assert table.delete("live") is True


def test_unprocessed_items_are_written_again(
    deployment: dict[str, str], aws_clients: AWS, table: KeyValueTable
) -> None:
    """DynamoDB may leave items of a BatchWriteItem unprocessed; they are sent again."""
    client = aws_clients.client("dynamodb")
    held_back: list[dict[str, Any]] = []

    def hold_back(params: dict[str, Any], **_: Any) -> None:
        if not held_back:  # the first call: DynamoDB "processes" only part of the batch
            requests = params["RequestItems"][table.name]
            held_back.extend(requests[10:])
            del requests[10:]

    def report(parsed: dict[str, Any], **_: Any) -> None:
        if held_back and not parsed.get("UnprocessedItems") and not getattr(report, "done", False):
            parsed["UnprocessedItems"] = {table.name: list(held_back)}
            report.done = True  # type: ignore[attr-defined]

    calls: list[str] = []

    def count(**_: Any) -> None:
        calls.append("BatchWriteItem")

    handlers = [
        ("provide-client-params.dynamodb.BatchWriteItem", hold_back),
        ("before-call.dynamodb.BatchWriteItem", count),
        ("after-call.dynamodb.BatchWriteItem", report),
    ]
    for event, handler in handlers:
        client.meta.events.register(event, handler)
    try:
        assert table.write({f"k{n}": str(n) for n in range(BATCH_SIZE)}) == BATCH_SIZE
    finally:
        for event, handler in handlers:
            client.meta.events.unregister(event, handler)
    assert len(calls) == 2
    assert len(table.scan()) == BATCH_SIZE


def test_items_left_unprocessed_every_time_are_a_503(
    aws_clients: AWS, table: KeyValueTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = aws_clients.client("dynamodb")

    def never(parsed: dict[str, Any], model: Any, **_: Any) -> None:
        parsed["UnprocessedItems"] = {table.name: [{"DeleteRequest": {"Key": {"Key": {"S": "x"}}}}]}

    monkeypatch.setattr("clonesquad_interact.tables.time.sleep", lambda seconds: None)
    client.meta.events.register("after-call.dynamodb.BatchWriteItem", never)
    try:
        with pytest.raises(ServiceUnavailable, match="unprocessed"):
            table.write({"a": "1"})
    finally:
        client.meta.events.unregister("after-call.dynamodb.BatchWriteItem", never)


def test_a_write_with_puts_and_deletes_of_the_same_key_keeps_the_put(
    deployed: Dispatcher, table: KeyValueTable
) -> None:
    with counting(deployed, "dynamodb"):
        assert table.write({"a": "1"}, ["a", "b", "b"]) == 2
    assert {key: item.value for key, item in table.scan().items()} == {"a": "1"}


# -- formats and durations ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("3600", 3600),
        ("1.5", 1.5),
        ("minutes=30,hours=1", 5400),
        ("seconds=20", 20),
        ("day=1, weeks=1", 8 * 86400),
        (" Minutes=2 ", 120),
        ("milliseconds=500", 0.5),
        ("seconds=1,microseconds=250000", 1.25),
        ("millisecond=1500", 1.5),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "soon", "hours", "hours=", "=3", "hours=1,hours=2", "-5", "1e3"]
)
def test_bad_durations_say_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("fmt", "good", "bad"),
    [
        ("Bool", ["0", "1", "true", "No", "on"], ["2", "maybe"]),
        ("Integer", ["0", "-3", "42"], ["1.5", "x", "5%"]),
        ("IntegerOrPercentage", ["3", "100%"], ["x%", "many"]),
        ("Float", ["0.5", "3"], ["nan", "inf", "x"]),
        ("Duration", ["60", "hours=1"], ["later"]),
        ("String", ["anything at all"], []),
        ("StringList", ["a,b"], []),
    ],
)
def test_value_formats(fmt: str, good: list[str], bad: list[str]) -> None:
    for text in [*good, ""]:
        assert check_value(fmt, text) is None, text
    for text in bad:
        assert check_value(fmt, text) is not None, text


def test_a_key_with_an_unknown_format_or_a_bad_default_stops_start_up() -> None:
    with pytest.raises(PluginError, match="format 'Boolean' is unknown"):
        ConfigurationKey("a", "0", "Boolean", "A switch.")
    with pytest.raises(PluginError, match="not a Integer"):
        ConfigurationKey("a", "zero", "Integer", "A count.")


def test_document_values_become_text() -> None:
    assert to_text(True) == "1"  # what CloneSquad's main function reads as a Bool
    assert to_text(False) == "0"
    assert to_text(3) == "3"
    assert to_text(None) == ""
    assert to_text(["a", 1], "StringList") == "a;1"
    with pytest.raises(ValueError, match="StringList"):
        to_text(["a"], "String")
    with pytest.raises(ValueError, match="a mapping"):
        to_text({"a": 1})


def test_yaml_answers_are_written_by_libyaml_when_pyyaml_has_it() -> None:
    import yaml

    from clonesquad_interact import yamldocs

    expected = yaml.CSafeDumper if yaml.__with_libyaml__ else yaml.SafeDumper
    assert yamldocs._Dumper is expected


# -- batch reads -----------------------------------------------------------------


def test_batch_get_reads_100_keys_a_call_and_ignores_missing_and_expired_items(
    table: KeyValueTable, aws_clients: AWS
) -> None:
    raw = RawTable(aws_clients.client("dynamodb"), table.name)
    for n in range(150):
        raw.put_item(Item={"Key": f"k{n}", "Value": str(n)})
    raw.put_item(Item={"Key": "old", "Value": "x", "ExpirationTime": 1000})
    raw.put_item(Item={"Key": "live", "Value": "y", "ExpirationTime": 5000})
    table.clock = lambda: 2000.0
    client = aws_clients.client("dynamodb")
    sizes: list[int] = []

    def count(params: dict[str, Any], **_: Any) -> None:
        sizes.append(len(params["RequestItems"][table.name]["Keys"]))

    client.meta.events.register("provide-client-params.dynamodb.BatchGetItem", count)
    try:
        keys = [f"k{n}" for n in range(150)] + ["k0", "old", "live", "missing"]
        items = table.batch_get(keys)
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb.BatchGetItem", count)
    assert sizes == [100, 53], "100 keys a call, each key once"
    assert set(items) == {f"k{n}" for n in range(150)} | {"live"}
    assert (items["k7"].value, items["live"].expiration_time) == ("7", 5000)
    assert table.batch_get([]) == {}


def test_batch_get_asks_again_for_unprocessed_keys(
    table: KeyValueTable, aws_clients: AWS, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(10):
        table.put(f"k{n}", str(n))
    client = aws_clients.client("dynamodb")
    held_back: list[dict[str, Any]] = []

    def hold_back(parsed: dict[str, Any], **_: Any) -> None:
        if not held_back:  # the first answer: DynamoDB leaves some keys for later
            answered = parsed["Responses"][table.name]
            held_back.extend({"Key": item["Key"]} for item in answered[4:])
            del answered[4:]
            parsed["UnprocessedKeys"] = {table.name: {"Keys": held_back, "ConsistentRead": True}}

    sleeps: list[float] = []
    monkeypatch.setattr("clonesquad_interact.tables.time.sleep", sleeps.append)
    client.meta.events.register("after-call.dynamodb.BatchGetItem", hold_back)
    try:
        items = table.batch_get(f"k{n}" for n in range(10))
    finally:
        client.meta.events.unregister("after-call.dynamodb.BatchGetItem", hold_back)
    assert len(held_back) == 6
    assert {key: item.value for key, item in items.items()} == {f"k{n}": str(n) for n in range(10)}
    assert len(sleeps) == 1


def test_keys_left_unprocessed_every_time_are_a_503(
    table: KeyValueTable, aws_clients: AWS, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = aws_clients.client("dynamodb")

    def never(parsed: dict[str, Any], **_: Any) -> None:
        parsed["UnprocessedKeys"] = {table.name: {"Keys": [{"Key": {"S": "a"}}]}}

    monkeypatch.setattr("clonesquad_interact.tables.time.sleep", lambda seconds: None)
    client.meta.events.register("after-call.dynamodb.BatchGetItem", never)
    try:
        with pytest.raises(ServiceUnavailable, match=r"1 key\(s\) .* unprocessed"):
            table.batch_get(["a"])
    finally:
        client.meta.events.unregister("after-call.dynamodb.BatchGetItem", never)
