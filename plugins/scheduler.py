"""The ``scheduler`` operations: the Scheduler table, with the semantics of
``configuration`` but no registered defaults (the table's content is the truth).

``GET scheduler`` answers the table as CloneSquad does, a flat ``{entry: value}``
mapping in which parameter-set items (``[<set>]<key>``) are nested under their set
(``{<set>: {<key>: value}}``), which ``POST scheduler`` takes back unchanged; a table
too large for one answer is read in pages (``limit``, ``after``, ``prefix``). Every
entry written is checked first (its schedule, then each action: see
:mod:`clonesquad_interact.schedules`); a bad one is a 400 that names it, and nothing
is written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib.resources import files
from typing import Any

from clonesquad_interact import (
    Body,
    Deployment,
    Interface,
    NotFound,
    Operation,
    Request,
    Response,
    ValidationFailed,
    hookimpl,
)
from clonesquad_interact.configuration import nest_parameter_sets
from clonesquad_interact.errors import excerpt
from clonesquad_interact.keyvalue import check_document, first_line, import_params, write_key
from clonesquad_interact.pages import dump_in_pages
from clonesquad_interact.tables import TRANSACTION_SIZE, KeyValueTable

SCHEMAS = files("clonesquad_interact.schemas")


@hookimpl
def register_operations() -> list[Operation]:
    return [
        Operation(
            route="scheduler",
            handler=dump,
            summary="Dump the Scheduler table as CloneSquad does: {entry: value}.",
            schema=SCHEMAS / "scheduler-dump.json",
        ),
        Operation(
            route="scheduler",
            handler=import_,
            summary="Check, then write, a document of entry: value pairs to the Scheduler table.",
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
            summary="Check, then write, one Scheduler entry (the body's first line), with a ttl.",
            schema=SCHEMAS / "scheduler-key-write.json",
            methods={"POST"},
            body=Body.TEXT,
        ),
    ]


def _table(request: Request) -> KeyValueTable:
    deployment: Deployment = request.deployment
    return deployment.table("SchedulerTable")


def dump(request: Request) -> dict[str, Any] | Response:
    """Every entry as ``{name: value}``, sorted by name, parameter-set items nested
    under their set (expired entries left out). ``prefix`` (of the table's entry names:
    ``[<set>]`` selects a set's items, nested), ``limit`` and ``after`` (of the answer's
    top-level names: a parameter set is one, never split) ask for part of it; a dump too
    large for one answer is a 413 saying so (see :mod:`clonesquad_interact.pages`)."""
    params = request.params
    prefix = str(params.get("prefix") or "")
    items = _table(request).scan()
    document = nest_parameter_sets(
        {key: item.value for key, item in items.items() if key.startswith(prefix)}
    )
    return dump_in_pages(document, document.__getitem__, params, request.format, unit="entries")


def has_operation(deployment: Deployment, op: str) -> bool:
    """Whether ``interact:<op>`` names an operation that an in-process ``GET`` runs,
    as written or as CloneSquad reads the path (``interact:Backup`` runs ``backup``)."""
    from clonesquad_interact.schedules import clonesquad_path  # for writes only

    for name in dict.fromkeys((op, clonesquad_path(op))):
        for operation in deployment.operations:
            route = operation.route
            matched = route == name if isinstance(route, str) else route.fullmatch(name)
            if matched and operation.serves(Interface.DIRECT, "GET"):
                return True
    return False


def problems(deployment: Deployment, values: Mapping[str, str]) -> list[dict[str, str]]:
    """What is wrong with each entry to write (``""``, a deletion, is never wrong)."""
    from clonesquad_interact.schedules import entry_problem, time_zone  # for writes only

    zone = time_zone(deployment.settings.get("TimeZone"), deployment.aws.region)
    keys = deployment.configuration.keys
    found = []
    for name, value in values.items():
        if value == "":
            continue
        problem = entry_problem(
            name, value, keys, lambda op: has_operation(deployment, op), zone=zone
        )
        if problem is not None:
            found.append({"where": f"body.{name}", "entry": name, "what": problem})
    return found


def import_(request: Request) -> str:
    """Check every entry, then merge the document into the table (``restore=true``:
    replace the table's content)."""
    document = request.parsed_body
    if isinstance(document, Mapping) and len(document) <= TRANSACTION_SIZE:
        faulty = problems(request.deployment, check_document(document, parameter_sets=True))
        if faulty:
            names = ", ".join(excerpt(p["entry"]) for p in faulty[:5])
            more = f" and {len(faulty) - 5} more" if len(faulty) > 5 else ""
            raise ValidationFailed(
                f"nothing was written: {len(faulty)} entr{'y' if len(faulty) == 1 else 'ies'} "
                f"at fault ({names}{more}); entry {excerpt(faulty[0]['entry'])}: "
                f"{faulty[0]['what']}",
                details=faulty,
            )
    return import_params(_table(request), document, request.params, parameter_sets=True)


def read_key(request: Request) -> str:
    """The entry's value (404 when the table has no such entry)."""
    key = request.path_params["key"]
    item = _table(request).get(key)
    if item is None:
        raise NotFound(f"the Scheduler table has no entry {key!r}; GET scheduler lists them")
    return item.value


def write_one(request: Request) -> str:
    """Check the entry, then write it; an empty value deletes it. Answers the value written."""
    key = request.path_params["key"]
    faulty = problems(request.deployment, {key: first_line(request.body)})
    if faulty:
        raise ValidationFailed(
            f"nothing was written to entry {excerpt(key)}: {faulty[0]['what']}",
            details=[{"where": "body", "entry": key, "what": faulty[0]["what"]}],
        )
    return write_key(_table(request), key, request.body, ttl=request.params.get("ttl"))
