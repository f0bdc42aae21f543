"""Validation against each operation's JSON Schema: typed parameters, bodies, clear 400s."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from clonesquad_interact import Dispatcher, PluginError, Request

from helpers import OperationsPlugin, build, client_for, echo, make_operation

PARAMS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "params": {
            "type": "object",
            "properties": {
                "unstable": {"type": "boolean"},
                "count": {"type": "integer", "minimum": 1},
                "ratio": {"type": "number"},
                "name": {"type": "string", "maxLength": 5},
                "tag": {"type": "array", "items": {"type": "string"}},
                "ids": {"type": "array", "items": {"type": "integer"}},
                "mode": {"enum": ["fast", "slow"]},
            },
            "required": [],
        }
    },
}


def typed(request: Request) -> dict[str, Any]:
    return {name: [type(value).__name__, value] for name, value in request.params.items()}


@pytest.fixture
def client() -> Any:
    return client_for(OperationsPlugin(make_operation("typed", handler=typed, schema=PARAMS)))


def test_query_string_values_are_converted_to_the_declared_types(client: Any) -> None:
    response = client.get(
        "/typed", params={"unstable": "true", "count": "3", "ratio": "0.5", "name": "abc"}
    )
    assert response.json() == {
        "unstable": ["bool", True],
        "count": ["int", 3],
        "ratio": ["float", 0.5],
        "name": ["str", "abc"],
    }


@pytest.mark.parametrize(("text", "value"), [("false", False), ("0", False), ("YES", True)])
def test_booleans_accept_the_usual_spellings(client: Any, text: str, value: bool) -> None:
    assert client.get("/typed", params={"unstable": text}).json()["unstable"] == ["bool", value]


def test_repeated_parameters_fill_arrays_and_single_values_become_one_item_arrays(
    client: Any,
) -> None:
    answer = client.get("/typed", params={"tag": ["a", "b"], "ids": ["1", "2"]}).json()
    assert answer == {"tag": ["tuple", ["a", "b"]], "ids": ["tuple", [1, 2]]}
    assert client.get("/typed", params={"tag": "solo"}).json() == {"tag": ["tuple", ["solo"]]}


def problems(response: Any) -> dict[str, str]:
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "ValidationFailed"
    assert "typed" in error["message"]
    return {problem["where"]: problem["what"] for problem in error["details"]}


def test_a_scalar_given_twice_is_refused(client: Any) -> None:
    found = problems(client.get("/typed", params={"count": ["1", "2"]}))
    assert found == {"params.count": "given 2 times; give it once"}


def test_every_problem_is_listed_with_where_and_what(client: Any) -> None:
    found = problems(
        client.get(
            "/typed",
            params={"count": "zero", "unstable": "maybe", "name": "toolong", "mode": "medium"},
        )
    )
    assert set(found) == {"params.count", "params.unstable", "params.name", "params.mode"}
    assert "'zero' is not of type 'integer'" in found["params.count"]
    assert "'maybe' is not of type 'boolean'" in found["params.unstable"]
    assert "too long" in found["params.name"]
    assert "'medium' is not one of ['fast', 'slow']" in found["params.mode"]


def test_bounds_are_checked_after_conversion(client: Any) -> None:
    assert "minimum" in problems(client.get("/typed", params={"count": "0"}))["params.count"]


def test_unknown_parameters_are_refused_naming_the_accepted_ones(client: Any) -> None:
    found = problems(client.get("/typed", params={"cuont": "1"}))
    assert found["params.cuont"].startswith("unknown parameter; accepted: count, format, ids")


def test_a_regex_route_is_named_by_its_path_template() -> None:
    hello = make_operation(
        re.compile(r"hello/(?P<name>[^/]+)"),
        schema={"properties": {"params": {"additionalProperties": False}}},
    )
    answer = client_for(OperationsPlugin(hello)).get("/hello/world", params={"shout": "1"})
    assert answer.status_code == 400
    message = answer.json()["error"]["message"]
    assert message.startswith("invalid input for operation 'hello/{name}' (1 problem)")
    assert hello.title == "hello/{name}"
    assert make_operation(re.compile("a|b")).title == "a|b", "no template: the regex"


def test_schema_may_allow_unknown_parameters() -> None:
    client = client_for(
        OperationsPlugin(
            make_operation(
                "open",
                schema={"properties": {"params": {"additionalProperties": {"type": "string"}}}},
            )
        )
    )
    assert client.get("/open", params={"anything": "x"}).json()["params"] == {"anything": "x"}


def test_required_parameters_are_named_when_missing() -> None:
    schema = {
        "properties": {
            "params": {
                "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
                "required": ["a", "b"],
            }
        }
    }
    client = client_for(OperationsPlugin(make_operation("needs", schema=schema)))
    response = client.get("/needs", params={"a": "1"})
    assert response.status_code == 400
    details = response.json()["error"]["details"]
    assert details == [{"where": "params.b", "what": "missing; this parameter is required"}]


@pytest.mark.parametrize("fmt", ["xml", "yml", "Text"])
def test_format_is_accepted_by_every_operation_and_checked(client: Any, fmt: str) -> None:
    for accepted in ("yaml", "YAML", "Json"):
        assert client.get("/typed", params={"format": accepted}).status_code == 200
    assert "params.format" in problems(client.get("/typed", params={"format": fmt}))


# -------------------------------------------------------------------------
# Bodies
# -------------------------------------------------------------------------

DOCUMENT: dict[str, Any] = {
    "properties": {
        "body": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "propertyNames": {"minLength": 1},
        }
    },
    "required": ["body"],
}


def parsed(request: Request) -> Any:
    return {"parsed": dict(request.parsed_body), "raw": request.body}


@pytest.fixture
def documents() -> Any:
    return client_for(
        OperationsPlugin(
            make_operation(
                "doc", methods={"POST"}, body="document", schema=DOCUMENT, handler=parsed
            ),
            make_operation(
                "text",
                methods={"POST"},
                body="text",
                schema={"properties": {"body": {"type": "string", "maxLength": 3}}},
            ),
            make_operation("nobody", methods={"GET", "POST"}),
        )
    )


def test_json_and_yaml_documents_are_parsed_and_validated(documents: Any) -> None:
    assert documents.post("/doc", body='{"a": "1"}').json()["parsed"] == {"a": "1"}
    yaml_doc = documents.post("/doc", body="a: '1'\nb: two\n", params={"format": "yaml"})
    assert yaml_doc.content_type == "application/yaml"
    assert yaml_doc.yaml()["parsed"] == {"a": "1", "b": "two"}
    base64_doc = documents.post("/doc", body=b"c: '3'\n", params={"format": "yaml"})
    assert base64_doc.yaml() == {"parsed": {"c": "3"}, "raw": "c: '3'\n"}


@pytest.mark.parametrize("fmt", [None, "json", "yaml"])
@pytest.mark.parametrize(
    "body", ['{"a": "1", "b": "two"}', "a: '1'\nb: two\n", "{a: '1', b: two}", '{"a": "1", b: two}']
)
def test_a_document_is_read_as_json_or_yaml_whatever_format_says(
    documents: Any, body: str, fmt: str | None
) -> None:
    params = {} if fmt is None else {"format": fmt}
    answer = documents.post("/doc", body=body, params=params)
    assert answer.status_code == 200, answer.text
    if fmt == "yaml":  # format chooses the answer's format only
        assert answer.content_type == "application/yaml"
        assert answer.yaml()["parsed"] == {"a": "1", "b": "two"}
    else:
        assert answer.content_type == "application/json"
        assert answer.json()["parsed"] == {"a": "1", "b": "two"}


def test_yaml_is_read_by_libyaml_when_pyyaml_has_it() -> None:
    from clonesquad_interact import yamldocs

    expected = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
    assert yamldocs._SafeLoader is expected
    assert issubclass(yamldocs._DocumentLoader, expected)


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The documents that reached the YAML loader that builds Python values."""
    from clonesquad_interact import yamldocs

    reached: list[Any] = []
    build_document = yamldocs._DocumentLoader.get_single_data

    def recorded(self: Any) -> Any:
        reached.append(self)
        return build_document(self)

    monkeypatch.setattr(yamldocs._DocumentLoader, "get_single_data", recorded)
    return reached


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ("[" + ",".join(["a"] * 1_000_000) + "]", "more than 10000 values"),
        ("".join(f"k{i}: v\n" for i in range(10_001)), "more than 10000 values"),
        ("a: " + "[" * 33 + "]" * 33, "nested too deeply (more than 32 levels"),
        ("a:\n" + "".join("  " * i + "- \n" for i in range(1, 40)), "nested too deeply"),
        ("a: &x [1]\nb: *x\n", "aliases"),
    ],
    ids=["2MB-flow-list", "many-keys", "flow-nesting", "block-nesting", "alias"],
)
def test_a_yaml_document_over_the_limits_is_refused_before_it_is_built(
    documents: Any, built: list[Any], body: str, said: str
) -> None:
    answer = documents.post("/doc", body=body, params={"format": "yaml"})
    assert answer.status_code == 400
    assert said in answer.json()["error"]["message"]
    assert len(answer.text) < 1_000
    assert built == []  # refused by the bounded first pass, before any value was built
    assert documents.post("/doc", body="a: '1'\n").json()["parsed"] == {"a": "1"}
    assert len(built) == 1


def test_a_yaml_document_larger_than_the_limit_is_a_413_before_it_is_parsed(
    documents: Any, built: list[Any]
) -> None:
    from clonesquad_interact.formats import MAX_DOCUMENT_BYTES

    answer = documents.post("/doc", body="a: '" + "é" * (MAX_DOCUMENT_BYTES // 2) + "'\n")
    assert answer.status_code == 413
    assert f"larger than {MAX_DOCUMENT_BYTES} bytes" in answer.json()["error"]["message"]
    assert built == []


def test_a_wrong_type_body_is_described_not_quoted(documents: Any) -> None:
    body = json.dumps(["x" * 250] * 9_999)  # 2.5 MB, within the limits: validated
    answer = documents.post("/doc", body=body)
    assert answer.status_code == 400
    assert len(answer.text) < 1_000
    assert "xxx" not in answer.text
    error = answer.json()["error"]
    assert error["details"] == [
        {"where": "body", "what": "an array of 9999 items is not of type 'object'"}
    ]
    many = documents.post("/doc", body=json.dumps(list(range(400_000))))  # 2.5 MB, over
    assert many.status_code == 400
    assert len(many.text) < 1_000
    assert "0, 1, 2" not in many.text
    assert "more than 10000 values" in many.json()["error"]["message"]


def test_a_long_value_is_quoted_once_in_each_problem_as_a_short_excerpt(documents: Any) -> None:
    body = '{"a": ' + "7" * 4000 + ', "b": ["x"]}'
    answer = documents.post("/doc", body=body)
    assert answer.status_code == 400
    assert len(answer.text) < 2_000
    details = {p["where"]: p["what"] for p in answer.json()["error"]["details"]}
    assert details["body.b"] == "an array of 1 item is not of type 'string'"
    assert details["body.a"].startswith("77777777")
    assert details["body.a"].endswith("... is not of type 'string'")
    text = documents.post("/text", body="x" * 100_000)
    (problem,) = text.json()["error"]["details"]
    assert problem["what"] == f"{'x' * 60!r}... (100000 characters) is too long"
    assert text.text.count("x" * 60) == 2  # once in the problem, once in the message


def test_a_document_that_does_not_match_the_schema_is_400_naming_the_field(documents: Any) -> None:
    response = documents.post("/doc", body='{"a": 1}')
    assert response.status_code == 400
    assert response.json()["error"]["details"] == [
        {"where": "body.a", "what": "1 is not of type 'string'"}
    ]
    listing = documents.post("/doc", body="[1, 2]")
    assert listing.json()["error"]["details"][0]["where"] == "body"


def test_a_missing_document_is_400(documents: Any) -> None:
    response = documents.post("/doc", body="")
    assert response.status_code == 400
    assert response.json()["error"]["details"] == [
        {"where": "body", "what": "missing; this field is required"}
    ]


@pytest.mark.parametrize(
    ("body", "fmt", "message"),
    [
        ("{not json", "json", "the body is not valid JSON"),
        ("{not json", "yaml", "the body is not valid JSON (Expecting property name"),
        ("{not json", "yaml", "nor YAML at line 2, column 1"),
        ('{"a": NaN}', "json", "NaN is not a number that JSON allows"),
        ("a: [1, 2\n", "yaml", "the body is not valid YAML at line 2"),
        ("a: &x 1\nb: *x\n", "yaml", "aliases"),
    ],
)
def test_unreadable_documents_are_400_saying_what_is_wrong(
    documents: Any, body: str, fmt: str, message: str
) -> None:
    response = documents.post("/doc", body=body, params={"format": fmt})
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]


def test_a_yaml_alias_bomb_is_refused_without_expanding_it(documents: Any) -> None:
    lines = ["a: &a ['x','x','x','x','x','x','x','x','x']"]
    for i in range(8):
        previous, name = chr(97 + i), chr(98 + i)
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 4) + "]")
    bomb = "\n".join(lines) + "\n"
    response = documents.post("/doc", body=bomb, params={"format": "yaml"})
    assert response.status_code == 400
    assert "aliases" in response.json()["error"]["message"]


def test_text_bodies_are_validated_as_strings(documents: Any) -> None:
    assert documents.post("/text", body="abc").status_code == 200
    response = documents.post("/text", body="abcd")
    assert response.json()["error"]["details"] == [{"where": "body", "what": "'abcd' is too long"}]


def test_an_operation_without_a_body_refuses_one_that_is_not_an_object_of_params(
    documents: Any,
) -> None:
    assert documents.post("/nobody", body="   ").status_code == 200
    for body in ("data", "[1, 2]", '"text"', "{1: 2}"):
        response = documents.post("/nobody", body=body, params={"format": "yaml"})
        assert response.status_code == 400, body
        (problem,) = response.json()["error"]["details"]
        assert problem["where"] == "body"
        assert problem["what"].startswith(
            "this operation takes no document body; send its parameters in the query string, "
            "or as a JSON object of them"
        )
    said = documents.post("/nobody", body="{oops").json()["error"]["details"][0]["what"]
    assert "(the body is not valid JSON" in said
    assert documents.post("/nobody", body="{}", params={"format": "yaml"}).status_code == 200


def typed_post() -> Any:
    return client_for(
        OperationsPlugin(
            make_operation("typed", handler=typed, schema=PARAMS, methods={"GET", "POST"})
        )
    )


def test_the_params_of_an_operation_without_a_body_may_be_its_json_body() -> None:
    client = typed_post()
    body = {"count": 3, "tag": ["a", "b"], "unstable": True}
    by_body = client.post("/typed", body=json.dumps(body))
    by_query = client.post(
        "/typed", body="", params={"count": "3", "tag": ["a", "b"], "unstable": "true"}
    )
    assert by_body.status_code == 200, by_body.json()
    assert (
        by_body.json()
        == by_query.json()
        == {
            "count": ["int", 3],
            "tag": ["tuple", ["a", "b"]],
            "unstable": ["bool", True],
        }
    )


def test_a_yaml_body_of_params_and_the_query_together() -> None:
    client = typed_post()
    answer = client.post("/typed", body="count: 3\nmode: fast\n", params={"format": "yaml"})
    assert answer.status_code == 200, answer.text
    assert yaml.safe_load(answer.text) == {
        "count": ["int", 3],
        "format": ["str", "yaml"],
        "mode": ["str", "fast"],
    }


def test_a_param_in_both_the_query_and_the_body_is_refused() -> None:
    answer = typed_post().post("/typed", body='{"count": 3, "cuont": 1}', params={"count": "3"})
    assert answer.status_code == 400
    found = problems(answer)
    assert found["params.count"] == "given in both the query string and the body; give it once"
    assert found["params.cuont"].startswith("unknown parameter")


def test_body_params_are_checked_as_sqs_message_fields_are() -> None:
    client = typed_post()
    assert client.post("/typed", body='{"count": "3"}').json()["count"] == ["int", 3]
    answer = client.post("/typed", body='{"count": "three"}')
    assert answer.status_code == 400
    assert "params.count" in problems(answer)


# -------------------------------------------------------------------------
# Schemas: checked and compiled once
# -------------------------------------------------------------------------


def test_an_invalid_schema_stops_start_up_naming_the_operation() -> None:
    plugin = OperationsPlugin(make_operation("bad", schema={"type": "no-such-type"}))
    with pytest.raises(PluginError, match=r"operation 'bad'.*invalid schema"):
        build(plugin)


def test_an_unreadable_schema_file_stops_start_up(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    with pytest.raises(PluginError, match="cannot read schema"):
        build(OperationsPlugin(make_operation("broken", schema=broken)))
    with pytest.raises(PluginError, match="cannot read schema"):
        build(OperationsPlugin(make_operation("missing", schema=tmp_path / "missing.json")))


def test_schema_files_are_read_and_compiled_once_per_dispatcher_not_per_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared.json"
    shared.write_text(json.dumps({"properties": {"params": {"properties": {}}}}), encoding="utf-8")
    checked: list[object] = []
    original = jsonschema.Draft202012Validator.check_schema.__func__  # type: ignore[attr-defined]

    def counting(cls: Any, /, schema: Any, **kwargs: Any) -> None:
        checked.append(schema)
        original(cls, schema, **kwargs)

    monkeypatch.setattr(jsonschema.Draft202012Validator, "check_schema", classmethod(counting))
    dispatcher = build(
        OperationsPlugin(make_operation("one", schema=shared), make_operation("two", schema=shared))
    )
    after_start = len(checked)
    assert after_start == 2  # the root's schema and the shared file
    for _ in range(5):
        assert dispatcher.call("one").status == 200
        assert dispatcher.call("two").status == 200
    assert len(checked) == after_start


def test_every_registered_operation_has_a_summary_and_a_valid_schema() -> None:
    dispatcher = Dispatcher(raise_unexpected=True)
    assert dispatcher.operations
    for operation in dispatcher.operations:
        assert operation.summary.strip()
        schema = dispatcher.schema(operation)
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["properties"]["params"]["properties"]["format"]["enum"] == ["json", "yaml"]


def test_the_handler_gets_immutable_params() -> None:
    seen: list[Request] = []

    def keep(request: Request) -> str:
        seen.append(request)
        return "ok"

    client_for(OperationsPlugin(make_operation("keep", handler=keep, schema=PARAMS))).get(
        "/keep", params={"tag": ["a", "b"]}
    )
    with pytest.raises(TypeError):
        seen[0].params["tag"] = "x"  # type: ignore[index]
    assert seen[0].params["tag"] == ("a", "b")


def test_echo_sees_validated_values() -> None:
    dispatcher = build(OperationsPlugin(make_operation("e", handler=echo, schema=PARAMS)))
    response = dispatcher.call("e", params={"count": "7"})
    assert response.body["params"] == {"count": 7}


# -------------------------------------------------------------------------
# Schemas that combine subschemas, and schemas that are wrong
# -------------------------------------------------------------------------


def test_references_and_combinations_are_followed_for_conversion_and_unknown_parameters() -> None:
    schema = {
        "$defs": {
            "count": {"type": "integer"},
            "base": {"properties": {"n": {"$ref": "#/$defs/count"}}},
        },
        "properties": {
            "params": {
                "allOf": [{"$ref": "#/$defs/base"}],
                "properties": {"maybe": {"anyOf": [{"type": "integer"}, {"type": "null"}]}},
            }
        },
    }
    client = client_for(OperationsPlugin(make_operation("refs", handler=typed, schema=schema)))
    assert client.get("/refs", params={"n": "3", "maybe": "4"}).json() == {
        "n": ["int", 3],
        "maybe": ["int", 4],
    }
    found = problems_of(client.get("/refs", params={"other": "1"}))
    assert found == {"params.other": "unknown parameter; accepted: format, maybe, n"}


def problems_of(response: Any) -> dict[str, str]:
    assert response.status_code == 400
    return {p["where"]: p["what"] for p in response.json()["error"]["details"]}


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"properties": {"params": {"properties": []}}}, "'properties.params.properties' must be"),
        ({"properties": []}, "'properties' must be an object"),
        ({"properties": {"params": {"$ref": "#/$defs/missing"}}}, "points to nothing"),
        ({"properties": {"params": {"$ref": "other.json#/x"}}}, "only references inside"),
        ({"$schema": "http://json-schema.org/draft-07/schema#"}, "must be JSON Schema 2020-12"),
    ],
)
def test_a_wrong_schema_stops_start_up_with_a_plugin_error(schema: Any, message: str) -> None:
    with pytest.raises(PluginError, match=re.escape(message)):
        build(OperationsPlugin(make_operation("wrong", schema=schema)))


@pytest.mark.parametrize("text", ["1_0", " 7 ", "\u0663", "+5", "0x10", "1e3"])
def test_only_plain_ascii_digits_are_integers(client: Any, text: str) -> None:
    assert "params.count" in problems(client.get("/typed", params={"count": text}))


@pytest.mark.parametrize(("text", "value"), [("-2.5", -2.5), ("1e3", 1000.0), (".5", 0.5)])
def test_numbers_accept_decimal_and_exponent_forms(client: Any, text: str, value: float) -> None:
    assert client.get("/typed", params={"ratio": text}).json()["ratio"] == ["float", value]


@pytest.mark.parametrize("text", ["nan", "inf", "1,5", "\u0661.5"])
def test_other_numbers_are_refused(client: Any, text: str) -> None:
    assert "params.ratio" in problems(client.get("/typed", params={"ratio": text}))


def test_lists_sent_through_sqs_are_judged_by_the_schema_not_as_repeated_parameters() -> None:
    dispatcher = build(
        OperationsPlugin(make_operation("typed", schema=PARAMS, interfaces={"sqs", "direct"}))
    )
    from clonesquad_interact import Interface

    response = dispatcher.call(
        "typed", method="POST", params={"count": [1, 2]}, interface=Interface.SQS
    )
    assert response.status == 400
    (problem,) = response.body["error"]["details"]
    assert problem["where"] == "params.count"
    assert "given 2 times" not in problem["what"]


def test_a_remembered_valid_request_does_not_excuse_a_body() -> None:
    schema = {"properties": {"body": {"type": "string", "minLength": 1}}, "required": ["body"]}
    client = client_for(
        OperationsPlugin(make_operation("text", methods={"POST"}, body="text", schema=schema))
    )
    assert client.post("/text", body=None).status_code == 400
    assert client.post("/text", body="x").status_code == 200
    assert client.post("/text", body="").status_code == 400
    assert client.post("/text", body=None).status_code == 400


def test_remembered_parameter_sets_still_give_each_request_its_own_values(client: Any) -> None:
    for count in ("1", "2", "1"):
        assert client.get("/typed", params={"count": count}).json() == {
            "count": ["int", int(count)]
        }
    assert "params.count" in problems(client.get("/typed", params={"count": "0"}))
    assert "params.count" in problems(client.get("/typed", params={"count": "0"}))


def test_a_schema_handed_out_cannot_change_what_dispatchers_accept() -> None:
    plugin = OperationsPlugin(make_operation("n"))
    dispatcher = build(plugin)
    operation = next(op for op in dispatcher.operations if op.name == "n")
    dispatcher.schema(operation)["properties"]["params"]["properties"]["format"]["enum"].append(
        "xml"
    )
    for current in (dispatcher, build(OperationsPlugin(make_operation("n")))):
        assert current.call("n", params={"format": "xml"}).status == 400


def test_yaml_dates_stay_text_and_non_finite_numbers_are_refused(documents: Any) -> None:
    answer = documents.post(
        "/doc", body="d: 2024-01-01\nt: 2024-01-01 10:00:00\n", params={"format": "yaml"}
    )
    assert answer.yaml()["parsed"] == {"d": "2024-01-01", "t": "2024-01-01 10:00:00"}
    refused = documents.post("/doc", body="n: .nan\n", params={"format": "yaml"})
    assert refused.status_code == 400
    assert "not a number JSON allows" in refused.json()["error"]["message"]


@pytest.mark.parametrize(("opening", "closing", "fmt"), [("[", "]", "json"), ("[", "]", "yaml")])
def test_a_body_nested_too_deeply_is_a_400(
    documents: Any, opening: str, closing: str, fmt: str
) -> None:
    body = '{"a": ' + opening * 100_000 + closing * 100_000 + "}"
    response = documents.post("/doc", body=body, params={"format": fmt})
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["error"]["message"]


def test_threads_sharing_a_dispatcher_share_the_validation_memory_safely() -> None:
    # ``serve`` answers from several threads with one dispatcher: the memory of valid
    # query strings is filled, read and emptied by all of them at once.
    import sys
    import threading
    import time

    from clonesquad_interact.testing import apigw_rest_event

    dispatcher = build(OperationsPlugin(make_operation("typed", handler=typed, schema=PARAMS)))
    (operation,) = [op for op in dispatcher.operations if op.name == "typed"]
    memory = dispatcher._schema_of(operation)

    class Slow(dict[Any, Any]):
        """The memory, letting other threads run while it is iterated and updated."""

        def __iter__(self) -> Any:
            iterator = super().__iter__()
            time.sleep(0.0005)
            return iterator

        def pop(self, *args: Any) -> Any:
            value = super().pop(*args)
            time.sleep(0.0005)  # between an eviction and its insertion
            return value

    memory._valid = Slow()
    wrong: list[Any] = []
    start = threading.Barrier(8)

    def poll(thread: int) -> None:
        start.wait()
        for n in range(1, 151):
            count = thread * 1000 + n % 40 * 7 + n  # repeats, and more than the memory holds
            event = apigw_rest_event("GET", "typed", params={"count": str(count)})
            answer = dispatcher.handle(event, None)
            if answer["statusCode"] != 200 or json.loads(answer["body"]) != {
                "count": ["int", count]
            }:
                wrong.append(answer)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch as often as they can
    try:
        threads = [threading.Thread(target=poll, args=(t,)) for t in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert wrong == []
    assert 0 < len(memory._valid) <= 256
