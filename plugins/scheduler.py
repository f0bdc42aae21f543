"""The ``scheduler`` operations: the Scheduler table, with the semantics of
``configuration`` but no registered defaults (the table's content is the truth)."""

from __future__ import annotations

import re
from importlib.resources import files
from typing import Any

from clonesquad_interact import Body, Deployment, NotFound, Operation, Request, hookimpl
from clonesquad_interact.keyvalue import import_params, write_key
from clonesquad_interact.tables import KeyValueTable

SCHEMAS = files("clonesquad_interact.schemas")


@hookimpl
def register_operations() -> list[Operation]:
    return [
        Operation(
            route="scheduler",
            handler=dump,
            summary="Dump the Scheduler table's entries.",
            schema=SCHEMAS / "scheduler-dump.json",
        ),
        Operation(
            route="scheduler",
            handler=import_,
            summary="Write a document of key: value pairs to the Scheduler table.",
            schema=SCHEMAS / "scheduler-import.json",
            methods={"POST"},
            body=Body.DOCUMENT,
        ),
        Operation(
            route=re.compile(r"scheduler/(?P<key>.+)"),
            handler=read_key,
            summary="Read one Scheduler table entry, as text.",
            schema=SCHEMAS / "scheduler-key-read.json",
        ),
        Operation(
            route=re.compile(r"scheduler/(?P<key>.+)"),
            handler=write_one,
            summary="Write one Scheduler entry (the body's first line), with an optional ttl.",
            schema=SCHEMAS / "scheduler-key-write.json",
            methods={"POST"},
            body=Body.TEXT,
        ),
    ]


def _table(request: Request) -> KeyValueTable:
    deployment: Deployment = request.deployment
    return deployment.table("SchedulerTable")


def dump(request: Request) -> dict[str, Any]:
    """Every entry with ``Key``, ``Value`` and ``ExpirationTime``; ``raw=true`` gives
    ``key: value`` (a document that ``POST scheduler?restore=true`` restores)."""
    table = _table(request)
    items = sorted(table.scan().items())
    if request.params.get("raw"):
        return {key: item.value for key, item in items}
    origin = f"DynamoDB scheduler table '{table.name}'"
    return {
        key: {
            "Key": key,
            "Value": item.value,
            "ExpirationTime": item.expiration_time,
            "ConfigurationOrigin": origin,
        }
        for key, item in items
    }


def import_(request: Request) -> str:
    """Merge the document into the table (``restore=true``: replace the table's content)."""
    return import_params(_table(request), request.parsed_body, request.params)


def read_key(request: Request) -> str:
    """The entry's value (404 when the table has no such entry)."""
    key = request.path_params["key"]
    item = _table(request).get(key)
    if item is None:
        raise NotFound(f"the Scheduler table has no entry {key!r}; GET scheduler lists them")
    return item.value


def write_one(request: Request) -> str:
    """Write the entry; an empty value deletes it. Answers the value written."""
    return write_key(
        _table(request), request.path_params["key"], request.body, ttl=request.params.get("ttl")
    )
