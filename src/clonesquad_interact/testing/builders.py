"""Lambda events built the way AWS builds them, from the sample events in ``events/``."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from importlib.resources import files
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl, urlencode

__all__ = [
    "OPERATOR_IDENTITY",
    "Body",
    "Params",
    "apigw_http_event",
    "apigw_rest_event",
    "instance_identity",
    "sample_event",
    "sqs_event",
    "sqs_record",
]

#: Query parameters: a value, or a list of values for a repeated parameter.
Params = Mapping[str, Any]
#: A request body: text, bytes (sent base64-encoded), or data (sent as JSON).
Body = str | bytes | Mapping[str, Any] | Sequence[Any] | None

#: ``requestContext.identity`` of an IAM user calling with SigV4.
OPERATOR_IDENTITY: Mapping[str, Any] = MappingProxyType(
    {
        "cognitoIdentityPoolId": None,
        "accountId": "111111111111",
        "cognitoIdentityId": None,
        "caller": "AIDA4XZPU6QWEXAMPLE01",
        "principalOrgId": "o-oooooooooo",
        "sourceIp": "172.31.42.2",
        "accessKey": "AKIA4XZPU6QWEXAMPLE1",
        "cognitoAuthenticationType": None,
        "cognitoAuthenticationProvider": None,
        "userArn": "arn:aws:iam::111111111111:user/operator",
        "userAgent": "python-requests/2.32.3",
        "user": "AIDA4XZPU6QWEXAMPLE01",
        "vpcId": None,
        "vpceId": None,
    }
)


def instance_identity(
    instance_id: str,
    *,
    role_id: str = "AROA4XZPU6QWEXAMPLE02",
    role_name: str = "CloneSquadInstanceRole",
    account_id: str = "111111111111",
) -> dict[str, Any]:
    """``requestContext.identity`` of an EC2 instance calling with its instance role."""
    return {
        **OPERATOR_IDENTITY,
        "accountId": account_id,
        "caller": f"{role_id}:{instance_id}",
        "user": f"{role_id}:{instance_id}",
        "accessKey": "ASIA4XZPU6QWEXAMPLE2",
        "userArn": f"arn:aws:sts::{account_id}:assumed-role/{role_name}/{instance_id}",
    }


@cache
def _template(name: str) -> str:
    return (files("clonesquad_interact.testing") / "events" / f"{name}.json").read_text("utf-8")


def sample_event(name: str) -> dict[str, Any]:
    """A fresh copy of a sample event: ``apigw_rest``, ``apigw_http`` or ``sqs_record``."""
    loaded: dict[str, Any] = json.loads(_template(name))
    return loaded


def _split(path: str, params: Params | None) -> tuple[str, list[tuple[str, str]]]:
    """The operation name (one leading ``/`` removed, nothing else touched) and the query."""
    path, _, query = path.partition("?")
    op = path[1:] if path.startswith("/") else path
    pairs = parse_qsl(query, keep_blank_values=True)
    for key, value in (params or {}).items():
        values = value if isinstance(value, list | tuple) else [value]
        pairs.extend((key, _text(v)) for v in values)
    return op, pairs


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _body(body: Body) -> tuple[str | None, bool]:
    if body is None or isinstance(body, str):
        return body, False
    if isinstance(body, bytes):
        return base64.b64encode(body).decode("ascii"), True
    return json.dumps(body), False


def apigw_rest_event(
    method: str,
    path: str,
    *,
    params: Params | None = None,
    body: Body = None,
    headers: Mapping[str, str] | None = None,
    identity: Mapping[str, Any] | None = OPERATOR_IDENTITY,
    stage: str = "v1",
) -> dict[str, Any]:
    """An API Gateway REST API (payload 1.0) proxy event for ``/`` or ``/{proxy+}``.

    ``path`` is what the caller put after the stage (``/configuration/app.disable?format=yaml``);
    it is not cleaned up, as API Gateway does not clean it up. Bytes bodies are sent
    base64-encoded; mappings and lists as JSON.
    """
    event = sample_event("apigw_rest")
    op, pairs = _split(path, params)
    resource = "/" if op == "" else "/{proxy+}"
    event["resource"] = resource
    event["path"] = f"/{op}"
    event["httpMethod"] = method.upper()
    event["pathParameters"] = None if op == "" else {"proxy": op}
    if pairs:
        multi: dict[str, list[str]] = {}
        for key, value in pairs:
            multi.setdefault(key, []).append(value)
        event["multiValueQueryStringParameters"] = multi
        event["queryStringParameters"] = {key: values[-1] for key, values in multi.items()}
    event["headers"].update(headers or {})
    event["multiValueHeaders"] = {key: [value] for key, value in event["headers"].items()}
    event["body"], event["isBase64Encoded"] = _body(body)
    context = event["requestContext"]
    context.update(
        resourcePath=resource,
        httpMethod=method.upper(),
        path=f"/{stage}/{op}",
        stage=stage,
        requestId=str(uuid.uuid4()),
        requestTimeEpoch=int(time.time() * 1000),
        identity=copy.deepcopy(dict(identity)) if identity is not None else None,
    )
    if identity is None:
        del context["identity"]
    return event


def apigw_http_event(
    method: str,
    path: str,
    *,
    params: Params | None = None,
    body: Body = None,
    headers: Mapping[str, str] | None = None,
    identity: Mapping[str, Any] | None = OPERATOR_IDENTITY,
    stage: str = "v1",
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event for the route ``ANY /{proxy+}``."""
    event = sample_event("apigw_http")
    op, pairs = _split(path, params)
    raw_path = f"/{op}" if stage == "$default" else f"/{stage}/{op}"
    event["rawPath"] = raw_path
    # Text UTF-8 cannot encode is sent as the bytes of its code points, percent-encoded.
    event["rawQueryString"] = urlencode(pairs, errors="surrogatepass")
    if pairs:
        joined: dict[str, str] = {}
        for key, value in pairs:
            joined[key] = f"{joined[key]},{value}" if key in joined else value
        event["queryStringParameters"] = joined
    if op == "":
        event["routeKey"] = event["requestContext"]["routeKey"] = "ANY /"
        del event["pathParameters"]
    else:
        event["pathParameters"] = {"proxy": op}
    event["headers"].update({k.lower(): v for k, v in (headers or {}).items()})
    text, encoded = _body(body)
    if text is not None:
        event["body"] = text
    event["isBase64Encoded"] = encoded
    context = event["requestContext"]
    context["http"].update(method=method.upper(), path=raw_path)
    context.update(stage=stage, requestId=str(uuid.uuid4()), timeEpoch=int(time.time() * 1000))
    if identity is None:
        del context["authorizer"]
    else:
        context["authorizer"]["iam"].update(
            accessKey=identity.get("accessKey"),
            accountId=identity.get("accountId"),
            callerId=identity.get("caller"),
            userArn=identity.get("userArn"),
            userId=identity.get("user"),
        )
    return event


def sqs_record(
    message: Mapping[str, Any] | str,
    *,
    message_id: str | None = None,
    sender_id: str = "AROA4XZPU6QWEXAMPLE02:i-0adc6dab31524a8d1",
    receive_count: int = 1,
) -> dict[str, Any]:
    """One SQS record as Lambda delivers it; a ``str`` message is sent as is (even if not JSON)."""
    record = sample_event("sqs_record")
    body = message if isinstance(message, str) else json.dumps(message)
    now = int(time.time() * 1000)
    record.update(
        messageId=message_id or str(uuid.uuid4()),
        body=body,
        md5OfBody=hashlib.md5(
            body.encode("utf-8", "surrogatepass"), usedforsecurity=False
        ).hexdigest(),
    )
    record["attributes"].update(
        ApproximateReceiveCount=str(receive_count),
        SentTimestamp=str(now),
        SenderId=sender_id,
        ApproximateFirstReceiveTimestamp=str(now + 12),
    )
    return record


def sqs_event(messages: Iterable[Mapping[str, Any] | str]) -> dict[str, Any]:
    """An SQS batch event holding one record per message."""
    return {"Records": [sqs_record(message) for message in messages]}
