"""CloneSquad's list syntax: ``StringList`` and ``MetaString`` values.

A ``StringList`` is items separated by ``;`` (``eu-west-3a;eu-west-3b``); empty
items are dropped.

A ``MetaString`` (``MetaStringList``) is records separated by ``;``, each a
leading string then ``,``-separated ``key=value`` options::

    cron(0 8 * * ? *),ec2.schedule.min_instance_count=3;rate(5 minutes),flag

A backslash keeps a ``;``, ``,`` or ``=`` from separating (``cron(0 6\\,18 * * ? *)``).
The escapes are removed from leading strings and values, not from option names. An
option without ``=`` is the boolean ``True``; a record whose leading string is
empty is skipped.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["LEADING", "join_list", "parse_list", "parse_meta_string", "unescape"]

#: The name under which :func:`parse_meta_string` stores a record's leading string.
LEADING = "_"

_RECORD_SEPARATOR = re.compile(r"(?<!\\);")
_OPTION_SEPARATOR = re.compile(r"(?<!\\),")
_VALUE_SEPARATOR = re.compile(r"(?<!\\)=")
_ESCAPE = re.compile(r"\\([;,=])")


def unescape(text: str) -> str:
    """``text`` with ``\\;``, ``\\,`` and ``\\=`` turned back into the character."""
    return _ESCAPE.sub(r"\1", text) if "\\" in text else text


def parse_list(text: str | None) -> list[str]:
    """The items of a ``StringList`` value: split on ``;``, blank items dropped,
    each stripped of surrounding spaces."""
    if not text:
        return []
    return [item.strip() for item in text.split(";") if item.strip()]


def join_list(items: list[str] | tuple[str, ...]) -> str:
    """A ``StringList`` value of ``items`` (the inverse of :func:`parse_list`)."""
    return ";".join(str(item) for item in items)


def parse_meta_string(text: str | None, leading: str = LEADING) -> list[dict[str, Any]]:
    """The records of a ``MetaString`` value, each a dict: its leading string
    under ``leading``, then its options (``True`` for an option without ``=``).

    ``a,Key=Value;b`` gives ``[{"_": "a", "Key": "Value"}, {"_": "b"}]``.
    """
    if not text:
        return []
    records: list[dict[str, Any]] = []
    for record in _RECORD_SEPARATOR.split(text):
        if not record:
            continue
        head, *options = _OPTION_SEPARATOR.split(record)
        if not head:
            continue
        parsed: dict[str, Any] = {leading: unescape(head)}
        for option in options:
            parts = _VALUE_SEPARATOR.split(option, maxsplit=1)
            if len(parts) == 2:
                parsed[parts[0]] = unescape(parts[1])
            else:
                parsed[option] = True
        records.append(parsed)
    return records
