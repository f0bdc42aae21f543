"""control/instances/(unstoppable|unstartable) on the demo fleet, and its linear-time patterns."""

from __future__ import annotations

import base64
import gzip
import importlib
import json
import random
import re
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from clonesquad_interact import Dispatcher
from clonesquad_interact.testing import InteractClient
from demo_fleet import CallCounter, Demo, running_demo

patterns = importlib.import_module("clonesquad_interact.plugins.patterns")
PatternError = patterns.PatternError
compile_pattern = patterns.compile_pattern

KEY = "ec2.control.state"


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    yield from running_demo()


@pytest.fixture(scope="module")
def warm(demo: Demo) -> Dispatcher:
    return demo.dispatcher()


@pytest.fixture
def client(demo: Demo, warm: Dispatcher) -> InteractClient:
    return InteractClient(demo.clean(warm))


def stored(demo: Demo) -> tuple[dict[str, Any], int] | None:
    """The item decoded as CloneSquad's main function decodes it: base64, gunzip, JSON."""
    item = (
        boto3.client("dynamodb")
        .get_item(TableName=demo.settings["StateTable"], Key={"Key": {"S": KEY}})
        .get("Item")
    )
    if item is None:
        return None
    value = json.loads(gzip.decompress(base64.b64decode(item["Value"]["S"])))
    return value, int(item["ExpirationTime"]["N"])


def write_as_clonesquad(demo: Demo, value: dict[str, Any]) -> None:
    text = json.dumps(value, sort_keys=True, default=str)
    blob = base64.b64encode(gzip.compress(text.encode(), compresslevel=9, mtime=1)).decode()
    boto3.client("dynamodb").put_item(
        TableName=demo.settings["StateTable"],
        Item={"Key": {"S": KEY}, "Value": {"S": blob},
              "ExpirationTime": {"N": str(int(time.time()) + 86400)}},
    )  # fmt: skip


def test_add_writes_the_state_as_the_main_function_reads_it(
    demo: Demo, client: InteractClient
) -> None:
    web = demo.fleet["web"]
    before = time.time()
    answer = client.get(
        "/control/instances/unstoppable",
        params={"instanceids": web, "mode": "add", "ttl": "hours=2", "excluded": "true"},
    )
    assert answer.status_code == 200, answer.text
    [listed] = answer.json()
    assert (listed["InstanceId"], listed["InstanceName"], listed["SubfleetName"]) == (
        web,
        "web",
        None,
    )
    found = stored(demo)
    assert found is not None
    value, expiration = found
    assert set(value) == {"unstartable", "unstoppable"}
    assert value["unstartable"] == {}
    saved = value["unstoppable"][web]
    assert set(saved) == {"EndDate", "Excluded", "StartDate", "TTL"}
    assert saved["Excluded"] is True
    assert isinstance(saved["TTL"], int)
    assert before + 7200 - 1 <= saved["TTL"] <= time.time() + 7200
    assert saved["EndDate"].endswith("+00:00")
    assert expiration == saved["TTL"] + 86400
    # The main function excludes listed entries whose TTL has not passed.
    assert [i for i, e in value["unstoppable"].items() if e["TTL"] > time.time()] == [web]


def test_a_state_written_by_clonesquad_is_listed_without_its_expired_entries(
    demo: Demo, client: InteractClient
) -> None:
    web, spot = demo.fleet["web"], demo.fleet["spot"]
    now = int(time.time())
    live = {"EndDate": "x", "Excluded": False, "StartDate": "y", "TTL": now + 600}
    write_as_clonesquad(
        demo,
        {"unstartable": {web: live, spot: {**live, "TTL": now - 1}}, "unstoppable": {}},
    )
    answer = client.get("/control/instances/unstartable").json()
    assert [entry["InstanceId"] for entry in answer] == [web]
    assert client.get("/control/instances/unstoppable").json() == []
    assert stored(demo) is not None, "listing writes nothing"


def test_a_change_keeps_what_clonesquad_wrote_in_the_other_list(
    demo: Demo, client: InteractClient
) -> None:
    web, spot = demo.fleet["web"], demo.fleet["spot"]
    theirs = {
        "EndDate": "2031-03-08 22:05:55+00:00",
        "Excluded": True,
        "StartDate": "2031-03-08 21:05:55.836748+00:00",
        "TTL": int(time.time()) + 900,
    }
    write_as_clonesquad(demo, {"unstartable": {spot: theirs}, "unstoppable": {}})
    added = client.get("/control/instances/unstoppable", params={"instanceids": web, "mode": "add"})
    assert added.status_code == 200, added.text
    found = stored(demo)
    assert found is not None
    value, _ = found
    assert value["unstartable"] == {spot: theirs}, "the main function's entry, as it wrote it"
    assert list(value["unstoppable"]) == [web]


def test_delete_removes_and_names_and_subfleets_select(demo: Demo, client: InteractClient) -> None:
    path = "/control/instances/unstartable"
    added = client.get(path, params={"instancenames": "web", "subfleetnames": "db", "mode": "add"})
    ids = {entry["InstanceId"] for entry in added.json()}
    assert ids == {demo.fleet["web"], demo.fleet["db-running"], demo.fleet["db-stopped"]}
    left = client.get(path, params={"subfleetnames": "db", "mode": "delete"}).json()
    assert [entry["InstanceId"] for entry in left] == [demo.fleet["web"]]


def test_an_empty_subfleet_name_is_the_main_fleet(demo: Demo, client: InteractClient) -> None:
    answer = client.get(
        "/control/instances/unstoppable", params={"subfleetnames": "", "mode": "add"}
    ).json()
    ids = {entry["InstanceId"] for entry in answer}
    assert demo.fleet["web"] in ids
    assert demo.fleet["db-running"] not in ids


def test_a_post_filter_document_with_tags(demo: Demo, client: InteractClient) -> None:
    path = "/control/instances/unstoppable"
    answer = client.post(path, body=json.dumps({"Tags": {"Name": "w.*"}}), params={"mode": "add"})
    assert answer.status_code == 200, answer.text
    assert [entry["InstanceId"] for entry in answer.json()] == [demo.fleet["web"]]
    absent = client.post(
        path, body=json.dumps({"Tags": {"Name": None, "clonesquad:subfleet-name": "db"}}),
        params={"mode": "add"},
    )  # fmt: skip
    ids = {entry["InstanceId"] for entry in absent.json()}
    assert ids == {demo.fleet["web"], demo.fleet["db-running"], demo.fleet["db-stopped"]}
    nothing = client.post(path, body=json.dumps({"Tags": {}}), params={"mode": "delete"})
    assert len(nothing.json()) == 3, "an empty Tags object selects nothing"


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"mode": "add", "instanceids": "all", "ttl": "soon"}, "ttl"),
        ({"mode": "add", "instanceids": "all", "ttl": "0"}, "ttl"),
        ({"mode": "replace"}, "mode"),
        ({"mode": ""}, "mode"),
        ({"excluded": "maybe"}, "excluded"),
        ({"unknown": "1"}, "unknown"),
    ],
)
def test_bad_parameters_are_a_400_naming_them_and_nothing_is_written(
    demo: Demo, client: InteractClient, params: dict[str, str], named: str
) -> None:
    answer = client.get("/control/instances/unstoppable", params=params)
    assert answer.status_code == 400, answer.text
    assert named in answer.text
    assert stored(demo) is None


@pytest.mark.parametrize(
    "body", ['{"Tags": {"Name": "(a*"}}', '{"Tags": {"Name": 3}}', '{"Other": 1}', "[1]", "{"]
)
def test_bad_filter_documents_are_a_400(demo: Demo, client: InteractClient, body: str) -> None:
    answer = client.post("/control/instances/unstoppable", body=body, params={"mode": "add"})
    assert answer.status_code == 400, answer.text
    assert stored(demo) is None


@pytest.mark.parametrize("path", ["/control/instances/UNSTOPPABLE", "/control/instances/x"])
def test_an_unknown_list_is_a_404(client: InteractClient, path: str) -> None:
    assert client.get(path).status_code == 404


# -------------------------------------------------------------------------
# Patterns
# -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "value"),
    [
        ("(a+)+$", "a" * 50_000 + "!"),
        ("(a*)*b", "a" * 50_000),
        ("(a|aa)+$", "a" * 50_000 + "!"),
        ("(.*a){12}", "a" * 100),
        ("(x+x+)+y", "x" * 50_000),
    ],
)
def test_catastrophic_patterns_finish_or_are_refused(pattern: str, value: str) -> None:
    try:
        compiled = compile_pattern(pattern)
    except PatternError:
        assert "{" in pattern, "only counted repetitions are refused here"
        return
    assert compiled.match(value) is False


def test_patterns_match_as_python_regular_expressions_do() -> None:
    rng = random.Random(12)
    atoms = ["a", "b", ".", "a*", "b+", "(a|b)", "a?", "[ab]", "[^a]", "$", "(ab)*", "\\d"]
    for _ in range(3000):
        pattern = "".join(rng.choice(atoms) for _ in range(rng.randint(1, 5)))
        value = "".join(rng.choice("ab1") for _ in range(rng.randint(0, 6)))
        assert compile_pattern(pattern).match(value) == bool(re.match(pattern, value)), (
            pattern,
            value,
        )


@pytest.mark.parametrize(
    "pattern", ["(a", "a)", "*a", "a**", "(?=a)", "\\1", "[b-a]", "a{2}", "a*{1,9}", "{1}", "x*{"]
)
def test_malformed_or_slow_features_are_refused(pattern: str) -> None:
    with pytest.raises(PatternError):
        compile_pattern(pattern)


# -------------------------------------------------------------------------
# AWS calls
# -------------------------------------------------------------------------


def test_aws_calls_of_listing_adding_and_an_unchanged_delete(demo: Demo, warm: Dispatcher) -> None:
    client = InteractClient(demo.clean(warm))
    counter = CallCounter(warm)
    fleet_calls = {
        "ec2.DescribeAvailabilityZones": 1,
        "ec2.DescribeInstanceStatus": 1,
        "ec2.DescribeInstances": 1,
        # scaling states, and the configuration key ec2.az.unavailable_list
        "dynamodb.BatchGetItem": 2,
    }
    path = "/control/instances/unstoppable"
    assert client.get(path).status_code == 200
    # GetItem: ec2.control.state
    assert counter.take() == {**fleet_calls, "dynamodb.GetItem": 1}
    assert client.get(path, params={"instanceids": "all", "mode": "add"}).status_code == 200
    # the configuration key ec2.instance.control.ttl too (no ttl given); one PutItem
    assert counter.take() == {
        **fleet_calls,
        "dynamodb.BatchGetItem": 3,
        "dynamodb.GetItem": 1,
        "dynamodb.PutItem": 1,
    }
    unchanged = {"instanceids": demo.fleet["web"], "mode": "delete", "ttl": "60"}
    assert client.get("/control/instances/unstartable", params=unchanged).status_code == 200
    assert counter.take() == {**fleet_calls, "dynamodb.GetItem": 1}, "nothing changed: no write"
