"""The configuration operations on a Configuration table in moto."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import yaml

from aws_calls import RawTable, counting
from clonesquad_interact import AWS, ConfigurationKey, Dispatcher
from clonesquad_interact.testing import InteractClient

from helpers import OperationsPlugin

KEYS = [
    ConfigurationKey("app.disable", "0", "Bool", "Disable the main function."),
    ConfigurationKey(
        "ec2.schedule.min_instance_count", "0", "Integer", "Instances kept running at least."
    ),
    ConfigurationKey("ec2.schedule.desired_instance_count", "-1", "IntegerOrPercentage", "Goal."),
    ConfigurationKey("test.az.avoid_list", "", "StringList", "AZs to avoid."),
    ConfigurationKey("app.run_period", "seconds=20", "Duration", "Main period."),
    ConfigurationKey("app.experimental", "no", "Bool", "An unstable switch.", stable=False),
]
#: The fields of a declared key in CloneSquad's dump.
FIELDS = {
    "Key",
    "Value",
    "DefaultValue",
    "Format",
    "Description",
    "Stable",
    "Status",
    "ConfigurationOrigin",
    "Override",
}
#: Those of a key nothing declares (and of an ``override:`` entry listed on its own).
UNDECLARED_FIELDS = FIELDS - {"DefaultValue", "Format", "Description"}


@pytest.fixture
def dispatcher(deployment: dict[str, str], aws_clients: AWS) -> Dispatcher:
    plugin = OperationsPlugin(name="keys-plugin", keys=KEYS)
    return Dispatcher([plugin], entry_points=False, raise_unexpected=True, aws=aws_clients)


@pytest.fixture
def client(dispatcher: Dispatcher) -> InteractClient:
    return InteractClient(dispatcher)


@pytest.fixture
def table(deployment: dict[str, str], aws_clients: AWS) -> RawTable:
    return RawTable(aws_clients.client("dynamodb"), deployment["ConfigurationTable"])


def table_content(table: RawTable) -> dict[str, str]:
    return table.content()


# -- dump ------------------------------------------------------------------


def test_dump_shows_every_stable_key_with_the_fields_of_the_original(
    client: InteractClient, table: RawTable, deployment: dict[str, str]
) -> None:
    table.put_item(Item={"Key": "ec2.schedule.min_instance_count", "Value": "3"})
    answer = client.get("configuration")
    assert answer.status_code == 200
    assert answer.content_type == "application/json"
    dump = answer.json()
    assert "app.experimental" not in dump
    assert {
        "app.disable",
        "ec2.schedule.min_instance_count",
        "backup.cron",  # a key of the catalogue plugin,
    } <= set(dump)
    for entry in dump.values():
        assert set(entry) == FIELDS
    from_table = dump["ec2.schedule.min_instance_count"]
    origin = f"DynamoDB configuration table '{deployment['ConfigurationTable']}'"
    assert from_table == {
        "Key": "ec2.schedule.min_instance_count",
        "Value": "3",
        "DefaultValue": "0",
        "Format": "Integer",
        "Description": "Instances kept running at least.",
        "Stable": True,
        "Status": f"Key found in '{origin}'",
        "ConfigurationOrigin": origin,
        "Override": False,
    }
    default = dump["app.disable"]
    assert default["Value"] == "0"
    assert default["ConfigurationOrigin"] == "Built-in defaults"
    assert default["Status"] == "Key found in 'Built-in defaults'"
    # the catalogue's defaults keep the type CloneSquad registers them with
    assert dump["backup.cron"]["DefaultValue"] == dump["backup.cron"]["Value"]
    assert list(dump) == sorted(dump)


def test_unstable_keys_are_dumped_on_request_and_yaml_is_offered(client: InteractClient) -> None:
    answer = client.get("configuration", {"unstable": "true", "format": "yaml"})
    assert answer.content_type == "application/yaml"
    dump = answer.yaml()
    assert dump["app.experimental"]["Stable"] is False
    assert dump["app.experimental"]["Value"] == "no"
    assert set(dump["app.experimental"]) == FIELDS


@pytest.mark.parametrize("word", ["YAML", "Yaml", "JSON"])
def test_format_is_read_in_any_case_as_clonesquad_reads_it(
    client: InteractClient, table: RawTable, word: str
) -> None:
    answer = client.get("configuration", {"format": word})
    assert answer.status_code == 200, answer.text
    expected = "application/json" if word == "JSON" else "application/yaml"
    assert answer.content_type == expected
    posted = client.post("configuration", "app.disable: 1\n", {"format": word})
    assert posted.status_code == 200, posted.text
    assert table_content(table) == {"app.disable": "1"}


@pytest.mark.parametrize("word", ["xml", "txt", ""])
def test_a_format_that_is_neither_json_nor_yaml_is_a_400(client: InteractClient, word: str) -> None:
    answer = client.get("configuration", {"format": word})
    assert answer.status_code == 400
    assert "params.format" in answer.json()["error"]["message"]


def test_a_key_in_the_table_that_no_plugin_declares_is_dumped_with_a_warning(
    client: InteractClient, table: RawTable
) -> None:
    table.put_item(Item={"Key": "ec2.shedule.typo", "Value": "1"})
    # a dump lists only stable keys by default: an undeclared key is not one
    assert "ec2.shedule.typo" not in client.get("configuration").json()
    entry = client.get("configuration", {"unstable": "true"}).json()["ec2.shedule.typo"]
    assert entry["Value"] == "1"
    assert set(entry) == UNDECLARED_FIELDS
    assert entry["Stable"] is False
    assert entry["Status"] == (
        "[WARNING] Key 'ec2.shedule.typo' doesn't exist as built-in default "
        "(Misconfiguration??) but Key found in "
        f"'DynamoDB configuration table '{table.name}''!"
    )
    assert client.get("configuration/ec2.shedule.typo").text == "1"


def test_expired_items_are_ignored_even_before_dynamodb_deletes_them(
    client: InteractClient, table: RawTable
) -> None:
    past = int(time.time()) - 60
    future = int(time.time()) + 3600
    table.put_item(Item={"Key": "app.disable", "Value": "1", "ExpirationTime": past})
    table.put_item(
        Item={"Key": "ec2.schedule.min_instance_count", "Value": "4", "ExpirationTime": future}
    )
    dump = client.get("configuration").json()
    assert dump["app.disable"]["Value"] == "0"
    assert dump["ec2.schedule.min_instance_count"]["Value"] == "4"
    assert client.get("configuration/app.disable").text == "0"
    assert client.get("configuration", {"raw": "true"}).json() == {
        "ec2.schedule.min_instance_count": "4"
    }


# -- URL layer ---------------------------------------------------------------


def test_url_documents_sit_between_the_defaults_and_the_table(
    deployment: dict[str, str],
    table: RawTable,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    aws_clients: AWS,
) -> None:
    s3 = aws_clients.client("s3")
    s3.create_bucket(
        Bucket="cs-config", CreateBucketConfiguration={"LocationConstraint": "eu-west-3"}
    )
    s3.put_object(
        Bucket="cs-config",
        Key="base.yaml",
        Body=b"app.disable: true\nec2.schedule.min_instance_count: 2\ntest.az.avoid_list:\n"
        b"  - eu-west-3a\n  - eu-west-3b\n",
    )
    local = tmp_path / "site.yaml"
    local.write_text("ec2.schedule.min_instance_count: 5\napp.run_period: minutes=1\n")
    monkeypatch.setenv("ConfigurationURLs", f"s3://cs-config/base.yaml;file://{local}")
    table.put_item(Item={"Key": "app.run_period", "Value": "seconds=30"})
    client = InteractClient(
        Dispatcher(
            [OperationsPlugin(keys=KEYS)],
            entry_points=False,
            raise_unexpected=True,
            aws=aws_clients,
        )
    )
    dump = client.get("configuration").json()
    # a document's value keeps its type in a dump; reads answer the text CloneSquad reads
    assert dump["app.disable"]["Value"] is True
    assert dump["app.disable"]["ConfigurationOrigin"] == "s3://cs-config/base.yaml"
    assert client.get("configuration/app.disable").text == "1"
    # a list is not a value in a document (CloneSquad ignores it): the default applies
    assert dump["test.az.avoid_list"]["ConfigurationOrigin"] == "Built-in defaults"
    assert dump["ec2.schedule.min_instance_count"]["Value"] == 5
    assert dump["ec2.schedule.min_instance_count"]["ConfigurationOrigin"] == f"file://{local}"
    assert dump["app.run_period"]["Value"] == "seconds=30"
    assert client.get("configuration/ec2.schedule.min_instance_count").text == "5"
    assert client.dispatcher.configuration.get_list("test.az.avoid_list") == []
    assert client.dispatcher.configuration.get_duration("app.run_period") == 30


def test_an_unreadable_url_document_is_skipped_and_the_other_layers_apply(
    deployment: dict[str, str], tmp_path: Any, monkeypatch: pytest.MonkeyPatch, aws_clients: AWS
) -> None:
    listing = tmp_path / "list.yaml"
    listing.write_text("- not\n- a mapping\n")
    monkeypatch.setenv(
        "ConfigurationURLs", f"s3://no-such-bucket/x.yaml file://{listing} ftp://host/x.yaml"
    )
    client = InteractClient(
        Dispatcher(
            [OperationsPlugin(keys=KEYS)],
            entry_points=False,
            raise_unexpected=True,
            aws=aws_clients,
        )
    )
    answer = client.get("configuration/app.disable")
    assert answer.status_code == 200
    assert answer.text == "0"


# -- import ------------------------------------------------------------------


def test_an_import_of_more_than_25_keys_is_written_in_one_transaction(
    dispatcher: Dispatcher, client: InteractClient, table: RawTable
) -> None:
    document = {f"custom.key.{n:03}": str(n) for n in range(60)}
    with counting(dispatcher, "dynamodb") as calls:
        answer = client.post("configuration", json.dumps(document))
    assert answer.status_code == 200, answer.text
    assert answer.text == "Ok (60 key(s) processed)"
    # the items it writes are read first: one that expires and holds its value is kept
    assert calls == {"dynamodb.BatchGetItem": 1, "dynamodb.TransactWriteItems": 1}
    assert table_content(table) == document


def test_an_import_merges_and_an_empty_value_deletes(
    client: InteractClient, table: RawTable
) -> None:
    table.put_item(Item={"Key": "app.disable", "Value": "1"})
    table.put_item(Item={"Key": "ec2.schedule.min_instance_count", "Value": "3"})
    body = "app.disable: ''\nec2.schedule.desired_instance_count: 100%\napp.run_period: null\n"
    answer = client.post("configuration", body, {"format": "yaml"})
    assert answer.text == "Ok (3 key(s) processed)"
    assert table_content(table) == {
        "ec2.schedule.min_instance_count": "3",
        "ec2.schedule.desired_instance_count": "100%",
    }


def test_restore_replaces_the_table_content(client: InteractClient, table: RawTable) -> None:
    table.put_item(Item={"Key": "app.disable", "Value": "1"})
    table.put_item(Item={"Key": "stale.key", "Value": "x"})
    answer = client.post(
        "configuration", json.dumps({"app.disable": 0, "new.key": "y"}), {"restore": "true"}
    )
    assert answer.status_code == 200
    assert answer.text == "Ok (2 key(s) processed, 1 key(s) absent from the document deleted)"
    assert table_content(table) == {"app.disable": "0", "new.key": "y"}


def test_restore_of_an_empty_document_needs_a_confirmation(
    client: InteractClient, table: RawTable
) -> None:
    table.put_item(Item={"Key": "app.disable", "Value": "1"})
    refused = client.post("configuration", "{}", {"restore": "true"})
    assert refused.status_code == 400
    assert "confirm=true" in refused.json()["error"]["message"]
    assert table_content(table) == {"app.disable": "1"}
    confirmed = client.post("configuration", "", {"restore": "true", "confirm": "true"})
    assert confirmed.status_code == 200
    assert table_content(table) == {}


def test_a_raw_dump_posted_back_with_restore_gives_the_same_table(
    client: InteractClient, table: RawTable
) -> None:
    client.post("configuration", json.dumps({"app.disable": "1", "custom.x": "a b"}))
    raw = client.get("configuration", {"raw": "true", "format": "yaml"})
    assert raw.yaml() == {"app.disable": "1", "custom.x": "a b"}
    client.post("configuration", "other: 1\n", {"format": "yaml"})
    restored = client.post("configuration", raw.text, {"format": "yaml", "restore": "true"})
    assert restored.status_code == 200
    assert table_content(table) == {"app.disable": "1", "custom.x": "a b"}


@pytest.mark.parametrize(
    ("body", "params", "fault"),
    [
        ("app.disable: [1\n", {"format": "yaml"}, "not valid YAML"),
        ("- app.disable\n- 1\n", {"format": "yaml"}, "not of type 'object'"),
        ("1: x\napp.disable: 1\n", {"format": "yaml"}, "body[1]"),
        ('{"app.disable": 1, "ec2.schedule.min_instance_count": "three"}', {}, "Integer"),
        ('{"ec2.schedule.desired_instance_count": "many"}', {}, "percentage"),
        ('{"app.run_period": "hours=x"}', {}, "app.run_period"),
        ('{"night": {"app.disable": {"nested": 1}}}', {}, "night.app.disable"),
        ('{"night": {"app.disable": "maybe"}}', {}, "night.app.disable"),
        ('{"a]b": {"app.disable": 1}}', {}, "parameter set"),
        ('{"app.disable": [1, 2]}', {}, "StringList"),
        ("a: &a [x, x]\nb: [*a, *a]\n", {"format": "yaml"}, "aliases"),
        ("not json", {}, "'not json' is not of type 'object'"),
        ("app.disable: [1\n", {"format": "json"}, "not valid YAML"),
    ],
)
def test_a_bad_document_is_a_400_naming_the_fault_and_writes_nothing(
    client: InteractClient, table: RawTable, body: str, params: dict[str, str], fault: str
) -> None:
    table.put_item(Item={"Key": "app.disable", "Value": "1"})
    answer = client.post("configuration", body, params)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert fault in error["message"] + json.dumps(error["details"])
    assert table_content(table) == {"app.disable": "1"}


def test_a_bad_document_names_every_key_at_fault(client: InteractClient) -> None:
    document = {"app.disable": "maybe", "ec2.schedule.min_instance_count": "x", "fine": "1"}
    error = client.post("configuration", json.dumps(document)).json()["error"]
    assert {d["where"] for d in error["details"]} == {
        "body.app.disable",
        "body.ec2.schedule.min_instance_count",
    }
    assert "2 key(s) at fault" in error["message"]


# -- one key -----------------------------------------------------------------


def test_a_key_is_read_as_text_and_written_from_the_first_line_of_the_body(
    client: InteractClient, table: RawTable
) -> None:
    # CloneSquad's predefined layer sets 2 over the built-in 0
    assert client.get("configuration/ec2.schedule.min_instance_count").text == "2"
    answer = client.post("configuration/ec2.schedule.min_instance_count", "3\nignored\n")
    assert answer.status_code == 200
    assert answer.text == "3"
    assert answer.content_type.startswith("text/plain")
    read = client.get("configuration/ec2.schedule.min_instance_count")
    assert (read.text, read.content_type.split(";")[0]) == ("3", "text/plain")
    item = table.get("ec2.schedule.min_instance_count")
    assert item is not None
    assert "ExpirationTime" not in item


@pytest.mark.parametrize(("ttl", "seconds"), [("600", 600), ("minutes=30,hours=1", 5400)])
def test_a_ttl_sets_the_expiration_time(
    client: InteractClient, table: RawTable, ttl: str, seconds: int
) -> None:
    before = time.time()
    answer = client.post("configuration/app.disable", "1", {"ttl": ttl})
    assert answer.status_code == 200
    item = table.get("app.disable")
    assert item is not None
    assert before + seconds <= int(item["ExpirationTime"]) <= time.time() + seconds + 1


@pytest.mark.parametrize(
    "ttl", ["soon", "hours=", "minutes=5,minutes=5", "0", "-5", "fortnights=1"]
)
def test_an_unparseable_ttl_is_a_400_and_nothing_is_written(
    client: InteractClient, table: RawTable, ttl: str
) -> None:
    answer = client.post("configuration/app.disable", "1", {"ttl": ttl})
    assert answer.status_code == 400
    assert "ttl" in answer.json()["error"]["message"]
    assert table_content(table) == {}


def test_a_value_of_the_wrong_format_is_refused_for_one_key(
    client: InteractClient, table: RawTable
) -> None:
    answer = client.post("configuration/ec2.schedule.min_instance_count", "many")
    assert answer.status_code == 400
    assert "Integer" in answer.json()["error"]["message"]
    assert table_content(table) == {}


@pytest.mark.parametrize("duration", ["milliseconds=500", "seconds=1,microseconds=250000"])
def test_a_duration_takes_every_keyword_clonesquad_reads(
    client: InteractClient, table: RawTable, duration: str
) -> None:
    answer = client.post("configuration/app.run_period", duration)
    assert answer.status_code == 200, answer.text
    assert table_content(table) == {"app.run_period": duration}


def test_an_empty_body_deletes_the_key(client: InteractClient, table: RawTable) -> None:
    table.put_item(Item={"Key": "ec2.schedule.min_instance_count", "Value": "3"})
    answer = client.post("configuration/ec2.schedule.min_instance_count", "")
    assert answer.status_code == 200
    assert answer.text == "0"
    assert table_content(table) == {}


def test_keys_keep_their_case_and_an_unknown_key_is_a_404(
    client: InteractClient, table: RawTable
) -> None:
    assert client.post("configuration/Custom.Key", "A").status_code == 200
    assert table_content(table) == {"Custom.Key": "A"}
    assert client.get("configuration/Custom.Key").text == "A"
    missing = client.get("configuration/custom.key")
    assert missing.status_code == 404
    assert "custom.key" in missing.json()["error"]["message"]


# -- costs and settings ----------------------------------------------------------


def test_aws_calls_per_operation(dispatcher: Dispatcher, client: InteractClient) -> None:
    with counting(dispatcher, "dynamodb") as calls:
        client.get("configuration/app.disable")
    assert calls == {"dynamodb.BatchGetItem": 1}
    with counting(dispatcher, "dynamodb") as calls:
        client.get("configuration")
    assert calls == {"dynamodb.Scan": 1}
    with counting(dispatcher, "dynamodb") as calls:
        client.post("configuration/app.disable", "1")
    assert calls == {"dynamodb.PutItem": 1}
    with counting(dispatcher, "dynamodb") as calls:
        client.post("configuration", json.dumps({"a": "1", "b": ""}))
    assert calls == {"dynamodb.BatchGetItem": 1, "dynamodb.TransactWriteItems": 1}
    with counting(dispatcher, "dynamodb") as calls:
        client.post("configuration", json.dumps({"b": ""}))
    assert calls == {"dynamodb.TransactWriteItems": 1}, "nothing to read for a deletion"


def test_a_dump_of_a_large_table_follows_the_scan_pages(
    dispatcher: Dispatcher, client: InteractClient, table: RawTable
) -> None:
    for n in range(300):
        table.put_item(Item={"Key": f"big.{n:03}", "Value": "x" * 4000})
    with counting(dispatcher, "dynamodb") as calls:
        raw = client.get("configuration", {"raw": "true"}).json()
    assert len(raw) == 300
    assert calls["dynamodb.Scan"] > 1


def test_a_missing_table_setting_is_a_500_that_names_it(
    aws: None, monkeypatch: pytest.MonkeyPatch, aws_clients: AWS
) -> None:
    from structlog.testing import capture_logs

    monkeypatch.delenv("ConfigurationTable", raising=False)
    dispatcher = Dispatcher(entry_points=False, aws=aws_clients)
    client = InteractClient(dispatcher)
    with capture_logs() as logs:
        first = client.get("configuration")
        second = client.get("configuration/app.disable")
    for answer in (first, second):
        assert answer.status_code == 500
        assert "setting ConfigurationTable is not configured" in answer.json()["error"]["message"]
    assert [entry["setting"] for entry in logs if entry["event"] == "setting missing"] == [
        "ConfigurationTable"
    ]


def test_values_from_yaml_become_the_text_a_table_holds(
    client: InteractClient, table: RawTable
) -> None:
    body = yaml.safe_dump({"app.disable": True, "ec2.schedule.min_instance_count": 7, "f": 0.5})
    assert client.post("configuration", body, {"format": "yaml"}).status_code == 200
    assert table_content(table) == {
        "app.disable": "1",  # a Bool as CloneSquad reads it back
        "ec2.schedule.min_instance_count": "7",
        "f": "0.5",
    }


def _self_signed(directory: Any) -> tuple[str, str]:
    """A certificate for 127.0.0.1 and its key, as PEM files (cryptography comes with moto)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "cert.pem"
    key_path = directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


def _served_entry(
    server: Any, url: str, monkeypatch: pytest.MonkeyPatch, aws_clients: AWS
) -> dict[str, Any]:
    """The dump's ``ec2.schedule.min_instance_count`` while ``server`` serves the
    document of ConfigurationURLs ``url`` (the server is closed after)."""
    import threading

    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("ConfigurationURLs", url)
        client = InteractClient(
            Dispatcher(
                [OperationsPlugin(keys=KEYS)],
                entry_points=False,
                raise_unexpected=True,
                aws=aws_clients,
            )
        )
        entry: dict[str, Any] = client.get("configuration").json()[
            "ec2.schedule.min_instance_count"
        ]
    finally:
        server.shutdown()
        server.server_close()
    return entry


def test_an_https_document_is_a_layer_too(
    deployment: dict[str, str], tmp_path: Any, monkeypatch: pytest.MonkeyPatch, aws_clients: AWS
) -> None:
    import functools
    import http.server
    import ssl

    site = tmp_path / "site"
    site.mkdir()
    (site / "config.yaml").write_text("ec2.schedule.min_instance_count: 6\n")
    cert, key = _self_signed(tmp_path)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    monkeypatch.setenv("SSL_CERT_FILE", cert)  # the client trusts this certificate only
    url = f"https://127.0.0.1:{server.server_address[1]}/config.yaml"
    entry = _served_entry(server, url, monkeypatch, aws_clients)
    assert entry["Value"] == 6
    assert entry["ConfigurationOrigin"] == url


# -- CloneSquad's document layers ---------------------------------------------


def test_the_predefined_layer_and_its_parameter_sets(
    client: InteractClient, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = client.get("configuration").json()["ec2.schedule.min_instance_count"]
    assert entry["Value"] == 2
    assert entry["ConfigurationOrigin"] == "internal:predefined.config.yaml"
    # a document at ConfigurationURLs selects one of the predefined parameter sets
    # (the original's spelling, typo included) and defines one of its own
    site = tmp_path / "site.yaml"
    site.write_text(
        "config.active_parameter_set: min-desired-count-10-pent\n"
        "night:\n  ec2.schedule.min_instance_count: 1\n"
    )
    monkeypatch.setenv("ConfigurationURLs", f"file://{site}")
    fresh = InteractClient(
        Dispatcher([OperationsPlugin(keys=KEYS)], entry_points=False, raise_unexpected=True)
    )
    assert fresh.get("configuration/ec2.schedule.min_instance_count").text == "10%"
    site.write_text(
        "config.active_parameter_set: night\nnight:\n  ec2.schedule.min_instance_count: 1\n"
    )
    fresh = InteractClient(
        Dispatcher([OperationsPlugin(keys=KEYS)], entry_points=False, raise_unexpected=True)
    )
    entry = fresh.get("configuration").json()["ec2.schedule.min_instance_count"]
    assert entry["Value"] == 1
    assert entry["ConfigurationOrigin"] == f"file://{site}"
    assert entry["Status"] == f"Key found in 'file://{site}' (ParameterSet='night')"


def test_internal_documents_are_searched_where_clonesquad_searches_them(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, deployment: dict[str, str], aws_clients: AWS
) -> None:
    """``$LAMBDA_TASK_ROOT``, the current directory, ``/opt``, ``$CLONESQUAD_DIR`` and
    ``$CLONESQUAD_DIR/src/resources``, each with ``.``, ``custo`` and ``resources``:
    the first file found is the document."""
    from clonesquad_interact import layers

    roots = {name: tmp_path / name for name in ("task", "cwd", "opt", "home")}
    for root in roots.values():
        root.mkdir()
    monkeypatch.setenv("LAMBDA_TASK_ROOT", str(roots["task"]))
    monkeypatch.chdir(roots["cwd"])
    monkeypatch.setattr(layers, "LAYER_DIRECTORY", str(roots["opt"]))
    monkeypatch.setenv("CLONESQUAD_DIR", str(roots["home"]))
    order = [
        roots["task"] / "custom.config.yaml",
        roots["task"] / "resources" / "custom.config.yaml",
        roots["cwd"] / "custom.config.yaml",
        roots["cwd"] / "custo" / "custom.config.yaml",
        roots["opt"] / "custo" / "custom.config.yaml",
        roots["opt"] / "resources" / "custom.config.yaml",
        roots["home"] / "custom.config.yaml",
        roots["home"] / "src" / "resources" / "custom.config.yaml",
        roots["home"] / "src" / "resources" / "custo" / "custom.config.yaml",
    ]
    for n, path in enumerate(order):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"ec2.schedule.min_instance_count: {10 + n}\n")
    for n, path in enumerate(order):
        fresh = InteractClient(Dispatcher(entry_points=False, aws=aws_clients))
        answer = fresh.get("configuration/ec2.schedule.min_instance_count")
        assert answer.text == str(10 + n), path
        path.unlink()
    fresh = InteractClient(Dispatcher(entry_points=False, aws=aws_clients))
    assert fresh.get("configuration/ec2.schedule.min_instance_count").text == "2", "shipped"


def test_an_operator_replaces_the_custom_layer(
    client: InteractClient, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "custom.config.yaml").write_text("ec2.schedule.min_instance_count: 4\n")
    monkeypatch.setenv("LAMBDA_TASK_ROOT", str(tmp_path))
    fresh = InteractClient(
        Dispatcher([OperationsPlugin(keys=KEYS)], entry_points=False, raise_unexpected=True)
    )
    entry = fresh.get("configuration").json()["ec2.schedule.min_instance_count"]
    assert entry["Value"] == 4
    assert entry["ConfigurationOrigin"] == "internal:custom.config.yaml"


def test_an_http_document_is_fetched_signed_as_clonesquad_fetches_it(
    deployment: dict[str, str], monkeypatch: pytest.MonkeyPatch, aws_clients: AWS
) -> None:
    import http.server

    from clonesquad_interact.local.sigv4 import Principal, SignedRequest, verify

    received: list[SignedRequest] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            received.append(SignedRequest("GET", self.path, list(self.headers.items())))
            body = b"ec2.schedule.min_instance_count: 7\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    url = f"http://127.0.0.1:{server.server_address[1]}/site/config.yaml"
    entry = _served_entry(server, url, monkeypatch, aws_clients)
    assert (entry["Value"], entry["ConfigurationOrigin"]) == (7, url)
    (request,) = received
    # Signed with the function's credentials, for execute-api in the region.
    mine = aws_clients.credentials().get_frozen_credentials()
    principal = Principal("tests", mine.access_key, mine.secret_key, {}, mine.token)
    signed = {mine.access_key: principal}
    assert verify(request, signed, region="eu-west-3", service="execute-api") == principal
