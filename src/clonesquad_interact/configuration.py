"""Configuration keys that plugins declare (:class:`ConfigurationKey`), the formats
of their values, and durations (``3600``, ``minutes=30,hours=1``)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .errors import PluginError
from .metastrings import join_list, parse_meta_string

__all__ = [
    "FORMATS",
    "OVERRIDE_PREFIX",
    "ConfigurationKey",
    "base_key",
    "check_value",
    "nest_parameter_sets",
    "parameter_set_item",
    "parse_duration",
    "stored_text",
    "to_text",
]

#: The prefix of an entry that wins over every other occurrence of its key.
OVERRIDE_PREFIX = "override:"
#: A Configuration table item of a parameter set: ``[<set name>]<key>``.
_SET_ITEM = re.compile(r"\[([^\]]+)\](.*)", re.DOTALL)


def parameter_set_item(name: str) -> tuple[str, str] | None:
    """``(set name, key)`` of a parameter-set item name (``[night]app.disable``), or
    ``None`` for any other name (``[]x`` is not one: a set name has a character)."""
    match = _SET_ITEM.fullmatch(name)
    return (match[1], match[2]) if match else None


def nest_parameter_sets(values: Mapping[str, Any]) -> dict[str, Any]:
    """A table's items as CloneSquad's documents hold them, sorted: ``[<set>]<key>``
    items under their set. A set whose name is also a plain key stays as flat
    ``[<set>]<key>`` items (which an import reads back as the same items)."""
    plain = {name: value for name, value in values.items() if parameter_set_item(name) is None}
    nested: dict[str, Any] = dict(plain)
    for name, value in values.items():
        member = parameter_set_item(name)
        if member is None:
            continue
        if member[0] in plain:
            nested[name] = value
        else:
            nested.setdefault(member[0], {})[member[1]] = value
    return {name: nested[name] for name in sorted(nested)}


def base_key(name: str) -> str:
    """The key whose declaration applies to an entry name: ``override:K``,
    ``[set]K`` and ``K`` all take the format of ``K``."""
    item = parameter_set_item(name)
    if item is not None:
        name = item[1]
    return name.removeprefix(OVERRIDE_PREFIX)


#: The ``IntegerOrPercentage`` word for "no value: let the fleet management decide".
UNDEFINED = "undefined"

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})

#: Seconds in each unit, named as Python's ``timedelta`` keywords (without the plural ``s``),
#: which is how CloneSquad reads a duration.
_DURATION_UNITS = MappingProxyType(
    {
        "microsecond": 0.000001,
        "millisecond": 0.001,
        "second": 1,
        "minute": 60,
        "hour": 3600,
        "day": 86400,
        "week": 604800,
    }
)
_UNIT_NAMES = "weeks, days, hours, minutes, seconds, milliseconds, microseconds"
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def parse_duration(text: str) -> float:
    """Seconds in a duration written as seconds (``"3600"``) or as comma-separated
    ``unit=number`` parts (``"minutes=30,hours=1"``; units the keywords of Python's
    ``timedelta``: ``weeks``, ``days``, ``hours``, ``minutes``, ``seconds``,
    ``milliseconds``, ``microseconds``, singular or plural).

    :raises ValueError: with a message saying what is wrong and what is expected.
    """
    text = text.strip()
    if _NUMBER.fullmatch(text):
        return float(text)
    if not text:
        raise ValueError("a duration cannot be empty")
    total = 0.0
    seen: set[str] = set()
    for part in text.split(","):
        unit, sep, number = (piece.strip() for piece in part.partition("="))
        singular = unit.lower().removesuffix("s")
        if not sep or singular not in _DURATION_UNITS or not _NUMBER.fullmatch(number):
            raise ValueError(
                f"{part.strip()!r} is not a duration part: write seconds (3600) or "
                f"unit=number parts such as minutes=30,hours=1 (units: {_UNIT_NAMES})"
            )
        if singular in seen:
            raise ValueError(f"the duration {text!r} gives {unit!r} twice")
        seen.add(singular)
        total += float(number) * _DURATION_UNITS[singular]
    return total


def _bool(text: str) -> None:
    if text.strip().lower() not in _TRUE | _FALSE:
        raise ValueError("expected a boolean: 1, 0, true, false, yes, no, on or off")


def _integer(text: str) -> None:
    try:
        int(text.strip())
    except ValueError:
        raise ValueError("expected an integer") from None


def _positive_integer(text: str) -> None:
    try:
        number = int(text.strip())
    except ValueError:
        raise ValueError("expected a whole number, 0 or more") from None
    if number < 0:
        raise ValueError("expected a whole number, 0 or more")


def _integer_or_percentage(text: str) -> None:
    stripped = text.strip()
    if stripped == UNDEFINED:
        return
    try:
        int(stripped.removesuffix("%"))
    except ValueError:
        raise ValueError("expected an integer or a percentage such as 50%") from None


def _positive_integer_or_percentage(text: str) -> None:
    stripped = text.strip()
    try:
        number = int(stripped.removesuffix("%"))
    except ValueError:
        raise ValueError(
            "expected a whole number, 0 or more, or a percentage such as 50%"
        ) from None
    if number < 0:
        raise ValueError("expected a whole number, 0 or more, or a percentage such as 50%")


def _float(text: str) -> None:
    try:
        number = float(text.strip())
    except ValueError:
        raise ValueError("expected a number") from None
    if not math.isfinite(number):
        raise ValueError("expected a finite number")


#: A duration CloneSquad's main function reads: whole seconds, or ``name=number``
#: parts joined by ``,`` with no spaces, names as Python's ``timedelta`` takes them.
_STORED_DURATION = re.compile(
    r"[+-]?[0-9][0-9_]*|(?:(?:weeks|days|hours|minutes|seconds|milliseconds|microseconds)"
    r"=[0-9]+(?:\.[0-9]+)?)(?:,(?:weeks|days|hours|minutes|seconds|milliseconds|microseconds)"
    r"=[0-9]+(?:\.[0-9]+)?)*"
)


def _duration(text: str) -> None:
    parse_duration(text)
    if not _STORED_DURATION.fullmatch(text.strip()):
        raise ValueError(
            "write whole seconds (3600) or plural unit=number parts joined by ',' with no "
            "spaces, such as minutes=30,hours=1 (CloneSquad reads no other form)"
        )


def _any(text: str) -> None:
    return None


def _meta_string(text: str) -> None:
    if not parse_meta_string(text):
        raise ValueError(
            "expected records separated by ';', each a leading text then ,key=value "
            "options (write \\; \\, or \\= for a literal ; , or =)"
        )


#: Value formats, each with its check (raises :class:`ValueError` with the reason).
FORMATS: Mapping[str, Callable[[str], None]] = MappingProxyType(
    {
        "Bool": _bool,
        "Duration": _duration,
        "Float": _float,
        "Integer": _integer,
        "IntegerOrPercentage": _integer_or_percentage,
        "MetaString": _meta_string,
        "MetaStringList": _meta_string,
        "PositiveInteger": _positive_integer,
        "PositiveIntegerOrPercentage": _positive_integer_or_percentage,
        "String": _any,
        "StringList": _any,
    }
)

_LIST_FORMATS = frozenset({"StringList", "MetaStringList"})


def check_value(fmt: str, text: str) -> str | None:
    """Why ``text`` is not a value of format ``fmt``, or ``None`` when it is.

    The empty string is always accepted: it means "no value".
    """
    if text == "":
        return None
    try:
        FORMATS[fmt](text)
    except ValueError as exc:
        return str(exc)
    return None


def stored_text(fmt: str | None, text: str) -> str:
    """``text``, a valid value of format ``fmt``, as it is written to a table: a
    ``Bool`` as ``1``/``0`` (CloneSquad's main function reads a ``Bool`` as an integer,
    so ``true`` would not read), any other value as it is."""
    if fmt == "Bool" and text:
        word = text.strip().lower()
        if word in _TRUE:
            return "1"
        if word in _FALSE:
            return "0"
    return text


def to_text(value: Any, fmt: str | None = None) -> str:
    """A value from a JSON or YAML document as the text stored in a table.

    Strings are kept; numbers are written out (``3``, ``0.5``) and booleans as
    ``1``/``0`` (what CloneSquad's main function reads back as a ``Bool``); ``null``
    is ``""`` (no value); a list of scalars is accepted for a ``StringList`` key and
    joined with ``;``.

    :raises ValueError: a mapping, a list for another format, or a nested list.
    """
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        if fmt not in _LIST_FORMATS:
            raise ValueError("a list is accepted only for a StringList key; write text instead")
        return join_list([to_text(item, "String") for item in value])
    kind = "a mapping" if isinstance(value, Mapping) else type(value).__name__
    raise ValueError(f"expected text, a number or a boolean, not {kind}")


@dataclass(frozen=True, slots=True)
class ConfigurationKey:
    """A configuration key, declared by the code that reads it.

    :param key: the key's name (``ec2.schedule.min_instance_count``); case is kept.
    :param default: the value when no layer sets it, as text (``""`` for none).
    :param format: how values are written, and checked on write, one of
        :data:`FORMATS`: ``Bool``, ``Integer``, ``PositiveInteger``,
        ``IntegerOrPercentage``, ``PositiveIntegerOrPercentage``, ``Float``,
        ``Duration``, ``String``, ``StringList``, ``MetaString``, ``MetaStringList``.
    :param description: what the key does, for the configuration dump.
    :param stable: ``False`` for keys that may change between releases (dumped
        only on request).
    :param default_value: the default as dumps show it (``DefaultValue``), when it is
        not the text ``default``: CloneSquad registers some as numbers (``0``), and its
        dumps keep that type.
    :param label: the format as dumps show it (``Format``), when it is not
        :attr:`format`: the name CloneSquad gives it (``List of String``; a key it
        declares ``PositiveInteger`` but reads as a count or a percentage), ``""`` for
        a key CloneSquad registers without a format (dumps then have no ``Format``).
    """

    key: str
    default: str
    format: str
    description: str
    stable: bool = True
    default_value: Any = field(default=None, compare=False)
    label: str | None = field(default=None, compare=False)
    #: The name of the plugin that declared it (filled in by the dispatcher).
    plugin: str = field(default="", compare=False)
    #: A key of CloneSquad's catalogue: a plugin that declares the same key replaces
    #: this declaration (instead of the two stopping start-up).
    catalogued: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        if not self.key or self.key != self.key.strip():
            raise PluginError(f"configuration key {self.key!r}: a key must be non-empty text")
        if not isinstance(self.default, str):
            raise PluginError(
                f"configuration key {self.key!r}: default must be text, got {self.default!r}"
            )
        if self.format not in FORMATS:
            raise PluginError(
                f"configuration key {self.key!r}: format {self.format!r} is unknown; "
                f"use one of {', '.join(sorted(FORMATS))}"
            )
        problem = check_value(self.format, self.default)
        if problem is not None:
            raise PluginError(
                f"configuration key {self.key!r}: default {self.default!r} is not a "
                f"{self.format}: {problem}"
            )

    @property
    def shown_format(self) -> str:
        """``Format`` as dumps show it (``""``: none): :attr:`label`, else :attr:`format`."""
        return self.format if self.label is None else self.label

    @property
    def dumped_default(self) -> Any:
        """``DefaultValue`` as dumps show it: :attr:`default_value`, else :attr:`default`."""
        return self.default if self.default_value is None else self.default_value

    def check(self, text: str) -> str | None:
        """Why ``text`` is not a valid value of this key, or ``None`` when it is."""
        return check_value(self.format, text)


def as_bool(text: str) -> bool:
    """A ``Bool`` value as a boolean (``""`` and unknown words are false)."""
    return text.strip().lower() in _TRUE
