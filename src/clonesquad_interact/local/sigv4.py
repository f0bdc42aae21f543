"""Checking AWS Signature Version 4 as API Gateway's ``AWS_IAM`` authorizer does.

A request is accepted when its ``Authorization`` header (``AWS4-HMAC-SHA256
Credential=KEY/DATE/REGION/SERVICE/aws4_request, SignedHeaders=..., Signature=...``)
names a known access key, is scoped to this region and to ``execute-api``, was
signed less than 15 minutes from now, carries the principal's session token
when it has one, and its signature is the one recomputed here from the request
as received (method, path, query, the signed headers, the body's SHA-256) with
the principal's secret key. The principal is what the caller becomes:
``requestContext.identity`` in the event handed to the dispatcher.

A refusal is a :class:`SignatureRefused`: status 403, API Gateway's message and
its ``x-amzn-ErrorType``, answered as ``{"message": "..."}``.

The canonical path is the one botocore's ``SigV4Auth`` computes for services
other than S3 (and awscurl with it): dot segments and repeated ``/`` removed,
then encoded once more (``%`` becomes ``%25``). The canonical query is the one
AWS computes: each name and value percent-decoded (``+`` is a ``+``, as API
Gateway reads it), encoded again as RFC 3986 says (all but ``A-Z a-z 0-9 - _ . ~``),
and the pairs sorted (:func:`canonical_query`). A request whose query was signed
as sent (botocore signing a URL that it does not re-encode) is accepted too, and
one signed with ``+`` read as a space (botocore's ``AWSRequest(params=...)`` sends
a space as ``+``), whose query is then read so. Each form is made from the query
as sent and read as the gateway then reads it, so a signature covers the
parameters that the operation receives, whichever way the client encoded them:
``a:b``, ``a%3Ab`` and ``a%3ab`` are one value, ``%41`` and ``%2541`` are two.
"""

from __future__ import annotations

import datetime
import email.utils
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import quote, unquote, unquote_plus

__all__ = [
    "ALGORITHM",
    "MAX_SKEW",
    "SERVICE",
    "Principal",
    "SignatureRefused",
    "SignedRequest",
    "Verified",
    "canonical_path",
    "canonical_query",
    "query_pairs",
    "verified",
    "verify",
]

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "execute-api"
#: How far the request's date may be from now.
MAX_SKEW = datetime.timedelta(minutes=15)
_AMZ_DATE = "%Y%m%dT%H%M%SZ"

SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service "
    "documentation for details."
)
INVALID_TOKEN = "The security token included in the request is invalid."  # noqa: S105


@dataclass(frozen=True, slots=True)
class Principal:
    """Credentials that the server knows, and who their holder is.

    :param identity: the ``requestContext.identity`` fields of this principal
        (``caller``, ``user``, ``userArn``, ``accountId``, ``accessKey``...);
        ``sourceIp`` and ``userAgent`` are filled in from each request.
    :param session_token: temporary credentials' token, which requests must carry.
    """

    name: str
    access_key: str
    secret_key: str = field(repr=False)
    identity: Mapping[str, Any]
    session_token: str | None = field(default=None, repr=False)


class SignatureRefused(Exception):
    """API Gateway's refusal of a request: a 403 with ``{"message": ...}``."""

    status = 403

    def __init__(self, message: str, error_type: str) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type

    @property
    def body(self) -> dict[str, str]:
        """The answer's body, as API Gateway writes it."""
        return {"message": self.message}


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """An HTTP request as received.

    :param target: the request target as sent (``/v1/configuration?format=yaml``),
        not decoded.
    :param headers: every header line, in order (a name may repeat).
    """

    method: str
    target: str
    headers: Sequence[tuple[str, str]]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The values of header ``name`` joined by ``,`` (as HTTP allows), or ``None``."""
        values = self.header_values(name)
        return ",".join(values) if values else None

    def header_values(self, name: str) -> list[str]:
        """Every value of header ``name``."""
        lowered = name.lower()
        return [value for key, value in self.headers if key.lower() == lowered]


@dataclass(frozen=True, slots=True)
class Verified:
    """A request whose signature holds: who signed it, and how its query reads."""

    principal: Principal
    #: The signature covers the query with ``+`` read as a space (what an HTML form
    #: encoder, and botocore's ``AWSRequest(params=...)``, send for one).
    plus_is_space: bool = False


def verify(
    request: SignedRequest,
    principals: Mapping[str, Principal],
    *,
    region: str,
    service: str = SERVICE,
    now: datetime.datetime | None = None,
) -> Principal:
    """Check ``request``'s signature; return the principal that signed it.

    :param principals: the known principals, by access key id.
    :raises SignatureRefused: with API Gateway's message for what is wrong.
    """
    return verified(request, principals, region=region, service=service, now=now).principal


def verified(
    request: SignedRequest,
    principals: Mapping[str, Principal],
    *,
    region: str,
    service: str = SERVICE,
    now: datetime.datetime | None = None,
) -> Verified:
    """Check ``request``'s signature: who signed it, and how to read its query
    (:func:`query_pairs` with ``plus_is_space``) so as to read what was signed.

    :raises SignatureRefused: with API Gateway's message for what is wrong.
    """
    authorization = request.header("authorization")
    if authorization is None:
        raise SignatureRefused(
            "Missing Authentication Token", "MissingAuthenticationTokenException"
        )
    fields = _authorization_fields(authorization)
    signed_at, date_text = _request_date(request, authorization)
    access_key, scope_date, scope_region, scope_service = _scope(fields["Credential"])
    if scope_date != date_text[:8]:
        raise SignatureRefused(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{scope_date}' != '{date_text[:8]}', from '{date_text}'.",
            "InvalidSignatureException",
        )
    if scope_region != region:
        raise SignatureRefused(
            f"Credential should be scoped to a valid region, not '{scope_region}'. ",
            "InvalidSignatureException",
        )
    if scope_service != service:
        raise SignatureRefused(
            f"Credential should be scoped to correct service: '{service}'. ",
            "InvalidSignatureException",
        )
    principal = principals.get(access_key)
    if principal is None:
        raise SignatureRefused(INVALID_TOKEN, "UnrecognizedClientException")
    _check_date(signed_at, now or datetime.datetime.now(datetime.UTC))
    if not _same_token(request.header("x-amz-security-token"), principal.session_token):
        raise SignatureRefused(INVALID_TOKEN, "UnrecognizedClientException")
    signed_headers = fields["SignedHeaders"].split(";")
    if "host" not in signed_headers:
        raise SignatureRefused(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
            "IncompleteSignatureException",
        )
    payload_hash = hashlib.sha256(request.body).hexdigest()
    claimed = request.header("x-amz-content-sha256")
    if claimed is not None and claimed.strip().lower() != payload_hash:
        raise SignatureRefused(SIGNATURE_MISMATCH, "InvalidSignatureException")
    key = _signing_key(principal.secret_key, scope_date, scope_region, scope_service)
    scope = f"{scope_date}/{scope_region}/{scope_service}/aws4_request"
    path, _, query = request.target.partition("?")
    # (the query's form, whether it reads '+' as a space); the first that matches wins.
    forms = [(canonical_query(query), False), (_query_as_sent(query), False)]
    if "+" in query:
        forms.append((canonical_query(query, plus_is_space=True), True))
    matched: bool | None = None
    for form, plus_is_space in forms:
        canonical = _canonical_request(request, path, form, signed_headers, payload_hash)
        string_to_sign = "\n".join(
            (ALGORITHM, date_text, scope, hashlib.sha256(canonical.encode()).hexdigest())
        )
        signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        if hmac.compare_digest(signature.encode(), fields["Signature"].encode()):
            matched = plus_is_space if matched is None else matched
    if matched is not None:
        return Verified(principal, matched)
    raise SignatureRefused(SIGNATURE_MISMATCH, "InvalidSignatureException")


# -------------------------------------------------------------------------
# The Authorization header and the date
# -------------------------------------------------------------------------

_REQUIRED_FIELDS = ("Credential", "Signature", "SignedHeaders")
#: A signature as SigV4 writes it: a SHA-256 HMAC in lower-case hexadecimal.
_SIGNATURE = re.compile(r"[0-9a-f]{64}")


def _authorization_fields(authorization: str) -> Mapping[str, str]:
    algorithm, _, rest = authorization.strip().partition(" ")
    fields: dict[str, str] = {}
    if algorithm == ALGORITHM:
        for part in rest.split(","):
            name, equals, value = part.strip().partition("=")
            if not equals:
                continue
            if name in fields:
                raise SignatureRefused(
                    f"Authorization header has parameter '{name[:40]}' more than once. "
                    f"Authorization={authorization[:120]}",
                    "IncompleteSignatureException",
                )
            fields[name] = value.strip()
    missing = [name for name in _REQUIRED_FIELDS if not fields.get(name)]
    if algorithm != ALGORITHM or missing:
        required = missing or list(_REQUIRED_FIELDS)
        said = " ".join(f"Authorization header requires '{name}' parameter." for name in required)
        raise SignatureRefused(
            f"{said} Authorization={authorization[:120]}", "IncompleteSignatureException"
        )
    if _SIGNATURE.fullmatch(fields["Signature"]) is None:
        raise SignatureRefused(
            "Authorization header requires 'Signature' to be 64 lower-case hexadecimal "
            f"characters. Authorization={authorization[:120]}",
            "IncompleteSignatureException",
        )
    return MappingProxyType(fields)


def _request_date(request: SignedRequest, authorization: str) -> tuple[datetime.datetime, str]:
    """The signing time (from ``X-Amz-Date``, else ``Date``) and its ISO-8601 basic text."""
    amz_date = request.header("x-amz-date")
    if amz_date is not None:
        try:
            parsed = datetime.datetime.strptime(amz_date.strip(), _AMZ_DATE)
        except ValueError:
            raise SignatureRefused(
                f"Invalid date format in X-Amz-Date: '{amz_date[:40]}' (expected "
                "YYYYMMDD'T'HHMMSS'Z').",
                "IncompleteSignatureException",
            ) from None
        return parsed.replace(tzinfo=datetime.UTC), amz_date.strip()
    date = request.header("date")
    if date is not None:
        try:
            dated: datetime.datetime | None = email.utils.parsedate_to_datetime(date)
        except (TypeError, ValueError):
            dated = None
        if dated is not None and dated.tzinfo is not None:
            dated = dated.astimezone(datetime.UTC)
            return dated, dated.strftime(_AMZ_DATE)
    raise SignatureRefused(
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
        f"header. Authorization={authorization[:120]}",
        "IncompleteSignatureException",
    )


def _scope(credential: str) -> tuple[str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not all(parts):
        raise SignatureRefused(
            f"Credential should be scoped to a valid region, not '{credential[:120]}'. "
            "It is KEY/YYYYMMDD/REGION/SERVICE/aws4_request.",
            "IncompleteSignatureException",
        )
    return parts[0], parts[1], parts[2], parts[3]


def _same_token(given: str | None, expected: str | None) -> bool:
    if given is None or expected is None:
        return given is None and expected is None
    return hmac.compare_digest(given.encode(), expected.encode())


def _check_date(signed_at: datetime.datetime, now: datetime.datetime) -> None:
    def text(moment: datetime.datetime) -> str:
        return moment.astimezone(datetime.UTC).strftime(_AMZ_DATE)

    if signed_at < now - MAX_SKEW:
        raise SignatureRefused(
            f"Signature expired: {text(signed_at)} is now earlier than "
            f"{text(now - MAX_SKEW)} ({text(now)} - 15 min.)",
            "InvalidSignatureException",
        )
    if signed_at > now + MAX_SKEW:
        raise SignatureRefused(
            f"Signature not yet current: {text(signed_at)} is still later than "
            f"{text(now + MAX_SKEW)} ({text(now)} + 15 min.)",
            "InvalidSignatureException",
        )


# -------------------------------------------------------------------------
# The canonical request
# -------------------------------------------------------------------------


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _canonical_headers(request: SignedRequest, signed_headers: Sequence[str]) -> str:
    lines = []
    for name in signed_headers:
        values = request.header_values(name)
        lines.append(f"{name}:{','.join(' '.join(v.split()) for v in values)}\n")
    return "".join(lines)


def _canonical_request(
    request: SignedRequest,
    path: str,
    query: str,
    signed_headers: Sequence[str],
    payload_hash: str,
) -> str:
    return "\n".join(
        (
            request.method.upper(),
            canonical_path(path),
            query,
            _canonical_headers(request, signed_headers),
            ";".join(signed_headers),
            payload_hash,
        )
    )


def canonical_path(path: str) -> str:
    """The path as signed: dot segments and repeated ``/`` removed, encoded once more.

    botocore's ``SigV4Auth._normalize_url_path`` (and AWS's own for non-S3 services).
    """
    return quote(_remove_dot_segments(path or "/") or "/", safe="/~")


def _remove_dot_segments(path: str) -> str:
    kept: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if kept:
                kept.pop()
        elif segment and segment != ".":
            kept.append(segment)
    first = "/" if path.startswith("/") else ""
    last = "/" if path.endswith("/") and kept else ""
    return first + "/".join(kept) + last


def query_pairs(query: str, *, plus_is_space: bool = False) -> list[tuple[str, str]]:
    """The query's ``(name, value)`` pairs decoded as API Gateway decodes them, in the
    order of the canonical query (sorted by encoded name, then value).

    ``%XX`` escapes are decoded (UTF-8, an invalid sequence replaced), ``+`` is kept
    as ``+`` (a space with ``plus_is_space``); a pair without ``=`` has an empty value;
    empty pairs are dropped.
    """
    decode = unquote_plus if plus_is_space else unquote
    pairs = []
    for pair in query.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        pairs.append((decode(name, errors="replace"), decode(value, errors="replace")))
    return sorted(pairs, key=lambda pair: (_encode(pair[0]), _encode(pair[1])))


def canonical_query(query: str, *, plus_is_space: bool = False) -> str:
    """The query as AWS signs it: each name and value decoded, then encoded as RFC 3986
    says (``A-Z a-z 0-9 - _ . ~`` as they are, everything else ``%XX`` in UTF-8), the
    ``name=value`` pairs sorted and joined by ``&``.
    """
    pairs = query_pairs(query, plus_is_space=plus_is_space)
    return "&".join(f"{_encode(name)}={_encode(value)}" for name, value in pairs)


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")


def _query_as_sent(query: str) -> str:
    """The query's ``name=value`` pairs as sent, sorted (botocore's form for a URL)."""
    if not query:
        return ""
    pairs = sorted(pair.partition("=")[::2] for pair in query.split("&"))
    return "&".join(f"{name}={value}" for name, value in pairs)
