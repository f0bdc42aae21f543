"""The DynamoDB tables of a CloneSquad deployment, through the low-level client.

Configuration, Scheduler and State have the hash key ``Key`` and a string
``Value``; EventLog has the hash key ``EventDate``. All use the TTL attribute
``ExpirationTime`` (epoch seconds). DynamoDB deletes expired items late, so every
read here ignores an item whose ``ExpirationTime`` has passed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .aws import check_time
from .errors import Conflict, ServiceUnavailable, ValidationFailed, aws_error_code, excerpt

__all__ = [
    "BATCH_GET_SIZE",
    "BATCH_SIZE",
    "TRANSACTION_BYTES",
    "TRANSACTION_SIZE",
    "VERSION_KEY",
    "Item",
    "KeyValueTable",
    "check_key",
    "key_problem",
]

#: Longest key: DynamoDB allows 2048 bytes for a hash key.
MAX_KEY_BYTES = 2048


def key_problem(key: str) -> str | None:
    """Why ``key`` cannot be a DynamoDB hash key (empty, not UTF-8, too long), or ``None``."""
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        return "a key must be text that UTF-8 can encode (it holds a lone surrogate)"
    if not 0 < size <= MAX_KEY_BYTES:
        return f"a key must be 1 to {MAX_KEY_BYTES} bytes long (UTF-8), not {size}"
    return None


def check_key(key: str, where: str = "key") -> None:
    """Refuse a key DynamoDB would refuse, before any call is made.

    :raises ValidationFailed: naming ``where`` and quoting a short excerpt of the key.
    """
    problem = key_problem(key)
    if problem is not None:
        raise ValidationFailed(
            f"{where} {excerpt(key)} cannot be used: {problem}",
            details=[{"where": where, "what": problem}],
        )


#: Items per ``BatchWriteItem`` call (DynamoDB's limit).
BATCH_SIZE = 25
#: Keys per ``BatchGetItem`` call (DynamoDB's limit).
BATCH_GET_SIZE = 100
#: Items per ``TransactWriteItems`` call (DynamoDB's limit).
TRANSACTION_SIZE = 100
#: Bytes of keys and values per transaction (DynamoDB allows 4 MB, attribute names included).
TRANSACTION_BYTES = 4_000_000
#: The item whose number every ``restore`` increments, so that two restores cannot both
#: succeed from the same state. CloneSquad ignores Scheduler entries whose name starts with
#: ``#``; reads and scans here never show it.
VERSION_KEY = "#clonesquad-interact.version"
#: Attempts at writing a batch's unprocessed items (or reading its keys) before giving up.
UNPROCESSED_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Item:
    """A ``Key``/``Value`` item."""

    key: str
    value: str
    #: ``ExpirationTime`` (epoch seconds), when the item has one.
    expiration_time: int | None = None
    #: Every attribute of the item, as DynamoDB returned it.
    attributes: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


def _number(attribute: Mapping[str, Any] | None) -> int | None:
    if not attribute or "N" not in attribute:
        return None
    try:
        return int(float(attribute["N"]))
    except ValueError:
        return None


def expired(attributes: Mapping[str, Any], now: float) -> bool:
    """Whether an item's ``ExpirationTime`` has passed."""
    expiration = _number(attributes.get("ExpirationTime"))
    return expiration is not None and expiration <= now


def _item(attributes: Mapping[str, Any], hash_key: str) -> Item:
    value = attributes.get("Value", {})
    return Item(
        key=attributes[hash_key]["S"],
        value=value.get("S", value.get("N", "")),
        expiration_time=_number(attributes.get("ExpirationTime")),
        attributes=attributes,
    )


class KeyValueTable:
    """One table, read and written with a boto3 DynamoDB client.

    :param client: a boto3 ``dynamodb`` client.
    :param name: the table's name.
    :param hash_key: the name of its hash key (``Key``, or ``EventDate`` for EventLog).
    :param clock: the current time in epoch seconds (tests pass their own).
    """

    def __init__(
        self,
        client: Any,
        name: str,
        *,
        hash_key: str = "Key",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.name = name
        self.hash_key = hash_key
        self.clock = clock

    # -- reads ------------------------------------------------------------

    def get(self, key: str) -> Item | None:
        """The item ``key`` (one consistent ``GetItem``), ``None`` if absent or expired."""
        if key == VERSION_KEY:
            return None
        check_key(key)
        check_time(f"read {self.name!r}")
        answer = self.client.get_item(
            TableName=self.name, Key={self.hash_key: {"S": key}}, ConsistentRead=True
        )
        attributes = answer.get("Item")
        if attributes is None or expired(attributes, self.clock()):
            return None
        return _item(attributes, self.hash_key)

    def scan(self) -> dict[str, Item]:
        """Every item that has not expired, by key (one paginated ``Scan``)."""
        now = self.clock()
        return {
            attributes[self.hash_key]["S"]: _item(attributes, self.hash_key)
            for attributes in self._scan()
            if not expired(attributes, now) and attributes[self.hash_key]["S"] != VERSION_KEY
        }

    def batch_get(self, keys: Iterable[str]) -> dict[str, Item]:
        """The items of ``keys`` that exist and have not expired, by key: consistent
        ``BatchGetItem`` calls of 100 keys.

        Unprocessed keys are asked again (with a short back-off) until DynamoDB answers
        them all.

        :raises ServiceUnavailable: DynamoDB kept keys unprocessed after several attempts.
        """
        unique = list(dict.fromkeys(keys))
        now = self.clock()
        found: dict[str, Item] = {}
        for start in range(0, len(unique), BATCH_GET_SIZE):
            chunk = unique[start : start + BATCH_GET_SIZE]
            for attributes in self._batch_get(chunk):
                if not expired(attributes, now):
                    item = _item(attributes, self.hash_key)
                    found[item.key] = item
        return found

    def _batch_get(self, keys: list[str]) -> Iterator[Mapping[str, Any]]:
        pending: dict[str, Any] = {
            self.name: {
                "Keys": [{self.hash_key: {"S": key}} for key in keys],
                "ConsistentRead": True,
            }
        }
        for attempt in range(UNPROCESSED_ATTEMPTS):
            check_time(f"read {self.name!r}")
            answer = self.client.batch_get_item(RequestItems=pending)
            yield from answer.get("Responses", {}).get(self.name, ())
            pending = answer.get("UnprocessedKeys") or {}
            if not pending:
                return
            time.sleep(min(0.05 * 2**attempt, 1.0))
        left = sum(len(request.get("Keys", ())) for request in pending.values())
        raise ServiceUnavailable(
            f"DynamoDB left {left} key(s) of table {self.name!r} unprocessed; try again"
        )

    def _scan(self) -> Iterator[Mapping[str, Any]]:
        paginator = self.client.get_paginator("scan")
        for page in paginator.paginate(TableName=self.name, ConsistentRead=True):
            yield from page.get("Items", ())
            check_time(f"read the whole of {self.name!r}")

    # -- writes -----------------------------------------------------------

    def put(self, key: str, value: str, *, expiration_time: int | None = None) -> None:
        """Write ``key`` = ``value`` (one ``PutItem``), expiring at ``expiration_time``."""
        check_key(key)
        check_time(f"write to {self.name!r}")
        self.client.put_item(
            TableName=self.name, Item=self._attributes(key, value, expiration_time)
        )

    def delete(self, key: str) -> bool:
        """Delete ``key`` (one ``DeleteItem``); whether a live item was there."""
        check_key(key)
        check_time(f"write to {self.name!r}")
        answer = self.client.delete_item(
            TableName=self.name, Key={self.hash_key: {"S": key}}, ReturnValues="ALL_OLD"
        )
        old = answer.get("Attributes")
        return old is not None and not expired(old, self.clock())

    def write(self, puts: Mapping[str, str], deletes: Iterable[str] = ()) -> int:
        """Write ``puts`` and delete ``deletes`` with ``BatchWriteItem``, 25 items a call.

        Unprocessed items are sent again (with a short back-off) until DynamoDB takes
        them all.

        :returns: the number of items written or deleted.
        :raises ServiceUnavailable: DynamoDB kept items unprocessed after several attempts.
        """
        requests: list[dict[str, Any]] = [
            {"PutRequest": {"Item": self._attributes(key, value, None)}}
            for key, value in puts.items()
        ]
        requests += [
            {"DeleteRequest": {"Key": {self.hash_key: {"S": key}}}}
            for key in dict.fromkeys(deletes)
            if key not in puts
        ]
        for start in range(0, len(requests), BATCH_SIZE):
            self._write_batch(requests[start : start + BATCH_SIZE])
        return len(requests)

    def _write_batch(self, requests: list[dict[str, Any]]) -> None:
        pending = {self.name: requests}
        for attempt in range(UNPROCESSED_ATTEMPTS):
            check_time(f"write to {self.name!r}")
            answer = self.client.batch_write_item(RequestItems=pending)
            pending = answer.get("UnprocessedItems") or {}
            if not pending:
                return
            time.sleep(min(0.05 * 2**attempt, 1.0))
        left = sum(len(items) for items in pending.values())
        raise ServiceUnavailable(
            f"DynamoDB left {left} item(s) of table {self.name!r} unprocessed; "
            "send the same request again (it is idempotent)"
        )

    def version(self) -> int:
        """The table's version: how many restores wrote it (one consistent ``GetItem``)."""
        check_time(f"read {self.name!r}")
        answer = self.client.get_item(
            TableName=self.name, Key={self.hash_key: {"S": VERSION_KEY}}, ConsistentRead=True
        )
        return _number(answer.get("Item", {}).get("Value")) or 0

    def transact(
        self,
        puts: Mapping[str, str],
        deletes: Iterable[str] = (),
        *,
        seen: Mapping[str, Item] | None = None,
        version: int | None = None,
    ) -> int:
        """Write ``puts`` and delete ``deletes`` all or nothing (one ``TransactWriteItems``).

        :param seen: when given, every key written must still hold what was read then
            (its ``Value``, or no live item for a key absent from ``seen``).
        :param version: when given, the table's :meth:`version` must still be this one;
            the write increments it (the version item is one of the transaction's items).
        :returns: the number of items written or deleted.
        :raises Conflict: another writer changed a key (or the version) in the meantime;
            nothing was written.
        :raises ServiceUnavailable: DynamoDB throttled or failed the transaction;
            nothing was written.
        :raises ValueError: more items than one transaction holds (check first).
        """
        actions: list[dict[str, Any]] = []
        for key, value in puts.items():
            put: dict[str, Any] = {
                "TableName": self.name,
                "Item": self._attributes(key, value, None),
            }
            actions.append({"Put": self._unchanged(put, key, seen)})
        for key in dict.fromkeys(deletes):
            if key not in puts:
                delete = {"TableName": self.name, "Key": {self.hash_key: {"S": key}}}
                actions.append({"Delete": self._unchanged(delete, key, seen)})
        if version is not None:
            actions.append({"Update": self._next_version(version)})
        if len(actions) > TRANSACTION_SIZE:
            raise ValueError(f"{len(actions)} items do not fit one transaction")
        if not actions:
            return 0
        check_time(f"write to {self.name!r}")
        try:
            self.client.transact_write_items(TransactItems=actions)
        except Exception as exc:
            if aws_error_code(exc) not in (
                "TransactionCanceledException",
                "ConditionalCheckFailed",
            ):
                raise
            reasons = {
                reason.get("Code")
                for reason in getattr(exc, "response", {}).get("CancellationReasons", ())
                if isinstance(reason, Mapping)
            }
            if reasons & {"ConditionalCheckFailed", "TransactionConflict"} or not reasons:
                raise Conflict(
                    f"another writer changed table {self.name!r} while this request wrote it; "
                    "nothing was written: read the table again if needed and send the "
                    "request again"
                ) from None
            raise ServiceUnavailable(
                f"DynamoDB could not write table {self.name!r} for now; nothing was "
                "written: send the same request again"
            ) from None
        return len(actions) - (version is not None)

    def _unchanged(
        self, action: dict[str, Any], key: str, seen: Mapping[str, Item] | None
    ) -> dict[str, Any]:
        """``action`` with the condition that ``key`` still holds what ``seen`` says."""
        if seen is None:
            return action
        item = seen.get(key)
        if item is None:
            action["ConditionExpression"] = "attribute_not_exists(#k) OR #e <= :now"
            action["ExpressionAttributeNames"] = {"#k": self.hash_key, "#e": "ExpirationTime"}
            action["ExpressionAttributeValues"] = {":now": {"N": str(int(self.clock()))}}
        elif "Value" in item.attributes:
            action["ConditionExpression"] = "#v = :seen"
            action["ExpressionAttributeNames"] = {"#v": "Value"}
            action["ExpressionAttributeValues"] = {":seen": item.attributes["Value"]}
        else:
            action["ConditionExpression"] = "attribute_exists(#k) AND attribute_not_exists(#v)"
            action["ExpressionAttributeNames"] = {"#k": self.hash_key, "#v": "Value"}
        return action

    def _next_version(self, version: int) -> dict[str, Any]:
        update: dict[str, Any] = {
            "TableName": self.name,
            "Key": {self.hash_key: {"S": VERSION_KEY}},
            "UpdateExpression": "SET #v = :next",
            "ExpressionAttributeNames": {"#v": "Value"},
            "ExpressionAttributeValues": {":next": {"N": str(version + 1)}},
        }
        if version == 0:
            update["ConditionExpression"] = "attribute_not_exists(#v)"
        else:
            update["ConditionExpression"] = "#v = :seen"
            update["ExpressionAttributeValues"][":seen"] = {"N": str(version)}
        return update

    def _attributes(self, key: str, value: str, expiration_time: int | None) -> dict[str, Any]:
        attributes: dict[str, Any] = {self.hash_key: {"S": key}, "Value": {"S": value}}
        if expiration_time is not None:
            attributes["ExpirationTime"] = {"N": str(expiration_time)}
        return attributes
