"""Counting the AWS calls an operation makes, with botocore's events."""

from __future__ import annotations

import collections
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from clonesquad_interact import Dispatcher


@contextmanager
def counting(dispatcher: Dispatcher, *services: str) -> Iterator[collections.Counter[str]]:
    """Count the API calls of the dispatcher's clients of ``services``, by ``Service.Operation``."""
    counts: collections.Counter[str] = collections.Counter()

    def count(model: Any, **_: Any) -> None:
        counts[f"{model.service_model.service_name}.{model.name}"] += 1

    clients = [dispatcher.aws.client(service) for service in services]
    for client in clients:
        client.meta.events.register("before-call", count, unique_id="count-calls")
    try:
        yield counts
    finally:
        for client in clients:
            client.meta.events.unregister("before-call", unique_id="count-calls")


class RawTable:
    """A DynamoDB table read and written with the plain client, for checking tables."""

    def __init__(self, client: Any, name: str, hash_key: str = "Key") -> None:
        self.client = client
        self.name = name
        self.hash_key = hash_key

    def put_item(self, Item: dict[str, Any]) -> None:
        attributes = {
            name: {"N": str(value)} if isinstance(value, int) else {"S": value}
            for name, value in Item.items()
        }
        self.client.put_item(TableName=self.name, Item=attributes)

    def items(self) -> list[dict[str, Any]]:
        paginator = self.client.get_paginator("scan")
        return [
            {name: next(iter(value.values())) for name, value in item.items()}
            for page in paginator.paginate(TableName=self.name)
            for item in page["Items"]
        ]

    def get(self, key: str) -> dict[str, Any] | None:
        item = self.client.get_item(TableName=self.name, Key={self.hash_key: {"S": key}}).get(
            "Item"
        )
        if item is None:
            return None
        return {name: next(iter(value.values())) for name, value in item.items()}

    def content(self) -> dict[str, str]:
        """``Key -> Value`` of every item but the version item that restores write."""
        return {
            item[self.hash_key]: item.get("Value", "")
            for item in self.items()
            if item[self.hash_key] != "#clonesquad-interact.version"
        }
