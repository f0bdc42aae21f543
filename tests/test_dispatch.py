"""The pipeline around an operation: authorization, middleware, errors, logging, answers."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from structlog.testing import capture_logs

from clonesquad_interact import (
    Forbidden,
    Interface,
    Middleware,
    NotFound,
    Operation,
    Request,
    Response,
    ServiceUnavailable,
    hookimpl,
)
from clonesquad_interact.rendering import LAMBDA_RESPONSE_LIMIT
from clonesquad_interact.request import freeze
from clonesquad_interact.testing import InteractClient

from helpers import OperationsPlugin, build, client_for, make_operation


def answering(value: Any) -> Callable[[Request], Any]:
    return lambda request: value


def raising(error: Exception) -> Callable[[Request], Any]:
    def handler(request: Request) -> Any:
        raise error

    return handler


# -------------------------------------------------------------------------
# Authorization
# -------------------------------------------------------------------------


class Authorizer:
    def __init__(self, decision: bool | Exception | None) -> None:
        self.__name__ = f"authorizer-{decision!r}"
        self.decision = decision
        self.seen: list[tuple[str, str]] = []

    @hookimpl
    def authorize_request(self, request: Request, operation: Operation) -> bool | None:
        self.seen.append((request.op, operation.name))
        if isinstance(self.decision, Exception):
            raise self.decision
        return self.decision


def test_without_authorization_plugins_what_api_gateway_let_through_runs(recorder: Any) -> None:
    client = client_for(OperationsPlugin(make_operation("op", handler=recorder)))
    assert client.get("/op").status_code == 200


@pytest.mark.parametrize("decision", [True, None])
def test_plugins_that_allow_or_abstain_let_the_request_run(decision: bool | None) -> None:
    authorizer = Authorizer(decision)
    client = client_for(OperationsPlugin(make_operation(re.compile("op/(.*)"))), authorizer)
    assert client.get("/op/x").status_code == 200
    assert authorizer.seen == [("op/x", "op/(.*)")]


def test_any_plugin_can_deny(calls: list[Request], recorder: Any) -> None:
    client = client_for(
        OperationsPlugin(make_operation("op", handler=recorder)),
        Authorizer(True),
        Authorizer(False),
    )
    response = client.get("/op")
    assert response.status_code == 403
    assert response.json()["error"]["type"] == "Forbidden"
    assert calls == []


def test_a_plugin_can_deny_with_its_own_message(calls: list[Request], recorder: Any) -> None:
    client = client_for(
        OperationsPlugin(make_operation("op", handler=recorder)),
        Authorizer(Forbidden("only instances of the fleet may call this")),
    )
    response = client.get("/op")
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "only instances of the fleet may call this"
    assert calls == []


def test_authorization_runs_before_validation() -> None:
    client = client_for(OperationsPlugin(make_operation("op")), Authorizer(False))
    assert client.get("/op", params={"unknown": "x"}).status_code == 403


# -------------------------------------------------------------------------
# Middleware
# -------------------------------------------------------------------------


class Middlewares:
    def __init__(self, name: str, *middlewares: Middleware) -> None:
        self.__name__ = name
        self.middlewares = list(middlewares)

    @hookimpl
    def register_middleware(self) -> list[Middleware]:
        return self.middlewares


def test_middleware_wraps_the_operation_outermost_first() -> None:
    order: list[str] = []

    def tracing(label: str) -> Middleware:
        def middleware(request: Request, operation: Operation, call_next: Any) -> Response:
            order.append(f"{label}>")
            response: Response = call_next(request)
            order.append(f"<{label}")
            return response

        return middleware

    def handler(request: Request) -> str:
        order.append("op")
        return "ok"

    client = client_for(
        OperationsPlugin(make_operation("op", handler=handler)),
        Middlewares("outer", tracing("a"), tracing("b")),
    )
    assert client.get("/op").text == "ok"
    assert order == ["a>", "b>", "op", "<b", "<a"]


def test_middleware_sees_the_validated_request_and_may_replace_the_answer() -> None:
    seen: list[Any] = []

    def stamp(request: Request, operation: Operation, call_next: Any) -> Response:
        seen.append((operation.name, request.params["count"]))
        response: Response = call_next(request)
        return Response(body=response.body, headers={**response.headers, "X-Audited": "yes"})

    schema = {"properties": {"params": {"properties": {"count": {"type": "integer"}}}}}
    client = client_for(
        OperationsPlugin(make_operation("op", schema=schema, handler=answering("ok"))),
        Middlewares("stamp", stamp),
    )
    response = client.get("/op", params={"count": "2"})
    assert response.headers["X-Audited"] == "yes"
    assert seen == [("op", 2)]


def test_middleware_can_answer_without_running_the_operation(
    calls: list[Request], recorder: Any
) -> None:
    def cached(request: Request, operation: Operation, call_next: Any) -> Response:
        return Response(body="from cache", headers={"X-Cache": "hit"})

    client = client_for(
        OperationsPlugin(make_operation("op", handler=recorder)), Middlewares("c", cached)
    )
    response = client.get("/op")
    assert (response.text, response.headers["X-Cache"]) == ("from cache", "hit")
    assert calls == []


def test_middleware_sees_errors_raised_by_the_operation() -> None:
    caught: list[str] = []

    def catching(request: Request, operation: Operation, call_next: Any) -> Response:
        try:
            return call_next(request)  # type: ignore[no-any-return]
        except NotFound as error:
            caught.append(error.message)
            raise

    client = client_for(
        OperationsPlugin(make_operation("op", handler=raising(NotFound("no such key")))),
        Middlewares("catching", catching),
    )
    assert client.get("/op").status_code == 404
    assert caught == ["no such key"]


def test_middleware_that_is_not_callable_stops_start_up() -> None:
    from clonesquad_interact import PluginError

    with pytest.raises(PluginError, match="as middleware; it is not callable"):
        build(Middlewares("bad", "nope"))  # type: ignore[arg-type]


# -------------------------------------------------------------------------
# Errors
# -------------------------------------------------------------------------


def test_interact_errors_become_their_status_with_the_error_shape() -> None:
    client = client_for(
        OperationsPlugin(
            make_operation(
                "busy", handler=raising(ServiceUnavailable("no data yet", retry_after=12))
            )
        )
    )
    response = client.get("/busy")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "12"
    assert response.json() == {
        "error": {
            "type": "ServiceUnavailable",
            "message": "no data yet",
            "details": [],
            "request_id": response.headers["X-Request-Id"],
        }
    }


def test_an_unexpected_exception_is_a_500_with_the_request_id_and_the_traceback_in_the_log() -> (
    None
):
    dispatcher = build(
        OperationsPlugin(make_operation("bug", handler=raising(KeyError("secret-detail"))))
    )
    client = InteractClient(dispatcher)
    with capture_logs() as logs:
        response = client.get("/bug")
    assert response.status_code == 500
    request_id = response.headers["X-Request-Id"]
    error = response.json()["error"]
    assert error["type"] == "InternalError"
    assert request_id in error["message"]
    assert "secret-detail" not in response.text
    assert "Traceback" not in response.text
    (line,) = logs  # one line per request, with the traceback in it
    assert line["event"] == "request"
    assert isinstance(line["exc_info"], KeyError)
    assert (line["status"], line["log_level"]) == (500, "error")


def test_raise_unexpected_lets_a_test_see_the_bug() -> None:
    client = client_for(OperationsPlugin(make_operation("bug", handler=raising(KeyError("x")))))
    with pytest.raises(KeyError):
        client.get("/bug")


def throttling() -> ClientError:
    return ClientError(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
        "GetItem",
    )


@pytest.mark.parametrize(
    "error", [throttling(), EndpointConnectionError(endpoint_url="https://dynamodb")]
)
def test_aws_throttling_and_unreachable_services_are_503_to_retry(error: Exception) -> None:
    dispatcher = build(OperationsPlugin(make_operation("aws", handler=raising(error))))
    response = dispatcher.call("aws")
    assert response.status == 503
    assert "try again" in response.body["error"]["message"]
    assert response.headers["Retry-After"]


def test_other_aws_errors_are_unexpected() -> None:
    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetItem")
    dispatcher = build(OperationsPlugin(make_operation("aws", handler=raising(denied))))
    assert dispatcher.call("aws").status == 500


# -------------------------------------------------------------------------
# Answers
# -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "content_type", "text"),
    [
        ("plain", "text/plain; charset=utf-8", "plain"),
        (3, "text/plain; charset=utf-8", "3"),
        (True, "text/plain; charset=utf-8", "true"),
        (None, "text/plain; charset=utf-8", ""),
        ({"a": [1, 2]}, "application/json", json.dumps({"a": [1, 2]})),
        ([{"a": 1}], "application/json", json.dumps([{"a": 1}])),
    ],
)
def test_the_content_type_matches_the_body(value: Any, content_type: str, text: str) -> None:
    response = client_for(OperationsPlugin(make_operation("v", handler=answering(value)))).get("/v")
    assert response.status_code == 200
    assert response.content_type == content_type
    assert response.text == text


def test_format_yaml_is_honoured_for_structured_data() -> None:
    client = client_for(
        OperationsPlugin(make_operation("v", handler=answering({"b": 1, "a": [2]})))
    )
    response = client.get("/v", params={"format": "yaml"})
    assert response.content_type == "application/yaml"
    assert response.text == "b: 1\na:\n- 2\n"
    assert client.get("/v", params={"format": "json"}).json() == {"b": 1, "a": [2]}


def test_values_from_aws_are_rendered() -> None:
    import datetime
    import decimal

    value = {
        "count": decimal.Decimal("3"),
        "ratio": decimal.Decimal("0.5"),
        "when": datetime.datetime(2026, 11, 25, 8, 0, tzinfo=datetime.UTC),
        "tags": ("a", "b"),
    }
    client = client_for(OperationsPlugin(make_operation("v", handler=answering(value))))
    expected = {"count": 3, "ratio": 0.5, "when": "2026-11-25 08:00:00+00:00", "tags": ["a", "b"]}
    assert client.get("/v").json() == expected
    assert client.get("/v", params={"format": "yaml"}).yaml() == expected


def test_a_response_chooses_status_and_headers() -> None:
    response = Response(body={"created": True}, status=201, headers={"Location": "/x"})
    client = client_for(OperationsPlugin(make_operation("v", handler=answering(response))))
    answer = client.get("/v")
    assert (answer.status_code, answer.headers["Location"]) == (201, "/x")


@pytest.mark.parametrize("status", [0, 99, 600, "200"])
def test_a_response_with_an_impossible_status_is_refused(status: Any) -> None:
    with pytest.raises(ValueError, match="HTTP status code"):
        Response(status=status)


def test_an_answer_that_cannot_be_rendered_is_a_500_not_a_crash() -> None:
    dispatcher = build(OperationsPlugin(make_operation("v", handler=answering({"x": object()}))))
    client = InteractClient(dispatcher)
    with capture_logs() as logs:
        response = client.get("/v")
    assert response.status_code == 500
    assert isinstance(response.raw["statusCode"], int)
    (line,) = logs  # the request's one line tells the status the caller got, and why
    assert (line["event"], line["status"]) == ("request", 500)
    assert isinstance(line["exc_info"], TypeError)


def test_an_answer_larger_than_lambda_can_return_is_a_clear_500() -> None:
    big = "x" * (LAMBDA_RESPONSE_LIMIT + 1)
    response = client_for(OperationsPlugin(make_operation("v", handler=answering(big)))).get("/v")
    assert response.status_code == 500
    assert "larger than what Lambda can return" in response.json()["error"]["message"]


def test_every_api_gateway_answer_has_the_proxy_shape() -> None:
    client = client_for(
        OperationsPlugin(
            make_operation("ok", handler=answering({"a": 1})),
            make_operation("bad", handler=raising(NotFound("x"))),
        )
    )
    for path in ("/ok", "/bad", "/missing", "/"):
        raw = client.get(path).raw
        assert set(raw) == {"statusCode", "headers", "body", "isBase64Encoded"}
        assert isinstance(raw["statusCode"], int)
        assert isinstance(raw["body"], str)
        assert raw["isBase64Encoded"] is False
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in raw["headers"].items())


def test_http_api_events_get_the_same_answers() -> None:
    client = client_for(
        OperationsPlugin(make_operation(re.compile("item/(.*)"), handler=lambda r: r.path_args[0])),
        http_api=True,
    )
    assert client.get("/item/Abc").text == "Abc"
    assert client.get("/Item/Abc").status_code == 404


def test_direct_invocations_get_the_body_as_data() -> None:
    dispatcher = build(OperationsPlugin(make_operation("v", handler=answering({"a": (1, 2)}))))
    answer = dispatcher.handle({"OpType": "v"})
    assert answer["statusCode"] == 200
    assert answer["body"] == {"a": [1, 2]}
    missing = dispatcher.handle({"OpType": "nope", "Method": "GET", "Params": {}})
    assert missing["statusCode"] == 404
    assert missing["body"]["error"]["type"] == "NotFound"


# -------------------------------------------------------------------------
# Logging
# -------------------------------------------------------------------------


def test_one_canonical_log_line_per_request() -> None:
    client = client_for(OperationsPlugin(make_operation(re.compile("op/(.*)"))))
    with capture_logs() as logs:
        response = client.get("/op/1")
    lines = [entry for entry in logs if entry["event"] == "request"]
    assert len(lines) == 1
    line = lines[0]
    assert line["op"] == "op/1"
    assert line["operation"] == "op/{arg1}"  # the route, as its OpenAPI path template
    assert line["interface"] == "apigw"
    assert line["method"] == "GET"
    assert line["status"] == 200
    assert line["plugin"] == "test-plugin"
    assert line["request_id"] == response.headers["X-Request-Id"]
    took = line["duration_ms"]  # its presence and type; its value is the machine's business
    assert isinstance(took, float)


def test_the_log_line_of_a_refused_request_says_why() -> None:
    client = client_for(OperationsPlugin(make_operation("op")))
    with capture_logs() as logs:
        client.get("/op", params={"nope": "1"})
    line = next(entry for entry in logs if entry["event"] == "request")
    assert line["status"] == 400
    assert "params.nope" in line["error"]


def test_the_library_does_not_configure_logging_at_import() -> None:
    import subprocess
    import sys

    code = (
        "import structlog, clonesquad_interact, clonesquad_interact.lambda_handler, "
        "clonesquad_interact.testing; "
        "print(structlog.is_configured())"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (__import__("decimal").Decimal("3"), "3"),
        (__import__("decimal").Decimal("2.5"), "2.5"),
        (__import__("datetime").date(2026, 11, 25), "2026-11-25"),
    ],
)
def test_scalars_from_aws_are_plain_text(value: Any, text: str) -> None:
    response = client_for(OperationsPlugin(make_operation("v", handler=answering(value)))).get("/v")
    assert (response.content_type, response.text) == ("text/plain; charset=utf-8", text)


@pytest.mark.parametrize("value", [{"v": float("nan")}, float("inf")])
def test_an_answer_with_a_number_json_cannot_hold_is_a_500_never_invalid_json(value: Any) -> None:
    client = InteractClient(build(OperationsPlugin(make_operation("v", handler=answering(value)))))
    response = client.get("/v")
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "InternalError"


@pytest.mark.parametrize(
    "headers", [{"X-Bad": "a\r\nSet-Cookie: x"}, {"X-None": None}, {"X-Bad\n": "v"}]
)
def test_a_response_header_that_is_not_one_line_of_text_is_refused(headers: Any) -> None:
    with pytest.raises(ValueError, match="response header"):
        Response(body="x", headers=headers)


def test_the_size_limit_counts_the_escaping_lambda_adds() -> None:
    quotes = '"' * (LAMBDA_RESPONSE_LIMIT // 2 + 1)  # each quote becomes two bytes
    response = client_for(OperationsPlugin(make_operation("v", handler=answering(quotes)))).get(
        "/v"
    )
    assert response.status_code == 500
    assert "larger than what Lambda can return" in response.json()["error"]["message"]
    fits = "x" * (LAMBDA_RESPONSE_LIMIT // 2)
    assert client_for(OperationsPlugin(make_operation("v", handler=answering(fits)))).get("/v").ok


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"OpType": "v", "Params": []}, "Params must be an object"),
        ({"OpType": "v", "Params": 0}, "Params must be an object"),
        ({"OpType": "v", "Params": {"a": {"b": None}}}, None),
    ],
)
def test_direct_invocations_check_their_params(event: dict[str, Any], message: str | None) -> None:
    dispatcher = build(
        OperationsPlugin(
            make_operation("v", schema={"properties": {"params": {"additionalProperties": True}}})
        )
    )
    answer = dispatcher.handle(event)
    if message is None:
        assert answer["statusCode"] == 200
    else:
        assert answer["statusCode"] == 400
        assert message in answer["body"]["error"]["message"]


def test_direct_params_nested_too_deeply_are_a_400() -> None:
    params: dict[str, Any] = {}
    inner = params
    for _ in range(5000):
        inner["x"] = {}
        inner = inner["x"]
    answer = build().handle({"OpType": "", "Params": params})
    assert answer["statusCode"] == 400
    assert "nested too deeply" in answer["body"]["error"]["message"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"pathParameters": {"proxy": 5}}, "pathParameters.proxy must be a string"),
        ({"pathParameters": "fleet"}, "pathParameters must be an object"),
        ({"isBase64Encoded": "false", "body": "x"}, "isBase64Encoded must be true or false"),
    ],
)
def test_malformed_api_gateway_fields_are_a_400_naming_the_field(
    change: dict[str, Any], message: str
) -> None:
    from clonesquad_interact.testing import apigw_rest_event

    event = {**apigw_rest_event("GET", "/"), **change}
    answer = build().handle(event)
    assert answer["statusCode"] == 400
    assert message in json.loads(answer["body"])["error"]["message"]
    assert answer["headers"]["X-Request-Id"] == event["requestContext"]["requestId"]


def test_the_json_log_line_of_an_unexpected_error_carries_the_traceback() -> None:
    import io

    import structlog

    from clonesquad_interact.log import configure_logging

    stream = io.StringIO()
    configure_logging(stream=stream, force=True)
    try:
        dispatcher = build(OperationsPlugin(make_operation("bug", handler=raising(KeyError("k")))))
        dispatcher.call("bug")
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        structlog.reset_defaults()
    (line,) = [entry for entry in lines if entry["event"] == "request"]
    assert line["status"] == 500
    assert line["level"] == "error"
    assert "Traceback" in line["exception"]
    assert "KeyError" in line["exception"]


# -------------------------------------------------------------------------
# The request the operation gets
# -------------------------------------------------------------------------


def recording(pattern: str, seen: list[Request]) -> Operation:
    """A regex operation with an integer ``count`` parameter, keeping each request it gets."""

    def handler(request: Request) -> str:
        seen.append(request)
        return "ok"

    return make_operation(
        re.compile(pattern),
        handler,
        schema={
            "type": "object",
            "properties": {
                "params": {"type": "object", "properties": {"count": {"type": "integer"}}}
            },
        },
    )


def test_the_operation_gets_the_routed_and_validated_request_from_an_event() -> None:
    seen: list[Request] = []
    operation = recording("things/(?P<kind>[A-Za-z]+)/(.+)", seen)
    client = client_for(OperationsPlugin(operation))
    assert client.get("things/Boats/Big-One", params={"count": "3"}).status_code == 200
    assert client.get("things/cars/x").status_code == 200
    first, second = seen
    assert (first.op, first.path_args, dict(first.path_params)) == (
        "things/Boats/Big-One",
        ("Boats", "Big-One"),
        {"kind": "Boats"},
    )
    assert dict(first.params) == {"count": 3}  # converted by the schema
    assert first.deployment is client.dispatcher.deployment
    assert (second.path_args, dict(second.params)) == (("cars", "x"), {})
    assert dict(first.params) == {"count": 3}  # a later request changes nothing in an earlier one


def test_dispatch_leaves_the_callers_request_as_it_was() -> None:
    seen: list[Request] = []
    dispatcher = build(OperationsPlugin(recording("things/(.+)", seen)))
    request = Request(op="things/boat", interface=Interface.APIGW, params=freeze({"count": "3"}))
    assert dispatcher.dispatch(request).status == 200
    assert (request.path_args, dict(request.params), request.deployment) == (
        (),
        {"count": "3"},
        None,
    )
    (routed,) = seen
    assert routed is not request
    assert (routed.path_args, dict(routed.params)) == (("boat",), {"count": 3})


@pytest.mark.parametrize("body", [None, "text", {"a": [1]}, 0])
def test_a_plain_answer_is_the_response_it_stands_for(body: Any) -> None:
    from clonesquad_interact.response import answer

    made = answer(body)
    assert made == Response(body=body)
    assert (made.status, dict(made.headers), made.ok) == (200, {}, True)
    with pytest.raises(AttributeError):
        made.status = 500  # type: ignore[misc]
