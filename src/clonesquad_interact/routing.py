"""Routing: from an operation name to the :class:`Operation` that serves it.

Routes are compiled once, when the router is built. Exact names are looked up
before regexes; a regex must match the whole name. API Gateway and in-process
names are matched exactly as sent (IAM authorized that exact path); SQS
``OpType`` values are matched regardless of case, and captured values keep
their case everywhere. With lenient names (:data:`LENIENT_SETTING`), an API
Gateway name is first cleaned up as CloneSquad cleans it up
(:meth:`Router.lenient_name`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from types import MappingProxyType
from typing import NamedTuple
from urllib.parse import unquote

import structlog

from .errors import MethodNotAllowed, NotFound, PluginError, excerpt
from .operation import Operation
from .request import Interface

__all__ = ["LENIENT_SETTING", "Match", "Router", "non_canonical"]

logger = structlog.get_logger(__name__)

_INTERFACE_NAMES: Mapping[str, str] = MappingProxyType(
    {
        Interface.APIGW: "API Gateway",
        Interface.SQS: "the SQS queue",
        Interface.DIRECT: "an in-process call",
    }
)
_REGEX_SPECIALS = frozenset(".^$*+?{}[]\\|()")
_NO_GROUPS: Mapping[str, str] = MappingProxyType({})
#: How many regex matches a router remembers (all are forgotten when it is full).
_MATCHED_LIMIT = 256
#: The setting under which API Gateway names are matched as CloneSquad matches them.
LENIENT_SETTING = "CLONESQUAD_INTERACT_LENIENT_NAMES"


def non_canonical(name: str) -> bool:
    """Whether ``name`` has an empty, ``.`` or ``..`` segment, or an escaped slash (``%2F``).

    Such a name is not one API Gateway routes to an operation as it is, and is
    never cleaned up into one. A segment is what lies between slashes, whatever it
    holds (``"keys/\\n"`` has the segments ``keys`` and a newline).
    """
    wrapped = f"/{name}/"
    return (
        "//" in wrapped or "/./" in wrapped or "/../" in wrapped or "%2f" in name or "%2F" in name
    )


class Match(NamedTuple):
    """The operation a name routes to, with the values its regex captured."""

    operation: Operation
    #: The positional groups, in order (a group that matched nothing is ``""``).
    args: tuple[str, ...] = ()
    #: The named groups.
    kwargs: Mapping[str, str] = _NO_GROUPS


#: ``Match`` from a tuple of its three fields, without the Python ``__new__``.
_match = partial(tuple.__new__, Match)


@dataclass(slots=True)
class _Route:
    """All operations registered on one route, overriding ones first."""

    operations: list[Operation]
    pattern: re.Pattern[str] | None = None
    folded_pattern: re.Pattern[str] | None = None
    literal_prefix: str = ""
    #: Exact routes: each operation's match, made once (it captures nothing).
    matches: dict[Operation, Match] = field(default_factory=dict)

    def add(self, operation: Operation) -> None:
        for other in self.operations:
            if _overlap(operation, other) and operation.overrides == other.overrides:
                raise PluginError(_conflict_message(operation, other))
        self.operations.append(operation)
        self.operations.sort(key=lambda op: not op.overrides)
        if self.pattern is None:
            self.matches[operation] = Match(operation)


class Router:
    """Routes names to operations; built once per dispatcher.

    :raises PluginError: when two operations claim the same route for a common
        method and interface and neither (or both) declares ``overrides``.
    """

    def __init__(self, operations: Iterable[Operation], *, lenient: bool = False) -> None:
        #: Whether :meth:`lenient_name` is in use (the 404 of a variant says so).
        self.lenient = lenient
        self._exact: dict[str, _Route] = {}
        self._folded: dict[str, _Route] = {}
        self._regexes: dict[tuple[str, int], _Route] = {}
        self._all: list[Operation] = []
        for operation in operations:
            self._add(operation)
        self._check_sqs_case_collisions()
        if lenient:
            self._check_case_collisions()
        self._regex_routes = tuple(self._regexes.values())
        #: Regex routes: the names matched lately (name, interface, method) and their
        #: match. Names repeat (instances poll the same keys); routes never change.
        self._matched: dict[tuple[str, Interface, str], Match] = {}
        for route in [*self._exact.values(), *self._regex_routes]:
            for operation in route.operations:
                if operation.overrides and len(route.operations) == 1:
                    logger.warning(
                        "an operation overrides nothing",
                        operation=operation.title,
                        plugin=operation.plugin,
                        hint="the plugin it overrides may be blocked or not installed",
                    )

    @property
    def operations(self) -> tuple[Operation, ...]:
        """Every operation, in registration order."""
        return tuple(self._all)

    def _add(self, operation: Operation) -> None:
        route = operation.route
        if isinstance(route, str):
            self._exact.setdefault(route, _Route([])).add(operation)
        else:
            key = (route.pattern, route.flags)
            if key not in self._regexes:
                self._regexes[key] = _Route(
                    [],
                    pattern=route,
                    folded_pattern=re.compile(route.pattern, route.flags | re.IGNORECASE),
                    literal_prefix=_literal_prefix(route.pattern),
                )
            self._regexes[key].add(operation)
        self._all.append(operation)

    def _check_sqs_case_collisions(self) -> None:
        for name, route in self._exact.items():
            if not any(Interface.SQS in op.interfaces for op in route.operations):
                continue
            other = self._folded.setdefault(name.casefold(), route)
            if other is not route:
                raise PluginError(
                    f"operations {other.operations[0].name!r} ({other.operations[0].plugin}) and "
                    f"{name!r} ({route.operations[0].plugin}) differ only by case, and SQS "
                    "operation names are matched regardless of case: rename one of them"
                )
        for name, route in self._exact.items():
            self._folded.setdefault(name.casefold(), route)

    def _check_case_collisions(self) -> None:
        seen: dict[str, str] = {}
        for name in self._exact:
            other = seen.setdefault(name.casefold(), name)
            if other != name:
                raise PluginError(
                    f"operations {other!r} and {name!r} differ only by case, and "
                    f"{LENIENT_SETTING} matches API Gateway names regardless of case: "
                    "rename one of them, or leave the setting off"
                )

    def resolve(self, name: str, interface: Interface, method: str) -> Match:
        """Find the operation that serves ``method`` on ``interface`` for ``name``.

        :raises NotFound: no route has this name (the message names the likely
            intended operation when the name is a variant of one).
        :raises MethodNotAllowed: a route has this name but does not serve this
            method or interface (with ``Allow`` for API Gateway).
        """
        folded = interface is Interface.SQS
        route = self._folded.get(name.casefold()) if folded else self._exact.get(name)
        if route is not None:
            for operation in route.operations:
                if operation.serves(interface, method):
                    return route.matches[operation]
            raise _not_allowed(name, route, interface, method)
        key = (name, interface, method)
        match = self._matched.get(key)
        if match is not None:
            return match
        if not folded and name and non_canonical(name):
            # Even where a loose regex would take it: '//', '.', '..' and '%2F' are not
            # cleaned up, and a name holding them is not one that routes anywhere.
            raise NotFound(self._not_found_message(name, interface))
        refusing: _Route | None = None
        for route in self._regex_routes:
            pattern = route.folded_pattern if folded else route.pattern
            assert pattern is not None
            found = pattern.fullmatch(name)
            if found is None:
                continue
            for operation in route.operations:
                if operation.serves(interface, method):
                    kwargs = (
                        MappingProxyType(found.groupdict("")) if pattern.groupindex else _NO_GROUPS
                    )
                    match = _match((operation, found.groups(""), kwargs))
                    if len(self._matched) >= _MATCHED_LIMIT:
                        self._matched.clear()
                    self._matched[key] = match
                    return match
            refusing = refusing or route
        if refusing is not None:
            raise _not_allowed(name, refusing, interface, method)
        raise NotFound(self._not_found_message(name, interface))

    def routed_name(self, name: str, match: Match) -> str:
        """The name ``match`` routed ``name`` by: an exact route's own name, or a regex
        route's literal start as the route writes it, then the rest of ``name`` as sent
        (captured values keep their case). It differs from ``name`` only for names
        matched regardless of case (SQS ``OpType`` values)."""
        route = match.operation.route
        if isinstance(route, str):
            return route
        prefix = _literal_prefix(route.pattern)
        if name[: len(prefix)].casefold() == prefix.casefold():
            return prefix + name[len(prefix) :]
        return name

    def lenient_name(self, name: str) -> str | None:
        """The name ``name`` routes as when names are matched as CloneSquad matches them,
        ``None`` when it routes nowhere so.

        Empty segments (``//``, a leading or trailing ``/``) are dropped, then the name
        is percent-decoded, then matched regardless of case: an exact route answers with
        its own name, a regex route with its literal start as the route writes it and
        the rest as sent (so captured values keep their case), which the route's regex
        must then match as it is. A name still holding an empty, ``.`` or ``..``
        segment after decoding routes nowhere.
        """
        cleaned = unquote("/".join(segment for segment in name.split("/") if segment))
        if cleaned and non_canonical(cleaned):
            return None
        route = self._folded.get(cleaned.casefold())
        if route is not None:
            own = route.operations[0].route
            return own if isinstance(own, str) else None
        for route in self._regex_routes:
            assert route.folded_pattern is not None
            assert route.pattern is not None
            if not route.folded_pattern.fullmatch(cleaned):
                continue
            prefix = route.literal_prefix
            if cleaned[: len(prefix)].lower() != prefix.lower():
                continue
            candidate = prefix + cleaned[len(prefix) :]
            if route.pattern.fullmatch(candidate):
                return candidate
        return None

    def canonical_name(self, name: str) -> str | None:
        """The operation name that ``name`` is a variant of (case, ``//``, dots, %-escapes)."""
        segments: list[str] = []
        for segment in unquote(name).split("/"):
            if segment in ("", "."):
                continue
            if segment == "..":
                if segments:
                    segments.pop()
                continue
            segments.append(segment)
        candidate = "/".join(segments)
        route = self._folded.get(candidate.casefold())
        if route is not None:
            return route.operations[0].name
        for route in self._regex_routes:
            assert route.folded_pattern is not None
            if route.folded_pattern.fullmatch(candidate):
                prefix = route.literal_prefix
                return prefix + candidate[len(prefix) :]
        return None

    def _not_found_message(self, name: str, interface: Interface) -> str:
        message = f"no operation is named {excerpt(name)}"
        canonical = self.canonical_name(name)
        if canonical is not None and canonical != name:
            message += f"; did you mean {excerpt(canonical)}?"
            if interface is not Interface.SQS:
                message += (
                    " Operation names are taken exactly as sent (case, '//', '.', '..' and "
                    "%-escapes are not cleaned up) so that they run what IAM authorized"
                )
                if not self.lenient and interface is Interface.APIGW:
                    lenient = self.lenient_name(name)
                    if lenient is not None:
                        message += (
                            f"; the setting {LENIENT_SETTING}=true accepts this spelling as "
                            f"{excerpt(lenient)} (read the README first: it matters to IAM)"
                        )
        else:
            message += " (GET / lists the operations)"
        return message


def _overlap(one: Operation, other: Operation) -> bool:
    interfaces = one.interfaces & other.interfaces
    if not interfaces:
        return False
    return Interface.SQS in interfaces or bool(one.methods & other.methods)


def _conflict_message(operation: Operation, other: Operation) -> str:
    both = "both declare" if operation.overrides else "neither declares"
    return (
        f"plugins {other.plugin or '?'!r} and {operation.plugin or '?'!r} both register "
        f"operation {operation.title!r} for the same method and interface, and {both} "
        "overrides=True: block one of the plugins, or mark the one that should win "
        "with overrides=True"
    )


def _not_allowed(name: str, route: _Route, interface: Interface, method: str) -> MethodNotAllowed:
    where = _INTERFACE_NAMES[interface]
    serving = [op for op in route.operations if interface in op.interfaces]
    if not serving:
        elsewhere = sorted({_INTERFACE_NAMES[i] for op in route.operations for i in op.interfaces})
        return MethodNotAllowed(
            f"operation {excerpt(name)} cannot be called through {where}; "
            f"it is called through {' or '.join(elsewhere)}",
            headers={"Allow": ""} if interface is Interface.APIGW else None,
        )
    allowed = sorted({m for op in serving for m in op.methods})
    shown = method if method.isascii() and method.isalpha() and len(method) <= 16 else None
    shown = shown or excerpt(method, 40)
    return MethodNotAllowed(
        f"operation {excerpt(name)} does not answer {shown} through {where}; "
        f"it answers {', '.join(allowed)}",
        headers={"Allow": ", ".join(allowed)} if interface is Interface.APIGW else None,
    )


def _literal_prefix(pattern: str) -> str:
    """The text every match of ``pattern`` starts with (``a/`` for ``a/(.*)``)."""
    prefix: list[str] = []
    for char in pattern:
        if char in _REGEX_SPECIALS:
            if char in "?*{" and prefix:
                prefix.pop()  # the previous character is optional or repeated
            break
        prefix.append(char)
    return "".join(prefix)
