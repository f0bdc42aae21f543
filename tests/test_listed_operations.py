"""The operations CloneSquad added after the specification are listed wherever the
others are: ``ops`` (command line), ``GET /``, the OpenAPI document and the debug report."""

from __future__ import annotations

import gzip
import json
from typing import Any

import boto3
import pytest

from clonesquad_interact import Dispatcher
from clonesquad_interact.cli import main
from clonesquad_interact.openapi import openapi_document
from clonesquad_interact.testing import InteractClient, sqs_record

#: route -> (methods, interfaces, OpenAPI path)
ADDED: dict[str, tuple[list[str], list[str], str]] = {
    "backup": (["GET", "POST"], ["apigw", "direct", "sqs"], "/v1/backup"),
    "control/reschedulenow": (
        ["GET", "POST"],
        ["apigw", "direct", "sqs"],
        "/v1/control/reschedulenow",
    ),
    "control/instances/(?P<list>unstoppable|unstartable)": (
        ["GET", "POST"],
        ["apigw", "direct"],
        "/v1/control/instances/{list}",
    ),
    "fleet/metadata": (["GET"], ["apigw", "direct"], "/v1/fleet/metadata"),
    "cloudwatch/metriccache": (["GET"], ["apigw", "direct"], "/v1/cloudwatch/metriccache"),
}


def test_ops_lists_them_with_their_methods_interfaces_and_schemas(capsys: Any) -> None:
    assert main(["ops", "--json"]) == 0
    listed = {entry["route"]: entry for entry in json.loads(capsys.readouterr().out)}
    for route, (methods, interfaces, _) in ADDED.items():
        assert route in listed, route
        entry = listed[route]
        assert (entry["methods"], entry["interfaces"]) == (methods, interfaces), route
        assert entry["summary"], route
        assert entry["schema"]["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_get_root_lists_them(deployed_client: InteractClient) -> None:
    # a regex route is named by its path template, its regex beside it
    listed = deployed_client.get("/").json()["operations"]
    assert set(ADDED) <= {op.get("regex", op["name"]) for op in listed}
    assert "control/instances/{list}" in {op["name"] for op in listed}


def test_the_openapi_document_describes_them(deployed: Dispatcher) -> None:
    paths = openapi_document(deployed)["paths"]
    for route, (methods, _, path) in ADDED.items():
        assert path in paths, route
        assert {m.upper() for m in paths[path] if m in ("get", "post")} == set(methods), route
    reschedule = paths["/v1/control/reschedulenow"]["get"]["parameters"]
    assert "delay" in {p["name"] for p in reschedule}
    listing = paths["/v1/control/instances/{list}"]
    assert {p["name"] for p in listing["get"]["parameters"]} >= {"mode", "ttl", "instanceids"}
    assert "application/json" in listing["post"]["requestBody"]["content"]


@pytest.fixture
def logging_bucket(deployment: dict[str, str]) -> str:
    return deployment["LoggingS3Path"].removeprefix("s3://").split("/", 1)[0]


def test_the_debug_report_lists_them(deployment: dict[str, str], logging_bucket: str) -> None:
    client = InteractClient(Dispatcher(entry_points=False, raise_unexpected=True))
    message = sqs_record({"OpType": "debug/publishreportnow"}, message_id="listing")
    assert client.sqs(message) == {"batchItemFailures": []}
    s3 = boto3.client("s3")
    [entry] = s3.list_objects_v2(Bucket=logging_bucket)["Contents"]
    stored = s3.get_object(Bucket=logging_bucket, Key=entry["Key"])["Body"].read()
    report = json.loads(gzip.decompress(stored))
    operations = {op.get("regex", op["name"]): op for op in report["operations"]}
    for route, (methods, interfaces, _) in ADDED.items():
        assert route in operations, route
        assert operations[route]["methods"] == methods
        assert operations[route]["interfaces"] == interfaces


# -------------------------------------------------------------------------
# serve's banner, and invoke --embedded
# -------------------------------------------------------------------------

#: The banner's command of each operation (its path and query), and the same call
#: made with ``invoke --embedded``.
DEMO_CALLS = {
    "fleet/metadata": ["fleet/metadata"],
    "backup": ["backup"],
    "control/reschedulenow?delay=5": ["control/reschedulenow?delay=5"],
    "control/instances/unstoppable?instanceids=all&mode=add&ttl=600": [
        "control/instances/unstoppable?instanceids=all&mode=add&ttl=600"
    ],
    "control/instances/unstartable": ["control/instances/unstartable"],
    "cloudwatch/metriccache": ["cloudwatch/metriccache"],
}


def test_the_banner_has_a_command_for_each(deployed: Dispatcher) -> None:
    from clonesquad_interact.local.backend import start_backend
    from clonesquad_interact.local.serve import example_commands

    routes = {op.name for op in deployed.operations}
    with start_backend("embedded", demo=False, quiet=True) as backend:
        commands = example_commands(backend, "http://127.0.0.1:1/v1/", routes)
    for call in DEMO_CALLS:
        assert any(command.endswith(f"/v1/{call}") or f"/v1/{call}'" in command
                   for command in commands), call  # fmt: skip


@pytest.mark.parametrize("argv", DEMO_CALLS.values(), ids=DEMO_CALLS)
def test_invoke_embedded_runs_each(
    capsys: Any, monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    code = main(["invoke", "--embedded", *argv])
    out, err = capsys.readouterr()
    assert code == 0, err + out
    if argv[0] == "control/instances/unstoppable?instanceids=all&mode=add&ttl=600":
        added = json.loads(out)
        assert added
        assert all(entry["InstanceId"].startswith("i-") for entry in added)
    if argv == ["fleet/metadata"]:
        assert all("InstanceType" in record for record in json.loads(out))
    if argv == ["control/reschedulenow?delay=5"]:
        assert "Reschedule in 5 second(s)" in out
