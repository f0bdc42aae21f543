"""Routing: exact names before regexes, whole-name matches, conflicts, 404 and 405."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clonesquad_interact import Interface, MethodNotAllowed, PluginError
from clonesquad_interact.routing import non_canonical
from clonesquad_interact.testing import sqs_record

from helpers import OperationsPlugin, build, client_for, make_operation


def fleet_plugin() -> OperationsPlugin:
    return OperationsPlugin(
        make_operation("fleet/status", handler=lambda r: "exact"),
        make_operation(re.compile("fleet/(.*)"), handler=lambda r: f"regex:{r.path_args[0]}"),
        make_operation(
            re.compile("configuration/(?P<key>.+)"),
            methods={"GET", "POST"},
            handler=lambda r: {"key": r.path_params["key"], "args": list(r.path_args)},
        ),
        make_operation(
            "notify/ackevent",
            interfaces={"sqs", "direct"},
            methods={"POST"},
            schema={"properties": {"params": {"additionalProperties": True}}},
        ),
    )


def test_exact_name_wins_over_a_matching_regex() -> None:
    client = client_for(fleet_plugin())
    assert client.get("/fleet/status").text == "exact"
    assert client.get("/fleet/other").text == "regex:other"


def test_regex_must_match_the_whole_name() -> None:
    client = client_for(OperationsPlugin(make_operation(re.compile("conf"), handler=lambda r: "x")))
    assert client.get("/conf").status_code == 200
    assert client.get("/configuration").status_code == 404
    assert client.get("/xconf").status_code == 404


def test_captured_groups_reach_the_handler_named_and_positional_with_case_kept() -> None:
    client = client_for(fleet_plugin())
    answer = client.get("/configuration/EC2.Schedule.Min_Instance_Count").json()
    assert answer == {
        "key": "EC2.Schedule.Min_Instance_Count",
        "args": ["EC2.Schedule.Min_Instance_Count"],
    }


def test_regex_routes_are_tried_in_plugin_order_last_registered_first() -> None:
    first = OperationsPlugin(
        make_operation(re.compile("x/(.*)"), handler=lambda r: "first"), name="a"
    )
    second = OperationsPlugin(
        make_operation(re.compile("(.*)/y"), handler=lambda r: "second"), name="b"
    )
    assert client_for(first, second).get("/x/y").text == "second"
    assert client_for(second, first).get("/x/y").text == "first"


@pytest.mark.parametrize(
    ("path", "suggestion"),
    [
        ("/Fleet/Status", "fleet/status"),
        ("/fleet//status", "fleet/status"),
        ("/fleet/status/", "fleet/status"),
        ("/./fleet/status", "fleet/status"),
        ("/fleet/x/../status", "fleet/status"),
        ("/fleet%2Fstatus", "fleet/status"),
        ("/Configuration/App.Disable", "configuration/App.Disable"),
        ("/configuration%2Fapp.disable", "configuration/app.disable"),
    ],
)
def test_non_canonical_paths_are_not_cleaned_up_but_answered_404_naming_the_operation(
    path: str, suggestion: str
) -> None:
    plugin = OperationsPlugin(
        make_operation("fleet/status"),
        make_operation(re.compile("configuration/(?P<key>[^/]+)")),
    )
    response = client_for(plugin).get(path)
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["type"] == "NotFound"
    assert f"did you mean {suggestion!r}" in error["message"]
    assert "exactly as sent" in error["message"]


def test_percent_encoded_slash_never_creates_a_segment() -> None:
    client = client_for(fleet_plugin())
    # 'fleet%2Fstatus' is one segment: it is not the exact 'fleet/status' nor 'fleet/(.*)'.
    assert client.get("/fleet%2Fstatus").status_code == 404
    # Not even inside what a regex would capture.
    response = client.get("/configuration/a%2Fb")
    assert response.status_code == 404
    assert "did you mean 'configuration/a/b'" in response.json()["error"]["message"]


def test_unknown_operation_is_404_pointing_at_the_listing() -> None:
    response = client_for(fleet_plugin()).get("/no/such/thing")
    assert response.status_code == 404
    assert "GET / lists the operations" in response.json()["error"]["message"]


def test_wrong_method_is_405_with_allow() -> None:
    response = client_for(fleet_plugin()).post("/fleet/status", body="x")
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"
    assert "does not answer POST" in response.json()["error"]["message"]


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
def test_methods_other_than_get_and_post_are_405(method: str) -> None:
    response = client_for(fleet_plugin()).request(method, "/fleet/status")
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"


def test_operation_on_another_interface_is_405() -> None:
    client = client_for(fleet_plugin())
    response = client.post("/notify/ackevent", body=None)
    assert response.status_code == 405
    assert response.headers["Allow"] == ""
    assert "the SQS queue" in response.json()["error"]["message"]
    answer = client.sqs({"OpType": "fleet/status"})
    assert answer == {"batchItemFailures": []}  # permanent: acknowledged, not retried


def test_sqs_optype_matches_regardless_of_case_and_keeps_captured_case() -> None:
    dispatcher = build(
        fleet_plugin(),
        OperationsPlugin(
            make_operation(
                re.compile("debug/(.+)"),
                interfaces={"sqs"},
                methods={"POST"},
                handler=lambda r: r.path_args[0],
            ),
            name="debug",
        ),
    )
    request_ok = dispatcher.call("Notify/AckEvent", method="POST", interface=Interface.SQS)
    assert request_ok.status == 200
    assert (
        dispatcher.call("DEBUG/PublishReportNow", interface=Interface.SQS).body
        == "PublishReportNow"
    )
    # API Gateway and in-process names stay case-sensitive.
    assert dispatcher.call("Fleet/Status").status == 404


def test_same_route_with_disjoint_methods_is_not_a_conflict() -> None:
    reader = OperationsPlugin(make_operation("thing", handler=lambda r: "read"), name="reader")
    writer = OperationsPlugin(
        make_operation("thing", methods={"POST"}, body="text", handler=lambda r: "written"),
        name="writer",
    )
    client = client_for(reader, writer)
    assert client.get("/thing").text == "read"
    assert client.post("/thing", body="x").text == "written"


@pytest.mark.parametrize("route", ["fleet/status", re.compile("fleet/(.*)")])
def test_two_plugins_on_the_same_route_stop_start_up(route: str | re.Pattern[str]) -> None:
    first = OperationsPlugin(make_operation(route), name="first-plugin")
    second = OperationsPlugin(make_operation(route), name="second-plugin")
    with pytest.raises(PluginError) as raised:
        build(first, second)
    message = str(raised.value)
    assert "first-plugin" in message
    assert "second-plugin" in message
    assert "overrides=True" in message


def test_an_override_wins_for_what_it_serves_and_leaves_the_rest() -> None:
    original = OperationsPlugin(
        make_operation("thing", methods={"GET", "POST"}, body="text", handler=lambda r: "original"),
        name="original",
    )
    override = OperationsPlugin(
        make_operation("thing", overrides=True, handler=lambda r: "override"), name="override"
    )
    for order in ((original, override), (override, original)):
        client = client_for(*order)
        assert client.get("/thing").text == "override"
        assert client.post("/thing", body="x").text == "original"


def test_two_overrides_of_one_route_conflict() -> None:
    one = OperationsPlugin(make_operation("thing", overrides=True), name="one")
    two = OperationsPlugin(make_operation("thing", overrides=True), name="two")
    with pytest.raises(PluginError, match="both declare overrides"):
        build(one, two)


def test_sqs_names_differing_only_by_case_stop_start_up() -> None:
    sqs: dict[str, Any] = {"interfaces": {"sqs"}, "methods": {"POST"}}
    plugin = OperationsPlugin(make_operation("Report", **sqs), make_operation("report", **sqs))
    with pytest.raises(PluginError, match="differ only by case"):
        build(plugin)


def test_root_operation_is_reached_by_the_root_resource() -> None:
    client = client_for(fleet_plugin())
    response = client.get("/")
    assert response.status_code == 200
    names = [op["name"] for op in response.json()["operations"]]
    assert names == sorted(names)
    # a regex route is named as its OpenAPI path template, its regex beside it
    assert {"", "fleet/status", "fleet/{arg1}", "configuration/{key}"} <= set(names)
    assert "notify/ackevent" not in names  # not callable through API Gateway
    configuration = next(
        op for op in response.json()["operations"] if op["name"] == "configuration/{key}"
    )
    assert configuration == {
        "name": "configuration/{key}",
        "regex": "configuration/(?P<key>.+)",
        "methods": ["GET", "POST"],
        "summary": "Test operation re.compile('configuration/(?P<key>.+)').",
    }


def test_sqs_record_routes_like_api_gateway_names() -> None:
    client = client_for(fleet_plugin())
    record = sqs_record({"OpType": "NOTIFY/ACKEVENT", "Events": ["x"]})
    assert client.sqs([record]) == {"batchItemFailures": []}


@pytest.mark.parametrize(
    ("path", "hint"),
    [
        ("/configuration//app.disable", "configuration/app.disable"),
        ("/configuration/../fleet/status", "fleet/status"),
        ("/configuration/x/", "configuration/x"),
        ("/configuration/.", None),
    ],
)
def test_a_loose_regex_does_not_take_non_canonical_names(path: str, hint: str | None) -> None:
    client = client_for(
        OperationsPlugin(
            make_operation("fleet/status"),
            make_operation(re.compile("configuration/(.+)"), handler=lambda r: r.path_args[0]),
        )
    )
    response = client.get(path)
    assert response.status_code == 404
    message = response.json()["error"]["message"]
    assert (f"did you mean {hint!r}" in message) if hint else ("did you mean" not in message)
    assert client.get("/configuration/app.disable").text == "app.disable"


def test_an_exact_name_with_the_wrong_method_is_405_even_if_a_regex_would_serve_it() -> None:
    client = client_for(
        OperationsPlugin(
            make_operation("items/special"),
            make_operation(re.compile("items/(.+)"), methods={"POST"}, handler=lambda r: "regex"),
        )
    )
    response = client.post("/items/special")
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"
    assert client.post("/items/other").text == "regex"


def test_sqs_names_are_matched_as_sent_apart_from_case() -> None:
    dispatcher = build(fleet_plugin())
    response = dispatcher.call("notify//ackevent", method="POST", interface=Interface.SQS)
    assert response.status == 404


def test_an_override_of_nothing_is_logged() -> None:
    from structlog.testing import capture_logs

    with capture_logs() as logs:
        build(OperationsPlugin(make_operation("lonely", overrides=True), name="lonely-plugin"))
    (warning,) = [e for e in logs if e["event"] == "an operation overrides nothing"]
    assert (warning["operation"], warning["plugin"]) == ("lonely", "lonely-plugin")


# -------------------------------------------------------------------------
# Canonical names
# -------------------------------------------------------------------------

#: What a non-canonical name is, said as a regular expression: an empty, "." or ".."
#: segment, or an escaped slash (``\Z``: a segment ending in a newline is not empty).
NON_CANONICAL_SPEC = re.compile(r"(?:^|/)\.{0,2}(?:/|\Z)|%2[fF]")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("configuration/app.disable", False),
        ("fleet/status", False),
        ("a/.../b", False),
        ("a/.b/c.", False),
        ("%2e%2E", False),
        ("a//b", True),
        ("/a", True),
        ("a/", True),
        ("./a", True),
        ("a/..", True),
        ("a/./b", True),
        (".", True),
        ("..", True),
        ("a%2Fb", True),
        ("a%2fb", True),
        ("keys/\n", False),  # a segment holding a newline is a segment
        ("keys/..\n", False),
        ("keys//\n", True),
    ],
)
def test_non_canonical_names(name: str, expected: bool) -> None:
    assert non_canonical(name) is expected
    assert (NON_CANONICAL_SPEC.search(name) is not None) is expected


@settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(alphabet="ab./%2fF\n\u00e9", max_size=12))
def test_non_canonical_agrees_with_its_definition(name: str) -> None:
    assert non_canonical(name) is (NON_CANONICAL_SPEC.search(name) is not None)


def test_regex_matches_remembered_are_those_of_each_name() -> None:
    from clonesquad_interact import routing

    operation = make_operation(
        re.compile("things/(?P<kind>[^/]+)/(.+)"), interfaces={"apigw", "sqs"}
    )
    router = build(OperationsPlugin(operation)).router
    names = [f"things/k{n}/Name-{n}" for n in range(routing._MATCHED_LIMIT + 10)]
    for _ in range(2):  # the second round after the memory was filled and emptied
        for name in names[::97] + names[-3:]:
            match = router.resolve(name, Interface.APIGW, "GET")
            kind, rest = name.split("/")[1:]
            assert match.operation is router.operations[0]
            assert (match.args, dict(match.kwargs)) == ((kind, rest), {"kind": kind})
        for name in names:
            router.resolve(name, Interface.APIGW, "GET")
    assert len(router._matched) <= routing._MATCHED_LIMIT
    sqs = router.resolve("THINGS/K1/Name-1", Interface.SQS, "POST")
    assert sqs.args == ("K1", "Name-1")  # SQS: matched regardless of case, values as sent


def test_a_remembered_match_does_not_answer_another_method_or_interface() -> None:
    operation = make_operation(re.compile("things/(.+)"))
    router = build(OperationsPlugin(operation)).router
    assert router.resolve("things/a", Interface.APIGW, "GET").args == ("a",)
    with pytest.raises(MethodNotAllowed):
        router.resolve("things/a", Interface.APIGW, "POST")
    with pytest.raises(MethodNotAllowed):
        router.resolve("things/a", Interface.SQS, "POST")
