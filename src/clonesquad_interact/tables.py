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

from .errors import ServiceUnavailable

__all__ = ["BATCH_GET_SIZE", "BATCH_SIZE", "Item", "KeyValueTable"]

#: Items per ``BatchWriteItem`` call (DynamoDB's limit).
BATCH_SIZE = 25
#: Keys per ``BatchGetItem`` call (DynamoDB's limit).
BATCH_GET_SIZE = 100
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
            if not expired(attributes, now)
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

    # -- writes -----------------------------------------------------------

    def put(self, key: str, value: str, *, expiration_time: int | None = None) -> None:
        """Write ``key`` = ``value`` (one ``PutItem``), expiring at ``expiration_time``."""
        self.client.put_item(
            TableName=self.name, Item=self._attributes(key, value, expiration_time)
        )

    def delete(self, key: str) -> bool:
        """Delete ``key`` (one ``DeleteItem``); whether a live item was there."""
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

    def _attributes(self, key: str, value: str, expiration_time: int | None) -> dict[str, Any]:
        attributes: dict[str, Any] = {self.hash_key: {"S": key}, "Value": {"S": value}}
        if expiration_time is not None:
            attributes["ExpirationTime"] = {"N": str(expiration_time)}
        return attributes
