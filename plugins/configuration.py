"""The ``configuration`` operations: dump, import, read and write keys.

Values are layered: the defaults that plugins register, then the YAML documents
at ``ConfigurationURLs``, then the Configuration table, which these operations
write.
"""

from __future__ import annotations

import re
from importlib.resources import files
from typing import Any

from clonesquad_interact import Body, Deployment, Operation, Request, hookimpl
from clonesquad_interact.keyvalue import import_params, write_key
from clonesquad_interact.layers import LayeredConfiguration

SCHEMAS = files("clonesquad_interact.schemas")


@hookimpl
def register_operations() -> list[Operation]:
    return [
        Operation(
            route="configuration",
            handler=dump,
            summary="Dump the effective configuration, with where each value comes from.",
            schema=SCHEMAS / "configuration-dump.json",
        ),
        Operation(
            route="configuration",
            handler=import_,
            summary="Write a document of key: value pairs to the Configuration table.",
            schema=SCHEMAS / "configuration-import.json",
            methods={"POST"},
            body=Body.DOCUMENT,
        ),
        Operation(
            route=re.compile(r"configuration/(?P<key>.+)"),
            handler=read_key,
            summary="Read the effective value of one configuration key, as text.",
            schema=SCHEMAS / "configuration-key-read.json",
        ),
        Operation(
            route=re.compile(r"configuration/(?P<key>.+)"),
            handler=write_one,
            summary="Write one configuration key (the body's first line), with an optional ttl.",
            schema=SCHEMAS / "configuration-key-write.json",
            methods={"POST"},
            body=Body.TEXT,
        ),
    ]


def _configuration(request: Request) -> LayeredConfiguration:
    deployment: Deployment = request.deployment
    return deployment.configuration


def dump(request: Request) -> dict[str, Any]:
    """Every key (``unstable=true``: the unstable ones too) with its eight fields; with
    ``raw=true``, only the keys the table sets, as ``key: value`` (a document that
    ``POST configuration?restore=true`` restores)."""
    configuration = _configuration(request)
    if request.params.get("raw"):
        return {key: item.value for key, item in sorted(configuration.table.scan().items())}
    entries = configuration.entries(unstable=bool(request.params.get("unstable")))
    return {key: entry.dump() for key, entry in entries.items()}


def import_(request: Request) -> str:
    """Merge the document into the table (``restore=true``: replace the table's content)."""
    configuration = _configuration(request)
    return import_params(
        configuration.table, request.parsed_body, request.params, configuration.keys
    )


def read_key(request: Request) -> str:
    """The effective value of the key, as text (404 for a key nobody knows)."""
    return _configuration(request).entry(request.path_params["key"]).value


def write_one(request: Request) -> str:
    """Write the key; an empty value deletes it. Answers the key's new effective value."""
    configuration = _configuration(request)
    key = request.path_params["key"]
    registration = configuration.keys.get(key)
    value = write_key(
        configuration.table,
        key,
        request.body,
        ttl=request.params.get("ttl"),
        registration=registration,
    )
    if value == "" and registration is not None:
        return registration.default
    return value
