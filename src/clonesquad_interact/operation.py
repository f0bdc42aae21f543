"""What a plugin contributes: :class:`Operation`."""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from typing import Any

from .errors import PluginError
from .pathtemplates import path_template
from .request import Interface, Request

__all__ = ["Body", "CachePolicy", "Handler", "Operation"]

#: An operation's code: it takes the validated :class:`Request` and returns a
#: :class:`~clonesquad_interact.Response` or a value to answer with (status 200).
Handler = Callable[[Request], Any]

METHODS = frozenset({"GET", "POST"})


class Body(enum.StrEnum):
    """What an operation does with the request body."""

    NONE = "none"
    """It takes no body; a non-empty one is a 400."""
    TEXT = "text"
    """It reads ``request.body`` as text; the schema's ``body`` validates the string."""
    DOCUMENT = "document"
    """The body is a JSON or YAML document (per ``format``), parsed into
    ``request.parsed_body`` and validated by the schema's ``body``."""


class CachePolicy(enum.StrEnum):
    """Whether an answer may be served again from a warm container's cache."""

    NONE = "none"
    SHARED = "shared"
    PER_CALLER = "per-caller"


@dataclass(frozen=True, slots=True, eq=False)
class Operation:
    """One operation of the Interact API, as a plugin declares it.

    :param route: a ``str`` is an exact operation name (``"fleet/status"``, ``""`` for
        the root); a compiled :class:`re.Pattern` is a regex that must match the whole
        name (``re.compile("configuration/(.+)")``), its groups reaching the handler as
        ``request.path_args`` / ``request.path_params``.
    :param handler: the code that serves it.
    :param summary: one line, shown in listings.
    :param schema: the JSON Schema (2020-12) of the input ``{"params": ..., "body": ...}``:
        a file (``importlib.resources.files(pkg) / "op.json"`` or a ``Path``) or the
        schema itself as a mapping.
    :param interfaces: where it can be called from.
    :param methods: HTTP methods it answers (``GET``, ``POST``); SQS messages count as ``POST``.
    :param body: what it does with the request body.
    :param cache: whether its answers may be cached.
    :param overrides: set on an operation that replaces another plugin's operation on
        the same route (the overridden one still serves the methods and interfaces
        that the overriding one does not).
    :param description: a longer explanation (Markdown), for generated documentation.

    Operations compare and hash by identity: each one is a registration.
    """

    route: str | re.Pattern[str]
    handler: Handler
    summary: str
    schema: Traversable | Mapping[str, Any]
    #: Kept as a ``frozenset`` of :class:`Interface` (names such as ``"sqs"`` are accepted).
    interfaces: AbstractSet[str] = frozenset({Interface.APIGW, Interface.DIRECT})
    #: Kept as a ``frozenset`` of upper-case names.
    methods: AbstractSet[str] = frozenset({"GET"})
    #: Kept as a :class:`Body` (``"text"`` is accepted for ``Body.TEXT``).
    body: Body | str = Body.NONE
    #: Kept as a :class:`CachePolicy`.
    cache: CachePolicy | str = CachePolicy.NONE
    overrides: bool = False
    description: str = ""
    #: The name of the plugin that contributed it (filled in by the dispatcher).
    plugin: str = field(default="", compare=False)
    #: The route as people write it: the exact name, or the regex's source.
    name: str = field(init=False, repr=False, compare=False)
    #: The route as messages name it: the exact name, or the regex written as an
    #: OpenAPI path template (``hello/{name}``) where it can be, else its source.
    title: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.route, str | re.Pattern):
            raise PluginError(
                f"operation route {self.route!r} must be a str (exact name) "
                "or a compiled re.Pattern (regex)"
            )
        object.__setattr__(
            self, "name", self.route if isinstance(self.route, str) else self.route.pattern
        )
        object.__setattr__(self, "title", _title(self.route))
        if not callable(self.handler):
            raise PluginError(f"operation {self.title!r}: handler {self.handler!r} is not callable")
        if not self.summary.strip() or "\n" in self.summary.strip():
            raise PluginError(f"operation {self.title!r}: summary must be one non-empty line")
        object.__setattr__(self, "interfaces", _interfaces(self.title, self.interfaces))
        object.__setattr__(self, "methods", _methods(self.title, self.methods))
        object.__setattr__(self, "body", Body(self.body))
        object.__setattr__(self, "cache", CachePolicy(self.cache))

    @property
    def is_regex(self) -> bool:
        """Whether the route is a regex."""
        return not isinstance(self.route, str)

    def serves(self, interface: Interface, method: str) -> bool:
        """Whether this operation answers ``method`` on ``interface``."""
        if interface not in self.interfaces:
            return False
        return interface is Interface.SQS or method in self.methods


def _title(route: str | re.Pattern[str]) -> str:
    if isinstance(route, str):
        return route
    try:
        return path_template(route).template
    except ValueError:
        return route.pattern


def _interfaces(name: str, values: Iterable[Interface | str]) -> frozenset[Interface]:
    try:
        interfaces = frozenset(Interface(v) for v in values)
    except ValueError as exc:
        raise PluginError(
            f"operation {name!r}: {exc}; interfaces are {', '.join(i.value for i in Interface)}"
        ) from None
    if not interfaces:
        raise PluginError(f"operation {name!r}: it must be callable from at least one interface")
    return interfaces


def _methods(name: str, values: Iterable[str]) -> frozenset[str]:
    methods = frozenset(m.upper() for m in values)
    unknown = methods - METHODS
    if unknown or not methods:
        raise PluginError(
            f"operation {name!r}: methods must be among {sorted(METHODS)}, got {sorted(methods)}"
        )
    return methods
