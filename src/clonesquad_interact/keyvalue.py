"""Key/value documents: how ``POST configuration`` and ``POST scheduler`` check a
document and write it to a table.

The whole document is checked before anything is written, so a bad document
writes nothing; the writes then go in batches of 25 items.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .configuration import ConfigurationKey, parse_duration, to_text
from .errors import BadRequest, ValidationFailed
from .tables import KeyValueTable

__all__ = ["ImportResult", "check_document", "check_value_of", "import_document", "parse_ttl"]

#: Longest key: DynamoDB allows 2048 bytes for a hash key.
MAX_KEY_BYTES = 2048
#: Longest value: a DynamoDB item is at most 400 KB, key and attributes included.
MAX_VALUE_BYTES = 390_000


def check_value_of(key: str, text: str, registration: ConfigurationKey | None) -> str | None:
    """Why ``text`` cannot be written to ``key``, or ``None``."""
    if not key or len(key.encode("utf-8")) > MAX_KEY_BYTES:
        return f"a key must be 1 to {MAX_KEY_BYTES} bytes long"
    if len(text.encode("utf-8")) > MAX_VALUE_BYTES:
        return f"a value must be at most {MAX_VALUE_BYTES} bytes long"
    if registration is not None:
        problem = registration.check(text)
        if problem is not None:
            return f"{text!r} is not a valid {registration.format} value: {problem}"
    return None


def check_document(
    document: Any, keys: Mapping[str, ConfigurationKey] | None = None
) -> dict[str, str]:
    """The ``key -> text`` values of a document, every one checked.

    ``""`` (or ``null``) means "delete this key".

    :param document: the parsed body: a mapping of key to value.
    :param keys: registered keys, whose values must match their format.
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
            problems.append({"where": f"body[{key!r}]", "what": "a key must be text"})
            continue
        registration = (keys or {}).get(key)
        try:
            text = to_text(value, registration.format if registration else None)
        except ValueError as exc:
            problems.append({"where": f"body.{key}", "what": str(exc)})
            continue
        problem = check_value_of(key, text, registration)
        if problem is not None:
            problems.append({"where": f"body.{key}", "what": problem})
            continue
        values[key] = text
    if problems:
        faulty = ", ".join(p["where"].removeprefix("body.") for p in problems[:5])
        more = f" and {len(problems) - 5} more" if len(problems) > 5 else ""
        raise ValidationFailed(
            f"nothing was written: {len(problems)} key(s) at fault ({faulty}{more}); "
            f"{problems[0]['what']}",
            details=problems,
        )
    return values


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
) -> ImportResult:
    """Merge ``values`` into ``table`` (``""`` deletes), or with ``restore`` make the
    table hold exactly them.

    :param confirm: with ``restore``, allow an empty document (which empties the table).
    :raises BadRequest: ``restore`` of an empty document without ``confirm``.
    """
    if restore and not values and not confirm:
        raise BadRequest(
            "restore=true with an empty document would delete every key of the table; "
            "add confirm=true if that is what you want"
        )
    puts = {key: value for key, value in values.items() if value != ""}
    deletes = [key for key, value in values.items() if value == ""]
    absent: list[str] = []
    if restore:
        absent = [key for key in table.scan() if key not in values]
    table.write(puts, deletes + absent)
    return ImportResult(processed=len(values), deleted_absent=len(absent))


def parse_ttl(text: str) -> float:
    """A ``ttl`` parameter in seconds (``3600``, ``minutes=30,hours=1``).

    :raises ValidationFailed: it is not a positive duration.
    """
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise ValidationFailed(
            f"ttl {text!r} is not a duration: {exc}",
            details=[{"where": "params.ttl", "what": str(exc)}],
        ) from None
    if seconds <= 0 or not math.isfinite(seconds):
        raise ValidationFailed(
            f"ttl {text!r} must be more than 0 seconds",
            details=[{"where": "params.ttl", "what": "must be more than 0 seconds"}],
        )
    return seconds
