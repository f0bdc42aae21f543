"""The error hierarchy.

Every error that a caller can cause, or that an operation wants to report, is an
:class:`InteractError` with an HTTP status. The dispatcher turns them into
responses in exactly one place (:func:`clonesquad_interact.rendering.error_response`);
anything else that escapes an operation is an unexpected failure (500).

Start-up problems (a broken plugin, two plugins claiming one route, an invalid
schema) are :class:`PluginError`: they stop the dispatcher from being built.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

__all__ = [
    "AWSCallRefused",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "InteractError",
    "InternalError",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "PluginError",
    "ScheduledEventFailed",
    "ServiceUnavailable",
    "TooManyRequests",
    "ValidationFailed",
    "aws_error_name",
    "excerpt",
    "from_aws",
    "logged_name",
]


#: Characters of what the caller sent that an error message quotes, at most.
EXCERPT_LENGTH = 60


def excerpt(text: object, limit: int = EXCERPT_LENGTH) -> str:
    """A short, quoted and escaped excerpt of ``text`` for an error message.

    Text longer than ``limit`` is cut (its length said); characters that cannot be
    printed or sent as UTF-8 (a lone surrogate) are written as escapes.
    """
    if not isinstance(text, str):  # a value of another type, as Python writes it
        written = repr(text)
        return written if len(written) <= limit else f"{written[:limit]}..."
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


#: Characters of an operation name that a log line holds, at most.
LOGGED_NAME_LENGTH = 256


def logged_name(name: str) -> str:
    """An operation name as a log line holds it: whole, or its start and its length
    when it is longer than :data:`LOGGED_NAME_LENGTH` (a name is not bounded by the
    direct interface, and a log line should be)."""
    if len(name) <= LOGGED_NAME_LENGTH:
        return name
    return f"{name[:LOGGED_NAME_LENGTH]}... ({len(name)} characters)"


def unencodable(text: str) -> bool:
    """Whether UTF-8 cannot encode ``text`` (it holds a lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class InteractError(Exception):
    """An error with an HTTP status, a message for the caller, and details.

    :param message: one sentence that says what was wrong and how to fix it.
    :param details: a JSON-able list of specifics (for example each schema problem).
    :param headers: extra response headers (``Allow``, ``Retry-After``...).
    """

    status: ClassVar[int] = 500
    #: The ``type`` field of the error body.
    kind: ClassVar[str] = "InternalError"

    def __init__(
        self,
        message: str,
        *,
        details: Sequence[Any] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = list(details)
        self.headers = dict(headers or {})

    @property
    def retryable(self) -> bool:
        """Whether trying again later may succeed (server-side trouble, throttling, or a
        concurrent writer)."""
        return self.status >= 500 or self.status in (409, 429)


class BadRequest(InteractError):
    """The request itself is malformed (event, body, parameter, message)."""

    status = 400
    kind = "BadRequest"


class ValidationFailed(BadRequest):
    """The request's input does not match the operation's schema."""

    kind = "ValidationFailed"


class Forbidden(InteractError):
    """The caller may not run this operation."""

    status = 403
    kind = "Forbidden"


class NotFound(InteractError):
    """No such operation, or no such thing for the operation to act on."""

    status = 404
    kind = "NotFound"


class MethodNotAllowed(InteractError):
    """The operation exists but not for this method or interface."""

    status = 405
    kind = "MethodNotAllowed"


class Conflict(InteractError):
    """Another writer changed what the request was about to write; sending it again works."""

    status = 409
    kind = "Conflict"


class PayloadTooLarge(InteractError):
    """The body holds more than one request may write; it must be split."""

    status = 413
    kind = "PayloadTooLarge"


class TooManyRequests(InteractError):
    """Throttled: the caller, or an AWS service behind us, asked us to slow down."""

    status = 429
    kind = "TooManyRequests"


class InternalError(InteractError):
    """Something failed on our side; the log has the details."""

    status = 500
    kind = "InternalError"


class AWSCallRefused(InternalError):
    """AWS refused a call for good (access denied, a request it finds invalid, a missing
    resource): trying again cannot succeed until the deployment is fixed.

    A 500 to an API Gateway caller; an SQS message that meets it is recorded whole as
    failed, not sent back to the queue.
    """

    kind = "AWSCallRefused"

    @property
    def retryable(self) -> bool:
        return False


class ServiceUnavailable(InteractError):
    """The data or a service the operation needs cannot be had right now."""

    status = 503
    kind = "ServiceUnavailable"

    def __init__(
        self,
        message: str,
        *,
        retry_after: int = 30,
        details: Sequence[Any] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        merged = {"Retry-After": str(retry_after), **(headers or {})}
        super().__init__(message, details=details, headers=merged)


class ScheduledEventFailed(Exception):
    """Actions of a scheduled event failed in a way worth trying again: raised so that
    Lambda retries the asynchronous invocation."""


class PluginError(Exception):
    """A plugin cannot be loaded or its contributions contradict another's.

    Raised while a :class:`~clonesquad_interact.Dispatcher` is built (and, for a schema
    checked on first use, when its operation first runs: answered as a 500).
    """


#: AWS error codes that mean "slow down": the request is worth trying again later.
_THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "SlowDown",
        "LimitExceededException",
        "TransactionInProgressException",
    }
)

#: AWS error codes of a service in trouble (its 5xx) or too slow: worth trying again later.
_UNAVAILABLE_CODES = frozenset(
    {
        "InternalServerError",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "Unavailable",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)

#: AWS error codes that say the function's role may not make the call.
_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
    }
)


def aws_error_code(exc: BaseException) -> str | None:
    """The error code of a botocore ``ClientError`` (``None`` for anything else)."""
    response = getattr(exc, "response", None)
    if not type(exc).__module__.startswith("botocore") or not isinstance(response, Mapping):
        return None
    error = response.get("Error")
    code = error.get("Code") if isinstance(error, Mapping) else None
    return code if isinstance(code, str) else ""


#: The error name of an AWS answer without an error code (a body-less S3 refusal), by
#: its HTTP status.
_STATUS_NAMES = {403: "AccessDenied", 404: "NotFound"}


def _is_botocore(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("botocore")


def aws_error_name(exc: BaseException) -> str:
    """The name of an AWS failure that an answer may hold (never AWS's message text).

    The service's error code; for an answer that has none (S3 refuses some requests with
    a status and no body), ``AccessDenied`` for a 403, ``NotFound`` for a 404, else
    ``HTTP <status>``; for a call that got no answer (a timeout, a connection that could
    not be made), the botocore exception's class name.
    """
    code = aws_error_code(exc)
    if code is None:
        return type(exc).__name__
    if code and not code.isdigit():
        return code
    response = getattr(exc, "response", None)
    metadata = response.get("ResponseMetadata") if isinstance(response, Mapping) else None
    status = metadata.get("HTTPStatusCode") if isinstance(metadata, Mapping) else None
    if not isinstance(status, int) and code.isdigit():
        status = int(code)
    if isinstance(status, int):
        return _STATUS_NAMES.get(status, f"HTTP {status}")
    return "unknown"


def from_aws(exc: BaseException) -> InteractError | None:
    """The error to answer for an exception from boto3 (``None``: not an AWS error).

    Every AWS failure is classified here, once:

    * throttling, a service's own 5xx (``InternalServerError``, ``ServiceUnavailable``...),
      a timeout or a service that cannot be reached (botocore's connection and HTTP
      errors, which carry no AWS answer): 503 with ``Retry-After``;
    * anything else AWS answers (access denied, a request AWS refuses as invalid, a
      missing resource): a permanent failure, :class:`AWSCallRefused` (500), that names
      the service's error code only.

    An operation that has a more helpful message of its own (which setting to fix)
    keeps the class decided here: it asks :attr:`InteractError.retryable` of the result,
    and names the failure with :func:`aws_error_name`.

    The answer never holds AWS's message text: the log has the exception.
    """
    if not _is_botocore(exc):
        return None
    from botocore.exceptions import (
        ClientError,
        ConnectionError,
        HTTPClientError,
        ReadTimeoutError,
    )

    if isinstance(exc, ClientError):
        code = aws_error_name(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in _THROTTLING_CODES:
            return ServiceUnavailable(f"AWS is throttling requests ({code}); try again shortly")
        if code in _UNAVAILABLE_CODES or (isinstance(status, int) and status >= 500):
            return ServiceUnavailable(
                f"an AWS service is unavailable for now ({code}); try again shortly"
            )
        operation = getattr(exc, "operation_name", None) or "a call"
        if code in _DENIED_CODES:
            return AWSCallRefused(
                f"the function may not make the AWS call {operation} ({code}): its role "
                "must allow it; the log has the details"
            )
        return AWSCallRefused(f"AWS refused the call {operation} ({code}); the log has the details")
    if isinstance(exc, ConnectionError | HTTPClientError | ReadTimeoutError):
        return ServiceUnavailable(
            f"an AWS service could not be reached in time ({type(exc).__name__}); try again shortly"
        )
    return None
