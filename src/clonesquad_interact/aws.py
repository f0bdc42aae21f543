"""boto3 clients, created lazily and once per dispatcher (per warm container).

Every client has pinned retries (standard mode) and short timeouts: at most three
attempts of 2 s to connect and 5 s to read. Each attempt (a retry too) of every
client is checked against the request's deadline before it is sent
(:func:`check_time`): none starts later than :data:`ATTEMPT_DEADLINE` into a
request, so that the last one ends, answered or timed out, before
:data:`REQUEST_BUDGET` and the request answers before API Gateway gives up (29 s);
nor past the Lambda context's remaining time less :data:`ANSWER_MARGIN`.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .errors import ServiceUnavailable

__all__ = [
    "ATTEMPT_DEADLINE",
    "AWS",
    "CLIENT_CONFIG",
    "REQUEST_BUDGET",
    "check_time",
    "deadline_of",
]

#: Longest a request may spend before it answers: API Gateway gives up after 29 s.
REQUEST_BUDGET = 27.0
#: Time kept back from the Lambda context's remaining time, to answer and log.
ANSWER_MARGIN = 1.5
#: Connect and read timeouts of one attempt of an AWS call.
CONNECT_TIMEOUT = 2
READ_TIMEOUT = 5
#: The latest an attempt of an AWS call may start: one that starts then ends, at worst
#: timed out, by :data:`REQUEST_BUDGET`.
ATTEMPT_DEADLINE = REQUEST_BUDGET - CONNECT_TIMEOUT - READ_TIMEOUT

#: When (``time.monotonic()``) the request being served must have answered.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "clonesquad_interact_deadline", default=None
)


def deadline_of(context: Any, now: float | None = None) -> float:
    """The time past which a request served under a Lambda ``context`` starts no AWS
    call: :data:`ATTEMPT_DEADLINE` from now, sooner when the context's remaining time
    less :data:`ANSWER_MARGIN` is shorter."""
    now = time.monotonic() if now is None else now
    budget = ATTEMPT_DEADLINE
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        try:
            left = float(remaining()) / 1000 - ANSWER_MARGIN
        except (TypeError, ValueError):
            left = budget
        budget = min(budget, left)
    return now + budget


def set_deadline(deadline: float | None) -> contextvars.Token[float | None]:
    """Set the deadline of the request being served (reset it with the token)."""
    return _DEADLINE.set(deadline)


def reset_deadline(token: contextvars.Token[float | None]) -> None:
    """Undo :func:`set_deadline`."""
    _DEADLINE.reset(token)


def check_time(what: str, needed: float = 0.0) -> None:
    """Refuse to start ``what`` when the request has less than ``needed`` seconds left.

    :raises ServiceUnavailable: the request's time is (nearly) up; nothing of ``what``
        was done.
    """
    deadline = _DEADLINE.get()
    if deadline is not None and time.monotonic() + needed >= deadline:
        raise ServiceUnavailable(
            f"the request ran out of time before it could {what}; nothing of it was done: "
            "send the request again",
            retry_after=1,
        )


#: Keyword arguments of :class:`botocore.config.Config` for every client.
CLIENT_CONFIG: Mapping[str, Any] = MappingProxyType(
    {
        "retries": MappingProxyType({"mode": "standard", "total_max_attempts": 3}),
        "connect_timeout": CONNECT_TIMEOUT,
        "read_timeout": READ_TIMEOUT,
    }
)


class AWS:
    """The boto3 clients an operation uses: ``aws.client("dynamodb")``.

    :param environ: where the region (``AWS_REGION``, ``AWS_DEFAULT_REGION``) and
        an endpoint (``AWS_ENDPOINT_URL_<SERVICE>``, ``AWS_ENDPOINT_URL``) are read.

    Nothing is created until a client is first asked for, so that building a
    dispatcher (and importing the handler) makes no AWS call and reads no
    credentials.
    """

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self._clients: dict[str, Any] = {}
        self._session: Any = None
        self._lock = threading.Lock()

    @property
    def region(self) -> str | None:
        """The region clients are created in."""
        return self._environ.get("AWS_REGION") or self._environ.get("AWS_DEFAULT_REGION")

    def client(self, service: str) -> Any:
        """The client of ``service`` (``"dynamodb"``, ``"s3"``...), created on first use."""
        client = self._clients.get(service)
        if client is None:
            with self._lock:
                client = self._clients.get(service)
                if client is None:
                    client = self._create(service)
                    self._clients[service] = client
        return client

    def credentials(self) -> Any:
        """The credentials the clients sign with (botocore's), or ``None`` when none
        are found."""
        return self._boto3_session().get_credentials()

    def _boto3_session(self) -> Any:
        import boto3.session

        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._session = boto3.session.Session(region_name=self.region)
        return self._session

    def _create(self, service: str) -> Any:
        import boto3.session
        from botocore.config import Config

        if self._session is None:
            self._session = boto3.session.Session(region_name=self.region)
        variable = "AWS_ENDPOINT_URL_" + service.upper().replace("-", "_")
        endpoint = self._environ.get(variable) or self._environ.get("AWS_ENDPOINT_URL") or None
        client = self._session.client(service, endpoint_url=endpoint, config=Config(**_config()))
        client.meta.events.register_first("before-send", _check_attempt, unique_id=_ATTEMPT_HOOK)
        return client


_ATTEMPT_HOOK = "clonesquad-interact-deadline"


def _check_attempt(event_name: str = "", **_: Any) -> None:
    """botocore's ``before-send``: no attempt (a retry neither) past the deadline."""
    deadline = _DEADLINE.get()
    if deadline is not None and time.monotonic() >= deadline:
        call = " ".join(event_name.split(".")[1:3]) or "AWS"
        raise ServiceUnavailable(
            f"the request ran out of time before it could call {call}: send the request again",
            retry_after=1,
        )


def _config() -> dict[str, Any]:
    """A fresh copy of :data:`CLIENT_CONFIG` (botocore keeps and may change what it is given)."""
    return {
        name: dict(value) if isinstance(value, Mapping) else value
        for name, value in CLIENT_CONFIG.items()
    }
