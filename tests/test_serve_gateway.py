"""The local gateway: HTTP requests become the API Gateway events AWS would send."""

from __future__ import annotations

import base64
import http.client
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from clonesquad_interact.local import demo
from clonesquad_interact.local.gateway import MAX_BODY, Gateway
from signing import OPERATOR, REGION, SigV4


class Recorder:
    """A Lambda handler that records each event and answers a fixed proxy answer."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.answer: dict[str, Any] = {"statusCode": 200, "headers": {}, "body": "ok"}

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.events.append(event)
        return self.answer


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def started(recorder: Recorder, *, auth: bool = True) -> Gateway:
    gateway = Gateway(
        recorder,
        principals={demo.OPERATOR.access_key: demo.OPERATOR},
        region=REGION,
        auth=auth,
        anonymous=demo.OPERATOR,
        openapi=lambda url: {"openapi": "3.1.0", "servers": [{"url": url}]},
    )
    gateway.start()
    return gateway


@pytest.fixture
def gateway(recorder: Recorder) -> Iterator[Gateway]:
    running = started(recorder)
    yield running
    running.stop()


def raw_request(gateway: Gateway, method: str, target: str, body: bytes = b"") -> int:
    """Send ``target`` exactly as written (requests would clean it up), unsigned."""
    host, port = gateway.server.server_address[:2]
    connection = http.client.HTTPConnection(str(host), port, timeout=30)
    try:
        connection.request(method, target, body=body)
        return connection.getresponse().status
    finally:
        connection.close()


def test_a_signed_request_becomes_a_rest_proxy_event(gateway, recorder):
    answer = requests.get(
        f"{gateway.url}/v1/Configuration/app.disable?format=yaml&tag=a&tag=b",
        auth=OPERATOR,
        headers={"User-Agent": "tester/1"},
        timeout=30,
    )
    assert answer.status_code == 200
    assert answer.text == "ok"
    (event,) = recorder.events
    assert event["resource"] == "/{proxy+}"
    assert event["httpMethod"] == "GET"
    assert event["path"] == "/Configuration/app.disable"
    assert event["pathParameters"] == {"proxy": "Configuration/app.disable"}
    assert event["multiValueQueryStringParameters"] == {"format": ["yaml"], "tag": ["a", "b"]}
    context = event["requestContext"]
    assert context["stage"] == "v1"
    assert context["path"] == "/v1/Configuration/app.disable"
    assert context["identity"]["userArn"] == demo.OPERATOR.identity["userArn"]
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["identity"]["userAgent"] == "tester/1"
    assert answer.headers["x-amzn-RequestId"] == context["requestId"]
    assert event["body"] is None


def test_the_root_is_the_root_resource(gateway, recorder):
    assert requests.get(f"{gateway.url}/v1/", auth=OPERATOR, timeout=30).status_code == 200
    (event,) = recorder.events
    assert (event["resource"], event["pathParameters"]) == ("/", None)


def test_the_path_reaches_the_dispatcher_as_sent(recorder):
    gateway = started(recorder, auth=False)
    try:
        for target in ("/v1/configuration/a%2Fb", "/v1/fleet//status", "/v1/x/./y/../z"):
            assert raw_request(gateway, "GET", target) == 200
    finally:
        gateway.stop()
    proxies = [event["pathParameters"]["proxy"] for event in recorder.events]
    assert proxies == ["configuration/a%2Fb", "fleet//status", "x/./y/../z"]


def test_a_binary_body_is_sent_base64_encoded(gateway, recorder):
    requests.post(f"{gateway.url}/v1/x", data=b"\xff\x00", auth=OPERATOR, timeout=30)
    requests.post(f"{gateway.url}/v1/x", data="héllo".encode(), auth=OPERATOR, timeout=30)
    binary, text = recorder.events
    assert binary["isBase64Encoded"] is True
    assert base64.b64decode(binary["body"]) == b"\xff\x00"
    assert (text["isBase64Encoded"], text["body"]) == (False, "héllo")


def test_the_dispatcher_answer_is_sent_back(gateway, recorder):
    recorder.answer = {
        "statusCode": 404,
        "headers": {"Content-Type": "application/json", "X-Request-Id": "r1"},
        "body": '{"error": {}}',
        "isBase64Encoded": False,
    }
    answer = requests.get(f"{gateway.url}/v1/nothing", auth=OPERATOR, timeout=30)
    assert answer.status_code == 404
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.headers["X-Request-Id"] == "r1"
    assert answer.text == '{"error": {}}'


def test_a_malformed_answer_is_api_gateways_502(gateway, recorder):
    recorder.answer = {"body": "no status"}
    answer = requests.get(f"{gateway.url}/v1/x", auth=OPERATOR, timeout=30)
    assert answer.status_code == 502
    assert answer.json() == {"message": "Internal server error"}


def test_paths_outside_the_stage_are_not_found(gateway, recorder):
    answer = requests.get(f"{gateway.url}/v2/x", auth=OPERATOR, timeout=30)
    assert answer.status_code == 404
    assert "/v1/" in answer.json()["message"]
    assert recorder.events == []


def test_the_openapi_document_is_served_unsigned(gateway):
    answer = requests.get(f"{gateway.url}/openapi.json", timeout=30)
    assert answer.status_code == 200
    assert answer.json()["servers"] == [{"url": gateway.url}]


def test_unsigned_requests_are_refused_unless_auth_is_off(gateway, recorder):
    assert raw_request(gateway, "GET", "/v1/") == 403
    assert recorder.events == []
    open_gateway = started(recorder, auth=False)
    try:
        assert raw_request(open_gateway, "GET", "/v1/") == 200
        # A signature is still checked when there is one.
        bad = requests.get(
            f"{open_gateway.url}/v1/", auth=SigV4("AKIAUNKNOWN0000000000", "x"), timeout=30
        )
        assert bad.status_code == 403
    finally:
        open_gateway.stop()
    (event,) = recorder.events
    assert event["requestContext"]["identity"]["accessKey"] == demo.OPERATOR_ACCESS_KEY


def test_a_body_over_api_gateways_limit_is_refused(gateway, recorder):
    host, port = gateway.server.server_address[:2]
    connection = http.client.HTTPConnection(str(host), port, timeout=30)
    try:
        connection.putrequest("POST", "/v1/x")
        connection.putheader("Content-Length", str(MAX_BODY + 1))
        connection.endheaders()
        assert connection.getresponse().status == 413
    finally:
        connection.close()
    assert recorder.events == []


def signed_headers(gateway: Gateway, method: str, target: str) -> dict[str, str]:
    """The headers botocore signs for ``target`` on this gateway."""
    request = AWSRequest(method=method, url=f"{gateway.url}{target}")
    SigV4Auth(
        Credentials(demo.OPERATOR_ACCESS_KEY, demo.OPERATOR_SECRET_KEY), "execute-api", REGION
    ).add_auth(request)
    host, port = gateway.server.server_address[:2]
    return {"Host": f"{host!s}:{port}", **dict(request.headers.items())}


def send(
    gateway: Gateway,
    method: str,
    target: str,
    headers: dict[str, str] | list[tuple[str, str]],
) -> int:
    host, port = gateway.server.server_address[:2]
    connection = http.client.HTTPConnection(str(host), port, timeout=30)
    lines = list(headers.items()) if isinstance(headers, dict) else headers
    try:
        connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        for name, value in lines:
            connection.putheader(name, value)
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


def test_a_signature_is_not_accepted_for_another_encoding_of_the_query(gateway, recorder):
    headers = signed_headers(gateway, "GET", "/v1/configuration?format=%2579aml")
    assert send(gateway, "GET", "/v1/configuration?format=%79aml", headers) == 403
    assert send(gateway, "GET", "/v1/configuration?format=%2579aml", headers) == 200
    (event,) = recorder.events
    assert event["queryStringParameters"] == {"format": "%79aml"}


def test_the_events_query_does_not_depend_on_the_order_of_its_pairs(gateway, recorder):
    headers = signed_headers(gateway, "GET", "/v1/x?tag=b&tag=a&k=1")
    assert send(gateway, "GET", "/v1/x?tag=b&tag=a&k=1", headers) == 200
    assert send(gateway, "GET", "/v1/x?k=1&tag=a&tag=b", headers) == 200
    first, second = recorder.events
    for event in (first, second):
        assert event["multiValueQueryStringParameters"] == {"k": ["1"], "tag": ["a", "b"]}
        assert event["queryStringParameters"] == {"k": "1", "tag": "b"}


@pytest.mark.parametrize("host", ["rebind.example:{port}", "127.0.0.1:1", "localhost", None])
def test_a_request_for_another_host_is_refused(gateway, recorder, host):
    port = gateway.server.server_address[1]
    headers = signed_headers(gateway, "GET", "/v1/")
    if host is None:
        del headers["Host"]
    else:
        headers["Host"] = host.format(port=port)
    assert send(gateway, "GET", "/v1/", headers) == 403
    assert send(gateway, "GET", "/openapi.json", headers) == 403
    assert recorder.events == []


def test_a_request_for_localhost_is_served(gateway, recorder):
    port = gateway.server.server_address[1]
    request = AWSRequest(method="GET", url=f"http://localhost:{port}/v1/")
    SigV4Auth(
        Credentials(demo.OPERATOR_ACCESS_KEY, demo.OPERATOR_SECRET_KEY), "execute-api", REGION
    ).add_auth(request)
    headers = {"Host": f"localhost:{port}", **dict(request.headers.items())}
    assert send(gateway, "GET", "/v1/", headers) == 200
    # Host twice: refused.
    assert send(gateway, "GET", "/v1/", [*headers.items(), ("Host", f"127.0.0.1:{port}")]) == 403
    assert len(recorder.events) == 1


def exchange(gateway: Gateway, data: bytes) -> bytes:
    """Send ``data`` on one connection; everything the server sends until it closes."""
    host, port = gateway.server.server_address[:2]
    with socket.create_connection((str(host), port), timeout=30) as connection:
        connection.sendall(data)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    return received


def statuses(received: bytes) -> list[int]:
    return [int(line.split()[1]) for line in received.split(b"\r\n") if line.startswith(b"HTTP/1.")]


def signed_head(gateway: Gateway, method: str, target: str, body: bytes = b"") -> str:
    request = AWSRequest(method=method, url=f"{gateway.url}{target}", data=body)
    SigV4Auth(
        Credentials(demo.OPERATOR_ACCESS_KEY, demo.OPERATOR_SECRET_KEY), "execute-api", REGION
    ).add_auth(request)
    host, port = gateway.server.server_address[:2]
    lines = "".join(f"{k}: {v}\r\n" for k, v in request.headers.items())
    return f"{method} {target} HTTP/1.1\r\nHost: {host!s}:{port}\r\n{lines}"


@pytest.mark.parametrize("encoding", ["chunked", "gzip, chunked", "identity", "Chunked "])
def test_a_transfer_encoding_is_refused_and_the_connection_closed(gateway, recorder, encoding):
    smuggled = signed_head(gateway, "POST", "/v1/configuration/x", b"4")
    smuggled += "Content-Length: 1\r\n\r\n4"
    chunked = f"{len(smuggled):x}\r\n{smuggled}\r\n0\r\n\r\n"
    head = signed_head(gateway, "GET", "/v1/fleet/status")
    data = f"{head}Transfer-Encoding: {encoding}\r\n\r\n{chunked}".encode()
    assert statuses(exchange(gateway, data)) == [411]
    assert recorder.events == []


def test_a_repeated_content_length_is_refused_and_the_connection_closed(gateway, recorder):
    head = signed_head(gateway, "POST", "/v1/x", b"1")
    data = f"{head}Content-Length: 1\r\nContent-Length: 1\r\n\r\n1".encode()
    assert statuses(exchange(gateway, data)) == [400]
    bad = f"{head}Content-Length: +1\r\n\r\n1".encode()
    assert statuses(exchange(gateway, bad)) == [400]
    assert recorder.events == []


def test_a_body_shorter_than_its_length_times_out(recorder):
    gateway = Gateway(
        recorder,
        principals={demo.OPERATOR.access_key: demo.OPERATOR},
        region=REGION,
        timeout=0.2,
    )
    gateway.start()
    try:
        head = signed_head(gateway, "POST", "/v1/x", b"0123456789")
        data = f"{head}Content-Length: 10\r\n\r\n012".encode()
        assert statuses(exchange(gateway, data)) == [408]
    finally:
        gateway.stop()
    assert recorder.events == []


def test_stop_waits_for_the_request_being_dispatched():
    entered, release = threading.Event(), threading.Event()
    order: list[str] = []

    def slow(event: dict[str, Any], context: Any) -> dict[str, Any]:
        entered.set()
        release.wait(timeout=30)
        order.append("dispatched")
        return {"statusCode": 200, "body": "ok"}

    gateway = Gateway(slow, principals={demo.OPERATOR.access_key: demo.OPERATOR}, region=REGION)
    gateway.start()
    serving = gateway._thread
    assert serving is not None
    client = threading.Thread(
        target=lambda: requests.get(f"{gateway.url}/v1/x", auth=OPERATOR, timeout=30)
    )
    client.start()
    assert entered.wait(timeout=30)

    def stop() -> None:
        gateway.stop()
        order.append("stopped")

    stopper = threading.Thread(target=stop)
    stopper.start()
    serving.join(timeout=30)
    # Give stop() its chance to return early (it must not), then let the request end.
    stopper.join(timeout=1)
    release.set()
    stopper.join(timeout=30)
    client.join(timeout=30)
    assert order == ["dispatched", "stopped"]
