"""The OpenAPI document: generated from the operations, valid OpenAPI 3.1."""

from __future__ import annotations

import re

import pytest
from openapi_spec_validator import validate

from clonesquad_interact import Body, Dispatcher, Operation, hookimpl
from clonesquad_interact.openapi import openapi_document
from clonesquad_interact.pathtemplates import path_template

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def answer(request):
    return {"ok": True}


class ThirdParty:
    """A plugin as a third party writes it: nothing OpenAPI-specific."""

    @hookimpl
    def register_operations(self):
        return [
            Operation(
                route=re.compile(r"greeting/(?P<name>[^/]+)"),
                handler=answer,
                summary="Greet someone.",
                description="A longer text.",
                methods={"GET", "POST"},
                body=Body.DOCUMENT,
                schema={
                    "$schema": DRAFT,
                    "$defs": {"level": {"type": "integer", "minimum": 1, "description": "how"}},
                    "properties": {
                        "params": {
                            "properties": {
                                "tone": {"enum": ["warm", "cold"]},
                                "level": {"$ref": "#/$defs/level"},
                                "tags": {"type": "array", "items": {"type": "string"}},
                            },
                            "required": ["tone"],
                        },
                        "body": {"type": "object", "properties": {"text": {"type": "string"}}},
                    },
                },
            ),
            Operation(
                route="notes",
                handler=answer,
                summary="Keep a note.",
                methods={"POST"},
                body="text",
                schema={"$schema": DRAFT, "properties": {"body": {"type": "string"}}},
                cache="shared",
            ),
            Operation(
                route=re.compile(r"(?:left|right)/turn"),
                handler=answer,
                summary="Not a path.",
                schema={"$schema": DRAFT},
            ),
            Operation(
                route="queue-only",
                handler=answer,
                summary="SQS only.",
                interfaces={"sqs"},
                schema={"$schema": DRAFT},
            ),
        ]


@pytest.fixture(scope="module")
def document():
    dispatcher = Dispatcher([ThirdParty()], entry_points=False)
    return openapi_document(dispatcher, server_url="http://127.0.0.1:8080/")


def test_the_document_is_valid_openapi_3_1(document):
    validate(document)
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": "http://127.0.0.1:8080"}]


def test_the_built_in_operations_give_a_valid_document():
    document = openapi_document(Dispatcher())
    validate(document)
    assert "/v1/" in document["paths"]
    assert document["servers"][0]["url"].startswith("https://{api_id}.execute-api.")


def test_requests_are_signed_with_sigv4(document):
    assert document["security"] == [{"sigv4": []}]
    assert document["components"]["securitySchemes"]["sigv4"] == {
        "type": "apiKey",
        "name": "Authorization",
        "in": "header",
        "description": "AWS Signature Version 4, service execute-api",
        "x-amazon-apigateway-authtype": "awsSigv4",
    }


def test_a_regex_route_is_a_templated_path_with_its_group_pattern(document):
    item = document["paths"]["/v1/greeting/{name}"]
    assert set(item) == {"get", "post"}
    parameters = {p["name"]: p for p in item["get"]["parameters"]}
    assert parameters["name"] == {
        "name": "name",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": "^(?:[^/]+)$"},
    }
    assert item["get"]["summary"] == "Greet someone."
    assert item["get"]["description"] == "A longer text."
    assert [tag.rsplit(".", 1)[-1] for tag in item["get"]["tags"]] == ["ThirdParty"]


def test_query_parameters_have_the_types_and_enums_of_the_schema(document):
    parameters = {
        p["name"]: p for p in document["paths"]["/v1/greeting/{name}"]["get"]["parameters"]
    }
    assert parameters["tone"]["required"] is True
    assert parameters["tone"]["schema"] == {"type": "string", "enum": ["warm", "cold"]}
    # A local $ref is followed: the parameter stands alone in the document.
    assert parameters["level"]["schema"] == {"type": "integer", "minimum": 1, "description": "how"}
    assert parameters["level"]["description"] == "how"
    assert parameters["level"]["required"] is False
    assert parameters["tags"]["schema"]["type"] == "array"
    assert (parameters["tags"]["style"], parameters["tags"]["explode"]) == ("form", True)
    # Every operation takes format=json|yaml, a string.
    assert parameters["format"]["schema"]["type"] == "string"
    assert parameters["format"]["schema"]["enum"] == ["json", "yaml"]
    assert "style" not in parameters["format"]


class References:
    """A plugin whose schema reaches its parameters through an anchor and %-encoded pointers."""

    @hookimpl
    def register_operations(self):
        return [
            Operation(
                route="referenced",
                handler=answer,
                summary="Parameters behind references.",
                schema={
                    "$schema": DRAFT,
                    "$defs": {
                        "the params": {
                            "properties": {
                                "mode": {"$ref": "#mode"},
                                "count": {"$ref": "#/$defs/a~1b%25c"},
                            }
                        },
                        "mode": {"$anchor": "mode", "type": "string", "enum": ["on", "off"]},
                        "a/b%c": {"type": "integer", "minimum": 0},
                    },
                    "properties": {"params": {"$ref": "#/$defs/the%20params"}},
                },
            )
        ]


def test_references_by_anchor_and_percent_encoded_pointer_are_resolved():
    dispatcher = Dispatcher([References()], entry_points=False)
    document = openapi_document(dispatcher)
    validate(document)
    get = document["paths"]["/v1/referenced"]["get"]
    parameters = {p["name"]: p["schema"] for p in get["parameters"]}
    assert parameters["mode"] == {"type": "string", "enum": ["on", "off"]}
    assert parameters["count"] == {"type": "integer", "minimum": 0}

    # The dispatcher reads the same references: the document and validation agree.
    def status(query: dict[str, str]) -> int:
        event = {
            "httpMethod": "GET",
            "path": "/referenced",
            "resource": "/{proxy+}",
            "queryStringParameters": query,
            "requestContext": {"stage": "v1", "identity": {}},
        }
        code: int = dispatcher.handle(event)["statusCode"]
        return code

    assert status({"mode": "off", "count": "2"}) == 200
    assert status({"mode": "off", "count": "-1"}) == 400
    assert status({"mode": "maybe"}) == 400


def test_a_parameter_that_may_be_a_string_or_a_list_is_exploded():
    document = openapi_document(Dispatcher())
    operations = document["paths"]["/v1/notify/ackevent"]
    for operation in operations.values():
        parameters = {p["name"]: p for p in operation["parameters"]}
        for name in ("Events", "EventData"):
            assert (parameters[name]["style"], parameters[name]["explode"]) == ("form", True)
            assert "anyOf" in parameters[name]["schema"]


def test_a_document_body_is_json_or_yaml_and_only_on_post(document):
    item = document["paths"]["/v1/greeting/{name}"]
    assert "requestBody" not in item["get"]
    body = item["post"]["requestBody"]
    schema = {"type": "object", "properties": {"text": {"type": "string"}}}
    assert body["content"] == {
        "application/json": {"schema": schema},
        "application/yaml": {"schema": schema},
    }


def test_a_text_body_is_text_plain(document):
    post = document["paths"]["/v1/notes"]["post"]
    assert post["requestBody"]["content"] == {"text/plain": {"schema": {"type": "string"}}}
    assert post["x-clonesquad-operation"]["cache"] == "shared"


def test_answers_and_the_shared_error_shape(document):
    responses = document["paths"]["/v1/notes"]["post"]["responses"]
    assert set(responses["200"]["content"]) == {
        "application/json",
        "application/yaml",
        "text/plain",
    }
    for status in ("400", "404", "405", "500", "503"):
        assert responses[status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }
    # 405 says which methods would do, 503 when to try again.
    assert responses["405"]["headers"]["Allow"]["schema"]["type"] == "string"
    assert responses["503"]["headers"]["Retry-After"]["schema"] == {"type": "integer", "minimum": 0}
    # API Gateway's own answers: throttling, a failed or late function.
    gateway = {"$ref": "#/components/schemas/GatewayError"}
    assert gateway in responses["429"]["content"]["application/json"]["schema"]["anyOf"]
    for status in ("502", "504"):
        assert responses[status]["content"]["application/json"]["schema"] == gateway
    assert document["components"]["schemas"]["GatewayError"]["required"] == ["message"]
    error = document["components"]["schemas"]["Error"]["properties"]["error"]
    assert error["required"] == ["type", "message", "details", "request_id"]
    # API Gateway's own refusal is {"message": ...}.
    assert {"$ref": "#/components/schemas/GatewayError"} in responses["403"]["content"][
        "application/json"
    ]["schema"]["anyOf"]


def test_operations_api_gateway_cannot_call_are_left_out(document):
    assert "/v1/queue-only" not in document["paths"]


def test_a_regex_that_is_no_path_is_listed_with_the_reason(document):
    unlisted = document["x-clonesquad-unlisted-operations"]
    assert unlisted == [
        {"operation": "(?:left|right)/turn", "reason": "a group that does not capture"}
    ]


def test_operation_ids_are_unique(document):
    ids = [
        operation["operationId"]
        for item in document["paths"].values()
        for operation in item.values()
    ]
    assert len(ids) == len(set(ids))
    assert "get_greeting_name" in ids


@pytest.mark.parametrize(
    ("route", "template", "parameters"),
    [
        ("fleet/status", "fleet/status", ()),
        ("", "", ()),
        (re.compile(r"configuration/(.+)"), "configuration/{arg1}", (("arg1", ".+"),)),
        (
            re.compile(r"a\.b/(?P<k>[a-z]+(?:\.[a-z]+)*)"),
            "a.b/{k}",
            (("k", r"[a-z]+(?:\.[a-z]+)*"),),
        ),
        (
            re.compile(r"x/(\d+)/y/([^/)]+)"),
            "x/{arg1}/y/{arg2}",
            (("arg1", r"\d+"), ("arg2", "[^/)]+")),
        ),
    ],
)
def test_path_templates(route, template, parameters):
    written = path_template(route)
    assert (written.template, written.parameters) == (template, parameters)


@pytest.mark.parametrize(
    "route",
    [
        re.compile(r"a|b"),
        re.compile(r"a/(\d+)?"),
        re.compile(r"a/(b(c))"),
        re.compile(r"x/[ab]"),
        re.compile(r"x/\d"),
        re.compile(r"a/(?P<n>x)/(?P<n2>y)(?P<n3>z)*"),
        re.compile(r"fleet/status", re.IGNORECASE),
        "with{brace}",
    ],
)
def test_routes_that_are_not_paths(route):
    with pytest.raises(ValueError, match=r".+"):
        path_template(route)
