"""The one shape every event becomes: :class:`Request`."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["Interface", "Request", "format_word", "freeze", "thaw"]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def format_word(value: Any) -> Any:
    """A ``format`` parameter as it is checked and used: text in lower case
    (CloneSquad compares ``format`` case-insensitively: ``YAML`` is ``yaml``), any
    other value as it is."""
    return value.lower() if type(value) is str else value


class Interface(enum.StrEnum):
    """Where a request came from."""

    APIGW = "apigw"
    """API Gateway (REST payload 1.0 or HTTP API payload 2.0), SigV4-authenticated."""
    SQS = "sqs"
    """A message of the Interact queue: no reply channel."""
    DIRECT = "direct"
    """An in-process call (tests, internal callers, a direct Lambda invocation)."""


_SCALARS = frozenset({str, int, float, bool, type(None)})


def freeze(value: Any) -> Any:
    """Return a read-only copy of a JSON-like value (mappings and lists become immutable)."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict and _SCALARS.issuperset(map(type, value.values())):
        return MappingProxyType(value.copy())  # the common case: a flat JSON object
    if kind is dict or isinstance(value, Mapping):
        return MappingProxyType(
            {k: v if type(v) in _SCALARS else freeze(v) for k, v in value.items()}
        )
    if kind is list or kind is tuple:
        return tuple(v if type(v) in _SCALARS else freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """Return a plain JSON-like copy (``dict``/``list``) of a frozen value."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is MappingProxyType or kind is dict or isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [thaw(v) for v in value]
    return value


def new_request_id() -> str:
    """A fresh request id for requests that arrive without one."""
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class Request:
    """A normalized request, whatever event carried it.

    Normalizers (:mod:`clonesquad_interact.events`) build it; the dispatcher builds
    the request an operation sees, with :attr:`path_args`/:attr:`path_params` from
    routing, :attr:`params`/:attr:`parsed_body` from validation and
    :attr:`deployment`. A request never changes once built. Handlers read it and
    never look at :attr:`raw_event` to route or to parse.
    """

    #: The operation name exactly as the caller sent it (``configuration/app.disable``).
    op: str
    interface: Interface
    #: ``GET`` or ``POST`` (any other method is refused by the router). SQS messages are ``POST``.
    method: str = "GET"
    #: Query-string parameters (``str``; a tuple of ``str`` when repeated), or the SQS
    #: body's fields other than ``OpType``. After validation: coerced to the schema's types.
    params: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    #: The request body as text, or ``None``.
    body: str | None = None
    #: ``requestContext.identity`` (API GW), the sender facts (SQS), or what the caller gave.
    identity: Mapping[str, Any] | None = None
    request_id: str = field(default_factory=new_request_id)
    #: Regex routes: the positional groups, in order.
    path_args: tuple[str, ...] = ()
    #: Regex routes: the named groups.
    path_params: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    #: The body parsed as a document (operations declared with ``body="document"``).
    parsed_body: Any = None
    #: Request headers (API GW), lower-cased names.
    headers: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    #: The event this request came from, for plugins that need an AWS field we do not map.
    raw_event: Any = field(default=None, repr=False, compare=False)
    #: The :class:`~clonesquad_interact.deployment.Deployment` serving the request (its
    #: settings, configuration, tables, clients), set when the request is routed.
    #: Typed ``Any`` here, below the deployment's layer; annotate it where it is used:
    #: ``deployment: Deployment = request.deployment``.
    deployment: Any = field(default=None, repr=False, compare=False)

    @property
    def caller(self) -> str | None:
        """The caller's principal id (``<role-id>:<session>`` for an assumed role), if known."""
        if not self.identity:
            return None
        caller = self.identity.get("caller")
        return caller if isinstance(caller, str) and caller else None

    @property
    def format(self) -> str:
        """The requested output format: ``json`` (default) or ``yaml``, in any case."""
        value = format_word(self.params.get("format"))
        return value if value in ("json", "yaml") else "json"
