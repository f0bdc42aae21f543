"""The ``configuration`` operations: dump, import, read and write keys.

Values are resolved by the deployment's configuration (``request.deployment.configuration``):
the declared defaults, CloneSquad's internal documents, ``config.loaded_files`` and
``ConfigurationURLs``, then the Configuration table, which these operations write,
with parameter sets and ``override:`` entries as CloneSquad has them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

from clonesquad_interact import Body, Deployment, NotFound, Operation, Request, Response, hookimpl
from clonesquad_interact.configuration import ConfigurationKey, base_key, nest_parameter_sets
from clonesquad_interact.keyvalue import import_params, write_key
from clonesquad_interact.layers import Entry, LayeredConfiguration, Snapshot
from clonesquad_interact.pages import dump_in_pages
from clonesquad_interact.tables import check_key

SCHEMAS = files("clonesquad_interact.schemas")

#: The parameter that adds what SSM maintenance windows make.
WITH_MAINTENANCE = "with_maintenance_window"


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
            summary="Write a document of key: value pairs (and parameter sets) to the "
            "Configuration table.",
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


def _subfleet_keys(request: Request) -> dict[str, ConfigurationKey]:
    """The keys of each subfleet of the deployment (one paginated ``DescribeInstances``)."""
    from .maintenance import concrete_keys, subfleet_names  # with_maintenance_window only

    return concrete_keys(_configuration(request).keys, subfleet_names(request.deployment))


def _with_maintenance(request: Request) -> Snapshot:
    """Every layer (one paginated ``Scan``), the keys of each subfleet, and the ``SSM
    Maintenance Window override`` layer above them when a fleet is in maintenance."""
    from .maintenance import concrete_keys, maintenance_layer, subfleet_names

    deployment: Deployment = request.deployment
    configuration = _configuration(request)
    subfleets = subfleet_names(deployment)
    snapshot = configuration.snapshot().with_layer(
        None, concrete_keys(configuration.keys, subfleets)
    )
    now = datetime.fromtimestamp(deployment.clock(), UTC)
    return snapshot.with_layer(maintenance_layer(deployment, snapshot.entry, subfleets, now))


def dump(request: Request) -> dict[str, Any] | Response:
    """Every stable key (``unstable=true``: every key) with CloneSquad's fields; with
    ``raw=true``, only what the table holds, parameter sets nested (a document that
    ``POST configuration?restore=true`` restores). ``prefix`` (of item names),
    ``limit`` and ``after`` (of the answer's top-level names: a parameter set is one,
    never split) ask for part of it; a dump too large for one answer is a 413 saying so. With
    ``with_maintenance_window=true``, the keys of each subfleet and the ``SSM
    Maintenance Window override`` layer too (see :mod:`.maintenance`)."""
    configuration = _configuration(request)
    params = request.params
    prefix = str(params.get("prefix") or "")
    if params.get("raw"):
        # pages are cut between the document's top-level entries: a parameter set is one
        # entry, all its items on one page
        items = configuration.table.scan()
        document = nest_parameter_sets(
            {name: item.value for name, item in items.items() if name.startswith(prefix)}
        )
        return dump_in_pages(document, document.__getitem__, params, request.format)
    source = _with_maintenance(request) if params.get(WITH_MAINTENANCE) else configuration
    entries = source.entries(unstable=bool(params.get("unstable")), prefix=prefix)
    return dump_in_pages(entries, lambda name: entries[name].dump(), params, request.format)


def import_(request: Request) -> str:
    """Merge the document into the table (``restore=true``: replace the table's
    content); a mapping value is a parameter set, written as ``[<set>]<key>`` items."""
    configuration = _configuration(request)
    keys: Mapping[str, ConfigurationKey] = configuration.keys
    if request.params.get(WITH_MAINTENANCE):
        keys = {**_subfleet_keys(request), **keys}
    return import_params(
        configuration.table,
        request.parsed_body,
        request.params,
        keys,
        parameter_sets=True,
    )


def read_key(request: Request) -> str:
    """The effective value of the key, as text (404 for a key nobody knows, or one
    that the winning layer sets to null); ``with_maintenance_window=true`` resolves it
    with the layer and the keys that maintenance windows make."""
    key = request.path_params["key"]
    entry: Entry
    if request.params.get(WITH_MAINTENANCE):
        check_key(key)
        entry = _with_maintenance(request).entry(key)
    else:
        entry = _configuration(request).entry(key)
    if entry.value is None:
        raise NotFound(
            f"configuration key {key!r} is set to null in {entry.origin!r}: it has no value"
        )
    return entry.value


def write_one(request: Request) -> str:
    """Write the key (``override:K`` and ``[<set>]K`` too, checked as ``K``); an empty
    value deletes it. Answers the value written (the default after a deletion)."""
    configuration = _configuration(request)
    key = request.path_params["key"]
    registration = configuration.registration_for(key)
    if registration is None and request.params.get(WITH_MAINTENANCE):
        registration = _subfleet_keys(request).get(base_key(key))
    value = write_key(
        configuration.table,
        key,
        request.body,
        ttl=request.params.get("ttl"),
        registration=registration,
    )
    if value == "" and registration is not None and key == registration.key:
        return registration.default
    return value
