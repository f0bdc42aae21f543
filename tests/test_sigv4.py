"""SigV4 verification as API Gateway does it, against requests signed by botocore."""

from __future__ import annotations

import datetime
from unittest import mock
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from clonesquad_interact.local.sigv4 import (
    Principal,
    SignatureRefused,
    SignedRequest,
    Verified,
    canonical_query,
    query_pairs,
    verified,
    verify,
)

REGION = "eu-west-3"
OPERATOR = Principal(
    name="operator",
    access_key="AKIAEXAMPLEOPERATOR1",
    secret_key="operator-secret",
    identity={"caller": "AIDAEXAMPLEOPERATOR1", "userArn": "arn:aws:iam::123456789012:user/op"},
)
INSTANCE = Principal(
    name="instance",
    access_key="ASIAEXAMPLEINSTANCE1",
    secret_key="instance-secret",
    identity={"caller": "AROAEXAMPLEROLE:i-0123456789abcdef0"},
    session_token="instance-token",
)
PRINCIPALS = {p.access_key: p for p in (OPERATOR, INSTANCE)}


def signed(
    method: str = "GET",
    url: str = "http://127.0.0.1:8080/v1/configuration?format=yaml",
    body: bytes = b"",
    *,
    principal: Principal = OPERATOR,
    region: str = REGION,
    service: str = "execute-api",
    headers: dict[str, str] | None = None,
    when: datetime.datetime | None = None,
) -> SignedRequest:
    """A request signed by botocore's SigV4Auth, as an HTTP server receives it."""
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    credentials = Credentials(principal.access_key, principal.secret_key, principal.session_token)
    auth = SigV4Auth(credentials, service, region)
    if when is None:
        auth.add_auth(request)
    else:  # botocore signs at its clock's time: set the clock
        clock = when.astimezone(datetime.UTC).replace(tzinfo=None)
        with mock.patch("botocore.auth.get_current_datetime", return_value=clock):
            auth.add_auth(request)
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [("Host", parts.netloc), *request.headers.items()]
    return SignedRequest(method=method, target=target, headers=lines, body=body)


def refused(request: SignedRequest, **kwargs) -> SignatureRefused:
    with pytest.raises(SignatureRefused) as caught:
        verify(request, PRINCIPALS, region=REGION, **kwargs)
    assert caught.value.status == 403
    assert set(caught.value.body) == {"message"}
    return caught.value


def replace_header(request: SignedRequest, name: str, value: str) -> SignedRequest:
    lines = [(k, value if k.lower() == name.lower() else v) for k, v in request.headers]
    return SignedRequest(request.method, request.target, lines, request.body)


def test_a_botocore_signature_is_accepted_and_names_its_principal():
    assert verify(signed(), PRINCIPALS, region=REGION) is OPERATOR


def test_temporary_credentials_are_accepted_with_their_session_token():
    request = signed(principal=INSTANCE)
    assert verify(request, PRINCIPALS, region=REGION) is INSTANCE


def test_a_signed_post_body_is_accepted():
    request = signed("POST", "http://127.0.0.1:8080/v1/configuration/app.disable", b"1")
    assert verify(request, PRINCIPALS, region=REGION) is OPERATOR


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/v1/",
        "http://127.0.0.1:8080/v1/Configuration/a%2Fb",
        "http://127.0.0.1:8080/v1/configuration?b=2&a=1&a=0",
        "http://127.0.0.1:8080/v1/x?key=a%20b&empty=",
        "http://localhost:9/v1/fleet//status/../status",
    ],
)
def test_paths_and_queries_are_canonicalized_as_aws_does(url):
    assert verify(signed(url=url), PRINCIPALS, region=REGION) is OPERATOR


def test_a_query_signed_from_botocores_params_is_accepted():
    """botocore encodes ``params`` values (``a+b`` as ``a%2Bb``) and signs them so."""
    request = AWSRequest(
        method="GET", url="http://127.0.0.1:8080/v1/configuration", params={"k": "a+b/c~"}
    )
    SigV4Auth(
        Credentials(OPERATOR.access_key, OPERATOR.secret_key), "execute-api", REGION
    ).add_auth(request)
    prepared = request.prepare()
    parts = urlsplit(prepared.url)
    assert parts.query == "k=a%2Bb%2Fc~"
    lines = [("Host", parts.netloc), *prepared.headers.items()]
    sent = SignedRequest("GET", f"{parts.path}?{parts.query}", lines)
    assert verify(sent, PRINCIPALS, region=REGION) is OPERATOR


@pytest.mark.parametrize(
    ("signed_target", "sent_target"),
    [
        # the query value '%41' sent as 'A'
        ("/v1/configuration?k=%2541", "/v1/configuration?k=%41"),
        ("/v1/configuration?k=%41", "/v1/configuration?k=%2541"),
        ("/v1/configuration?format=%2579aml", "/v1/configuration?format=%79aml"),
        # the path segment 'A' sent as '%41', and the other way
        ("/v1/configuration/%41", "/v1/configuration/%2541"),
        ("/v1/configuration/%2541", "/v1/configuration/%41"),
        ("/v1/configuration/a%2Fb", "/v1/configuration/a%252Fb"),
        ("/v1/configuration/app%252Edisable", "/v1/configuration/app.disable"),
        ("/v1/configuration/app.disable", "/v1/configuration/app%2Edisable"),
    ],
)
def test_a_signature_verifies_one_form_of_the_path_and_query(signed_target, sent_target):
    request = signed(url=f"http://127.0.0.1:8080{signed_target}")
    assert verify(request, PRINCIPALS, region=REGION) is OPERATOR
    replayed = SignedRequest(request.method, sent_target, request.headers, request.body)
    assert "does not match" in refused(replayed).message


@pytest.mark.parametrize(
    ("signed_target", "sent_target"),
    [
        # one value, encoded otherwise: AWS decodes and encodes each name and value again
        ("/v1/configuration?k=a%2Bb", "/v1/configuration?k=a+b"),
        # a space signed, '+' sent: read as a space (botocore's params send it so)
        ("/v1/configuration?k=a%20b", "/v1/configuration?k=a+b"),
        ("/v1/configuration?format=yaml", "/v1/configuration?format=%79aml"),
        (
            "/v1/x?Events=2026-12-01%2019%3A13%3A42.471382%2B00%3A00",
            "/v1/x?Events=2026-12-01%2019:13:42.471382+00:00",
        ),
        ("/v1/x?a=b%3Dc%2Cd", "/v1/x?a=b=c,d"),
        ("/v1/x?a=%3A", "/v1/x?a=%3a"),
        ("/v1/x?b=1&a=2", "/v1/x?a=2&b=1"),
    ],
)
def test_a_signature_covers_the_values_whichever_way_they_are_encoded(signed_target, sent_target):
    request = signed(url=f"http://127.0.0.1:8080{signed_target}")
    sent = SignedRequest(request.method, sent_target, request.headers, request.body)
    assert verify(sent, PRINCIPALS, region=REGION) is OPERATOR


@pytest.mark.parametrize(
    ("query", "canonical"),
    [
        (
            "Events=2026-12-01%2019%3A13%3A42.471382%2B00%3A00",
            "Events=2026-12-01%2019%3A13%3A42.471382%2B00%3A00",
        ),
        (
            "Events=2026-12-01%2019:13:42.471382+00:00",
            "Events=2026-12-01%2019%3A13%3A42.471382%2B00%3A00",
        ),
        ("b=x,y&a=1=2&flag&&c=%7e", "a=1%3D2&b=x%2Cy&c=~&flag="),
        ("k=%c3%a9&k=z&k=A", "k=%C3%A9&k=A&k=z"),
        ("", ""),
    ],
)
def test_the_canonical_query_is_the_one_aws_computes(query, canonical):
    assert canonical_query(query) == canonical


def test_an_unsigned_request_is_missing_its_token():
    request = SignedRequest("GET", "/v1/", [("Host", "127.0.0.1")])
    error = refused(request)
    assert error.message == "Missing Authentication Token"
    assert error.error_type == "MissingAuthenticationTokenException"


def test_a_tampered_body_is_refused():
    request = signed("POST", "http://127.0.0.1:8080/v1/configuration/app.disable", b"1")
    tampered = SignedRequest(request.method, request.target, request.headers, b"0")
    assert "signature we calculated does not match" in refused(tampered).message


def test_a_body_that_does_not_match_its_declared_hash_is_refused():
    request = signed(
        "POST",
        "http://127.0.0.1:8080/v1/configuration/app.disable",
        b"1",
        headers={"X-Amz-Content-SHA256": "0" * 64},
    )
    assert "signature we calculated does not match" in refused(request).message


def test_a_tampered_signed_header_is_refused():
    request = signed(headers={"X-Trace": "one"})
    assert verify(request, PRINCIPALS, region=REGION) is OPERATOR
    error = refused(replace_header(request, "X-Trace", "two"))
    assert error.error_type == "InvalidSignatureException"


def test_a_tampered_path_or_query_is_refused():
    request = signed()
    for target in ("/v1/configuration?format=json", "/v1/scheduler?format=yaml"):
        moved = SignedRequest(request.method, target, request.headers, request.body)
        assert "does not match" in refused(moved).message
    posted = SignedRequest("POST", request.target, request.headers, request.body)
    assert "does not match" in refused(posted).message


def test_a_wrong_secret_is_refused():
    impostor = Principal("x", OPERATOR.access_key, "not-the-secret", OPERATOR.identity)
    assert "does not match" in refused(signed(principal=impostor)).message


def test_an_unknown_access_key_is_refused():
    stranger = Principal("x", "AKIAUNKNOWNKEY000000", "secret", {})
    error = refused(signed(principal=stranger))
    assert error.message == "The security token included in the request is invalid."
    assert error.error_type == "UnrecognizedClientException"


def test_temporary_credentials_without_their_token_are_refused():
    without = Principal("x", INSTANCE.access_key, INSTANCE.secret_key, INSTANCE.identity)
    assert "security token" in refused(signed(principal=without)).message
    wrong = Principal("x", INSTANCE.access_key, INSTANCE.secret_key, {}, session_token="nope")
    assert "security token" in refused(signed(principal=wrong)).message


def test_a_signature_older_than_15_minutes_is_refused():
    now = datetime.datetime(2026, 11, 25, 8, 30, tzinfo=datetime.UTC)
    old = signed(when=now - datetime.timedelta(minutes=16))
    assert refused(old, now=now).message.startswith("Signature expired: 20261125T081400Z")
    recent = signed(when=now - datetime.timedelta(minutes=14))
    assert verify(recent, PRINCIPALS, region=REGION, now=now) is OPERATOR


def test_a_signature_from_the_future_is_refused():
    now = datetime.datetime(2026, 11, 25, 8, 30, tzinfo=datetime.UTC)
    early = signed(when=now + datetime.timedelta(minutes=20))
    assert refused(early, now=now).message.startswith("Signature not yet current")


def test_a_changed_date_header_is_refused():
    request = signed()
    moved = replace_header(request, "X-Amz-Date", "20200101T000000Z")
    assert "Date in Credential scope does not match" in refused(moved).message


def test_a_signature_for_another_region_is_refused():
    assert "valid region" in refused(signed(region="us-east-1")).message


def test_a_signature_for_another_service_is_refused():
    error = refused(signed(service="s3"))
    assert error.message.startswith("Credential should be scoped to correct service: 'execute-api'")


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic b3BlcmF0b3I6c2VjcmV0",
        "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLEOPERATOR1/20261125/eu-west-3/execute-api/"
        "aws4_request",
        "AWS4-HMAC-SHA256",
    ],
)
def test_a_malformed_authorization_header_is_refused(authorization):
    request = SignedRequest(
        "GET", "/v1/", [("Host", "h"), ("Authorization", authorization), ("X-Amz-Date", "x")]
    )
    error = refused(request)
    assert error.error_type == "IncompleteSignatureException"
    assert "Authorization header requires" in error.message


def with_authorization(edit) -> SignedRequest:
    request = signed()
    authorization = request.header("Authorization")
    assert authorization is not None
    return replace_header(request, "Authorization", edit(authorization))


@pytest.mark.parametrize(
    "edit",
    [
        lambda a: a.replace("Signature=", "Signature=\u00e9"),
        lambda a: a.replace("Signature=", "Signature=\u00e9")[:-1],
        lambda a: a[:-1] + "\u0660",  # an Arabic-Indic digit
        lambda a: a[:-1],
        lambda a: a + "0",
        lambda a: a.upper().replace("AWS4-HMAC-SHA256 CREDENTIAL", "AWS4-HMAC-SHA256 Credential"),
        lambda a: a.rsplit("=", 1)[0] + "=" + a.rsplit("=", 1)[1].upper(),
        lambda a: a.rsplit("=", 1)[0] + "=" + "g" * 64,
    ],
)
def test_a_signature_that_is_not_64_lower_case_hex_digits_is_refused(edit):
    error = refused(with_authorization(edit))
    assert error.error_type in ("IncompleteSignatureException", "InvalidSignatureException")


def test_a_non_ascii_signature_is_incomplete():
    error = refused(with_authorization(lambda a: a.replace("Signature=", "Signature=\u00e9")[:-1]))
    assert error.error_type == "IncompleteSignatureException"
    assert "64 lower-case hexadecimal" in error.message


@pytest.mark.parametrize(
    "edit",
    [
        lambda a: a.replace(", ", ",   "),
        lambda a: a.replace(", ", " , "),
        lambda a: a.replace(", ", ","),
        lambda a: a + " ",
        lambda a: a.replace(" ", "  ", 1),
    ],
)
def test_spaces_around_the_authorization_parts_do_not_matter(edit):
    assert verify(with_authorization(edit), PRINCIPALS, region=REGION) is OPERATOR


@pytest.mark.parametrize(
    "edit",
    [
        lambda a: a.replace(" ", "\t", 1),
        lambda a: a + ", Signature=" + "0" * 64,
        lambda a: a + ", SignedHeaders=host",
        lambda a: (
            a + ", Credential=AKIAEXAMPLEOPERATOR1/20261125/eu-west-3/execute-api/aws4_request"
        ),
        lambda a: a.replace("SignedHeaders=", "SignedHeaders=;;"),
        lambda a: a.replace("SignedHeaders=", "SignedHeaders=HOST;"),
        lambda a: a.replace("SignedHeaders=host;x-amz-date", "SignedHeaders=\u00e9;host"),
        lambda a: a.replace("Credential=", "Credential=\u00e9"),
        lambda a: a.replace("/aws4_request", "/aws4_request/"),
        lambda a: a.replace("/eu-west-3/", "//"),
        lambda a: a.replace("Credential=", "Credential"),
        lambda a: a.replace("Signature=", "Signature"),
        lambda a: a.replace(",", ""),
        lambda a: a.replace(",", ";"),
        lambda a: a.split(",")[0],
        lambda a: "AWS4-HMAC-SHA256 " + ",".join(reversed(a.split(" ", 1)[1].split(","))) + "x",
        lambda a: "",
        lambda a: " ",
        lambda a: ",,,",
        lambda a: "AWS4-HMAC-SHA256 ===,=,",
        lambda a: a + "\x00",
    ],
)
def test_odd_authorization_headers_are_refused_never_a_crash(edit):
    refused(with_authorization(edit))


def test_a_bad_credential_scope_is_refused():
    request = signed()
    authorization = request.header("Authorization")
    assert authorization is not None
    broken = authorization.replace("/aws4_request", "/aws5_request")
    error = refused(replace_header(request, "Authorization", broken))
    assert error.error_type == "IncompleteSignatureException"


def test_host_must_be_signed():
    request = signed()
    authorization = request.header("Authorization")
    assert authorization is not None
    unsigned_host = authorization.replace("SignedHeaders=host;", "SignedHeaders=")
    error = refused(replace_header(request, "Authorization", unsigned_host))
    assert "'Host'" in error.message


def test_the_query_is_read_as_it_was_signed():
    plus = signed(url="http://127.0.0.1:8080/v1/x?k=a%2Bb")
    sent = SignedRequest(plus.method, "/v1/x?k=a+b", plus.headers)
    assert verified(sent, PRINCIPALS, region=REGION) == Verified(OPERATOR, plus_is_space=False)
    assert query_pairs("k=a+b") == [("k", "a+b")]
    space = signed(url="http://127.0.0.1:8080/v1/x?k=a%20b")
    sent = SignedRequest(space.method, "/v1/x?k=a+b", space.headers)
    assert verified(sent, PRINCIPALS, region=REGION) == Verified(OPERATOR, plus_is_space=True)
    assert query_pairs("k=a+b", plus_is_space=True) == [("k", "a b")]
