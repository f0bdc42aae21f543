"""``control/instances/unstoppable`` and ``control/instances/unstartable``: the
instances CloneSquad's main function must not stop, or not start, for a while.

The lists live in the State item ``ec2.control.state``, encoded as CloneSquad encodes
JSON (:func:`clonesquad_interact.precomputed.encode_value`)::

    {"unstartable": {}, "unstoppable": {"i-0aaa...": {"EndDate": "...", "Excluded": false,
                                                      "StartDate": "...", "TTL": 1615241155}}}

``TTL`` is the entry's end in epoch seconds; an entry past it is dropped on every
read. ``Excluded`` makes the main function treat the instance as excluded. The item
expires a day after its last entry (at least a day from the write), so the main
function honours what this writes.

Without ``mode`` the operation lists; ``mode=add`` (with ``ttl``) or ``mode=delete``
changes the list for the instances selected by ``instanceids`` (or ``all``),
``instancenames`` (``Name`` tag), ``subfleetnames`` (an empty name is the main
fleet) and, in a POST's filter document, ``Tags``: every entry must hold (``null``:
the tag is absent; ``"*"``: the tag has any value; a value holding ``*``: a pattern
matched at the start of the tag's value, in linear time; else the exact value).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from clonesquad_interact import (
    ConfigurationKey,
    Deployment,
    Operation,
    Request,
    ValidationFailed,
    hookimpl,
)
from clonesquad_interact.errors import unencodable
from clonesquad_interact.keyvalue import parse_ttl
from clonesquad_interact.precomputed import decode_value, encode_value

if TYPE_CHECKING:
    from .instances import Instance

STATE_KEY = "ec2.control.state"
LISTS = ("unstartable", "unstoppable")
TTL_KEY = "ec2.instance.control.ttl"
#: The item outlives its last entry by this many seconds.
ITEM_MARGIN = 86400


@hookimpl
def register_operations() -> list[Operation]:
    return [
        Operation(
            route=re.compile(r"control/instances/(?P<list>unstoppable|unstartable)"),
            handler=control_instances,
            summary="List, add or remove the instances the main function must not stop (or start).",
            schema=files("clonesquad_interact.schemas") / "control-instances.json",
            methods={"GET", "POST"},
            body="document",
        )
    ]


@hookimpl
def register_configuration_keys() -> list[ConfigurationKey]:
    return [
        ConfigurationKey(
            TTL_KEY,
            "hours=1",
            "Duration",
            "How long an instance stays unstoppable or unstartable when control/instances "
            "adds it without a ttl.",
            # as CloneSquad declares it: not stable, no format named (checked as a Duration)
            stable=False,
            label="",
        )
    ]


# -------------------------------------------------------------------------
# The stored state
# -------------------------------------------------------------------------


def decode_state(text: str | None, now: float) -> dict[str, dict[str, Any]]:
    """Both lists from the item's value, without the entries past their ``TTL``."""
    state: dict[str, dict[str, Any]] = {name: {} for name in LISTS}
    if not text:
        return state
    try:
        value = decode_value(text)
    except ValueError:
        return state
    if not isinstance(value, Mapping):
        return state
    for name in LISTS:
        entries = value.get(name)
        if not isinstance(entries, Mapping):
            continue
        for instance_id, entry in entries.items():
            ttl = entry.get("TTL") if isinstance(entry, Mapping) else None
            if isinstance(ttl, int | float) and not isinstance(ttl, bool) and ttl > now:
                state[name][str(instance_id)] = dict(entry)
    return state


def encode_state(state: Mapping[str, Mapping[str, Any]], now: float) -> tuple[str, int]:
    """The item's value and its ``ExpirationTime``."""
    ttls = [int(e["TTL"]) for entries in state.values() for e in entries.values()]
    expiration = max(int(now) + ITEM_MARGIN, max(ttls, default=0) + ITEM_MARGIN)
    return encode_value({name: dict(state.get(name, {})) for name in LISTS}), expiration


def entry(now: float, seconds: float, excluded: bool) -> dict[str, Any]:
    """One list entry, as CloneSquad writes it."""
    end = int(now + seconds)
    return {
        "EndDate": str(datetime.fromtimestamp(end, UTC)),
        "Excluded": excluded,
        "StartDate": str(datetime.fromtimestamp(now, UTC)),
        "TTL": end,
    }


# -------------------------------------------------------------------------
# Selection
# -------------------------------------------------------------------------


def _names(value: Any) -> list[str] | None:
    """A list parameter: a comma-separated string, or a list of strings."""
    if value is None:
        return None
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(item).strip() for item in items]


def _tag(instance: Instance, name: str) -> str | None:
    for tag in instance.tags:
        if tag.get("Key") == name:
            return tag.get("Value", "")
    return None


def tag_tests(tags: Any) -> list[tuple[str, Any]]:
    """The ``Tags`` filter, checked, with its patterns compiled.

    :raises ValidationFailed: a value is not text or null, or a pattern is refused.
    """
    from .patterns import PatternError, compile_pattern  # imported when a request uses it

    if tags is None:
        return []
    if not isinstance(tags, Mapping):
        raise ValidationFailed(
            "Tags must be an object of tag name to value (null: the tag is absent)",
            details=[{"where": "body.Tags", "what": "an object"}],
        )
    tests: list[tuple[str, Any]] = []
    for name, value in tags.items():
        if unencodable(str(name)) or (isinstance(value, str) and unencodable(value)):
            raise ValidationFailed(
                "a tag name or value must be text that UTF-8 can encode (it holds a lone "
                "surrogate)",
                details=[{"where": "body.Tags", "what": "text UTF-8 can encode"}],
            )
        if value is None or value == "*" or (isinstance(value, str) and "*" not in value):
            tests.append((str(name), value))
        elif isinstance(value, str):
            try:
                tests.append((str(name), compile_pattern(value)))
            except PatternError as exc:
                raise ValidationFailed(
                    f"the pattern of tag {name!r} is refused: {exc}",
                    details=[{"where": f"body.Tags.{name}", "what": str(exc)}],
                ) from None
        else:
            raise ValidationFailed(
                f"the value of tag {name!r} must be text or null",
                details=[{"where": f"body.Tags.{name}", "what": "text or null"}],
            )
    return tests


def _tags_match(instance: Instance, tests: Sequence[tuple[str, Any]]) -> bool:
    for name, expected in tests:
        value = _tag(instance, name)
        if expected is None:
            if value is not None:
                return False
        elif value is None:
            return False
        elif expected == "*":
            continue
        elif isinstance(expected, str):
            if value != expected:
                return False
        elif not expected.match(value):
            return False
    return True


def select(instances: Sequence[Instance], criteria: Mapping[str, Any]) -> list[str]:
    """Ids of the instances that any criterion selects, in the fleet's order."""
    from .instances import SUBFLEET_TAG

    ids = criteria.get("InstanceIds") or []
    names = set(criteria.get("InstanceNames") or [])
    subfleets = criteria.get("SubfleetNames")
    tests = tag_tests(criteria.get("Tags"))
    chosen = []
    for instance in instances:
        subfleet = _tag(instance, SUBFLEET_TAG) or ""
        if (
            "all" in ids
            or instance.instance_id in ids
            or (_tag(instance, "Name") or None) in names
            or (subfleets is not None and subfleet in subfleets)
            or (tests and _tags_match(instance, tests))
        ):
            chosen.append(instance.instance_id)
    return chosen


# -------------------------------------------------------------------------
# The operation
# -------------------------------------------------------------------------


def _criteria(request: Request) -> dict[str, Any]:
    document = request.parsed_body if request.method == "POST" else None
    if document is not None and not isinstance(document, Mapping):
        raise ValidationFailed(
            "the body must be a filter document (an object with InstanceIds, "
            "InstanceNames, SubfleetNames, Tags, Excluded)",
            details=[{"where": "body", "what": "an object"}],
        )
    criteria = dict(document or {})
    for param, field in (
        ("instanceids", "InstanceIds"),
        ("instancenames", "InstanceNames"),
        ("subfleetnames", "SubfleetNames"),
    ):
        if param in request.params:
            criteria[field] = _names(request.params[param])
    if "excluded" in request.params:
        criteria["Excluded"] = request.params["excluded"]
    return criteria


def _ttl(request: Request, deployment: Deployment) -> float:
    """The ``ttl`` parameter in seconds, or ``ec2.instance.control.ttl`` without one.

    :raises ValidationFailed: it is not a duration from 1 second to about 100 years.
    """
    text = request.params.get("ttl")
    if text is None:
        return deployment.configuration.get_duration(TTL_KEY)
    return parse_ttl(str(text))


def control_instances(request: Request) -> list[dict[str, Any]]:
    """List, or change, one list; answers the list, each entry with its instance's names."""
    deployment: Deployment = request.deployment
    which = request.path_params["list"]
    mode = request.params.get("mode")
    criteria = _criteria(request)
    excluded = criteria.get("Excluded", False)
    if not isinstance(excluded, bool):
        raise ValidationFailed(
            "Excluded must be true or false",
            details=[{"where": "body.Excluded", "what": "a boolean"}],
        )
    ttl = _ttl(request, deployment) if mode == "add" else 0.0
    tag_tests(criteria.get("Tags"))  # refuse a bad filter before any AWS call
    now = deployment.clock()
    table = deployment.table("StateTable")
    item = table.get(STATE_KEY)
    state = decode_state(item.value if item is not None else None, now)
    from .instances import describe_fleet

    fleet = describe_fleet(deployment)
    instances = {i.instance_id: i for i in fleet.instances}
    if mode is not None:
        before = {name: dict(entries) for name, entries in state.items()}
        for instance_id in select(fleet.instances, criteria):
            if mode == "add":
                state[which][instance_id] = entry(now, ttl, excluded)
            else:
                state[which].pop(instance_id, None)
        for name in LISTS:  # instances no longer managed
            state[name] = {i: e for i, e in state[name].items() if i in instances}
        if state != before:
            value, expiration = encode_state(state, now)
            table.put(STATE_KEY, value, expiration_time=expiration)
    return [
        {
            "InstanceId": instance_id,
            **found,
            "InstanceName": _tag(instances[instance_id], "Name")
            if instance_id in instances
            else None,
            "SubfleetName": (instances[instance_id].subfleet if instance_id in instances else None),
        }
        for instance_id, found in sorted(state[which].items())
    ]
