"""Key/value documents: how ``POST configuration`` and ``POST scheduler`` check a
document and write it to a table.

The whole document is checked before anything is written, so a bad document
writes nothing; the document is then written all or nothing, in one DynamoDB
transaction, which is why a document holds at most 100 keys.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .configuration import ConfigurationKey, base_key, parse_duration, stored_text, to_text
from .errors import BadRequest, PayloadTooLarge, ValidationFailed, excerpt, unencodable
from .tables import (
    TRANSACTION_BYTES,
    TRANSACTION_SIZE,
    VERSION_KEY,
    Item,
    KeyValueTable,
    key_problem,
)

__all__ = [
    "ImportResult",
    "check_document",
    "check_value_of",
    "first_line",
    "import_document",
    "import_params",
    "parse_ttl",
    "write_key",
]

#: Longest ttl, in seconds (about 100 years): ``ExpirationTime`` stays a number
#: DynamoDB stores (at most 38 digits) and CloneSquad reads as epoch seconds.
MAX_TTL = 3_153_600_000
#: Longest value: a DynamoDB item is at most 400 KB, key and attributes included.
MAX_VALUE_BYTES = 390_000


def check_value_of(key: str, text: str, registration: ConfigurationKey | None) -> str | None:
    """Why ``text`` cannot be written to ``key``, or ``None``."""
    problem = key_problem(key)
    if problem is not None:
        return problem
    if unencodable(text):
        return "a value must be text that UTF-8 can encode (it holds a lone surrogate)"
    if key == VERSION_KEY:
        return f"the key {VERSION_KEY!r} is reserved (it counts the table's restores)"
    if len(text.encode("utf-8")) > MAX_VALUE_BYTES:
        return f"a value must be at most {MAX_VALUE_BYTES} bytes long"
    if registration is not None:
        problem = registration.check(text)
        if problem is not None:
            return f"{excerpt(text)} is not a valid {registration.format} value: {problem}"
    return None


def check_document(
    document: Any,
    keys: Mapping[str, ConfigurationKey] | None = None,
    *,
    parameter_sets: bool = False,
) -> dict[str, str]:
    """The ``key -> text`` values of a document, every one checked.

    ``""`` (or ``null``) means "delete this key".

    :param document: the parsed body: a mapping of key to value.
    :param keys: registered keys, whose values must match their format (``override:K``
        and ``[<set>]K`` take the format of ``K``).
    :param parameter_sets: a mapping value is a parameter set: ``night: {K: v}`` is
        the item ``[night]K`` (as CloneSquad stores sets in a table).
    :raises ValidationFailed: the document is not a mapping, or keys or values are
        at fault (every one of them listed, by key).
    """
    if not isinstance(document, Mapping):
        kind = "a list" if isinstance(document, list) else f"a {type(document).__name__}"
        raise ValidationFailed(
            f"the body must be a mapping of keys to values (key: value lines in YAML, "
            f"an object in JSON), not {kind}",
            details=[{"where": "body", "what": "expected a mapping"}],
        )
    problems: list[dict[str, str]] = []
    values: dict[str, str] = {}
    for key, value in document.items():
        if not isinstance(key, str):
            problems.append({"where": f"body[{excerpt(key)}]", "what": "a key must be text"})
            continue
        if parameter_sets and isinstance(value, Mapping):
            problems += _check_set(key, value, keys, values)
            continue
        problem = _check_entry(key, value, keys, values)
        if problem is not None:
            problems.append({"where": _where(key), "what": problem})
    if problems:
        faulty = ", ".join(p["where"].removeprefix("body.") for p in problems[:5])
        more = f" and {len(problems) - 5} more" if len(problems) > 5 else ""
        raise ValidationFailed(
            f"nothing was written: {len(problems)} key(s) at fault ({faulty}{more}); "
            f"{problems[0]['what']}",
            details=problems,
        )
    return values


def _check_entry(
    name: str, value: Any, keys: Mapping[str, ConfigurationKey] | None, values: dict[str, str]
) -> str | None:
    """Why ``value`` cannot be written to ``name`` (else it is added to ``values``)."""
    registration = (keys or {}).get(base_key(name))
    try:
        text = to_text(value, registration.format if registration else None)
    except ValueError as exc:
        return str(exc)
    problem = check_value_of(name, text, registration)
    if problem is None:
        values[name] = stored_text(registration.format if registration else None, text)
    return problem


def _check_set(
    name: str,
    members: Mapping[Any, Any],
    keys: Mapping[str, ConfigurationKey] | None,
    values: dict[str, str],
) -> list[dict[str, str]]:
    """The problems of a parameter set's entries (the good ones added to ``values``)."""
    if "]" in name or not name:
        what = "a parameter set's name must be non-empty and hold no ']'"
        return [{"where": _where(name), "what": what}]
    problems: list[dict[str, str]] = []
    for key, value in members.items():
        if not isinstance(key, str):
            where = f"{_where(name)}[{excerpt(key)}]"
            problems.append({"where": where, "what": "a key must be text"})
            continue
        where = f"{_where(name)}.{key}" if _where(key) == f"body.{key}" else _where(key)
        if isinstance(value, Mapping):
            what = "a parameter set holds key: value entries, not another mapping"
            problems.append({"where": where, "what": what})
            continue
        problem = _check_entry(f"[{name}]{key}", value, keys, values)
        if problem is not None:
            problems.append({"where": where, "what": problem})
    return problems


def _where(key: str) -> str:
    """``body.<key>``, the key quoted short and escaped when it is not plain."""
    if len(key) <= 60 and key.isprintable() and not unencodable(key):
        return f"body.{key}"
    return f"body[{excerpt(key)}]"


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import did."""

    processed: int
    deleted_absent: int = 0

    def message(self) -> str:
        """The answer to the caller: ``Ok (N key(s) processed)``."""
        text = f"Ok ({self.processed} key(s) processed"
        if self.deleted_absent:
            text += f", {self.deleted_absent} key(s) absent from the document deleted"
        return text + ")"


def import_document(
    table: KeyValueTable,
    values: Mapping[str, str],
    *,
    restore: bool = False,
    confirm: bool = False,
    processed: int | None = None,
) -> ImportResult:
    """Merge ``values`` into ``table`` (``""`` deletes), or with ``restore`` make the
    table hold exactly them. The items to write are read first (one ``BatchGetItem``;
    a restore's ``Scan``): one that expires and already holds its value is left as it is.

    :param confirm: with ``restore``, allow an empty document (which empties the table).
    :param processed: the number of entries the answer counts (default: of ``values``).
    :raises BadRequest: ``restore`` of an empty document without ``confirm``.
    """
    if restore and not values and not confirm:
        raise BadRequest(
            "restore=true with an empty document would delete every key of the table; "
            "add confirm=true if that is what you want"
        )
    count = len(values) if processed is None else processed
    puts = {key: value for key, value in values.items() if value != ""}
    deletes = [key for key, value in values.items() if value == ""]
    if not restore:
        _check_fits(len(values), _size(values), restore=False)
        table.transact(_keeping_expirations(puts, table.batch_get(puts) if puts else {}), deletes)
        return ImportResult(processed=count)
    _check_fits(len(values), _size(values), restore=True)
    version = table.version()  # read before the scan: a restore after it changes it
    seen = table.scan()
    absent = [key for key in seen if key not in values]
    _check_fits(len(values) + len(absent), _size(values), restore=True, absent=len(absent))
    table.transact(_keeping_expirations(puts, seen), deletes + absent, seen=seen, version=version)
    return ImportResult(processed=count, deleted_absent=len(absent))


def _keeping_expirations(puts: Mapping[str, str], items: Mapping[str, Item]) -> dict[str, str]:
    """``puts`` without the items that already hold their value and expire: they are
    left as they are, as CloneSquad leaves them, so that importing a document again
    (a backup, a dump) does not make a temporary value permanent."""
    return {
        key: value
        for key, value in puts.items()
        if not (
            (item := items.get(key)) is not None
            and item.value == value
            and item.expiration_time is not None
        )
    }


def _size(values: Mapping[str, str]) -> int:
    return sum(len(key.encode()) + len(value.encode()) for key, value in values.items())


def _check_fits(items: int, size: int, *, restore: bool, absent: int = 0) -> None:
    """Refuse, before anything is written, a document one transaction cannot hold."""
    limit = TRANSACTION_SIZE - 1 if restore else TRANSACTION_SIZE
    if items <= limit and size <= TRANSACTION_BYTES:
        return
    if restore:
        held = f" ({absent} of them keys of the table absent from the document)" if absent else ""
        raise PayloadTooLarge(
            f"nothing was written: restore=true writes at most {limit} keys and "
            f"{TRANSACTION_BYTES} bytes all at once, and this one writes {items} keys"
            f"{held}, {size} bytes: delete keys first with documents of at most "
            f"{TRANSACTION_SIZE} keys set to null, then restore the rest, or merge the "
            "document in parts without restore=true",
            details=[{"where": "body", "what": f"{items} keys, {size} bytes"}],
        )
    raise PayloadTooLarge(
        f"nothing was written: a document is written all or nothing, at most {limit} keys "
        f"and {TRANSACTION_BYTES} bytes at once, and this one holds {items} keys, {size} "
        f"bytes: send it as several documents of at most {limit} keys each",
        details=[{"where": "body", "what": f"{items} keys, {size} bytes"}],
    )


def parse_ttl(text: str) -> float:
    """A ``ttl`` parameter in seconds (``3600``, ``minutes=30,hours=1``).

    :raises ValidationFailed: it is not a positive duration.
    """
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise ValidationFailed(
            f"ttl {excerpt(text)} is not a duration: {exc}",
            details=[{"where": "params.ttl", "what": str(exc)}],
        ) from None
    if seconds <= 0 or not math.isfinite(seconds) or seconds > MAX_TTL:
        what = f"must be more than 0 seconds and at most {MAX_TTL} (about 100 years)"
        raise ValidationFailed(
            f"ttl {excerpt(text)} {what}",
            details=[{"where": "params.ttl", "what": what}],
        )
    return seconds


def first_line(body: str | None) -> str:
    """The value a per-key ``POST`` writes: the body's first line, stripped."""
    if not body or not body.strip():
        return ""
    return body.splitlines()[0].strip()


def write_key(
    table: KeyValueTable,
    key: str,
    body: str | None,
    *,
    ttl: Any = None,
    registration: ConfigurationKey | None = None,
) -> str:
    """Write ``key`` from a per-key ``POST``: the body's first line, expiring after
    ``ttl`` when given; an empty value deletes the key.

    Everything is checked before the one write (``PutItem`` or ``DeleteItem``).

    :returns: the value written (``""`` for a deletion).
    :raises ValidationFailed: a bad ``ttl``, or a value that does not fit the key.
    """
    value = first_line(body)
    expires = None if ttl is None else math.ceil(table.clock() + parse_ttl(str(ttl)))
    problem = check_value_of(key, value, registration)
    if problem is not None:
        raise ValidationFailed(
            f"nothing was written to {excerpt(key)}: {problem}",
            details=[{"where": "body", "what": problem}],
        )
    if value == "":
        table.delete(key)
    else:
        value = stored_text(registration.format if registration else None, value)
        table.put(key, value, expiration_time=expires)
    return value


def import_params(
    table: KeyValueTable,
    document: Any,
    params: Mapping[str, Any],
    keys: Mapping[str, ConfigurationKey] | None = None,
    *,
    parameter_sets: bool = False,
) -> str:
    """Serve a document ``POST``: check ``document`` whole, then merge it into
    ``table`` (``restore=true``: replace the table's content; ``confirm=true``
    allows restoring an empty document).

    :param parameter_sets: a mapping value is a parameter set (see :func:`check_document`).

    :returns: the answer, ``Ok (N key(s) processed)``.
    """
    if isinstance(document, Mapping) and len(document) > TRANSACTION_SIZE:
        _check_fits(len(document), 0, restore=bool(params.get("restore")))
    document = document if document is not None else {}
    values = check_document(document, keys, parameter_sets=parameter_sets)
    result = import_document(
        table,
        values,
        restore=bool(params.get("restore")),
        confirm=bool(params.get("confirm")),
        processed=len(document) if isinstance(document, Mapping) else None,
    )
    return result.message()
