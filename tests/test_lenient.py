"""Lenient names (opt-in): API Gateway names matched as CloneSquad matches them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from aws_calls import RawTable
from clonesquad_interact import AWS, Dispatcher, PluginError
from clonesquad_interact.dispatcher import IGNORED_HEADER
from clonesquad_interact.routing import LENIENT_SETTING
from clonesquad_interact.testing import InteractClient, sqs_record

from helpers import OperationsPlugin, make_operation

EVENTS = Path(__file__).parent / "events"
POLICY_SETTING = "CLONESQUAD_INTERACT_ACCESS_POLICY"


def sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return loaded


@pytest.fixture
def strict(deployment: dict[str, str], aws_clients: AWS, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.delenv(LENIENT_SETTING, raising=False)
    return InteractClient(Dispatcher(entry_points=False, raise_unexpected=True, aws=aws_clients))


@pytest.fixture
def lenient(deployment: dict[str, str], aws_clients: AWS, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv(LENIENT_SETTING, "true")
    return InteractClient(Dispatcher(entry_points=False, raise_unexpected=True, aws=aws_clients))


@pytest.fixture
def scheduler(deployment: dict[str, str], aws_clients: AWS) -> RawTable:
    table = RawTable(aws_clients.client("dynamodb"), deployment["SchedulerTable"])
    table.put_item(Item={"Key": "every-5-min", "Value": "rate(5 minutes),interact:backup"})
    return table


def test_strict_is_the_default_and_its_404_names_the_setting(strict: InteractClient) -> None:
    for path in ("/Configuration", "/configuration/", "//configuration", "/Configuration%2Fx"):
        answer = strict.get(path)
        assert answer.status_code == 404, path
        message = answer.json()["error"]["message"]
        assert f"{LENIENT_SETTING}=true accepts this spelling" in message, path
    # A name no spelling makes an operation says nothing of the setting.
    assert LENIENT_SETTING not in strict.get("/Configuratio").json()["error"]["message"]
    # Nor does a '..' name, which lenient names refuse too.
    assert LENIENT_SETTING not in strict.get("/scheduler/../x").json()["error"]["message"]


def test_the_original_scripts_dump_call(lenient: InteractClient, strict: InteractClient) -> None:
    # CloneSquad's scripts call /Configuration?Unstable=true; CloneSquad takes parameter
    # names as sent, so it ignores 'Unstable' and answers the stable keys.
    answer = lenient.get("/Configuration", params={"Unstable": "true"})
    assert answer.status_code == 200
    assert answer.headers[IGNORED_HEADER] == "Unstable"
    assert answer.json() == strict.get("/configuration").json()
    assert strict.get("/configuration", params={"Unstable": "true"}).status_code == 400


def test_case_empty_segments_and_percent_escapes(
    lenient: InteractClient, scheduler: RawTable
) -> None:
    for path in (
        "/Scheduler/every-5-min",
        "//scheduler//every-5-min/",
        "/SCHEDULER/every%2D5%2Dmin",
        "/scheduler%2Fevery-5-min",
    ):
        answer = lenient.get(path)
        assert (answer.status_code, answer.text) == (200, "rate(5 minutes),interact:backup"), path
        assert IGNORED_HEADER not in answer.headers
    assert lenient.get("/Configuration/ec2.schedule.min_instance_count").text == "2"
    assert lenient.get("/").status_code == 200
    assert lenient.get("//").status_code == 200


def test_the_rest_sample_event(lenient: InteractClient, strict: InteractClient) -> None:
    # As API Gateway sends it: path /Configuration/App.Disable.
    event = sample("apigw_rest_mixed_case")
    assert strict.dispatcher.handle(event, None)["statusCode"] == 404
    answer = lenient.dispatcher.handle(sample("apigw_rest_mixed_case"), None)
    # Captured values keep their case: the key is 'App.Disable', which nobody declares.
    assert answer["statusCode"] == 404
    assert "App.Disable" in json.loads(answer["body"])["error"]["message"]
    event = sample("apigw_rest_get_configuration_key")  # ?tag=... the operation does not take
    answer = lenient.dispatcher.handle(event, None)
    assert (answer["statusCode"], answer["body"]) == (200, "2")
    assert answer["headers"][IGNORED_HEADER] == "tag"


def test_captured_values_keep_their_case(
    lenient: InteractClient, scheduler: RawTable, deployment: dict[str, str]
) -> None:
    entry = "cron(0 8 * * ? *),ec2.schedule.min_instance_count=3"
    assert lenient.post("/Scheduler/Morning-Scale", entry).status_code == 200
    assert scheduler.content()["Morning-Scale"] == entry
    # A regex route matches the name as cleaned up, its literal start as the route
    # writes it: the operation gets exactly what the name says (a 404, not a 500).
    assert lenient.get("/Control/Instances/UNSTOPPABLE").status_code == 404


def test_dot_segments_route_nowhere(lenient: InteractClient, scheduler: RawTable) -> None:
    for path in ("/scheduler/../configuration", "/scheduler/%2E%2E/x", "/./scheduler", "/a/%2F/b"):
        assert lenient.get(path).status_code == 404, path
    assert lenient.get("/scheduler%252Fevery-5-min").status_code == 404


def test_unknown_parameters_are_ignored_and_named_known_ones_still_checked(
    lenient: InteractClient,
) -> None:
    answer = lenient.get("/configuration", params={"unstable": "true", "zz": "1", "a b\r\n": "x"})
    assert answer.status_code == 200
    assert answer.headers[IGNORED_HEADER] == "zz, a%20b%0D%0A"
    stable = lenient.get("/configuration").json()
    assert len(answer.json()) > len(stable), "unstable=true still works"
    refused = lenient.get("/configuration", params={"format": "xml", "Other": "1"})
    assert refused.status_code == 400
    assert refused.headers[IGNORED_HEADER] == "Other"


def test_sqs_and_direct_calls_are_not_lenient(lenient: InteractClient) -> None:
    answer = lenient.dispatcher.handle({"OpType": "Configuration"}, None)
    assert answer["statusCode"] == 404
    with capture_logs() as logs:
        lenient.sqs(sqs_record({"OpType": "backup/"}))
    assert [e["outcome"] for e in logs if e["event"] == "sqs.record"] == ["failed"]


def test_the_request_line_says_what_was_sent(lenient: InteractClient) -> None:
    with capture_logs() as logs:
        lenient.get("/Configuration/")
    (line,) = [e for e in logs if e["event"] == "request"]
    assert (line["op"], line["sent"], line["status"]) == ("configuration", "Configuration/", 200)


def test_operations_differing_only_by_case_cannot_be_lenient(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plugin = OperationsPlugin(make_operation("Hello"), make_operation("hello"))
    Dispatcher([plugin], builtins=False, entry_points=False, environ={})
    with pytest.raises(PluginError, match=LENIENT_SETTING):
        Dispatcher([plugin], builtins=False, entry_points=False, environ={LENIENT_SETTING: "1"})


def test_with_the_access_policy_a_denied_name_stays_denied_in_any_spelling(
    deployment: dict[str, str], aws_clients: AWS, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A deny-list policy: everything, but no writes of configuration keys.
    s3 = aws_clients.client("s3")
    policy = {
        "Statement": [
            {"Effect": "Allow", "Action": "*", "Principal": "*", "Resource": "*"},
            {
                "Effect": "Deny",
                "Action": "execute-api:Invoke",
                "Principal": "*",
                "Resource": "arn:aws:execute-api:*:*:*/POST/configuration/*",
            },
        ]
    }
    s3.put_object(Bucket="clonesquad-test-logging", Key="p.json", Body=json.dumps(policy).encode())
    monkeypatch.setenv(POLICY_SETTING, "s3://clonesquad-test-logging/p.json")
    monkeypatch.setenv(LENIENT_SETTING, "1")
    client = InteractClient(Dispatcher(entry_points=False, aws=aws_clients))
    table = RawTable(aws_clients.client("dynamodb"), deployment["ConfigurationTable"])
    for path in (
        "/Configuration/app.disable",
        "//configuration/app.disable/",
        "/CONFIGURATION%2Fapp.disable",
    ):
        answer = client.post(path, "1")
        assert answer.status_code == 403, path
        assert "/POST/configuration/app.disable" in answer.json()["error"]["message"]
    assert table.content() == {}
    assert client.get("/Configuration/app.disable").status_code == 200


def test_the_original_scripts_call_as_api_gateway_sends_it(
    lenient: InteractClient, strict: InteractClient
) -> None:
    event = sample("apigw_rest_original_dump_unstable")  # GET /Configuration?Unstable=true
    refused = strict.dispatcher.handle(sample("apigw_rest_original_dump_unstable"), None)
    assert refused["statusCode"] == 404
    assert LENIENT_SETTING in json.loads(refused["body"])["error"]["message"]
    answer = lenient.dispatcher.handle(event, None)
    assert answer["statusCode"] == 200
    assert answer["headers"][IGNORED_HEADER] == "Unstable"
    dump = json.loads(answer["body"])
    assert "ec2.schedule.min_instance_count" in dump
    assert all(entry["Stable"] for entry in dump.values()), "Unstable is ignored, as CloneSquad"


def test_http_api_names_are_lenient_too(
    deployment: dict[str, str], aws_clients: AWS, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(LENIENT_SETTING, "yes")
    client = InteractClient(
        Dispatcher(entry_points=False, raise_unexpected=True, aws=aws_clients), http_api=True
    )
    answer = client.get("/Configuration/ec2.schedule.min_instance_count/", params={"x": "1"})
    assert (answer.status_code, answer.text) == (200, "2")
    assert answer.headers[IGNORED_HEADER] == "x"
