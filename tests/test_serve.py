"""End to end: ``clonesquad-interact serve`` in a subprocess, called as a user would.

Requests are signed with botocore's SigV4 signer (service ``execute-api``), the
queue is fed with boto3, and the server is fuzzed from its own OpenAPI document
with schemathesis. The server is stopped with SIGINT at the end and must exit 0.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from openapi_spec_validator import validate
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok

from clonesquad_interact.local import demo
from serving import PATIENCE, Server, _command, serving
from signing import INSTANCE, OPERATOR, REGION, SigV4

#: Examples per operation and method in the fuzzing run.
FUZZ_EXAMPLES = 4


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the module's tests."""
    yield from serving(tmp_path_factory)


@pytest.fixture
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of the test's own, for a test that stops it."""
    yield from serving(tmp_path_factory)


def get(server: Server, path: str, auth: requests.auth.AuthBase = OPERATOR, **kwargs: Any):
    return requests.get(server.url(path), auth=auth, timeout=30, **kwargs)


def post(server: Server, path: str, body: bytes, auth: requests.auth.AuthBase = OPERATOR):
    return requests.post(server.url(path), data=body, auth=auth, timeout=30)


# -------------------------------------------------------------------------
# Signed requests, as a user sends them
# -------------------------------------------------------------------------


def test_the_banner_says_where_everything_is(server):
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1/", server.api)
    assert server.queue_url.startswith(server.aws)
    assert demo.OPERATOR_ACCESS_KEY in server.banner
    assert "awscurl --service execute-api" in server.banner
    # the AWS CLI v1 takes SQS's endpoint from its command line only (see test_serve_banner)
    send = f"aws sqs send-message --endpoint-url {server.aws} --queue-url {server.queue_url}"
    assert send in server.banner
    assert "Debug reports (debug/publishreportnow) and other files land under " in server.banner
    assert "s3://clonesquad-demo-logging/reports/demo/" in server.banner
    # no EventBridge here: serve fires the Scheduler entries' rules and says so
    assert "this AWS has no EventBridge, so serve plays its part" in server.banner
    assert "'demo-reschedule' fires every minute" in server.banner
    # the demo starts with the set its entries made active, and names it
    assert re.search(r"parameter set '(workday|night|weekend)' is active", server.banner)


def _exported(banner: str) -> dict[str, str]:
    (line,) = [line for line in banner.splitlines() if "export " in line]
    return dict(
        word.split("=", 1) for word in shlex.split(line.split("export ", 1)[1]) if "=" in word
    )


def test_the_banners_export_line_points_the_other_commands_at_the_deployment(server, tmp_path):
    exported = _exported(server.banner)
    assert exported["AWS_ENDPOINT_URL"] == server.aws
    assert exported["InteractQueue"] == server.queue_url
    assert exported["StateTable"] == "CloneSquad-demo-State"
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CLONESQUAD"))}
    environ.update(exported)
    # precompute, the AWS CLI (and boto3) as the banner says, with nothing more
    done = subprocess.run(
        [*_command(), "precompute"],
        capture_output=True,
        text=True,
        env=environ,
        timeout=PATIENCE,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "fleet/status" in json.loads(done.stdout)["written"]
    tool = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")
    if tool is not None:
        scanned = subprocess.run(
            [tool, "dynamodb", "scan", "--table-name", exported["StateTable"]],
            capture_output=True,
            text=True,
            env=environ,
            timeout=PATIENCE,
            check=True,
        )
        keys = {item["Key"]["S"] for item in json.loads(scanned.stdout)["Items"]}
        assert "interact.precomputed" in keys


def test_the_root_lists_the_operations(server):
    answer = get(server, "")
    assert answer.status_code == 200, answer.text
    names = {op["name"] for op in answer.json()["operations"]}
    assert "" in names
    assert answer.headers["x-amzn-RequestId"]


def test_configuration_is_dumped(server):
    answer = get(server, "configuration", params={"format": "yaml"})
    assert answer.status_code == 200, answer.text
    dump = yaml.safe_load(answer.text)
    # The demo sets this key in its ConfigurationURLs document, under the table.
    assert dump["ec2.schedule.min_instance_count"]["ConfigurationOrigin"].startswith("s3://")
    # CloneSquad's keys with their descriptions, and a parameter set active (the one
    # the banner names), whose values are served
    assert dump["app.disable"]["Description"]
    active = dump["config.active_parameter_set"]["Value"]
    assert f"parameter set {active!r} is active" in server.banner
    rate = dump["ec2.schedule.scaleout.rate"]
    assert rate["Status"].endswith(f"(ParameterSet='{active}')")
    assert (
        rate["ConfigurationOrigin"]
        == "DynamoDB configuration table 'CloneSquad-demo-Configuration'"
    )


def test_a_configuration_key_is_written_and_read_back(server):
    path = "configuration/ec2.schedule.desired_instance_count"
    written = post(server, path, b"4")
    assert written.status_code == 200, written.text
    read = get(server, path)
    assert read.status_code == 200, read.text
    assert read.text == "4"


def test_the_fleet_status_counts_the_demo_fleet(server):
    answer = get(server, "fleet/status")
    assert answer.status_code == 200, answer.text
    fleet = answer.json()["AutoscaledFleet"]
    # Five managed instances, three of them running; the subfleet member is not counted.
    assert (fleet["ManagedFleetSize"], fleet["RunningFleetSize"]) == (5, 3)


def test_metadata_answers_the_calling_instance(server):
    answer = get(server, "metadata", auth=INSTANCE)
    assert answer.status_code == 200, answer.text
    assert answer.json()["InstanceId"] == server.instance
    refused = get(server, "metadata")  # the operator is no instance
    assert refused.status_code == 403
    assert refused.json()["error"]["type"] == "Forbidden"


def test_the_openapi_document_describes_this_server(server):
    answer = requests.get(server.api.removesuffix("v1/") + "openapi.json", timeout=30)
    assert answer.status_code == 200
    document = answer.json()
    validate(document)
    assert document["servers"] == [{"url": server.api.removesuffix("/v1/")}]
    assert "/v1/fleet/status" in document["paths"]


# -------------------------------------------------------------------------
# Refusals, as API Gateway answers them
# -------------------------------------------------------------------------


def test_an_unsigned_request_is_refused(server):
    answer = requests.get(server.url("configuration"), timeout=30)
    assert answer.status_code == 403
    assert answer.json() == {"message": "Missing Authentication Token"}
    assert answer.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


def test_a_tampered_body_is_refused(server):
    path = server.url("configuration/ec2.schedule.desired_instance_count")
    prepared = requests.Request("POST", path, data=b"5", auth=OPERATOR).prepare()
    prepared.body = b"6"
    with requests.Session() as session:
        answer = session.send(prepared, timeout=30)
    assert answer.status_code == 403
    assert "signature we calculated does not match" in answer.json()["message"]
    # Nothing was written.
    assert get(server, "configuration/ec2.schedule.desired_instance_count").text != "6"


def test_a_tampered_path_is_refused(server):
    prepared = requests.Request("GET", server.url("configuration"), auth=OPERATOR).prepare()
    prepared.url = server.url("scheduler")
    with requests.Session() as session:
        answer = session.send(prepared, timeout=30)
    assert answer.status_code == 403


def test_an_unknown_key_is_refused(server):
    stranger = SigV4("AKIAUNKNOWNUNKNOWN00", "secret")
    answer = get(server, "", auth=stranger)
    assert answer.status_code == 403
    assert answer.json() == {"message": "The security token included in the request is invalid."}


# -------------------------------------------------------------------------
# The queue, fed with boto3
# -------------------------------------------------------------------------


def test_an_event_acknowledged_through_the_queue_is_gone(server):
    dynamodb = server.client("dynamodb")
    table = "CloneSquad-demo-EventLog"
    events = [item["EventDate"]["S"] for item in dynamodb.scan(TableName=table)["Items"]]
    assert events, "the demo has events to acknowledge"
    acknowledged = events[0]
    server.client("sqs").send_message(
        QueueUrl=server.queue_url,
        MessageBody=json.dumps({"OpType": "Notify/AckEvent", "Events": [acknowledged]}),
    )
    deadline = time.monotonic() + PATIENCE
    while dynamodb.get_item(TableName=table, Key={"EventDate": {"S": acknowledged}}).get("Item"):
        assert time.monotonic() < deadline, "the message was not served"
        time.sleep(0.2)
    left = {item["EventDate"]["S"] for item in dynamodb.scan(TableName=table)["Items"]}
    assert left == set(events[1:])


# -------------------------------------------------------------------------
# Fuzzing from the OpenAPI document: no answer is a server error
# -------------------------------------------------------------------------


def test_fuzzed_requests_get_no_server_error(server):
    document = requests.get(server.api.removesuffix("v1/") + "openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(document)
    base_url = server.api.removesuffix("/v1/")
    served = 0
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=FUZZ_EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(mode))
            def call(case):
                nonlocal served
                case.call_and_validate(
                    base_url=base_url, auth=OPERATOR, checks=[not_a_server_error], timeout=30
                )
                served += 1

            call()
    assert served >= len(document["paths"])


# -------------------------------------------------------------------------
# Last: Ctrl-C
# -------------------------------------------------------------------------


def test_sigint_stops_the_server_cleanly(own_server):
    assert own_server.stop() == 0
    log = own_server.log.read_text()
    assert "stopped" in [json.loads(line).get("event") for line in log.splitlines()]
    assert "Traceback" not in log


# -------------------------------------------------------------------------
# Credentials outside the embedded AWS
# -------------------------------------------------------------------------


def test_against_real_aws_the_operator_secret_is_made_for_each_run(monkeypatch):
    from clonesquad_interact.local.backend import start_backend
    from clonesquad_interact.local.serve import ServeOptions, banner

    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATESTTESTTESTTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("GroupName", "g")
    secrets = []
    for _ in range(2):
        with start_backend("aws") as backend:
            operator = backend.principals[demo.OPERATOR_ACCESS_KEY]
            assert operator is backend.operator
            assert operator.secret_key != demo.OPERATOR_SECRET_KEY
            text = banner(backend, "http://127.0.0.1:1", ServeOptions(mode="aws"), set())
            assert operator.secret_key in text
            assert demo.OPERATOR_SECRET_KEY not in text
            secrets.append(operator.secret_key)
    assert secrets[0] != secrets[1]


def test_the_embedded_aws_keeps_the_demo_credentials(server):
    assert demo.OPERATOR_SECRET_KEY in server.banner
    assert demo.INSTANCE_SECRET_KEY in server.banner
