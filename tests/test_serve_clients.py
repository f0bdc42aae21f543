"""End to end: ``serve`` called by the clients operators use (botocore's signer, awscurl,
the AWS CLI), with query values encoded and not, as API Gateway accepts them."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from clonesquad_interact.local import demo
from serving import Server, serving
from signing import OPERATOR, REGION

EVENT_TABLE = "CloneSquad-demo-EventLog"
#: Values holding what URL encoders treat differently: ``+``, ``:``, ``=``, ``,``, a space.
VALUES = [
    "2026-12-01 19:13:42.471382+00:00",
    "a=b,c:d+e",
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


AWS_PORT = _free_port()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from serving(tmp_path_factory, "--aws-port", str(AWS_PORT))


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (it comes with the test extra)")
    return found


def _held_event(server: Server, date: str) -> str:
    """Put an event in the EventLog table; returns its ``EventDate``."""
    server.client("dynamodb").put_item(
        TableName=EVENT_TABLE,
        Item={"EventDate": {"S": date}, "ExpirationTime": {"N": "4102444800"}},
    )
    return date


def _is_held(server: Server, date: str) -> bool:
    item = server.client("dynamodb").get_item(TableName=EVENT_TABLE, Key={"EventDate": {"S": date}})
    return "Item" in item


def test_the_embedded_aws_listens_on_the_port_asked_for(server):
    assert server.aws == f"http://127.0.0.1:{AWS_PORT}"


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize("encoded", [True, False], ids=["encoded", "unencoded"])
def test_botocore_signed_query_values_reach_the_operation(server, value, encoded):
    date = _held_event(server, f"{value} botocore {encoded}")
    query = quote(date, safe="") if encoded else date.replace(" ", "%20")
    answer = requests.post(server.url(f"notify/ackevent?Events={query}"), auth=OPERATOR, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.text == "Ok (1 event(s) acknowledged)"
    assert not _is_held(server, date)


@pytest.mark.parametrize("value", VALUES)
def test_a_query_signed_from_botocore_params_reaches_the_operation(server, value):
    date = _held_event(server, f"{value} params")
    request = AWSRequest(
        method="POST", url=server.url("notify/ackevent"), params={"Events": date}, data=b""
    )
    credentials = Credentials(demo.OPERATOR_ACCESS_KEY, demo.OPERATOR_SECRET_KEY)
    SigV4Auth(credentials, "execute-api", REGION).add_auth(request)
    prepared = request.prepare()
    answer = requests.post(prepared.url, headers=dict(prepared.headers), timeout=30)
    assert answer.status_code == 200, answer.text
    assert not _is_held(server, date)


def _awscurl(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environ.update(
        AWS_ACCESS_KEY_ID=demo.OPERATOR_ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=demo.OPERATOR_SECRET_KEY,
        AWS_DEFAULT_REGION=REGION,
    )
    return subprocess.run(
        [_tool("awscurl"), "--service", "execute-api", "--region", REGION, *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("value", VALUES)
def test_awscurl_with_unencoded_values_reaches_the_operation(server, value):
    # awscurl encodes each value for the signature itself: it is given the text.
    date = _held_event(server, f"{value} awscurl")
    url = server.url("notify/ackevent?Events=" + date.replace("=", "%3D"))
    if "=" in value:
        # awscurl splits a pair at every '=': a value holding one is sent encoded, and
        # awscurl signs it encoded once more, as AWS would not: refused, as AWS refuses it.
        done = _awscurl(server, "-X", "POST", url)
        assert "signature we calculated does not match" in done.stdout
        assert _is_held(server, date)
        return
    done = _awscurl(server, "-X", "POST", url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "Ok (1 event(s) acknowledged)"
    assert not _is_held(server, date)


def test_awscurl_reads_the_api(server):
    done = _awscurl(server, server.url("configuration?format=json&unstable=true"))
    assert done.returncode == 0, done.stdout + done.stderr
    keys = set(json.loads(done.stdout))
    assert "ec2.schedule.min_instance_count" in keys


def test_the_specifications_upload_command_posts_a_yaml_file(server, tmp_path):
    # awscurl -X POST -d @configfile.yaml .../configuration?format=json, as written: a
    # YAML document sent as application/json; format chooses the answer's format only.
    document = tmp_path / "configfile.yaml"
    document.write_text(
        "# uploaded by the operator\n"
        "ec2.schedule.min_instance_count: 3\n"
        "upload.test.note: 'a: b'\n"
        "upload.test.list: eu-west-3a;eu-west-3b\n"
    )
    done = _awscurl(
        server, "-X", "POST", "-d", f"@{document}", server.url("configuration?format=json")
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "Ok (3 key(s) processed)"
    table = "CloneSquad-demo-Configuration"
    items = server.client("dynamodb").scan(TableName=table)["Items"]
    values = {item["Key"]["S"]: item["Value"]["S"] for item in items}
    assert values["ec2.schedule.min_instance_count"] == "3"
    assert values["upload.test.note"] == "a: b"
    assert values["upload.test.list"] == "eu-west-3a;eu-west-3b"


def test_the_aws_cli_sends_a_message_the_consumer_serves(server):
    date = _held_event(server, "2026-12-02 08:00:00.000001+00:00")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environ.update(
        AWS_ACCESS_KEY_ID=demo.OPERATOR_ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=demo.OPERATOR_SECRET_KEY,
        AWS_DEFAULT_REGION=REGION,
    )
    message = json.dumps({"OpType": "notify/ackevent", "Events": [date]})
    subprocess.run(
        [
            _tool("aws"),
            "sqs",
            "send-message",
            "--endpoint-url",
            server.aws,
            "--queue-url",
            server.queue_url,
            "--message-body",
            message,
        ],
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
        check=True,
    )
    import time

    from serving import PATIENCE

    deadline = time.monotonic() + PATIENCE
    while _is_held(server, date):
        assert time.monotonic() < deadline, "the message was not served"
        time.sleep(0.2)


def test_awscurl_given_encoded_values_is_refused_as_api_gateway_refuses_it(server):
    # awscurl encodes each value for its signature itself: given '%3A', it signs '%253A',
    # where API Gateway (each value decoded, then encoded) computes '%3A'.
    date = _held_event(server, "2026-12-01 19:13:42.471382+00:00 awscurl encoded")
    url = server.url("notify/ackevent?Events=" + quote(date, safe=""))
    done = _awscurl(server, "-X", "POST", url)
    assert "signature we calculated does not match" in done.stdout
    assert _is_held(server, date)
