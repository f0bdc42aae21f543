"""Regex routes written as OpenAPI path templates.

An exact name ``fleet/status`` is the path ``fleet/status``. A regex route becomes
a templated path where it is literal text and capture groups:
``configuration/(?P<key>.+)`` is ``configuration/{key}`` (an unnamed group is
``{arg1}``, ``{arg2}``...), each parameter carrying the group's pattern. A regex
with anything else outside its groups (an alternation, a quantifier, a class)
cannot be written as a path: :func:`path_template` raises ``ValueError`` saying why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["PathTemplate", "path_template"]

_SPECIALS = frozenset(".^$*+?{}[]|()")
#: Escapes that stand for a class of characters, not for one character.
_CLASS_ESCAPES = frozenset("dDwWsSbBAZ")
#: Characters that a path template cannot hold as literal text.
_NOT_IN_TEMPLATE = frozenset("{}?#")


@dataclass(frozen=True, slots=True)
class PathTemplate:
    """A regex route written as an OpenAPI path: literal text and ``{name}`` parameters."""

    template: str
    #: ``(parameter name, the group's regex)`` in order.
    parameters: tuple[tuple[str, str], ...]


class _NotExpressible(ValueError):
    """The regex is more than literal text and capture groups."""


def path_template(pattern: re.Pattern[str] | str) -> PathTemplate:
    """Write a route as an OpenAPI path template (after ``/v1/``).

    :raises ValueError: the regex cannot be written as a path; the message says why.
    """
    if isinstance(pattern, str):
        if _NOT_IN_TEMPLATE & set(pattern):
            raise _NotExpressible("the name holds a character a path template cannot")
        return PathTemplate(pattern, ())
    if pattern.flags & re.IGNORECASE:
        raise _NotExpressible("the regex ignores case")
    return _parse(pattern.pattern)


def _parse(source: str) -> PathTemplate:
    template: list[str] = []
    parameters: list[tuple[str, str]] = []
    i = 0
    while i < len(source):
        char = source[i]
        if char == "\\":
            if i + 1 >= len(source):
                raise _NotExpressible("the regex ends with a backslash")
            escaped = source[i + 1]
            if escaped.isalnum() or escaped in _CLASS_ESCAPES:
                raise _NotExpressible(f"\\{escaped} outside a group is not literal text")
            char, i = escaped, i + 2
        elif char == "(":
            end = _group_end(source, i)
            name, inner = _group(source[i + 1 : end], len(parameters) + 1)
            if end + 1 < len(source) and source[end + 1] in "*+?{":
                raise _NotExpressible("a group is repeated or optional")
            if any(name == known for known, _ in parameters):
                raise _NotExpressible(f"two groups are named {name!r}")
            parameters.append((name, inner))
            template.append(f"{{{name}}}")
            i = end + 1
            continue
        elif char in _SPECIALS:
            raise _NotExpressible(f"{char!r} outside a group is not literal text")
        else:
            i += 1
        if char in _NOT_IN_TEMPLATE:
            raise _NotExpressible(f"{char!r} cannot be written in a path template")
        template.append(char)
    return PathTemplate("".join(template), tuple(parameters))


def _group_end(source: str, start: int) -> int:
    """The index of the ``)`` closing the group opened at ``start``."""
    depth, i, in_class = 0, start, False
    while i < len(source):
        char = source[i]
        if char == "\\":
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if source[i + 1 : i + 2] == "]":  # "[]...]": a leading ] is literal
                i += 1
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise _NotExpressible("a group is not closed")


def _group(body: str, index: int) -> tuple[str, str]:
    """The parameter name and the regex of a group's body (``?P<name>...`` or ``...``)."""
    named = re.match(r"\?P<([A-Za-z_][A-Za-z0-9_]*)>", body)
    if named:
        name, inner = named.group(1), body[named.end() :]
    elif body.startswith("?"):
        raise _NotExpressible("a group that does not capture")
    else:
        name, inner = f"arg{index}", body
    if re.search(r"(?<!\\)\((?!\?:)", inner):
        raise _NotExpressible("a group holds another capture group")
    return name, inner
